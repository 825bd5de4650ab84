"""Customer and phone-number operations. Callers own the session and its transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callmeter import i18n
from callmeter.db.models import Customer, PhoneNumber
from callmeter.errors import (
    DuplicateCustomer,
    DuplicateNumber,
    InvalidInput,
    NumberNotRegistered,
    UnknownCustomer,
)
from callmeter.numbers import normalise, try_normalise
from callmeter.settings import PLANS

i18n.register(
    {
        "error.unknown_customer": {
            "nl": "Onbekende klant {helpdesk_id!r}: controleer het helpdesk-ID met 'callmeter customer list'.",
            "en": "Unknown customer {helpdesk_id!r}: check the helpdesk ID with 'callmeter customer list'.",
        },
        "error.duplicate_customer": {
            "nl": "Helpdesk-ID {helpdesk_id!r} bestaat al: kies een ander ID.",
            "en": "Helpdesk ID {helpdesk_id!r} already exists: choose another ID.",
        },
        "error.helpdesk_id_invalid": {
            "nl": "Ongeldig helpdesk-ID {value!r}: gebruik letters, cijfers en streepjes, zoals HD-1001.",
            "en": "Invalid helpdesk ID {value!r}: use letters, digits and dashes, such as HD-1001.",
        },
        "error.plan_invalid": {
            "nl": "Ongeldig abonnement {value!r}: kies prepaid, contract of postpaid.",
            "en": "Invalid plan {value!r}: choose prepaid, contract or postpaid.",
        },
        "error.name_invalid": {
            "nl": "Ongeldige naam {value!r}: geef een naam van 1 tot 200 tekens.",
            "en": "Invalid name {value!r}: give a name of 1 to 200 characters.",
        },
        "error.language_invalid": {
            "nl": "Ongeldige taal {value!r}: kies nl of en.",
            "en": "Invalid language {value!r}: choose nl or en.",
        },
        "error.duplicate_number": {
            "nl": "Nummer {number} is al geregistreerd bij {helpdesk_id}: verwijder het daar eerst.",
            "en": "Number {number} is already registered to {helpdesk_id}: remove it there first.",
        },
        "error.number_already_own": {
            "nl": "Nummer {number} is al geregistreerd bij {helpdesk_id}.",
            "en": "Number {number} is already registered to {helpdesk_id}.",
        },
        "error.number_not_registered": {
            "nl": "Nummer {number} is niet geregistreerd bij {helpdesk_id}.",
            "en": "Number {number} is not registered to {helpdesk_id}.",
        },
    }
)

log = structlog.get_logger(__name__)

_HELPDESK_ID = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,31}$")


def parse_helpdesk_id(value: str) -> str:
    """Normalise a helpdesk ID to upper case, or raise InvalidInput."""
    candidate = value.strip().upper()
    if not _HELPDESK_ID.match(candidate):
        raise InvalidInput("error.helpdesk_id_invalid", value=value)
    return candidate


def parse_plan(value: str) -> str:
    candidate = value.strip().lower()
    if candidate not in PLANS:
        raise InvalidInput("error.plan_invalid", value=value)
    return candidate


def _check_name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("error.name_invalid", value=value)
    return name


def _check_language(value: str) -> str:
    if value not in ("nl", "en"):
        raise InvalidInput("error.language_invalid", value=value)
    return value


def get_customer(session: Session, helpdesk_id: str) -> Customer:
    """Load a customer by helpdesk ID, or raise UnknownCustomer."""
    customer = session.scalar(select(Customer).where(Customer.helpdesk_id == helpdesk_id.strip().upper()))
    if customer is None:
        raise UnknownCustomer("error.unknown_customer", helpdesk_id=helpdesk_id)
    return customer


def create_customer(
    session: Session,
    helpdesk_id: str,
    name: str,
    plan: str,
    language: str = "nl",
    access_valid_until: date | None = None,
) -> Customer:
    """Create a customer; the helpdesk ID must be new."""
    customer = Customer(
        helpdesk_id=parse_helpdesk_id(helpdesk_id),
        name=_check_name(name),
        plan=parse_plan(plan),
        language=_check_language(language),
        access_valid_until=access_valid_until,
        blocked=False,
    )
    if session.scalar(select(Customer.id).where(Customer.helpdesk_id == customer.helpdesk_id)):
        raise DuplicateCustomer("error.duplicate_customer", helpdesk_id=customer.helpdesk_id)
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError:
        raise DuplicateCustomer("error.duplicate_customer", helpdesk_id=customer.helpdesk_id) from None
    return customer


@dataclass(frozen=True)
class CustomerChanges:
    """Fields of a customer that staff may change; None leaves a field as it is."""

    name: str | None = None
    plan: str | None = None
    blocked: bool | None = None
    language: str | None = None
    access_valid_until: date | None = None
    clear_access_valid_until: bool = False


def update_customer(session: Session, helpdesk_id: str, changes: CustomerChanges) -> Customer:
    customer = get_customer(session, helpdesk_id)
    if changes.name is not None:
        customer.name = _check_name(changes.name)
    if changes.plan is not None:
        customer.plan = parse_plan(changes.plan)
    if changes.blocked is not None:
        customer.blocked = changes.blocked
    if changes.language is not None:
        customer.language = _check_language(changes.language)
    if changes.clear_access_valid_until:
        customer.access_valid_until = None
    elif changes.access_valid_until is not None:
        customer.access_valid_until = changes.access_valid_until
    session.flush()
    return customer


def search_customers(
    session: Session, query: str | None, limit: int, offset: int
) -> tuple[list[Customer], int]:
    """Find customers by helpdesk ID, name or any format of one of their numbers."""
    statement = select(Customer)
    if query and query.strip():
        text = query.strip()
        conditions = [
            func.lower(Customer.helpdesk_id).contains(text.lower(), autoescape=True),
            func.lower(Customer.name).contains(text.lower(), autoescape=True),
        ]
        e164 = try_normalise(text)
        if e164 is not None:
            conditions.append(
                Customer.id.in_(select(PhoneNumber.customer_id).where(PhoneNumber.e164 == e164))
            )
        statement = statement.where(or_(*conditions))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(statement.order_by(Customer.helpdesk_id).limit(limit).offset(offset)).all()
    return list(rows), total


def _duplicate(customer: Customer, e164: str, owner_helpdesk_id: str) -> DuplicateNumber:
    if owner_helpdesk_id == customer.helpdesk_id:
        return DuplicateNumber("error.number_already_own", number=e164, helpdesk_id=owner_helpdesk_id)
    return DuplicateNumber("error.duplicate_number", number=e164, helpdesk_id=owner_helpdesk_id)


def _owner_of(session: Session, e164: str) -> str | None:
    return session.scalar(
        select(Customer.helpdesk_id)
        .join(PhoneNumber, PhoneNumber.customer_id == Customer.id)
        .where(PhoneNumber.e164 == e164)
    )


def add_number(session: Session, helpdesk_id: str, raw: str) -> PhoneNumber:
    """Register a number to a customer; a number belongs to at most one customer.

    Raises InvalidNumber when the number cannot be parsed and DuplicateNumber,
    naming the owner, when it is already registered.
    """
    customer = get_customer(session, helpdesk_id)
    e164 = normalise(raw)
    owner = _owner_of(session, e164)
    if owner is not None:
        raise _duplicate(customer, e164, owner)

    number = PhoneNumber(customer_id=customer.id, e164=e164, raw=raw.strip())
    try:
        with session.begin_nested():
            session.add(number)
            session.flush()
    except IntegrityError:
        # Another transaction registered the same number between our check
        # and our insert. PostgreSQL raises only once that transaction has
        # committed, so a fresh read now finds the owner.
        owner = _owner_of(session, e164)
        if owner is None:
            raise
        log.info("customer.number_race_lost", number=e164, helpdesk_id=customer.helpdesk_id, owner=owner)
        raise _duplicate(customer, e164, owner) from None
    return number


def remove_number(session: Session, helpdesk_id: str, raw: str) -> str:
    """Unregister a number from a customer and return its E.164 form."""
    customer = get_customer(session, helpdesk_id)
    e164 = normalise(raw)
    number = session.scalar(
        select(PhoneNumber).where(PhoneNumber.e164 == e164, PhoneNumber.customer_id == customer.id)
    )
    if number is None:
        raise NumberNotRegistered(
            "error.number_not_registered", number=e164, helpdesk_id=customer.helpdesk_id
        )
    session.delete(number)
    session.flush()
    return e164


def find_by_number(session: Session, e164: str, lock: bool = False) -> Customer | None:
    """Return the customer a normalised number belongs to, or None.

    With ``lock`` the customer row is locked for the rest of the transaction
    in the same statement, as ``ledger.service.lock_customer`` locks it.
    """
    statement = (
        select(Customer).join(PhoneNumber, PhoneNumber.customer_id == Customer.id).where(PhoneNumber.e164 == e164)
    )
    if lock:
        statement = statement.with_for_update(key_share=True, of=Customer)
    return session.scalar(statement)
