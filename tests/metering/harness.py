"""A simulated PBX wired to a real callmeter (FastAGI admission, AMI client, meter) over 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from callmeter import clock
from callmeter.admission.server import FastAgiServer
from callmeter.ami.client import AmiClient
from callmeter.ami.message import Message
from callmeter.db import Database
from callmeter.metering import Meter
from callmeter.metering.replay import FollowingClock
from callmeter.settings import AmiSettings, FastAgiSettings, Settings
from callmeter.simulator.admit import fastagi_admitter
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.clock import VirtualClock
from callmeter.simulator.pbx import SimulatedPbx

# Friday 2026-12-04 19:00 UTC is 20:00 in Amsterdam: zone 2, the high rate (750 cents per prepaid block).
FRIDAY_EVENING = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)


@dataclass
class Harness:
    settings: Settings
    database: Database
    virtual: VirtualClock
    server: AmiServer
    pbx: SimulatedPbx
    fastagi: FastAgiServer
    client: AmiClient
    meter: Meter


def harness_settings(**overrides: object) -> Settings:
    fields: dict[str, object] = {"block_seconds": 30, "ring_timeout_seconds": 30}
    fields.update(overrides)
    return Settings(**fields)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def simulated_callmeter(
    database: Database,
    settings: Settings,
    speed: float = 20.0,
    start: datetime = FRIDAY_EVENING,
    events_flowing: asyncio.Event | None = None,
) -> AsyncIterator[Harness]:
    """Run the simulator and a callmeter on one virtual clock; yield when the AMI link is up.

    While ``events_flowing`` is cleared, the AMI client's consumer holds the
    next event before the meter, so events pile up in the client's queue as
    they do behind a slow handler.
    """
    virtual = VirtualClock(speed, start.timestamp())
    following = FollowingClock(virtual)
    secret = secrets.token_hex(8)
    with clock.use_clock(following):
        server = AmiServer(username="callmeter", secret=secret, clock=virtual)
        await server.start()
        settings = settings.model_copy(
            update={
                "fastagi": FastAgiSettings(host="127.0.0.1", port=0),
                "ami": AmiSettings(
                    host="127.0.0.1",
                    port=server.port,
                    username="callmeter",
                    secret=secret,
                    reconnect_min_seconds=0.05,
                    reconnect_max_seconds=0.2,
                ),
            }
        )
        meter = Meter(database, settings)

        async def on_event(message: Message) -> None:
            if events_flowing is not None:
                await events_flowing.wait()
            await meter.on_event(message)

        client = AmiClient(
            settings.ami,
            on_event,
            on_connected=meter.on_connected,
            on_disconnected=meter.on_disconnected,
            clock=virtual.now,
            events=meter.handled_events,
        )
        meter.pbx = client
        meter.event_source = client
        fastagi = FastAgiServer(settings, database, on_admitted=meter.on_admitted)
        await fastagi.start()
        assert fastagi.port is not None
        pbx = SimulatedPbx(server, fastagi_admitter("127.0.0.1", fastagi.port))
        await meter.start()
        ami_task = asyncio.create_task(client.run())
        try:
            await client.wait_connected(timeout=10.0)
            yield Harness(settings, database, virtual, server, pbx, fastagi, client, meter)
        finally:
            await client.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ami_task, 5.0)
            await meter.close()
            await fastagi.stop()
            await server.close()
