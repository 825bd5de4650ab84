"""Ledger operations. Every function runs inside the caller's write session.

Call :func:`lock_customer` first in every transaction that moves one
customer's money. On PostgreSQL it takes ``SELECT … FOR UPDATE`` on the
customer row; on SQLite the write session already holds the database's
write lock (``BEGIN IMMEDIATE``), so writers to one customer are serialised
on both.

The ledger is append-only. Idempotency keys are unique: posting the same
key with the same content returns the first entry and writes nothing, and
the same key with different content raises IdempotencyConflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callmeter import i18n
from callmeter.clock import ensure_utc
from callmeter.db.models import Call, Customer, LedgerEntry, Reservation
from callmeter.errors import IdempotencyConflict, InsufficientCredit, InvalidInput, UnknownEntry
from callmeter.money import format_cents

log = structlog.get_logger(__name__)

BALANCE_KINDS = ("topup", "charge", "correction")

i18n.register(
    {
        "error.idempotency_conflict": {
            "nl": (
                "Sleutel {key!r} is al gebruikt voor een andere boeking (#{entry_id}): "
                "gebruik een nieuwe sleutel voor een nieuwe boeking."
            ),
            "en": (
                "Key {key!r} was already used for a different entry (#{entry_id}): "
                "use a new key for a new entry."
            ),
        },
        "error.insufficient_credit": {
            "nl": "Onvoldoende tegoed voor {helpdesk_id}: nodig {needed}, beschikbaar {available}.",
            "en": "Not enough credit for {helpdesk_id}: needed {needed}, available {available}.",
        },
        "error.unknown_entry": {
            "nl": "Onbekende boeking #{entry_id}: controleer het nummer met 'callmeter ledger'.",
            "en": "Unknown ledger entry #{entry_id}: check the number with 'callmeter ledger'.",
        },
        "error.reason_missing": {
            "nl": 'Een correctie heeft een reden nodig: geef --reason "…".',
            "en": 'A correction needs a reason: give --reason "…".',
        },
        "error.correction_zero": {
            "nl": "Ongeldige correctie {value!r}: het bedrag mag niet nul zijn.",
            "en": "Invalid correction {value!r}: the amount must not be zero.",
        },
        "error.reference_missing": {
            "nl": "Een opwaardering heeft een factuurnummer nodig: geef --invoice.",
            "en": "A top-up needs an invoice reference: give --invoice.",
        },
    }
)


@dataclass(frozen=True)
class Credit:
    """A customer's money at one moment, in cents."""

    balance_cents: int
    reserved_cents: int

    @property
    def available_cents(self) -> int:
        return self.balance_cents - self.reserved_cents


def lock_customer(session: Session, customer_id: int) -> Customer:
    """Lock a customer's money for the rest of this transaction."""
    customer = session.scalar(select(Customer).where(Customer.id == customer_id).with_for_update())
    assert customer is not None, f"customer {customer_id} vanished inside a transaction"
    return customer


def balance_cents(session: Session, customer_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.customer_id == customer_id, LedgerEntry.kind.in_(BALANCE_KINDS)
        )
    )
    return int(total or 0)


def reserved_cents(session: Session, customer_id: int, exclude_call_id: int | None = None) -> int:
    """Sum the unspent part of this customer's open reservations."""
    statement = select(
        func.coalesce(func.sum(Reservation.amount_cents - Reservation.charged_cents), 0)
    ).where(Reservation.customer_id == customer_id, Reservation.released_at.is_(None))
    if exclude_call_id is not None:
        statement = statement.where(Reservation.call_id != exclude_call_id)
    return int(session.scalar(statement) or 0)


def credit(session: Session, customer_id: int) -> Credit:
    return Credit(balance_cents(session, customer_id), reserved_cents(session, customer_id))


def _existing(session: Session, key: str) -> LedgerEntry | None:
    return session.scalar(select(LedgerEntry).where(LedgerEntry.idempotency_key == key))


