"""The one injectable clock of callmeter.

Every function that needs "now" either takes the instant as an argument or
calls :func:`utc_now`; every wait that belongs to call timing (a block
starting, a grant running out) uses :func:`sleep`. Both go through the
installed :class:`Clock`. Production uses :class:`SystemClock`; tests fix
time with freezegun (which patches the system clock underneath), and the
simulated PBX installs its virtual clock so that a day of calls can play in
a minute while every timestamp stays consistent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until this clock has advanced by the given number of seconds."""
        ...


class SystemClock:
    """The wall clock of the machine."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


_installed: Clock = SystemClock()


def utc_now() -> datetime:
    """Return the current time of the installed clock as an aware UTC datetime."""
    return _installed.now()


async def sleep(seconds: float) -> None:
    """Wait on the installed clock."""
    await _installed.sleep(seconds)


def current_clock() -> Clock:
    return _installed


def install_clock(clock: Clock) -> Clock:
    """Make a clock the process-wide source of "now"; return the one it replaces."""
    global _installed
    previous, _installed = _installed, clock
    return previous


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Install a clock for the duration of a with-block."""
    previous = install_clock(clock)
    try:
        yield clock
    finally:
        install_clock(previous)


def ensure_utc(at: datetime) -> datetime:
    """Convert an aware datetime to UTC, rejecting naive ones.

    A naive datetime has no defined instant, and guessing its zone is how
    billing bugs start, so it is a programming error here.
    """
    assert at.tzinfo is not None, f"naive datetime {at!r} has no time zone"
    return at.astimezone(UTC)
