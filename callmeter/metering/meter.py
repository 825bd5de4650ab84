"""The meter: follows admitted calls over AMI, charges their blocks and cuts them at the grant.

One :class:`Meter` serves one PBX. The AMI client calls :meth:`Meter.on_event`
for every event in order, :meth:`Meter.on_connected` after each login and
:meth:`Meter.on_disconnected` when the link drops. Every change of a call
happens under one lock, and every database write runs in a worker thread,
so the event loop (and the FastAGI server sharing it) stays responsive.

Billing rules enforced here:

* Block 0 is charged at the answer, each later block when it has started
  (a timer on the injectable clock), at the rate of its start. The timer
  charges a block only once every event that arrived before the block
  started has been applied: ``charge_settle_seconds`` after the start, and
  only when the AMI client has no event waiting (or the meter has already
  applied an event from after the start). Otherwise a Hangup still in the
  queue could be outrun by the charge of a block that began after it.
* At hangup every block that started before the metered end is charged
  (catch-up), then the unused reservation is released.
* A call still up ``cutoff_slack_seconds`` past its grant is redirected to
  the credit-exhausted context, and hung up if the redirect fails. The block
  past the grant is never charged.
* While the AMI link is down nothing is charged: callmeter cannot see the
  hangups. After each (re)connect a resync with ``CoreShowChannels`` keeps
  the calls that are still up, charges what started meanwhile and closes
  the calls that vanished at the moment the link went down, flagged
  ``end_estimated``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Protocol

import structlog

from callmeter import clock, metrics
from callmeter.ami.message import Message
from callmeter.db import Database
from callmeter.errors import CallmeterError, InsufficientCredit
from callmeter.metering import store
from callmeter.metering.call import MeteredCall
from callmeter.metering.events import (
    METERED_EVENTS,
    cdr_billable_seconds,
    cdr_fingerprint,
    cdr_raw,
    cdr_uniqueid,
    epoch_datetime,
    event_datetime,
    event_name,
    has_timestamp,
    is_answered_dial,
    parse_duration,
    uniqueid_epoch,
)
from callmeter.settings import Settings
from callmeter.tariffs import Tariff

log = structlog.get_logger(__name__)

# How many ended calls and call legs stay in memory, so that late Cdrs find
# their call and replayed events of an ended call are ignored without a query.
RECENT_CALLS = 2_000
RECENT_LEGS = 20_000
# How long an unknown Uniqueid is not looked up again (monotonic seconds).
# Events of channels that are no admitted call (agent phones, other lines)
# would otherwise each cost a query.
UNKNOWN_TTL_SECONDS = 2.0
UNKNOWN_CACHE = 10_000
# Call events of a channel that is not known yet are kept for a while,
# because admission can commit the call a moment after its first events
# arrive (another process, or a slow database). Per channel the few
# state events of one call fit easily.
EARLY_EVENTS_PER_CHANNEL = 32
EARLY_CHANNELS = 1_000
# How long a timer waits for the AMI link before it checks its call again.
LINK_WAIT_SECONDS = 30.0
# A failed CoreShowChannels is tried this often, this many real seconds apart.
# Events wait meanwhile, so the tries stay few and short.
RESYNC_ATTEMPTS = 3
RESYNC_RETRY_SECONDS = 1.0
# Delay before a failed cutoff is tried again.
CUTOFF_RETRY_SECONDS = 1.0
# Real seconds a block timer waits before it looks again at an AMI event queue
# that was not drained. Short, because the charge is due already.
BACKLOG_RETRY_SECONDS = 0.02
BACKLOG_RETRY_MAX_SECONDS = 0.5


class PbxControl(Protocol):
    """The AMI actions metering needs; callmeter.ami.client.AmiClient provides them."""

    async def redirect(self, channel: str, context: str, exten: str, priority: int) -> Message: ...

    async def hangup(self, channel: str, cause: int | None = None) -> Message: ...

    async def core_show_channels(self) -> list[Message]: ...


# The charge horizon before the first event, while events wait: no block is safe yet.
_NOTHING_APPLIED = datetime.min.replace(tzinfo=UTC)


class EventSource(Protocol):
    """Where the meter's events come from; callmeter.ami.client.AmiClient provides it."""

    def drained(self) -> bool: ...


