"""Helpers for the ledger tests: customers, calls and fresh databases per example."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from callmeter.customers.service import create_customer
from callmeter.db import Database
from callmeter.db.models import Base, Call

# A fixed instant for entries whose time does not matter to the test.
AT = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)


def add_customer(db: Database, helpdesk_id: str = "HD-1001", plan: str = "prepaid") -> int:
    with db.write() as session:
        return create_customer(session, helpdesk_id, f"Klant {helpdesk_id}", plan).id


def add_call(session: Session, customer_id: int, uniqueid: str | None = None) -> Call:
    """Insert an admitted call, the row a reservation and its charges belong to."""
    call = Call(
        uniqueid=uniqueid or uuid.uuid4().hex[:20],
        customer_id=customer_id,
        helpdesk_id=None,
        plan="prepaid",
        verdict="admitted",
        state="admitted",
        admitted_at=AT,
    )
    session.add(call)
    session.flush()
    return call


FreshDatabase = Callable[[], Database]


@pytest.fixture
def fresh_database(database_url: str, tmp_path: Path) -> FreshDatabase:
    """Return a factory of empty, migrated databases, cheap enough to call per hypothesis example.

    SQLite copies the migrated file of the ``database_url`` fixture to a new
    file; PostgreSQL deletes every row of its schema.
    """
    if database_url.startswith("sqlite"):
        template = Path(database_url.removeprefix("sqlite:///"))
        counter = iter(range(1_000_000))

        def copy_sqlite() -> Database:
            target = tmp_path / f"example-{next(counter)}.db"
            shutil.copyfile(template, target)
            return Database(f"sqlite:///{target}")

        return copy_sqlite

    def empty_postgres() -> Database:
        # DELETE, children first, takes about 2 ms here; TRUNCATE takes about 200 ms.
        database = Database(database_url)
        with database.write() as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(table.delete())
        return database

    return empty_postgres
