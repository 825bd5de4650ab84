"""The meter acts on its own events only, so the AMI client may skip the rest unparsed."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callmeter.db import Database
from callmeter.db.models import Call, CallBlock, CdrRecord, LedgerEntry
from callmeter.metering import Meter
from callmeter.settings import Settings
from tests.metering.support import AMI_FIXTURES, RECORDING_CUSTOMERS, add_customer, feed_recording

RECORDINGS = sorted(path.name.removesuffix(".ami-all.jsonl") for path in AMI_FIXTURES.glob("*.ami-all.jsonl"))


def _is_handled(record: dict[str, Any]) -> bool:
    raw = str(record["raw"])
    if record["dir"] != "in" or not raw.startswith("Event: "):
        return True
    return raw.partition("\r\n")[0].removeprefix("Event: ").lower() in Meter.handled_events


def _outcome(folder: Path, name: str, handled_only: bool) -> dict[str, list[str]]:
    """Meter a read = all recording, with every event or only the meter's, and return what it stored."""
    folder.mkdir()
    shutil.copy(AMI_FIXTURES / f"{name}.agi.jsonl", folder / f"{name}.agi.jsonl")
    lines = (AMI_FIXTURES / f"{name}.ami-all.jsonl").read_text(encoding="utf-8").splitlines()
    # The first stamped event anchors the recording's clock, so it stays either way.
    anchor = next(line for line in lines if "\\r\\nTimestamp: " in line)
    kept = [line for line in lines if not handled_only or line == anchor or _is_handled(json.loads(line))]
    (folder / f"{name}.ami.jsonl").write_text("\n".join(kept) + "\n", encoding="utf-8")
    database = Database(f"sqlite:///{folder / 'callmeter.db'}")
    try:
        database.upgrade()
        for helpdesk_id, number in RECORDING_CUSTOMERS:
            add_customer(database, helpdesk_id, number, credit_cents=100_000)
        asyncio.run(feed_recording(database, Settings(), name, folder))
        stored: dict[str, list[str]] = {}
        with database.read() as session:
            for model in (Call, CallBlock, LedgerEntry, CdrRecord):
                rows = session.scalars(select(model)).all()
                columns = [column.name for column in model.__table__.columns if column.name != "id"]
                stored[model.__name__] = sorted(
                    repr([getattr(row, column) for column in columns]) for row in rows
                )
        return stored
    finally:
        database.dispose()


@pytest.mark.parametrize("name", RECORDINGS)
def test_meter_same_on_own_events(tmp_path: Path, name: str) -> None:
    every_event = _outcome(tmp_path / "all", name, handled_only=False)
    own_events = _outcome(tmp_path / "own", name, handled_only=True)

    assert own_events == every_event
    assert every_event["Call"]


def test_early_leg_cdr_kept(db: Database) -> None:
    # In s02 the agent leg's Cdr (1796413040.89) comes before its Hangup. The leg's
    # Newchannel gave the Linkedid that ties it to the admitted call.
    for helpdesk_id, number in RECORDING_CUSTOMERS:
        add_customer(db, helpdesk_id, number, credit_cents=100_000)

    asyncio.run(feed_recording(db, Settings(), "s02-caller-hangs-up"))

    with db.read() as session:
        cdrs = {(row.uniqueid, row.billable_seconds) for row in session.scalars(select(CdrRecord)).all()}
    assert ("1796413040.89", 10) in cdrs
