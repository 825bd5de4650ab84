"""Every recording of a real Asterisk, read through a socket by the framing and by the client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from callmeter.ami.framing import MAX_FRAME_BYTES, FrameReader, parse_frame
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.replay import load_recording, replay
from tests.ami.support import SECRET, Recorder, fast_settings, running_client

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"
RECORDINGS = sorted(FIXTURES.glob("*.ami.jsonl")) + sorted(FIXTURES.glob("*.ami-all.jsonl"))
RECORDINGS += sorted((FIXTURES / "no-timestamps").glob("*.jsonl"))
RECORDINGS = [path for path in RECORDINGS if ".agi." not in path.name]


def _incoming_frames(path: Path) -> list[str]:
    """Return the recorded frames Asterisk sent, without the banner and the EOF mark."""
    frames = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["dir"] == "in" and str(record["raw"]).endswith("\r\n\r\n"):
            frames.append(str(record["raw"]))
    return frames


def test_recordings_found() -> None:
    assert len(RECORDINGS) >= 30


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda path: str(path.relative_to(FIXTURES)))
async def test_recording_frames_parsed_through_socket(path: Path) -> None:
    frames = _incoming_frames(path)
    parsed = []
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reading = FrameReader(reader)
        while (frame := await reading.read_frame()) is not None:
            parsed.append(parse_frame(frame, 0.0))
        writer.close()
        done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=MAX_FRAME_BYTES)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    # Odd-sized chunks split frames, header lines and multibyte characters.
    data = "".join(frames).encode("utf-8")
    for start in range(0, len(data), 1777):
        writer.write(data[start : start + 1777])
    await writer.drain()
    writer.close()
    await asyncio.wait_for(done.wait(), 10)
    server.close()

    assert len(parsed) == len(frames)
    assert all(message is not None for message in parsed)
    assert [message.event for message in parsed if message] == [
        next((line[7:] for line in frame.split("\r\n") if line.startswith("Event: ")), None) for frame in frames
    ]


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda path: str(path.relative_to(FIXTURES)))
async def test_recording_replayed_to_client(path: Path) -> None:
    recording = load_recording(path)
    recorder = Recorder()
    async with AmiServer(secret=SECRET) as server:
        settings = fast_settings(server.port, ping_interval_seconds=5.0)
        async with running_client(settings, recorder) as client:
            await replay(server, recording, speed=1_000_000, login_timeout_seconds=5)
            if not recording.login_accepted:
                await asyncio.sleep(0.1)
                assert not client.connected
                return
            if recording.close_offset_seconds is None:
                await client.wait_connected(5)
                await client.ping()
            expected = len(recording.events) + 1  # plus the live server's FullyBooted
            await recorder.wait_for(lambda: len(recorder.events) >= expected)

    replayed = [message for message in recorder.events if message.event != "FullyBooted"]
    assert len(replayed) == len(recording.events)
    assert [message.get("Timestamp") for message in replayed] == [
        next((line[11:] for line in event.raw.split("\r\n") if line.startswith("Timestamp: ")), None)
        for event in recording.events
    ]


def test_recording_event_count_matches_frames() -> None:
    recording = load_recording(FIXTURES / "s09-concurrent-same-customer.ami.jsonl")
    frames = _incoming_frames(FIXTURES / "s09-concurrent-same-customer.ami.jsonl")

    responses = [frame for frame in frames if not frame.startswith("Event: ")]
    list_items = [frame for frame in frames if "ActionID: cap-2\r\nChannel:" in frame or "Event: Status\r\n" in frame]
    completes = [frame for frame in frames if "EventList: Complete" in frame]
    booted = [frame for frame in frames if frame.startswith("Event: FullyBooted")]
    assert len(recording.events) == len(frames) - len(responses) - len(list_items) - len(completes) - len(booted)
    assert len(recording.agi_sessions) == 3
