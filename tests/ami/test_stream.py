"""The chunked client connection over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from callmeter.ami.stream import ChunkReader, open_chunked_connection

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
PAYLOAD = bytes(range(256)) * 16 * 1024  # 4 MiB
LIMIT = 256 * 1024


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _send_payload(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(PAYLOAD)
    await writer.drain()
    writer.close()


async def _read_all(chunks: ChunkReader, n: int) -> bytes:
    parts: list[bytes] = []
    while data := await asyncio.wait_for(chunks.read(n), 5):
        assert len(data) <= n
        parts.append(data)
    return b"".join(parts)


async def test_bytes_arrive_whole_and_in_order(serve: Callable[[Handler], Awaitable[int]]) -> None:
    port = await serve(_send_payload)
    chunks, writer = await open_chunked_connection("127.0.0.1", port, limit=LIMIT)

    received = await _read_all(chunks, 100_000)
    writer.close()

    assert received == PAYLOAD


async def test_reading_pauses_while_buffer_full(serve: Callable[[Handler], Awaitable[int]]) -> None:
    port = await serve(_send_payload)
    chunks, writer = await open_chunked_connection("127.0.0.1", port, limit=LIMIT)
    transport = writer.transport
    assert isinstance(transport, asyncio.Transport)

    for _ in range(200):
        if not transport.is_reading():
            break
        await asyncio.sleep(0.01)
    paused = not transport.is_reading()
    received = await _read_all(chunks, LIMIT)
    writer.close()

    assert paused
    assert received == PAYLOAD


async def test_writes_reach_the_server(serve: Callable[[Handler], Awaitable[int]]) -> None:
    echoed: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def echo_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        echoed.set_result(line)
        writer.write(line.upper())
        await writer.drain()
        writer.close()

    port = await serve(echo_line)
    chunks, writer = await open_chunked_connection("127.0.0.1", port, limit=LIMIT)
    writer.write(b"action: ping\r\n")
    await writer.drain()

    reply = await _read_all(chunks, LIMIT)
    writer.close()
    await writer.wait_closed()

    assert await echoed == b"action: ping\r\n"
    assert reply == b"ACTION: PING\r\n"


async def test_read_splits_a_chunk_longer_than_asked() -> None:
    chunks = ChunkReader(LIMIT)
    chunks.feed(b"abcdef")
    chunks.feed(b"gh")
    chunks.feed_eof()

    assert await chunks.read(4) == b"abcd"
    assert await chunks.read(4) == b"efgh"
    assert await chunks.read(4) == b""


async def test_lost_connection_raises_on_read() -> None:
    chunks = ChunkReader(LIMIT)
    chunks.feed(b"last")
    chunks.set_exception(ConnectionResetError("reset by peer"))

    assert await chunks.read(10) == b"last"
    with pytest.raises(ConnectionResetError):
        await chunks.read(10)


def test_chunked_connection_on_uvloop() -> None:
    # uvloop's transports do not subclass asyncio.Transport; the service may run on uvloop.
    uvloop = pytest.importorskip("uvloop")

    async def exchange() -> bytes:
        server = await asyncio.start_server(_send_payload, "127.0.0.1", 0)
        port = int(server.sockets[0].getsockname()[1])
        try:
            chunks, writer = await open_chunked_connection("127.0.0.1", port, limit=LIMIT)
            received = await _read_all(chunks, LIMIT)
            writer.close()
            return received
        finally:
            server.close()
            await server.wait_closed()

    assert uvloop.run(exchange()) == PAYLOAD


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll a condition that depends on the kernel delivering bytes; False when it never holds."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_bytes_waiting_in_the_kernel_count_as_unread(serve: Callable[[Handler], Awaitable[int]]) -> None:
    sent = asyncio.Event()

    async def send_one_event(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Event: Hangup\r\nUniqueid: 1.1\r\n\r\n")
        await writer.drain()
        sent.set()
        await reader.read()  # keep the connection open until the client closes it

    port = await serve(send_one_event)
    chunks, writer = await open_chunked_connection("127.0.0.1", port, limit=LIMIT)
    # A busy event loop reads its sockets late, and a paused transport imitates that.
    writer.transport.pause_reading()
    await asyncio.wait_for(sent.wait(), 5)
    assert await _until(chunks.has_unread), "the event never showed as waiting in the receive buffer"

    writer.transport.resume_reading()
    assert await asyncio.wait_for(chunks.read(LIMIT), 5) == b"Event: Hangup\r\nUniqueid: 1.1\r\n\r\n"
    assert not chunks.has_unread()
    writer.close()
    await writer.wait_closed()
    assert not chunks.has_unread()
