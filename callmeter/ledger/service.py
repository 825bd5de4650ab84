"""Ledger operations. Every function runs inside the caller's write session.

Call :func:`lock_customer` first in every transaction that moves one
customer's money. On PostgreSQL it locks the customer row with
``SELECT … FOR NO KEY UPDATE``. On SQLite the write session already has the
database's write lock (``BEGIN IMMEDIATE``). So writers to one customer are
serialised on both.

The ledger is append-only. Idempotency keys are unique: posting the same
key with the same content returns the first entry and writes nothing, and
the same key with different content raises IdempotencyConflict. Keys that
staff choose are stored with a ``topup:`` or ``correction:`` prefix, so they
can never collide with the ``reservation:``, ``charge:`` and ``release:``
keys that admission and metering derive from a call's Uniqueid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import (
    BindParameter,
    ColumnExpressionArgument,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from callmeter import i18n
from callmeter.clock import ensure_utc
from callmeter.db.models import Call, Customer, LedgerEntry, Reservation
from callmeter.errors import (
    DuplicateInvoice,
    IdempotencyConflict,
    InsufficientCredit,
    InvalidAmount,
    InvalidInput,
    UnknownEntry,
)
from callmeter.money import format_cents

log = structlog.get_logger(__name__)

BALANCE_KINDS = ("topup", "charge", "correction")

# Column sizes of ledger_entries: the reference is String(200) and the key
# String(200), of which the longest prefix ("correction:") takes 11.
MAX_REFERENCE_LENGTH = 200
MAX_KEY_LENGTH = 150
MAX_REASON_LENGTH = 1000

i18n.register(
    {
        "error.duplicate_invoice": {
            "nl": (
                "Factuur {reference!r} is al opgewaardeerd (boeking #{entry_id} bij {helpdesk_id}). "
                "Een factuur wordt één keer geboekt; geef een deelbetaling een eigen kenmerk, "
                "zoals {reference}-2."
            ),
            "en": (
                "Invoice {reference!r} was already credited (entry #{entry_id} for {helpdesk_id}). "
                "An invoice is booked once; give a partial payment its own reference, "
                "such as {reference}-2."
            ),
        },
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
        "error.reference_invalid": {
            "nl": "Ongeldig factuurnummer {value!r}: geef hooguit {maximum} tekens op één regel.",
            "en": "Invalid invoice reference {value!r}: give at most {maximum} characters on one line.",
        },
        "error.key_invalid": {
            "nl": "Ongeldige sleutel {value!r}: geef 1 tot {maximum} tekens op één regel.",
            "en": "Invalid key {value!r}: give 1 to {maximum} characters on one line.",
        },
        "error.reason_invalid": {
            "nl": "De reden is te lang ({length} tekens): het maximum is {maximum}.",
            "en": "The reason is too long ({length} characters): the maximum is {maximum}.",
        },
        "error.topup_not_positive": {
            "nl": "Ongeldig bedrag {value}: een opwaardering moet groter zijn dan nul.",
            "en": "Invalid amount {value}: a top-up must be more than zero.",
        },
        "error.charge_below_zero": {
            "nl": (
                "Blok {block} van gesprek {uniqueid} kan niet worden afgeschreven: het saldo van "
                "{helpdesk_id} is {balance} en mag door afschrijven niet onder nul komen."
            ),
            "en": (
                "Block {block} of call {uniqueid} cannot be charged: the balance of {helpdesk_id} "
                "is {balance} and charging must never take it below zero."
            ),
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
    """Lock a customer's money for the rest of this transaction.

    PostgreSQL gets ``FOR NO KEY UPDATE``, which serialises the money writers
    of one customer but does not conflict with the key-share lock that an
    insert referencing the customer takes. A plain ``FOR UPDATE`` deadlocks
    two admissions that each insert their call row before reserving.
    """
    customer = session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update(key_share=True)
    )
    assert customer is not None, f"customer {customer_id} vanished inside a transaction"
    return customer


def balance_sum(customer_id: ColumnExpressionArgument[int]) -> Select[tuple[int]]:
    """Build the SELECT that sums a customer's balance entries; customer_id may be a column or a parameter."""
    return select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
        LedgerEntry.customer_id == customer_id, LedgerEntry.kind.in_(BALANCE_KINDS)
    )


def reserved_sum(customer_id: ColumnExpressionArgument[int]) -> Select[tuple[int]]:
    """Build the SELECT that sums the unspent part of a customer's open reservations."""
    return select(func.coalesce(func.sum(Reservation.amount_cents - Reservation.charged_cents), 0)).where(
        Reservation.customer_id == customer_id, Reservation.released_at.is_(None)
    )


