"""One simulated call on the helpdesk line, from the trunk to the last Cdr.

The event order follows the recordings of a real Asterisk (upstream
master) running the helpdesk dialplan. The line is answered and admission
runs over FastAGI. A refused caller hears a prompt and is hung up. An
admitted caller is put through with ``Dial()`` (with ``L(limit)``) or
``Queue()`` (without a limit). CEL events, ``QueueMemberStatus`` and the
Originate artefacts of the recording set-up are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import structlog

from callmeter.simulator.admit import Admission, AdmissionRequest
from callmeter.simulator.channels import (
    CAUSE_NORMAL_CLEARING,
    CAUSE_NOT_DEFINED,
    CAUSE_TEXTS,
    STATE_DOWN,
    STATE_RING,
    STATE_UP,
    SimBridge,
    SimChannel,
    calling_pres_text,
)
from callmeter.simulator.pbx import CallHandle, Interrupt, SimulatedPbx

log = structlog.get_logger(__name__)

HELPDESK_LINE = "0387370296"
TRUNK_CONTEXT = "from-trunk-038"
QUEUE_NAME = "helpdesk"

Route = Literal["dial", "queue"]
Party = Literal["caller", "agent"]
EndReason = Literal["agent", "caller", "limit", "no_answer", "refused", "ami_hangup", "redirected"]

# Seconds of the dialplan before AGI() (NoOp, Set, Answer), of a refusal
# prompt, and of the credit-exhausted prompt after a Redirect.
AGI_DELAY_SECONDS = 0.5
REFUSAL_PROMPT_SECONDS = 1.0
REDIRECT_PROMPT_SECONDS = 3.0


@dataclass(frozen=True)
class CallSpec:
    """One call of a scenario."""

    caller: str  # the number as the trunk delivers it; empty for no number
    caller_name: str = ""
    num_pres: str = "allowed_not_screened"  # CALLERID(num-pres)
    callingpres: int = 0  # agi_callingpres
    route: Route = "dial"
    start_seconds: float = 0.0  # offset from the start of the scenario
    answer_seconds: float | None = 1.0  # None: nobody answers before the ring timeout
    talk_seconds: float = 20.0  # from the agent's answer to the hangup
    hangup_by: Party = "agent"
    ring_timeout_seconds: float = 20.0
    transfer_after_seconds: float | None = None  # after the answer; a second agent takes over
    transfer_gap_seconds: float = 2.0
    label: str = ""

    @classmethod
    def withheld(cls, caller: str = "", **fields: object) -> CallSpec:
        """Return a call whose caller withholds the number (presentation prohibited)."""
        pres = "prohib_not_screened" if caller else "prohib"
        callingpres = 32 if caller else 67
        return cls(caller=caller, num_pres=pres, callingpres=callingpres, **fields)  # type: ignore[arg-type]


@dataclass
class CallOutcome:
    """The result of one call, for the CLI and for tests."""

    spec: CallSpec
    uniqueid: str = ""
    channel: str = ""
    verdict: str | None = None
    helpdesk_id: str | None = None
    limit_ms: int | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: EndReason | None = None
    transfers: int = 0
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class _AgentLeg:
    outgoing: SimChannel  # the dialled channel that joins the bridge
    phone: SimChannel | None  # the far half of a Local pair (None for PJSIP)


class CallRun:
    """Plays one call against the simulated PBX."""

    def __init__(self, pbx: SimulatedPbx, spec: CallSpec) -> None:
        self.pbx = pbx
        self.spec = spec
        self.handle = CallHandle()
        self.outcome = CallOutcome(spec)
        self.caller_side: SimChannel | None = None
        self.inbound: SimChannel | None = None
        self.agent: _AgentLeg | None = None
        self.bridge: SimBridge | None = None
        self._agents = 0

    async def run(self) -> CallOutcome:
        self.pbx.start_timeline()
        inbound = await self._arrive()
        admission = await self._admit(inbound)
        if not admission.admitted:
            await self._refuse(inbound)
        else:
            await self._put_through(inbound, admission)
        log.info(
            "simulator.call_ended",
            uniqueid=inbound.uniqueid,
            verdict=self.outcome.verdict,
            end_reason=self.outcome.end_reason,
        )
        return self.outcome

    # -- arrival and admission -----------------------------------------------

    def _new_channel(self, name: str, device: str, linkedid: str | None, **fields: object) -> SimChannel:
        uniqueid = self.pbx.new_uniqueid()
        channel = SimChannel(
            name=name, uniqueid=uniqueid, linkedid=linkedid or uniqueid, created_at=self.pbx.now(),
            device=device, **fields,  # type: ignore[arg-type]
        )
        return self.pbx.add_channel(channel, self.handle)

    async def _arrive(self) -> SimChannel:
        pbx, spec = self.pbx, self.spec
        number = spec.caller or "<unknown>"
        name = spec.caller_name or "<unknown>"
        place = {"context": "pstn-sim", "exten": HELPDESK_LINE}
        if pbx.channel_style == "local":
            base = f"Local/{HELPDESK_LINE}@pstn-sim-{pbx.new_channel_number():08x}"
            device = f"Local/{HELPDESK_LINE}@pstn-sim"
            caller_side = self._new_channel(f"{base};1", device, None, **place)
            inbound = self._new_channel(f"{base};2", device, caller_side.linkedid, state=STATE_RING, **place)
            self.caller_side = caller_side
            await pbx.channel_event("Newchannel", caller_side)
            await pbx.channel_event("Newchannel", inbound)
            for channel in (caller_side, inbound):
                channel.caller_num, channel.caller_name = number, name
                presentation = ("CID-CallingPres", calling_pres_text(spec.callingpres))
                await pbx.channel_event("NewCallerid", channel, presentation)
                channel.connected_num, channel.connected_name = number, name
                await pbx.channel_event("NewConnectedLine", channel)
            await self._local_bridge(caller_side, inbound)
        else:
            inbound = self._new_channel(
                f"PJSIP/trunk-{pbx.new_channel_number():08x}", "PJSIP/trunk", None,
                state=STATE_RING, context=TRUNK_CONTEXT, exten=HELPDESK_LINE,
                caller_num=number, caller_name=name,
            )
            await pbx.channel_event("Newchannel", inbound)
        self.inbound = inbound
        self.outcome.uniqueid, self.outcome.channel = inbound.uniqueid, inbound.name

        # The dialplan answers the line before admission, as the recorded one did.
        now = pbx.now()
        inbound.state, inbound.context, inbound.priority, inbound.language = STATE_UP, TRUNK_CONTEXT, 3, "nl"
        inbound.answered_at = now
        inbound.application, inbound.application_data = "Answer", ""
        await pbx.channel_event("Newstate", inbound)
        if self.caller_side is not None:
            self.caller_side.state, self.caller_side.language, self.caller_side.answered_at = STATE_UP, "nl", now
            self.caller_side.context, self.caller_side.exten = "caller-phone", "talk"
            self.caller_side.application, self.caller_side.application_data = "Wait", "600"
            await pbx.channel_event("Newstate", self.caller_side)
            await pbx.device_state(self.caller_side, "INUSE")
        await pbx.device_state(inbound, "INUSE")
        return inbound

    async def _local_bridge(self, one: SimChannel, two: SimChannel) -> None:
        await self.pbx.emit(
            "LocalBridge",
            [*one.snapshot("LocalOne"), *two.snapshot("LocalTwo"), ("Context", one.context),
             ("Exten", one.exten), ("LocalOptimization", "No")],
        )

    async def _admit(self, inbound: SimChannel) -> Admission:
        spec = self.spec
        interrupt = await self.pbx.wait(AGI_DELAY_SECONDS, self.handle)
        inbound.priority, inbound.application, inbound.application_data = 4, "AGI", "agi://127.0.0.1:4573/admit"
        if interrupt is not None:
            return Admission({}, hung_up=True)
        request = AdmissionRequest(
            uniqueid=inbound.uniqueid,
            channel=inbound.name,
            callerid=spec.caller,
            calleridname=spec.caller_name,
            callingpres=spec.callingpres,
            linkedid=inbound.linkedid,
            num_pres=spec.num_pres,
        )
        admission = await self.pbx.admitter(request)
        inbound.variables.update(admission.variables)
        self.outcome.verdict = admission.verdict
        self.outcome.helpdesk_id = admission.variables.get("CALLMETER_HELPDESK_ID")
        self.outcome.limit_ms = admission.limit_ms
        self.outcome.variables = dict(admission.variables)
        return admission

    async def _refuse(self, inbound: SimChannel) -> None:
        inbound.priority, inbound.application, inbound.application_data = 6, "Playback", "silence/1"
        await self.pbx.wait(REFUSAL_PROMPT_SECONDS, self.handle)
        inbound.priority, inbound.application, inbound.application_data = 7, "Hangup", ""
        self.outcome.end_reason = "refused"
        await self._inbound_teardown(inbound, cdr_first=True)

    # -- putting the call through --------------------------------------------

    async def _put_through(self, inbound: SimChannel, admission: Admission) -> None:
        pbx, spec = self.pbx, self.spec
        limit_seconds = admission.limit_ms / 1000 if admission.limit_ms and spec.route == "dial" else None
        if spec.route == "queue":
            inbound.priority, inbound.application = 11, "Queue"
            inbound.application_data = f"{QUEUE_NAME},,,,{spec.ring_timeout_seconds:g}"
            await self._queue_event("QueueCallerJoin", inbound, count=1)
        else:
            limit = f",L({admission.limit_ms}:60000)" if admission.limit_ms else ""
            inbound.priority, inbound.application = 9, "Dial"
            inbound.application_data = f"Local/agent@helpdesk-agents/n,{spec.ring_timeout_seconds:g}{limit}"

        leg = await self._dial_agent(inbound)
        ring_seconds = spec.answer_seconds if spec.answer_seconds is not None else spec.ring_timeout_seconds
        ring_seconds = min(ring_seconds, spec.ring_timeout_seconds)
        interrupt = await pbx.wait(ring_seconds, self.handle)
        if interrupt is not None or spec.answer_seconds is None or spec.answer_seconds > spec.ring_timeout_seconds:
            status = "CANCEL" if interrupt is not None else "NOANSWER"
            await self._unanswered(inbound, leg, status)
            return
        await self._answer(inbound, leg)
        await self._talk(inbound, limit_seconds)

    async def _dial_agent(self, inbound: SimChannel) -> _AgentLeg:
        pbx = self.pbx
        self._agents += 1
        number = pbx.new_channel_number()
        caller = (inbound.caller_num, inbound.caller_name)
        if pbx.channel_style == "local":
            base = f"Local/agent@helpdesk-agents-{number:08x}"
            device = "Local/agent@helpdesk-agents"
            place = {"context": "helpdesk-agents", "exten": "agent"}
            outgoing = self._new_channel(f"{base};1", device, inbound.linkedid, **place)
            phone = self._new_channel(f"{base};2", device, inbound.linkedid, state=STATE_RING, **place)
            await pbx.channel_event("Newchannel", outgoing)
            await pbx.channel_event("Newchannel", phone)
            outgoing.caller_num, outgoing.caller_name, outgoing.exten = HELPDESK_LINE, caller[1], HELPDESK_LINE
            outgoing.connected_num, outgoing.connected_name = caller
            phone.caller_num, phone.caller_name = caller
            phone.connected_num, phone.connected_name = HELPDESK_LINE, caller[1]
            for channel in (outgoing, phone):
                await pbx.channel_event("NewCallerid", channel, ("CID-CallingPres", calling_pres_text(0)))
                await pbx.channel_event("NewConnectedLine", channel)
            await self._local_bridge(outgoing, phone)
            dial_string = "agent@helpdesk-agents/n"
        else:
            device = f"PJSIP/agent{self._agents}"
            outgoing = self._new_channel(
                f"{device}-{number:08x}", device, inbound.linkedid, state=STATE_DOWN,
                context="helpdesk-agents", exten="agent", caller_num=HELPDESK_LINE, caller_name=caller[1],
                connected_num=caller[0], connected_name=caller[1],
            )
            phone = None
            await pbx.channel_event("Newchannel", outgoing)
            dial_string = f"agent{self._agents}"
        leg = _AgentLeg(outgoing, phone)
        self.agent = leg
        await pbx.emit("DialBegin", [*inbound.snapshot(), *outgoing.snapshot("Dest"), ("DialString", dial_string)])
        if self.spec.route == "queue":
            await pbx.emit("AgentCalled", [*inbound.snapshot(), *outgoing.snapshot("Dest"), *self._member()])
        return leg

    async def _queue_event(self, event: str, inbound: SimChannel, count: int) -> None:
        await self.pbx.channel_event(event, inbound, ("Queue", QUEUE_NAME), ("Position", "1"), ("Count", str(count)))

    def _member(self) -> list[tuple[str, str]]:
        # The order of Asterisk's AgentCalled, AgentConnect and AgentComplete events.
        return [
            ("Queue", QUEUE_NAME),
            ("MemberName", f"Agent {self._agents}"),
            ("Interface", f"Local/agent@helpdesk-agents/n#{self._agents}"),
        ]

    async def _answer(self, inbound: SimChannel, leg: _AgentLeg) -> None:
        pbx = self.pbx
        now = pbx.now()
        far = leg.phone or leg.outgoing
        far.state, far.answered_at, far.priority = STATE_UP, now, 3
        far.application, far.application_data = "Wait", f"{self.spec.talk_seconds:g}"
        if leg.phone is not None:
            await pbx.channel_event("Newstate", leg.phone)
            await pbx.device_state(leg.phone, "INUSE")
        leg.outgoing.state, leg.outgoing.answered_at = STATE_UP, now
        leg.outgoing.application, leg.outgoing.application_data, leg.outgoing.exten = "AppDial", "(Outgoing Line)", ""
        await pbx.channel_event("Newstate", leg.outgoing)
        await pbx.emit("DialEnd", [*inbound.snapshot(), *leg.outgoing.snapshot("Dest"), ("DialStatus", "ANSWER")])
        if self.spec.route == "queue":
            await self._queue_event("QueueCallerLeave", inbound, count=0)
        bridge = pbx.new_bridge()
        self.bridge = bridge
        await pbx.bridge_event("BridgeCreate", bridge)
        for channel in (leg.outgoing, inbound):
            bridge.channels.append(channel.name)
            channel.bridge_id = bridge.uniqueid
            await pbx.bridge_event("BridgeEnter", bridge, channel)
        if self.outcome.answered_at is None:
            self.outcome.answered_at = now
        if self.spec.route == "queue":
            hold = str(int(now - inbound.created_at))
            await pbx.emit(
                "AgentConnect",
                [*inbound.snapshot(), *leg.outgoing.snapshot("Dest"), *self._member(),
                 ("RingTime", str(int(self.spec.answer_seconds or 0))), ("HoldTime", hold)],
            )

    async def _talk(self, inbound: SimChannel, limit_seconds: float | None) -> None:
        spec = self.spec
        talk_seconds = spec.talk_seconds
        ends_by_limit = limit_seconds is not None and limit_seconds < talk_seconds
        if ends_by_limit:
            assert limit_seconds is not None
            talk_seconds = limit_seconds
        started = self.pbx.now()

        if spec.transfer_after_seconds is not None and spec.transfer_after_seconds < talk_seconds:
            interrupt = await self.pbx.wait(spec.transfer_after_seconds, self.handle)
            if interrupt is not None:
                await self._interrupted(inbound, interrupt)
                return
            await self._transfer(inbound)

        remaining = talk_seconds - (self.pbx.now() - started)
        interrupt = await self.pbx.wait(remaining, self.handle)
        if interrupt is not None:
            await self._interrupted(inbound, interrupt)
        elif ends_by_limit:
            self.outcome.end_reason = "limit"
            await self._bridge_broken(inbound, cause_first=None)
        elif spec.hangup_by == "agent":
            self.outcome.end_reason = "agent"
            await self._agent_hangs_up(inbound)
        else:
            self.outcome.end_reason = "caller"
            await self._caller_hangs_up(inbound)

    async def _transfer(self, inbound: SimChannel) -> None:
        """Hand the caller to a second agent: BridgeLeave, a gap, then BridgeEnter again."""
        assert self.agent is not None and self.bridge is not None
        await self._agent_leaves(inbound, self.agent, self.bridge)
        self.outcome.transfers += 1
        inbound.application, inbound.application_data = "Dial", "Local/agent@helpdesk-agents/n"
        leg = await self._dial_agent(inbound)
        interrupt = await self.pbx.wait(self.spec.transfer_gap_seconds, self.handle)
        if interrupt is not None:
            await self._unanswered(inbound, leg, "CANCEL")
            return
        await self._answer(inbound, leg)

    # -- endings -------------------------------------------------------------

    async def _interrupted(self, inbound: SimChannel, interrupt: Interrupt) -> None:
        if interrupt.kind == "redirect" and interrupt.channel == inbound.name:
            await self._redirected(inbound, interrupt)
            return
        agent = self.agent
        if agent is not None and interrupt.channel in (agent.outgoing.name, getattr(agent.phone, "name", None)):
            self.outcome.end_reason = "agent"
            await self._agent_hangs_up(inbound)
            return
        self.outcome.end_reason = "ami_hangup"
        await self.pbx.channel_event("SoftHangupRequest", inbound, ("Cause", str(interrupt.cause)))
        await self._bridge_broken(inbound, cause_first=interrupt.cause)

    async def _agent_leaves(self, inbound: SimChannel, leg: _AgentLeg, bridge: SimBridge) -> None:
        """Hang up the agent's leg and take both channels out of the bridge."""
        pbx = self.pbx
        if leg.phone is not None:
            await pbx.channel_event("SoftHangupRequest", leg.phone, ("Cause", "16"))
            await pbx.channel_event("HangupRequest", leg.outgoing, ("Cause", "16"))
            await pbx.cdr(leg.phone)
            await self._hangup(leg.phone)
        await self._leave_bridge(bridge, leg.outgoing)
        await self._hangup(leg.outgoing)
        await self._leave_bridge(bridge, inbound)
        await pbx.bridge_event("BridgeDestroy", bridge)
        await self._agent_complete(inbound, leg, "agent")
        await pbx.device_state(leg.outgoing, "NOT_INUSE")
        self.agent, self.bridge = None, None

    async def _agent_hangs_up(self, inbound: SimChannel) -> None:
        assert self.agent is not None and self.bridge is not None
        await self._agent_leaves(inbound, self.agent, self.bridge)
        await self._inbound_teardown(inbound, cdr_first=False)

    async def _caller_hangs_up(self, inbound: SimChannel) -> None:
        pbx = self.pbx
        caller_side = self.caller_side
        if caller_side is not None:
            await pbx.cdr(caller_side)
            await pbx.channel_event("SoftHangupRequest", caller_side, ("Cause", "16"))
            await pbx.channel_event("HangupRequest", inbound, ("Cause", "16"))
            await self._hangup(caller_side)
            await pbx.device_state(caller_side, "NOT_INUSE")
        else:
            await pbx.channel_event("HangupRequest", inbound, ("Cause", "16"))
        await self._bridge_broken(inbound, cause_first=None, caller_gone=True)

    async def _bridge_broken(self, inbound: SimChannel, cause_first: int | None, caller_gone: bool = False) -> None:
        """End the call from the inbound side: the bridge breaks and both legs hang up."""
        pbx = self.pbx
        leg, bridge = self.agent, self.bridge
        if leg is not None and bridge is not None:
            await self._leave_bridge(bridge, inbound)
            await self._leave_bridge(bridge, leg.outgoing)
            await self._agent_complete(inbound, leg, "caller")
            if leg.phone is not None:
                await pbx.channel_event("HangupRequest", leg.phone, ("Cause", "16"))
            await self._hangup(leg.outgoing)
            await pbx.bridge_event("BridgeDestroy", bridge)
            await pbx.device_state(leg.outgoing, "NOT_INUSE")
            if leg.phone is not None:
                await pbx.cdr(leg.phone)
            await pbx.cdr(inbound, destination_channel=leg.outgoing.name)
            if leg.phone is not None:
                await pbx.channel_event("SoftHangupRequest", leg.phone, ("Cause", "16"))
                await self._hangup(leg.phone)
            self.agent, self.bridge = None, None
            cdr_written = True
        else:
            cdr_written = False
        if caller_gone:
            await pbx.channel_event("SoftHangupRequest", inbound, ("Cause", "16"))
            if not cdr_written:
                await pbx.cdr(inbound)
            await self._hangup(inbound)
            await pbx.device_state(inbound, "NOT_INUSE")
            self.outcome.ended_at = pbx.now()
            return
        await self._inbound_teardown(inbound, cdr_first=not cdr_written, cdr_done=cdr_written)

    async def _unanswered(self, inbound: SimChannel, leg: _AgentLeg, status: str) -> None:
        pbx = self.pbx
        await pbx.emit("DialEnd", [*inbound.snapshot(), *leg.outgoing.snapshot("Dest"), ("DialStatus", status)])
        if self.spec.route == "queue":
            await self._queue_event("QueueCallerLeave", inbound, count=0)
        far = leg.phone or leg.outgoing
        await pbx.channel_event("HangupRequest", far, ("Cause", str(CAUSE_NOT_DEFINED)))
        await pbx.cdr(far, disposition="NO ANSWER")
        await pbx.cdr(inbound, destination_channel=leg.outgoing.name, disposition="NO ANSWER")
        if leg.phone is not None:
            await self._hangup(leg.outgoing, CAUSE_NOT_DEFINED)
        await self._hangup(far, CAUSE_NOT_DEFINED)
        self.agent = None
        if self.outcome.end_reason is None:
            self.outcome.end_reason = "no_answer" if status == "NOANSWER" else "ami_hangup"
        await self._inbound_teardown(inbound, cdr_first=False, cdr_done=True)

    async def _redirected(self, inbound: SimChannel, interrupt: Interrupt) -> None:
        """Move the caller to another dialplan location, as AMI Redirect does, then end the call there."""
        pbx = self.pbx
        self.handle.rearm()
        leg, bridge = self.agent, self.bridge
        if leg is not None and bridge is not None:
            await self._leave_bridge(bridge, inbound)
            await self._leave_bridge(bridge, leg.outgoing)
            await self._agent_complete(inbound, leg, "transfer")
            if leg.phone is not None:
                await pbx.channel_event("HangupRequest", leg.phone, ("Cause", "16"))
            await self._hangup(leg.outgoing)
            await pbx.bridge_event("BridgeDestroy", bridge)
            if leg.phone is not None:
                await pbx.cdr(leg.phone)
                await self._hangup(leg.phone)
            await pbx.device_state(leg.outgoing, "NOT_INUSE")
            self.agent, self.bridge = None, None
        inbound.context, inbound.exten, inbound.priority = interrupt.context, interrupt.exten, interrupt.priority
        inbound.application, inbound.application_data = "Playback", "callmeter/credit-exhausted"
        self.outcome.end_reason = "redirected"
        await pbx.wait(REDIRECT_PROMPT_SECONDS, self.handle)
        inbound.application, inbound.application_data = "Hangup", ""
        await self._inbound_teardown(inbound, cdr_first=True)

    async def _inbound_teardown(self, inbound: SimChannel, cdr_first: bool, cdr_done: bool = False) -> None:
        """Hang up the inbound channel (it ran Hangup()) and the caller's side."""
        pbx = self.pbx
        if cdr_first and not cdr_done:
            await pbx.cdr(inbound)
            cdr_done = True
        await pbx.channel_event("SoftHangupRequest", inbound, ("Cause", "16"))
        caller_side = self.caller_side
        if caller_side is not None and caller_side.name in pbx.channels:
            await pbx.channel_event("HangupRequest", caller_side, ("Cause", "16"))
        await self._hangup(inbound)
        await pbx.device_state(inbound, "NOT_INUSE")
        if not cdr_done:
            await pbx.cdr(inbound)
        if caller_side is not None and caller_side.name in pbx.channels:
            await pbx.channel_event("SoftHangupRequest", caller_side, ("Cause", "16"))
            await self._hangup(caller_side)
            await pbx.cdr(caller_side)
            await pbx.device_state(caller_side, "NOT_INUSE")
        self.outcome.ended_at = pbx.now()

    async def _leave_bridge(self, bridge: SimBridge, channel: SimChannel) -> None:
        if channel.name in bridge.channels:
            bridge.channels.remove(channel.name)
        channel.bridge_id = ""
        await self.pbx.bridge_event("BridgeLeave", bridge, channel)

    async def _agent_complete(self, inbound: SimChannel, leg: _AgentLeg, reason: str) -> None:
        if self.spec.route != "queue" or leg.outgoing.answered_at is None:
            return
        talk = str(int(self.pbx.now() - leg.outgoing.answered_at))
        hold = str(int(leg.outgoing.answered_at - inbound.created_at))
        await self.pbx.emit(
            "AgentComplete",
            [*inbound.snapshot(), *leg.outgoing.snapshot("Dest"), *self._member(),
             ("HoldTime", hold), ("TalkTime", talk), ("Reason", reason)],
        )

    async def _hangup(self, channel: SimChannel, cause: int = CAUSE_NORMAL_CLEARING) -> None:
        if channel.name not in self.pbx.channels:
            return
        await self.pbx.channel_event(
            "Hangup", channel, ("Cause", str(cause)), ("Cause-txt", CAUSE_TEXTS.get(cause, "Unknown"))
        )
        self.pbx.remove_channel(channel)
