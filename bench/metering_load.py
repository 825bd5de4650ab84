"""Metering under load: the simulated PBX places many concurrent calls through a callmeter process.

The simulator (AMI server and calls, on an :class:`AnchoredClock`) runs in
the bench process. callmeter's :class:`Service` (FastAGI admission, AMI
client, meter) runs in its own process on the same virtual clock, so block
timers fire on virtual time. Each call is admitted over FastAGI, answered,
talks for several 5-minute blocks and is hung up by the agent.

Figures per run:

* event lag: wall time from an event being written by the simulator to
  callmeter's meter having handled it, matched by (event, Uniqueid, Timestamp);
* admissions per second: admitted calls over the span from the first
  FastAGI session's start to the last one's end;
* CPU: the callmeter process's user+system seconds over its wall time;
* charging errors: per call, the cents in the ledger against
  ``Tariff.quote`` of the simulator's own answer time and talk time.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.callmeter_process import AMI_SECRET, AMI_USERNAME, event_key
from bench.clocks import OPEN_HOURS_START, AnchoredClock
from bench.common import REPO, Goal, Options, Section, Series, log, percentile
from bench.databases import postgres_database, postgres_problem, sqlite_database
from bench.ledger_api import _free_port
from bench.population import Population, populate
from bench.profiling import format_hotspots, hotspots, record_pid, temporary_output
from callmeter.ami.message import Message
from callmeter.db import Database
from callmeter.db.models import Call, LedgerEntry
from callmeter.settings import Settings
from callmeter.simulator.admit import Admission, AdmissionRequest, fastagi_admitter
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.calls import CallOutcome, CallSpec
from callmeter.simulator.pbx import SimulatedPbx
from callmeter.simulator.scenarios import play_scenario
from callmeter.tariffs import Tariff

LAG_GOAL_MS = 100.0
# Virtual seconds per real second. Block timers and talk times shrink with it;
# the lag is measured in real time, so it does not.
SPEED = 50.0
# The smoke test's speed: its few calls finish in seconds.
QUICK_SPEED = 1000.0
# Calls start spread over this many real seconds (1 000 calls: 50 admissions/s
# offered). Every call talks until after the last one arrived, so all are up
# at once. The calls that arrive last talk 1 or 2 blocks beyond that.
ARRIVAL_REAL_SECONDS = 20.0
EXTRA_BLOCKS = (1, 2)
BLOCK_SECONDS = 300.0
# Each talk time ends in the middle of a block, so that scheduling jitter of
# up to half a block (3 s real at 50x) cannot move it across a boundary.
MID_BLOCK_SECONDS = 150.0
CREDIT_CENTS = 1_000_000
CONNECT_TIMEOUT_SECONDS = 60.0
# Real seconds callmeter gets to handle the end marker before it is stopped.
# Long enough for an overloaded run to work off its backlog, so that its
# charges can still be checked.
END_TIMEOUT_SECONDS = 120.0


@dataclass
class RunResult:
    lag_ms: list[float] = field(default_factory=list)
    unmatched_events: int = 0
    admissions_per_second: float = 0.0
    offered_per_second: float = 0.0
    admission_ms: list[float] = field(default_factory=list)
    cpu_share: float = 0.0
    wall_seconds: float = 0.0
    calls: int = 0
    admitted: int = 0
    charging_errors: list[str] = field(default_factory=list)
    not_admitted: list[str] = field(default_factory=list)
    events: int = 0
    unfinished: bool = False  # callmeter had not handled the end marker END_TIMEOUT_SECONDS after it was sent


def _calls(population: Population, count: int, arrival_real_seconds: float, speed: float) -> list[CallSpec]:
    window = arrival_real_seconds * speed
    specs = []
    for index in range(count):
        start = window * index / count
        blocks = math.ceil((window - start) / BLOCK_SECONDS) + EXTRA_BLOCKS[index % len(EXTRA_BLOCKS)]
        specs.append(
            CallSpec(
                population.national(index, 0),
                f"Klant {index}",
                start_seconds=start,
                answer_seconds=2.0,
                talk_seconds=(blocks - 1) * BLOCK_SECONDS + MID_BLOCK_SECONDS,
                hangup_by="agent",
                label=f"load call {index}",
            )
        )
    return specs


@contextmanager
def _callmeter(database_url: str, ami_port: int, fastagi_port: int, clock: AnchoredClock, folder: Path):  # type: ignore[no-untyped-def]
    """Start the callmeter service process; yield (process, report path)."""
    report = folder / "service-report.json"
    report.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "bench.callmeter_process",
        "service",
        database_url,
        str(ami_port),
        str(fastagi_port),
        str(clock.speed),
        repr(clock.virtual_epoch),
        repr(clock.wall_epoch),
        str(report),
    ]
    environment = dict(os.environ, CALLMETER_CONFIG=os.devnull)
    with (folder / "service.log").open("ab") as log_file:
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=log_file, stderr=log_file)
        try:
            yield process, report
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


async def _wait_for_port(port: int, deadline: float) -> None:
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def _play(
    database_url: str,
    population: Population,
    count: int,
    arrival_real_seconds: float,
    speed: float,
    folder: Path,
    profile_output: Path | None = None,
) -> tuple[RunResult, list[CallOutcome], dict[str, deque[float]], dict[str, Any]]:
    """Play one load run; return the partial result, outcomes, sent times and callmeter's report."""
    result = RunResult(calls=count)
    clock = AnchoredClock(speed, OPEN_HOURS_START, time.time() + 5.0)
    sent: dict[str, deque[float]] = defaultdict(deque)

    def sink(message: Message) -> None:
        sent[event_key(message)].append(time.time())

    fastagi_port = _free_port()
    admissions: list[tuple[float, float]] = []
    admit_over_fastagi = fastagi_admitter("127.0.0.1", fastagi_port, timeout_seconds=10.0)

    async def admitter(request: AdmissionRequest) -> Admission:
        started = time.time()
        admission = await admit_over_fastagi(request)
        admissions.append((started, time.time()))
        # A real PBX holds the call in AGI() meanwhile, so the call's own
        # time line moves on to the clock's time, as it would on Asterisk.
        pbx.start_timeline()
        return admission

    server = AmiServer(username=AMI_USERNAME, secret=AMI_SECRET, clock=clock)
    async with server:
        pbx = SimulatedPbx(server, admitter, channel_style="pjsip", event_sink=sink)
        with _callmeter(database_url, server.port, fastagi_port, clock, folder) as (process, report_path):
            deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
            await asyncio.wait_for(server.wait_for_client(), CONNECT_TIMEOUT_SECONDS)
            await _wait_for_port(fastagi_port, deadline)
            recorder = None
            if profile_output is not None:
                recorder = record_pid(profile_output, process.pid, int(arrival_real_seconds + 15))
            # Start the scenario at the clock's anchor, so virtual time starts at 10:00.
            await asyncio.sleep(max(0.0, clock.wall_epoch - time.time()))
            wall_started = time.time()
            outcomes = await play_scenario(pbx, _calls(population, count, arrival_real_seconds, speed))
            sink(
                await server.broadcast(
                    [("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "BenchmarkEnd")]
                )
            )
            try:
                await asyncio.to_thread(process.wait, END_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                result.unfinished = True
                process.terminate()
                await asyncio.to_thread(process.wait, 30)
            result.wall_seconds = time.time() - wall_started
            if recorder is not None:
                await asyncio.to_thread(recorder.wait, 60)
    report: dict[str, Any] = json.loads(report_path.read_text()) if report_path.exists() else {}
    if admissions:
        span = max(end for _, end in admissions) - min(start for start, _ in admissions)
        result.admissions_per_second = len(admissions) / span if span > 0 else 0.0
        result.offered_per_second = count / arrival_real_seconds
        result.admission_ms = [(end - start) * 1000 for start, end in admissions]
    return result, outcomes, sent, report


def _lags(result: RunResult, sent: dict[str, deque[float]], report: dict[str, Any]) -> None:
    for key, handled_at in report.get("handled", []):
        if key.startswith("FullyBooted|"):
            continue  # written by the AMI server at login, not by the simulated calls
        queue = sent.get(key)
        if not queue:
            result.unmatched_events += 1
            continue
        result.lag_ms.append((handled_at - queue.popleft()) * 1000)
    result.events = len(result.lag_ms)


def _check_charges(result: RunResult, database: Database, outcomes: list[CallOutcome]) -> None:
    """Compare each call's charged cents with Tariff.quote of the simulator's answer and talk time."""
    tariff = Tariff(Settings())
    with database.read() as session:
        charged = dict(
            session.execute(
                select(Call.uniqueid, func.coalesce(-func.sum(LedgerEntry.amount_cents), 0))
                .join(LedgerEntry, LedgerEntry.call_id == Call.id)
                .where(LedgerEntry.kind == "charge")
                .group_by(Call.uniqueid)
            ).all()
        )
        states = dict(session.execute(select(Call.uniqueid, Call.state)).all())
    for outcome in outcomes:
        if outcome.verdict != "admitted":
            result.not_admitted.append(f"{outcome.uniqueid}: verdict {outcome.verdict}, expected admitted")
            continue
        result.admitted += 1
        assert outcome.answered_at is not None
        answered_at = datetime.fromtimestamp(outcome.answered_at, UTC)
        expected = tariff.quote("prepaid", answered_at, round(outcome.spec.talk_seconds * 1000)).total_cents
        got = int(charged.get(outcome.uniqueid, 0))
        state = states.get(outcome.uniqueid)
        problems = []
        if got != expected:
            problems.append(f"charged {got} cents, Tariff.quote says {expected}")
        if state != "ended":
            problems.append(f"state {state}, expected ended")
        if problems:
            result.charging_errors.append(f"{outcome.uniqueid}: {' and '.join(problems)}")


def one_run(
    backend: str,
    count: int,
    arrival_real_seconds: float,
    speed: float,
    folder: Path,
    profile_output: Path | None = None,
) -> RunResult:
    """Play ``count`` calls through a fresh callmeter process on a fresh database and check the charges."""
    population = Population(customers=count, numbers_per_customer=1, credit_cents=CREDIT_CENTS)
    with _database(backend, folder) as database:
        populate(database, population)
        result, outcomes, sent, report = asyncio.run(
            _play(database.url, population, count, arrival_real_seconds, speed, folder, profile_output)
        )
        _lags(result, sent, report)
        _check_charges(result, database, outcomes)
        if report.get("cpu_seconds") and result.wall_seconds:
            result.cpu_share = float(report["cpu_seconds"]) / result.wall_seconds
    return result


@contextmanager
def _database(backend: str, folder: Path):  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        with sqlite_database(folder, "metering.db") as database:
            yield database
    else:
        with postgres_database() as database:
            yield database


def run(options: Options) -> list[Section]:
    count = options.size(1_000, 20)
    arrival_real_seconds = options.size(ARRIVAL_REAL_SECONDS, 2)
    speed = QUICK_SPEED if options.quick else SPEED
    backends = ["sqlite"]
    problem = postgres_problem()
    if problem is None:
        backends.append("postgresql")
    section = Section(
        key="metering",
        title="Metering under load",
        commands=["python -m bench --only metering", "python -m bench.callmeter_process service URL …"],
        header=[
            "database",
            "calls",
            "lag p50 ms",
            "lag p99 ms",
            "lag max ms",
            "admissions/s",
            "admission p99 ms",
            "callmeter CPU/wall",
            "calls not admitted (all runs)",
            "calls charged wrong (all runs)",
        ],
    )
    if problem is not None:
        section.notes.append(f"PostgreSQL not measured: {problem}.")
    worst_p99 = 0.0
    worst: tuple[str, float] | None = None
    total_errors = 0
    total_refused = 0
    with tempfile.TemporaryDirectory(prefix="callmeter-bench-") as folder:
        for backend in backends:
            p50, p99, highest, rates, admission_p99, cpu = (Series() for _ in range(6))
            errors: list[str] = []
            refused: list[str] = []
            unmatched = 0
            unfinished = 0
            for run_number in range(options.runs):
                result = one_run(backend, count, arrival_real_seconds, speed, Path(folder))
                if result.lag_ms:
                    p50.add(percentile(result.lag_ms, 0.50))
                    p99.add(percentile(result.lag_ms, 0.99))
                    highest.add(max(result.lag_ms))
                if result.admission_ms:
                    admission_p99.add(percentile(result.admission_ms, 0.99))
                rates.add(result.admissions_per_second)
                cpu.add(result.cpu_share)
                errors += result.charging_errors
                refused += result.not_admitted
                unmatched += result.unmatched_events
                unfinished += result.unfinished
                log(
                    f"metering: {backend} run {run_number + 1}: lag p99 "
                    f"{p99.values[-1] if p99.values else float('nan'):.1f} ms, {result.admitted}/{count} admitted, "
                    f"{len(result.charging_errors)} charging errors, {result.events:,} events"
                )
            worst_p99 = max(worst_p99, p99.median if p99.values else float("inf"))
            total_errors += len(errors)
            total_refused += len(refused)
            section.rows.append(
                [
                    backend,
                    f"{count:,}",
                    p50.format(1),
                    p99.format(1),
                    highest.format(0),
                    rates.format(0),
                    admission_p99.format(1),
                    cpu.format(2),
                    str(len(refused)),
                    str(len(errors)),
                ]
            )
            for error in (errors + refused)[:5]:
                section.notes.append(f"{backend}: {error}.")
            if unmatched:
                section.notes.append(f"{backend}: {unmatched} handled events had no matching sent event.")
            if unfinished:
                section.notes.append(
                    f"{backend}: in {unfinished} of {options.runs} runs callmeter had not handled the end marker "
                    f"{END_TIMEOUT_SECONDS:g} s after the last call ended and was stopped; its lag covers the "
                    "events it handled by then."
                )
            if p99.values and p99.median > LAG_GOAL_MS and (worst is None or p99.median > worst[1]):
                worst = (backend, p99.median)
        if worst is not None and options.profile:
            _profile(section, worst[0], count, arrival_real_seconds, speed, Path(folder))
    section.notes.append(
        f"{count:,} calls from {count:,} prepaid customers arrive evenly over {arrival_real_seconds:g} real seconds "
        f"({count / arrival_real_seconds:,.0f} admissions/s offered), each admitted over FastAGI, answered after "
        f"2 s, and talking until 1 or 2 blocks after the last call arrived, so all are up at once and each has "
        f"several blocks; the agent hangs up. The virtual clock runs {speed:g}× real time from a Tuesday 10:00 in "
        "Amsterdam (zone 1). PJSIP-style channels. The simulator runs in the bench process, callmeter "
        "(`callmeter.service.Service` without the HTTP API) in its own process. Admissions/s is the admitted "
        "calls over the span from the first FastAGI session's start to the last one's end, so it cannot exceed "
        "the offered rate."
    )
    section.notes.append(
        f"At {speed:g}× the meter must post about {count * speed / BLOCK_SECONDS:,.0f} block charges per second "
        f"({count:,} calls, one block per {BLOCK_SECONDS / speed:g} real seconds each): the charge load of "
        f"{count * speed:,.0f} concurrent calls in real time. Block timers fire on the virtual clock. While events "
        "wait, in callmeter's queue or unread in its socket, the meter charges only blocks that started before "
        "the last event it applied, so a backlog delays charges instead of charging a block after a queued "
        "Hangup. The lag covers the events the meter acts on; the AMI client drops the others unparsed, as in "
        "production."
    )
    section.notes.append(
        "A call that is not admitted (a FastAGI session that failed or timed out) is counted apart from the "
        "charging errors, which compare the charged cents of each admitted call with `Tariff.quote` of the "
        "simulator's answer time and talk time."
    )
    section.goals.append(
        Goal(
            f"event lag p99 ≤ {LAG_GOAL_MS:g} ms",
            worst_p99 <= LAG_GOAL_MS,
            f"worst median p99 {worst_p99:,.1f} ms",
        )
    )
    section.goals.append(
        Goal(
            "every call admitted and charged exactly right",
            total_errors == 0 and total_refused == 0,
            f"{total_refused} calls not admitted, {total_errors} calls charged wrong over all runs",
        )
    )
    return [section]


def _profile(
    section: Section, backend: str, count: int, arrival_real_seconds: float, speed: float, folder: Path
) -> None:
    """Run once more on ``backend`` with py-spy sampling the callmeter process."""
    log(f"metering: profiling callmeter on {backend} with py-spy")
    output = temporary_output()
    one_run(backend, count, arrival_real_seconds, speed, folder, profile_output=output)
    spots = hotspots(output, top=15)
    output.unlink(missing_ok=True)
    if spots:
        section.profile = [
            f"py-spy on the callmeter process during one more {backend} run; share of samples that were not waiting:",
            *format_hotspots(spots),
        ]
