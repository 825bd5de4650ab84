"""Fixtures for the simulated PBX: an AMI server on 127.0.0.1 with a fast virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from callmeter.ami.message import Message
from callmeter.simulator.admit import Admitter, fixed_admitter
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.clock import VirtualClock
from callmeter.simulator.pbx import SimulatedPbx
from tests.ami.support import SECRET

# Fast enough that a 20 s call takes 20 ms, slow enough for a client to act mid-call.
TEST_SPEED = 1000.0


@dataclass
class Simulated:
    server: AmiServer
    pbx: SimulatedPbx
    events: list[Message]

    def named(self, event: str) -> list[Message]:
        return [message for message in self.events if message.event == event]


@pytest.fixture
async def simulated() -> AsyncIterator[Simulated]:
    async with _simulated(fixed_admitter(limit_ms=3_600_000)) as running:
        yield running


class _simulated:
    """Start an AMI server and a PBX with the given admitter; collect every emitted event."""

    def __init__(self, admitter: Admitter, speed: float = TEST_SPEED, channel_style: str = "local") -> None:
        self.server = AmiServer(secret=SECRET, clock=VirtualClock(speed=speed))
        self.events: list[Message] = []
        style = "pjsip" if channel_style == "pjsip" else "local"
        self.pbx = SimulatedPbx(self.server, admitter, channel_style=style, event_sink=self.events.append)

    async def __aenter__(self) -> Simulated:
        await self.server.start()
        return Simulated(self.server, self.pbx, self.events)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.server.close()


simulated_pbx = _simulated
