"""CLI commands for customers, numbers and the ledger."""

from __future__ import annotations

from callmeter.cli import app  # noqa: F401
