"""Customer pages: search, one customer's money and calls, numbers and top-ups.

A top-up takes two steps. The customer page renders the form with a fresh
idempotency key; "review" shows what will be posted and waits for a
confirmation, and "confirm" posts it with that key. Submitting the confirmation
twice (a double click, a reload, a second tab) therefore posts once.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from typing import Annotated, Any, Final

import structlog
from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from api.web.charts import usage_svg
from api.web.queries import customer_calls, customer_refusals, daily_usage
from api.web.rendering import Formatter, flash, render
from api.web.routing import WebError, WebRoute
from api.web.session import check_csrf, database_of, language, require_staff, require_writer, settings_of
from callmeter import i18n
from callmeter.clock import utc_now
from callmeter.customers.service import add_number, get_customer, remove_number, search_customers
from callmeter.db.models import Customer, LedgerEntry
from callmeter.errors import CallmeterError, InvalidInput
from callmeter.ledger.service import BALANCE_KINDS, credit, list_entries, top_up
from callmeter.money import check_positive, format_cents, parse_cents, parse_euros

log = structlog.get_logger(__name__)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MAX_SEARCH_RESULTS: Final = 50
MAX_LEDGER_ROWS: Final = 100
MAX_REFERENCE_LENGTH: Final = 200
# The form key is a UUID4 in hex, made when the customer page is rendered.
_FORM_KEY = re.compile(r"^[0-9a-f]{32}$")


@router.get("/web/customers", name="web_customers")
def customers(request: Request, q: str = "") -> Response:
    require_staff(request)
    query = q.strip()[:100]
    with database_of(request).read() as session:
        found, total = search_customers(session, query or None, limit=MAX_SEARCH_RESULTS, offset=0)
        rows = [(customer, credit(session, customer.id)) for customer in found]
        # Rendered inside the session, because closing it expires the loaded rows.
        return render(
            request,
            "customers.html",
            {"query": query, "rows": rows, "total": total, "shown": len(rows)},
        )


@router.get("/web/customers/{helpdesk_id}", name="web_customer")
def customer_page(request: Request, helpdesk_id: str) -> Response:
    require_staff(request)
    return _render_customer(request, helpdesk_id, topup={"key": uuid.uuid4().hex})


def _render_customer(
    request: Request, helpdesk_id: str, topup: dict[str, Any], status_code: int = 200
) -> Response:
    with database_of(request).read() as session:
        customer = get_customer(session, helpdesk_id)
        context = _customer_context(request, session, customer)
        context["topup"] = topup
        return render(request, "customer.html", context, status_code=status_code)


def _customer_context(request: Request, session: Session, customer: Customer) -> dict[str, Any]:
    settings = settings_of(request)
    formatter = Formatter(request)
    today = utc_now().astimezone(settings.zone_info).date()

    usage = daily_usage(session, customer.id, today, settings.zone_info)
    zone_blocks: dict[int | None, int] = defaultdict(int)
    zone_cents: dict[int | None, int] = defaultdict(int)
    for day in usage:
        for zone, count in day.blocks.items():
            zone_blocks[zone] += count
            zone_cents[zone] += day.cents.get(zone, 0)
    chart_title = formatter.t(
        "web.customer.usage_chart", first=formatter.date(usage[0].day), last=formatter.date(usage[-1].day)
    )
    chart = usage_svg(usage, chart_title, [formatter.date(day.day) for day in usage])

    entries, total_entries = _ledger_page(session, customer.id)
    return {
        "customer": customer,
        "numbers": list(customer.numbers),
        "credit": credit(session, customer.id),
        "entries": entries,
        "total_entries": total_entries,
        "calls": customer_calls(session, customer.id),
        "refusals": customer_refusals(session, customer.id),
        "chart": chart,
        "chart_title": chart_title,
        "zone_blocks": dict(zone_blocks),
        "zone_cents": dict(zone_cents),
        "has_usage": any(day.total_blocks for day in usage),
    }


def _ledger_page(session: Session, customer_id: int) -> tuple[list[tuple[LedgerEntry, int]], int]:
    """Return the newest entries, newest first, each with the balance after it."""
    _, total = list_entries(session, customer_id, limit=1)
    entries, _ = list_entries(
        session, customer_id, limit=MAX_LEDGER_ROWS, offset=max(0, total - MAX_LEDGER_ROWS)
    )
    if not entries:
        return [], total

    first = entries[0]
    opening = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.customer_id == customer_id,
            LedgerEntry.kind.in_(BALANCE_KINDS),
            or_(
                LedgerEntry.created_at < first.created_at,
                and_(LedgerEntry.created_at == first.created_at, LedgerEntry.id < first.id),
            ),
        )
    )
    running = int(opening or 0)
    rows: list[tuple[LedgerEntry, int]] = []
    for entry in entries:
        if entry.kind in BALANCE_KINDS:
            running += entry.amount_cents
        rows.append((entry, running))
    rows.reverse()
    return rows, total


@router.post("/web/customers/{helpdesk_id}/numbers", name="web_add_number")
def add_number_submit(
    request: Request,
    helpdesk_id: str,
    number: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    staff = require_writer(request)
    check_csrf(request, csrf)
    lang = language(request)
    try:
        with database_of(request).write() as session:
            added = add_number(session, helpdesk_id, number[:64])
            e164, owner = added.e164, added.customer.helpdesk_id
    except CallmeterError as error:
        if error.code == "unknown_customer":
            raise
        log.info("web.number_rejected", helpdesk_id=helpdesk_id, code=error.code, token_name=staff.name)
        flash(request, "error", error.message(lang))
    else:
        log.info("web.number_added", helpdesk_id=owner, number=e164, token_name=staff.name)
        flash(request, "ok", i18n.text("web.customer.number_added", lang, number=e164))
    return _back_to_customer(request, helpdesk_id)


@router.post("/web/customers/{helpdesk_id}/numbers/remove", name="web_remove_number")
def remove_number_submit(
    request: Request,
    helpdesk_id: str,
    number: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    staff = require_writer(request)
    check_csrf(request, csrf)
    lang = language(request)
    try:
        with database_of(request).write() as session:
            e164 = remove_number(session, helpdesk_id, number[:64])
    except CallmeterError as error:
        if error.code == "unknown_customer":
            raise
        log.info("web.number_rejected", helpdesk_id=helpdesk_id, code=error.code, token_name=staff.name)
        flash(request, "error", error.message(lang))
    else:
        log.info("web.number_removed", helpdesk_id=helpdesk_id, number=e164, token_name=staff.name)
        flash(request, "ok", i18n.text("web.customer.number_removed", lang, number=e164))
    return _back_to_customer(request, helpdesk_id)


def _back_to_customer(request: Request, helpdesk_id: str) -> Response:
    url = request.url_for("web_customer", helpdesk_id=helpdesk_id.strip().upper())
    return RedirectResponse(url, status_code=303)


def _checked_form_key(key: str) -> str:
    if not _FORM_KEY.match(key):
        raise WebError(400, "web.error.form_key")
    return key


@router.post("/web/customers/{helpdesk_id}/topup/review", name="web_topup_review")
def topup_review(
    request: Request,
    helpdesk_id: str,
    amount: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check the typed amount and invoice reference, then show the confirmation step."""
    require_writer(request)
    check_csrf(request, csrf)
    form_key = _checked_form_key(key)
    settings = settings_of(request)
    values = {"key": form_key, "amount": amount[:40], "reference": reference[:MAX_REFERENCE_LENGTH]}

    try:
        cents = check_positive(parse_euros(amount), amount, settings.max_topup_cents)
        checked_reference = _checked_reference(reference)
    except CallmeterError as error:
        log.info("web.topup_rejected", helpdesk_id=helpdesk_id, code=error.code)
        values["error"] = error.message(language(request))
        return _render_customer(request, helpdesk_id, topup=values, status_code=422)

    with database_of(request).read() as session:
        customer = get_customer(session, helpdesk_id)
        helpdesk_id, name = customer.helpdesk_id, customer.name
    return render(
        request,
        "topup_confirm.html",
        {
            "helpdesk_id": helpdesk_id,
            "name": name,
            "amount_cents": cents,
            "reference": checked_reference,
            "key": form_key,
        },
    )


