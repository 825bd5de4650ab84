"""Scheduled faults of the simulated PBX and how the AMI client recovers from each."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from callmeter.errors import InvalidInput
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.faults import Fault, parse_fault, run_faults
from tests.ami.support import SECRET, Recorder, fast_settings, running_client


@pytest.fixture
async def server() -> AsyncIterator[AmiServer]:
    async with AmiServer(secret=SECRET) as started:
        yield started


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("drop@30", Fault("drop", 30.0, 5.0)),
        ("silent@1.5+10", Fault("silent", 1.5, 10.0)),
        (" Reject@0+20 ", Fault("reject", 0.0, 20.0)),
        ("restart@120+2", Fault("restart", 120.0, 2.0)),
    ],
)
def test_parse_fault_accepts_written_form(text: str, expected: Fault) -> None:
    assert parse_fault(text) == expected


@pytest.mark.parametrize("text", ["", "drop", "drop@", "explode@3", "silent@-1", "silent@3+x", "drop@99999999"])
def test_parse_fault_rejects_bad_form(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_fault(text)

    assert "SOORT@SECONDEN" in raised.value.message("nl")


@pytest.mark.parametrize("kind", ["drop", "silent", "restart"])
async def test_client_recovers_from_fault(server: AmiServer, kind: str) -> None:
    recorder = Recorder()
    async with running_client(fast_settings(server.port), recorder) as client:
        await recorder.wait_for(lambda: recorder.connected == 1)
        await run_faults(server, [parse_fault(f"{kind}@0+0.3")])
        await recorder.wait_for(lambda: recorder.connected == 2)
        pong = await client.ping()

    assert len(recorder.disconnected) == 1
    assert pong.get("Ping") == "Pong"


async def test_rejected_logins_then_accepted(server: AmiServer) -> None:
    recorder = Recorder()
    await run_faults(server, [parse_fault("reject@0+0.3")])
    with capture_logs() as logs:
        async with running_client(fast_settings(server.port), recorder) as client:
            await client.wait_connected(5)

    assert "ami.login_failed" in [entry["event"] for entry in logs]
    assert recorder.connected == 1
    assert server.logins == 1