# The money reads run on every admission and charge, so their statements are
# built once: SQLAlchemy then reuses their compiled form and cache key instead
# of constructing and hashing a new statement per call.
_CUSTOMER_ID: BindParameter[int] = bindparam("customer_id", type_=Integer)
_BALANCE_STATEMENT = balance_sum(_CUSTOMER_ID)
_RESERVED_STATEMENT = reserved_sum(_CUSTOMER_ID)
_CREDIT_STATEMENT = select(_BALANCE_STATEMENT.scalar_subquery(), _RESERVED_STATEMENT.scalar_subquery())


def balance_cents(session: Session, customer_id: int) -> int:
    return int(session.scalar(_BALANCE_STATEMENT, {"customer_id": customer_id}) or 0)


def reserved_cents(session: Session, customer_id: int, exclude_call_id: int | None = None) -> int:
    """Sum the unspent part of this customer's open reservations."""
    statement = _RESERVED_STATEMENT
    if exclude_call_id is not None:
        statement = statement.where(Reservation.call_id != exclude_call_id)
    return int(session.scalar(statement, {"customer_id": customer_id}) or 0)


def credit(session: Session, customer_id: int) -> Credit:
    """Read the balance and the open reservations in one statement, so in one round trip."""
    row = session.execute(_CREDIT_STATEMENT, {"customer_id": customer_id}).one()
    return Credit(int(row[0] or 0), int(row[1] or 0))


def _single_line(value: str) -> bool:
    return value.isprintable()


def _check_key(key: str) -> str:
    """Validate an idempotency key chosen by a person or an API client."""
    candidate = key.strip()
    if not 1 <= len(candidate) <= MAX_KEY_LENGTH or not _single_line(candidate):
        raise InvalidInput("error.key_invalid", value=key, maximum=MAX_KEY_LENGTH)
    return candidate


def _check_reference(reference: str) -> str:
    candidate = reference.strip()
    if not candidate:
        raise InvalidInput("error.reference_missing")
    if len(candidate) > MAX_REFERENCE_LENGTH or not _single_line(candidate):
        raise InvalidInput("error.reference_invalid", value=reference, maximum=MAX_REFERENCE_LENGTH)
    return candidate


def _check_reason(reason: str) -> str:
    candidate = reason.strip()
    if not candidate:
        raise InvalidInput("error.reason_missing")
    if len(candidate) > MAX_REASON_LENGTH:
        raise InvalidInput("error.reason_invalid", length=len(candidate), maximum=MAX_REASON_LENGTH)
    return candidate


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
        and entry.reason == candidate.reason
    )


def _post(session: Session, candidate: LedgerEntry) -> tuple[LedgerEntry, bool]:
    """Insert an entry unless its key exists; return the entry and whether it is new."""
    if session.get_bind().dialect.name == "postgresql":
        entry = _insert_unless_key_exists(session, candidate)
        if entry is not None:
            return entry, True
        existing = _existing(session, candidate.idempotency_key)
        # Entries are never deleted, so the row that took the key is still there.
        assert existing is not None, f"ledger entry with key {candidate.idempotency_key!r} vanished"
    else:
        # An SQLite write session holds the database's write lock from BEGIN
        # IMMEDIATE on, so no other writer can take the key between these two statements.
        existing = _existing(session, candidate.idempotency_key)
        if existing is None:
            session.add(candidate)
            session.flush()
            return candidate, True
    return _replayed(existing, candidate), False


def _insert_unless_key_exists(session: Session, candidate: LedgerEntry) -> LedgerEntry | None:
    """Insert the candidate's row on PostgreSQL; return the new entry, or None when its key exists.

    ``ON CONFLICT (idempotency_key) DO NOTHING`` takes the place of a lookup
    and a savepoint around the insert: a key that exists, or that a concurrent
    transaction commits first, yields no row instead of an error that would
    abort the transaction. Any other constraint still raises.
    """
    values = {column.key: getattr(candidate, column.key) for column in LedgerEntry.__table__.columns}
    del values["id"]
    statement = (
        postgresql.insert(LedgerEntry)
        .values(values)
        .on_conflict_do_nothing(index_elements=[LedgerEntry.idempotency_key])
        .returning(LedgerEntry)
    )
    return session.scalars(statement).one_or_none()


def _replayed(existing: LedgerEntry, candidate: LedgerEntry) -> LedgerEntry:
    """Return the entry that has the candidate's key, or raise IdempotencyConflict if its content differs."""
    if not _same_content(existing, candidate):
        # Show staff the key they typed, without the prefix this module adds.
        key = candidate.idempotency_key
        shown = key.partition(":")[2] if candidate.kind in ("topup", "correction") else key
        raise IdempotencyConflict("error.idempotency_conflict", key=shown, entry_id=existing.id)
    return existing


