"""Shared parts of the benchmarks: paths, the machine, statistics and report sections."""

from __future__ import annotations

import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
CACHE = BENCH / ".cache"
VENVS = BENCH / ".venvs"
RESULTS = BENCH / "RESULTS.md"

POSTGRES_URL = os.environ.get("CALLMETER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Options:
    """How much work each benchmark does."""

    runs: int = 5
    quick: bool = False  # tiny sizes, for the smoke test: proves the code runs, measures nothing

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    @property
    def profile(self) -> bool:
        """Tell whether a missed goal gets a py-spy profile (not in quick runs)."""
        return not self.quick


@dataclass
class Series:
    """One figure measured over several runs."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def format(self, digits: int = 0, scale: float = 1.0) -> str:
        """Format as ``median (min–max)``; an empty series reads "—"."""
        if not self.values:
            return "—"

        def one(value: float) -> str:
            return f"{value * scale:,.{digits}f}"

        if len(self.values) == 1:
            return one(self.values[0])
        return f"{one(self.median)} ({one(self.low)}–{one(self.high)})"


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of unsorted samples (fraction 0.99 for p99)."""
    assert samples, "a percentile needs at least one sample"
    ordered = sorted(samples)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


@dataclass
class Goal:
    """A target from the requirements and whether the last run met it (None: not measured)."""

    text: str
    met: bool | None
    evidence: str


@dataclass
class Section:
    """The part of RESULTS.md that one benchmark writes."""

    key: str
    title: str
    commands: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)  # py-spy summary lines, when a goal was missed
    seconds: float = 0.0


def machine() -> dict[str, str]:
    """Describe the machine: CPU model, cores, Python, OS."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count() or 0),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
    }


def load_average() -> str:
    try:
        return ", ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def git_revision() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def log(message: str) -> None:
    """Print progress to stderr, so a long run shows where it is."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def log_to_file(path: Path) -> None:
    """Send callmeter's structlog output to a file, at INFO and in JSON as the service logs.

    The measured code logs as it does in production, so its logging cost is
    part of every figure. Only the lines go to a file instead of the terminal.
    """
    import structlog

    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a", encoding="utf-8")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=handle),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING, stream=handle)