def _same_content(entry: LedgerEntry, candidate: LedgerEntry) -> bool:
    return (
        entry.customer_id == candidate.customer_id
        and entry.kind == candidate.kind
        and entry.amount_cents == candidate.amount_cents
        and entry.reference == candidate.reference
        and entry.call_id == candidate.call_id
        and entry.corrects_id == candidate.corrects_id
    )


def _post(session: Session, candidate: LedgerEntry) -> tuple[LedgerEntry, bool]:
    """Insert an entry unless its key exists; return the entry and whether it is new."""
    existing = _existing(session, candidate.idempotency_key)
    if existing is None:
        try:
            with session.begin_nested():
                session.add(candidate)
                session.flush()
            return candidate, True
        except IntegrityError:
            existing = _existing(session, candidate.idempotency_key)
            if existing is None:
                raise
    if not _same_content(existing, candidate):
        raise IdempotencyConflict(
            "error.idempotency_conflict", key=candidate.idempotency_key, entry_id=existing.id
        )
    return existing, False


def top_up(
    session: Session,
    customer_id: int,
    amount_cents: int,
    reference: str,
    idempotency_key: str,
    actor: str,
    at: datetime,
) -> tuple[LedgerEntry, bool]:
    """Credit a paid invoice to a customer. Returns the entry and whether it is new."""
    assert amount_cents > 0, "callers validate amounts before posting"
    if not reference.strip():
        raise InvalidInput("error.reference_missing")
    customer = lock_customer(session, customer_id)
    entry, created = _post(
        session,
        LedgerEntry(
            customer_id=customer.id,
            kind="topup",
            amount_cents=amount_cents,
            idempotency_key=idempotency_key,
            reference=reference.strip(),
            actor=actor,
            created_at=ensure_utc(at),
        ),
    )
    if created:
        log.info(
            "ledger.topup_posted",
            helpdesk_id=customer.helpdesk_id,
            amount_cents=amount_cents,
            reference=entry.reference,
            entry_id=entry.id,
        )
    return entry, created


def reserve(session: Session, call: Call, amount_cents: int, at: datetime) -> Reservation:
    """Hold credit for an admitted prepaid call, or raise InsufficientCredit."""
    assert call.customer_id is not None and amount_cents > 0
    customer = lock_customer(session, call.customer_id)
    available = balance_cents(session, customer.id) - reserved_cents(session, customer.id)
    if amount_cents > available:
        raise InsufficientCredit(
            "error.insufficient_credit",
            helpdesk_id=customer.helpdesk_id,
            needed=format_cents(amount_cents),
            available=format_cents(available),
        )
    reservation = Reservation(
        customer_id=customer.id,
        call_id=call.id,
        amount_cents=amount_cents,
        charged_cents=0,
        created_at=ensure_utc(at),
    )
    session.add(reservation)
    _post(
        session,
        LedgerEntry(
            customer_id=customer.id,
            kind="reservation",
            amount_cents=-amount_cents,
            idempotency_key=f"reservation:{call.uniqueid}",
            actor="admission",
            call_id=call.id,
            created_at=ensure_utc(at),
        ),
    )
    log.info(
        "ledger.reserved", helpdesk_id=customer.helpdesk_id, uniqueid=call.uniqueid, amount_cents=amount_cents
    )
    return reservation


def open_reservation(session: Session, call_id: int) -> Reservation | None:
    return session.scalar(
        select(Reservation).where(Reservation.call_id == call_id, Reservation.released_at.is_(None))
    )