def top_up(
    session: Session,
    customer_id: int,
    amount_cents: int,
    reference: str,
    idempotency_key: str,
    actor: str,
    at: datetime,
) -> tuple[LedgerEntry, bool]:
    """Credit a paid invoice to a customer. Returns the entry and whether it is new.

    Callers check the upper bound (the max_topup_cents setting) before posting.
    """
    if amount_cents <= 0:
        raise InvalidAmount("error.topup_not_positive", value=format_cents(amount_cents))
    checked_reference = _check_reference(reference)
    key = f"topup:{_check_key(idempotency_key)}"

    customer = lock_customer(session, customer_id)
    _refuse_invoice_booked_before(session, checked_reference, key)
    entry, created = _post(
        session,
        LedgerEntry(
            customer_id=customer.id,
            kind="topup",
            amount_cents=amount_cents,
            idempotency_key=key,
            reference=checked_reference,
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


def _refuse_invoice_booked_before(session: Session, reference: str, key: str) -> None:
    """Raise DuplicateInvoice when another top-up already credited this invoice reference.

    A paid invoice is credited once. A retry with the same idempotency key is
    not a second booking, so it passes here and _post returns the first entry.
    """
    earlier = session.scalar(
        select(LedgerEntry)
        .where(
            LedgerEntry.kind == "topup",
            # Case is ignored, so a typo like f2026-0042 for F2026-0042 cannot credit an invoice twice.
            func.lower(LedgerEntry.reference) == reference.lower(),
            LedgerEntry.idempotency_key != key,
        )
        .limit(1)
    )
    if earlier is not None:
        owner = session.get(Customer, earlier.customer_id)
        raise DuplicateInvoice(
            "error.duplicate_invoice",
            reference=earlier.reference,
            entry_id=earlier.id,
            helpdesk_id=owner.helpdesk_id if owner is not None else "?",
        )


def reserve(
    session: Session, call: Call, amount_cents: int, at: datetime, locked: Customer | None = None
) -> Reservation:
    """Hold credit for an admitted prepaid call, or raise InsufficientCredit.

    A call has at most one reservation. Reserving again for the same call
    with the same amount returns the first reservation and writes nothing;
    another amount raises IdempotencyConflict. A caller that has already
    locked the customer in this transaction passes the row as ``locked``,
    which saves a second lock statement.
    """
    assert call.customer_id is not None and amount_cents > 0
    customer = locked if locked is not None else lock_customer(session, call.customer_id)
    assert customer.id == call.customer_id, "the locked customer is not the call's customer"
    key = f"reservation:{call.uniqueid}"

    earlier = session.scalar(select(Reservation).where(Reservation.call_id == call.id))
    if earlier is not None:
        if earlier.amount_cents != amount_cents:
            entry = _existing(session, key)
            assert entry is not None, f"reservation of call {call.uniqueid} has no ledger entry"
            raise IdempotencyConflict("error.idempotency_conflict", key=key, entry_id=entry.id)
        return earlier

    available = credit(session, customer.id).available_cents
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
            idempotency_key=key,
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
    event can never charge a block twice: it returns the first entry with
    created False, even after the reservation was released. A charge beyond
    the hold raises InsufficientCredit, and so does a charge that would take
    the balance below zero (possible only after a negative staff correction),
    because metering never takes a prepaid balance below zero.

    Metering charges every block in a transaction of its own, so this runs
    four statements after the caller's: the customer lock, one read of the
    key, the reservation and the balance, the insert and the reservation update.
    """
    assert call.customer_id is not None and rate_cents > 0
    helpdesk_id = _lock_customer_for_charge(session, call.customer_id)
    key = f"charge:{call.uniqueid}:{n}"
    candidate = _charge_entry(call, key, rate_cents, at, n)

    state = _charge_state(session, call, key)
    if state.entry_id is not None:
        existing = session.get(LedgerEntry, state.entry_id)
        assert existing is not None
        return _replayed(existing, candidate), False
    if rate_cents > state.left_cents:
        raise InsufficientCredit(
            "error.insufficient_credit",
            helpdesk_id=helpdesk_id,
            needed=format_cents(rate_cents),
            available=format_cents(state.left_cents),
        )
    if state.balance_cents - rate_cents < 0:
        raise InsufficientCredit(
            "error.charge_below_zero",
            block=n,
            uniqueid=call.uniqueid,
            helpdesk_id=helpdesk_id,
            balance=format_cents(state.balance_cents),
        )

    # Only charge_block writes charge: keys, always under the lock of the
    # call's customer, so the key read above cannot be outdated here. A plain
    # insert is enough, and cheaper: SQLAlchemy 2.0 does not cache the dialect
    # inserts that carry ON CONFLICT, so it compiles them on every execution.
    session.add(candidate)
    session.flush()
    # Built per call with plain values, because the ORM applies an UPDATE to a
    # Reservation already loaded in this session only when it can evaluate the
    # values, and bindparam() placeholders have none.
    session.execute(
        update(Reservation)
        .where(Reservation.id == state.reservation_id)
        .values(charged_cents=Reservation.charged_cents + rate_cents)
    )
    log.info(
        "ledger.charge_posted",
        helpdesk_id=helpdesk_id,
        uniqueid=call.uniqueid,
        block=n,
        amount_cents=rate_cents,
    )
    return candidate, True


# The statements of a charge are built once, because building a statement
# and its cache key on every call was a large share of a charge's CPU time
# in a cProfile run of bench/ledger_api.py.
_LOCK_FOR_CHARGE = (
    select(Customer.helpdesk_id)
    .where(Customer.id == bindparam("customer_id"))
    .with_for_update(key_share=True)
)
_CHARGE_STATE = (
    select(
        select(LedgerEntry.id).where(LedgerEntry.idempotency_key == bindparam("key")).scalar_subquery(),
        Reservation.id,
        Reservation.amount_cents - Reservation.charged_cents,
        balance_sum(Customer.id).scalar_subquery(),
    )
    .select_from(Customer)
    .outerjoin(
        Reservation,
        and_(
            Reservation.customer_id == Customer.id,
            Reservation.call_id == bindparam("call_id"),
            Reservation.released_at.is_(None),
        ),
    )
    .where(Customer.id == bindparam("customer_id"))
)


def _lock_customer_for_charge(session: Session, customer_id: int) -> str:
    """Take the lock of :func:`lock_customer` and return only the customer's helpdesk id."""
    helpdesk_id = session.scalar(_LOCK_FOR_CHARGE, {"customer_id": customer_id})
    assert helpdesk_id is not None, f"customer {customer_id} vanished inside a transaction"
    return helpdesk_id


@dataclass(frozen=True)
class _ChargeState:
    entry_id: int | None  # the entry that already has the charge's key
    reservation_id: int | None  # the call's open reservation
    left_cents: int  # unspent part of that reservation, 0 without one
    balance_cents: int


def _charge_state(session: Session, call: Call, key: str) -> _ChargeState:
    """Read the key's entry, the call's open reservation and the balance in one statement.

    Run it only after the customer lock, never inside the locking statement:
    on PostgreSQL a statement reads the rows committed when it started, so a
    read in the locking statement could miss a charge committed while it waited.
    """
    row = session.execute(
        _CHARGE_STATE, {"key": key, "call_id": call.id, "customer_id": call.customer_id}
    ).one()
    entry_id, reservation_id, left_cents, balance = row._tuple()
    return _ChargeState(entry_id, reservation_id, int(left_cents or 0), int(balance or 0))


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
    """Post a correction that points to an earlier entry. It may take a balance below zero.

    Callers check the size of the amount; see the max_topup_cents setting.
    """
    checked_reason = _check_reason(reason)
    if amount_cents == 0:
        raise InvalidAmount("error.correction_zero", value=amount_cents)
    key = f"correction:{_check_key(idempotency_key)}"

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
            idempotency_key=key,
            actor=actor,
            reason=checked_reason,
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
    limit: int | None = 100,
    offset: int = 0,
) -> tuple[list[LedgerEntry], int]:
    """List a customer's entries in [since, until), oldest first, with the total count for paging.

    ``limit=None`` lists every entry in the range.
    """
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


def balance_before_cents(session: Session, customer_id: int, before: datetime) -> int:
    """Sum the entries that count in the balance and were posted before an instant.

    This is the opening balance of a ledger listing that starts at ``before``.
    """
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.customer_id == customer_id,
            LedgerEntry.kind.in_(BALANCE_KINDS),
            LedgerEntry.created_at < ensure_utc(before),
        )
    )
    return int(total or 0)


def call_uniqueids(session: Session, entries: list[LedgerEntry]) -> dict[int, str]:
    """Map the call ids of entries to the calls' Asterisk Uniqueids."""
    call_ids = {entry.call_id for entry in entries if entry.call_id is not None}
    if not call_ids:
        return {}
    rows = session.execute(select(Call.id, Call.uniqueid).where(Call.id.in_(call_ids))).all()
    return {call_id: uniqueid for call_id, uniqueid in rows}
