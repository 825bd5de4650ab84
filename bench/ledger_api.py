"""Ledger charges per second on SQLite and PostgreSQL, and balance requests per second over HTTP."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn

from api.token_cache import TOKEN_CACHE_SECONDS
from bench.common import REPO, Goal, Options, Section, Series, log
from bench.databases import add_answered_calls, add_prepaid_customer, database_for, postgres_problem
from bench.profiling import format_hotspots, hotspots, record_pid, temporary_output
from callmeter.db import Database
from callmeter.db.models import Call
from callmeter.ledger import service as ledger
from callmeter.tokens import service as tokens

CHARGE_GOAL_PER_SECOND = 1_000
BALANCE_GOAL_PER_SECOND = 1_500
BLOCKS_PER_CALL = 4
# A charge run stops after this many seconds even when calls are left, so a
# slow database bounds the benchmark's time instead of the charge count.
CHARGE_RUN_SECONDS = 8.0
RATE_CENTS = 500
# Connections kept open by the load generator; enough to keep one worker busy.
HTTP_CONNECTIONS = 32
SERVER_START_SECONDS = 30.0


def run(options: Options) -> list[Section]:
    return [charges(options), balance(options)]


# -- charges -----------------------------------------------------------------


def _charge_run(database: Database, call_ids: list[int], limit_seconds: float = CHARGE_RUN_SECONDS) -> float:
    """Charge the blocks of the calls, one write transaction each, for at most ``limit_seconds``.

    Returns charges per second.
    """
    at = datetime.now(UTC)
    calls = []
    with database.read() as session:
        for call_id in call_ids:
            call = session.get(Call, call_id)
            assert call is not None
            session.expunge(call)
            calls.append(call)

    started = time.perf_counter()
    charged = 0
    for call in calls:
        if time.perf_counter() - started > limit_seconds:
            break
        for n in range(BLOCKS_PER_CALL):
            with database.write() as session:
                row = session.get(Call, call.id)
                assert row is not None
                _entry, created = ledger.charge_block(session, row, n, RATE_CENTS, at)
                assert created, f"block {n} of {call.uniqueid} was charged before"
            charged += 1
    return charged / (time.perf_counter() - started)


def _charges_on(backend: str, options: Options, folder: Path) -> Series:
    calls_per_run = options.size(250, 10)
    series = Series()
    with database_for(backend, folder) as database:
        customers = [
            add_prepaid_customer(database, f"HD-B{number}", f"+3161000{number:04d}", 10_000_000)
            for number in range(10)
        ]
        for run_number in range(options.runs):
            call_ids: list[int] = []
            per_customer = calls_per_run // len(customers)
            for index, customer_id in enumerate(customers):
                call_ids += add_answered_calls(
                    database,
                    customer_id,
                    f"HD-B{index}",
                    f"r{run_number}c{index}",
                    per_customer,
                    BLOCKS_PER_CALL * RATE_CENTS,
                )
            series.add(_charge_run(database, call_ids))
            log(f"ledger: {backend} run {run_number + 1}: {series.values[-1]:,.0f} charges/s")
    return series


def charges(options: Options) -> Section:
    section = Section(
        key="ledger",
        title="Ledger charges",
        commands=["python -m bench --only ledger"],
        header=["database", "charges/s", "ms per charge"],
    )
    with tempfile.TemporaryDirectory(prefix="callmeter-bench-") as folder:
        results: dict[str, Series] = {"sqlite": _charges_on("sqlite", options, Path(folder))}
        problem = postgres_problem()
        if problem is None:
            results["postgresql"] = _charges_on("postgresql", options, Path(folder))
        else:
            section.notes.append(f"PostgreSQL not measured: {problem}.")
    for backend, series in results.items():
        milliseconds = Series([1000 / value for value in series.values])
        section.rows.append([backend, series.format(0), milliseconds.format(2)])
    section.notes.append(
        f"Each charge is `ledger.service.charge_block` in its own `Database.write()` transaction, as metering "
        f"charges a block: lock the customer, check the idempotency key, read the open reservation, insert the "
        f"entry, update the reservation. Up to {options.size(250, 10) * BLOCKS_PER_CALL:,} charges per run "
        f"({BLOCKS_PER_CALL} blocks of {options.size(250, 10):,} answered calls of 10 customers), "
        f"one after another from one thread, for at most {CHARGE_RUN_SECONDS:g} s per run. Logging is on at "
        "INFO, to a file."
    )
    postgres = results.get("postgresql")
    if postgres is not None and postgres.median < CHARGE_GOAL_PER_SECOND and options.profile:
        _profile_charges(section, options)
    if postgres is None:
        section.goals.append(
            Goal(f"≥ {CHARGE_GOAL_PER_SECOND:,} charges/s on PostgreSQL", None, "not measured")
        )
    else:
        section.goals.append(
            Goal(
                f"≥ {CHARGE_GOAL_PER_SECOND:,} charges/s on PostgreSQL",
                postgres.median >= CHARGE_GOAL_PER_SECOND,
                f"median {postgres.median:,.0f} charges/s",
            )
        )
    return section


def _profile_charges(section: Section, options: Options) -> None:
    """Sample this process with py-spy during one more PostgreSQL charge run."""
    output = temporary_output()
    seconds = int(CHARGE_RUN_SECONDS)
    with (
        tempfile.TemporaryDirectory(prefix="callmeter-bench-") as folder,
        database_for("postgresql", Path(folder)) as database,
    ):
        customer_id = add_prepaid_customer(database, "HD-P", "+31612349999", 10_000_000)
        call_ids = add_answered_calls(
            database, customer_id, "HD-P", "profile", 250, BLOCKS_PER_CALL * RATE_CENTS
        )
        recorder = record_pid(output, os.getpid(), seconds)
        if recorder is None:
            section.notes.append("Profile: py-spy could not be installed, so there is no profile.")
            return
        log("ledger: profiling the PostgreSQL charges with py-spy")
        _charge_run(database, call_ids)
        recorder.wait(seconds + 30)
    spots = hotspots(output, top=15)
    output.unlink(missing_ok=True)
    if spots:
        section.profile = [
            f"py-spy on the bench process during {seconds} s of PostgreSQL charges; "
            "share of samples that were not waiting:",
            *format_hotspots(spots),
        ]


# -- balance over HTTP -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _api_server(database_url: str) -> Iterator[tuple[str, int]]:
    """Run uvicorn with one worker on 127.0.0.1; yield its base URL and process id."""
    port = _free_port()
    environment = dict(os.environ, CALLMETER_DATABASE_URL=database_url, CALLMETER_CONFIG=os.devnull)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:app_factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with tempfile.TemporaryFile() as output:
        server = subprocess.Popen(command, cwd=REPO, env=environment, stdout=output, stderr=output)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, server)
            yield base, server.pid
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)


def _uvicorn_stack() -> str:
    """Name the event loop and HTTP parser that uvicorn's "auto" settings pick in this environment."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn {uvicorn.__version__}, {loop} event loop, {http} HTTP parser"


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"uvicorn exited with status {server.returncode} before it listened")
        try:
            httpx.get(f"{base}/docs", timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"uvicorn did not respond within {SERVER_START_SECONDS:.0f} s")


