"""Helpers for tests that run the AMI client against the simulated PBX on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field

from callmeter.ami.client import AmiClient
from callmeter.ami.message import Message
from callmeter.settings import AmiSettings
from callmeter.status import ServiceStatus

SECRET = "callmeter-secret"
HANG_GUARD_SECONDS = 10.0


def fast_settings(port: int, **overrides: object) -> AmiSettings:
    """Return client settings with short intervals, so reconnect tests take well under a second."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "callmeter",
        "secret": SECRET,
        "ping_interval_seconds": 0.2,
        "ping_timeout_seconds": 0.2,
        "action_timeout_seconds": 1.0,
        "reconnect_min_seconds": 0.05,
        "reconnect_max_seconds": 0.5,
    }
    values.update(overrides)
    return AmiSettings.model_validate(values)


@dataclass
class Recorder:
    """Collects what the client delivers, and lets a test wait for a condition on it."""

    events: list[Message] = field(default_factory=list)
    connected: int = 0
    disconnected: list[float] = field(default_factory=list)
    disconnected_seen_at: list[float] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def on_event(self, message: Message) -> None:
        self.events.append(message)
        await self._notify()

    async def on_connected(self) -> None:
        self.connected += 1
        await self._notify()

    async def on_disconnected(self, lost_at: float) -> None:
        self.disconnected.append(lost_at)
        self.disconnected_seen_at.append(time.time())
        await self._notify()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], limit_seconds: float = HANG_GUARD_SECONDS) -> None:
        async with asyncio.timeout(limit_seconds), self.changed:
            await self.changed.wait_for(predicate)

    def names(self) -> list[str]:
        return [message.event or "" for message in self.events]


@contextlib.asynccontextmanager
async def running_client(
    settings: AmiSettings,
    recorder: Recorder,
    status: ServiceStatus | None = None,
    events: Collection[str] | None = None,
) -> AsyncIterator[AmiClient]:
    """Run a client in the background for the block, then close it and wait for run() to end."""
    client = AmiClient(
        settings,
        recorder.on_event,
        on_connected=recorder.on_connected,
        on_disconnected=recorder.on_disconnected,
        status=status,
        events=events,
    )
    task = asyncio.create_task(client.run())
    try:
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, HANG_GUARD_SECONDS)
