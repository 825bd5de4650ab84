"""The FastAGI server that admits or refuses calls before the line is answered.

Asterisk runs ``AGI(agi://host:4573/admit)`` in the 038 context. For each
session the server reads the ``agi_*`` environment, reads
``CALLERID(num-pres)``, decides the verdict, records the call, reserves a
prepaid grant and sets the ``CALLMETER_*`` channel variables. Then it closes
the socket and the dialplan continues.

Guards: only the configured PBX addresses may connect, lines and the
environment are bounded, and each session gets ``fastagi.session_timeout_seconds``
for its network reads and writes. A session that fails in any way is logged
and closed without a verdict, so the dialplan applies its fail policy; other
sessions are not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import ipaddress
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Literal, TypeVar

import structlog

from callmeter.admission import service
from callmeter.admission.protocol import HANGUP_LINE, parse_result, quote_argument
from callmeter.admission.verdicts import Presentation
from callmeter.clock import utc_now
from callmeter.db import Database
from callmeter.errors import ConfigError
from callmeter.metrics import ADMISSIONS
from callmeter.settings import Settings
from callmeter.status import ServiceStatus
from callmeter.tariffs import Tariff

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Asterisk's environment lines are short, and a channel name stays well under 200 characters.
MAX_LINE_BYTES = 4096
# Asterisk sends 22 agi_* lines, plus one agi_arg_N line per AGI() argument (at most 128).
MAX_ENVIRONMENT_LINES = 160
# Sessions served at once; more connections are closed at once, so Asterisk applies the fail policy.
DEFAULT_MAX_SESSIONS = 512
# SQLite takes one writer at a time, so more threads would only queue on its lock.
SQLITE_WORKERS = 1
POSTGRES_WORKERS = 8
# How long stop() lets running sessions finish before it cancels them.
STOP_GRACE_SECONDS = 5.0

SCRIPT_NAME = "admit"
NUM_PRES_VARIABLE = "CALLERID(num-pres)"

OnAdmitted = Callable[[int, str], Awaitable[None] | None]
Delivery = Literal["delivered", "unconfirmed", "hung_up", "lost"]


class SessionError(Exception):
    """A session that cannot go on: bad input, a timeout or a closed socket."""


def parse_allowed_peers(peers: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Read the allowlist: IP addresses or networks such as 10.0.0.0/24, or raise ConfigError."""
    networks = []
    for peer in peers:
        try:
            networks.append(ipaddress.ip_network(peer.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                "error.config",
                key="fastagi.allowed_peers",
                value=peer,
                allowed_nl="een IP-adres of netwerk, zoals 127.0.0.1 of 10.0.0.0/24",
                allowed_en="an IP address or network, such as 127.0.0.1 or 10.0.0.0/24",
            ) from None
    return networks


class _Connection:
    """One FastAGI socket with a deadline for every read and write."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float) -> None:
        self.reader = reader
        self.writer = writer
        self.deadline = deadline

    async def read_line(self) -> str | None:
        """Read one line without its newline, or None at end of stream."""
        with self._guard():
            async with asyncio.timeout_at(self.deadline):
                return await self._line()

    async def read_environment(self) -> dict[str, str]:
        # One deadline covers the whole environment: Asterisk sends it in one
        # write, so the lines are usually buffered already and a timer per
        # line would cost more than reading them.
        environment: dict[str, str] = {}
        with self._guard():
            async with asyncio.timeout_at(self.deadline):
                for _ in range(MAX_ENVIRONMENT_LINES):
                    line = await self._line()
                    if line is None:
                        raise SessionError("stream ended before the end of the agi_* environment")
                    if line == "":
                        return environment
                    name, separator, value = line.partition(":")
                    if not separator or not name.startswith("agi_") or not name.isprintable():
                        raise SessionError(f"invalid environment line {line[:80]!r}")
                    environment[name] = value.removeprefix(" ")
        raise SessionError(f"more than {MAX_ENVIRONMENT_LINES} environment lines")

    async def command(self, line: str) -> str | None:
        """Send one command and return its result line, or None at end of stream."""
        with self._guard():
            async with asyncio.timeout_at(self.deadline):
                self.writer.write((line + "\n").encode())
                await self.writer.drain()
                return await self._line()

    async def _line(self) -> str | None:
        raw = await self.reader.readline()
        if not raw:
            return None
        if not raw.endswith(b"\n"):
            raise SessionError("stream ended inside a line")
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn the ways a socket read or write can fail into a SessionError."""
        try:
            yield
        except TimeoutError:
            raise SessionError("timed out") from None
        except ValueError:
            raise SessionError(f"line longer than {MAX_LINE_BYTES} bytes") from None
        except ConnectionError as error:
            raise SessionError(f"connection lost: {error}") from None


def _is_hangup(reply: str | None) -> bool:
    if reply is None:
        return False
    if reply.strip() == HANGUP_LINE:
        return True
    parsed = parse_result(reply)
    return parsed is not None and parsed.is_dead_channel


def _call_request(environment: dict[str, str]) -> service.CallRequest:
    """Turn the agi_* environment into a call request, or raise SessionError."""
    script = environment.get("agi_network_script")
    if script != SCRIPT_NAME:
        raise SessionError(f"unknown AGI script {script!r}, expected agi://host:port/{SCRIPT_NAME}")
    uniqueid = environment.get("agi_uniqueid", "").strip()
    if not uniqueid or len(uniqueid) > 64:
        raise SessionError(f"invalid agi_uniqueid {uniqueid[:80]!r}")
    if "agi_callerid" not in environment:
        raise SessionError("agi_callerid missing")

    callingpres_text = environment.get("agi_callingpres", "").strip()
    # A presentation that is missing or not a number counts as withheld (None).
    callingpres = int(callingpres_text) if callingpres_text.isdigit() else None
    linkedid = environment.get("agi_linkedid", "").strip() or None
    return service.CallRequest(
        uniqueid=uniqueid,
        channel=environment.get("agi_channel", ""),
        caller_raw=environment["agi_callerid"].strip(),
        presentation=Presentation(callingpres=callingpres),
        linkedid=linkedid[:64] if linkedid else None,
    )


class FastAgiServer:
    """The admission server. Use ``async with`` or start() and stop()."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        status: ServiceStatus | None = None,
        on_admitted: OnAdmitted | None = None,
        clock: Callable[[], datetime] | None = None,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
    ) -> None:
        self.settings = settings
        self.database = database
        self.tariff = Tariff(settings)
        self.status = status if status is not None else ServiceStatus()
        self.on_admitted = on_admitted
        self._clock = clock
        self._max_sessions = max_sessions
        self._allowed = parse_allowed_peers(settings.fastagi.allowed_peers)
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        workers = SQLITE_WORKERS if database.is_sqlite else POSTGRES_WORKERS
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="admission-db")
        self.port: int | None = None

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def address(self) -> str:
        return f"{self.settings.fastagi.host}:{self.port}"

    async def start(self) -> None:
        """Bind and listen; with port 0 the bound port is in ``self.port``."""
        fastagi = self.settings.fastagi
        # The first zone lookup loads the holiday tables, which can take a second, so do it before a caller waits.
        await asyncio.to_thread(self.tariff.is_open, self._now())
        self._server = await asyncio.start_server(
            self._accept, fastagi.host, fastagi.port, limit=MAX_LINE_BYTES
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        self.status.fastagi = "listening"
        self.status.fastagi_address = self.address
        log.info("fastagi.listening", address=self.address, allowed_peers=list(fastagi.allowed_peers))

    async def serve_forever(self) -> None:
        """Serve until cancelled, then stop cleanly."""
        if self._server is None:
            await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop accepting, let running sessions finish (bounded), then release the workers."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._sessions:
            _, pending = await asyncio.wait(set(self._sessions), timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=STOP_GRACE_SECONDS)
        await asyncio.to_thread(self._executor.shutdown, True)
        if self.status.fastagi == "listening":
            self.status.fastagi = "stopped"
            log.info("fastagi.stopped", address=self.address)

    def _now(self) -> datetime:
        return self._clock() if self._clock is not None else utc_now()

    def _peer_allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._allowed)

    async def _run_db(self, function: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if peername else "?"
        task = asyncio.current_task()
        assert task is not None
        try:
            if not self._peer_allowed(peer):
                log.warning("fastagi.peer_rejected", peer=peer)
                return
            if len(self._sessions) >= self._max_sessions:
                log.warning("fastagi.overloaded", peer=peer, sessions=len(self._sessions))
                return
            self._sessions.add(task)
            await self._session(reader, writer, peer)
        except SessionError as error:
            log.warning("fastagi.session_dropped", peer=peer, reason=str(error))
        except Exception:
            log.exception("fastagi.session_failed", peer=peer)
        finally:
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        loop = asyncio.get_running_loop()
        connection = _Connection(reader, writer, loop.time() + self.settings.fastagi.session_timeout_seconds)
        environment = await connection.read_environment()
        request = _call_request(environment)

        reply = await connection.command(f"GET VARIABLE {quote_argument(NUM_PRES_VARIABLE)}")
        if reply is None or _is_hangup(reply):
            log.info("fastagi.hangup_before_decision", uniqueid=request.uniqueid, peer=peer)
            return
        parsed = parse_result(reply)
        num_pres = parsed.data if parsed is not None and parsed.code == 200 and parsed.result == "1" else None
        request = service.CallRequest(
            uniqueid=request.uniqueid,
            channel=request.channel,
            caller_raw=request.caller_raw,
            presentation=Presentation(callingpres=request.presentation.callingpres, num_pres=num_pres),
            linkedid=request.linkedid,
        )

        # NOTE: if stop() cancels a session while this runs, the worker thread still commits.
        # The reservation then stays open until metering's resync after a restart closes the call.
        try:
            admission = await self._run_db(service.admit, self.database, self.tariff, request, self._now())
        except service.CallAbandoned:
            log.warning("fastagi.repeat_after_abandon", uniqueid=request.uniqueid, peer=peer)
            return
        except Exception:
            # A database outage or a bug: no verdict is set, so the dialplan applies its fail policy.
            log.exception("admission.failed", uniqueid=request.uniqueid, peer=peer)
            return
        ADMISSIONS.labels(verdict=admission.decision.verdict).inc()

        delivery = await self._deliver(connection, admission, request.uniqueid)
        if delivery in ("hung_up", "lost"):
            if admission.decision.admitted:
                await self._run_db(service.abandon, self.database, admission.call_id, self._now())
            return
        if admission.decision.admitted and not admission.repeated and self.on_admitted is not None:
            await self._notify(admission.call_id, request.uniqueid)

    async def _deliver(
        self, connection: _Connection, admission: service.Admission, uniqueid: str
    ) -> Delivery:
        """Set the CALLMETER_* variables, CALLMETER_VERDICT last.

        The dialplan treats a missing verdict as a failure, so a session cut
        short before the verdict is set leaves a refused call and its
        reservation can be released. Once the verdict was sent, only a
        confirmed hangup releases it, because the dialplan may already be
        dialling.
        """
        verdict_sent = False
        for name, value in admission.decision.channel_variables().items():
            verdict_sent = name == "CALLMETER_VERDICT"
            try:
                reply = await connection.command(f"SET VARIABLE {name} {quote_argument(value)}")
            except SessionError as error:
                return self._lost(uniqueid, str(error), verdict_sent)
            if _is_hangup(reply):
                log.info("fastagi.hangup_during_admission", uniqueid=uniqueid, variable=name)
                return "hung_up"
            parsed = parse_result(reply) if reply is not None else None
            if parsed is None or parsed.code != 200:
                return self._lost(
                    uniqueid, f"unexpected reply {reply!r} to SET VARIABLE {name}", verdict_sent
                )
        return "delivered"

    def _lost(self, uniqueid: str, reason: str, verdict_sent: bool) -> Delivery:
        if verdict_sent:
            # The PBX may have the verdict, so keep the call; metering ends it over AMI.
            log.warning("fastagi.verdict_unconfirmed", uniqueid=uniqueid, reason=reason)
            return "unconfirmed"
        log.warning("fastagi.session_lost", uniqueid=uniqueid, reason=reason)
        return "lost"

    async def _notify(self, call_id: int, uniqueid: str) -> None:
        assert self.on_admitted is not None
        try:
            result = self.on_admitted(call_id, uniqueid)
            if inspect.isawaitable(result):
                await asyncio.wait_for(result, timeout=self.settings.fastagi.session_timeout_seconds)
        except Exception:
            log.exception("fastagi.on_admitted_failed", uniqueid=uniqueid, call_id=call_id)
