"""The web page in headless Chromium: login, search, top-up, read-only view and live calls.

Chromium comes from Debian's package (/usr/bin/chromium); Playwright never
downloads a browser here. Screenshots of each page go to
test-artifacts/screenshots/ at the repository root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import func, select

from callmeter.clock import utc_now
from callmeter.db.models import Call, LedgerEntry
from tests.web.conftest import CHROMIUM, Served

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Hang guards for the browser, not timing asserts: the live table refreshes
# every 2.5 s, so 10 s allows a few missed refreshes on a busy CI machine.
LIVE_TIMEOUT_MS = 10_000
ACTION_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        yield launched
        launched.close()


def open_page(browser: Browser, served: Served, token: str | None) -> Page:
    """Open a fresh browser context (its own cookies), logged in when a token is given."""
    context = browser.new_context(base_url=served.base_url, locale="nl-NL", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    if token is not None:
        page.goto("/web/login")
        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Aanmelden").click()
        expect(page.get_by_role("heading", level=1, name="Overzicht")).to_be_visible()
    return page


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def topups_with_reference(served: Served, reference: str) -> int:
    with served.database.read() as session:
        count = session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.reference == reference)
        )
    return int(count or 0)


def test_login_with_write_token(browser: Browser, served: Served) -> None:
    page = open_page(browser, served, token=None)
    page.goto("/web/")

    expect(page).to_have_url(re.compile(r"/web/login$"))
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    screenshot(page, "login")
    page.get_by_label("Token").fill(served.write_token)
    page.get_by_role("button", name="Aanmelden").click()

    expect(page.get_by_role("heading", level=1, name="Overzicht")).to_be_visible()
    expect(page.get_by_text("Aangemeld als desk")).to_be_visible()
    page.context.close()


def test_login_with_wrong_token_is_refused(browser: Browser, served: Served) -> None:
    page = open_page(browser, served, token=None)
    page.goto("/web/login")
    page.get_by_label("Token").fill("cm_not-a-real-token")
    page.get_by_role("button", name="Aanmelden").click()

    expect(page.get_by_role("alert")).to_contain_text("Aanmelden mislukt")
    page.goto("/web/customers")
    expect(page).to_have_url(re.compile(r"/web/login$"))
    page.context.close()


def test_search_by_dashed_number_finds_customer(browser: Browser, served: Served) -> None:
    page = open_page(browser, served, served.write_token)
    page.get_by_role("link", name="Klanten").click()
    page.get_by_label("Helpdesk-ID, naam of telefoonnummer").fill("06-12345678")
    page.get_by_role("button", name="Zoeken").click()

    rows = page.locator("#customers tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("rowheader")).to_have_text("HD-1001")
    expect(rows.first.locator(".balance")).to_have_text(re.compile(r"^€ \d+,\d\d$"))
    screenshot(page, "customers")
    page.context.close()


def test_topup_double_click_posts_once(browser: Browser, served: Served) -> None:
    page = open_page(browser, served, served.write_token)
    page.goto("/web/customers/HD-1001")
    before = page.locator("#balance").inner_text()
    screenshot(page, "customer")

    page.get_by_label("Bedrag in euro").fill("12,50")
    page.get_by_label("Factuurnummer").fill("F-2026-100")
    page.get_by_role("button", name="Controleren").click()
    expect(page.locator("#confirm-text")).to_contain_text("€ 12,50")
    screenshot(page, "topup-confirm")

    # Two submits of the same confirmation that bypass the button guard, as a
    # second tab or a replayed request would, then a real double click.
    statuses = page.evaluate(
        """async () => {
            const form = document.querySelector("form[data-once]");
            const post = () => fetch(form.action, {method: "POST", body: new FormData(form)});
            const responses = await Promise.all([post(), post()]);
            return responses.map((response) => response.status);
        }"""
    )
    page.locator("#confirm-topup").dblclick()

    expect(page.get_by_role("status")).to_be_visible()
    assert statuses == [200, 200]
    assert topups_with_reference(served, "F-2026-100") == 1
    expected = _euros(before) + 1250
    expect(page.locator("#balance")).to_have_text(_format(expected))
    page.reload()
    expect(page.locator("#balance")).to_have_text(_format(expected))
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "customer-phone")
    page.context.close()


def _euros(text: str) -> int:
    whole, cents = text.removeprefix("€ ").replace(".", "").split(",")
    return int(whole) * 100 + int(cents)


def _format(cents: int) -> str:
    return f"€ {cents // 100},{cents % 100:02d}"


def test_read_only_token_sees_no_forms(browser: Browser, served: Served) -> None:
    page = open_page(browser, served, served.read_token)
    page.goto("/web/customers/HD-1001")

    expect(page.locator("#balance")).to_be_visible()
    expect(page.locator("#topup-form")).to_have_count(0)
    expect(page.locator("#add-number")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Verwijderen"))).to_have_count(0)
    status = page.evaluate(
        """async () => {
            const body = new URLSearchParams({amount_cents: "100", reference: "F-X", key: "0".repeat(32), csrf: "x"});
            const response = await fetch("/web/customers/HD-1001/topup", {method: "POST", body});
            return response.status;
        }"""
    )
    assert status == 403
    assert topups_with_reference(served, "F-X") == 0
    page.context.close()


def test_overview_follows_call_without_reload(browser: Browser, served: Served) -> None:
    page = open_page(browser, served, served.write_token)
    page.evaluate("window.notReloaded = true")
    uniqueid = "1764870000.77"
    now = utc_now()
    with served.database.write() as session:
        session.add(
            Call(
                uniqueid=uniqueid,
                caller_raw="0612345678",
                caller_e164="+31612345678",
                customer_id=1,
                helpdesk_id="HD-1001",
                plan="prepaid",
                verdict="admitted",
                state="admitted",
                admitted_at=now,
                limit_ms=1_800_000,
            )
        )

    row = page.locator(f'#active-calls tr[data-uniqueid="{uniqueid}"]')
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(row.locator(".state")).to_have_text("wacht op medewerker")

    with served.database.write() as session:
        call = session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one()
        call.state = "answered"
        call.answered_at = now - timedelta(seconds=65)
        call.blocks_charged = 1
    # The first change above came in by the timer. From here on the test requests
    # a refresh the way the page does when its tab becomes visible again.
    refresh_now(page)
    expect(row.locator(".state")).to_have_text("in gesprek", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator(".blocks")).to_have_text("1")
    expect(row.locator(".metered")).to_have_text(re.compile(r"^1:\d\d$"))
    screenshot(page, "overview")

    with served.database.write() as session:
        call = session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one()
        call.state = "ended"
        call.ended_at = now
    refresh_now(page)
    expect(row).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.notReloaded") is True
    page.context.close()


def refresh_now(page: Page) -> None:
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


def test_tariffs_page_shows_week_grid(browser: Browser, served: Served) -> None:
    page = open_page(browser, served, served.write_token)
    page.get_by_role("link", name="Tarieven").click()

    expect(page.locator("#week tbody tr")).to_have_count(7)
    expect(page.locator("#rates")).to_contain_text("€ 5,00")
    screenshot(page, "tariffs")
    page.context.close()


def test_language_switch_is_remembered(browser: Browser, served: Served) -> None:
    page = open_page(browser, served, served.write_token)
    page.get_by_role("link", name="English").click()

    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="Customers").click()
    expect(page.get_by_role("heading", level=1, name="Customers")).to_be_visible()
    page.context.close()
