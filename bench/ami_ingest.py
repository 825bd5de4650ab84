"""AMI ingest: callmeter's client against panoramisk, asterisk-ami and pyst2 on the same bytes.

The harness server (:mod:`bench.ami_feed`) runs in this process. Each
client runs in its own process, the third-party ones with the Python of
their own virtual environment. A client reports events, seconds, CPU
seconds and peak RSS (``ru_maxrss``) as one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ami_feed import FeedServer, Stream, build_stream
from bench.common import BENCH, REPO, Goal, Options, Section, Series, log
from bench.profiling import format_hotspots, hotspots, record_prefix, temporary_output
from bench.venvs import ensure_venv

RUNNERS = BENCH / "ami_runners"
GOAL_RATIO = 3.0
# Seconds without a new event after which a runner gives up on a stalled library.
STALL_SECONDS = 5.0
# pyst2 reads its socket one byte at a time (about 1 000 events/s on the
# reference machine), so its runs are capped at this many events and its
# time for the full count is extrapolated.
PYST2_EVENTS = 5_000


@dataclass
class Client:
    """One measured client: how to start it and which stream it gets."""

    label: str
    command: list[str]
    stream: Stream
    deadline_seconds: float
    arguments: list[str] = field(default_factory=list)
    note: str = ""
    rates: Series = field(default_factory=Series)
    microseconds: Series = field(default_factory=Series)
    rss_mib: Series = field(default_factory=Series)
    cpu_share: Series = field(default_factory=Series)
    version: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return bool(self.rates.values)


def run_client(
    client: Client, stall_seconds: float = STALL_SECONDS, prefix: list[str] | None = None
) -> dict[str, Any]:
    """Serve the client's stream to one run of it and return its report."""
    server = FeedServer(client.stream, client.deadline_seconds)
    server.serve_once()
    command = [*(prefix or []), *client.command]
    arguments = [
        "127.0.0.1",
        str(server.port),
        str(client.deadline_seconds),
        str(stall_seconds),
        *client.arguments,
    ]
    with tempfile.TemporaryFile("w+") as errors:
        try:
            done = subprocess.run(
                [*command, *arguments],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                cwd=REPO,
                timeout=client.deadline_seconds + 30,
                check=False,
            )
            output = done.stdout
        except subprocess.TimeoutExpired:
            output = ""
        errors.seek(0)
        stderr_tail = errors.read()[-2000:]
    server.join(10)
    server.close()
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if not lines:
        return {"events": 0, "finished": False, "error": f"no report; stderr ends with: {stderr_tail[-500:]}"}
    report: dict[str, Any] = json.loads(lines[-1])
    report["actions"] = server.actions
    return report


def _record(client: Client, report: dict[str, Any]) -> None:
    client.version = str(report.get("version", ""))
    expected = client.stream.events
    events, seconds = int(report.get("events", 0)), float(report.get("seconds", 0.0))
    if report.get("error"):
        client.problems.append(str(report["error"]))
    for error in report.get("thread_errors", []):
        client.problems.append(f"thread died: {error}")
    if not report.get("finished"):
        why = "stalled" if report.get("stalled") else "hit its time limit"
        client.problems.append(f"{why} after {events:,} of {expected:,} events")
        return
    if events != expected:
        client.problems.append(f"handled {events:,} of {expected:,} events")
    if events > 1 and seconds > 0:
        rate = (events - 1) / seconds
        client.rates.add(rate)
        client.microseconds.add(1e6 / rate)
        client.rss_mib.add(float(report.get("maxrss_kib", 0)) / 1024)
        client.cpu_share.add(float(report.get("cpu_seconds", 0.0)) / seconds)