def _checked_reference(reference: str) -> str:
    checked = reference.strip()
    if not checked or len(checked) > MAX_REFERENCE_LENGTH:
        raise InvalidInput("error.reference_missing")
    return checked


@router.post("/web/customers/{helpdesk_id}/topup", name="web_topup")
def topup_confirm(
    request: Request,
    helpdesk_id: str,
    amount_cents: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Post a confirmed top-up; the form key makes a repeated submit a no-op."""
    staff = require_writer(request)
    check_csrf(request, csrf)
    form_key = _checked_form_key(key)
    settings = settings_of(request)
    cents = check_positive(parse_cents(amount_cents), amount_cents, settings.max_topup_cents)
    checked_reference = _checked_reference(reference)
    lang = language(request)

    with database_of(request).write() as session:
        customer = get_customer(session, helpdesk_id)
        _, created = top_up(
            session,
            customer.id,
            cents,
            checked_reference,
            idempotency_key=f"web-topup:{form_key}",
            actor=f"web:{staff.name}",
            at=utc_now(),
        )
        helpdesk_id = customer.helpdesk_id

    if created:
        message = i18n.text(
            "web.customer.topup_posted", lang, amount=format_cents(cents, lang), reference=checked_reference
        )
    else:
        message = i18n.text("web.customer.topup_repeated", lang)
    flash(request, "ok", message)
    return _back_to_customer(request, helpdesk_id)
