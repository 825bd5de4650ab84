"""The AMI client's event filter, against the simulated PBX over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callmeter.ami.client import AmiClient
from callmeter.db import Database
from callmeter.metering import Meter
from callmeter.metrics import AMI_EVENTS_SKIPPED, AMI_FRAMES_READ
from callmeter.service import Service
from callmeter.settings import Settings
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.channels import STATE_UP, SimChannel
from tests.ami.support import SECRET, Recorder, fast_settings, running_client

HANDLED = {"Hangup", "userevent"}


def _frame(name: str, number: int, *extra: str) -> bytes:
    lines = [f"Event: {name}", "Privilege: call,all", f"Number: {number}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _numbers(recorder: Recorder) -> list[tuple[str, str]]:
    return [(message.event or "", message.get("Number") or "") for message in recorder.events]


class _Channels:
    """Two live channels; listing them first sends one unwanted and one wanted event."""

    def __init__(self) -> None:
        self.server: AmiServer | None = None

    def list_channels(self) -> list[SimChannel]:
        assert self.server is not None
        # Written before the list's response, so they arrive while the list is pending.
        self.server.send_raw(_frame("VarSet", 90) + _frame("UserEvent", 91))
        return [
            SimChannel(f"PJSIP/trunk-0000000{n}", f"1796413009.{n}", "1796413009.1", 1796413009.0, "PJSIP/trunk",
                       state=STATE_UP)
            for n in (1, 2)
        ]

    async def hangup(self, channel: str, cause: int) -> bool:
        return False

    async def redirect(self, channel: str, context: str, exten: str, priority: int) -> bool:
        return False

    def setvar(self, channel: str, variable: str, value: str) -> bool:
        return False


@pytest.fixture
async def channels() -> _Channels:
    return _Channels()


@pytest.fixture
async def server(channels: _Channels) -> AsyncIterator[AmiServer]:
    async with AmiServer(secret=SECRET, target=channels) as started:
        channels.server = started
        yield started


@pytest.fixture
async def filtered(server: AmiServer) -> AsyncIterator[tuple[AmiClient, Recorder]]:
    recorder = Recorder()
    async with running_client(fast_settings(server.port), recorder, events=HANDLED) as client:
        await client.wait_connected(5)
        yield client, recorder


async def test_filtered_events_skip_handler(
    server: AmiServer, filtered: tuple[AmiClient, Recorder]
) -> None:
    client, recorder = filtered
    skipped_before = AMI_EVENTS_SKIPPED._value.get()
    read_before = client.frames_read
    names = ["VarSet", "Hangup", "Newexten", "CEL", "UserEvent", "hangup", "DeviceStateChange"]
    stream = b"".join(_frame(names[n % len(names)], n) for n in range(700))
    server.send_raw(stream)
    await server.broadcast([("Event", "UserEvent"), ("Privilege", "user,all"), ("Number", "end")])
    await recorder.wait_for(lambda: ("UserEvent", "end") in _numbers(recorder))

    expected = [(names[n % 7], str(n)) for n in range(700) if names[n % 7].lower() in {"hangup", "userevent"}]
    assert _numbers(recorder) == [*expected, ("UserEvent", "end")]
    unwanted = 700 - len(expected)
    assert client.frames_read - read_before == 701
    # FullyBooted came at the login, before this test's events.
    assert client.events_skipped == unwanted + 1
    assert AMI_EVENTS_SKIPPED._value.get() - skipped_before == unwanted
    assert AMI_FRAMES_READ._value.get() >= client.frames_read
    assert client.event_filter == frozenset({"hangup", "userevent", "shutdown"})


async def test_frames_split_across_reads(server: AmiServer, filtered: tuple[AmiClient, Recorder]) -> None:
    _, recorder = filtered
    stream = _frame("VarSet", 1) + _frame("Hangup", 2) + _frame("Newexten", 3) + _frame("UserEvent", 4)
    # Cut inside an unwanted name, inside a wanted name, and between CR LF CR and LF.
    cuts = [stream.index(b"Set"), stream.index(b"gup"), stream.index(b"\r\n\r\nEvent: Newexten") + 3]
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        server.send_raw(stream[start:end])
        await asyncio.sleep(0.05)
    await recorder.wait_for(lambda: ("UserEvent", "4") in _numbers(recorder))

    assert _numbers(recorder) == [("Hangup", "2"), ("UserEvent", "4")]


async def test_odd_frames_filtered_after_parsing(
    server: AmiServer, filtered: tuple[AmiClient, Recorder]
) -> None:
    _, recorder = filtered
    server.send_raw(
        b"Event: Hangup\r\n\r\n"  # one line: no first-line key, so it passes to the parsed check
        b"Event: VarSet\r\n\r\n"
        b"Privilege: call,all\r\nEvent: VarSet\r\nNumber: 5\r\n\r\n"  # Event not first
        b"Privilege: call,all\r\nEvent: Hangup\r\nNumber: 6\r\n\r\n"
        b"Event: hangup\r\nNumber: 7\r\n\r\n"
    )
    await recorder.wait_for(lambda: len(recorder.events) >= 3)
    await asyncio.sleep(0.05)

    assert _numbers(recorder) == [("Hangup", ""), ("Hangup", "6"), ("hangup", "7")]


async def test_list_items_while_filtering(filtered: tuple[AmiClient, Recorder]) -> None:
    client, recorder = filtered

    items = await client.core_show_channels()
    await recorder.wait_for(lambda: ("UserEvent", "91") in _numbers(recorder))

    assert [item.event for item in items] == ["CoreShowChannel", "CoreShowChannel"]
    assert [item.uniqueid for item in items] == ["1796413009.1", "1796413009.2"]
    # The events sent while the list was open were filtered once parsed.
    assert _numbers(recorder) == [("UserEvent", "91")]


async def test_responses_while_filtering(filtered: tuple[AmiClient, Recorder]) -> None:
    client, recorder = filtered

    pong = await client.ping()
    unknown = await client.action("NoSuchAction")

    assert pong.get("Ping") == "Pong"
    assert unknown.response == "Error"
    assert recorder.events == []


async def test_shutdown_passes_filter(server: AmiServer, filtered: tuple[AmiClient, Recorder]) -> None:
    _, recorder = filtered

    await server.broadcast([("Event", "Shutdown"), ("Privilege", "system,all"), ("Shutdown", "Cleanly")])
    await recorder.wait_for(lambda: recorder.connected == 2)

    assert recorder.names() == ["Shutdown"]
    assert len(recorder.disconnected) == 1


async def test_oversized_frames_while_filtering(
    server: AmiServer, filtered: tuple[AmiClient, Recorder]
) -> None:
    client, recorder = filtered
    padding = "Data: " + "z" * (1024 * 1024)
    server.send_raw(_frame("VarSet", 1, padding) + _frame("Hangup", 2, padding) + _frame("Hangup", 3))
    await recorder.wait_for(lambda: ("Hangup", "3") in _numbers(recorder))

    assert client.connected
    assert _numbers(recorder) == [("Hangup", "3")]
    assert recorder.connected == 1


def test_service_filters_meter_events(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'callmeter.db'}")
    try:
        service = Service(Settings(), database, say=lambda _line: None, with_api=False)

        assert service.ami.event_filter == Meter.handled_events | {"shutdown"}
    finally:
        database.dispose()

