"""The simulator's virtual clock: epoch time that can run faster than real time.

Events carry the virtual time in their ``Timestamp`` header, so metering
computed from Timestamps is exact at any speed. Only the real waits shrink.
"""

from __future__ import annotations

import asyncio
import time


class VirtualClock:
    """Epoch seconds that advance ``speed`` times as fast as real time."""

    def __init__(self, speed: float = 1.0, start_epoch: float | None = None) -> None:
        assert speed > 0, f"speed must be positive, got {speed}"
        self.speed = speed
        self._start_epoch = time.time() if start_epoch is None else start_epoch
        self._start_perf = time.perf_counter()

    def now(self) -> float:
        """Return the virtual time in epoch seconds."""
        return self._start_epoch + (time.perf_counter() - self._start_perf) * self.speed

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of virtual time."""
        await asyncio.sleep(max(seconds, 0.0) / self.speed)

    def real_seconds(self, seconds: float) -> float:
        """Return how many real seconds ``seconds`` of virtual time take."""
        return max(seconds, 0.0) / self.speed
