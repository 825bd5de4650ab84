"""Read-side queries of the API: pages of calls and ledger entries with running balances.

The write paths go through the core services; these queries only read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, selectinload

from callmeter.clock import ensure_utc
from callmeter.db.models import Call, Customer, LedgerEntry, Reservation
from callmeter.ledger.service import BALANCE_KINDS, Credit, balance_sum, list_entries, reserved_sum

ACTIVE_STATES = ("admitted", "answered")


@dataclass(frozen=True)
class EntryWithBalance:
    entry: LedgerEntry
    balance_after_cents: int


def _balance_before(session: Session, customer_id: int, first: LedgerEntry) -> int:
    """Sum the balance entries that sort before an entry, by (created_at, id)."""
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.customer_id == customer_id,
            LedgerEntry.kind.in_(BALANCE_KINDS),
            or_(
                LedgerEntry.created_at < first.created_at,
                and_(LedgerEntry.created_at == first.created_at, LedgerEntry.id < first.id),
            ),
        )
    )
    return int(total or 0)


@dataclass(frozen=True)
class CustomerCredit:
    helpdesk_id: str
    plan: str
    credit: Credit


# The customer and the two sums of ``ledger.service.credit`` in one statement,
# built once: the balance endpoint is the API's busiest read, and building an
# ORM query per request cost more CPU than SQLite took to run it.
_CUSTOMER_CREDIT = select(
    Customer.helpdesk_id,
    Customer.plan,
    balance_sum(Customer.id).scalar_subquery(),
    reserved_sum(Customer.id).scalar_subquery(),
).where(Customer.helpdesk_id == bindparam("helpdesk_id"))


def customer_credit(connection: Connection, helpdesk_id: str) -> CustomerCredit | None:
    """Read a customer's plan, balance and open reservations by normalised helpdesk ID, or None."""
    row = connection.execute(_CUSTOMER_CREDIT, {"helpdesk_id": helpdesk_id}).one_or_none()
    if row is None:
        return None
    return CustomerCredit(row[0], row[1], Credit(int(row[2] or 0), int(row[3] or 0)))


def ledger_page(
    session: Session,
    customer_id: int,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[EntryWithBalance], int]:
    """List entries oldest first, each with the balance after it over the whole ledger."""
    entries, total = list_entries(session, customer_id, since, until, limit, offset)
    if not entries:
        return [], total

    running = _balance_before(session, customer_id, entries[0])
    result: list[EntryWithBalance] = []
    for entry in entries:
        if entry.kind in BALANCE_KINDS:
            running += entry.amount_cents
        result.append(EntryWithBalance(entry, running))
    return result, total


def call_page(
    session: Session,
    helpdesk_id: str | None,
    verdict: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[Call], int]:
    """List calls newest first, filtered, with the total count for paging."""
    statement = select(Call)
    if helpdesk_id is not None:
        statement = statement.where(Call.helpdesk_id == helpdesk_id)
    if verdict is not None:
        statement = statement.where(Call.verdict == verdict)
    if since is not None:
        statement = statement.where(Call.admitted_at >= ensure_utc(since))
    if until is not None:
        statement = statement.where(Call.admitted_at < ensure_utc(until))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(Call.admitted_at.desc(), Call.id.desc()).limit(limit).offset(offset)
    )
    return list(rows.all()), total


def active_calls(session: Session) -> list[Call]:
    """List calls that are admitted or answered and not yet ended, oldest first."""
    rows = session.scalars(
        select(Call).where(Call.state.in_(ACTIVE_STATES)).order_by(Call.admitted_at, Call.id)
    )
    return list(rows.all())


def call_with_blocks(session: Session, call_id: int) -> Call | None:
    return session.scalar(select(Call).where(Call.id == call_id).options(selectinload(Call.blocks)))


def count_active_calls(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Call).where(Call.state.in_(ACTIVE_STATES))) or 0


def count_open_reservations(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(Reservation).where(Reservation.released_at.is_(None)))
        or 0
    )
