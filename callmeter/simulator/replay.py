"""Replay of a recorded AMI stream, and its FastAGI sessions, to a live client.

A recording (``NAME.ami.jsonl`` or ``NAME.ami-all.jsonl``) contains every
frame a real Asterisk sent, with the time since the connection opened.
The replay logs the client in, then sends the recorded events unchanged,
Timestamps included, at the recorded offsets divided by the speed factor.
When a matching ``NAME.agi.jsonl`` exists and a FastAGI address is given,
each recorded admission is run against it at its recorded moment, with the
recorded environment and ``CALLERID(num-pres)`` answer.

What is not replayed: the banner, responses (the live server answers the
client's own actions), items of the recording client's list actions, and
``FullyBooted``, which the live server sends at login.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from callmeter.simulator.agi_client import RecordedAgiSession, load_recorded_sessions, run_agi_session
from callmeter.simulator.ami_server import AmiServer

log = structlog.get_logger(__name__)

EOF_MARK = "<EOF>"


@dataclass(frozen=True)
class RecordedEvent:
    offset_seconds: float  # since the recorded login response
    raw: str  # the whole frame, terminator included


@dataclass
class Recording:
    """The parts of a recording that a replay sends."""

    events: list[RecordedEvent] = field(default_factory=list)
    login_accepted: bool = True
    close_offset_seconds: float | None = None  # Asterisk closed the socket (not after a Logoff)
    agi_sessions: list[tuple[float, RecordedAgiSession]] = field(default_factory=list)


def _headers(raw: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.split("\r\n"):
        name, separator, value = line.partition(": ")
        if separator:
            headers.setdefault(name.lower(), value)
    return headers


def load_recording(path: Path) -> Recording:
    """Read an ``*.ami.jsonl`` or ``*.ami-all.jsonl`` file and its ``*.agi.jsonl`` sibling."""
    recording = Recording()
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    login_at: float | None = None
    open_lists: set[str] = set()
    logged_off = False
    for record in records:
        if record["dir"] != "in":
            if str(record["raw"]).startswith("Action: Logoff"):
                logged_off = True
            continue
        raw = str(record["raw"])
        offset = float(record["t"]) - (login_at or 0.0)
        if raw == EOF_MARK:
            if not logged_off:
                recording.close_offset_seconds = max(offset, 0.0)
            continue
        if not raw.endswith("\r\n\r\n"):
            continue  # the banner
        headers = _headers(raw)
        action_id = headers.get("actionid")
        if "event" not in headers:
            if login_at is None:
                login_at = float(record["t"])
                recording.login_accepted = headers.get("response", "").lower() == "success"
            if action_id is not None and headers.get("eventlist", "").lower() == "start":
                open_lists.add(action_id)
            continue
        if action_id is not None and action_id in open_lists:
            if headers.get("eventlist", "").lower() == "complete":
                open_lists.discard(action_id)
            continue
        if headers["event"] == "FullyBooted":
            continue
        recording.events.append(RecordedEvent(max(offset, 0.0), raw))

    agi_path = _agi_sibling(path)
    if agi_path is not None:
        starts = _agi_session_starts(agi_path)
        sessions = load_recorded_sessions(agi_path)
        base = login_at or 0.0
        recording.agi_sessions = [(max(t - base, 0.0), session) for t, session in zip(starts, sessions, strict=True)]
    return recording


def _agi_sibling(path: Path) -> Path | None:
    name = path.name
    for suffix in (".ami-all.jsonl", ".ami.jsonl"):
        if name.endswith(suffix):
            candidate = path.with_name(name.removesuffix(suffix) + ".agi.jsonl")
            return candidate if candidate.is_file() else None
    return None


def _agi_session_starts(path: Path) -> list[float]:
    starts: list[float] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            if record["dir"] == "in" and str(record["raw"]).startswith("agi_network:"):
                starts.append(float(record["t"]))
    return starts


async def replay(
    server: AmiServer,
    recording: Recording,
    *,
    speed: float = 1.0,
    agi_address: tuple[str, int] | None = None,
    login_timeout_seconds: float | None = 30.0,
) -> None:
    """Wait for a client to log in, then send the recording to it at ``speed`` times real time.

    With ``login_timeout_seconds=None`` the replay starts at once, logged-in client or not.
    """
    assert speed > 0, f"speed must be positive, got {speed}"
    if not recording.login_accepted:
        server.reject_logins(login_timeout_seconds or 30.0)
        return
    if login_timeout_seconds is not None:
        async with asyncio.timeout(login_timeout_seconds):
            await server.wait_for_client()

    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.TaskGroup() as group:
        if agi_address is not None:
            for offset, session in recording.agi_sessions:
                group.create_task(_replay_agi(agi_address, session, started + offset / speed))
        for event in recording.events:
            delay = started + event.offset_seconds / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            server.send_raw(event.raw.encode("utf-8"))
        if recording.close_offset_seconds is not None:
            delay = started + recording.close_offset_seconds / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await server.drop_connections()


async def _replay_agi(address: tuple[str, int], session: RecordedAgiSession, at: float) -> None:
    loop = asyncio.get_running_loop()
    delay = at - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)
    try:
        result = await run_agi_session(address[0], address[1], session.env, session.channel_vars)
    except (OSError, TimeoutError) as error:
        log.warning("simulator.agi_failed", uniqueid=session.uniqueid, error=str(error) or type(error).__name__)
        return
    recorded = session.recorded_variables.get("CALLMETER_VERDICT")
    verdict = result.variables.get("CALLMETER_VERDICT")
    log.info("simulator.agi_replayed", uniqueid=session.uniqueid, verdict=verdict, recorded_verdict=recorded)
