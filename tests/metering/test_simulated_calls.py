"""Metering against the simulated PBX over real sockets: cutoff, shared credit and contract usage."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import select

from callmeter.db import Database
from callmeter.db.models import Call, CallBlock, LedgerEntry
from callmeter.ledger import service as ledger
from callmeter.simulator.calls import CallSpec
from callmeter.simulator.scenarios import play_scenario
from tests.metering.harness import harness_settings, simulated_callmeter
from tests.metering.support import add_customer

HANG_GUARD_SECONDS = 10.0


async def _wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within the hang guard")


def _calls(db: Database) -> list[Call]:
    with db.read() as session:
        calls = list(session.scalars(select(Call).order_by(Call.id)).all())
        session.expunge_all()
    return calls


def _entries(db: Database, customer_id: int) -> list[tuple[str, int]]:
    with db.read() as session:
        rows = session.scalars(
            select(LedgerEntry).where(LedgerEntry.customer_id == customer_id).order_by(LedgerEntry.id)
        ).all()
        return [(row.kind, row.amount_cents) for row in rows]


async def test_queue_call_past_grant_cut_off_without_extra_block(db: Database) -> None:
    settings = harness_settings()
    customer_id = add_customer(db, "HD-1001", "+31612345678", credit_cents=750)

    async with simulated_callmeter(db, settings) as harness:
        outcomes = await play_scenario(
            harness.pbx, [CallSpec("0612345678", "Jan Jansen", route="queue", answer_seconds=2, talk_seconds=90)]
        )
        await harness.meter.wait_idle(HANG_GUARD_SECONDS)

    [call] = _calls(db)
    with db.read() as session:
        credit = ledger.credit(session, customer_id)
    assert outcomes[0].end_reason == "redirected"
    assert call.cut_off is True
    assert call.limit_ms == 30_000
    assert call.blocks_charged == 1
    assert call.charged_cents == 750
    # Cut 2 s past the grant, so the call was metered past its grant but not by a whole block.
    assert 30_000 < call.metered_ms < 60_000
    assert credit.balance_cents == 0
    assert credit.reserved_cents == 0


async def test_two_calls_sharing_credit_end_at_zero(db: Database) -> None:
    # A grant of at most one minute is two blocks of 30 s, so two calls each reserve half the credit.
    settings = harness_settings(max_call_minutes=1)
    customer_id = add_customer(db, "HD-1001", "+31612345678", credit_cents=3000)

    async with simulated_callmeter(db, settings) as harness:
        await play_scenario(
            harness.pbx,
            [
                CallSpec("0612345678", "Jan Jansen", answer_seconds=1, talk_seconds=50),
                CallSpec("0612345678", "Jan Jansen", start_seconds=2, answer_seconds=1, talk_seconds=45),
            ],
        )
        await harness.meter.wait_idle(HANG_GUARD_SECONDS)

    calls = _calls(db)
    entries = _entries(db, customer_id)
    running = 0
    lowest = 0
    for kind, amount_cents in entries:
        if kind in ledger.BALANCE_KINDS:
            running += amount_cents
            lowest = min(lowest, running)
    assert [call.verdict for call in calls] == ["admitted", "admitted"]
    assert [call.blocks_charged for call in calls] == [2, 2]
    assert running == 0
    assert lowest == 0


async def test_contract_call_recorded_without_ledger_charge(db: Database) -> None:
    settings = harness_settings()
    customer_id = add_customer(db, "HD-2001", "+31381234567", plan="contract")

    async with simulated_callmeter(db, settings) as harness:
        await play_scenario(harness.pbx, [CallSpec("0381234567", "Piet Pieters", answer_seconds=1, talk_seconds=40)])
        await harness.meter.wait_idle(HANG_GUARD_SECONDS)

    [call] = _calls(db)
    with db.read() as session:
        blocks = session.scalars(select(CallBlock).where(CallBlock.call_id == call.id).order_by(CallBlock.n)).all()
        usage = [(block.n, block.rate_cents, block.ledger_entry_id) for block in blocks]
    assert call.plan == "contract"
    assert call.blocks_charged == 2
    assert usage == [(0, 750, None), (1, 750, None)]
    assert call.charged_cents == 1500
    assert _entries(db, customer_id) == []


async def test_transfer_gap_stays_metered(db: Database) -> None:
    settings = harness_settings()
    add_customer(db, "HD-1003", "+31201112233", credit_cents=10_000)

    async with simulated_callmeter(db, settings) as harness:
        [outcome] = await play_scenario(
            harness.pbx,
            [CallSpec("0201112233", "Klaas Klaassen", answer_seconds=1, talk_seconds=40, transfer_after_seconds=10)],
        )
        await harness.meter.wait_idle(HANG_GUARD_SECONDS)

    [call] = _calls(db)
    assert outcome.transfers == 1
    assert abs(call.metered_ms - 40_000) <= 50
    assert call.blocks_charged == 2


async def test_block_after_queued_hangup_not_charged(db: Database) -> None:
    settings = harness_settings()
    add_customer(db, "HD-1001", "+31612345678", credit_cents=10_000)
    events_flowing = asyncio.Event()
    events_flowing.set()

    async with simulated_callmeter(db, settings, events_flowing=events_flowing) as harness:
        scenario = asyncio.create_task(
            play_scenario(harness.pbx, [CallSpec("0612345678", "Jan Jansen", answer_seconds=1, talk_seconds=27)])
        )
        await _wait_for(lambda: any(call.answered for call in harness.meter.open_calls.values()))
        # From here the meter falls behind: the Hangup at 27 s of metered time waits in
        # the AMI client's queue while block 1 starts at 30 s and its timer comes due.
        events_flowing.clear()
        await asyncio.wait_for(scenario, HANG_GUARD_SECONDS)
        await harness.virtual.sleep(15)
        events_flowing.set()
        await harness.meter.wait_idle(HANG_GUARD_SECONDS)

    [call] = _calls(db)
    assert call.state == "ended"
    assert 26_000 < call.metered_ms < 30_000
    assert call.blocks_charged == 1
    assert call.charged_cents == 750
