"""Virtual environments for the third-party AMI libraries, one each under bench/.venvs/.

asterisk-ami and pyst2 both install a top-level ``asterisk`` package, so
they cannot share an environment with each other, nor with callmeter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.common import VENVS, log

PIP_TIMEOUT_SECONDS = 300


def ensure_venv(name: str, requirement: str) -> Path:
    """Create bench/.venvs/NAME with ``requirement`` installed; return its python.

    The environment is reused while its marker file names the same
    requirement. Delete bench/.venvs/ to fetch the newest releases again.
    """
    root = VENVS / name
    python = root / "bin" / "python"
    marker = root / ".requirement"
    if python.exists() and marker.exists() and marker.read_text() == requirement:
        return python

    log(f"creating {root} with {requirement}")
    subprocess.run(
        [sys.executable, "-m", "venv", "--clear", str(root)], check=True, timeout=PIP_TIMEOUT_SECONDS
    )
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
        check=True,
        timeout=PIP_TIMEOUT_SECONDS,
    )
    marker.write_text(requirement)
    return python


def ensure_installed(module: str, requirement: str) -> bool:
    """Install a tool into the running environment when it is missing; return whether it is there."""
    try:
        __import__(module)
        return True
    except ImportError:
        pass
    log(f"installing {requirement} into {sys.prefix}")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
        check=False,
        timeout=PIP_TIMEOUT_SECONDS,
    )
    if done.returncode != 0:
        return False
    try:
        __import__(module)
    except ImportError:
        return False
    return True
