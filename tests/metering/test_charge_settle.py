"""Block timers against a backlog of AMI events: a queued Hangup decides before the charge."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from callmeter import clock
from callmeter.ami.message import Message
from callmeter.db import Database
from callmeter.metering import Meter
from callmeter.metering.recording import RecordingClock
from callmeter.settings import Settings
from tests.metering.support import FakePbx, add_customer, admit, calls_by_uniqueid

# Tuesday 2026-12-01 09:00 UTC is 10:00 in Amsterdam: zone 1, 500 cents per prepaid block.
TUESDAY_MORNING = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
UNIQUEID = "1796115600.1"
# Real seconds the test lets the deferred timer spin before the Hangup is delivered.
BACKLOG_REAL_SECONDS = 0.2


class QueuedEvents:
    """An event source that keeps events from the meter until the test delivers them."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.waiting: list[Message] = []

    def drained(self) -> bool:
        return not self.waiting

    async def deliver(self) -> None:
        while self.waiting:
            # The event stays counted as waiting until the meter has applied it.
            await self.meter.on_event(self.waiting[0])
            self.waiting.pop(0)


def _event(name: str, at: datetime, **headers: str) -> Message:
    stamp = f"{at.timestamp():.6f}"
    pairs = [("Event", name), ("Uniqueid", UNIQUEID), ("Channel", "PJSIP/trunk-00000001"), ("Timestamp", stamp)]
    return Message.of(pairs + list(headers.items()), at.timestamp())


async def _metered_call(db: Database, settings: Settings, hangup_after: timedelta) -> None:
    """Answer a call, queue its Hangup and let the clock run well past block 1's start before delivering it."""
    recording_clock = RecordingClock(TUESDAY_MORNING)
    answered_at = TUESDAY_MORNING + timedelta(seconds=10)
    with clock.use_clock(recording_clock):
        meter = Meter(db, settings, FakePbx())
        source = QueuedEvents(meter)
        meter.event_source = source
        await meter.start()
        await meter.on_connected()
        call_id = admit(db, settings, UNIQUEID, "HD-1001", TUESDAY_MORNING)
        await meter.on_admitted(call_id, UNIQUEID)
        await recording_clock.advance_to(answered_at)
        await meter.on_event(_event("DialEnd", answered_at, DialStatus="ANSWER"))
        await meter.on_event(_event("BridgeEnter", answered_at))

        source.waiting.append(_event("Hangup", answered_at + hangup_after))
        await recording_clock.advance_to(answered_at + timedelta(seconds=330))
        await asyncio.sleep(BACKLOG_REAL_SECONDS)
        await source.deliver()
        await meter.wait_idle(5.0)
        await meter.close()


async def test_queued_hangup_before_block_start_prevents_charge(db: Database) -> None:
    settings = Settings()
    add_customer(db, "HD-1001", "+31612345678", credit_cents=10_000)

    await _metered_call(db, settings, hangup_after=timedelta(seconds=299.9))

    call = calls_by_uniqueid(db)[UNIQUEID]
    assert call.state == "ended"
    assert call.metered_ms == 299_900
    assert call.blocks_charged == 1
    assert call.charged_cents == 500


async def test_queued_hangup_after_block_start_charges_block(db: Database) -> None:
    settings = Settings()
    add_customer(db, "HD-1001", "+31612345678", credit_cents=10_000)

    await _metered_call(db, settings, hangup_after=timedelta(seconds=300.5))

    call = calls_by_uniqueid(db)[UNIQUEID]
    assert call.state == "ended"
    assert call.metered_ms == 300_500
    assert call.blocks_charged == 2
    assert call.charged_cents == 1000
