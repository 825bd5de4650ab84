"""Fresh, migrated databases for the benchmarks: an SQLite file or a PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.common import POSTGRES_URL
from callmeter.db import Database, normalise_url
from callmeter.db.models import Call, Customer, PhoneNumber
from callmeter.ledger import service as ledger


def postgres_problem() -> str | None:
    """Return why PostgreSQL cannot be used, or None when it can."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {error}".strip()


@contextmanager
def sqlite_database(folder: Path, name: str = "callmeter.db") -> Iterator[Database]:
    """Yield a migrated SQLite database in a new file under ``folder``."""
    path = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()


@contextmanager
def postgres_database() -> Iterator[Database]:
    """Yield a migrated PostgreSQL database in a fresh schema, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = normalise_url(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")
    database = Database(url)
    try:
        database.upgrade()
        yield database
    finally:
        database.dispose()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def database_for(backend: str, folder: Path) -> Iterator[Database]:
    if backend == "sqlite":
        with sqlite_database(folder) as database:
            yield database
    else:
        with postgres_database() as database:
            yield database


def add_prepaid_customer(database: Database, helpdesk_id: str, e164: str, credit_cents: int) -> int:
    """Create a prepaid customer with one number and a top-up; return its id."""
    at = datetime.now(UTC)
    with database.write() as session:
        customer = Customer(
            helpdesk_id=helpdesk_id, name=f"Bench {helpdesk_id}", plan="prepaid", language="nl"
        )
        session.add(customer)
        session.flush()
        session.add(PhoneNumber(customer_id=customer.id, e164=e164, raw=e164))
        ledger.top_up(
            session, customer.id, credit_cents, f"INV-{helpdesk_id}", f"topup:{helpdesk_id}", "bench", at
        )
        return customer.id


def add_answered_calls(
    database: Database, customer_id: int, helpdesk_id: str, prefix: str, count: int, reserve_cents: int
) -> list[int]:
    """Create answered prepaid calls, each with a reservation of ``reserve_cents``; return their ids."""
    at = datetime.now(UTC)
    ids: list[int] = []
    with database.write() as session:
        for number in range(count):
            call = Call(
                uniqueid=f"{prefix}.{number}",
                channel=f"PJSIP/bench-{prefix}-{number}",
                caller_raw="",
                customer_id=customer_id,
                helpdesk_id=helpdesk_id,
                plan="prepaid",
                verdict="admitted",
                state="answered",
                admitted_at=at,
                answered_at=at,
                limit_ms=3_600_000,
            )
            session.add(call)
            session.flush()
            ledger.reserve(session, call, reserve_cents, at)
            ids.append(call.id)
    return ids
