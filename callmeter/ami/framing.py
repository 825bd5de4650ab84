"""AMI framing: split a byte stream into frames and frames into messages.

An AMI frame is a block of ``Name: value`` lines ending in a blank line
(``\\r\\n\\r\\n``). Frames are split on raw bytes, so a multibyte character
split across TCP reads is decoded only once the whole frame is in. Both the
client and the simulated PBX read with :class:`FrameReader`.
"""

from __future__ import annotations

import asyncio

import structlog

from callmeter.ami.message import Message

log = structlog.get_logger(__name__)

TERMINATOR = b"\r\n\r\n"
LINE_END = b"\r\n"

# The largest frame accepted. The largest frame in the recordings of a real
# Asterisk is 1163 bytes (a LocalBridge event), so a frame over 64 KiB is
# garbage or an attack and is skipped.
MAX_FRAME_BYTES = 64 * 1024

# Older Asterisk versions respond to ``Command`` with ``Response: Follows`` and raw
# output lines, closed by this marker instead of Output headers.
# TODO: such output that contains a blank line is split into two frames; only
# single-frame Follows responses are parsed whole.
END_COMMAND = "--END COMMAND--"


class FrameReader:
    """Read whole AMI frames from a StreamReader, skipping oversized ones.

    Open the stream with ``limit=MAX_FRAME_BYTES`` so ``readuntil`` stops
    buffering at that size. A frame that overruns the limit is discarded up
    to its terminator and logged, and reading goes on with the next frame.
    """

    def __init__(self, reader: asyncio.StreamReader, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._reader = reader
        self._max_frame_bytes = max_frame_bytes
        self.frames_skipped = 0

    async def read_line(self) -> bytes | None:
        """Read one ``\\r\\n``-terminated line (the banner), or None at EOF."""
        try:
            line = await self._reader.readuntil(LINE_END)
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError:
            await self._discard_oversized(LINE_END)
            return b""
        return line[: -len(LINE_END)]

    async def read_frame(self) -> bytes | None:
        """Read the next whole frame without its terminator, or None at EOF."""
        while True:
            try:
                frame = await self._reader.readuntil(TERMINATOR)
            except asyncio.IncompleteReadError:
                return None
            except asyncio.LimitOverrunError:
                if not await self._discard_oversized(TERMINATOR):
                    return None
                continue
            return frame[: -len(TERMINATOR)]

    async def _discard_oversized(self, separator: bytes) -> bool:
        """Drop bytes up to and including the next separator; False at EOF."""
        discarded = 0
        while True:
            try:
                tail = await self._reader.readuntil(separator)
            except asyncio.LimitOverrunError as overrun:
                # ``consumed`` bytes can go without cutting a separator in half.
                chunk = await self._reader.read(max(overrun.consumed, 1))
                discarded += len(chunk)
                continue
            except asyncio.IncompleteReadError as partial:
                discarded += len(partial.partial)
                self.frames_skipped += 1
                log.warning("ami.frame_too_large", size_bytes=discarded, max_bytes=self._max_frame_bytes)
                return False
            discarded += len(tail)
            self.frames_skipped += 1
            log.warning("ami.frame_too_large", size_bytes=discarded, max_bytes=self._max_frame_bytes)
            return True


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
    for line in lines:
        name, separator, value = line.partition(": ")
        if separator and name and " " not in name:
            headers.append((name, value))
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

