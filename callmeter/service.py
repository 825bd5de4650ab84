"""The callmeter process: FastAGI admission, the AMI link, metering and the HTTP API in one event loop.

Start-up checks the database schema, reloads the open calls (a restart,
even after ``kill -9``, continues where the database left off) and then
starts admission, the AMI client and the API. SIGTERM or SIGINT stops
accepting new work, lets database writes in flight finish and closes the
AMI link with a Logoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
import uvicorn

from callmeter import clock, i18n
from callmeter.admission.server import FastAgiServer
from callmeter.ami.client import AmiClient
from callmeter.db import Database
from callmeter.metering import Meter
from callmeter.settings import Settings
from callmeter.status import ServiceStatus

log = structlog.get_logger(__name__)

# How long shutdown waits for each component before it moves on.
STOP_TIMEOUT_SECONDS = 10.0

i18n.register(
    {
        "service.starting": {
            "nl": "callmeter start: FastAGI op {fastagi}, AMI naar {ami}, API op {api}.",
            "en": "callmeter starting: FastAGI on {fastagi}, AMI to {ami}, API on {api}.",
        },
        "service.api_missing": {
            "nl": "De HTTP-API is niet geïnstalleerd; callmeter draait zonder API.",
            "en": "The HTTP API is not installed; callmeter runs without the API.",
        },
        "service.api_off": {"nl": "uit (--no-api)", "en": "off (--no-api)"},
        "service.stopping": {
            "nl": "callmeter stopt: lopende databaseschrijfacties worden afgemaakt…",
            "en": "callmeter stopping: finishing database writes in flight…",
        },
        "service.stopped": {
            "nl": "callmeter is gestopt.",
            "en": "callmeter has stopped.",
        },
    }
)


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the service stops it through ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _api_factory() -> Callable[[Settings, Database, ServiceStatus], Any] | None:
    """Return ``api.app.create_app`` when the API package is installed, else None."""
    try:
        module = importlib.import_module("api.app")
    except ImportError:
        return None
    factory = getattr(module, "create_app", None)
    return factory if callable(factory) else None


@dataclass
class Service:
    """One callmeter process serving one PBX."""

    settings: Settings
    database: Database
    say: Callable[[str], None] = print
    language: str = "nl"
    with_api: bool = True
    status: ServiceStatus = field(default_factory=ServiceStatus)

    def __post_init__(self) -> None:
        self.meter = Meter(self.database, self.settings)
        self.ami = AmiClient(
            self.settings.ami,
            self.meter.on_event,
            on_connected=self.meter.on_connected,
            on_disconnected=self.meter.on_disconnected,
            status=self.status,
            clock=lambda: clock.utc_now().timestamp(),
            events=self.meter.handled_events,
        )
        self.meter.pbx = self.ami
        self.meter.event_source = self.ami
        self.fastagi = FastAgiServer(
            self.settings, self.database, status=self.status, on_admitted=self.meter.on_admitted
        )
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask the service to shut down (safe to call from a signal handler)."""
        self._stop.set()

    async def run(self) -> None:
        """Serve until stop() or a signal, then shut down cleanly."""
        await asyncio.to_thread(self.database.check_schema)
        await self.meter.start()
        await self.fastagi.start()
        api_server = self._api_server()
        settings = self.settings
        self.say(
            i18n.text(
                "service.starting",
                self.language,
                fastagi=self.fastagi.address,
                ami=f"{settings.ami.host}:{settings.ami.port}",
                api=f"{settings.api.host}:{settings.api.port}" if api_server is not None else i18n.text(
                    "service.api_off", self.language
                ),
            )
        )
        log.info(
            "service.started", fastagi=self.fastagi.address, ami_host=settings.ami.host, ami_port=settings.ami.port
        )

        async with asyncio.TaskGroup() as group:
            ami_task = group.create_task(self.ami.run(), name="ami")
            api_task = group.create_task(api_server.serve(), name="api") if api_server is not None else None
            stop_task = group.create_task(self._stop.wait(), name="stop")
            await asyncio.wait({ami_task, stop_task} | ({api_task} if api_task else set()),
                               return_when=asyncio.FIRST_COMPLETED)
            self.say(i18n.text("service.stopping", self.language))
            log.info("service.stopping")
            await self._shutdown(ami_task, api_server)
            stop_task.cancel()
        self.say(i18n.text("service.stopped", self.language))
        log.info("service.stopped")

    async def _shutdown(self, ami_task: asyncio.Task[None], api_server: Any) -> None:
        # Admission first, so no new call arrives; then the AMI link; then the meter,
        # which waits for the database write in flight before it returns.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.fastagi.stop(), STOP_TIMEOUT_SECONDS)
        if api_server is not None:
            api_server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ami.close(), STOP_TIMEOUT_SECONDS)
        try:
            await asyncio.wait_for(asyncio.shield(ami_task), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            ami_task.cancel()
        await asyncio.wait_for(self.meter.close(), STOP_TIMEOUT_SECONDS)

    def _api_server(self) -> Any:
        if not self.with_api:
            return None
        factory = _api_factory()
        if factory is None:
            self.say(i18n.text("service.api_missing", self.language))
            log.warning("service.api_missing")
            return None
        app = factory(self.settings, self.database, self.status)
        config = uvicorn.Config(
            app, host=self.settings.api.host, port=self.settings.api.port, log_level="warning", lifespan="on"
        )
        return _ApiServer(config)


async def run_service(service: Service) -> None:
    """Run a service with SIGTERM and SIGINT wired to a clean stop."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, service.stop)
    try:
        await service.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
