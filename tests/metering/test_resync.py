"""Resync after AMI outages, and events delivered twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import func, select

from callmeter import clock
from callmeter.ami.message import Message
from callmeter.db import Database
from callmeter.db.models import Call, CdrRecord, LedgerEntry
from callmeter.ledger import service as ledger
from callmeter.metering import Meter
from callmeter.metering.recording import RecordingClock, recorded_events
from callmeter.settings import Settings
from callmeter.simulator.calls import CallSpec
from callmeter.simulator.scenarios import play_scenario
from tests.metering.harness import Harness, harness_settings, simulated_callmeter
from tests.metering.support import (
    AMI_FIXTURES,
    RECORDING_CUSTOMERS,
    FakePbx,
    add_customer,
    admit,
    at_epoch,
    feed_recording,
)

HANG_GUARD_SECONDS = 10.0


async def _wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within the hang guard")


def _answered(harness: Harness) -> bool:
    return any(call.answered for call in harness.meter.open_calls.values())


async def _outage(harness: Harness, real_seconds: float) -> None:
    """Drop the AMI link and refuse logins for a while, as a network failure would."""
    harness.server.reject_logins(real_seconds)
    await harness.server.drop_connections()
    await _wait_for(lambda: not harness.client.connected)
    await _wait_for(lambda: harness.client.connected)


def _only_call(db: Database) -> Call:
    with db.read() as session:
        [call] = session.scalars(select(Call)).all()
        session.expunge_all()
    return call


def _charge_keys(db: Database) -> list[str]:
    with db.read() as session:
        return sorted(
            session.scalars(select(LedgerEntry.idempotency_key).where(LedgerEntry.kind == "charge")).all()
        )


async def test_link_drop_mid_call_charges_missed_block_once(db: Database) -> None:
    settings = harness_settings()
    add_customer(db, "HD-1001", "+31612345678", credit_cents=10_000)

    async with simulated_callmeter(db, settings, speed=40.0) as harness:
        scenario = asyncio.create_task(
            play_scenario(harness.pbx, [CallSpec("0612345678", "Jan Jansen", answer_seconds=1, talk_seconds=140)])
        )
        await _wait_for(lambda: _answered(harness))
        await harness.virtual.sleep(35)
        # Blind for about 1 real second (40 s of virtual time), across the start of block 2 at 60 s.
        # The call talks on for 60 s of virtual time after that, so its Hangup arrives on the new link.
        await _outage(harness, real_seconds=1.0)
        await asyncio.wait_for(scenario, HANG_GUARD_SECONDS)
        await harness.meter.wait_idle(HANG_GUARD_SECONDS)

    call = _only_call(db)
    assert call.end_estimated is False
    assert abs(call.metered_ms - 140_000) <= 50
    assert call.blocks_charged == 5
    assert _charge_keys(db) == [f"charge:{call.uniqueid}:{n}" for n in range(5)]


async def test_call_vanished_during_outage_flagged_and_released(db: Database) -> None:
    # 60 s blocks keep the whole call, and the outage in it, inside block 0.
    settings = harness_settings(block_seconds=60)
    customer_id = add_customer(db, "HD-1001", "+31612345678", credit_cents=10_000)

    # At 10x real time each side of the outage has about a real second of margin,
    # so a busy machine cannot move the call's end out of the outage.
    async with simulated_callmeter(db, settings, speed=10.0) as harness:
        scenario = asyncio.create_task(
            play_scenario(harness.pbx, [CallSpec("0612345678", "Jan Jansen", answer_seconds=1, talk_seconds=40)])
        )
        await _wait_for(lambda: _answered(harness))
        await harness.virtual.sleep(30)
        # Blind for about 2 real seconds (20 s of virtual time): the call ends unseen at 40 s.
        await _outage(harness, real_seconds=2.0)
        await asyncio.wait_for(scenario, HANG_GUARD_SECONDS)
        await harness.meter.wait_idle(HANG_GUARD_SECONDS)

    call = _only_call(db)
    with db.read() as session:
        credit = ledger.credit(session, customer_id)
    assert call.state == "ended"
    assert call.end_estimated is True
    assert call.answered_at is not None
    assert call.ended_at is not None
    assert 0 < call.metered_ms < 41_000
    assert call.blocks_charged == 1
    assert credit.reserved_cents == 0
    assert credit.balance_cents == 10_000 - 750


async def _feed_again(db: Database, settings: Settings, meter: Meter | None, names: set[str]) -> None:
    """Deliver the inbound channel's Hangup and Cdr of s01 once more."""
    start, events = recorded_events(AMI_FIXTURES / "s01-agent-hangs-up.ami.jsonl")
    again = [
        message
        for _, message in events
        if message.event in names and (message.get("Uniqueid") or "") == "1796413009.83"
    ]
    assert {message.event for message in again} == names
    with clock.use_clock(RecordingClock(at_epoch(start + 40))):
        target = meter or Meter(db, settings, FakePbx())
        if meter is None:
            await target.start()
            await target.on_connected()
        for message in again:
            await target.on_event(message)
        await target.close()


