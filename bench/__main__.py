"""Run every benchmark and write bench/RESULTS.md: ``python -m bench [--only NAME,…] [--runs N]``."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import admission_latency, ami_ingest, ledger_api, metering_load
from bench.common import CACHE, RESULTS, Goal, Options, Section, load_average, log, log_to_file
from bench.report import render

BENCHMARKS: dict[str, tuple[str, Callable[[Options], list[Section]]]] = {
    "ami": ("AMI ingest", lambda options: [ami_ingest.run(options)]),
    "metering": ("Metering under load", metering_load.run),
    "admission": ("Admission latency", lambda options: [admission_latency.run(options)]),
    "ledger": ("Ledger and API", ledger_api.run),
}


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated benchmarks to run, of: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each figure (default 5)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes that only prove the benchmarks work")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help=f"where to write the report (default {RESULTS})"
    )
    arguments = parser.parse_args(argv)
    names = [name.strip() for name in arguments.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    if arguments.runs < 1:
        parser.error("--runs must be at least 1")
    arguments.names = names
    return arguments


def run_all(names: list[str], options: Options) -> list[Section]:
    """Run the named benchmarks; a benchmark that fails becomes a section saying why."""
    sections: list[Section] = []
    for name in names:
        title, benchmark = BENCHMARKS[name]
        log(f"{name}: starting")
        started = time.monotonic()
        try:
            produced = benchmark(options)
        except Exception as error:  # one broken benchmark must not lose the others' figures
            traceback.print_exc()
            produced = [
                Section(
                    key=name,
                    title=title,
                    notes=[f"The benchmark failed: {type(error).__name__}: {error}"],
                    goals=[Goal(f"{title} ran", False, "see the note")],
                )
            ]
        elapsed = time.monotonic() - started
        for section in produced:
            section.seconds = elapsed / len(produced)
        log(f"{name}: done in {elapsed:.0f} s")
        sections.extend(produced)
    return sections


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    options = Options(runs=arguments.runs, quick=arguments.quick)
    log_to_file(CACHE / "callmeter.log")
    started = time.monotonic()
    load_before = load_average()
    sections = run_all(arguments.names, options)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    report = render(
        sections, options, command.strip(), time.monotonic() - started, load_before, load_average()
    )
    arguments.output.write_text(report)
    log(f"wrote {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
