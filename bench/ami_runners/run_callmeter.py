"""Count events with callmeter's AMI client and the production event dispatch.

Usage: python -m bench.ami_runners.run_callmeter HOST PORT DEADLINE_SECONDS STALL_SECONDS [meter|minimal]

With ``meter`` (the default) every event goes from :class:`callmeter.ami.client.AmiClient` into
:meth:`callmeter.metering.Meter.on_event`, on a migrated SQLite database in
a temporary folder, with logging configured as the service does it (INFO,
JSON, to stderr). No call in the recorded stream was admitted in that
database, so the meter does what it does for every channel it does not
meter: name and Uniqueid lookups, a database lookup per new Uniqueid
(cached for 2 s), and nothing else. Charging is measured by the metering
benchmark.

With ``minimal`` the handler does only what the runners of the other
libraries do (event name, Uniqueid, one dict lookup), which separates the
cost of the client from the cost of the meter.

In both modes the client gets the meter's event names
(``Meter.handled_events``), as the service gives them, and skips every other
event unparsed. The runner adds ``UserEvent``, which production does not
ask for, only so that the end marker reaches the handler. An event counts
when it was handled or skipped, so the count is every event of the stream.
The time runs from the login (``on_connected``, which comes before any
event of the link) to the end marker handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callmeter.ami.client import AmiClient
from callmeter.ami.message import Message
from callmeter.db import Database
from callmeter.logging import configure_logging
from callmeter.metering import Meter
from callmeter.settings import AmiSettings, Settings


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    deadline, stall = float(sys.argv[3]), float(sys.argv[4])
    handler = sys.argv[5] if len(sys.argv) > 5 else "meter"
    assert handler in ("meter", "minimal"), f"unknown handler {handler!r}"
    configure_logging("INFO", json=True)
    result: dict[str, Any] = {
        "library": "callmeter",
        "version": "this tree",
        "handler": handler,
        "events": 0,
        "finished": False,
    }
    cpu_started = time.process_time()
    try:
        with tempfile.TemporaryDirectory(prefix="callmeter-bench-") as folder:
            asyncio.run(_count(host, port, deadline, stall, handler, Path(folder), result))
    except Exception as error:  # report every failure as data, for the results page
        result["error"] = f"{type(error).__name__}: {error}"
    result["cpu_seconds"] = time.process_time() - cpu_started
    result["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result), flush=True)


async def _count(
    host: str, port: int, deadline: float, stall: float, handler: str, folder: Path, result: dict[str, Any]
) -> None:
    database = Database(f"sqlite:///{folder / 'callmeter.db'}")
    database.upgrade()
    settings = Settings(ami=AmiSettings(host=host, port=port, username="bench", secret="bench"))
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    state = {"handled": 0, "first": 0.0}
    meter = Meter(database, settings)
    calls: dict[str | None, object] = {}
    use_meter = handler == "meter"

    async def on_connected() -> None:
        if not state["first"]:
            state["first"] = time.perf_counter()
        await meter.on_connected()

    async def on_event(message: Message) -> None:
        state["handled"] += 1
        if use_meter:
            await meter.on_event(message)
        else:
            calls.get(message.uniqueid)
        if message.event == "UserEvent" and message.get("UserEvent") == "BenchmarkEnd" and not done.done():
            done.set_result(time.perf_counter())

    client = AmiClient(
        settings.ami,
        on_event,
        on_connected=on_connected,
        on_disconnected=meter.on_disconnected,
        events=meter.handled_events | {"userevent"},
    )
    meter.pbx = client
    meter.event_source = client
    await meter.start()

    def events() -> int:
        return int(state["handled"]) + client.events_skipped

    runner = asyncio.create_task(client.run(), name="ami-client")
    try:
        finished_at, result["finished"], result["stalled"] = await _wait(done, events, deadline, stall)
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(runner, 10)
        await meter.close()
        database.dispose()
    result["events"] = events()
    result["frames_read"] = client.frames_read
    result["seconds"] = finished_at - state["first"] if state["first"] else 0.0


async def _wait(
    done: asyncio.Future[float], events: Callable[[], int], deadline: float, stall: float
) -> tuple[float, bool, bool]:
    """Wait for the end marker; return (end time, finished, stalled)."""
    give_up = time.monotonic() + deadline
    seen, seen_at = -1, time.monotonic()
    while True:
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(done), 0.5), True, False
        now = time.monotonic()
        count = events()
        if count != seen:
            seen, seen_at = count, now
        elif now - seen_at > stall:
            return time.perf_counter(), False, True
        if now > give_up:
            return time.perf_counter(), False, False


if __name__ == "__main__":
    main()
