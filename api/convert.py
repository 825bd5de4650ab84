"""Turning database rows into response bodies, with times shown in Amsterdam."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.schemas import CallOut, CustomerOut, NumberOut
from callmeter.customers.service import get_customer, parse_helpdesk_id
from callmeter.db.models import Call, Customer
from callmeter.errors import InvalidInput, UnknownCustomer
from callmeter.numbers import display
from callmeter.settings import PLANS, Plan, Settings


def local(at: datetime, settings: Settings) -> datetime:
    """Show an instant in the configured zone; the instant stays the same."""
    return at.astimezone(settings.zone_info)


def local_or_none(at: datetime | None, settings: Settings) -> datetime | None:
    return None if at is None else local(at, settings)


def as_plan(value: str) -> Plan:
    """Narrow a plan read from the database, where a check constraint keeps it valid."""
    for plan in PLANS:
        if plan == value:
            return plan
    raise AssertionError(f"unknown plan {value!r} in the database")


def load_customer(session: Session, helpdesk_id: str) -> Customer:
    """Load a customer by the helpdesk ID of a path; a malformed ID cannot exist, so it is unknown too."""
    try:
        parse_helpdesk_id(helpdesk_id)
    except InvalidInput:
        raise UnknownCustomer("error.unknown_customer", helpdesk_id=helpdesk_id) from None
    return get_customer(session, helpdesk_id)


def customer_out(customer: Customer, settings: Settings) -> CustomerOut:
    return CustomerOut(
        helpdesk_id=customer.helpdesk_id,
        name=customer.name,
        plan=customer.plan,
        blocked=customer.blocked,
        access_valid_until=customer.access_valid_until,
        language=customer.language,
        numbers=[NumberOut(e164=number.e164, display=display(number.e164)) for number in customer.numbers],
        created_at=local(customer.created_at, settings),
    )


def call_fields(call: Call, settings: Settings) -> dict[str, object]:
    """Collect the fields of CallOut, for building CallOut and the models that extend it."""
    return {
        "id": call.id,
        "uniqueid": call.uniqueid,
        "helpdesk_id": call.helpdesk_id,
        "caller": call.caller_raw,
        "caller_e164": call.caller_e164,
        "plan": call.plan,
        "verdict": call.verdict,
        "state": call.state,
        "admitted_at": local(call.admitted_at, settings),
        "answered_at": local_or_none(call.answered_at, settings),
        "ended_at": local_or_none(call.ended_at, settings),
        "limit_ms": call.limit_ms,
        "metered_ms": call.metered_ms,
        "blocks_charged": call.blocks_charged,
        "charged_cents": call.charged_cents,
        "end_estimated": call.end_estimated,
        "cut_off": call.cut_off,
    }


def call_out(call: Call, settings: Settings) -> CallOut:
    return CallOut.model_validate(call_fields(call, settings))
