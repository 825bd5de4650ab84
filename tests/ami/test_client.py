"""The AMI client against the simulated PBX's AMI server over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from callmeter.ami.client import AmiClient
from callmeter.ami.errors import AmiActionFailed, AmiUnavailable
from callmeter.ami.message import Message
from callmeter.metrics import AMI_CONNECTED, AMI_RECONNECTS
from callmeter.simulator.ami_server import AmiServer
from callmeter.status import ServiceStatus
from tests.ami.support import SECRET, Recorder, fast_settings, running_client


@pytest.fixture
async def server() -> AsyncIterator[AmiServer]:
    async with AmiServer(secret=SECRET) as started:
        yield started


async def _user_event(server: AmiServer, number: int) -> None:
    await server.broadcast([("Event", "UserEvent"), ("Privilege", "user,all"), ("Number", str(number))])


async def test_events_arrive_in_order(server: AmiServer) -> None:
    recorder = Recorder()
    async with running_client(fast_settings(server.port), recorder) as client:
        await client.wait_connected(5)
        for number in range(200):
            await _user_event(server, number)
        await recorder.wait_for(lambda: len(recorder.events) >= 201)

    numbers = [message.get("Number") for message in recorder.events if message.event == "UserEvent"]
    assert recorder.events[0].event == "FullyBooted"
    assert numbers == [str(number) for number in range(200)]


async def test_handler_exception_does_not_stop_stream(server: AmiServer) -> None:
    seen: list[str] = []

    async def fragile(message: Message) -> None:
        if message.get("Number") == "1":
            raise RuntimeError("handler bug")
        seen.append(message.get("Number") or message.event or "")

    client = AmiClient(fast_settings(server.port), fragile)
    with capture_logs() as logs:
        async with asyncio.TaskGroup() as group:
            group.create_task(client.run())
            await client.wait_connected(5)
            for number in range(3):
                await _user_event(server, number)
            await client.ping()  # the Pong comes after the events, so they are queued by now
            async with asyncio.timeout(5):
                while len(seen) < 3:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            await client.close()

    failures = [entry for entry in logs if entry["event"] == "ami.handler_failed"]
    assert seen == ["FullyBooted", "0", "2"]
    assert len(failures) == 1
    assert failures[0]["ami_event"] == "UserEvent"
    assert failures[0]["exc_info"] is True


async def test_login_failure_backs_off_without_secret(server: AmiServer) -> None:
    wrong = "wrong-secret-4711"
    recorder = Recorder()
    status = ServiceStatus()
    with capture_logs() as logs:
        async with running_client(fast_settings(server.port, secret=wrong), recorder, status) as client:
            async with asyncio.timeout(5):
                while client.attempts < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            assert status.ami == "down"

    failures = [entry for entry in logs if entry["event"] == "ami.login_failed"]
    retries = [entry for entry in logs if entry["event"] == "ami.reconnecting"]
    assert failures
    assert failures[0]["reason"] == "Authentication failed"
    assert failures[0]["username"] == "callmeter"
    assert failures[0]["log_level"] == "error"
    assert retries[0]["delay_seconds"] == 0.5
    assert retries[0]["attempt"] == 1
    assert all(wrong not in repr(entry) for entry in logs)
    assert recorder.connected == 0
    assert status.ami_last_error == "login failed: Authentication failed"


async def test_rejected_logins_recover_after_backoff(server: AmiServer) -> None:
    recorder = Recorder()
    server.reject_logins(0.2)
    async with running_client(fast_settings(server.port), recorder) as client:
        await client.wait_connected(5)

        assert client.connected
        assert recorder.connected <= 1
    assert server.logins == 1


async def test_restart_with_new_banner_reconnects(server: AmiServer) -> None:
    recorder = Recorder()
    with capture_logs() as logs:
        async with running_client(fast_settings(server.port), recorder):
            await recorder.wait_for(lambda: recorder.connected == 1)
            await server.restart(banner="Asterisk Call Manager/13.0.1")
            await recorder.wait_for(lambda: recorder.connected == 2)

    banners = [entry["banner"] for entry in logs if entry["event"] == "ami.banner"]
    assert banners == ["Asterisk Call Manager/13.0.0", "Asterisk Call Manager/13.0.1"]
    assert "Shutdown" in recorder.names()
    assert len(recorder.disconnected) >= 1


async def test_dropped_link_reconnects(server: AmiServer) -> None:
    recorder = Recorder()
    status = ServiceStatus()
    reconnects_before = AMI_RECONNECTS._value.get()
    async with running_client(fast_settings(server.port), recorder, status):
        await recorder.wait_for(lambda: recorder.connected == 1)
        await server.drop_connections()
        await recorder.wait_for(lambda: recorder.connected == 2)

        assert status.ami == "connected"
        assert AMI_CONNECTED._value.get() == 1

    assert len(recorder.disconnected) == 1
    assert recorder.disconnected[0] > 1_700_000_000
    assert AMI_RECONNECTS._value.get() > reconnects_before


async def test_missing_pong_reconnects(server: AmiServer) -> None:
    recorder = Recorder()
    with capture_logs() as logs:
        async with running_client(fast_settings(server.port), recorder):
            await recorder.wait_for(lambda: recorder.connected == 1)
            server.set_silent(True)
            await recorder.wait_for(lambda: len(recorder.disconnected) == 1)
            server.set_silent(False)
            await recorder.wait_for(lambda: recorder.connected == 2)

    assert "ami.ping_timeout" in [entry["event"] for entry in logs]
    # The link counts as lost at the last frame read, before the unanswered Ping went out.
    assert recorder.disconnected[0] <= recorder.disconnected_seen_at[0] - 0.2


async def test_shutdown_event_reconnects(server: AmiServer) -> None:
    recorder = Recorder()
    async with running_client(fast_settings(server.port), recorder):
        await recorder.wait_for(lambda: recorder.connected == 1)
        await server.broadcast([("Event", "Shutdown"), ("Privilege", "system,all"), ("Shutdown", "Cleanly")])
        await recorder.wait_for(lambda: recorder.connected == 2)

    assert recorder.names().count("Shutdown") == 1
    assert len(recorder.disconnected) == 1


async def test_oversized_frame_keeps_link_up(server: AmiServer) -> None:
    recorder = Recorder()
    async with running_client(fast_settings(server.port), recorder) as client:
        await recorder.wait_for(lambda: recorder.connected == 1)
        server.send_raw(b"Event: Junk\r\nData: " + b"z" * (1024 * 1024) + b"\r\n\r\n")
        await _user_event(server, 7)
        await recorder.wait_for(lambda: "UserEvent" in recorder.names())

        assert client.connected
    assert recorder.connected == 1
    assert "Junk" not in recorder.names()


async def test_responses_not_delivered_as_events(server: AmiServer) -> None:
    recorder = Recorder()
    async with running_client(fast_settings(server.port), recorder) as client:
        await client.wait_connected(5)
        pong = await client.ping()
        channels = await client.core_show_channels()

    assert pong.get("Ping") == "Pong"
    assert pong.get("Timestamp")
    assert channels == []
    assert all(message.response is None for message in recorder.events)


async def test_error_responses_returned_or_raised(server: AmiServer) -> None:
    recorder = Recorder()
    async with running_client(fast_settings(server.port), recorder) as client:
        await client.wait_connected(5)
        hangup = await client.hangup("Local/nonexistent-00000000;1", cause=16)
        setvar = await client.setvar("Local/nonexistent-00000000;1", "X", "1")
        unknown = await client.action("NoSuchAction")
        command = await client.action("Command", Command="core show version")
        with pytest.raises(AmiActionFailed):
            await client.status("Local/nonexistent-00000000;1")

    assert (hangup.response, hangup.get("Message")) == ("Error", "No such channel")
    assert (setvar.response, setvar.get("Message")) == ("Error", "No such channel")
    assert unknown.get("Message") == (
        "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands."
    )
    assert command.get("Message") == "Permission denied"


async def test_action_without_link_raises() -> None:
    recorder = Recorder()
    client = AmiClient(fast_settings(1), recorder.on_event)

    with pytest.raises(AmiUnavailable):
        await client.ping()
    with pytest.raises(AmiUnavailable):
        await client.wait_connected(0.05)


async def test_close_logs_off(server: AmiServer) -> None:
    recorder = Recorder()
    async with running_client(fast_settings(server.port), recorder) as client:
        await client.wait_connected(5)
        assert server.sessions == 1

    async with asyncio.timeout(5):
        while server.sessions:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert not client.connected


async def test_connection_refused_retries_with_backoff() -> None:
    probe = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()

    with capture_logs() as logs:
        async with running_client(fast_settings(port), Recorder()) as client:
            async with asyncio.timeout(5):
                while client.attempts < 3:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)

    delays = [entry["delay_seconds"] for entry in logs if entry["event"] == "ami.reconnecting"]
    assert len(delays) >= 2
    assert all(0.025 <= delay <= 0.5 for delay in delays)


async def test_slow_handler_applies_backpressure(server: AmiServer) -> None:
    seen: list[str] = []
    connections: list[int] = []

    async def slow(message: Message) -> None:
        await asyncio.sleep(0.01)
        seen.append(message.get("Number") or "")

    async def connected() -> None:
        connections.append(1)

    client = AmiClient(fast_settings(server.port), slow, on_connected=connected, queue_size=2)
    async with asyncio.TaskGroup() as group:
        group.create_task(client.run())
        await client.wait_connected(5)
        for number in range(60):
            await _user_event(server, number)
        async with asyncio.timeout(10):
            while len(seen) < 61:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await client.close()

    assert seen[1:] == [str(number) for number in range(60)]
    assert connections == [1]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """Return a self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
    )
    return certificate, key


async def test_tls_link_with_private_ca(certificate: tuple[Path, Path]) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    recorder = Recorder()
    async with AmiServer(secret=SECRET, tls=context) as tls_server:
        settings = fast_settings(tls_server.port, tls=True, tls_ca_file=str(certificate[0]))
        async with running_client(settings, recorder) as client:
            await client.wait_connected(5)
            pong = await client.ping()

    assert pong.get("Ping") == "Pong"
    assert recorder.connected == 1
