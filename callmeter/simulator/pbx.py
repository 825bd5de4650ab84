"""The simulated PBX: live channels, event emission and the AMI actions on them."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

import structlog

from callmeter.ami.message import Message
from callmeter.simulator.admit import Admitter
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.channels import Headers, SimBridge, SimChannel
from callmeter.simulator.clock import VirtualClock

log = structlog.get_logger(__name__)

ChannelStyle = Literal["local", "pjsip"]

# The virtual time of the call that the current task plays. Each call keeps
# its own timeline that advances by exactly the waits it makes, so event
# Timestamps carry no scheduling jitter, however fast the clock runs.
_timeline: ContextVar[float | None] = ContextVar("simulator_timeline", default=None)


@dataclass(frozen=True)
class Interrupt:
    """An AMI action on a call's channel: a Hangup or a Redirect."""

    kind: Literal["hangup", "redirect"]
    channel: str
    cause: int = 16
    context: str = ""
    exten: str = ""
    priority: int = 1


class CallHandle:
    """The mailbox of a running call for AMI interrupts (Hangup, Redirect)."""

    def __init__(self) -> None:
        self.interrupt: asyncio.Future[Interrupt] = asyncio.get_running_loop().create_future()

    def deliver(self, interrupt: Interrupt) -> bool:
        if self.interrupt.done():
            return False
        self.interrupt.set_result(interrupt)
        return True

    def rearm(self) -> None:
        """Accept the next interrupt (after a Redirect was handled)."""
        self.interrupt = asyncio.get_running_loop().create_future()


class SimulatedPbx:
    """Channels and bridges of the simulated Asterisk, and the events they emit.

    It is the ActionTarget of the AMI server: Hangup and Redirect reach the
    call that owns the channel, and CoreShowChannels and Status list the
    live channels.
    """

    def __init__(
        self,
        server: AmiServer,
        admitter: Admitter,
        *,
        channel_style: ChannelStyle = "local",
        event_sink: Callable[[Message], None] | None = None,
    ) -> None:
        self.server = server
        self.admitter = admitter
        self.channel_style = channel_style
        self.channels: dict[str, SimChannel] = {}
        self._owners: dict[str, CallHandle] = {}
        self._event_sink = event_sink
        self._uniqueids = itertools.count(1)
        self._channel_numbers = itertools.count(0x29)
        server.target = self

    # -- time ------------------------------------------------------------------

    @property
    def clock(self) -> VirtualClock:
        """Return the AMI server's clock, so both always read the same virtual time."""
        return self.server.clock

    def now(self) -> float:
        """Return the current call's virtual time, or the clock's outside a call."""
        current = _timeline.get()
        return self.clock.now() if current is None else current

    def start_timeline(self) -> None:
        """Start the current task's call timeline at the clock's time."""
        _timeline.set(self.clock.now())

    # -- identities ----------------------------------------------------------

    def new_uniqueid(self) -> str:
        """Return a uniqueid shaped like Asterisk's ``<epoch>.<sequence>``."""
        return f"{int(self.now())}.{next(self._uniqueids)}"

    def new_channel_number(self) -> int:
        return next(self._channel_numbers)

    @staticmethod
    def new_bridge() -> SimBridge:
        return SimBridge(str(uuid.uuid4()))

    def add_channel(self, channel: SimChannel, owner: CallHandle) -> SimChannel:
        self.channels[channel.name] = channel
        self._owners[channel.name] = owner
        return channel

    def remove_channel(self, channel: SimChannel) -> None:
        self.channels.pop(channel.name, None)
        self._owners.pop(channel.name, None)

    # -- events --------------------------------------------------------------

    async def emit(
        self, event: str, headers: Iterable[tuple[str, str]] = (), privilege: str = "call,all"
    ) -> Message:
        message = await self.server.broadcast([("Event", event), ("Privilege", privilege), *headers], at=self.now())
        if self._event_sink is not None:
            self._event_sink(message)
        return message

    async def channel_event(self, event: str, channel: SimChannel, *extra: tuple[str, str]) -> Message:
        return await self.emit(event, [*channel.snapshot(), *extra])

    async def device_state(self, channel: SimChannel, state: str) -> Message:
        return await self.emit("DeviceStateChange", [("Device", channel.device), ("State", state)])

    async def bridge_event(self, event: str, bridge: SimBridge, channel: SimChannel | None = None) -> Message:
        headers: Headers = bridge.snapshot()
        if channel is not None:
            headers += channel.snapshot()
        return await self.emit(event, headers)

    async def cdr(self, channel: SimChannel, destination_channel: str = "", disposition: str | None = None) -> Message:
        return await self.emit("Cdr", channel.cdr(self.now(), destination_channel, disposition), "cdr,all")

    # -- ActionTarget ----------------------------------------------------------

    def list_channels(self) -> list[SimChannel]:
        return list(self.channels.values())

    async def hangup(self, channel: str, cause: int) -> bool:
        owner = self._owners.get(channel)
        if owner is None:
            return False
        owner.deliver(Interrupt("hangup", channel, cause=cause))
        return True

    async def redirect(self, channel: str, context: str, exten: str, priority: int) -> bool:
        owner = self._owners.get(channel)
        if owner is None:
            return False
        owner.deliver(Interrupt("redirect", channel, context=context, exten=exten, priority=priority))
        return True

    def setvar(self, channel: str, variable: str, value: str) -> bool:
        found = self.channels.get(channel)
        if found is None:
            return False
        found.variables[variable] = value
        return True

    # -- waiting ---------------------------------------------------------------

    async def wait(self, seconds: float, owner: CallHandle) -> Interrupt | None:
        """Wait ``seconds`` of virtual time; return early with an AMI interrupt.

        The call's timeline advances by exactly ``seconds``, or to the clock's
        time when an interrupt ends the wait early.
        """
        started = self.now()
        if not owner.interrupt.done():
            await asyncio.wait({owner.interrupt}, timeout=self.clock.real_seconds(seconds))
        if owner.interrupt.done():
            _timeline.set(min(max(started, self.clock.now()), started + seconds))
            return owner.interrupt.result()
        _timeline.set(started + seconds)
        return None

