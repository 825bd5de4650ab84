"""The PBX side of FastAGI: what Asterisk sends and how it replies.

``run_agi_session`` plays one ``AGI(agi://host:port/admit)`` call as a real
Asterisk does: it sends the ``agi_*`` environment, then replies to each command
line of the server until the server closes the socket. Tests, the simulated
PBX, the demo and the benchmarks use it. ``load_recorded_sessions`` reads the
sessions recorded from a real Asterisk, so a replay can send the recorded
environment and answer ``GET VARIABLE`` exactly as the recording did.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from callmeter.admission.protocol import (
    HANGUP_LINE,
    RESULT_DEAD_CHANNEL,
    RESULT_OK,
    RESULT_UNKNOWN_COMMAND,
    RESULT_ZERO,
    parse_result,
    split_arguments,
)

# The version string of the Asterisk (upstream master) the recordings come from.
AGI_VERSION = "GIT-master-f0c1c1a7b7"

# Maximum length of a command line from the server, because admission sends only short commands.
MAX_LINE_BYTES = 8192


def agi_environment(
    uniqueid: str,
    channel: str,
    callerid: str,
    calleridname: str = "",
    callingpres: int = 0,
    linkedid: str | None = None,
    extension: str = "0387370296",
    context: str = "from-trunk-038",
    language: str = "nl",
    *,
    request_host: str = "127.0.0.1",
    request_port: int = 4573,
    priority: int = 4,
) -> dict[str, str]:
    """Build the ``agi_*`` environment block, with the keys in the order Asterisk sends them.

    Asterisk writes ``unknown`` for a missing number or name, as the
    recordings show. It never sends ``agi_linkedid``; the key is added at the
    end only when ``linkedid`` is given, because the admission server reads
    it when present.
    """
    technology = channel.partition("/")[0] if "/" in channel else "Unknown"
    environment = {
        "agi_network": "yes",
        "agi_network_script": "admit",
        "agi_request": f"agi://{request_host}:{request_port}/admit",
        "agi_channel": channel,
        "agi_language": language,
        "agi_type": technology,
        "agi_uniqueid": uniqueid,
        "agi_version": AGI_VERSION,
        "agi_callerid": callerid or "unknown",
        "agi_calleridname": calleridname or "unknown",
        "agi_callingpres": str(callingpres),
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "unknown",
        "agi_rdnis": "unknown",
        "agi_context": context,
        "agi_extension": extension,
        "agi_priority": str(priority),
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        # Asterisk sends the id of the channel thread; any stable number will do.
        "agi_threadid": str(140_000_000_000_000 + zlib.crc32(uniqueid.encode())),
    }
    if linkedid is not None:
        environment["agi_linkedid"] = linkedid
    return environment


@dataclass
class AgiSessionResult:
    """The outcome of one simulated FastAGI session."""

    variables: dict[str, str]  # every SET VARIABLE name -> value
    commands: list[str]  # raw command lines received from the server
    hung_up: bool  # the client simulated a hangup


def _answer(command: str, channel_vars: dict[str, str], variables: dict[str, str]) -> str:
    """Return the result line Asterisk writes for one command line."""
    words = split_arguments(command)
    verb = " ".join(word.upper() for word in words[:2])
    if verb == "GET VARIABLE" and len(words) == 3:
        value = variables.get(words[2], channel_vars.get(words[2]))
        return RESULT_ZERO if value is None else f"{RESULT_OK} ({value})"
    if verb == "SET VARIABLE" and len(words) == 4:
        variables[words[2]] = words[3]
        return RESULT_OK
    first = words[0].upper() if words else ""
    if first == "NOOP":
        return RESULT_ZERO
    if first == "VERBOSE":
        return RESULT_OK
    if first == "ANSWER":
        return RESULT_ZERO
    return RESULT_UNKNOWN_COMMAND


async def _converse(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    env: dict[str, str],
    known: dict[str, str],
    result: AgiSessionResult,
    hangup_after_commands: int | None,
) -> None:
    block = "".join(f"{name}: {value}\n" for name, value in env.items()) + "\n"
    writer.write(block.encode())
    await writer.drain()

    while True:
        line = await reader.readline()
        if not line:
            return
        command = line.decode("utf-8", errors="replace").rstrip("\r\n")
        result.commands.append(command)
        if hangup_after_commands is not None and len(result.commands) > hangup_after_commands:
            writer.write(f"{HANGUP_LINE}\n{RESULT_DEAD_CHANNEL}\n".encode())
            await writer.drain()
            result.hung_up = True
            return
        writer.write((_answer(command, known, result.variables) + "\n").encode())
        await writer.drain()


async def run_agi_session(
    host: str,
    port: int,
    env: dict[str, str],
    channel_vars: dict[str, str] | None = None,
    *,
    hangup_after_commands: int | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109 because callers pass one bound for the whole session
) -> AgiSessionResult:
    """Run one FastAGI session against a server and return what it set.

    The session ends when the server closes the connection. With
    ``hangup_after_commands=N`` the caller hangs up after N commands were
    answered: the next command gets ``HANGUP`` and then the 511 result of a
    dead channel, and the client closes. The whole session is bounded by
    ``timeout`` seconds and raises TimeoutError beyond it.
    """
    known = dict(channel_vars or {})
    result = AgiSessionResult(variables={}, commands=[], hung_up=False)
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, limit=MAX_LINE_BYTES)
        try:
            await _converse(reader, writer, env, known, result, hangup_after_commands)
        except ConnectionError:
            # The server closed the socket with bytes unread, so the kernel reset it.
            # Asterisk treats that as the end of the AGI session, and so does the client.
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    return result


@dataclass
class RecordedAgiSession:
    """One FastAGI session of a recording."""

    env: dict[str, str]  # the agi_* block, in the recorded order
    variable_answers: dict[str, str | None] = field(default_factory=dict)  # GET VARIABLE name -> value
    commands: list[str] = field(default_factory=list)  # command lines the recording server sent
    recorded_variables: dict[str, str] = field(default_factory=dict)  # what the recording server set

    @property
    def uniqueid(self) -> str:
        return self.env["agi_uniqueid"]

    @property
    def channel_vars(self) -> dict[str, str]:
        """Return the GET VARIABLE answers in the form ``run_agi_session`` takes."""
        return {name: value for name, value in self.variable_answers.items() if value is not None}


def load_recorded_sessions(path: Path) -> list[RecordedAgiSession]:
    """Parse an ``*.agi.jsonl`` recording into its sessions, in recorded order.

    Each line is ``{"t": seconds, "dir": "in" | "out", "raw": text}``, where
    ``in`` is what Asterisk sent. A session starts with an ``agi_*`` line
    after the previous session's commands.
    """
    sessions: list[RecordedAgiSession] = []
    current: RecordedAgiSession | None = None
    in_environment = False
    pending_get: str | None = None

    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        record = json.loads(text)
        raw = str(record["raw"]).rstrip("\n")
        if record["dir"] == "in":
            if raw.startswith("agi_") and not in_environment:
                current = RecordedAgiSession(env={})
                sessions.append(current)
                in_environment = True
            if current is None:
                raise ValueError(f"{path}:{number}: result line before any agi_* environment")
            if in_environment:
                if raw == "":
                    in_environment = False
                else:
                    name, _, value = raw.partition(": ")
                    current.env[name] = value
                continue
            if pending_get is not None:
                parsed = parse_result(raw)
                value_ok = parsed is not None and parsed.code == 200 and parsed.result == "1"
                current.variable_answers[pending_get] = parsed.data if value_ok and parsed else None
                pending_get = None
        else:
            if current is None or in_environment:
                raise ValueError(f"{path}:{number}: command before the end of an agi_* environment")
            current.commands.append(raw)
            words = split_arguments(raw)
            verb = " ".join(word.upper() for word in words[:2])
            if verb == "GET VARIABLE" and len(words) == 3:
                pending_get = words[2]
            elif verb == "SET VARIABLE" and len(words) == 4:
                current.recorded_variables[words[2]] = words[3]
    return sessions
