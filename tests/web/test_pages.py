"""The web page over HTTP without a browser: access rules, CSRF, top-ups and numbers.

These run on SQLite and PostgreSQL through the ``db`` fixture.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from markupsafe import Markup
from sqlalchemy import select

from api.web.charts import usage_svg
from api.web.queries import DayUsage
from api.web.texts import verdict_text
from callmeter.clock import utc_now
from callmeter.db import Database
from callmeter.db.models import Call, LedgerEntry
from callmeter.ledger.service import credit
from callmeter.tokens.service import revoke
from tests.web.helpers import create_token, csrf_of, log_in

_KEY = re.compile(r'name="key" value="([0-9a-f]{32})"')


def balance_cents(db: Database) -> int:
    with db.read() as session:
        return credit(session, 1).balance_cents


def topup_form(client: TestClient) -> tuple[str, str]:
    page = client.get("/web/customers/HD-1001")
    match = _KEY.search(page.text)
    assert match is not None, "customer page has no top-up form"
    return match.group(1), csrf_of(page.text)


class TestAccess:
    @pytest.fixture
    def db(self, sqlite_url: str) -> Iterator[Database]:
        """Sessions and CSRF do not touch the ledger, so SQLite alone is enough here."""
        database = Database(sqlite_url)
        yield database
        database.dispose()

    def test_pages_redirect_to_login_when_logged_out(self, client: TestClient) -> None:
        for path in ("/web/", "/web/customers", "/web/customers/HD-1001", "/web/tariffs"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"].endswith("/web/login"), path

    def test_root_redirects_to_overview(self, client: TestClient) -> None:
        response = client.get("/", follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"].endswith("/web/")

    def test_live_fragment_answers_401_when_logged_out(self, client: TestClient) -> None:
        assert client.get("/web/live").status_code == 401

    def test_wrong_token_is_refused(self, client: TestClient) -> None:
        page = client.get("/web/login")
        response = client.post("/web/login", data={"token": "cm_wrong", "csrf": csrf_of(page.text)})
        assert response.status_code == 401
        assert "Aanmelden mislukt" in response.text
        assert client.get("/web/", follow_redirects=False).status_code == 303

    def test_login_without_csrf_is_refused(self, client: TestClient, db: Database) -> None:
        token = create_token(db, "desk", "write")
        client.get("/web/login")
        response = client.post("/web/login", data={"token": token})
        assert response.status_code == 403
        assert client.get("/web/", follow_redirects=False).status_code == 303

    def test_session_cookie_is_strict_http_only_and_secure(self, client: TestClient, db: Database) -> None:
        response = client.get("/web/login")
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "secure" in cookie

    def test_revoked_token_ends_session(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        with db.write() as session:
            revoke(session, "desk")
        assert client.get("/web/", follow_redirects=False).status_code == 303

    def test_logout_ends_session(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        page = client.get("/web/")
        response = client.post("/web/logout", data={"csrf": csrf_of(page.text)})
        assert response.url.path == "/web/login"
        assert client.get("/web/", follow_redirects=False).status_code == 303

    def test_pages_send_security_headers(self, client: TestClient) -> None:
        response = client.get("/web/login")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"

    def test_language_switch_is_stored_in_session(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        assert '<html lang="en">' in client.get("/web/tariffs?lang=en").text
        assert "Rates" in client.get("/web/tariffs").text
        assert '<html lang="nl">' in client.get("/web/tariffs?lang=nl").text

    def test_language_link_keeps_search(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        page = client.get("/web/customers", params={"q": "HD-1001"})
        assert 'href="/web/customers?q=HD-1001&amp;lang=en"' in page.text

    def test_accept_language_picks_english(self, client: TestClient) -> None:
        response = client.get("/web/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert '<html lang="en">' in response.text

    def test_static_file_rejects_other_names(self, client: TestClient) -> None:
        assert client.get("/web/static/style.css").status_code == 200
        assert client.get("/web/static/..%2F__init__.py").status_code == 404
        assert client.get("/web/static/missing.js").status_code == 404


class TestPages:
    def test_every_page_renders(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        for path in ("/web/", "/web/live", "/web/customers", "/web/customers/HD-1001", "/web/tariffs"):
            response = client.get(path)
            assert response.status_code == 200, path

    def test_search_by_dashed_number_shows_balance(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        response = client.get("/web/customers", params={"q": "06-12345678"})
        assert "HD-1001" in response.text
        assert "€ 50,00" in response.text

    def test_unknown_customer_is_404_page(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        response = client.get("/web/customers/HD-9999")
        assert response.status_code == 404
        assert "Onbekende klant" in response.text
        assert response.headers["content-type"].startswith("text/html")

    def test_customer_page_shows_refusal_reason_and_blocks(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        text = client.get("/web/customers/HD-1001").text
        assert "dekt niet eens één blok" in text
        assert "zone 2 · € 7,50" in text

class TestTopUp:
    def test_confirmed_twice_posts_once(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        key, csrf = topup_form(client)
        review = client.post(
            "/web/customers/HD-1001/topup/review",
            data={"amount": "12,50", "reference": "F-7", "key": key, "csrf": csrf},
        )
        assert "€ 12,50" in review.text
        data = {"amount_cents": "1250", "reference": "F-7", "key": key, "csrf": csrf}

        first = client.post("/web/customers/HD-1001/topup", data=data)
        second = client.post("/web/customers/HD-1001/topup", data=data)

        assert first.status_code == 200
        assert second.status_code == 200
        assert "al geboekt" in second.text
        assert balance_cents(db) == 6250
        with db.read() as session:
            actors = session.scalars(select(LedgerEntry.actor).where(LedgerEntry.reference == "F-7")).all()
        assert actors == ["web:desk"]

    def test_review_rejects_ambiguous_amount(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        key, csrf = topup_form(client)
        response = client.post(
            "/web/customers/HD-1001/topup/review",
            data={"amount": "12,345", "reference": "F-8", "key": key, "csrf": csrf},
        )
        assert response.status_code == 422
        assert "Ongeldig bedrag" in response.text
        assert balance_cents(db) == 5000

    def test_review_rejects_missing_reference(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        key, csrf = topup_form(client)
        response = client.post(
            "/web/customers/HD-1001/topup/review",
            data={"amount": "50", "reference": " ", "key": key, "csrf": csrf},
        )
        assert response.status_code == 422
        assert "factuurnummer" in response.text

    def test_confirm_rejects_zero_amount(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        key, csrf = topup_form(client)
        data = {"amount_cents": "0", "reference": "F-9", "key": key, "csrf": csrf}
        response = client.post("/web/customers/HD-1001/topup", data=data)
        assert response.status_code == 422
        assert balance_cents(db) == 5000

    def test_confirm_without_csrf_is_refused(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        key, _ = topup_form(client)
        data = {"amount_cents": "1250", "reference": "F-9", "key": key, "csrf": "forged"}
        response = client.post("/web/customers/HD-1001/topup", data=data)
        assert response.status_code == 403
        assert balance_cents(db) == 5000

    def test_confirm_with_bad_key_is_refused(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        _, csrf = topup_form(client)
        data = {"amount_cents": "1250", "reference": "F-9", "key": "not-a-key", "csrf": csrf}
        response = client.post("/web/customers/HD-1001/topup", data=data)
        assert response.status_code == 400
        assert balance_cents(db) == 5000

    def test_read_only_token_gets_no_form_and_403(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "viewer", "read"))
        page = client.get("/web/customers/HD-1001")
        assert 'id="topup-form"' not in page.text
        assert 'id="add-number"' not in page.text
        data = {"amount_cents": "1250", "reference": "F-9", "key": "a" * 32, "csrf": csrf_of(page.text)}
        response = client.post("/web/customers/HD-1001/topup", data=data)
        assert response.status_code == 403
        assert balance_cents(db) == 5000


class TestNumbers:
    def test_add_and_remove_number(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        csrf = csrf_of(client.get("/web/customers/HD-1001").text)

        added = client.post("/web/customers/HD-1001/numbers", data={"number": "+31 38 737 0297", "csrf": csrf})
        assert "+31387370297 toegevoegd" in added.text
        removed = client.post(
            "/web/customers/HD-1001/numbers/remove", data={"number": "+31387370297", "csrf": csrf}
        )
        assert "+31387370297 verwijderd" in removed.text

    def test_invalid_number_shows_message(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "desk", "write"))
        csrf = csrf_of(client.get("/web/customers/HD-1001").text)
        response = client.post("/web/customers/HD-1001/numbers", data={"number": "12", "csrf": csrf})
        assert "Ongeldig telefoonnummer" in response.text

    def test_read_only_token_cannot_add_number(self, client: TestClient, db: Database) -> None:
        log_in(client, create_token(db, "viewer", "read"))
        csrf = csrf_of(client.get("/web/customers/HD-1001").text)
        response = client.post("/web/customers/HD-1001/numbers", data={"number": "0687654321", "csrf": csrf})
        assert response.status_code == 403


class TestTextsAndChart:
    def test_every_refusal_verdict_has_a_reason(self) -> None:
        for verdict in ("closed", "withheld", "unknown_number", "blocked", "no_credit"):
            for language in ("nl", "en"):
                text = verdict_text(verdict, language)
                assert text.startswith(("Geweigerd:", "Refused:")), (verdict, language)

    def test_chart_draws_one_bar_per_zone_of_a_day(self) -> None:
        days = [
            DayUsage(day=date(2026, 12, 3), blocks={}, cents={}),
            DayUsage(day=date(2026, 12, 4), blocks={1: 2, 2: 1}, cents={1: 1000, 2: 750}),
        ]
        svg = usage_svg(days, "Gebruik <test>", ["do", "vr"])
        assert isinstance(svg, Markup)
        assert svg.count('class="zone-1"') == 1
        assert svg.count('class="zone-2"') == 1
        assert "Gebruik &lt;test&gt;" in svg


def test_overview_lists_active_call(client: TestClient, db: Database) -> None:
    log_in(client, create_token(db, "desk", "write"))
    with db.write() as session:
        session.add(
            Call(
                uniqueid="1764870000.5",
                caller_raw="0612345678",
                caller_e164="+31612345678",
                customer_id=1,
                helpdesk_id="HD-1001",
                plan="prepaid",
                verdict="admitted",
                state="admitted",
                admitted_at=utc_now(),
                limit_ms=600_000,
            )
        )
    fragment = client.get("/web/live").text
    assert 'data-uniqueid="1764870000.5"' in fragment
    assert "wacht op medewerker" in fragment
