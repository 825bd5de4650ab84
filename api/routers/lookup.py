"""Who a number belongs to and what admission would decide now; the tariff at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator
from sqlalchemy.orm import Session

from api.convert import as_plan, local
from api.dependencies import Authenticated, Context, Language, parse_instant
from api.problems import problem_responses
from api.schemas import LookupCustomer, LookupOut, TariffOut, printable
from callmeter import i18n
from callmeter.clock import utc_now
from callmeter.customers.service import find_by_number
from callmeter.db.models import Customer
from callmeter.ledger import service as ledger
from callmeter.money import format_cents
from callmeter.numbers import is_withheld_number, try_normalise
from callmeter.settings import PLANS
from callmeter.tariffs import Tariff

router = APIRouter(tags=["lookup"])

i18n.register(
    {
        "api.verdict.closed": {
            "nl": "De lijn is nu gesloten: buiten de openingstijden wordt niet doorverbonden.",
            "en": "The line is closed now: calls outside the opening hours are not put through.",
        },
        "api.verdict.withheld": {
            "nl": "Het nummer is afgeschermd: de beller moet nummerweergave inschakelen.",
            "en": "The number is withheld: the caller must switch on caller ID.",
        },
        "api.verdict.unknown_number": {
            "nl": "Dit nummer is bij geen klant geregistreerd of kan niet worden gelezen.",
            "en": "This number is not registered to any customer, or it cannot be parsed.",
        },
        "api.verdict.blocked": {
            "nl": "Klant {helpdesk_id} is geblokkeerd of de toegang is verlopen.",
            "en": "Customer {helpdesk_id} is blocked or its access has expired.",
        },
        "api.verdict.no_credit": {
            "nl": "Klant {helpdesk_id} heeft te weinig beschikbaar tegoed ({available}) voor één blok.",
            "en": "Customer {helpdesk_id} has too little available credit ({available}) for one block.",
        },
        "api.verdict.admitted": {
            "nl": "Klant {helpdesk_id} wordt doorverbonden, met hooguit {minutes} minuten gesprekstijd.",
            "en": "Customer {helpdesk_id} is put through, with at most {minutes} minutes of metered time.",
        },
    }
)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    limit_ms: int
    reason_nl: str
    reason_en: str


def _verdict(verdict: str, limit_ms: int = 0, **params: object) -> Verdict:
    message_id = f"api.verdict.{verdict}"
    return Verdict(
        verdict, limit_ms, i18n.text(message_id, "nl", **params), i18n.text(message_id, "en", **params)
    )


# TODO: replace with callmeter.admission.evaluate once that module exists, so
# that /lookup and the FastAGI admission can never disagree.
def evaluate(session: Session, tariff: Tariff, customer: Customer | None, raw: str, at: datetime) -> Verdict:
    """Decide what admission would do for a caller number now, without reserving anything."""
    if not tariff.is_open(at):
        return _verdict("closed")
    if is_withheld_number(raw):
        return _verdict("withheld")
    if customer is None:
        return _verdict("unknown_number")

    local_day = at.astimezone(tariff.zone_info).date()
    expired = customer.access_valid_until is not None and customer.access_valid_until < local_day
    if customer.blocked or expired:
        return _verdict("blocked", helpdesk_id=customer.helpdesk_id)

    available = ledger.credit(session, customer.id).available_cents
    grant = tariff.grant(as_plan(customer.plan), at, available)
    if grant.blocks == 0:
        return _verdict("no_credit", helpdesk_id=customer.helpdesk_id, available=format_cents(available))
    return _verdict(
        "admitted", grant.limit_ms, helpdesk_id=customer.helpdesk_id, minutes=grant.grant_seconds // 60
    )


@router.get(
    "/lookup",
    summary="Look up a caller number",
    description=(
        "Which customer a number (any format) belongs to, and the verdict admission would give a call "
        "from it now, with the reason. Nothing is reserved."
    ),
    responses=problem_responses(401, 422),
)
def lookup(
    context: Context,
    _caller: Authenticated,
    language: Language,
    number: Annotated[str, Query(max_length=64, examples=["06-12345678"]), AfterValidator(printable)],
) -> LookupOut:
    now = utc_now()
    e164 = try_normalise(number)
    with context.database.read() as session:
        customer = find_by_number(session, e164) if e164 is not None else None
        decision = evaluate(session, context.tariff, customer, number, now)
        found = (
            LookupCustomer.model_validate(
                {
                    "helpdesk_id": customer.helpdesk_id,
                    "name": customer.name,
                    "plan": customer.plan,
                    "blocked": customer.blocked,
                }
            )
            if customer is not None
            else None
        )
    return LookupOut.model_validate(
        {
            "number": number,
            "e164": e164,
            "customer": found,
            "verdict": decision.verdict,
            "limit_ms": decision.limit_ms,
            "reason": decision.reason_en if language == "en" else decision.reason_nl,
            "at": local(now, context.settings),
        }
    )


@router.get(
    "/tariff",
    summary="Show the tariff at a time",
    description=(
        "The zone and the block rate per plan for a block starting at `at` (ISO 8601; without an offset it "
        "is Amsterdam time; default now). Outside hours the line is closed, and a block that runs on "
        "past closing is priced as zone 2."
    ),
    responses=problem_responses(401, 422),
)
def tariff_at(
    context: Context,
    _caller: Authenticated,
    language: Language,
    at: Annotated[str | None, Query(max_length=64, examples=["2026-12-08T17:57"])] = None,
) -> TariffOut:
    instant = parse_instant(at, context.settings) if at is not None else utc_now()
    zone = context.tariff.zone_at(instant)
    local_at = local(instant, context.settings)
    rates = {plan: context.tariff.rate_cents(plan, zone) for plan in PLANS}
    return TariffOut(
        at=local_at,
        open=zone is not None,
        zone=int(zone) if zone is not None else None,
        holiday=context.tariff.holiday_name(local_at.date()),
        rates_cents=dict(rates),
        rates={plan: format_cents(cents, language) for plan, cents in rates.items()},
        block_seconds=context.settings.block_seconds,
    )
