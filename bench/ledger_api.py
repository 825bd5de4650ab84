"""Ledger charges per second on SQLite and PostgreSQL, and balance requests per second over HTTP."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
# Calls of each charge run, spread evenly over CUSTOMERS prepaid customers.
CALLS_PER_RUN = 500
CUSTOMERS = 10
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


def metering_threads() -> int:
    """Return the size of asyncio's default executor, the pool in which metering charges blocks.

    The meter calls ``asyncio.to_thread``, which runs on the event loop's default
    ThreadPoolExecutor. Its max_workers is min(32, os.cpu_count() + 4) on Python
    3.8 to 3.12.
    """
    return min(32, (os.cpu_count() or 1) + 4)


def _detached_calls(database: Database, call_ids: list[int]) -> list[Call]:
    with database.read() as session:
        calls = []
        for call_id in call_ids:
            call = session.get(Call, call_id)
            assert call is not None
            session.expunge(call)
            calls.append(call)
    return calls


def _charge_call(database: Database, call: Call, at: datetime) -> None:
    """Charge the blocks of one call in order, one write transaction each, as metering does."""
    for n in range(BLOCKS_PER_CALL):
        with database.write() as session:
            row = session.get(Call, call.id)
            assert row is not None
            _entry, created = ledger.charge_block(session, row, n, RATE_CENTS, at)
            assert created, f"block {n} of {call.uniqueid} was charged before"


def _across_customers(calls: list[Call]) -> list[Call]:
    """Order calls round-robin over their customers, so that neighbours belong to different customers."""
    by_customer: dict[int | None, list[Call]] = {}
    for call in calls:
        by_customer.setdefault(call.customer_id, []).append(call)
    rounds = itertools.zip_longest(*by_customer.values())
    return [call for calls_of_round in rounds for call in calls_of_round if call is not None]


def _charge_run(
    database: Database, call_ids: list[int], threads: int = 1, limit_seconds: float = CHARGE_RUN_SECONDS
) -> float:
    """Charge the blocks of the calls from ``threads`` threads for at most ``limit_seconds``.

    Each thread takes the next call and charges its blocks in order, so two
    blocks of one call are never charged at once, just as the meter charges
    a call's blocks one after another. Returns charges per second.
    """
    at = datetime.now(UTC)
    queue = iter(_across_customers(_detached_calls(database, call_ids)))
    queue_lock = threading.Lock()
    started = time.perf_counter()

    def charge_until_done() -> int:
        charged = 0
        while time.perf_counter() - started <= limit_seconds:
            with queue_lock:
                call = next(queue, None)
            if call is None:
                break
            _charge_call(database, call, at)
            charged += BLOCKS_PER_CALL
        return charged

    if threads == 1:
        charged = charge_until_done()
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="charge") as pool:
            workers = [pool.submit(charge_until_done) for _ in range(threads)]
            charged = sum(worker.result() for worker in workers)
    return charged / (time.perf_counter() - started)


def _add_calls(database: Database, customers: list[int], prefix: str, count: int) -> list[int]:
    call_ids: list[int] = []
    for index, customer_id in enumerate(customers):
        call_ids += add_answered_calls(
            database,
            customer_id,
            f"HD-B{index}",
            f"{prefix}c{index}",
            count // len(customers),
            BLOCKS_PER_CALL * RATE_CENTS,
        )
    return call_ids


def _charges_on(backend: str, options: Options, folder: Path, threads: int) -> dict[int, Series]:
    """Measure charges per second from one thread and from ``threads`` threads; key: thread count."""
    calls_per_run = options.size(CALLS_PER_RUN, CUSTOMERS)
    results: dict[int, Series] = {1: Series(), threads: Series()}
    with database_for(backend, folder) as database:
        customers = [
            add_prepaid_customer(database, f"HD-B{number}", f"+3161000{number:04d}", 10_000_000)
            for number in range(CUSTOMERS)
        ]
        for run_number in range(options.runs):
            for thread_count, series in results.items():
                call_ids = _add_calls(database, customers, f"r{run_number}t{thread_count}", calls_per_run)
                series.add(_charge_run(database, call_ids, thread_count))
                log(
                    f"ledger: {backend} run {run_number + 1}, {thread_count} thread(s): "
                    f"{series.values[-1]:,.0f} charges/s"
                )
    return results


def charges(options: Options) -> Section:
    threads = metering_threads()
    section = Section(
        key="ledger",
        title="Ledger charges",
        commands=["python -m bench --only ledger"],
        header=["database", "threads", "charges/s", "wall ms per charge"],
    )
    results: dict[str, dict[int, Series]] = {}
    with tempfile.TemporaryDirectory(prefix="callmeter-bench-") as folder:
        results["sqlite"] = _charges_on("sqlite", options, Path(folder), threads)
        problem = postgres_problem()
        if problem is None:
            results["postgresql"] = _charges_on("postgresql", options, Path(folder), threads)
        else:
            section.notes.append(f"PostgreSQL not measured: {problem}.")
    for backend, by_threads in results.items():
        for thread_count, series in by_threads.items():
            milliseconds = Series([1000 / value for value in series.values])
            section.rows.append([backend, str(thread_count), series.format(0), milliseconds.format(2)])
    calls_per_run = options.size(CALLS_PER_RUN, CUSTOMERS)
    section.notes.append(
        f"Each charge is `ledger.service.charge_block` in its own `Database.write()` transaction, as metering "
        f"charges a block: lock the customer, check the idempotency key, read the open reservation and the "
        f"balance, insert the entry, update the reservation. Each run charges up to "
        f"{calls_per_run * BLOCKS_PER_CALL:,} blocks ({BLOCKS_PER_CALL} blocks of each of {calls_per_run:,} "
        f"answered calls of {CUSTOMERS} customers), for at most {CHARGE_RUN_SECONDS:g} s. Logging is on at "
        "INFO, to a file."
    )
    section.notes.append(
        f"threads 1: one charge after another. threads {threads}: the size of asyncio's default executor on "
        f"this machine (min(32, {os.cpu_count()} cores + 4)), in which the meter charges blocks through "
        "`asyncio.to_thread` while many calls are up at once. Each thread takes the next call and charges its "
        "blocks in order; the calls alternate between the customers, so the threads seldom wait for the same "
        "customer's lock. wall ms per charge is the run's wall time divided by its charges, not the latency "
        "of one charge."
    )
    postgres = results.get("postgresql")
    goal = f"≥ {CHARGE_GOAL_PER_SECOND:,} charges/s on PostgreSQL from {threads} threads"
    if postgres is None:
        section.goals.append(Goal(goal, None, "not measured"))
        return section
    concurrent = postgres[threads]
    section.goals.append(
        Goal(
            goal,
            concurrent.median >= CHARGE_GOAL_PER_SECOND,
            f"median {concurrent.median:,.0f} charges/s ({postgres[1].median:,.0f} from one thread)",
        )
    )
    if concurrent.median < CHARGE_GOAL_PER_SECOND and options.profile:
        _profile_charges(section, threads)
    return section


def _profile_charges(section: Section, threads: int) -> None:
    """Sample this process with py-spy during one more PostgreSQL charge run from ``threads`` threads."""
    output = temporary_output()
    seconds = int(CHARGE_RUN_SECONDS)
    with (
        tempfile.TemporaryDirectory(prefix="callmeter-bench-") as folder,
        database_for("postgresql", Path(folder)) as database,
    ):
        customers = [
            add_prepaid_customer(database, f"HD-B{number}", f"+3161000{number:04d}", 10_000_000)
            for number in range(CUSTOMERS)
        ]
        call_ids = _add_calls(database, customers, "profile", CALLS_PER_RUN)
        recorder = record_pid(output, os.getpid(), seconds)
        if recorder is None:
            section.notes.append("Profile: py-spy could not be installed, so there is no profile.")
            return
        log(f"ledger: profiling the PostgreSQL charges from {threads} threads with py-spy")
        _charge_run(database, call_ids, threads)
        recorder.wait(seconds + 30)
    spots = hotspots(output, top=15)
    output.unlink(missing_ok=True)
    if spots:
        section.profile = [
            f"py-spy on the bench process during {seconds} s of PostgreSQL charges from {threads} threads; "
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