def _clients(options: Options) -> tuple[list[Client], Client]:
    """Build the measured clients and the pyst2 conformance probe."""
    events = options.size(1_000_000, 3_000)
    full = build_stream(events)
    small = build_stream(options.size(200_000, 3_000))
    # pyst2's message thread dies on the first header whose name contains
    # "ChanVariable", so its speed is measured on the stream without them.
    no_chanvariable = build_stream(options.size(PYST2_EVENTS, 1_000), skip_header="ChanVariable")
    deadline = 150.0 if not options.quick else 60.0

    python = sys.executable
    panoramisk = ensure_venv("panoramisk", "panoramisk")
    asterisk_ami = ensure_venv("asterisk-ami", "asterisk-ami==0.1.7")
    pyst2 = ensure_venv("pyst2", "pyst2")

    clients = [
        Client(
            "callmeter (AmiClient → Meter.on_event)",
            [python, "-m", "bench.ami_runners.run_callmeter"],
            full,
            deadline,
        ),
        Client(
            "callmeter client, minimal handler",
            [python, "-m", "bench.ami_runners.run_callmeter"],
            small,
            deadline,
            arguments=["minimal"],
            note="the handler of the other rows instead of the meter, behind the same event filter; a shorter stream",
        ),
        Client("panoramisk", [str(panoramisk), str(RUNNERS / "run_panoramisk.py")], full, deadline),
        Client("asterisk-ami", [str(asterisk_ami), str(RUNNERS / "run_asterisk_ami.py")], full, deadline),
        Client(
            "pyst2",
            [str(pyst2), str(RUNNERS / "run_pyst2.py")],
            no_chanvariable,
            deadline,
            note="capped stream without *ChanVariable headers; full count extrapolated",
        ),
    ]
    probe = Client(
        "pyst2 on the full stream", [str(pyst2), str(RUNNERS / "run_pyst2.py")], build_stream(2_700), 60.0
    )
    return clients, probe


def run(options: Options) -> Section:
    clients, probe = _clients(options)
    full_events = clients[0].stream.events
    section = Section(
        key="ami",
        title="AMI ingest",
        commands=["python -m bench --only ami"],
    )
    for number in range(1, options.runs + 1):
        for client in clients:
            log(f"ami: run {number}/{options.runs}: {client.label}, {client.stream.events:,} events")
            _record(client, run_client(client))

    log("ami: pyst2 on the full stream, once")
    probe_report = run_client(probe)

    for client in clients:
        parts = [_relative(part) for part in client.command]
        section.commands.append(" ".join([*parts, "127.0.0.1 PORT DEADLINE STALL", *client.arguments]))
    _fill_table(section, clients, full_events)
    _add_notes(section, clients, probe, probe_report, full_events)
    _add_goal(section, clients)
    if section.goals[0].met is False and options.profile:
        _profile(section, clients[0], clients[1].stream)
    return section


def _profile(section: Section, ours: Client, stream: Stream) -> None:
    """Run callmeter once more under py-spy and note where its time goes."""
    output = temporary_output()
    prefix = record_prefix(output)
    if prefix is None:
        section.notes.append("Profile: py-spy could not be installed, so there is no profile.")
        return
    log(f"ami: profiling callmeter with py-spy on {stream.events:,} events")
    profiled = Client(ours.label, ours.command, stream, ours.deadline_seconds, arguments=ours.arguments)
    run_client(profiled, prefix=prefix)
    spots = hotspots(output, top=12)
    output.unlink(missing_ok=True)
    if spots:
        section.profile = [
            f"py-spy, {stream.events:,} events through {ours.label}; share of samples that were not waiting:",
            *format_hotspots(spots),
        ]


def _relative(part: str) -> str:
    """Show a path inside the repository relative to it, and the bench's own Python as its venv path."""
    if part == sys.executable:
        return ".venv/bin/python"
    path = Path(part)
    return str(path.relative_to(REPO)) if path.is_absolute() and path.is_relative_to(REPO) else part


def _fill_table(section: Section, clients: list[Client], full_events: int) -> None:
    section.header = [
        "client",
        "version",
        "events per run",
        "events/s",
        "µs/event",
        "peak RSS MiB",
        "CPU/wall",
        f"s per {full_events:,} events",
    ]
    for client in clients:
        per_full = Series([full_events / rate for rate in client.rates.values])
        estimated = " (extrapolated)" if client.stream.events < full_events and client.measured else ""
        section.rows.append(
            [
                client.label,
                client.version,
                f"{client.stream.events:,}",
                client.rates.format(0),
                client.microseconds.format(1),
                client.rss_mib.format(0),
                client.cpu_share.format(2),
                per_full.format(1) + estimated,
            ]
        )


