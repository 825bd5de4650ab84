"""Calls of the simulated PBX: event shape against the recordings, timing, routes and AMI actions."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from callmeter.ami.message import Message
from callmeter.simulator.admit import fixed_admitter
from callmeter.simulator.calls import CallRun, CallSpec
from callmeter.simulator.scenarios import play_scenario, preset
from tests.ami.support import Recorder, fast_settings, running_client
from tests.simulator.conftest import Simulated, simulated_pbx

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"

# Events of the recordings that the simulator leaves out on purpose: CEL
# records, artefacts of the recording's Originate set-up, and queue member
# state, which a Dial call through a Local queue member happened to raise.
NOT_SIMULATED = {"CEL", "OriginateResponse", "QueueMemberStatus", "FullyBooted"}


def _recorded_shape(name: str) -> dict[str, set[str]]:
    """Return, per event name in a recording, the set of header names seen."""
    shape: dict[str, set[str]] = {}
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        raw = str(record["raw"])
        if record["dir"] != "in" or not raw.startswith("Event: "):
            continue
        headers = [item.partition(": ")[0] for item in raw.removesuffix("\r\n\r\n").split("\r\n")]
        event = raw.split("\r\n", 1)[0].removeprefix("Event: ")
        if event not in NOT_SIMULATED:
            shape.setdefault(event, set()).update(headers)
    return shape


def _generated_shape(events: list[Message]) -> dict[str, set[str]]:
    shape: dict[str, set[str]] = {}
    for message in events:
        shape.setdefault(message.event or "", set()).update(name for name, _ in message.headers)
    return shape


def _inbound(simulated: Simulated, uniqueid: str, event: str) -> list[Message]:
    return [message for message in simulated.named(event) if message.uniqueid == uniqueid]


async def test_dial_call_matches_agent_hangs_up_recording(simulated: Simulated) -> None:
    outcome = await CallRun(simulated.pbx, CallSpec("0612345678", "Jan Jansen", talk_seconds=20)).run()

    generated = _generated_shape(simulated.events)
    recorded = _recorded_shape("s01-agent-hangs-up.ami.jsonl")
    assert outcome.end_reason == "agent"
    assert set(generated) == set(recorded)
    for event, headers in recorded.items():
        assert generated[event] == headers, event


async def test_caller_hangup_matches_recording(simulated: Simulated) -> None:
    spec = CallSpec("0612345678", "Jan Jansen", talk_seconds=10, hangup_by="caller")
    outcome = await CallRun(simulated.pbx, spec).run()

    generated = _generated_shape(simulated.events)
    recorded = _recorded_shape("s02-caller-hangs-up.ami.jsonl")
    assert outcome.end_reason == "caller"
    assert set(generated) == set(recorded)
    for event, headers in recorded.items():
        assert generated[event] == headers, event


async def test_no_answer_matches_recording(simulated: Simulated) -> None:
    spec = CallSpec("0381234567", "Piet Pieters", answer_seconds=None, ring_timeout_seconds=8)
    outcome = await CallRun(simulated.pbx, spec).run()

    generated = _generated_shape(simulated.events)
    recorded = _recorded_shape("s05-no-answer.ami.jsonl")
    dial_ends = simulated.named("DialEnd")
    assert outcome.end_reason == "no_answer"
    assert outcome.answered_at is None
    assert [message.get("DialStatus") for message in dial_ends] == ["NOANSWER"]
    assert set(generated) == set(recorded)
    for event, headers in recorded.items():
        assert generated[event] == headers, event


async def test_metered_time_exact_from_timestamps(simulated: Simulated) -> None:
    outcome = await CallRun(simulated.pbx, CallSpec("0612345678", talk_seconds=330.6)).run()

    entered = _inbound(simulated, outcome.uniqueid, "BridgeEnter")
    left = _inbound(simulated, outcome.uniqueid, "BridgeLeave")
    assert len(entered) == 1
    assert len(left) == 1
    assert round(left[0].event_time - entered[0].event_time, 3) == 330.6


async def test_dial_limit_ends_call_like_recording() -> None:
    async with simulated_pbx(fixed_admitter(limit_ms=20_000)) as simulated:
        outcome = await CallRun(simulated.pbx, CallSpec("0612345678", talk_seconds=60)).run()

    entered = _inbound(simulated, outcome.uniqueid, "BridgeEnter")
    left = _inbound(simulated, outcome.uniqueid, "BridgeLeave")
    recorded = _recorded_shape("s07-cutoff-by-limit.ami.jsonl")
    assert outcome.end_reason == "limit"
    assert outcome.limit_ms == 20_000
    assert round(left[0].event_time - entered[0].event_time, 3) == 20.0
    assert set(_generated_shape(simulated.events)) == set(recorded)


async def test_queue_call_has_no_limit_and_queue_events() -> None:
    async with simulated_pbx(fixed_admitter(limit_ms=20_000)) as simulated:
        spec = CallSpec("0612345678", route="queue", answer_seconds=5, talk_seconds=60)
        outcome = await CallRun(simulated.pbx, spec).run()

    names = [message.event for message in simulated.events]
    entered = _inbound(simulated, outcome.uniqueid, "BridgeEnter")
    left = _inbound(simulated, outcome.uniqueid, "BridgeLeave")
    dial_end = names.index("DialEnd")
    assert outcome.end_reason == "agent"
    assert round(left[0].event_time - entered[0].event_time, 3) == 60.0
    for event in ("QueueCallerJoin", "AgentCalled", "AgentConnect", "QueueCallerLeave", "AgentComplete"):
        assert event in names, event
    assert names.index("QueueCallerJoin") < names.index("AgentCalled") < dial_end
    assert dial_end < names.index("BridgeEnter") < names.index("AgentConnect")
    assert simulated.named("AgentComplete")[0].get("Reason") == "agent"


async def test_refused_call_never_dials() -> None:
    async with simulated_pbx(fixed_admitter(verdict="withheld")) as simulated:
        outcome = await CallRun(simulated.pbx, CallSpec.withheld()).run()

    names = {message.event for message in simulated.events}
    hangups = _inbound(simulated, outcome.uniqueid, "Hangup")
    assert outcome.verdict == "withheld"
    assert outcome.end_reason == "refused"
    assert "DialBegin" not in names
    assert "BridgeEnter" not in names
    assert len(hangups) == 1
    assert hangups[0].get("CallerIDNum") == "<unknown>"
    assert simulated.pbx.channels == {}


async def test_transfer_reenters_bridge(simulated: Simulated) -> None:
    spec = CallSpec("0612345678", talk_seconds=60, transfer_after_seconds=20, transfer_gap_seconds=3)
    outcome = await CallRun(simulated.pbx, spec).run()

    inbound_bridge = [
        message.event
        for message in simulated.events
        if message.uniqueid == outcome.uniqueid and message.event in ("BridgeEnter", "BridgeLeave")
    ]
    dial_ends = [message.get("DialStatus") for message in simulated.named("DialEnd")]
    first_enter = _inbound(simulated, outcome.uniqueid, "BridgeEnter")[0]
    last_leave = _inbound(simulated, outcome.uniqueid, "BridgeLeave")[-1]
    assert outcome.transfers == 1
    assert inbound_bridge == ["BridgeEnter", "BridgeLeave", "BridgeEnter", "BridgeLeave"]
    assert dial_ends == ["ANSWER", "ANSWER"]
    assert round(last_leave.event_time - first_enter.event_time, 3) == 60.0


async def test_uniqueids_and_linkedids_like_asterisk(simulated: Simulated) -> None:
    outcome = await CallRun(simulated.pbx, CallSpec("0612345678", talk_seconds=5)).run()

    channel_events = [message for message in simulated.events if message.event == "Newchannel"]
    first = channel_events[0]
    assert all(re.fullmatch(r"\d{10}\.\d+", message.uniqueid or "") for message in channel_events)
    assert all(message.get("Linkedid") == first.uniqueid for message in channel_events)
    assert outcome.channel.endswith(";2")
    assert outcome.uniqueid == channel_events[1].uniqueid


async def test_pjsip_channels_named_by_trunk() -> None:
    async with simulated_pbx(fixed_admitter(), channel_style="pjsip") as simulated:
        outcome = await CallRun(simulated.pbx, CallSpec("0612345678", talk_seconds=5)).run()

    names = {message.get("Channel") for message in simulated.named("Newchannel")}
    entered = _inbound(simulated, outcome.uniqueid, "BridgeEnter")
    assert outcome.channel.startswith("PJSIP/trunk-")
    assert len(names) == 2
    assert any((name or "").startswith("PJSIP/agent1-") for name in names)
    assert len(entered) == 1
    assert "LocalBridge" not in {message.event for message in simulated.events}


async def test_list_actions_mid_call() -> None:
    recorder = Recorder()
    async with (
        simulated_pbx(fixed_admitter(), speed=100) as simulated,
        running_client(fast_settings(simulated.server.port), recorder) as client,
    ):
        await client.wait_connected(5)
        calls = [CallSpec("0612345678", talk_seconds=60), CallSpec("0381234567", talk_seconds=60, start_seconds=1)]
        playing = asyncio.create_task(play_scenario(simulated.pbx, calls))
        await recorder.wait_for(lambda: recorder.names().count("BridgeEnter") >= 4)

        channels = await client.core_show_channels()
        statuses = await client.status()
        one = await client.status(channels[0].get("Channel"))
        inbound = [message.get("Channel") or "" for message in channels if message.get("Context") == "from-trunk-038"]
        hangups = [await client.hangup(channel) for channel in inbound]
        outcomes = await asyncio.wait_for(playing, 10)

    assert len(channels) == 8
    assert {message.event for message in channels} == {"CoreShowChannel"}
    assert all(message.get("BridgeId") is not None for message in channels)
    assert len(statuses) == 8
    assert {message.event for message in statuses} == {"Status"}
    assert len(one) == 1
    assert "CoreShowChannel" not in recorder.names()
    assert [response.get("Message") for response in hangups] == ["Channel Hungup", "Channel Hungup"]
    assert [outcome.end_reason for outcome in outcomes] == ["ami_hangup", "ami_hangup"]


async def test_redirect_moves_caller_then_hangs_up() -> None:
    recorder = Recorder()
    async with (
        simulated_pbx(fixed_admitter(), speed=100) as simulated,
        running_client(fast_settings(simulated.server.port), recorder) as client,
    ):
        await client.wait_connected(5)
        playing = asyncio.create_task(CallRun(simulated.pbx, CallSpec("0612345678", talk_seconds=600)).run())
        await recorder.wait_for(lambda: recorder.names().count("BridgeEnter") >= 2)
        inbound = [message for message in recorder.events if message.event == "BridgeEnter"][-1]

        response = await client.redirect(inbound.get("Channel") or "", "callmeter-credit-exhausted", "s", 1)
        outcome = await asyncio.wait_for(playing, 10)

    left = _inbound(simulated, outcome.uniqueid, "BridgeLeave")
    hangup = _inbound(simulated, outcome.uniqueid, "Hangup")
    assert response.get("Message") == "Redirect successful"
    assert outcome.end_reason == "redirected"
    assert len(left) == 1
    assert hangup[0].get("Context") == "callmeter-credit-exhausted"
    assert hangup[0].event_time > left[0].event_time


async def test_busy_hour_preset_mixes_outcomes() -> None:
    verdicts = {"0201234567": "unknown_number", "": "withheld", "anonymous": "withheld"}

    async def admit_by_number(request: object) -> object:
        from callmeter.simulator.admit import Admission, AdmissionRequest

        assert isinstance(request, AdmissionRequest)
        if request.num_pres.startswith("prohib"):
            return Admission({"CALLMETER_VERDICT": "withheld"})
        return Admission({"CALLMETER_VERDICT": verdicts.get(request.callerid, "admitted")})

    async with simulated_pbx(admit_by_number, speed=20_000) as simulated:  # type: ignore[arg-type]
        outcomes = await play_scenario(simulated.pbx, preset("busy-hour"))

    reasons = {outcome.end_reason for outcome in outcomes}
    assert len(outcomes) == 14
    assert {"agent", "caller", "no_answer", "refused"} <= reasons
    assert sum(outcome.transfers for outcome in outcomes) == 1
    assert {outcome.spec.route for outcome in outcomes} == {"dial", "queue"}
    assert simulated.pbx.channels == {}
