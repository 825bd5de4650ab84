"""The simulated AMI server as a raw client sees it: login, Logoff, Events and the banner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from callmeter.ami.framing import FrameReader, parse_frame
from callmeter.ami.message import Message
from callmeter.simulator.ami_server import AmiServer
from tests.ami.support import SECRET


@pytest.fixture
async def server() -> AsyncIterator[AmiServer]:
    async with AmiServer(secret=SECRET) as started:
        yield started


class RawSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.frames = FrameReader(reader)
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> tuple[RawSession, str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        session = cls(reader, writer)
        banner = await asyncio.wait_for(session.frames.read_line(), 5)
        return session, (banner or b"").decode()

    async def send(self, *headers: tuple[str, str]) -> None:
        self.writer.write(Message(list(headers)).encode())
        await self.writer.drain()

    async def receive(self) -> Message | None:
        frame = await asyncio.wait_for(self.frames.read_frame(), 5)
        return None if frame is None else parse_frame(frame, 0.0)


async def test_login_accepted_then_fully_booted(server: AmiServer) -> None:
    session, banner = await RawSession.open(server.port)
    await session.send(("Action", "Login"), ("ActionID", "cap-1"), ("Username", "callmeter"), ("Secret", SECRET))
    response = await session.receive()
    booted = await session.receive()

    assert banner == "Asterisk Call Manager/13.0.0"
    assert response is not None
    assert response.headers == [("Response", "Success"), ("ActionID", "cap-1"), ("Message", "Authentication accepted")]
    assert booted is not None
    assert booted.event == "FullyBooted"
    assert booted.get("Status") == "Fully Booted"


async def test_login_failed_closes_socket(server: AmiServer) -> None:
    session, _ = await RawSession.open(server.port)
    await session.send(("Action", "Login"), ("ActionID", "cap-1"), ("Username", "callmeter"), ("Secret", "wrong"))
    response = await session.receive()
    after = await session.receive()

    assert response is not None
    assert response.headers == [("Response", "Error"), ("ActionID", "cap-1"), ("Message", "Authentication failed")]
    assert after is None


async def test_action_before_login_rejected(server: AmiServer) -> None:
    session, _ = await RawSession.open(server.port)
    await session.send(("Action", "Ping"), ("ActionID", "x"))
    response = await session.receive()

    assert response is not None
    assert response.response == "Error"
    assert response.get("Message") == "Authentication Required"


async def test_events_filter_and_logoff(server: AmiServer) -> None:
    session, _ = await RawSession.open(server.port)
    await session.send(("Action", "Login"), ("Username", "callmeter"), ("Secret", SECRET))
    await session.receive()
    await session.receive()
    await session.send(("Action", "Events"), ("ActionID", "e"), ("EventMask", "cdr"))
    events_on = await session.receive()
    await server.broadcast([("Event", "Newchannel"), ("Privilege", "call,all")])
    await server.broadcast([("Event", "Cdr"), ("Privilege", "cdr,all")])
    cdr = await session.receive()
    await session.send(("Action", "Logoff"), ("ActionID", "bye"))
    goodbye = await session.receive()
    closed = await session.receive()

    assert events_on is not None
    assert events_on.get("Events") == "On"
    assert cdr is not None
    assert cdr.event == "Cdr"
    assert cdr.get("Timestamp")
    assert goodbye is not None
    assert goodbye.headers == [("Response", "Goodbye"), ("ActionID", "bye"), ("Message", "Thanks for all the fish.")]
    assert closed is None


async def test_empty_lists_match_recording(server: AmiServer) -> None:
    session, _ = await RawSession.open(server.port)
    await session.send(("Action", "Login"), ("Username", "callmeter"), ("Secret", SECRET))
    await session.receive()
    await session.receive()
    await session.send(("Action", "CoreShowChannels"), ("ActionID", "cap-3"))
    started = await session.receive()
    complete = await session.receive()
    await session.send(("Action", "Status"), ("ActionID", "cap-4"))
    status_started = await session.receive()
    status_complete = await session.receive()

    assert started is not None and complete is not None
    assert started.headers == [
        ("Response", "Success"), ("ActionID", "cap-3"), ("EventList", "start"), ("Message", "Channels will follow")
    ]
    assert complete.headers == [
        ("Event", "CoreShowChannelsComplete"), ("ActionID", "cap-3"), ("EventList", "Complete"), ("ListItems", "0")
    ]
    assert status_started is not None and status_complete is not None
    assert status_started.get("Message") == "Channel status will follow"
    assert status_complete.headers == [
        ("Event", "StatusComplete"),
        ("ActionID", "cap-4"),
        ("EventList", "Complete"),
        ("ListItems", "0"),
        ("Items", "0"),
    ]
