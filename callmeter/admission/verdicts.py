"""The admission verdict: who may be put through, for how long, and why not.

The helpdesk's terms, checked in this order (the first that applies wins):

1. ``closed``: the line is outside both zones (the holiday policy applied).
2. ``withheld``: the caller does not show a number.
3. ``unknown_number``: no customer has the number, or it cannot be parsed.
4. ``blocked``: staff blocked the customer, or its access has expired.
5. ``no_credit``: prepaid, and the available credit does not pay for block 0.
6. ``admitted``: otherwise.

:func:`evaluate` reads the database but writes nothing, so the CLI and the
staff API can ask "what would happen" without reserving credit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy.orm import Session

from callmeter import i18n
from callmeter.admission.hours import holiday_note, weekly_hours
from callmeter.clock import ensure_utc
from callmeter.customers.service import find_by_number
from callmeter.db.models import Customer
from callmeter.ledger.service import credit
from callmeter.money import format_cents
from callmeter.numbers import display, is_withheld_number, try_normalise
from callmeter.settings import PLANS, Plan
from callmeter.tariffs import Tariff

Verdict = Literal["closed", "withheld", "unknown_number", "blocked", "no_credit", "admitted"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

# Sound files (without extension) under Asterisk's sounds directory, per language.
PROMPTS: dict[Verdict, str] = {
    "closed": "callmeter/refused-closed",
    "withheld": "callmeter/refused-withheld",
    "unknown_number": "callmeter/refused-unknown-number",
    "blocked": "callmeter/refused-blocked",
    "no_credit": "callmeter/refused-no-credit",
    "admitted": "",
}

# Queue() serves higher numbers first: contract and postpaid customers go ahead of prepaid ones.
QUEUE_PRIORITY_INVOICED = 10
QUEUE_PRIORITY_PREPAID = 0

# The dialplan plays the "one minute left" warning this long before the limit.
WARNING_BEFORE_LIMIT_MS = 60_000

# CALLERID(num-pres) values start with "allowed" when the number may be shown,
# for example "allowed_not_screened"; "prohib..." and "unavailable" hide it.
_ALLOWED_PREFIX = "allowed"

# Bits 5 and 6 of the Q.931 presentation indicator: 0x20 "prohibited", 0x40 "not available".
_PRESENTATION_HIDDEN_MASK = 0x60

i18n.register(
    {
        "plan.prepaid": {"nl": "prepaid", "en": "prepaid"},
        "plan.contract": {"nl": "contract", "en": "contract"},
        "plan.postpaid": {"nl": "achteraf betalen", "en": "postpaid"},
        "reason.closed_known": {
            "nl": "Nummer {number} hoort bij {helpdesk_id}, maar de lijn is gesloten: open {hours}.{holiday}",
            "en": "Number {number} belongs to {helpdesk_id}, but the line is closed: open {hours}.{holiday}",
        },
        "reason.closed": {
            "nl": "De lijn is gesloten: open {hours}.{holiday}",
            "en": "The line is closed: open {hours}.{holiday}",
        },
        "reason.withheld_presentation": {
            "nl": (
                "De beller toont geen nummer (presentatie {detail}): nummerweergave moet aan staan, "
                "dus de beller moet die inschakelen en opnieuw bellen."
            ),
            "en": (
                "The caller does not show a number (presentation {detail}): caller ID must be on, "
                "so the caller has to switch it on and call again."
            ),
        },
        "reason.withheld_number": {
            "nl": (
                "De beller toont geen nummer (nummer {value!r}): nummerweergave moet aan staan, "
                "dus de beller moet die inschakelen en opnieuw bellen."
            ),
            "en": (
                "The caller does not show a number (number {value!r}): caller ID must be on, "
                "so the caller has to switch it on and call again."
            ),
        },
        "reason.unparsable": {
            "nl": (
                "Nummer {value!r} is geen geldig telefoonnummer, dus het hoort bij geen klant: "
                "de beller kan prepaid support kopen in de webshop."
            ),
            "en": (
                "Number {value!r} is not a valid phone number, so it belongs to no customer: "
                "the caller can buy prepaid support in the web shop."
            ),
        },
        "reason.unknown_number": {
            "nl": (
                "Nummer {number} hoort bij geen klant: de beller kan prepaid support kopen in de "
                "webshop, of staf registreert het nummer met 'callmeter number add'."
            ),
            "en": (
                "Number {number} belongs to no customer: the caller can buy prepaid support in the "
                "web shop, or staff register the number with 'callmeter number add'."
            ),
        },
        "reason.blocked": {
            "nl": (
                "Nummer {number} hoort bij {helpdesk_id}, maar deze klant is geblokkeerd: "
                "de klant kan de helpdesk mailen, en staf kan de blokkade opheffen."
            ),
            "en": (
                "Number {number} belongs to {helpdesk_id}, but this customer is blocked: "
                "the customer can e-mail the helpdesk, and staff can lift the block."
            ),
        },
        "reason.expired": {
            "nl": (
                "Nummer {number} hoort bij {helpdesk_id}, maar de toegang is verlopen op {until}: "
                "de klant kan de helpdesk mailen om de toegang te verlengen."
            ),
            "en": (
                "Number {number} belongs to {helpdesk_id}, but its access expired on {until}: "
                "the customer can e-mail the helpdesk to extend it."
            ),
        },
        "reason.no_credit": {
            "nl": (
                "Nummer {number} hoort bij {helpdesk_id}, maar het beschikbare tegoed ({available}) "
                "dekt het eerste blok ({price}) niet: de klant moet eerst opwaarderen."
            ),
            "en": (
                "Number {number} belongs to {helpdesk_id}, but the available credit ({available}) "
                "does not cover the first block ({price}): the customer has to top up first."
            ),
        },
        "reason.admitted_prepaid": {
            "nl": (
                "Nummer {number} hoort bij {helpdesk_id} (prepaid): toegelaten voor {minutes} minuten "
                "gesprekstijd, waarvoor {reserved} wordt gereserveerd van {available} beschikbaar."
            ),
            "en": (
                "Number {number} belongs to {helpdesk_id} (prepaid): admitted for {minutes} minutes "
                "of metered time, reserving {reserved} of {available} available."
            ),
        },
        "reason.admitted_invoiced": {
            "nl": (
                "Nummer {number} hoort bij {helpdesk_id} ({plan}): toegelaten voor maximaal {minutes} "
                "minuten gesprekstijd, zonder reservering, want het gebruik wordt gefactureerd."
            ),
            "en": (
                "Number {number} belongs to {helpdesk_id} ({plan}): admitted for at most {minutes} "
                "minutes of metered time, without a reservation, because usage is invoiced."
            ),
        },
    }
)


@dataclass(frozen=True, slots=True)
class Presentation:
    """The presentation of the caller's number.

    ``callingpres`` is ``agi_callingpres``, the Q.931 presentation number
    (0 allowed, 32–35 prohibited, 67 not available); None means it was not
    sent or was not a number, which counts as withheld. ``num_pres`` is
    ``CALLERID(num-pres)`` (such as ``allowed_not_screened``); None means it
    was not read, so only ``callingpres`` decides.
    """

    callingpres: int | None = 0
    num_pres: str | None = None

    def hidden_detail(self) -> str | None:
        """Return why the presentation hides the number, or None when it is allowed."""
        if self.callingpres is None:
            return "?"
        if self.callingpres & _PRESENTATION_HIDDEN_MASK:
            return str(self.callingpres)
        if self.num_pres is not None and not self.num_pres.strip().lower().startswith(_ALLOWED_PREFIX):
            return self.num_pres.strip() or "''"
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of admission for one caller at one instant, and the channel variables it sets."""

    verdict: Verdict
    helpdesk_id: str | None
    limit_ms: int
    warning_ms: int
    prompt: str
    queue_priority: int
    reason_nl: str
    reason_en: str
    caller_e164: str | None = None
    customer_id: int | None = None
    plan: Plan | None = None
    reserved_cents: int = 0  # what admission reserves for an admitted prepaid call

    @property
    def admitted(self) -> bool:
        return self.verdict == "admitted"

    def reason(self, language: str = i18n.DEFAULT_LANGUAGE) -> str:
        return self.reason_en if language == "en" else self.reason_nl

    def channel_variables(self) -> dict[str, str]:
        """Return the CALLMETER_* variables in the order admission sets them."""
        return {
            "CALLMETER_HELPDESK_ID": self.helpdesk_id or "",
            "CALLMETER_LIMIT_MS": str(self.limit_ms),
            "CALLMETER_WARNING_MS": str(self.warning_ms),
            "CALLMETER_PROMPT": self.prompt,
            "CALLMETER_QUEUE_PRIORITY": str(self.queue_priority),
            "CALLMETER_VERDICT": self.verdict,
        }


