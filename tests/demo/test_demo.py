"""The demo day, played fast through the real service and the simulated PBX."""

from __future__ import annotations

import io

from rich.console import Console
from sqlalchemy import select

from callmeter.db import Database
from callmeter.db.models import Call
from callmeter.demo.day import EXPECTED_BALANCES_CENTS
from callmeter.demo.runner import DemoOptions, run_demo


async def test_demo_day_final_balances_exact() -> None:
    output = io.StringIO()
    result = await run_demo(DemoOptions(fast=True, live=False), Console(file=output, width=160))

    assert result.matches, output.getvalue()
    assert result.balances_cents == EXPECTED_BALANCES_CENTS
    assert "Alle saldi kloppen" in output.getvalue()


async def test_demo_day_charges_per_call() -> None:
    result = await run_demo(DemoOptions(fast=True, live=False), Console(file=io.StringIO(), width=160))
    assert result.database_path is not None
    database = Database(f"sqlite:///{result.database_path}")
    with database.read() as session:
        calls = session.scalars(select(Call).order_by(Call.admitted_at, Call.id)).all()
        verdicts = [call.verdict for call in calls]
        charges = [(call.helpdesk_id, call.blocks_charged, call.charged_cents, call.cut_off) for call in calls]
    database.dispose()

    assert verdicts.count("withheld") == 3
    assert verdicts.count("closed") == 1
    assert verdicts.count("unknown_number") == 1
    assert verdicts.count("no_credit") == 1
    assert verdicts.count("blocked") == 1
    admitted = [charge for charge, verdict in zip(charges, verdicts, strict=True) if verdict == "admitted"]
    assert admitted == [
        ("HD-1001", 1, 500, False),  # 09:05, 240 s
        ("HD-1002", 3, 1500, False),  # contract via the queue: recorded, not deducted
        ("HD-1001", 0, 0, False),  # nobody answers
        ("HD-1001", 2, 1000, False),  # at once 1
        ("HD-1001", 1, 500, False),  # at once 2
        ("HD-1001", 2, 1250, False),  # crossing 18:00: 500 + 750
        ("HD-1005", 1, 750, True),  # credit used up: cut off, the block past the grant not charged
    ]


async def test_demo_english_output() -> None:
    output = io.StringIO()
    await run_demo(DemoOptions(language="en", fast=True, live=False), Console(file=output, width=160))
    assert "Every balance matches the hand calculation." in output.getvalue()
    assert "crossing 18:00" in output.getvalue()
