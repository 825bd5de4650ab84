"""The simulated PBX's AMI server: a real asyncio TCP server on 127.0.0.1.

It speaks AMI the way the recorded Asterisk (upstream master) does. It
sends the banner, Login with ``FullyBooted`` and Ping with a ``Timestamp``.
It serves the list actions ``CoreShowChannels`` and ``Status``, and
Hangup, Redirect, Setvar, Events and Logoff, with the recorded error texts
for missing channels and unknown actions. Faults can be injected on command: drop every connection, reject
logins for a while, go silent, or restart with a ``Shutdown`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import structlog

from callmeter.ami.framing import MAX_FRAME_BYTES, FrameReader, parse_frame
from callmeter.ami.message import Message
from callmeter.simulator.channels import Headers, SimChannel
from callmeter.simulator.clock import VirtualClock

log = structlog.get_logger(__name__)

BANNER = "Asterisk Call Manager/13.0.0"
DEFAULT_USERNAME = "callmeter"
# The simulator's own default login, as in the recordings; it guards nothing.
DEFAULT_SECRET = "callmeter-secret"  # noqa: S105

# A client that lets this much output pile up is dropped, as Asterisk drops
# a manager session whose writes time out.
MAX_BUFFERED_BYTES = 16 * 1024 * 1024


class ActionTarget(Protocol):
    """The channels that actions act on; the simulated PBX implements it."""

    def list_channels(self) -> list[SimChannel]: ...

    async def hangup(self, channel: str, cause: int) -> bool: ...

    async def redirect(self, channel: str, context: str, exten: str, priority: int) -> bool: ...

    def setvar(self, channel: str, variable: str, value: str) -> bool: ...


class _NoChannels:
    def list_channels(self) -> list[SimChannel]:
        return []

    async def hangup(self, channel: str, cause: int) -> bool:
        return False

    async def redirect(self, channel: str, context: str, exten: str, priority: int) -> bool:
        return False

    def setvar(self, channel: str, variable: str, value: str) -> bool:
        return False


@dataclass(eq=False)
class _Session:
    writer: asyncio.StreamWriter
    peer: str
    logged_in: bool = False
    # None means all event classes; an empty set means events are off.
    event_classes: set[str] | None = None

    def wants(self, message: Message) -> bool:
        if self.event_classes is None:
            return True
        privilege = message.get("Privilege") or ""
        classes = {item.strip().lower() for item in privilege.split(",")} - {"all"}
        return bool(classes & self.event_classes)


class AmiServer:
    """An AMI server for tests and the ``simulate`` command."""

    def __init__(
        self,
        *,
        username: str = DEFAULT_USERNAME,
        secret: str = DEFAULT_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: VirtualClock | None = None,
        target: ActionTarget | None = None,
        banner: str = BANNER,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.username = username
        self.secret = secret
        self.host = host
        self.clock = clock or VirtualClock()
        self.target: ActionTarget = target or _NoChannels()
        self.banner = banner
        self.tls = tls
        self.logins = 0  # successful logins, for tests and the CLI
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._booted_at = time.monotonic()
        self._silent = False
        self._reject_logins_until = 0.0
        self._login_seen = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def sessions(self) -> int:
        return sum(1 for session in self._sessions if session.logged_in)

    async def wait_for_client(self) -> None:
        """Wait until at least one session is logged in (bound it with a timeout)."""
        while self.sessions == 0:
            self._login_seen.clear()
            await self._login_seen.wait()

    async def start(self) -> None:
        """Start listening; with port 0 the system picks a free port."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self._requested_port, limit=MAX_FRAME_BYTES, reuse_address=True, ssl=self.tls
        )
        self._requested_port = self.port
        log.info("simulator.ami_listening", host=self.host, port=self.port)

    async def close(self) -> None:
        """Stop listening and close every session."""
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def __aenter__(self) -> AmiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- faults --------------------------------------------------------------

    async def drop_connections(self) -> None:
        """Close every client socket, as a network failure would."""
        sessions = list(self._sessions)
        for session in sessions:
            session.writer.close()
        for session in sessions:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.writer.wait_closed(), 1.0)
        if sessions:
            log.info("simulator.connections_dropped", count=len(sessions))

    def reject_logins(self, seconds: float) -> None:
        """Reject every Login with ``Authentication failed`` for ``seconds`` real seconds."""
        self._reject_logins_until = time.monotonic() + seconds

    def set_silent(self, silent: bool) -> None:
        """Stop (or resume) responding to actions, Pings included, and sending events."""
        self._silent = silent

    async def restart(self, banner: str | None = None, down_seconds: float = 0.0) -> None:
        """Send ``Shutdown``, close every session and listen again with a fresh uptime."""
        await self.broadcast([("Event", "Shutdown"), ("Privilege", "system,all")], stamp=True, extra=[
            ("Shutdown", "Cleanly"),
            ("Restart", "True"),
        ])
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        if down_seconds > 0:
            await asyncio.sleep(down_seconds)
        if banner is not None:
            self.banner = banner
        self._booted_at = time.monotonic()
        await self.start()

    # -- events --------------------------------------------------------------

    async def broadcast(
        self,
        headers: Headers,
        *,
        stamp: bool = True,
        extra: Iterable[tuple[str, str]] = (),
        at: float | None = None,
    ) -> Message:
        """Send an event to every logged-in session that wants its class.

        ``headers`` start with ``Event`` and ``Privilege``. With ``stamp``, a
        ``Timestamp`` follows them, as ``timestampevents = yes`` does: ``at``,
        or the clock's virtual time when ``at`` is None.
        """
        event_time = self.clock.now() if at is None else at
        pairs = list(headers[:2])
        if stamp:
            pairs.append(("Timestamp", f"{event_time:.6f}"))
        pairs.extend(headers[2:])
        pairs.extend(extra)
        message = Message(pairs, event_time)
        self.send_event(message)
        return message

    def send_event(self, message: Message) -> None:
        """Write an already built event to every session that wants it."""
        if self._silent:
            return
        data = message.encode()
        for session in list(self._sessions):
            if session.logged_in and session.wants(message):
                self._write(session, data)

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are to every logged-in session (replay and bad-input tests)."""
        if self._silent:
            return
        for session in list(self._sessions):
            if session.logged_in:
                self._write(session, data)

    def _write(self, session: _Session, data: bytes) -> None:
        transport = session.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            log.warning("simulator.slow_client_dropped", peer=session.peer)
            session.writer.close()
            return
        session.writer.write(data)

    # -- one session ---------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername"))
        session = _Session(writer, peer)
        self._sessions.add(session)
        frames = FrameReader(reader)
        try:
            writer.write(f"{self.banner}\r\n".encode())
            while True:
                frame = await frames.read_frame()
                if frame is None:
                    break
                message = parse_frame(frame, time.time())
                if message is None or self._silent:
                    continue
                if not await self._handle(session, message):
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            self._sessions.discard(session)
            writer.close()

    async def _handle(self, session: _Session, request: Message) -> bool:
        """Handle one action and write its response; return False when the session must close."""
        name = (request.get("Action") or "").lower()
        action_id = request.action_id
        if name == "login":
            return await self._login(session, request, action_id)
        if not session.logged_in:
            self._respond(session, action_id, "Error", [("Message", "Authentication Required")])
            return True
        if name == "logoff":
            self._respond(session, action_id, "Goodbye", [("Message", "Thanks for all the fish.")])
            await self._drain(session)
            return False
        handler = _HANDLERS.get(name)
        if handler is None:
            text = (
                f"Invalid/unknown command: {request.get('Action') or ''}. "
                "Use Action: ListCommands to show available commands."
            )
            self._respond(session, action_id, "Error", [("Message", text)])
            return True
        await handler(self, session, request, action_id)
        return True

    async def _login(self, session: _Session, request: Message, action_id: str | None) -> bool:
        accepted = (
            request.get("Username") == self.username
            and request.get("Secret") == self.secret
            and time.monotonic() >= self._reject_logins_until
        )
        if not accepted:
            self._respond(session, action_id, "Error", [("Message", "Authentication failed")])
            await self._drain(session)
            log.info("simulator.login_rejected", peer=session.peer)
            return False
        self._respond(session, action_id, "Success", [("Message", "Authentication accepted")])
        session.logged_in = True
        self.logins += 1
        self._login_seen.set()
        uptime = str(int(time.monotonic() - self._booted_at))
        booted = Message(
            [
                ("Event", "FullyBooted"),
                ("Privilege", "system,all"),
                ("Uptime", uptime),
                ("LastReload", uptime),
                ("Status", "Fully Booted"),
            ]
        )
        self._write(session, booted.encode())
        return True

    def _respond(
        self, session: _Session, action_id: str | None, response: str, headers: Headers
    ) -> None:
        pairs: Headers = [("Response", response)]
        if action_id is not None:
            pairs.append(("ActionID", action_id))
        pairs.extend(headers)
        self._write(session, Message(pairs).encode())

    async def _drain(self, session: _Session) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(session.writer.drain(), 2.0)

    # -- actions -------------------------------------------------------------

    async def _ping(self, session: _Session, request: Message, action_id: str | None) -> None:
        self._respond(session, action_id, "Success", [("Ping", "Pong"), ("Timestamp", f"{self.clock.now():.6f}")])

    async def _core_show_channels(self, session: _Session, request: Message, action_id: str | None) -> None:
        channels = self.target.list_channels()
        self._respond(session, action_id, "Success", [("EventList", "start"), ("Message", "Channels will follow")])
        now = self.clock.now()
        for channel in channels:
            self._write(session, Message(channel.core_show_channel(action_id or "", now)).encode())
        complete: Headers = [("Event", "CoreShowChannelsComplete")]
        if action_id is not None:
            complete.append(("ActionID", action_id))
        complete += [("EventList", "Complete"), ("ListItems", str(len(channels)))]
        self._write(session, Message(complete).encode())

    async def _status(self, session: _Session, request: Message, action_id: str | None) -> None:
        wanted = request.get("Channel")
        channels = self.target.list_channels()
        if wanted:
            channels = [channel for channel in channels if channel.name == wanted]
            if not channels:
                self._respond(session, action_id, "Error", [("Message", "No such channel")])
                return
        self._respond(
            session, action_id, "Success", [("EventList", "start"), ("Message", "Channel status will follow")]
        )
        now = self.clock.now()
        for channel in channels:
            self._write(session, Message(channel.status_item(action_id or "", now)).encode())
        complete: Headers = [("Event", "StatusComplete")]
        if action_id is not None:
            complete.append(("ActionID", action_id))
        count = str(len(channels))
        complete += [("EventList", "Complete"), ("ListItems", count), ("Items", count)]
        self._write(session, Message(complete).encode())

    async def _hangup(self, session: _Session, request: Message, action_id: str | None) -> None:
        channel = request.get("Channel")
        if not channel:
            self._respond(session, action_id, "Error", [("Message", "No channel specified")])
            return
        try:
            cause = int(request.get("Cause") or "16")
        except ValueError:
            cause = 16
        if await self.target.hangup(channel, cause):
            self._respond(session, action_id, "Success", [("Message", "Channel Hungup")])
        else:
            self._respond(session, action_id, "Error", [("Message", "No such channel")])

    async def _redirect(self, session: _Session, request: Message, action_id: str | None) -> None:
        channel = request.get("Channel")
        context = request.get("Context") or ""
        exten = request.get("Exten") or ""
        if not channel:
            self._respond(session, action_id, "Error", [("Message", "Channel not specified")])
            return
        try:
            priority = int(request.get("Priority") or "1")
        except ValueError:
            self._respond(session, action_id, "Error", [("Message", "Invalid priority")])
            return
        if await self.target.redirect(channel, context, exten, priority):
            self._respond(session, action_id, "Success", [("Message", "Redirect successful")])
        else:
            self._respond(session, action_id, "Error", [("Message", "Channel not existent")])

    async def _setvar(self, session: _Session, request: Message, action_id: str | None) -> None:
        channel = request.get("Channel") or ""
        variable = request.get("Variable")
        if not variable:
            self._respond(session, action_id, "Error", [("Message", "No variable specified")])
            return
        if self.target.setvar(channel, variable, request.get("Value") or ""):
            self._respond(session, action_id, "Success", [("Message", "Variable Set")])
        else:
            self._respond(session, action_id, "Error", [("Message", "No such channel")])

    async def _events(self, session: _Session, request: Message, action_id: str | None) -> None:
        mask = (request.get("EventMask") or "on").strip().lower()
        if mask in ("off", "none", "0"):
            session.event_classes = set()
            self._respond(session, action_id, "Success", [("Events", "Off")])
            return
        if mask in ("on", "all", "1"):
            session.event_classes = None
        else:
            session.event_classes = {item.strip() for item in mask.split(",") if item.strip()}
        self._respond(session, action_id, "Success", [("Events", "On")])

    async def _command(self, session: _Session, request: Message, action_id: str | None) -> None:
        # The callmeter AMI user has no ``command`` write permission.
        self._respond(session, action_id, "Error", [("Message", "Permission denied")])


_HANDLERS = {
    "ping": AmiServer._ping,
    "coreshowchannels": AmiServer._core_show_channels,
    "status": AmiServer._status,
    "hangup": AmiServer._hangup,
    "redirect": AmiServer._redirect,
    "setvar": AmiServer._setvar,
    "events": AmiServer._events,
    "command": AmiServer._command,
}
