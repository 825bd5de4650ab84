"""AMI framing: frames split at every byte, oversized frames, bad bytes and odd headers."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from callmeter.ami.framing import MAX_FRAME_BYTES, FrameReader, parse_frame

NEWCHANNEL = (
    "Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: 1796413009.145297\r\n"
    "Channel: PJSIP/trunk-0000000a\r\nCallerIDNum: 0612345678\r\nCallerIDName: José Müller\r\n"
    "Uniqueid: 1796413009.82\r\nLinkedid: 1796413009.82\r\n\r\n"
).encode()
CDR = (
    b"Event: Cdr\r\nPrivilege: cdr,all\r\nChannel: PJSIP/trunk-0000000a\r\n"
    b"UniqueID: 1796413009.82\r\nUserField: \r\n\r\n"
)
HANGUP = (
    b"Event: Hangup\r\nChannel: PJSIP/trunk-0000000a\r\nChanVariable: CALLERID(num-pres)=allowed_not_screened\r\n"
    b"ChanVariable: CALLMETER_VERDICT=admitted\r\nUniqueid: 1796413009.82\r\nCause: 16\r\n\r\n"
)
STREAM = NEWCHANNEL + CDR + HANGUP


async def _read_all(reader: asyncio.StreamReader) -> list[bytes]:
    frames = FrameReader(reader)
    collected: list[bytes] = []
    while (frame := await frames.read_frame()) is not None:
        collected.append(frame)
    return collected


async def test_frames_split_at_every_byte_offset() -> None:
    for offset in range(1, len(STREAM)):
        reader = asyncio.StreamReader(limit=MAX_FRAME_BYTES)
        reader.feed_data(STREAM[:offset])
        reader.feed_data(STREAM[offset:])
        reader.feed_eof()

        frames = await _read_all(reader)

        assert len(frames) == 3, offset
        first = parse_frame(frames[0], 0.0)
        assert first is not None
        assert first.get("CallerIDName") == "José Müller", offset


async def test_frames_fed_one_byte_at_a_time() -> None:
    reader = asyncio.StreamReader(limit=MAX_FRAME_BYTES)
    for index in range(len(STREAM)):
        reader.feed_data(STREAM[index : index + 1])
    reader.feed_eof()

    frames = await _read_all(reader)

    assert [parse_frame(frame, 0.0).event for frame in frames] == ["Newchannel", "Cdr", "Hangup"]  # type: ignore[union-attr]


async def test_many_frames_merged_in_one_socket_write() -> None:
    received: list[bytes] = []
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.extend(await _read_all(reader))
        writer.close()
        done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=MAX_FRAME_BYTES)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(STREAM * 200)
    await writer.drain()
    writer.close()
    await asyncio.wait_for(done.wait(), 5)
    server.close()

    assert len(received) == 600
    assert received[-1] == HANGUP[:-4]


async def test_oversized_frame_skipped_and_next_frame_kept() -> None:
    reader = asyncio.StreamReader(limit=MAX_FRAME_BYTES)
    reader.feed_data(b"Event: Junk\r\nData: " + b"x" * (1024 * 1024) + b"\r\n\r\n")
    reader.feed_data(NEWCHANNEL)
    reader.feed_eof()
    frames = FrameReader(reader)

    with capture_logs() as logs:
        frame = await frames.read_frame()

    assert frame == NEWCHANNEL[:-4]
    assert frames.frames_skipped == 1
    assert [entry["event"] for entry in logs] == ["ami.frame_too_large"]
    assert await frames.read_frame() is None


async def test_frames_read_in_tiny_chunks() -> None:
    for chunk_bytes in (1, 2, 3, 5, 7):
        reader = asyncio.StreamReader(limit=MAX_FRAME_BYTES)
        reader.feed_data(STREAM)
        reader.feed_eof()
        frames = FrameReader(reader, read_chunk_bytes=chunk_bytes)

        collected: list[bytes] = []
        while (frame := await frames.read_frame()) is not None:
            collected.append(frame)

        assert collected == [NEWCHANNEL[:-4], CDR[:-4], HANGUP[:-4]], chunk_bytes


async def test_oversized_frame_in_small_reads_skipped_once() -> None:
    # The terminator starts at byte 131,998, so reads of 1000 bytes cut it in two.
    junk = b"Event: Junk\r\nData: " + b"x" * 131_979 + b"\r\n\r\n"
    reader = asyncio.StreamReader(limit=MAX_FRAME_BYTES)
    reader.feed_data(junk + NEWCHANNEL)
    reader.feed_eof()
    frames = FrameReader(reader, read_chunk_bytes=1000)

    with capture_logs() as logs:
        frame = await frames.read_frame()

    assert frame == NEWCHANNEL[:-4]
    assert frames.frames_skipped == 1
    assert [entry["event"] for entry in logs] == ["ami.frame_too_large"]
    assert await frames.read_frame() is None


async def test_oversized_frame_at_eof_ends_reading() -> None:
    reader = asyncio.StreamReader(limit=MAX_FRAME_BYTES)
    reader.feed_data(b"y" * (MAX_FRAME_BYTES * 3))
    reader.feed_eof()

    frame = await FrameReader(reader).read_frame()

    assert frame is None


def test_invalid_utf8_replaced_in_caller_name() -> None:
    frame = b"Event: Newchannel\r\nCallerIDName: Jan \xff\xfe Jansen\r\nCallerIDNum: 0612345678"

    message = parse_frame(frame, 0.0)

    assert message is not None
    assert message.get("CallerIDName") == "Jan \ufffd\ufffd Jansen"
    assert message.get("CallerIDNum") == "0612345678"


def test_chanvariable_and_output_duplicates_kept() -> None:
    hangup = parse_frame(HANGUP[:-4], 0.0)
    command = parse_frame(b"Response: Success\r\nActionID: 7\r\nOutput: line one\r\nOutput: line two", 0.0)

    assert hangup is not None
    assert command is not None
    assert hangup.get_all("ChanVariable") == [
        "CALLERID(num-pres)=allowed_not_screened",
        "CALLMETER_VERDICT=admitted",
    ]
    assert hangup.channel_variables()["CALLMETER_VERDICT"] == "admitted"
    assert command.get_all("Output") == ["line one", "line two"]


def test_uniqueid_found_in_either_case() -> None:
    channel_event = parse_frame(NEWCHANNEL[:-4], 0.0)
    cdr = parse_frame(CDR[:-4], 0.0)

    assert channel_event is not None
    assert cdr is not None
    assert channel_event.uniqueid == "1796413009.82"
    assert cdr.uniqueid == "1796413009.82"
    assert cdr.get("UserField") == ""


def test_line_without_separator_skipped_frame_kept() -> None:
    with capture_logs() as logs:
        message = parse_frame(b"Event: Newexten\r\ngarbage line\r\nUniqueid: 1.2", 0.0)

    assert message is not None
    assert message.event == "Newexten"
    assert message.uniqueid == "1.2"
    assert [entry["event"] for entry in logs] == ["ami.bad_line"]


def test_follows_response_output_lines_kept() -> None:
    frame = b"Response: Follows\r\nPrivilege: Command\r\nActionID: 3\r\nAsterisk 13.0.0 built by root\n--END COMMAND--"

    message = parse_frame(frame, 0.0)

    assert message is not None
    assert message.response == "Follows"
    assert message.get_all("Output") == ["Asterisk 13.0.0 built by root"]


def test_event_time_prefers_timestamp() -> None:
    stamped = parse_frame(NEWCHANNEL[:-4], 5.0)
    unstamped = parse_frame(CDR[:-4], 5.0)

    assert stamped is not None
    assert unstamped is not None
    assert stamped.event_time == 1796413009.145297
    assert unstamped.event_time == 5.0


async def test_half_a_frame_counts_as_buffered() -> None:
    source = asyncio.StreamReader()
    reader = FrameReader(source)
    source.feed_data(b"Event: Newchannel\r\n\r\nEvent: Hang")
    assert await reader.read_frame() == b"Event: Newchannel"
    assert reader.has_buffered(), "the start of the Hangup frame waits in the buffer"
    source.feed_data(b"up\r\n\r\n")
    assert await reader.read_frame() == b"Event: Hangup"
    assert not reader.has_buffered()
