"""``callmeter run`` killed with SIGKILL mid-call and started again: the call is metered as if nothing happened."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import select

from callmeter.db import Database
from callmeter.db.models import Call, LedgerEntry
from callmeter.simulator.admit import fastagi_admitter
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.calls import CallSpec
from callmeter.simulator.clock import VirtualClock
from callmeter.simulator.pbx import SimulatedPbx
from callmeter.simulator.scenarios import play_scenario
from tests.metering.support import add_customer

CALLMETER = Path(sys.executable).with_name("callmeter")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(tmp_path: Path, database_url: str, ami_port: int, agi_port: int, secret: str) -> Path:
    # Open all day, so the test does not depend on the hour it runs at; blocks of 1 s keep it short.
    days = "\n".join(f'[zones.{day}]\nzone1 = ["00:00-24:00"]\nzone2 = []' for day in (
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    path = tmp_path / "callmeter.toml"
    path.write_text(
        f'database_url = "{database_url}"\nblock_seconds = 1\nring_timeout_seconds = 5\n'
        f'[fastagi]\nport = {agi_port}\n'
        f'[ami]\nport = {ami_port}\nusername = "callmeter"\nsecret = "{secret}"\n'
        "reconnect_min_seconds = 0.2\nreconnect_max_seconds = 1.0\n" + days + "\n"
    )
    return path


@contextlib.contextmanager
def _callmeter_run(config: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        environment = {**os.environ, "CALLMETER_CONFIG": str(config)}
        process = subprocess.Popen([str(CALLMETER), "run", "--no-api"], env=environment,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        processes.append(process)
        return process

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def _call(database: Database) -> Call | None:
    with database.read() as session:
        call = session.scalar(select(Call))
        session.expunge_all()
    return call


async def _wait_for(condition: Callable[[], bool], guard_seconds: float = 20.0) -> None:
    for _ in range(int(guard_seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached within the hang guard")


async def test_sigkill_mid_call_then_restart_meters_whole_call(database_url: str, tmp_path: Path) -> None:
    database = Database(database_url)
    add_customer(database, "HD-1001", "+31612345678", credit_cents=100_000)
    secret = secrets.token_hex(8)
    server = AmiServer(username="callmeter", secret=secret, clock=VirtualClock(1.0))
    await server.start()
    agi_port = _free_port()
    pbx = SimulatedPbx(server, fastagi_admitter("127.0.0.1", agi_port))
    config = _config(tmp_path, database_url, server.port, agi_port, secret)

    try:
        with _callmeter_run(config) as start:
            first = start()
            await _wait_for(lambda: server.logins >= 1)
            scenario = asyncio.create_task(
                play_scenario(pbx, [CallSpec("0612345678", "Jan Jansen", answer_seconds=0.5, talk_seconds=8.5)])
            )
            await _wait_for(lambda: (call := _call(database)) is not None and call.answered_at is not None)
            await asyncio.sleep(0.3)
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)

            second = start()
            await asyncio.wait_for(scenario, 30)
            await _wait_for(lambda: (call := _call(database)) is not None and call.state == "ended")
            second.send_signal(signal.SIGTERM)
            # The simulator shares this event loop, so wait in a thread to let it answer the Logoff.
            _, stderr = await asyncio.to_thread(second.communicate, None, 20)
    finally:
        await server.close()

    call = _call(database)
    with database.read() as session:
        keys = sorted(session.scalars(select(LedgerEntry.idempotency_key).where(LedgerEntry.kind == "charge")).all())
    database.dispose()
    assert call is not None
    assert call.end_estimated is False, stderr.decode()
    assert abs(call.metered_ms - 8_500) <= 50
    assert call.blocks_charged == 9
    assert keys == sorted(f"charge:{call.uniqueid}:{n}" for n in range(9))
    assert second.returncode == 0
    assert "callmeter is gestopt" in stderr.decode()