def queue_priority(plan: str | None) -> int:
    if plan in ("contract", "postpaid"):
        return QUEUE_PRIORITY_INVOICED
    return QUEUE_PRIORITY_PREPAID


def _shown(e164: str) -> str:
    """Format a number as callers write it: 0612345678, or +32 470 12 34 56 abroad."""
    text = display(e164)
    return text.replace(" ", "") if e164.startswith("+31") else text


def _texts(message_id: str, **params: object) -> tuple[str, str]:
    return i18n.text(message_id, "nl", **params), i18n.text(message_id, "en", **params)


def _plan_of(customer: Customer) -> Plan:
    plan = customer.plan
    assert plan in PLANS, f"customer {customer.helpdesk_id} has unknown plan {plan!r}"
    return plan


def _refusal(
    verdict: Verdict,
    reasons: tuple[str, str],
    customer: Customer | None = None,
    caller_e164: str | None = None,
) -> Decision:
    return Decision(
        verdict=verdict,
        helpdesk_id=customer.helpdesk_id if customer is not None else None,
        limit_ms=0,
        warning_ms=0,
        prompt=PROMPTS[verdict],
        queue_priority=queue_priority(customer.plan if customer is not None else None),
        reason_nl=reasons[0],
        reason_en=reasons[1],
        caller_e164=caller_e164,
        customer_id=customer.id if customer is not None else None,
        plan=_plan_of(customer) if customer is not None else None,
    )


