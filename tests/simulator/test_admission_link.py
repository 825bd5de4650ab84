"""The simulated PBX running admission over a real FastAGI socket, live and in replay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callmeter.simulator.admit import fastagi_admitter
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.calls import CallRun, CallSpec
from callmeter.simulator.replay import load_recording, replay
from tests.ami.support import SECRET, Recorder, fast_settings, running_client
from tests.simulator.conftest import simulated_pbx

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"


@dataclass
class ScriptedAdmission:
    """A minimal FastAGI server that admits or refuses by caller ID presentation."""

    port: int = 0
    environments: list[dict[str, str]] = field(default_factory=list)
    presentations: list[str] = field(default_factory=list)
    limit_ms: int = 20_000

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        environment: dict[str, str] = {}
        while (line := (await reader.readline()).decode().rstrip("\n")) != "":
            name, _, value = line.partition(": ")
            environment[name] = value
        self.environments.append(environment)
        writer.write(b'GET VARIABLE "CALLERID(num-pres)"\n')
        reply = (await reader.readline()).decode()
        presentation = reply.partition("(")[2].rstrip(")\n")
        self.presentations.append(presentation)
        verdict = "admitted" if presentation.startswith("allowed") else "withheld"
        commands = (f"SET VARIABLE CALLMETER_VERDICT {verdict}", f"SET VARIABLE CALLMETER_LIMIT_MS {self.limit_ms}")
        for command in commands:
            writer.write(f"{command}\n".encode())
            await reader.readline()
        writer.close()


@pytest.fixture
async def admission() -> AsyncIterator[ScriptedAdmission]:
    scripted = ScriptedAdmission()
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    scripted.port = server.sockets[0].getsockname()[1]
    yield scripted
    server.close()
    await server.wait_closed()


async def test_admission_environment_names_inbound_channel(admission: ScriptedAdmission) -> None:
    async with simulated_pbx(fastagi_admitter("127.0.0.1", admission.port)) as simulated:
        outcome = await CallRun(simulated.pbx, CallSpec("0612345678", "Jan Jansen", talk_seconds=30)).run()

    environment = admission.environments[0]
    assert environment["agi_uniqueid"] == outcome.uniqueid
    assert environment["agi_channel"] == outcome.channel
    assert environment["agi_callerid"] == "0612345678"
    assert environment["agi_callingpres"] == "0"
    assert admission.presentations == ["allowed_not_screened"]
    assert outcome.verdict == "admitted"
    assert outcome.end_reason == "limit"


async def test_withheld_caller_refused_over_fastagi(admission: ScriptedAdmission) -> None:
    async with simulated_pbx(fastagi_admitter("127.0.0.1", admission.port)) as simulated:
        outcome = await CallRun(simulated.pbx, CallSpec.withheld("0612345678")).run()

    assert admission.environments[0]["agi_callingpres"] == "32"
    assert admission.presentations == ["prohib_not_screened"]
    assert outcome.verdict == "withheld"
    assert outcome.end_reason == "refused"


async def test_unreachable_admission_refuses_call() -> None:
    probe = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()

    async with simulated_pbx(fastagi_admitter("127.0.0.1", port, timeout_seconds=1.0)) as simulated:
        outcome = await CallRun(simulated.pbx, CallSpec("0612345678")).run()

    assert outcome.verdict is None
    assert outcome.end_reason == "refused"
    assert "DialBegin" not in {message.event for message in simulated.events}


async def test_replay_runs_recorded_admission(admission: ScriptedAdmission) -> None:
    recording = load_recording(FIXTURES / "s03-withheld-prohib.ami.jsonl")
    recorder = Recorder()
    async with AmiServer(secret=SECRET) as server, running_client(fast_settings(server.port), recorder) as client:
        await client.wait_connected(5)
        await replay(server, recording, speed=1_000_000, agi_address=("127.0.0.1", admission.port))
        await client.ping()
        await recorder.wait_for(lambda: len(recorder.events) >= len(recording.events) + 1)

    assert [environment["agi_callingpres"] for environment in admission.environments] == ["32", "67", "0", "0", "67"]
    assert admission.presentations == [
        "prohib_not_screened",
        "prohib",
        "allowed_not_screened",
        "allowed_not_screened",
        "allowed_not_screened",
    ]
    assert admission.environments[0]["agi_uniqueid"] == recording.agi_sessions[0][1].uniqueid
