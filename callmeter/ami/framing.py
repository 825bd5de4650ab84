"""AMI framing: split a byte stream into frames and frames into messages.

An AMI frame is a block of ``Name: value`` lines ending in a blank line
(``\\r\\n\\r\\n``). Frames are split on raw bytes, so a multibyte character
split across TCP reads is decoded only once the whole frame is in. Both the
client and the simulated PBX read with :class:`FrameReader`.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import structlog

from callmeter.ami.message import Message

log = structlog.get_logger(__name__)

TERMINATOR = b"\r\n\r\n"
LINE_END = b"\r\n"

# The largest frame accepted. The largest frame in the recordings of a real
# Asterisk is 1163 bytes (a LocalBridge event), so a frame over 64 KiB is
# garbage or an attack and is skipped.
MAX_FRAME_BYTES = 64 * 1024

# Bytes asked of the socket per read. A busy link delivers hundreds of frames
# per read; a quiet one returns whatever has arrived.
READ_CHUNK_BYTES = 256 * 1024

# Older Asterisk versions respond to ``Command`` with ``Response: Follows`` and raw
# output lines, closed by this marker instead of Output headers.
# TODO: such output that contains a blank line is split into two frames; only
# single-frame Follows responses are parsed whole.
END_COMMAND = "--END COMMAND--"


class ByteSource(Protocol):
    """The byte stream FrameReader reads: an asyncio.StreamReader or a ChunkReader."""

    async def read(self, n: int) -> bytes: ...


class FrameReader:
    """Read whole AMI frames from a byte source, skipping oversized ones.

    The reader takes large chunks and splits every whole frame in a chunk at
    once, so a busy link costs one read per chunk, not one per frame. A
    frame longer than ``max_frame_bytes`` is discarded up to its terminator
    and logged, and reading goes on with the next frame. At most one partial
    frame of up to ``max_frame_bytes`` is buffered.
    """

    def __init__(
        self,
        reader: ByteSource,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        read_chunk_bytes: int = READ_CHUNK_BYTES,
    ) -> None:
        self._reader = reader
        self._max_frame_bytes = max_frame_bytes
        self._read_chunk_bytes = read_chunk_bytes
        self._buffer = b""
        self._frames: deque[bytes] = deque()
        # Bytes of an oversized frame dropped so far, or None when no frame is being dropped.
        self._discarded: int | None = None
        self.frames_skipped = 0

    async def read_line(self) -> bytes | None:
        """Read one ``\\r\\n``-terminated line (the banner), or None at EOF; an oversized line gives b""."""
        overrun = False
        while True:
            end = self._buffer.find(LINE_END)
            if end >= 0:
                line = self._buffer[:end]
                self._buffer = self._buffer[end + len(LINE_END) :]
                if overrun or len(line) > self._max_frame_bytes:
                    self._log_skipped(end + len(LINE_END))
                    return b""
                return line
            if len(self._buffer) > self._max_frame_bytes:
                # Keep the last byte: it may be the CR of a CRLF split across reads.
                overrun = True
                self._buffer = self._buffer[-1:]
            if not await self._fill():
                return None

    def has_buffered(self) -> bool:
        """Tell whether whole frames, or the start of one, wait here unread."""
        return bool(self._frames) or bool(self._buffer)

    async def read_frame(self) -> bytes | None:
        """Read the next whole frame without its terminator, or None at EOF."""
        if not self._frames and not await self._more():
            return None
        return self._frames.popleft()

    async def read_frames(self) -> list[bytes] | None:
        """Read every whole frame that has arrived (at least one), in order, or None at EOF.

        A busy link yields hundreds of frames per call, so the caller pays
        for one await per read instead of one per frame.
        """
        if not self._frames and not await self._more():
            return None
        frames = list(self._frames)
        self._frames.clear()
        return frames

    async def _more(self) -> bool:
        """Read until at least one whole frame is queued; False at EOF."""
        while not self._frames:
            if not await self._fill():
                if self._discarded is not None:
                    self._log_skipped(self._discarded + len(self._buffer))
                    self._discarded = None
                return False
            self._split()
        return True

    async def _fill(self) -> bool:
        chunk = await self._reader.read(self._read_chunk_bytes)
        if not chunk:
            return False
        self._buffer = self._buffer + chunk if self._buffer else chunk
        return True

    def _split(self) -> None:
        """Move every whole frame of the buffer to the frame queue, dropping oversized ones."""
        buffer = self._buffer
        if self._discarded is not None:
            end = buffer.find(TERMINATOR)
            if end < 0:
                self._drop_partial(buffer)
                return
            self._log_skipped(self._discarded + end + len(TERMINATOR))
            self._discarded = None
            buffer = buffer[end + len(TERMINATOR) :]
        parts = buffer.split(TERMINATOR)
        rest = parts.pop()
        if parts and max(map(len, parts)) > self._max_frame_bytes:
            for part in parts:
                if len(part) > self._max_frame_bytes:
                    self._log_skipped(len(part) + len(TERMINATOR))
                else:
                    self._frames.append(part)
        else:
            self._frames.extend(parts)
        if len(rest) > self._max_frame_bytes:
            self._discarded = 0
            self._drop_partial(rest)
            return
        self._buffer = rest

    def _drop_partial(self, buffer: bytes) -> None:
        # Keep the last bytes that could start a terminator split across reads.
        keep = len(TERMINATOR) - 1
        assert self._discarded is not None
        self._discarded += max(0, len(buffer) - keep)
        self._buffer = buffer[-keep:]

    def _log_skipped(self, size_bytes: int) -> None:
        self.frames_skipped += 1
        log.warning("ami.frame_too_large", size_bytes=size_bytes, max_bytes=self._max_frame_bytes)


def parse_frame(frame: bytes, received_at: float) -> Message | None:
    """Decode one frame into a Message; None when it contains no header at all.

    Bytes are decoded as UTF-8 with replacement. A line without ``: `` is
    logged and skipped, and the rest of the frame is kept, except in a
    ``Response: Follows`` frame, where such lines are command output and
    become ``Output`` headers.
    """
    text = frame.decode("utf-8", errors="replace")
    lines = text.split("\r\n")
    follows = lines[0].lower() == "response: follows"
    headers: list[tuple[str, str]] = []
    append = headers.append
    for line in lines:
        name, separator, value = line.partition(": ")
        if separator and name and " " not in name:
            append((name, value))
        elif follows:
            for output_line in line.split("\n"):
                if output_line and output_line != END_COMMAND:
                    headers.append(("Output", output_line))
        elif line.endswith(":") and " " not in line:
            # ``Name:`` without the space is unambiguous, so it is read as an empty value.
            headers.append((line[:-1], ""))
        else:
            log.warning("ami.bad_line", line=line[:200])
    if not headers:
        return None
    return Message(headers, received_at)

