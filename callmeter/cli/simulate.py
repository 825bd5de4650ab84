"""CLI commands: simulate."""

from __future__ import annotations

from callmeter.cli import app  # noqa: F401
