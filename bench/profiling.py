"""Sampling profiles with py-spy, summarised as the functions that take the most time.

py-spy (from PyPI) samples the stacks of a running Python process from the
outside, so a profile does not slow the measured code down much. It is
installed into the running environment on first use.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.common import log

PIP_TIMEOUT_SECONDS = 300
SAMPLE_RATE_HZ = 250
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


@dataclass(frozen=True)
class Hotspot:
    function: str
    self_share: float  # of all samples, 0..1
    total_share: float


def py_spy() -> Path | None:
    """Return the py-spy executable next to this Python, installing it when missing."""
    executable = Path(sys.executable).parent / "py-spy"
    if executable.exists():
        return executable
    log("installing py-spy for the profiles")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "py-spy"],
        check=False,
        timeout=PIP_TIMEOUT_SECONDS,
    )
    return executable if done.returncode == 0 and executable.exists() else None


def record_prefix(output: Path) -> list[str] | None:
    """Return the command prefix that runs a command under py-spy, writing raw stacks to ``output``."""
    executable = py_spy()
    if executable is None:
        return None
    return [
        str(executable),
        "record",
        "--format",
        "raw",
        "--rate",
        str(SAMPLE_RATE_HZ),
        "--nonblocking",
        "--output",
        str(output),
        "--",
    ]


def record_pid(output: Path, pid: int, seconds: int) -> subprocess.Popen[bytes] | None:
    """Start py-spy sampling a running process for ``seconds``; None when py-spy is missing."""
    executable = py_spy()
    if executable is None:
        return None
    command = [str(executable), "record", "--format", "raw", "--rate", str(SAMPLE_RATE_HZ), "--nonblocking"]
    command += ["--pid", str(pid), "--duration", str(seconds), "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _short(frame: str) -> str:
    """Shorten ``func (/long/path/module.py:12)`` to ``module.py:func``."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{Path(match['file']).name}:{match['function']}"


# Leaf functions where a thread waits: on a socket, or for work in a pool.
_WAITS = (":select", ":poll", "threading.py:Condition.wait", "threading.py:Event.wait", "queue.py:Queue.get")


def _waiting(function: str) -> bool:
    return function.endswith(_WAITS)


def hotspots(raw: Path, top: int = 10, skip_idle: bool = True) -> list[Hotspot]:
    """Summarise py-spy raw output: the functions with the most samples of their own.

    With ``skip_idle``, samples of threads waiting on a socket or for work
    are left out, so the shares are of the time spent working.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [_short(frame) for frame in stack.split(";")]
        if skip_idle and frames and _waiting(frames[-1]):
            continue
        count = int(count_text)
        total += count
        own[frames[-1]] += count
        for function in set(frames):
            inclusive[function] += count
    if total == 0:
        return []
    return [
        Hotspot(function, count / total, inclusive[function] / total)
        for function, count in own.most_common(top)
    ]


def format_hotspots(spots: list[Hotspot]) -> list[str]:
    return [f"{spot.self_share:6.1%} self {spot.total_share:6.1%} total  {spot.function}" for spot in spots]


def temporary_output() -> Path:
    with tempfile.NamedTemporaryFile(prefix="bench-profile-", suffix=".txt", delete=False) as handle:
        return Path(handle.name)
