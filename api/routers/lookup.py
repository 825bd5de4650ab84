"""Number lookup with the verdict admission would give now, and the tariff at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from api.convert import local
from api.dependencies import Authenticated, Context, Language, parse_instant
from api.problems import problem_responses
from api.schemas import LookupCustomer, LookupOut, TariffOut, printable
from callmeter.admission import Presentation, evaluate
from callmeter.clock import utc_now
from callmeter.customers.service import find_by_number
from callmeter.money import format_cents
from callmeter.numbers import try_normalise
from callmeter.settings import PLANS

router = APIRouter(tags=["lookup"])


@router.get(
    "/lookup",
    summary="Look up a caller number",
    description=(
        "Which customer a number (any format) belongs to, and the verdict admission would give a call "
        "from it now, with the reason. The number is taken as shown (caller ID on); nothing is reserved."
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
        decision = evaluate(session, context.tariff, number, Presentation(), now)
        customer = find_by_number(session, e164) if e164 is not None else None
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
            "reason": decision.reason(language),
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