def charge_block(
    session: Session, call: Call, n: int, rate_cents: int, at: datetime
) -> tuple[LedgerEntry, bool]:
    """Charge block n of a prepaid call out of its reservation.

    The key is the call's Uniqueid and the block number, so a replayed
    event can never charge a block twice. A charge beyond the hold raises
    InsufficientCredit: metering never takes a balance below zero.
    """
    assert call.customer_id is not None and rate_cents > 0
    customer = lock_customer(session, call.customer_id)
    key = f"charge:{call.uniqueid}:{n}"
    existing = _existing(session, key)
    if existing is not None:
        return _post(session, _charge_entry(call, key, rate_cents, at, n))

    reservation = open_reservation(session, call.id)
    left = 0 if reservation is None else reservation.amount_cents - reservation.charged_cents
    if rate_cents > left:
        raise InsufficientCredit(
            "error.insufficient_credit",
            helpdesk_id=customer.helpdesk_id,
            needed=format_cents(rate_cents),
            available=format_cents(left),
        )
    assert reservation is not None
    entry, created = _post(session, _charge_entry(call, key, rate_cents, at, n))
    if created:
        reservation.charged_cents += rate_cents
        session.flush()
        log.info(
            "ledger.charge_posted",
            helpdesk_id=customer.helpdesk_id,
            uniqueid=call.uniqueid,
            block=n,
            amount_cents=rate_cents,
        )
    return entry, created


def _charge_entry(call: Call, key: str, rate_cents: int, at: datetime, n: int) -> LedgerEntry:
    assert call.customer_id is not None
    return LedgerEntry(
        customer_id=call.customer_id,
        kind="charge",
        amount_cents=-rate_cents,
        idempotency_key=key,
        actor="metering",
        reason=f"block {n}",
        call_id=call.id,
        created_at=ensure_utc(at),
    )


def release(session: Session, call: Call, at: datetime) -> LedgerEntry | None:
    """Release the unspent rest of a call's reservation; a second release is a no-op."""
    if call.customer_id is None:
        return None
    customer = lock_customer(session, call.customer_id)
    reservation = open_reservation(session, call.id)
    if reservation is None:
        return None
    rest = reservation.amount_cents - reservation.charged_cents
    reservation.released_at = ensure_utc(at)
    entry, _ = _post(
        session,
        LedgerEntry(
            customer_id=customer.id,
            kind="release",
            amount_cents=rest,
            idempotency_key=f"release:{call.uniqueid}",
            actor="metering",
            call_id=call.id,
            created_at=ensure_utc(at),
        ),
    )
    session.flush()
    log.info("ledger.released", helpdesk_id=customer.helpdesk_id, uniqueid=call.uniqueid, amount_cents=rest)
    return entry


def correct(
    session: Session,
    entry_id: int,
    amount_cents: int,
    reason: str,
    actor: str,
    idempotency_key: str,
    at: datetime,
) -> tuple[LedgerEntry, bool]:
    """Post a correction that points to an earlier entry. It may take a balance below zero."""
    if not reason.strip():
        raise InvalidInput("error.reason_missing")
    if amount_cents == 0:
        raise InvalidInput("error.correction_zero", value=amount_cents)
    target = session.get(LedgerEntry, entry_id)
    if target is None:
        raise UnknownEntry("error.unknown_entry", entry_id=entry_id)
    customer = lock_customer(session, target.customer_id)
    entry, created = _post(
        session,
        LedgerEntry(
            customer_id=customer.id,
            kind="correction",
            amount_cents=amount_cents,
            idempotency_key=idempotency_key,
            actor=actor,
            reason=reason.strip(),
            corrects_id=target.id,
            created_at=ensure_utc(at),
        ),
    )
    if created:
        log.info(
            "ledger.correction_posted",
            helpdesk_id=customer.helpdesk_id,
            corrects=target.id,
            amount_cents=amount_cents,
            actor=actor,
        )
    return entry, created


def list_entries(
    session: Session,
    customer_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[LedgerEntry], int]:
    """List a customer's entries, oldest first, with the total count for paging."""
    statement = select(LedgerEntry).where(LedgerEntry.customer_id == customer_id)
    if since is not None:
        statement = statement.where(LedgerEntry.created_at >= ensure_utc(since))
    if until is not None:
        statement = statement.where(LedgerEntry.created_at < ensure_utc(until))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(LedgerEntry.created_at, LedgerEntry.id).limit(limit).offset(offset)
    ).all()
    return list(rows), total
