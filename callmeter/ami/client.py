"""callmeter's asyncio AMI client: one link to Asterisk, kept up for good.

How it works:

- One connection task per link connects, reads the banner (any version),
  logs in and then runs the reader and the pinger. It ends when the link is
  lost: EOF, no Pong within ``ping_timeout_seconds``, or a ``Shutdown``
  event. :meth:`AmiClient.run` then reconnects with capped, jittered
  exponential backoff. A failed login waits the maximum backoff.
- The reader hands responses to the waiting action by ``ActionID`` and
  collects the items of list actions (``EventList: start`` up to the
  ``...Complete`` event). Items of a list are not delivered as events.
  Every other event goes into one bounded queue, and when that queue is
  full the reader waits (backpressure: the socket stops being read).
- Given the names of the events its handler acts on, the client skips every
  other event as it reads it, from the name in the raw frame, before
  decoding or parsing it. Responses, list items and ``Shutdown`` are never
  skipped. Skipping is what makes a busy link cheap: with ``read = all``
  most events are VarSet, CEL, Newexten and the like.
- One consumer task, alive across reconnects, calls ``on_event`` in order.
  It also calls ``on_connected`` after each login, before any event of the
  new link, and ``on_disconnected`` after the last event of the lost link.
  A handler that raises is logged with its traceback, and the stream goes on.
  :meth:`AmiClient.drained` tells whether every event read so far has been
  handled, so the meter can hold a block charge while events still wait.
- ``on_disconnected`` gets the epoch time the link was lost: the time of
  the last frame read when the loss showed as a missing Pong, else the time
  the loss was noticed. :meth:`AmiClient.close` does not call it.
- While the reader waits for queue space, the pinger skips its Pings,
  because no Pong could be read and the link is not dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from callmeter.ami.errors import AmiActionFailed, AmiTimeout, AmiUnavailable
from callmeter.ami.framing import READ_CHUNK_BYTES, FrameReader, parse_frame
from callmeter.ami.message import Message
from callmeter.ami.stream import ChunkReader, open_chunked_connection
from callmeter.metrics import AMI_CONNECTED, AMI_EVENTS_SKIPPED, AMI_FRAMES_READ, AMI_RECONNECTS
from callmeter.settings import AmiSettings
from callmeter.status import LinkState, ServiceStatus

log = structlog.get_logger(__name__)

EventHandler = Callable[[Message], Awaitable[None]]
ConnectedHandler = Callable[[], Awaitable[None]]
DisconnectedHandler = Callable[[float], Awaitable[None]]

# Events waiting for the handler. A call produces about 50 events, so this
# buffers the traffic of many concurrent calls. When it is full, reading pauses.
EVENT_QUEUE_SIZE = 10_000
# Least real seconds between two backpressure warnings.
BACKPRESSURE_LOG_SECONDS = 10.0
# Received bytes buffered before the socket stops being read: two full reads.
STREAM_BUFFER_BYTES = 2 * READ_CHUNK_BYTES
# Events the client itself needs, so they pass any filter: Shutdown ends the link.
CLIENT_EVENTS = frozenset({"shutdown"})
# Asterisk writes the Event header first, as the recordings show. A frame that
# starts otherwise is judged after parsing.
EVENT_PREFIX = b"Event: "
# Distinct first lines remembered by the filter: far more than the event names in use.
FIRST_LINES_LIMIT = 4096


class _LinkLost(Exception):
    """The current connection is unusable; reconnect."""


class _LoginRejected(Exception):
    """Asterisk rejected the Login."""


@dataclass(frozen=True, slots=True)
class _Connected:
    """Queue marker: a login succeeded."""


@dataclass(frozen=True, slots=True)
class _Disconnected:
    """Queue marker: the link was lost at ``lost_at`` (epoch seconds)."""

    lost_at: float


@dataclass(frozen=True, slots=True)
class _Stop:
    """Queue marker: the client is closing."""


_QueueItem = Message | _Connected | _Disconnected | _Stop


class _FirstLines(dict[bytes, bool]):
    """Cache of whether a frame passes the event filter, keyed by its first line as raw bytes up to the CR.

    Each distinct line is judged once, so the usual frame costs one dict
    lookup and no decoding. A frame whose first line is no ``Event: `` line passes.
    """

    def __init__(self, names: frozenset[str]) -> None:
        super().__init__()
        self._names = names

    def __missing__(self, line: bytes) -> bool:
        passes = True
        if line.startswith(EVENT_PREFIX) and line.endswith(b"\r"):
            name = line[len(EVENT_PREFIX) : -1].decode("utf-8", "replace").lower()
            passes = name in self._names
        if len(self) >= FIRST_LINES_LIMIT:
            # Odd first lines from a broken peer must not grow the cache without bound.
            self.clear()
        self[line] = passes
        return passes


@dataclass(slots=True)
class _PendingList:
    """The items collected so far for a list action."""

    started: bool = False
    items: list[Message] = field(default_factory=list)
    done: asyncio.Future[list[Message]] | None = None


@dataclass(slots=True)
class _Link:
    """One open connection."""

    reader: FrameReader
    writer: asyncio.StreamWriter
    chunks: ChunkReader
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    login_action_id: str | None = None
    logged_in: bool = False
    last_frame_at: float = 0.0  # epoch time of the last frame read
    lost_at: float | None = None  # set when the loss was noticed after the fact (no Pong)


class AmiClient:
    """A self-healing AMI client that delivers events in order to one handler."""

    def __init__(
        self,
        settings: AmiSettings,
        on_event: EventHandler,
        on_connected: ConnectedHandler | None = None,
        on_disconnected: DisconnectedHandler | None = None,
        status: ServiceStatus | None = None,
        clock: Callable[[], float] = time.time,
        *,
        queue_size: int = EVENT_QUEUE_SIZE,
        events: Collection[str] | None = None,
    ) -> None:
        """``events``: the event names (any case) to hand to ``on_event``; None hands it every event."""
        self._settings = settings
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._status = status
        self._clock = clock

        self._queue: asyncio.Queue[_QueueItem] = asyncio.Queue(maxsize=queue_size)
        self._responses: dict[str, asyncio.Future[Message]] = {}
        self._lists: dict[str, _PendingList] = {}
        self._id_prefix = uuid.uuid4().hex[:8]
        self._ids = itertools.count(1)
        self._link: _Link | None = None
        self._connected = asyncio.Event()
        self._closing = asyncio.Event()
        self._reader_waiting = False
        self._delivering = False
        self._backpressure_logged_at = -BACKPRESSURE_LOG_SECONDS
        self._backpressure_waits = 0
        self.attempts = 0  # reconnection attempts since the last successful login
        self._filter = None if events is None else frozenset(name.lower() for name in events) | CLIENT_EVENTS
        self._passes = _FirstLines(self._filter or frozenset())
        self._frames_read = 0
        self._events_skipped = 0

    # -- lifecycle -----------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def event_filter(self) -> frozenset[str] | None:
        """The lower-case event names handed to ``on_event``, or None when every event is."""
        return self._filter

    @property
    def frames_read(self) -> int:
        """Whole frames read on every link so far, skipped ones included."""
        return self._frames_read

    @property
    def events_skipped(self) -> int:
        """Events skipped so far because they are not in the event filter."""
        return self._events_skipped

    @property
    def queued(self) -> int:
        """Count the events and markers read but not yet handed to the handlers."""
        return self._queue.qsize()

    def drained(self) -> bool:
        """Tell whether every event that has reached this host has been handled.

        The queue must be empty with no handler running, and the link must
        hold no unread bytes, in its buffers or in the socket's receive buffer.
        """
        if self._delivering or not self._queue.empty():
            return False
        link = self._link
        return link is None or not (link.reader.has_buffered() or link.chunks.has_unread())

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 (fixed interface)
        """Wait until logged in; raise AmiUnavailable after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise AmiUnavailable("error.ami_unavailable", reason="not logged in") from None

    async def run(self) -> None:
        """Connect, log in, read and reconnect until :meth:`close`."""
        async with asyncio.TaskGroup() as group:
            consumer = group.create_task(self._consume(), name="ami-consumer")
            try:
                await self._keep_connected()
            except asyncio.CancelledError:
                consumer.cancel()
                raise
            await self._stop_consumer(consumer)

    async def close(self) -> None:
        """Log off if connected, then stop reading and close the socket."""
        if self._closing.is_set():
            return
        self._closing.set()
        link = self._link
        if link is not None and link.logged_in:
            with contextlib.suppress(Exception):
                await self.logoff()
        if link is not None:
            link.writer.close()

    async def _keep_connected(self) -> None:
        while not self._closing.is_set():
            delay_seconds: float | None = None
            reason = "link lost"
            try:
                await self._connect_and_serve()
            except _LoginRejected:
                delay_seconds = self._settings.reconnect_max_seconds
                reason = "login failed"
            except (OSError, TimeoutError, EOFError, _LinkLost) as error:
                reason = str(error) or type(error).__name__
                self._set_status("down", error=reason)
            if self._closing.is_set():
                break
            self.attempts += 1
            if delay_seconds is None:
                delay_seconds = self._backoff_seconds(self.attempts)
            AMI_RECONNECTS.inc()
            log.warning(
                "ami.reconnecting",
                attempt=self.attempts,
                delay_seconds=round(delay_seconds, 3),
                reason=reason,
                host=self._settings.host,
                port=self._settings.port,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay_seconds)
        self._set_status("down", error=None)

    def _backoff_seconds(self, attempt: int) -> float:
        """Return the wait before reconnection ``attempt`` (1, 2, …): capped exponential, jittered to 50-100 %."""
        low = self._settings.reconnect_min_seconds
        high = self._settings.reconnect_max_seconds
        ceiling = min(high, low * 2 ** min(attempt - 1, 30))
        return random.uniform(ceiling / 2, ceiling)

    # -- one connection ------------------------------------------------------

    async def _connect_and_serve(self) -> None:
        settings = self._settings
        self._set_status("connecting", error=None)
        context = self._tls_context()
        reader, writer = await asyncio.wait_for(
            open_chunked_connection(settings.host, settings.port, limit=STREAM_BUFFER_BYTES, ssl_context=context),
            settings.action_timeout_seconds,
        )
        link = _Link(FrameReader(reader), writer, reader, last_frame_at=self._clock())
        self._link = link
        reader_task: asyncio.Task[None] | None = None
        pinger_task: asyncio.Task[None] | None = None
        try:
            banner = await asyncio.wait_for(link.reader.read_line(), settings.action_timeout_seconds)
            if banner is None:
                raise _LinkLost("closed before the banner")
            log.info("ami.banner", banner=banner.decode("utf-8", "replace"), host=settings.host)
            reader_task = asyncio.create_task(self._read_loop(link), name="ami-reader")
            await self._login(link)
            pinger_task = asyncio.create_task(self._ping_loop(link), name="ami-pinger")
            done, _ = await asyncio.wait({reader_task, pinger_task}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        except (AmiUnavailable, AmiTimeout, asyncio.IncompleteReadError) as error:
            raise _LinkLost(str(error)) from None
        finally:
            tasks = [task for task in (reader_task, pinger_task) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._drop_link(link)

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self._settings.tls:
            return None
        return ssl.create_default_context(cafile=self._settings.tls_ca_file)

    async def _login(self, link: _Link) -> None:
        settings = self._settings
        action_id = self._next_action_id()
        link.login_action_id = action_id
        waiter = self._expect_response(action_id)
        login = Message.of(
            [
                ("Action", "Login"),
                ("ActionID", action_id),
                ("Username", settings.username),
                ("Secret", settings.secret),
            ]
        )
        await self._send(link, login)
        response = await self._await_response(waiter, action_id, "Login")
        if (response.response or "").lower() != "success":
            reason = response.get("Message", "no message")
            self._set_status("down", error=f"login failed: {reason}")
            log.error(
                "ami.login_failed",
                username=settings.username,
                host=settings.host,
                port=settings.port,
                reason=reason,
                retry_in_seconds=settings.reconnect_max_seconds,
            )
            raise _LoginRejected()

    async def _drop_link(self, link: _Link) -> None:
        was_logged_in = link.logged_in
        link.logged_in = False
        self._link = None
        link.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(link.writer.wait_closed(), 1.0)
        self._fail_pending("link lost")
        if was_logged_in:
            lost_at = link.lost_at if link.lost_at is not None else self._clock()
            self._connected.clear()
            AMI_CONNECTED.set(0)
            if self._closing.is_set():
                # A deliberate close is no lost link, so on_disconnected is not called.
                log.info("ami.closed", host=self._settings.host, port=self._settings.port)
            else:
                log.warning("ami.disconnected", host=self._settings.host, port=self._settings.port)
                await self._enqueue(_Disconnected(lost_at))

    # -- reading -------------------------------------------------------------

    async def _read_loop(self, link: _Link) -> None:
        reader = link.reader
        try:
            while True:
                frames = await reader.read_frames()
                if frames is None:
                    raise _LinkLost("connection closed by Asterisk")
                # Every frame of one read arrived at the same moment.
                received_at = link.last_frame_at = self._clock()
                self._frames_read += len(frames)
                AMI_FRAMES_READ.inc(len(frames))
                # Items of a pending list are events too, so nothing is skipped while one
                # is open. A list action sent during this loop cannot have items in
                # frames that were read before it was sent.
                if self._filter is not None and not self._lists:
                    frames = self._filter_frames(frames)
                for frame in frames:
                    message = parse_frame(frame, received_at)
                    if message is not None:
                        await self._dispatch(link, message)
        finally:
            # Fail every waiting action now, because no response will come.
            self._fail_pending("link lost")

    def _filter_frames(self, frames: list[bytes]) -> list[bytes]:
        """Drop the events outside the filter, judged by the first line of each frame."""
        passes = self._passes
        # The key runs up to and including the CR of the first line's CRLF, so it
        # is b"" for a one-line frame: that frame passes and _dispatch judges it.
        kept = [frame for frame in frames if passes[frame[: frame.find(b"\r\n") + 1]]]
        skipped = len(frames) - len(kept)
        if skipped:
            self._events_skipped += skipped
            AMI_EVENTS_SKIPPED.inc(skipped)
        return kept

    def _fail_pending(self, reason: str) -> None:
        for waiter in self._responses.values():
            if not waiter.done():
                waiter.set_exception(AmiUnavailable("error.ami_unavailable", reason=reason))
        self._responses.clear()
        for pending in self._lists.values():
            if pending.done is not None and not pending.done.done():
                pending.done.set_exception(AmiUnavailable("error.ami_unavailable", reason=reason))
        self._lists.clear()

    async def _dispatch(self, link: _Link, message: Message) -> None:
        event = message.event
        if event is None:
            action_id = message.action_id
            if message.response is not None and action_id is not None:
                await self._resolve_response(link, action_id, message)
            elif action_id is not None and action_id in self._lists:
                self._collect_list_item(action_id, message)
            else:
                log.warning("ami.unmatched_response", action_id=action_id, response=message.response)
            return
        # Only list items carry an ActionID among events, so plain events skip the lookup.
        if self._lists:
            action_id = message.action_id
            if action_id is not None and action_id in self._lists:
                self._collect_list_item(action_id, message)
                return
        # Events that the raw check let through: read while a list was open, or
        # not starting with the usual ``Event: `` line.
        if self._filter is not None and event.lower() not in self._filter:
            self._events_skipped += 1
            AMI_EVENTS_SKIPPED.inc()
            return
        await self._enqueue(message)
        if event.lower() == "shutdown":
            raise _LinkLost(f"Asterisk shut down ({message.get('Shutdown', 'unknown')})")

    async def _resolve_response(self, link: _Link, action_id: str, message: Message) -> None:
        waiter = self._responses.pop(action_id, None)
        if waiter is None:
            log.warning("ami.unmatched_response", action_id=action_id, response=message.response)
            return
        if not waiter.done():
            waiter.set_result(message)
        if action_id == link.login_action_id and (message.response or "").lower() == "success":
            await self._mark_logged_in(link)

    def _collect_list_item(self, action_id: str, message: Message) -> None:
        pending = self._lists[action_id]
        pending.items.append(message)
        if (message.get("EventList") or "").lower() == "complete":
            pending.items.pop()
            del self._lists[action_id]
            if pending.done is not None and not pending.done.done():
                pending.done.set_result(pending.items)

    async def _mark_logged_in(self, link: _Link) -> None:
        # Runs in the reader, before the next frame is read, so the marker
        # sits in the queue ahead of every event of this link.
        link.logged_in = True
        self.attempts = 0
        self._connected.set()
        AMI_CONNECTED.set(1)
        self._set_status("connected", error=None)
        log.info("ami.connected", host=self._settings.host, port=self._settings.port)
        await self._enqueue(_Connected())

    async def _enqueue(self, item: _QueueItem) -> None:
        if not self._queue.full():
            self._queue.put_nowait(item)
            return
        self._reader_waiting = True
        # Under steady backpressure the queue is full at nearly every frame,
        # so the warning is logged at most every BACKPRESSURE_LOG_SECONDS.
        self._backpressure_waits += 1
        now = time.monotonic()
        if now - self._backpressure_logged_at >= BACKPRESSURE_LOG_SECONDS:
            log.warning("ami.backpressure", queued=self._queue.qsize(), waits=self._backpressure_waits)
            self._backpressure_logged_at = now
            self._backpressure_waits = 0
        try:
            await self._queue.put(item)
        finally:
            self._reader_waiting = False

    # -- keepalive -----------------------------------------------------------

    async def _ping_loop(self, link: _Link) -> None:
        settings = self._settings
        while True:
            await asyncio.sleep(settings.ping_interval_seconds)
            if self._reader_waiting:
                # The reader is paused by a slow handler, so a Pong could not
                # be read; the link is not dead, just not being read.
                continue
            action_id = self._next_action_id()
            waiter = self._expect_response(action_id)
            await self._send(link, Message.of([("Action", "Ping"), ("ActionID", action_id)]))
            try:
                await asyncio.wait_for(asyncio.shield(waiter), settings.ping_timeout_seconds)
            except TimeoutError:
                self._responses.pop(action_id, None)
                if self._reader_waiting:
                    continue
                log.warning("ami.ping_timeout", timeout_seconds=settings.ping_timeout_seconds)
                # The link died unnoticed at some point after the last frame read.
                link.lost_at = link.last_frame_at
                raise _LinkLost("no Pong") from None

    # -- consumer ------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Stop):
                return
            self._delivering = True
            try:
                await self._deliver(item)
            finally:
                self._delivering = False

    async def _deliver(self, item: _QueueItem) -> None:
        try:
            if isinstance(item, Message):
                await self._on_event(item)
            elif isinstance(item, _Connected):
                if self._on_connected is not None:
                    await self._on_connected()
            elif isinstance(item, _Disconnected) and self._on_disconnected is not None:
                await self._on_disconnected(item.lost_at)
        except asyncio.CancelledError:
            raise
        except Exception:
            name = item.event if isinstance(item, Message) else type(item).__name__.strip("_")
            log.exception("ami.handler_failed", ami_event=name)

    async def _stop_consumer(self, consumer: asyncio.Task[None]) -> None:
        try:
            await asyncio.wait_for(self._queue.put(_Stop()), 1.0)
            await asyncio.wait_for(asyncio.shield(consumer), 5.0)
        except TimeoutError:
            consumer.cancel()

    # -- actions -------------------------------------------------------------

    def _next_action_id(self) -> str:
        return f"callmeter-{self._id_prefix}-{next(self._ids)}"

    def _expect_response(self, action_id: str) -> asyncio.Future[Message]:
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(_retrieve_exception)
        self._responses[action_id] = waiter
        return waiter

    async def _send(self, link: _Link, message: Message) -> None:
        async with link.write_lock:
            link.writer.write(message.encode())
            await asyncio.wait_for(link.writer.drain(), self._settings.action_timeout_seconds)

    async def _await_response(self, waiter: asyncio.Future[Message], action_id: str, name: str) -> Message:
        timeout = self._settings.action_timeout_seconds
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self._responses.pop(action_id, None)
            raise AmiTimeout("error.ami_timeout", action=name, seconds=timeout) from None

    def _ready_link(self) -> _Link:
        link = self._link
        if link is None or not link.logged_in:
            raise AmiUnavailable("error.ami_unavailable", reason="not logged in")
        return link

    async def action(self, name: str, **headers: str) -> Message:
        """Send one action and return its response (Success or Error)."""
        link = self._ready_link()
        action_id = self._next_action_id()
        waiter = self._expect_response(action_id)
        message = Message.of([("Action", name), ("ActionID", action_id), *headers.items()])
        await self._send(link, message)
        return await self._await_response(waiter, action_id, name)

    async def list_action(self, name: str, **headers: str) -> list[Message]:
        """Send a list action and return the item events, without the Complete event.

        Raises AmiActionFailed when Asterisk responds with ``Response: Error``.
        """
        link = self._ready_link()
        action_id = self._next_action_id()
        waiter = self._expect_response(action_id)
        done: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve_exception)
        self._lists[action_id] = _PendingList(done=done)
        message = Message.of([("Action", name), ("ActionID", action_id), *headers.items()])
        timeout = self._settings.action_timeout_seconds
        try:
            await self._send(link, message)
            async with asyncio.timeout(timeout):
                response = await waiter
                if (response.response or "").lower() != "success":
                    raise AmiActionFailed(
                        "error.ami_action_failed", action=name, message=response.get("Message", "")
                    )
                if (response.get("EventList") or "").lower() != "start":
                    return []
                return await done
        except TimeoutError:
            raise AmiTimeout("error.ami_timeout", action=name, seconds=timeout) from None
        finally:
            self._responses.pop(action_id, None)
            self._lists.pop(action_id, None)

    async def hangup(self, channel: str, cause: int | None = None) -> Message:
        """Hang up a channel; ``cause`` is a Q.850 cause code (16 is normal clearing)."""
        headers = {"Channel": channel}
        if cause is not None:
            headers["Cause"] = str(cause)
        return await self.action("Hangup", **headers)

    async def redirect(self, channel: str, context: str, exten: str, priority: int) -> Message:
        """Send a channel to a dialplan location, taking it out of its bridge."""
        return await self.action("Redirect", Channel=channel, Context=context, Exten=exten, Priority=str(priority))

    async def setvar(self, channel: str, variable: str, value: str) -> Message:
        return await self.action("Setvar", Channel=channel, Variable=variable, Value=value)

    async def core_show_channels(self) -> list[Message]:
        """Return one ``CoreShowChannel`` event per live channel."""
        return await self.list_action("CoreShowChannels")

    async def status(self, channel: str | None = None) -> list[Message]:
        """Return one ``Status`` event per live channel, or for one channel."""
        if channel is None:
            return await self.list_action("Status")
        return await self.list_action("Status", Channel=channel)

    async def ping(self) -> Message:
        return await self.action("Ping")

    async def logoff(self) -> Message:
        return await self.action("Logoff")

    # -- status --------------------------------------------------------------

    def _set_status(self, state: LinkState, error: str | None) -> None:
        status = self._status
        if status is None:
            return
        if status.ami != state:
            status.ami = state
            status.ami_since = datetime.fromtimestamp(self._clock(), UTC)
        if error is not None or state == "connected":
            status.ami_last_error = error


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    """Mark a failed future's exception as seen, because a waiter may have given up already."""
    if not future.cancelled():
        future.exception()