def _closed_reasons(
    tariff: Tariff, at: datetime, customer: Customer | None, e164: str | None
) -> tuple[str, str]:
    today = ensure_utc(at).astimezone(tariff.zone_info).date()
    texts = []
    for language in i18n.LANGUAGES:
        hours = weekly_hours(tariff, language)
        holiday = holiday_note(tariff, today, language)
        if customer is not None and e164 is not None:
            texts.append(
                i18n.text(
                    "reason.closed_known",
                    language,
                    number=_shown(e164),
                    helpdesk_id=customer.helpdesk_id,
                    hours=hours,
                    holiday=holiday,
                )
            )
        else:
            texts.append(i18n.text("reason.closed", language, hours=hours, holiday=holiday))
    return texts[0], texts[1]


def evaluate(
    session: Session,
    tariff: Tariff,
    caller_number: str | None,
    presentation_values: Presentation,
    at: datetime,
    *,
    found: tuple[str, Customer | None] | None = None,
) -> Decision:
    """Decide the verdict for a caller at an instant, reading but never writing the database.

    The available credit is the balance minus every open reservation of the
    customer, so call this before reserving for the call being admitted.
    ``found`` is a number lookup the caller made already in this session: an
    E.164 number and its customer. It is used only when the number matches.
    """
    raw = (caller_number or "").strip()
    hidden = presentation_values.hidden_detail()
    withheld = hidden is not None or is_withheld_number(raw)
    e164 = None if withheld else try_normalise(raw)
    customer: Customer | None = None
    if e164 is not None:
        customer = found[1] if found is not None and found[0] == e164 else find_by_number(session, e164)

    if not tariff.is_open(at):
        return _refusal("closed", _closed_reasons(tariff, at, customer, e164), customer, e164)

    if hidden is not None:
        return _refusal("withheld", _texts("reason.withheld_presentation", detail=hidden))
    if is_withheld_number(raw):
        return _refusal("withheld", _texts("reason.withheld_number", value=raw))

    if e164 is None:
        return _refusal("unknown_number", _texts("reason.unparsable", value=raw))
    if customer is None:
        return _refusal("unknown_number", _texts("reason.unknown_number", number=_shown(e164)), None, e164)

    number = _shown(e164)
    if customer.blocked:
        return _refusal(
            "blocked",
            _texts("reason.blocked", number=number, helpdesk_id=customer.helpdesk_id),
            customer,
            e164,
        )
    today = ensure_utc(at).astimezone(tariff.zone_info).date()
    if customer.access_valid_until is not None and customer.access_valid_until < today:
        reasons = _texts(
            "reason.expired",
            number=number,
            helpdesk_id=customer.helpdesk_id,
            until=customer.access_valid_until.isoformat(),
        )
        return _refusal("blocked", reasons, customer, e164)

    return _grant_decision(session, tariff, customer, e164, at)


