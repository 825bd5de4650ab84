"""Database side of metering: loading calls, charging blocks, closing calls, storing Cdrs.

Every function is synchronous and opens its own transaction, so the meter
runs them in a worker thread. Each is safe to repeat: block charges carry
the idempotency key ``charge:<Uniqueid>:<n>`` and a unique (call, block)
row, a release happens once, and a Cdr is stored once per fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from callmeter.clock import ensure_utc
from callmeter.db import Database
from callmeter.db.models import Call, CallBlock, CdrRecord, Reservation
from callmeter.ledger import service as ledger
from callmeter.metering.call import MeteredCall
from callmeter.settings import PLANS, Plan
from callmeter.tariffs import Tariff

log = structlog.get_logger(__name__)

OPEN_STATES = ("admitted", "answered")


@dataclass(frozen=True)
class ChargedBlock:
    n: int
    starts_at: datetime
    zone: int | None
    rate_cents: int
    ledger_entry_id: int | None
    created: bool


def _plan(value: str | None) -> Plan:
    for plan in PLANS:
        if plan == value:
            return plan
    return "prepaid"


def metered_call(row: Call) -> MeteredCall:
    """Build the in-memory state of a call row, with the blocks already charged."""
    call = MeteredCall(
        call_id=row.id,
        uniqueid=row.uniqueid,
        plan=_plan(row.plan),
        customer_id=row.customer_id,
        helpdesk_id=row.helpdesk_id,
        limit_ms=row.limit_ms,
        admitted_at=row.admitted_at,
        channel=row.channel,
        linkedid=row.linkedid,
        answered_at=row.answered_at,
        answer_estimated=row.answer_estimated,
        bridge_left_at=row.bridge_left_at,
        ended_at=row.ended_at,
        last_event_at=row.last_event_at,
        cut_off=row.cut_off,
    )
    # A call that was answered is in its bridge unless it was seen leaving.
    call.in_bridge = row.answered_at is not None and row.bridge_left_at is None
    call.dial_answered = row.answered_at is not None
    for block in row.blocks:
        call.charged_blocks.add(block.n)
        call.charged_cents += block.rate_cents
    return call


def load_open_calls(db: Database) -> list[MeteredCall]:
    """Load the admitted calls that have not ended, for a restart."""
    # TODO: calls carry no PBX identity, so with several PBXes sharing one database a
    # restarted process would resync, and close as vanished, the open calls of the other PBXes.
    with db.read() as session:
        rows = session.scalars(
            select(Call).where(Call.verdict == "admitted", Call.state.in_(OPEN_STATES)).order_by(Call.id)
        ).all()
        return [metered_call(row) for row in rows]


def load_call(db: Database, uniqueid: str) -> tuple[MeteredCall | None, bool]:
    """Look up an admitted call by Uniqueid; return it (None if unknown or refused) and whether it ended."""
    with db.read() as session:
        row = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
        if row is None or row.verdict != "admitted":
            return None, row is not None
        return metered_call(row), row.state not in OPEN_STATES


def count_open_reservations(db: Database) -> int:
    with db.read() as session:
        return int(
            session.scalar(select(func.count()).select_from(Reservation).where(Reservation.released_at.is_(None)))
            or 0
        )


def save_progress(db: Database, call: MeteredCall) -> None:
    """Persist the answer, the bridge state and the last event time of an open call.

    One UPDATE without loading the row first: the meter runs this on every
    answer and bridge change, inside the event path.
    """
    values: dict[str, object] = {
        "state": "answered" if call.answered_at is not None else "admitted",
        "answered_at": call.answered_at,
        "answer_estimated": call.answer_estimated,
        "bridge_left_at": call.bridge_left_at if not call.in_bridge else None,
        "last_event_at": call.last_event_at,
        "cut_off": call.cut_off,
    }
    if call.linkedid:
        values["linkedid"] = func.coalesce(Call.linkedid, call.linkedid)
    if call.channel:
        values["channel"] = call.channel
    with db.write() as session:
        session.execute(
            update(Call)
            .where(Call.id == call.call_id, Call.state.in_(OPEN_STATES))
            .values(values)
            .execution_options(synchronize_session=False)
        )


def charge_block(db: Database, tariff: Tariff, call: MeteredCall, n: int) -> ChargedBlock:
    """Charge block n of a call at the rate of its start.

    Prepaid blocks are charged out of the reservation through the ledger.
    Contract and postpaid blocks get a call_blocks row without a ledger
    entry, as usage for the invoice. Raises InsufficientCredit when the
    reservation cannot pay the block.
    """
    assert call.answered_at is not None
    block = tariff.block_at(call.plan, n, tariff.block_start(call.answered_at, n))
    zone = None if block.zone is None else int(block.zone)

    with db.write() as session:
        # The call and its block n, if charged before, in one round trip.
        found = session.execute(
            select(Call, CallBlock)
            .outerjoin(CallBlock, (CallBlock.call_id == Call.id) & (CallBlock.n == n))
            .where(Call.id == call.call_id)
        ).one_or_none()
        assert found is not None
        row, existing = found._tuple()
        if existing is not None:
            return ChargedBlock(
                n, existing.starts_at, existing.zone, existing.rate_cents, existing.ledger_entry_id, created=False
            )

        entry_id: int | None = None
        if call.plan == "prepaid" and block.rate_cents > 0:
            entry, _ = ledger.charge_block(session, row, n, block.rate_cents, block.starts_at)
            entry_id = entry.id
        session.add(
            CallBlock(
                call_id=row.id,
                n=n,
                starts_at=block.starts_at,
                zone=zone,
                rate_cents=block.rate_cents,
                ledger_entry_id=entry_id,
            )
        )
        row.blocks_charged = (row.blocks_charged or 0) + 1
        row.charged_cents = (row.charged_cents or 0) + block.rate_cents
        moment = call.charge_moment(tariff, n)
        if row.last_event_at is None or row.last_event_at < moment:
            row.last_event_at = moment
        session.flush()
    return ChargedBlock(n, block.starts_at, zone, block.rate_cents, entry_id, True)


def close_call(db: Database, call: MeteredCall, hangup_at: datetime, metered_ms: int, estimated: bool) -> None:
    """Mark a call ended with its metered time and totals, and release the unused reservation."""
    with db.write() as session:
        row = session.get(Call, call.call_id)
        assert row is not None
        if row.state not in OPEN_STATES:
            return
        totals = session.execute(
            select(func.count(CallBlock.id), func.coalesce(func.sum(CallBlock.rate_cents), 0)).where(
                CallBlock.call_id == row.id
            )
        ).one()
        row.state = "ended"
        row.ended_at = ensure_utc(hangup_at)
        row.answered_at = call.answered_at
        row.answer_estimated = call.answer_estimated
        row.bridge_left_at = call.bridge_left_at
        row.metered_ms = metered_ms
        row.blocks_charged = int(totals[0])
        row.charged_cents = int(totals[1])
        row.end_estimated = estimated
        row.cut_off = call.cut_off
        row.last_event_at = call.last_event_at
        if call.linkedid and not row.linkedid:
            row.linkedid = call.linkedid
        ledger.release(session, row, hangup_at)


def store_cdr(db: Database, uniqueid: str, call_uniqueid: str | None, fingerprint: str,
              billable_seconds: int | None, disposition: str | None, raw: str, received_at: datetime) -> bool:
    """Store a Cdr once; for the inbound channel also keep BillableSeconds on the call as a cross-check."""
    try:
        with db.write() as session:
            exists = session.scalar(
                select(CdrRecord.id).where(CdrRecord.uniqueid == uniqueid, CdrRecord.fingerprint == fingerprint)
            )
            if exists is not None:
                return False
            session.add(
                CdrRecord(
                    uniqueid=uniqueid,
                    fingerprint=fingerprint,
                    billable_seconds=billable_seconds,
                    disposition=disposition,
                    raw=raw,
                    received_at=received_at,
                )
            )
            if call_uniqueid == uniqueid and billable_seconds is not None:
                row = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
                # One inbound channel can produce several Cdrs (forks of zero length); keep the longest.
                if row is not None and (row.cdr_billable_seconds or 0) <= billable_seconds:
                    row.cdr_billable_seconds = billable_seconds
    except IntegrityError:
        return False
    return True
