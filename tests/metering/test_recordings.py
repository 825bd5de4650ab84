"""Every recording of a real Asterisk, metered and compared with the results in the fixtures README."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from callmeter.db import Database
from callmeter.db.models import CallBlock, CdrRecord, LedgerEntry
from callmeter.ledger import service as ledger
from callmeter.settings import Settings
from tests.metering.support import (
    AMI_FIXTURES,
    RECORDING_CUSTOMERS,
    add_customer,
    calls_by_uniqueid,
    feed_recording,
)

# Metered seconds and blocks per admitted call, in Uniqueid order (the fixtures README).
EXPECTED: dict[str, list[tuple[float, int]]] = {
    "s01-agent-hangs-up": [(20.52, 1)],
    "s02-caller-hangs-up": [(10.50, 1)],
    "s03-withheld-prohib": [],
    "s04-unknown-number": [],
    "s05-no-answer": [(0.0, 0)],
    "s07-cutoff-by-limit": [(20.02, 1)],
    "s08-number-formats": [(4.5, 1)] * 5,
    "s09-concurrent-same-customer": [(25.53, 1), (15.52, 1), (10.51, 1)],
    "s11-long-call-crosses-block": [(330.6, 2)],
    "s13-channelvars-presentation": [(6.5, 1)],
}
# The s08 calls are "about 4.5 s" in the README, so they get a looser bound.
TOLERANCE = {"s08-number-formats": 0.5}


@pytest.fixture
def settings() -> Settings:
    return Settings()


def _add_recording_customers(db: Database) -> None:
    for helpdesk_id, number in RECORDING_CUSTOMERS:
        add_customer(db, helpdesk_id, number, credit_cents=100_000)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recording_metered_time_and_blocks(db: Database, settings: Settings, name: str) -> None:
    _add_recording_customers(db)

    asyncio.run(feed_recording(db, settings, name))

    calls = calls_by_uniqueid(db)
    admitted = [calls[uniqueid] for uniqueid in sorted(calls, key=float) if calls[uniqueid].verdict == "admitted"]
    assert len(admitted) == len(EXPECTED[name])
    for call, (seconds, blocks) in zip(admitted, EXPECTED[name], strict=True):
        assert call.state == "ended"
        assert call.metered_ms / 1000 == pytest.approx(seconds, abs=TOLERANCE.get(name, 0.05))
        assert call.blocks_charged == blocks
        assert call.end_estimated is False


NO_TIMESTAMPS = {
    "s01-agent-hangs-up": [(20.52, 1)],
    "s02-caller-hangs-up": [(10.50, 1)],
    "s04-unknown-number": [],
    "s05-no-answer": [(0.0, 0)],
    "s07-cutoff-by-limit": [(20.02, 1)],
    "s08-number-formats": [(4.5, 1)] * 5,
    "s09-concurrent-same-customer": [(25.53, 1), (15.52, 1), (10.51, 1)],
    "s11-long-call-crosses-block": [(330.6, 2)],
}


@pytest.mark.parametrize("name", sorted(NO_TIMESTAMPS))
def test_recording_without_timestamps_metered_by_arrival(db: Database, settings: Settings, name: str) -> None:
    _add_recording_customers(db)

    asyncio.run(feed_recording(db, settings, name, AMI_FIXTURES / "no-timestamps"))

    calls = calls_by_uniqueid(db)
    admitted = [calls[uniqueid] for uniqueid in sorted(calls, key=float) if calls[uniqueid].verdict == "admitted"]
    assert len(admitted) == len(NO_TIMESTAMPS[name])
    for call, (seconds, blocks) in zip(admitted, NO_TIMESTAMPS[name], strict=True):
        assert call.metered_ms / 1000 == pytest.approx(seconds, abs=0.6)
        assert call.blocks_charged == blocks


def test_s01_meters_talk_not_channel_time(db: Database, settings: Settings) -> None:
    _add_recording_customers(db)

    asyncio.run(feed_recording(db, settings, "s01-agent-hangs-up"))

    call = calls_by_uniqueid(db)["1796413009.83"]
    assert call.metered_ms == pytest.approx(20_522, abs=2)
    assert call.cdr_billable_seconds == 22
    assert call.charged_cents == 750


def test_s01_charges_one_block_and_releases_the_rest(db: Database, settings: Settings) -> None:
    _add_recording_customers(db)

    asyncio.run(feed_recording(db, settings, "s01-agent-hangs-up"))

    call = calls_by_uniqueid(db)["1796413009.83"]
    with db.read() as session:
        blocks = session.scalars(select(CallBlock).where(CallBlock.call_id == call.id)).all()
        entries = session.scalars(select(LedgerEntry).where(LedgerEntry.call_id == call.id)).all()
        credit = ledger.credit(session, call.customer_id or 0)
        block_rows = [(block.n, block.zone, block.rate_cents) for block in blocks]
        kinds = sorted(entry.kind for entry in entries)
    assert block_rows == [(0, 2, 750)]
    assert kinds == ["charge", "release", "reservation"]
    assert credit.balance_cents == 100_000 - 750
    assert credit.reserved_cents == 0


def test_s05_unanswered_call_releases_everything(db: Database, settings: Settings) -> None:
    _add_recording_customers(db)

    asyncio.run(feed_recording(db, settings, "s05-no-answer"))

    call = calls_by_uniqueid(db)["1796413095.103"]
    with db.read() as session:
        credit = ledger.credit(session, call.customer_id or 0)
    assert call.answered_at is None
    assert call.charged_cents == 0
    assert credit.balance_cents == 100_000
    assert credit.reserved_cents == 0


def test_s05_cdrs_stored_once_each(db: Database, settings: Settings) -> None:
    _add_recording_customers(db)

    asyncio.run(feed_recording(db, settings, "s05-no-answer"))

    with db.read() as session:
        inbound = session.scalars(select(CdrRecord).where(CdrRecord.uniqueid == "1796413095.103")).all()
        billable = sorted(record.billable_seconds or 0 for record in inbound)
    assert billable == [0, 8]
    assert calls_by_uniqueid(db)["1796413095.103"].cdr_billable_seconds == 8


def test_s11_second_block_charged_at_its_start(db: Database, settings: Settings) -> None:
    _add_recording_customers(db)

    asyncio.run(feed_recording(db, settings, "s11-long-call-crosses-block"))

    call = calls_by_uniqueid(db)["1796413299.155"]
    with db.read() as session:
        blocks = session.scalars(select(CallBlock).where(CallBlock.call_id == call.id).order_by(CallBlock.n)).all()
        starts = [block.starts_at for block in blocks]
    assert call.answered_at is not None
    assert len(starts) == 2
    assert (starts[1] - call.answered_at).total_seconds() == 300
    assert call.charged_cents == 1500