def _grant_decision(
    session: Session, tariff: Tariff, customer: Customer, e164: str, at: datetime
) -> Decision:
    """Compute the grant of a customer who passed every other check: no_credit or admitted."""
    plan = _plan_of(customer)
    number = _shown(e164)
    if plan == "prepaid":
        available = credit(session, customer.id).available_cents
        grant = tariff.grant(plan, at, max(available, 0))
    else:
        available = 0
        grant = tariff.grant(plan, at, 0)

    if grant.blocks == 0:
        ring = timedelta(seconds=tariff.settings.ring_timeout_seconds)
        first_block_cents = tariff.highest_rate_cents(plan, at, ensure_utc(at) + ring)
        reasons = tuple(
            i18n.text(
                "reason.no_credit",
                language,
                number=number,
                helpdesk_id=customer.helpdesk_id,
                available=format_cents(available, language),
                price=format_cents(first_block_cents, language),
            )
            for language in i18n.LANGUAGES
        )
        return _refusal("no_credit", (reasons[0], reasons[1]), customer, e164)

    minutes = grant.grant_seconds // 60
    if plan == "prepaid":
        texts = [
            i18n.text(
                "reason.admitted_prepaid",
                language,
                number=number,
                helpdesk_id=customer.helpdesk_id,
                minutes=minutes,
                reserved=format_cents(grant.reserved_cents, language),
                available=format_cents(available, language),
            )
            for language in i18n.LANGUAGES
        ]
    else:
        texts = [
            i18n.text(
                "reason.admitted_invoiced",
                language,
                number=number,
                helpdesk_id=customer.helpdesk_id,
                plan=i18n.text(f"plan.{plan}", language),
                minutes=minutes,
            )
            for language in i18n.LANGUAGES
        ]
    return Decision(
        verdict="admitted",
        helpdesk_id=customer.helpdesk_id,
        limit_ms=grant.limit_ms,
        warning_ms=max(grant.limit_ms - WARNING_BEFORE_LIMIT_MS, 0),
        prompt=PROMPTS["admitted"],
        queue_priority=queue_priority(plan),
        reason_nl=texts[0],
        reason_en=texts[1],
        caller_e164=e164,
        customer_id=customer.id,
        plan=plan,
        reserved_cents=grant.reserved_cents,
    )
