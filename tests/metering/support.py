"""Helpers of the metering tests: customers, admitted calls and recordings fed to a meter."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from callmeter import clock
from callmeter.ami.message import Message
from callmeter.customers import service as customers
from callmeter.db import Database
from callmeter.db.models import Call, Customer
from callmeter.ledger import service as ledger
from callmeter.metering import Meter
from callmeter.metering.recording import RecordingClock, recorded_events
from callmeter.settings import Settings
from callmeter.tariffs import Tariff

AMI_FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"
RECORDING_CUSTOMERS = (("HD-1001", "+31612345678"), ("HD-1002", "+31381234567"), ("HD-1003", "+31201112233"))


def add_customer(db: Database, helpdesk_id: str, number: str, plan: str = "prepaid", credit_cents: int = 0) -> int:
    with db.write() as session:
        customer = customers.create_customer(session, helpdesk_id, f"Klant {helpdesk_id}", plan)
        customers.add_number(session, helpdesk_id, number)
        if credit_cents:
            ledger.top_up(
                session, customer.id, credit_cents, f"F-{helpdesk_id}", f"topup:{helpdesk_id}", "test",
                datetime(2026, 12, 1, tzinfo=UTC),
            )
        return customer.id


def admit(
    db: Database,
    settings: Settings,
    uniqueid: str,
    helpdesk_id: str,
    at: datetime,
    limit_ms: int | None = None,
) -> int:
    """Record an admitted call the way admission does, with its grant reserved."""
    with db.write() as session:
        customer = session.scalar(select(Customer).where(Customer.helpdesk_id == helpdesk_id))
        assert customer is not None
        plan = customer.plan
        tariff = Tariff(settings)
        available = ledger.credit(session, customer.id).available_cents
        grant = tariff.grant(plan, at, available)  # type: ignore[arg-type]
        call = Call(
            uniqueid=uniqueid,
            channel="",
            caller_raw="",
            customer_id=customer.id,
            helpdesk_id=helpdesk_id,
            plan=plan,
            verdict="admitted",
            state="admitted",
            admitted_at=at,
            limit_ms=grant.limit_ms if limit_ms is None else limit_ms,
        )
        session.add(call)
        session.flush()
        if plan == "prepaid":
            ledger.reserve(session, call, grant.reserved_cents, at)
        return call.id


def record_refusal(db: Database, uniqueid: str, verdict: str, at: datetime) -> None:
    with db.write() as session:
        session.add(Call(uniqueid=uniqueid, verdict=verdict, state="refused", admitted_at=at))


@dataclass
class AgiSession:
    t: float
    uniqueid: str
    verdict: str
    helpdesk_id: str | None


def recorded_sessions(path: Path) -> list[AgiSession]:
    """Read the FastAGI sessions of a recording with the verdict the recording client gave."""
    sessions: list[AgiSession] = []
    for text in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(text)
        raw = item["raw"]
        if raw.startswith("agi_uniqueid:"):
            sessions.append(AgiSession(item["t"], raw.partition(":")[2].strip(), "", None))
        elif raw.startswith("SET VARIABLE CALLMETER_VERDICT"):
            sessions[-1].verdict = raw.split('"')[1]
        elif raw.startswith("SET VARIABLE CALLMETER_HELPDESK_ID"):
            sessions[-1].helpdesk_id = raw.split('"')[1]
    return sessions


@dataclass
class FakePbx:
    """Returns Success to the meter's AMI actions and records them."""

    channels: list[Message] = field(default_factory=list)
    actions: list[tuple[str, str]] = field(default_factory=list)
    redirect_ok: bool = True

    async def redirect(self, channel: str, context: str, exten: str, priority: int) -> Message:
        self.actions.append(("Redirect", channel))
        return Message.of([("Response", "Success" if self.redirect_ok else "Error")])

    async def hangup(self, channel: str, cause: int | None = None) -> Message:
        self.actions.append(("Hangup", channel))
        return Message.of([("Response", "Success")])

    async def core_show_channels(self) -> list[Message]:
        return list(self.channels)


def at_epoch(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def feed_recording(db: Database, settings: Settings, name: str, folder: Path = AMI_FIXTURES) -> Meter:
    """Play a recording straight into a meter, admitting each call at its recorded instant."""
    start, events = recorded_events(folder / f"{name}.ami.jsonl")
    sessions = recorded_sessions(folder / f"{name}.agi.jsonl")
    recording_clock = RecordingClock(at_epoch(start))
    with clock.use_clock(recording_clock):
        meter = Meter(db, settings, FakePbx())
        await meter.start()
        await meter.on_connected()
        pending = list(sessions)
        for t, message in events:
            while pending and pending[0].t <= t:
                session = pending.pop(0)
                await recording_clock.advance_to(at_epoch(start + session.t))
                at = recording_clock.now()
                if session.verdict == "admitted":
                    assert session.helpdesk_id is not None
                    admit(db, settings, session.uniqueid, session.helpdesk_id, at)
                    await meter.on_admitted(0, session.uniqueid)
                else:
                    record_refusal(db, session.uniqueid, session.verdict, at)
            await recording_clock.advance_to(at_epoch(start + t))
            await meter.on_event(message)
        await asyncio.sleep(0)
        await meter.close()
    return meter


def calls_by_uniqueid(db: Database) -> dict[str, Call]:
    with db.read() as session:
        calls = list(session.scalars(select(Call)).all())
        session.expunge_all()
    return {call.uniqueid: call for call in calls}
