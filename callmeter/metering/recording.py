"""Reading recorded AMI and FastAGI sessions (``*.ami.jsonl``, ``*.agi.jsonl``).

Every line is ``{"t": seconds since the recording started, "dir": "in" | "out",
"raw": text}``. The AMI and FastAGI files of one scenario share that time
line. ``RecordingClock`` follows it, so zones and ``received_at`` times are
those of the recording while the replay itself runs much faster.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callmeter.ami.message import Message


@dataclass(frozen=True)
class RecordedLine:
    t: float
    incoming: bool
    raw: str


def read_lines(path: Path) -> list[RecordedLine]:
    lines: list[RecordedLine] = []
    with path.open(encoding="utf-8") as handle:
        for text in handle:
            if not text.strip():
                continue
            item = json.loads(text)
            lines.append(RecordedLine(float(item["t"]), item["dir"] == "in", str(item["raw"])))
    return lines


def parse_frame(raw: str, received_at: float) -> Message | None:
    """Parse one recorded AMI frame; the banner and ``<EOF>`` give None."""
    headers: list[tuple[str, str]] = []
    for line in raw.split("\r\n"):
        if not line:
            continue
        name, separator, value = line.partition(":")
        if not separator:
            continue
        headers.append((name.strip(), value.removeprefix(" ")))
    return Message.of(headers, received_at) if headers else None


def recording_start(lines: list[RecordedLine]) -> float:
    """Estimate the epoch time at which a recording's t = 0.

    With ``timestampevents`` the first Timestamp gives it. Without, the
    first Uniqueid does, because Asterisk makes a Uniqueid from the epoch
    second in which the channel was created.
    """
    for line in lines:
        if not line.incoming:
            continue
        message = parse_frame(line.raw, 0.0)
        if message is None:
            continue
        stamp = message.get("Timestamp")
        if stamp:
            return float(stamp) - line.t
    for line in lines:
        message = parse_frame(line.raw, 0.0) if line.incoming else None
        uniqueid = message.get("Uniqueid") if message is not None else None
        if uniqueid:
            return float(uniqueid.partition(".")[0]) + 0.5 - line.t
    raise ValueError("the recording carries neither Timestamp nor Uniqueid headers")


def recorded_events(path: Path) -> tuple[float, list[tuple[float, Message]]]:
    """Return the start epoch and every incoming event with its recorded t."""
    lines = read_lines(path)
    start = recording_start(lines)
    events: list[tuple[float, Message]] = []
    for line in lines:
        if not line.incoming:
            continue
        message = parse_frame(line.raw, start + line.t)
        if message is not None and message.event is not None:
            events.append((line.t, message))
    return start, events


class RecordingClock:
    """A clock that a replay moves forward by hand; sleepers wake as it passes their deadline."""

    def __init__(self, start: datetime) -> None:
        assert start.tzinfo is not None
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    def epoch(self) -> float:
        return self._now.timestamp()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + timedelta(seconds=seconds), next(self._order), waiter))
        await waiter

    async def advance_to(self, at: datetime) -> None:
        """Move to ``at``, stopping at each sleeper's deadline so it runs at its own instant."""
        while self._sleepers and self._sleepers[0][0] <= at:
            deadline, _, waiter = heapq.heappop(self._sleepers)
            if deadline > self._now:
                self._now = deadline
            if not waiter.done():
                waiter.set_result(None)
            # Let the woken task run (and start its database write) before time moves on.
            for _ in range(5):
                await asyncio.sleep(0)
        if at > self._now:
            self._now = at
