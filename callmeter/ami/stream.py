"""A client connection whose received bytes are handed over in the chunks the socket delivered.

``asyncio.open_connection`` copies every received chunk into the
StreamReader's buffer and copies it out again on each read. In the AMI
ingest benchmark, reading through :class:`ChunkReader` instead, which keeps
the chunks as they are, cut the client's CPU time by about a sixth.
Writing still goes through a plain ``asyncio.StreamWriter``.
"""

from __future__ import annotations

import asyncio
import fcntl
import ssl
import struct
import termios
from collections import deque
from typing import cast


class ChunkReader:
    """Received bytes in arrival order, with flow control: reading pauses above ``limit`` bytes buffered."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._exception: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.Transport | None = None
        self._paused = False

    def set_transport(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        self._wake()
        if self._buffered > self._limit and not self._paused and self._transport is not None:
            self._transport.pause_reading()
            self._paused = True

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, error: BaseException) -> None:
        self._exception = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def has_unread(self) -> bool:
        """Tell whether received bytes are still unread, in this buffer or in the kernel.

        A busy event loop reads its sockets late, so received events can
        wait in the kernel's receive buffer while the client's own queue is
        empty. Metering checks this before it trusts that no Hangup is pending.
        """
        if self._buffered:
            return True
        socket = self._transport.get_extra_info("socket") if self._transport is not None else None
        if socket is None:
            return False
        try:
            pending = fcntl.ioctl(socket.fileno(), termios.FIONREAD, struct.pack("i", 0))
        except (OSError, ValueError):
            # Closed meanwhile: nothing more will arrive on this socket.
            return False
        unread: int = struct.unpack("i", pending)[0]
        return unread > 0

    async def read(self, n: int) -> bytes:
        """Return up to ``n`` bytes, waiting for at least one; b"" at EOF."""
        while not self._chunks:
            if self._exception is not None:
                raise self._exception
            if self._eof:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        first = self._chunks.popleft()
        if len(first) > n:
            # Rarely needed, because FrameReader requests as much as asyncio's transport receives at once.
            self._chunks.appendleft(first[n:])
            first = first[:n]
        parts = [first]
        size = len(first)
        while self._chunks and size + len(self._chunks[0]) <= n:
            chunk = self._chunks.popleft()
            parts.append(chunk)
            size += len(chunk)
        self._buffered -= size
        if self._paused and self._buffered <= self._limit // 2 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return first if len(parts) == 1 else b"".join(parts)


class _ChunkProtocol(asyncio.StreamReaderProtocol):
    """The protocol of ``open_connection``, feeding a ChunkReader in place of a StreamReader."""

    def __init__(self, chunks: ChunkReader, loop: asyncio.AbstractEventLoop) -> None:
        # StreamWriter expects a StreamReader. This one only receives the end of the stream.
        self.placeholder = asyncio.StreamReader(loop=loop)
        super().__init__(self.placeholder, loop=loop)
        self._chunks = chunks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # No isinstance check: uvloop's transports have these methods without subclassing asyncio.Transport.
        self._chunks.set_transport(cast(asyncio.Transport, transport))

    def data_received(self, data: bytes) -> None:
        self._chunks.feed(data)

    def eof_received(self) -> bool:
        self._chunks.feed_eof()
        return bool(super().eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self._chunks.feed_eof()
        else:
            self._chunks.set_exception(exc)
        super().connection_lost(exc)


async def open_chunked_connection(
    host: str, port: int, *, limit: int, ssl_context: ssl.SSLContext | None = None
) -> tuple[ChunkReader, asyncio.StreamWriter]:
    """Connect like ``asyncio.open_connection``, reading through a ChunkReader."""
    loop = asyncio.get_running_loop()
    chunks = ChunkReader(limit)
    protocol = _ChunkProtocol(chunks, loop)
    transport, _ = await loop.create_connection(
        lambda: protocol, host, port, ssl=ssl_context, server_hostname=host if ssl_context else None
    )
    return chunks, asyncio.StreamWriter(transport, protocol, protocol.placeholder, loop)