def _add_notes(
    section: Section, clients: list[Client], probe: Client, probe_report: dict[str, Any], full_events: int
) -> None:
    first = clients[0].stream
    section.notes.append(
        f"Stream: the {first.events_per_cycle:,} `Event:` frames of tests/fixtures/ami/*.ami-all.jsonl "
        f"({first.bytes_per_cycle / first.events_per_cycle:.0f} bytes on average), repeated {first.cycles} times, "
        "then one end marker, sent over 127.0.0.1 by a server in the parent process. "
        "Time runs to the end marker handled, inside the client process: for the libraries from the "
        "first event handled, for callmeter from its login, which comes before the first event."
    )
    section.notes.append(
        "The handler of panoramisk, asterisk-ami, pyst2 and the minimal callmeter row reads the event "
        "name and the Uniqueid and does one dict lookup. The first callmeter row hands the events to "
        "the production `Meter.on_event` on an empty SQLite database, so it also pays for the meter's "
        "database lookups of unknown Uniqueids (cached for 2 s)."
    )
    section.notes.append(
        "Both callmeter rows run the client as the service does: given the meter's event names "
        "(`Meter.handled_events`: the call events, Cdr and Newchannel), it skips every other event by "
        "the first line of the raw frame, before decoding or parsing it, which in this stream is about "
        "nine events in ten (VarSet, CEL, Newexten, DeviceStateChange and the like). The runner adds "
        "UserEvent so that the end marker arrives. Its event count is the events handled plus the "
        "events skipped, so every event of the stream counts, as it does for the libraries, which "
        "hand all of them to their handlers."
    )
    for client in clients:
        for problem in dict.fromkeys(client.problems):
            section.notes.append(f"{client.label}: {problem}.")
        if client.note:
            section.notes.append(f"{client.label}: {client.note}.")
    events = int(probe_report.get("events", 0))
    errors = (
        "; ".join(probe_report.get("thread_errors", [])) or probe_report.get("error") or "no error reported"
    )
    state = "finished" if probe_report.get("finished") else "stopped delivering events"
    section.notes.append(
        f"pyst2 on the full stream ({probe.stream.events:,} events): {state} after {events:,} events "
        f"({errors}). pyst2's `ManagerMsg.parse` calls `dict.has_key`, which Python 3 does not have, for "
        "every header whose name contains `ChanVariable` (`LocalOneChanVariable` in a `LocalBridge` event "
        "is the first); its message thread then waits on its reader for good and no event arrives again."
    )
    section.notes.append(
        "panoramisk ran unmodified on this Python when given the running event loop "
        "(`Manager(loop=…)`); its documented `asyncio.get_event_loop()` outside a running loop is "
        "deprecated from Python 3.12."
    )


def _add_goal(section: Section, clients: list[Client]) -> None:
    ours = clients[0]
    others = [client for client in clients[2:] if client.measured]
    if not ours.measured or not others:
        section.goals.append(Goal(f"callmeter ≥ {GOAL_RATIO:g}× the fastest library", None, "not measured"))
        return
    fastest = max(others, key=lambda client: client.rates.median)
    ratio = ours.rates.median / fastest.rates.median
    section.goals.append(
        Goal(
            f"callmeter ≥ {GOAL_RATIO:g}× the fastest library",
            ratio >= GOAL_RATIO,
            f"{ratio:.2f}× {fastest.label} (medians {ours.rates.median:,.0f} vs {fastest.rates.median:,.0f} events/s)",
        )
    )
    minimal = clients[1]
    if minimal.measured:
        ratio_alone = minimal.rates.median / fastest.rates.median
        section.notes.append(
            f"Client alone: callmeter with the minimal handler runs at {ratio_alone:.2f}× {fastest.label}."
        )
