"""The simulated PBX side of FastAGI, against a small scripted server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from callmeter.admission.protocol import parse_result, quote_argument, split_arguments
from callmeter.simulator.agi_client import agi_environment, load_recorded_sessions, run_agi_session

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"
RECORDED_KEYS = [
    "agi_network",
    "agi_network_script",
    "agi_request",
    "agi_channel",
    "agi_language",
    "agi_type",
    "agi_uniqueid",
    "agi_version",
    "agi_callerid",
    "agi_calleridname",
    "agi_callingpres",
    "agi_callingani2",
    "agi_callington",
    "agi_callingtns",
    "agi_dnid",
    "agi_rdnis",
    "agi_context",
    "agi_extension",
    "agi_priority",
    "agi_enhanced",
    "agi_accountcode",
    "agi_threadid",
]


@dataclass
class Scripted:
    port: int
    environment: list[str]
    replies: list[str]
    done: asyncio.Event

    async def finished(self) -> list[str]:
        """Wait until the server handler has ended, then return the replies it read."""
        await asyncio.wait_for(self.done.wait(), timeout=5)
        return self.replies


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[list[str]], Awaitable[Scripted]]]:
    """Start servers that read the environment, send fixed commands and keep every reply."""
    servers: list[asyncio.Server] = []

    async def start(commands: list[str]) -> Scripted:
        environment: list[str] = []
        replies: list[str] = []
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while (line := (await reader.readline()).decode()) not in ("\n", ""):
                environment.append(line)
            for command in commands:
                writer.write((command + "\n").encode())
                await writer.drain()
                reply = (await reader.readline()).decode()
                if not reply:
                    break
                replies.append(reply.rstrip("\n"))
            writer.close()
            done.set()

        server, port = await _serve(handle)
        servers.append(server)
        return Scripted(port, environment, replies, done)

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


class TestAgiEnvironment:
    def test_keys_in_recorded_order(self) -> None:
        recorded = load_recorded_sessions(FIXTURES / "s01-agent-hangs-up.agi.jsonl")[0]
        built = agi_environment("1.1", "PJSIP/trunk-00000001", "0612345678", "Jan Jansen")
        assert list(built) == list(recorded.env) == RECORDED_KEYS

    def test_missing_number_and_name_read_unknown(self) -> None:
        built = agi_environment("1.2", "PJSIP/trunk-00000002", "", callingpres=67)
        assert built["agi_callerid"] == "unknown"
        assert built["agi_calleridname"] == "unknown"
        assert built["agi_callingpres"] == "67"
        assert built["agi_type"] == "PJSIP"

    def test_linkedid_only_when_given(self) -> None:
        assert "agi_linkedid" not in agi_environment("1.3", "PJSIP/x-1", "0612345678")
        assert agi_environment("1.3", "PJSIP/x-1", "0612345678", linkedid="1.0")["agi_linkedid"] == "1.0"


class TestRunAgiSession:
    async def test_answers_like_asterisk(self, scripted) -> None:  # type: ignore[no-untyped-def]
        script = await scripted(
            [
                'GET VARIABLE "CALLERID(num-pres)"',
                'GET VARIABLE "NOT_SET"',
                'SET VARIABLE CALLMETER_VERDICT "admitted"',
                'SET VARIABLE CALLMETER_PROMPT "a \\"b\\" c"',
                "GET VARIABLE CALLMETER_VERDICT",
                "SAY NUMBER 5 ''",
            ]
        )
        env = agi_environment("7.1", "PJSIP/trunk-1", "0612345678", request_port=script.port)
        result = await run_agi_session(
            "127.0.0.1", script.port, env, {"CALLERID(num-pres)": "allowed_not_screened"}
        )
        replies = await script.finished()
        environment = script.environment
        assert environment[0] == "agi_network: yes\n"
        assert "agi_accountcode: \n" in environment
        assert replies == [
            "200 result=1 (allowed_not_screened)",
            "200 result=0",
            "200 result=1",
            "200 result=1",
            "200 result=1 (admitted)",
            "510 Invalid or unknown command",
        ]
        assert result.variables == {"CALLMETER_VERDICT": "admitted", "CALLMETER_PROMPT": 'a "b" c'}
        assert len(result.commands) == 6
        assert result.hung_up is False

    async def test_hangup_answers_hangup_then_511(self, scripted) -> None:  # type: ignore[no-untyped-def]
        script = await scripted(['GET VARIABLE "CALLERID(num-pres)"', "SET VARIABLE A 1", "X"])
        env = agi_environment("7.2", "PJSIP/trunk-2", "0612345678")
        result = await run_agi_session("127.0.0.1", script.port, env, hangup_after_commands=1)
        replies = await script.finished()
        assert replies == [
            "200 result=0",
            "HANGUP",
            "511 Command Not Permitted on a dead channel or intercept routine",
        ]
        assert result.hung_up is True
        assert result.commands == ['GET VARIABLE "CALLERID(num-pres)"', "SET VARIABLE A 1"]

    async def test_silent_server_times_out(self) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            writer.close()

        server, port = await _serve(handle)
        try:
            with pytest.raises(TimeoutError):
                await run_agi_session("127.0.0.1", port, agi_environment("7.3", "X/y", "1"), timeout=0.2)
        finally:
            server.close()
            await server.wait_closed()


class TestLoadRecordedSessions:
    def test_s03_has_five_sessions_with_recorded_presentation(self) -> None:
        sessions = load_recorded_sessions(FIXTURES / "s03-withheld-prohib.agi.jsonl")
        assert [s.env["agi_callerid"] for s in sessions] == [
            "0612345678",
            "unknown",
            "anonymous",
            "Restricted",
            "unknown",
        ]
        assert [s.variable_answers["CALLERID(num-pres)"] for s in sessions] == [
            "prohib_not_screened",
            "prohib",
            "allowed_not_screened",
            "allowed_not_screened",
            "allowed_not_screened",
        ]
        assert all(s.recorded_variables["CALLMETER_VERDICT"] == "withheld" for s in sessions)

    def test_every_recording_parses(self) -> None:
        paths = sorted(FIXTURES.glob("*.agi.jsonl")) + sorted(FIXTURES.glob("no-timestamps/*.agi.jsonl"))
        assert paths
        for path in paths:
            sessions = load_recorded_sessions(path)
            assert sessions, path
            for session in sessions:
                assert list(session.env) == RECORDED_KEYS, path
                assert session.env["agi_accountcode"] == ""


class TestProtocol:
    def test_quote_round_trips(self) -> None:
        for value in ("admitted", "", 'a "b"', "back\\slash", "two words"):
            assert split_arguments(f"SET VARIABLE X {quote_argument(value)}")[3] == value

    def test_parse_result_with_data(self) -> None:
        parsed = parse_result("200 result=1 (allowed_not_screened)\n")
        assert parsed is not None
        assert parsed.code == 200
        assert parsed.result == "1"
        assert parsed.data == "allowed_not_screened"

    def test_parse_result_rejects_hangup_line(self) -> None:
        assert parse_result("HANGUP") is None
