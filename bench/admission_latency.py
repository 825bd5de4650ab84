"""Admission latency: FastAGI sessions against a large customer base, at concurrency 1, 10 and 100.

The admission server runs alone in its own process (``bench.callmeter_process
admission``) on a copy of a cached SQLite database with 100 000 customers
and 200 000 numbers. The load generator in this process runs
``run_agi_session`` as a PBX would, each session for a different caller,
and times each session from connect to close.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.clocks import OPEN_HOURS_START
from bench.common import REPO, Goal, Options, Section, Series, log, percentile
from bench.ledger_api import _free_port
from bench.metering_load import _wait_for_port
from bench.population import Population, cached_sqlite
from bench.profiling import format_hotspots, hotspots, record_pid, temporary_output
from callmeter.simulator.agi_client import agi_environment, run_agi_session

P99_GOAL_MS = 5.0
GOAL_CONCURRENCY = 100
# Credit that outlasts every grant this benchmark reserves (each admission reserves 120 min).
CREDIT_CENTS = 100_000_000
SESSION_TIMEOUT_SECONDS = 5.0
# Each level of each run stops starting sessions after this many seconds, so
# a slow server bounds the benchmark's time instead of the session count.
LEVEL_DEADLINE_SECONDS = 6.0


@dataclass
class Level:
    concurrency: int
    sessions: int
    rates: Series = field(default_factory=Series)
    p50: Series = field(default_factory=Series)
    p99: Series = field(default_factory=Series)
    verdicts: Counter[str] = field(default_factory=Counter)


async def _load(port: int, population: Population, level: Level, offset: int) -> tuple[float, list[float]]:
    """Run ``level.sessions`` sessions with ``level.concurrency`` at once; return rate and latencies."""
    latencies: list[float] = []
    next_index = iter(range(level.sessions))
    deadline = time.monotonic() + LEVEL_DEADLINE_SECONDS

    async def worker() -> None:
        for index in next_index:
            if time.monotonic() > deadline:
                return
            serial = offset + index
            customer = serial % population.customers
            number = serial // population.customers % population.numbers_per_customer
            uniqueid = f"1796720000.{serial}"
            environment = agi_environment(
                uniqueid,
                f"PJSIP/trunk-{serial:08x}",
                population.national(customer, number),
                f"Klant {customer}",
                request_port=port,
            )
            started = time.perf_counter()
            try:
                result = await run_agi_session(
                    "127.0.0.1",
                    port,
                    environment,
                    {"CALLERID(num-pres)": "allowed_not_screened"},
                    timeout=SESSION_TIMEOUT_SECONDS,
                )
                level.verdicts[result.variables.get("CALLMETER_VERDICT", "none")] += 1
            except (OSError, TimeoutError) as error:
                level.verdicts[f"failed: {type(error).__name__}"] += 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(level.concurrency):
            group.create_task(worker())
    return len(latencies) / (time.perf_counter() - started), latencies


def _start_server(database_path: Path, port: int, folder: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "bench.callmeter_process",
        "admission",
        f"sqlite:///{database_path}",
        "-",
        str(port),
        "1",
        repr(OPEN_HOURS_START),
        repr(time.time()),
        str(folder / "admission-report.json"),
    ]
    environment = dict(os.environ, CALLMETER_CONFIG=os.devnull)
    with (folder / "admission.log").open("ab") as log_file:
        return subprocess.Popen(
            command, cwd=REPO, env=environment, stdin=subprocess.PIPE, stdout=log_file, stderr=log_file
        )


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    assert server.stdin is not None
    server.stdin.close()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(5)


def run(options: Options) -> Section:
    population = Population(
        customers=options.size(100_000, 200), numbers_per_customer=2, credit_cents=CREDIT_CENTS
    )
    levels = [
        Level(1, options.size(500, 20)),
        Level(10, options.size(1_000, 40)),
        Level(100, options.size(2_000, 200)),
    ]
    section = Section(
        key="admission",
        title="Admission latency",
        commands=[
            "python -m bench --only admission",
            "python -m bench.callmeter_process admission sqlite:///COPY - PORT 1 … (the server)",
        ],
        header=[
            "concurrency",
            "sessions per run (at most)",
            "sessions/s",
            "p50 ms",
            "p99 ms",
            "verdicts (all runs)",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="callmeter-bench-") as folder_name:
        folder = Path(folder_name)
        database_path = cached_sqlite(population, folder / "admission.db")
        port = _free_port()
        server = _start_server(database_path, port, folder)
        try:
            asyncio.run(_wait_for_port_bounded(port))
            offset = 0
            for run_number in range(options.runs):
                for level in levels:
                    rate, latencies = asyncio.run(_load(port, population, level, offset))
                    offset += level.sessions
                    level.rates.add(rate)
                    level.p50.add(percentile(latencies, 0.50))
                    level.p99.add(percentile(latencies, 0.99))
                    log(
                        f"admission: run {run_number + 1}, concurrency {level.concurrency}: {rate:,.0f}/s, "
                        f"p99 {level.p99.values[-1]:.1f} ms"
                    )
            goal_level = levels[-1]
            met = goal_level.p99.median <= P99_GOAL_MS
            if not met and options.profile:
                _profile(section, server.pid, port, population, goal_level, offset)
        finally:
            _stop_server(server)

    for level in levels:
        verdicts = ", ".join(f"{name} {count:,}" for name, count in level.verdicts.most_common())
        section.rows.append(
            [
                str(level.concurrency),
                f"{level.sessions:,}",
                level.rates.format(0),
                level.p50.format(2),
                level.p99.format(2),
                verdicts,
            ]
        )
    section.notes.append(
        f"{population.customers:,} prepaid customers with {population.numbers_per_customer} numbers each "
        f"({population.customers * population.numbers_per_customer:,} numbers), built once with SQLAlchemy Core "
        "executemany and cached in bench/.cache/; each benchmark run works on a copy. Every session is a "
        "different caller in national format (06…), is admitted and reserves a 120-minute grant in its own "
        "write transaction. Latency is measured by the client from connect to the server closing the "
        "session; the client runs in the bench process, the server in its own. Each concurrency level of each "
        f"run stops starting sessions after {LEVEL_DEADLINE_SECONDS:g} s, so a slow server does fewer sessions; "
        "`none` counts sessions the server closed without setting a verdict (its 2 s session limit)."
    )
    # Little's law: with a closed loop of N sessions always in flight, the mean
    # latency is N divided by the rate, whatever the server does per session.
    needed = GOAL_CONCURRENCY / (P99_GOAL_MS / 1000)
    section.notes.append(
        f"The load is a closed loop: each of the {GOAL_CONCURRENCY} clients starts its next session when the "
        f"last one ends, so the mean latency is {GOAL_CONCURRENCY} divided by the sessions per second. A p99 of "
        f"{P99_GOAL_MS:g} ms at concurrency {GOAL_CONCURRENCY} therefore needs at least {needed:,.0f} sessions/s "
        "from one process writing one SQLite database; at concurrency 100 the latency is the queue, and the "
        "concurrency 1 row shows the time of one session on its own."
    )
    section.goals.append(
        Goal(
            f"p99 ≤ {P99_GOAL_MS:g} ms at concurrency {GOAL_CONCURRENCY} on SQLite",
            levels[-1].p99.median <= P99_GOAL_MS,
            f"median p99 {levels[-1].p99.median:,.2f} ms, {levels[-1].rates.median:,.0f} sessions/s",
        )
    )
    return section


async def _wait_for_port_bounded(port: int) -> None:
    await _wait_for_port(port, time.monotonic() + 60.0)


def _profile(
    section: Section, pid: int, port: int, population: Population, level: Level, offset: int
) -> None:
    """Sample the admission server with py-spy during one more run at the goal's concurrency."""
    output = temporary_output()
    seconds = 5
    recorder = record_pid(output, pid, seconds)
    if recorder is None:
        section.notes.append("Profile: py-spy could not be installed, so there is no profile.")
        return
    log("admission: profiling the server with py-spy")
    probe = Level(level.concurrency, level.sessions)
    asyncio.run(_load(port, population, probe, offset))
    recorder.wait(seconds + 30)
    spots = hotspots(output, top=15)
    output.unlink(missing_ok=True)
    if spots:
        section.profile = [
            f"py-spy on the admission server during {seconds} s at concurrency {level.concurrency}; "
            "share of samples that were not waiting:",
            *format_hotspots(spots),
        ]
