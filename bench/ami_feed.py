"""A loopback AMI server that streams recorded events as fast as a client reads them.

The stream is every ``Event:`` frame that Asterisk sent in the recordings
``tests/fixtures/ami/*.ami-all.jsonl``, in file order, repeated until the
requested count is reached, then one end marker (a ``UserEvent`` named
``BenchmarkEnd``). The banner and the responses to the recording client's
own actions are left out, because the clients measured here never sent
those actions.

The server writes the banner, answers ``Login`` with success, then streams.
Actions that arrive meanwhile (``Ping``, ``CoreShowChannels``, ``Logoff``)
are answered between chunks of whole frames, so a client that checks its
link with pings is not cut off by the benchmark.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from dataclasses import dataclass

from bench.common import REPO

RECORDINGS = REPO / "tests" / "fixtures" / "ami"
BANNER = b"Asterisk Call Manager/13.0.0\r\n"
END_MARKER = b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: BenchmarkEnd\r\n\r\n"
FRAMES_PER_CHUNK = 64
ACCEPT_TIMEOUT_SECONDS = 60.0
LOGIN_TIMEOUT_SECONDS = 30.0


def recorded_frames(skip_header: str | None = None) -> list[bytes]:
    """Load the recorded event frames; skip those with a header whose name contains ``skip_header``."""
    frames: list[bytes] = []
    for path in sorted(RECORDINGS.glob("*.ami-all.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            raw = record["raw"]
            if record["dir"] != "in" or not raw.startswith("Event:"):
                continue
            if skip_header is not None and _has_header_named(raw, skip_header):
                continue
            frames.append(raw.encode("utf-8"))
    assert frames, f"no recorded events under {RECORDINGS}"
    return frames


def _has_header_named(frame: str, part: str) -> bool:
    return any(part in line.partition(":")[0] for line in frame.split("\r\n"))


@dataclass(frozen=True)
class Stream:
    """The bytes to send: ``cycles`` times ``chunks``, then the end marker."""

    chunks: tuple[bytes, ...]
    events_per_cycle: int
    cycles: int

    @property
    def events(self) -> int:
        """Count the events sent, the end marker included."""
        return self.events_per_cycle * self.cycles + 1

    @property
    def bytes_per_cycle(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


def build_stream(min_events: int, skip_header: str | None = None) -> Stream:
    """Repeat the recorded events until at least ``min_events`` are sent."""
    frames = recorded_frames(skip_header)
    chunks = tuple(
        b"".join(frames[start : start + FRAMES_PER_CHUNK])
        for start in range(0, len(frames), FRAMES_PER_CHUNK)
    )
    cycles = max(1, -(-(min_events - 1) // len(frames)))
    return Stream(chunks=chunks, events_per_cycle=len(frames), cycles=cycles)


def _answer(action: dict[str, str]) -> bytes:
    """Build the response to one action, the way Asterisk answers it."""
    name = action.get("action", "").lower()
    action_id = action.get("actionid")
    id_line = "" if action_id is None else f"ActionID: {action_id}\r\n"
    if name == "login":
        return f"Response: Success\r\n{id_line}Message: Authentication accepted\r\n\r\n".encode()
    if name == "ping":
        return f"Response: Success\r\n{id_line}Ping: Pong\r\nTimestamp: {time.time():.6f}\r\n\r\n".encode()
    if name == "logoff":
        return f"Response: Goodbye\r\n{id_line}Message: Thanks for all the fish.\r\n\r\n".encode()
    if name in ("coreshowchannels", "status"):
        complete = "CoreShowChannelsComplete" if name == "coreshowchannels" else "StatusComplete"
        return (
            f"Response: Success\r\n{id_line}EventList: start\r\nMessage: Channels will follow\r\n\r\n"
            f"Event: {complete}\r\n{id_line}EventList: Complete\r\nListItems: 0\r\n\r\n"
        ).encode()
    return f"Response: Success\r\n{id_line}\r\n".encode()


def _parse_action(frame: bytes) -> dict[str, str]:
    action: dict[str, str] = {}
    for line in frame.decode("utf-8", "replace").split("\r\n"):
        name, separator, value = line.partition(":")
        if separator:
            action.setdefault(name.strip().lower(), value.strip())
    return action


class FeedServer:
    """Serve one stream to each client that connects, one client at a time, on 127.0.0.1."""

    def __init__(self, stream: Stream, deadline_seconds: float) -> None:
        self.stream = stream
        self.deadline_seconds = deadline_seconds
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(ACCEPT_TIMEOUT_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.actions: list[str] = []  # action names seen, for the report

    def serve_once(self) -> None:
        """Start serving the next client in a background thread."""
        assert self._thread is None or not self._thread.is_alive()
        self.error = None
        self._thread = threading.Thread(target=self._serve_guarded, name="ami-feed", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self._listener.close()

    def _serve_guarded(self) -> None:
        try:
            self._serve()
        except (OSError, TimeoutError) as error:
            # A client that dies or is killed at its time limit resets the
            # connection; the runner's own report says what happened.
            self.error = error

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        replies: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        with connection:
            connection.settimeout(LOGIN_TIMEOUT_SECONDS)
            connection.sendall(BANNER)
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                data = connection.recv(65536)
                if not data:
                    return
                buffer += data
            frame, _, rest = buffer.partition(b"\r\n\r\n")
            login = _parse_action(frame)
            self.actions.append(login.get("action", "?"))
            connection.sendall(_answer(login))

            reader = threading.Thread(
                target=self._read_actions,
                args=(connection, rest, replies),
                name="ami-feed-reader",
                daemon=True,
            )
            connection.settimeout(self.deadline_seconds)
            reader.start()
            self._stream_to(connection, replies)
            self._answer_until_closed(connection, replies, reader)

    def _stream_to(self, connection: socket.socket, replies: queue.SimpleQueue[bytes | None]) -> None:
        deadline = time.monotonic() + self.deadline_seconds
        for _ in range(self.stream.cycles):
            for chunk in self.stream.chunks:
                connection.sendall(chunk)
                while not replies.empty():
                    reply = replies.get_nowait()
                    if reply is None:
                        return
                    connection.sendall(reply)
            if time.monotonic() > deadline:
                return
        connection.sendall(END_MARKER)

    def _answer_until_closed(
        self, connection: socket.socket, replies: queue.SimpleQueue[bytes | None], reader: threading.Thread
    ) -> None:
        deadline = time.monotonic() + self.deadline_seconds
        while time.monotonic() < deadline:
            try:
                reply = replies.get(timeout=0.2)
            except queue.Empty:
                if not reader.is_alive():
                    return
                continue
            if reply is None:
                return
            connection.sendall(reply)

    def _read_actions(
        self, connection: socket.socket, buffer: bytes, replies: queue.SimpleQueue[bytes | None]
    ) -> None:
        try:
            while True:
                while b"\r\n\r\n" in buffer:
                    frame, _, buffer = buffer.partition(b"\r\n\r\n")
                    action = _parse_action(frame)
                    self.actions.append(action.get("action", "?"))
                    replies.put(_answer(action))
                data = connection.recv(65536)
                if not data:
                    break
                buffer += data
        except OSError:
            pass
        replies.put(None)
