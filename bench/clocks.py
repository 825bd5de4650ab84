"""A virtual clock that two processes can share, because it is anchored to the wall clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from callmeter.simulator.clock import VirtualClock

# Tuesday 8 December 2026, 10:00 in Amsterdam: zone 1 (normal rate) for
# hours of virtual time, and no public holiday.
OPEN_HOURS_START = datetime(2026, 12, 8, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp()


class AnchoredClock(VirtualClock):
    """Virtual epoch seconds: ``virtual_epoch`` at wall time ``wall_epoch``, running ``speed`` times as fast.

    The simulated PBX and callmeter run in different processes; both build
    this clock from the same three numbers and so agree on the virtual time.
    """

    def __init__(self, speed: float, virtual_epoch: float, wall_epoch: float) -> None:
        super().__init__(speed=speed, start_epoch=virtual_epoch)
        self.virtual_epoch = virtual_epoch
        self.wall_epoch = wall_epoch

    def now(self) -> float:
        return self.virtual_epoch + (time.time() - self.wall_epoch) * self.speed


class CallmeterClock:
    """callmeter's Clock protocol on top of an AnchoredClock."""

    def __init__(self, virtual: AnchoredClock) -> None:
        self.virtual = virtual

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.virtual.now(), UTC)

    async def sleep(self, seconds: float) -> None:
        await self.virtual.sleep(seconds)
