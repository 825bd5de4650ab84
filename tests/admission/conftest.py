"""Fixtures for admission: customers set up through the services, and a running FastAGI server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from callmeter.admission import FastAgiServer
from callmeter.customers import service as customers
from callmeter.db import Database
from callmeter.db.models import Customer
from callmeter.ledger import service as ledger
from callmeter.settings import FastAgiSettings, Settings

# Tuesday 8 December 2026, 10:00 in Amsterdam: zone 1, normal rate.
ZONE1 = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
# Sunday 6 December 2026, 09:00 in Amsterdam: before the Sunday opening at 10:00.
SUNDAY_MORNING = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def make_settings(database_url: str, **fastagi: Any) -> Settings:
    return Settings(database_url=database_url, fastagi=FastAgiSettings(**{"port": 0, **fastagi}))


def add_customer(
    db: Database,
    helpdesk_id: str,
    number: str,
    *,
    plan: str = "prepaid",
    cents: int = 100_000,
    blocked: bool = False,
    access_valid_until: date | None = None,
) -> int:
    """Create a customer with one number and a top-up, as staff would, and return its id."""
    with db.write() as session:
        customer = customers.create_customer(
            session, helpdesk_id, f"Klant {helpdesk_id}", plan, access_valid_until=access_valid_until
        )
        customers.add_number(session, helpdesk_id, number)
        if cents > 0:
            ledger.top_up(
                session, customer.id, cents, f"INV-{helpdesk_id}", f"topup:{helpdesk_id}", "test", ZONE1
            )
        if blocked:
            customers.update_customer(session, helpdesk_id, customers.CustomerChanges(blocked=True))
        return customer.id


def add_recorded_customers(db: Database) -> None:
    """Register the three customers the recordings know, prepaid with credit for dozens of full grants."""
    for helpdesk_id, number in (
        ("HD-1001", "+31612345678"),
        ("HD-1002", "+31381234567"),
        ("HD-1003", "+31201112233"),
    ):
        add_customer(db, helpdesk_id, number, cents=1_000_000)


def customer_credit(db: Database, helpdesk_id: str) -> ledger.Credit:
    with db.read() as session:
        customer = session.query(Customer).filter_by(helpdesk_id=helpdesk_id).one()
        return ledger.credit(session, customer.id)


@pytest.fixture
def running_server(db: Database) -> Callable[..., contextlib.AbstractAsyncContextManager[FastAgiServer]]:
    """Start a FastAGI server on 127.0.0.1 with an ephemeral port and a fixed clock."""

    @contextlib.asynccontextmanager
    async def start(at: datetime = ZONE1, **options: Any) -> AsyncIterator[FastAgiServer]:
        fastagi = {key: options.pop(key) for key in list(options) if key in FastAgiSettings.model_fields}
        server = FastAgiServer(make_settings(db.url, **fastagi), db, clock=lambda: at, **options)
        async with server:
            yield server

    return start