def _totals(db: Database) -> tuple[int, int, int]:
    with db.read() as session:
        entries = session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
        cdrs = session.scalar(select(func.count()).select_from(CdrRecord)) or 0
        call = session.scalar(select(Call).where(Call.uniqueid == "1796413009.83"))
        assert call is not None
        return entries, cdrs, call.charged_cents


def test_replayed_hangup_and_cdr_charge_nothing_extra(db: Database) -> None:
    settings = Settings()
    for helpdesk_id, number in RECORDING_CUSTOMERS:
        add_customer(db, helpdesk_id, number, credit_cents=100_000)
    meter = asyncio.run(feed_recording(db, settings, "s01-agent-hangs-up"))
    before = _totals(db)

    asyncio.run(_feed_again(db, settings, meter, {"Hangup", "Cdr"}))
    after_same_process = _totals(db)
    asyncio.run(_feed_again(db, settings, None, {"Hangup", "Cdr"}))
    after_restart = _totals(db)

    assert before[2] == 750
    assert after_same_process == before
    assert after_restart == before


def _channel(uniqueid: str, bridge_id: str, duration: str) -> Message:
    return Message.of(
        [
            ("Event", "CoreShowChannel"),
            ("Channel", f"PJSIP/trunk-{uniqueid}"),
            ("Uniqueid", uniqueid),
            ("Linkedid", "1796413000.1"),
            ("Duration", duration),
            ("BridgeId", bridge_id),
        ]
    )


async def _answer_while_blind(db: Database) -> Meter:
    settings = Settings()
    admitted_at = at_epoch(1796413000.5)
    add_customer(db, "HD-1001", "+31612345678", credit_cents=10_000)
    admit(db, settings, "1796413000.1", "HD-1001", admitted_at)
    pbx = FakePbx(channels=[_channel("1796413000.1", "", "00:00:01")])
    recording_clock = RecordingClock(admitted_at)
    with clock.use_clock(recording_clock):
        meter = Meter(db, settings, pbx)
        await meter.start()
        await meter.on_connected()
        await meter.on_disconnected(1796413001.0)
        # 60 s later the call shows up bridged; the agent leg was created 40 s ago.
        pbx.channels = [
            _channel("1796413000.1", "bridge-1", "00:01:00"),
            _channel("1796413020.2", "bridge-1", "00:00:40"),
        ]
        await recording_clock.advance_to(at_epoch(1796413060.0))
        await meter.on_connected()
        await meter.close()
    return meter


def test_answer_while_blind_estimated_from_agent_leg(db: Database) -> None:
    meter = asyncio.run(_answer_while_blind(db))

    call = meter.open_calls["1796413000.1"]
    row = _only_call(db)
    assert call.answered_at == at_epoch(1796413020.0)
    assert row.answer_estimated is True
    assert row.state == "answered"
    assert row.blocks_charged == 1
