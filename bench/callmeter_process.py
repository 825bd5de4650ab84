"""callmeter as its own process, for the load benchmarks.

Usage::

    python -m bench.callmeter_process service DATABASE_URL AMI_PORT FASTAGI_PORT SPEED VIRTUAL WALL REPORT
    python -m bench.callmeter_process admission DATABASE_URL - FASTAGI_PORT SPEED VIRTUAL WALL REPORT

``service`` runs :class:`callmeter.service.Service` (FastAGI admission, the
AMI client and the meter, without the HTTP API) on the benchmark's virtual
clock, and records when each AMI event was handled. It stops by itself at
the ``UserEvent`` named ``BenchmarkEnd``. ``admission`` runs only the
FastAGI server, and stops when its standard input closes. Both write a JSON
report (handled events, CPU seconds) to REPORT and log at INFO, in JSON,
to stderr.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench.clocks import AnchoredClock, CallmeterClock
from callmeter import clock
from callmeter.admission.server import FastAgiServer
from callmeter.ami.client import AmiClient
from callmeter.ami.message import Message
from callmeter.db import Database
from callmeter.logging import configure_logging
from callmeter.service import Service
from callmeter.settings import AmiSettings, FastAgiSettings, Settings

AMI_USERNAME = "callmeter"
AMI_SECRET = "bench-secret"
# Real seconds the service may run before it gives up waiting for the end marker.
SERVICE_DEADLINE_SECONDS = 600.0


def event_key(message: Message) -> str:
    """Identify an event across processes: its name, Uniqueid and Timestamp."""
    return f"{message.event}|{message.uniqueid}|{message.get('Timestamp')}"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_service(settings: Settings, database: Database, report: dict[str, Any]) -> None:
    service = Service(settings, database, say=lambda _line: None, with_api=False)
    handled: list[tuple[str, float]] = []
    meter_on_event = service.meter.on_event

    async def on_event(message: Message) -> None:
        await meter_on_event(message)
        handled.append((event_key(message), time.time()))
        if message.event == "UserEvent" and message.get("UserEvent") == "BenchmarkEnd":
            service.stop()

    service.ami = AmiClient(
        settings.ami,
        on_event,
        on_connected=service.meter.on_connected,
        on_disconnected=service.meter.on_disconnected,
        status=service.status,
        clock=lambda: clock.utc_now().timestamp(),
        # The service's own filter, plus the end marker that only this benchmark sends.
        events=service.meter.handled_events | {"userevent"},
    )
    # Wired as Service wires its own client: the meter must ask this client
    # whether events are still waiting before it charges a block.
    service.meter.pbx = service.ami
    service.meter.event_source = service.ami
    # The parent sends SIGTERM when the end marker does not come in time; stop
    # cleanly then, so the report still shows what was handled.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, service.stop)
    cpu_started = _cpu_seconds()
    await asyncio.wait_for(service.run(), SERVICE_DEADLINE_SECONDS)
    report["cpu_seconds"] = _cpu_seconds() - cpu_started
    report["handled"] = handled


async def run_admission(settings: Settings, database: Database, report: dict[str, Any]) -> None:
    server = FastAgiServer(settings, database)
    await server.start()
    cpu_started = _cpu_seconds()
    try:
        # The parent closes our standard input when its load is done.
        await asyncio.to_thread(sys.stdin.read)
    finally:
        await server.stop()
    report["cpu_seconds"] = _cpu_seconds() - cpu_started


def main() -> None:
    mode, database_url, ami_port, fastagi_port = sys.argv[1:5]
    speed, virtual_epoch, wall_epoch = (float(value) for value in sys.argv[5:8])
    report_path = Path(sys.argv[8])
    configure_logging("INFO", json=True)
    clock.install_clock(CallmeterClock(AnchoredClock(speed, virtual_epoch, wall_epoch)))
    settings = Settings(
        database_url=database_url,
        fastagi=FastAgiSettings(host="127.0.0.1", port=int(fastagi_port)),
        ami=AmiSettings(
            host="127.0.0.1",
            port=int(ami_port) if ami_port != "-" else 5038,
            username=AMI_USERNAME,
            secret=AMI_SECRET,
        ),
    )
    database = Database(database_url)
    report: dict[str, Any] = {}
    try:
        if mode == "service":
            asyncio.run(run_service(settings, database, report))
        else:
            asyncio.run(run_admission(settings, database, report))
    finally:
        database.dispose()
        report["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        report_path.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