def _succeeded(response: Message) -> bool:
    return (response.response or "").lower() == "success"


class Meter:
    """Meters the admitted calls of one PBX."""

    # The AMI events that on_event acts on, in lower case, which the service gives the AMI client as its filter.
    handled_events: ClassVar[frozenset[str]] = METERED_EVENTS

    def __init__(
        self,
        db: Database,
        settings: Settings,
        pbx: PbxControl | None = None,
        event_source: EventSource | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.tariff = Tariff(settings)
        self.pbx = pbx
        # Without an event source every event is taken to be applied the moment it
        # is handed over, as when a test or a replay calls on_event directly.
        self.event_source = event_source
        self._settle = timedelta(seconds=settings.metering.charge_settle_seconds)
        self._calls: dict[str, MeteredCall] = {}
        self._by_linkedid: dict[str, str] = {}
        self._legs: OrderedDict[str, str] = OrderedDict()
        # Linkedid per recent channel (Uniqueid), from its Newchannel: a Cdr names only
        # its own channel, and a leg's Cdr may come before any call event of that leg.
        self._channel_links: OrderedDict[str, str] = OrderedDict()
        self._ended: OrderedDict[str, MeteredCall] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._early: OrderedDict[str, list[Message]] = OrderedDict()
        self._idle = asyncio.Event()
        self._idle.set()
        # TODO: this one lock for all calls is held across each database write, so the
        # meter commits one transaction at a time. On PostgreSQL, at a few ms per charge,
        # it falls behind at about 170 charges/s; per-call locks and batched charges would lift that.
        self._lock = asyncio.Lock()
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._link_up = asyncio.Event()
        self._blind_since: datetime | None = None
        # The latest event time seen, on the PBX's clock. It bounds when the
        # link went down even when the PBX clock runs ahead of ours (the
        # simulator runs faster than real time). Because events arrive in
        # order, every event before it has been applied or is being applied.
        self._last_event_at: datetime | None = None
        self._closing = False

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Reload the open calls after a (re)start; they are resynced at the first AMI login."""
        calls = await asyncio.to_thread(store.load_open_calls, self.db)
        for call in calls:
            self._track(call)
        metrics.ACTIVE_CALLS.set(len(self._calls))
        await self._count_reservations()
        if calls:
            log.info("metering.reloaded", open_calls=len(calls))

    async def close(self) -> None:
        """Stop the timers, after any database write in flight has finished."""
        self._closing = True
        async with self._lock:
            timers = list(self._timers.values())
            for task in timers:
                task.cancel()
        for task in timers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._timers.clear()

    @property
    def open_calls(self) -> dict[str, MeteredCall]:
        return dict(self._calls)

    async def wait_idle(self, timeout_seconds: float) -> None:
        """Wait until no call is open; raise TimeoutError after ``timeout_seconds``."""
        await asyncio.wait_for(self._idle.wait(), timeout_seconds)

    def _track(self, call: MeteredCall) -> None:
        self._calls[call.uniqueid] = call
        self._idle.clear()
        if call.linkedid:
            self._by_linkedid[call.linkedid] = call.uniqueid
        self._unknown.pop(call.uniqueid, None)

    async def on_admitted(self, call_id: int, uniqueid: str) -> None:
        """Start following a call that admission has just admitted."""
        if uniqueid in self._calls or uniqueid in self._ended:
            return
        call, _ = await asyncio.to_thread(store.load_call, self.db, uniqueid)
        if call is None or call.ended:
            return
        async with self._lock:
            if uniqueid not in self._calls:
                self._track(call)
                metrics.ACTIVE_CALLS.set(len(self._calls))
                await self._apply_early(call)
        await self._count_reservations()

    def _keep_early(self, uniqueid: str, message: Message) -> None:
        events = self._early.setdefault(uniqueid, [])
        self._early.move_to_end(uniqueid)
        if len(events) < EARLY_EVENTS_PER_CHANNEL:
            events.append(message)
        while len(self._early) > EARLY_CHANNELS:
            self._early.popitem(last=False)

    async def _apply_early(self, call: MeteredCall) -> None:
        """Apply the events that arrived before the call was known, in their order."""
        for message in self._early.pop(call.uniqueid, []):
            if call.ended:
                return
            await self._apply(call, event_name(message), message)

    # -- AMI link ------------------------------------------------------------

    async def on_disconnected(self, lost_at: float) -> None:
        """Note when the link went down; calls that vanish meanwhile end at this instant."""
        self._link_up.clear()
        if self._blind_since is None:
            lost = epoch_datetime(lost_at)
            self._blind_since = max(lost, self._last_event_at) if self._last_event_at is not None else lost
        log.warning("metering.blind", since=self._blind_since.isoformat(), open_calls=len(self._calls))

    async def on_connected(self) -> None:
        """Resync the open calls with CoreShowChannels after every login."""
        snapshot = await self._snapshot()
        if snapshot is not None:
            await self.resync(snapshot)
            self._blind_since = None
        # Without a snapshot the link-down instant is kept, so the resync after
        # the next login still closes vanished calls at the first outage.
        # TODO: a call that vanished stays open until that next login when every
        # resync attempt of this one failed.
        self._link_up.set()
        async with self._lock:
            for call in list(self._calls.values()):
                await self._catch_up(call)

    async def _snapshot(self) -> list[Message] | None:
        """Read CoreShowChannels, trying a few times; None when there is no PBX or every try failed."""
        if self.pbx is None:
            return None
        for attempt in range(1, RESYNC_ATTEMPTS + 1):
            try:
                return await self.pbx.core_show_channels()
            except (CallmeterError, OSError, TimeoutError) as error:
                log.error("metering.resync_failed", attempt=attempt, error=str(error))
            if attempt < RESYNC_ATTEMPTS:
                await asyncio.sleep(RESYNC_RETRY_SECONDS)
        return None

    async def resync(self, snapshot: list[Message]) -> None:
        """Reconcile the open calls with the live channels of a CoreShowChannels list."""
        now = self._pbx_now(snapshot)
        channels = {item.uniqueid: item for item in snapshot if item.uniqueid}
        bridges: dict[str, list[Message]] = {}
        for item in snapshot:
            bridge_id = item.get("BridgeId") or ""
            if bridge_id:
                bridges.setdefault(bridge_id, []).append(item)

        async with self._lock:
            vanished = 0
            for call in list(self._calls.values()):
                live = channels.get(call.uniqueid)
                if live is None:
                    vanished += 1
                    await self._finish(call, self._vanish_time(call), estimated=True)
                    continue
                await self._reconcile(call, live, bridges, now)
            log.info("metering.resynced", channels=len(channels), open_calls=len(self._calls), vanished=vanished)

    def _pbx_now(self, snapshot: list[Message]) -> datetime:
        """Estimate the PBX's current time from a CoreShowChannels list.

        Asterisk builds a Uniqueid from the epoch second in which the channel
        was created, and Duration is the channel's age, so their sum is the
        PBX's time (to the second). Event Timestamps use the same clock.
        """
        candidates = [clock.utc_now()]
        if self._last_event_at is not None:
            candidates.append(self._last_event_at)
        for item in snapshot:
            created = uniqueid_epoch(item.uniqueid)
            age = parse_duration(item.get("Duration"))
            if created is not None and age is not None:
                candidates.append(epoch_datetime(created) + age)
        return max(candidates)

    def _vanish_time(self, call: MeteredCall) -> datetime:
        """Return the best end for a call that vanished while callmeter was blind.

        That is the moment the link went down, or after a restart the last
        instant persisted for the call: its last event or its last block start.
        """
        known = [call.admitted_at]
        if self._blind_since is not None:
            known.append(self._blind_since)
        else:
            if call.last_event_at is not None:
                known.append(call.last_event_at)
            if call.answered_at is not None:
                known.append(call.answered_at)
                if call.charged_blocks:
                    known.append(call.charge_moment(self.tariff, max(call.charged_blocks)))
        return max(known)

    async def _reconcile(
        self, call: MeteredCall, item: Message, bridges: dict[str, list[Message]], now: datetime
    ) -> None:
        if item.get("Channel"):
            call.channel = item.get("Channel") or call.channel
        if item.get("Linkedid"):
            call.linkedid = item.get("Linkedid")
            self._by_linkedid[call.linkedid or ""] = call.uniqueid
        bridge_id = item.get("BridgeId") or ""
        blind_since = self._blind_since or self._vanish_time(call)

        if bridge_id and not call.answered:
            # Answered while blind. The agent leg in the same bridge was created
            # when it started ringing, so the answer came after that.
            earliest = max(blind_since, call.admitted_at)
            peers = [peer for peer in bridges.get(bridge_id, []) if peer.uniqueid != call.uniqueid]
            ages = [age for age in (parse_duration(peer.get("Duration")) for peer in peers) if age is not None]
            if ages:
                earliest = max(earliest, now - min(ages))
            call.answered_at = min(earliest, now)
            call.answer_estimated = True
            call.dial_answered = True
            call.in_bridge = True
            log.warning("call.answer_estimated", uniqueid=call.uniqueid, answered_at=call.answered_at.isoformat())
        elif bridge_id:
            call.in_bridge = True
            call.bridge_left_at = None
        elif call.in_bridge:
            call.in_bridge = False
            if call.answered:
                call.bridge_left_at = blind_since
        await asyncio.to_thread(store.save_progress, self.db, call)

    # -- events --------------------------------------------------------------

    async def on_event(self, message: Message) -> None:
        """Apply one AMI event."""
        name = event_name(message)
        # Only metered events count, also for _last_event_at, so the meter does
        # exactly the same whether or not the AMI client filtered the stream for it.
        if name not in METERED_EVENTS:
            return
        at = event_datetime(message)
        if self._last_event_at is None or at > self._last_event_at:
            self._last_event_at = at
        if name == "cdr":
            await self._on_cdr(message)
            return
        uniqueid = message.uniqueid
        if not uniqueid:
            return
        if name == "newchannel":
            self._note_channel(uniqueid, message.get("Linkedid"))
            return
        call = self._calls.get(uniqueid)
        if call is None:
            if uniqueid in self._ended:
                return
            linkedid = message.get("Linkedid")
            if linkedid and linkedid in self._by_linkedid and self._by_linkedid[linkedid] != uniqueid:
                self._remember_leg(uniqueid, self._by_linkedid[linkedid])
                return
            call = await self._lookup(uniqueid)
            if call is None:
                self._keep_early(uniqueid, message)
                return

        async with self._lock:
            if call.ended or self._calls.get(uniqueid) is not call:
                return
            await self._apply(call, name, message)
        lag = (clock.utc_now() - event_datetime(message)).total_seconds()
        metrics.EVENT_LAG.observe(max(0.0, lag))

    async def _lookup(self, uniqueid: str) -> MeteredCall | None:
        """Find a call admitted elsewhere (or before this process knew it) by its Uniqueid."""
        loop = asyncio.get_running_loop()
        checked = self._unknown.get(uniqueid)
        if checked is not None and loop.time() - checked < UNKNOWN_TTL_SECONDS:
            return None
        call, ended = await asyncio.to_thread(store.load_call, self.db, uniqueid)
        if call is None or ended:
            self._unknown[uniqueid] = loop.time()
            self._unknown.move_to_end(uniqueid)
            while len(self._unknown) > UNKNOWN_CACHE:
                self._unknown.popitem(last=False)
            return None
        async with self._lock:
            existing = self._calls.get(uniqueid)
            if existing is not None:
                return existing
            self._track(call)
            metrics.ACTIVE_CALLS.set(len(self._calls))
            await self._apply_early(call)
        return call

    def _note_channel(self, uniqueid: str, linkedid: str | None) -> None:
        if not linkedid:
            return
        self._channel_links[uniqueid] = linkedid
        self._channel_links.move_to_end(uniqueid)
        while len(self._channel_links) > RECENT_LEGS:
            self._channel_links.popitem(last=False)

    def _remember_leg(self, leg: str, inbound: str) -> None:
        self._legs[leg] = inbound
        self._legs.move_to_end(leg)
        while len(self._legs) > RECENT_LEGS:
            self._legs.popitem(last=False)

    async def _apply(self, call: MeteredCall, name: str, message: Message) -> None:
        at = event_datetime(message)
        if has_timestamp(message) and call.last_event_at is not None and at < call.last_event_at:
            log.info("metering.stale_event", uniqueid=call.uniqueid, ami_event=message.event, at=at.isoformat())
            return
        channel = message.get("Channel")
        if channel:
            call.channel = channel
        linkedid = message.get("Linkedid")
        if linkedid and call.linkedid != linkedid:
            call.linkedid = linkedid
            self._by_linkedid[linkedid] = call.uniqueid

        if name in ("dialend", "agentconnect"):
            if name == "agentconnect" or is_answered_dial(message):
                call.dial_answered = True
            return
        if name == "bridgeenter":
            await self._on_bridge_enter(call, at)
        elif name == "bridgeleave":
            await self._on_bridge_leave(call, at)
        elif name == "hangup":
            call.last_event_at = at
            await self._finish(call, at, estimated=False)

    async def _on_bridge_enter(self, call: MeteredCall, at: datetime) -> None:
        if call.in_bridge:
            return
        call.in_bridge = True
        call.last_event_at = at
        if call.answered_at is None:
            if not call.dial_answered:
                # Bridged to something that is not an answered dial: not metered.
                return
            call.answered_at = at
            log.info("call.answered", uniqueid=call.uniqueid, helpdesk_id=call.helpdesk_id, at=at.isoformat())
        else:
            call.bridge_left_at = None
        await asyncio.to_thread(store.save_progress, self.db, call)
        await self._catch_up(call)

    async def _on_bridge_leave(self, call: MeteredCall, at: datetime) -> None:
        if not call.in_bridge:
            return
        call.in_bridge = False
        call.last_event_at = at
        if call.answered_at is None:
            return
        call.bridge_left_at = at
        await asyncio.to_thread(store.save_progress, self.db, call)

    # -- charging ------------------------------------------------------------

    async def _catch_up(self, call: MeteredCall) -> None:
        """Charge the blocks that have started, cut the call when it is past its grant, and arm the timer."""
        if call.ended or call.answered_at is None:
            return
        await self._catch_up_locked(call)
        self._arm(call)

    async def _charge(self, call: MeteredCall, n: int) -> bool:
        """Charge block n; return False when the reservation cannot pay it."""
        try:
            charged = await asyncio.to_thread(store.charge_block, self.db, self.tariff, call, n)
        except InsufficientCredit as error:
            log.warning("metering.block_unpaid", uniqueid=call.uniqueid, block=n, error=str(error))
            return False
        if n not in call.charged_blocks:
            call.charged_blocks.add(n)
            call.charged_cents += charged.rate_cents
        if charged.created:
            metrics.BLOCKS_CHARGED.labels(call.plan).inc()
            metrics.CENTS_CHARGED.labels(call.plan).inc(charged.rate_cents)
            log.info(
                "call.block_charged",
                uniqueid=call.uniqueid,
                helpdesk_id=call.helpdesk_id,
                block=n,
                zone=charged.zone,
                amount_cents=charged.rate_cents,
            )
        return True

    async def _cut_if_over(self, call: MeteredCall, now: datetime) -> None:
        cutoff_at = call.cutoff_at(self.settings.metering.cutoff_slack_seconds)
        if call.cut_off or not call.in_bridge or cutoff_at is None or now < cutoff_at:
            return
        if not self._link_up.is_set() or self.pbx is None:
            return
        await self._cut_off(call)

    async def _cut_off(self, call: MeteredCall) -> None:
        """Send the caller to the credit-exhausted context; hang up if that fails."""
        assert self.pbx is not None
        settings = self.settings.metering
        done = False
        try:
            response = await self.pbx.redirect(
                call.channel,
                settings.credit_exhausted_context,
                settings.credit_exhausted_extension,
                settings.credit_exhausted_priority,
            )
            done = _succeeded(response)
            if not done:
                log.warning("call.redirect_failed", uniqueid=call.uniqueid, message=response.get("Message"))
        except (CallmeterError, OSError, TimeoutError) as error:
            log.warning("call.redirect_failed", uniqueid=call.uniqueid, error=str(error))
        if not done:
            try:
                done = _succeeded(await self.pbx.hangup(call.channel))
            except (CallmeterError, OSError, TimeoutError) as error:
                log.error("call.hangup_failed", uniqueid=call.uniqueid, error=str(error))
        if not done:
            return
        call.cut_off = True
        metrics.CUTOFFS.inc()
        log.warning(
            "call.cut_off", uniqueid=call.uniqueid, helpdesk_id=call.helpdesk_id, limit_ms=call.limit_ms
        )
        await asyncio.to_thread(store.save_progress, self.db, call)

    # -- timers --------------------------------------------------------------

    def _arm(self, call: MeteredCall) -> None:
        """Make sure a timer task watches an answered, open call."""
        if self._closing or call.ended or call.answered_at is None:
            return
        task = self._timers.get(call.uniqueid)
        if task is not None and not task.done():
            return
        task = asyncio.create_task(self._watch(call), name=f"meter-{call.uniqueid}")
        self._timers[call.uniqueid] = task
        task.add_done_callback(self._timer_done)

    def _timer_done(self, task: asyncio.Task[None]) -> None:
        for uniqueid, known in list(self._timers.items()):
            if known is task:
                del self._timers[uniqueid]
        if not task.cancelled() and task.exception() is not None:
            log.error("metering.timer_failed", task=task.get_name(), exc_info=task.exception())

    def _next_wake(self, call: MeteredCall) -> datetime | None:
        """Return when the timer of a call has work: the next block start or the cutoff."""
        moments: list[datetime] = []
        if call.in_bridge or call.bridge_left_at is None:
            n = call.next_block(self.tariff)
            if n is not None:
                moments.append(call.charge_moment(self.tariff, n) + self._settle)
        cutoff_at = call.cutoff_at(self.settings.metering.cutoff_slack_seconds)
        if cutoff_at is not None and call.in_bridge and not call.cut_off:
            moments.append(cutoff_at)
        return min(moments) if moments else None

    async def _watch(self, call: MeteredCall) -> None:
        """Charge each block the moment it starts and cut the call at its grant."""
        backoff = BACKLOG_RETRY_SECONDS
        while not call.ended:
            wake = self._next_wake(call)
            if wake is None:
                return
            delay = (wake - clock.utc_now()).total_seconds()
            if delay > 0:
                await clock.sleep(delay)
                continue
            if not self._link_up.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._link_up.wait(), LINK_WAIT_SECONDS)
                continue
            async with self._lock:
                if call.ended:
                    return
                charged_before = len(call.charged_blocks)
                deferred = await self._catch_up_locked(call)
                stuck = len(call.charged_blocks) == charged_before and self._next_wake(call) == wake
            if deferred:
                # Events are still waiting, and one of them may be this call's Hangup.
                # A backlog that lasts means the meter is overloaded, and every
                # open call's timer polling the lock would only deepen it, so
                # each timer backs off, up to half a second.
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKLOG_RETRY_MAX_SECONDS)
                continue
            backoff = BACKLOG_RETRY_SECONDS
            if stuck:
                await clock.sleep(CUTOFF_RETRY_SECONDS)

    def _charge_horizon(self, now: datetime) -> datetime:
        """Return the latest block start that may be charged now.

        A block may be charged once no Hangup from before its start can still
        be on its way. When the AMI client has handled everything it read, a
        Hangup sent before the start would have arrived within the settle
        delay. While events wait, only a block that started before an event
        the meter has already taken up is safe, because events arrive in order.
        """
        applied = self._last_event_at
        horizon = min(now, applied) if applied is not None else None
        if self.event_source is None or self.event_source.drained():
            settled = now - self._settle
            horizon = settled if horizon is None else max(horizon, settled)
        return horizon if horizon is not None else _NOTHING_APPLIED

    async def _catch_up_locked(self, call: MeteredCall) -> bool:
        """Charge the blocks that may be charged and cut the call when it is past its grant.

        Return True when a block whose settle delay has passed was deferred,
        because the AMI client still had events to deliver.
        """
        if not self._link_up.is_set():
            # Blind: the call may have ended unseen, so the resync decides.
            return False
        now = clock.utc_now()
        deferred = False
        if call.in_bridge or call.bridge_left_at is None:
            failed = False
            for n in call.blocks_due(self.tariff, self._charge_horizon(now)):
                if not await self._charge(call, n):
                    # The reservation cannot pay a block that has started, so
                    # the credit is used up: end the call rather than go below zero.
                    if not call.cut_off and self.pbx is not None:
                        await self._cut_off(call)
                    failed = True
                    break
            deferred = not failed and bool(call.blocks_due(self.tariff, now - self._settle))
        await self._cut_if_over(call, now)
        return deferred

    # -- ending --------------------------------------------------------------

    async def _finish(self, call: MeteredCall, hangup_at: datetime, estimated: bool) -> None:
        """Close a call: catch-up charges, totals on the call row, release of the reservation."""
        for n in call.blocks_for_end(self.tariff, hangup_at):
            if not await self._charge(call, n):
                break
        metered_ms = call.metered_ms(hangup_at)
        call.ended_at = hangup_at
        await asyncio.to_thread(store.close_call, self.db, call, hangup_at, metered_ms, estimated)

        task = self._timers.pop(call.uniqueid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._calls.pop(call.uniqueid, None)
        if not self._calls:
            self._idle.set()
        self._ended[call.uniqueid] = call
        while len(self._ended) > RECENT_CALLS:
            self._ended.popitem(last=False)
        metrics.ACTIVE_CALLS.set(len(self._calls))
        log.info(
            "call.ended",
            uniqueid=call.uniqueid,
            helpdesk_id=call.helpdesk_id,
            metered_ms=metered_ms,
            blocks=len(call.charged_blocks),
            amount_cents=call.charged_cents,
            end_estimated=estimated,
            cut_off=call.cut_off,
        )
        await self._count_reservations()

    async def _count_reservations(self) -> None:
        metrics.OPEN_RESERVATIONS.set(await asyncio.to_thread(store.count_open_reservations, self.db))

    # -- Cdr -----------------------------------------------------------------

    async def _on_cdr(self, message: Message) -> None:
        """Store a Cdr of a known call for the audit trail; it is never the basis of a charge."""
        uniqueid = cdr_uniqueid(message)
        if not uniqueid:
            return
        inbound: str | None = None
        if uniqueid in self._calls or uniqueid in self._ended:
            inbound = uniqueid
        elif uniqueid in self._legs:
            inbound = self._legs[uniqueid]
        elif self._channel_links.get(uniqueid) in self._by_linkedid:
            inbound = self._by_linkedid[self._channel_links[uniqueid]]
        else:
            call = await self._lookup(uniqueid)
            if call is not None:
                inbound = call.uniqueid
        if inbound is None:
            return
        stored = await asyncio.to_thread(
            store.store_cdr,
            self.db,
            uniqueid,
            inbound,
            cdr_fingerprint(message),
            cdr_billable_seconds(message),
            message.get("Disposition"),
            cdr_raw(message),
            event_datetime(message),
        )
        if not stored:
            log.info("metering.duplicate_cdr", uniqueid=uniqueid)