def _wrk(url: str, token: str, seconds: int) -> tuple[float, int]:
    """Load the URL with wrk; return requests per second and the count of non-2xx responses."""
    done = subprocess.run(
        ["wrk", "-t1", f"-c{HTTP_CONNECTIONS}", f"-d{seconds}s", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    assert rate is not None, f"wrk printed no rate: {done.stdout}"
    return float(rate.group(1)), int(failed.group(1)) if failed else 0


async def _httpx_load(url: str, token: str, seconds: float) -> tuple[float, int]:
    """Load the URL with HTTP_CONNECTIONS async clients for ``seconds``; return rate and failures."""
    deadline = time.monotonic() + seconds
    counts = {"ok": 0, "failed": 0}
    limits = httpx.Limits(max_connections=HTTP_CONNECTIONS, max_keepalive_connections=HTTP_CONNECTIONS)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=10
    ) as client:

        async def worker() -> None:
            while time.monotonic() < deadline:
                response = await client.get(url)
                counts["ok" if response.status_code == 200 else "failed"] += 1

        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            for _ in range(HTTP_CONNECTIONS):
                group.create_task(worker())
        elapsed = time.monotonic() - started
    return (counts["ok"] + counts["failed"]) / elapsed, counts["failed"]


def _prepare_api_database(folder: Path) -> tuple[str, str, str]:
    """Create an SQLite database with one customer, 200 ledger entries and a read token."""
    path = folder / "api.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    customer_id = add_prepaid_customer(database, "HD-API", "+31612340000", 1_000_000)
    call_ids = add_answered_calls(database, customer_id, "HD-API", "api", 50, BLOCKS_PER_CALL * RATE_CENTS)
    _charge_run(database, call_ids, limit_seconds=120.0)
    with database.write() as session:
        token, _ = tokens.create(session, "bench", "read")
    database.dispose()
    return f"sqlite:///{path}", token, "HD-API"


def balance(options: Options) -> Section:
    seconds = options.size(5, 1)
    tool = "wrk" if shutil.which("wrk") else "httpx"
    section = Section(
        key="api",
        title="Balance API",
        commands=["python -m bench --only ledger"],
        header=["load generator", "database", "requests/s", "non-2xx responses (all runs)"],
    )
    rates = Series()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="callmeter-bench-") as folder:
        database_url, token, helpdesk_id = _prepare_api_database(Path(folder))
        with _api_server(database_url) as (base, _pid):
            url = f"{base}/customers/{helpdesk_id}/balance"
            check = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert check.status_code == 200, f"GET {url} answered {check.status_code}: {check.text[:300]}"
            for run_number in range(options.runs):
                if tool == "wrk":
                    rate, failed = _wrk(url, token, seconds)
                else:
                    rate, failed = asyncio.run(_httpx_load(url, token, seconds))
                rates.add(rate)
                failures += failed
                log(f"api: run {run_number + 1}: {rate:,.0f} requests/s with {tool}")
            if tool == "wrk":
                section.commands.append(
                    f"wrk -t1 -c{HTTP_CONNECTIONS} -d{seconds}s -H 'Authorization: Bearer …' "
                    f"http://127.0.0.1:PORT/customers/{helpdesk_id}/balance"
                )
        section.commands.append(
            "python -m uvicorn api.app:app_factory --factory --host 127.0.0.1 --port PORT --workers 1 "
            "--log-level warning --no-access-log"
        )
        section.rows.append([tool, "SQLite", rates.format(0), str(failures)])
        section.notes.append(
            f"One uvicorn worker ({_uvicorn_stack()}) serves `GET /customers/HD-API/balance` with a read token, "
            f"for a customer with {50 * BLOCKS_PER_CALL + 1} balance entries, on SQLite; {HTTP_CONNECTIONS} "
            f"keep-alive connections for {seconds} s per run. The API's token cache looks the token up in the "
            f"database once per {TOKEN_CACHE_SECONDS:g} s and serves the other requests from memory. "
            f"The load generator is {tool}"
            + (
                " (Debian package)."
                if tool == "wrk"
                else " (async httpx in the bench process; wrk is not installed)."
            )
        )
        met = rates.median >= BALANCE_GOAL_PER_SECOND
        section.goals.append(
            Goal(
                f"≥ {BALANCE_GOAL_PER_SECOND:,} balance requests/s with one worker",
                met,
                f"median {rates.median:,.0f} requests/s ({tool})",
            )
        )
        if not met and tool == "wrk" and options.profile:
            _profile_api(section, database_url, token, helpdesk_id, seconds)
    return section


def _profile_api(section: Section, database_url: str, token: str, helpdesk_id: str, seconds: int) -> None:
    output = temporary_output()
    log("api: profiling uvicorn with py-spy")
    with _api_server(database_url) as (base, pid):
        recorder = record_pid(output, pid, seconds)
        if recorder is None:
            section.notes.append("Profile: py-spy could not be installed, so there is no profile.")
            return
        _wrk(f"{base}/customers/{helpdesk_id}/balance", token, seconds)
        recorder.wait(seconds + 30)
    spots = hotspots(output, top=15)
    output.unlink(missing_ok=True)
    if spots:
        section.profile = [
            f"py-spy on the uvicorn worker during {seconds} s of wrk load; share of samples that were not waiting:",
            *format_hotspots(spots),
        ]
