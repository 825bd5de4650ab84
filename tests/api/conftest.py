"""Fixtures of the API tests: the real app on a real database, with real tokens.

Migrating a database for each of a few hundred tests took minutes, so the
API tests migrate once per session. Each SQLite test gets a copy of a
migrated file. Each PostgreSQL test gets a migrated schema with every table
emptied and its sequences reset. So each test still starts from an empty
database at the newest migration.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from callmeter.db import Database
from callmeter.db.models import Base, Call, CallBlock
from callmeter.settings import Settings
from callmeter.status import ServiceStatus
from callmeter.tokens import service as tokens
from tests.conftest import _postgres_schema


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "callmeter.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[Database]:
    with _postgres_schema() as url:
        database = Database(url)
        database.upgrade()
        yield database
        database.dispose()


def _empty_postgres(database: Database) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database at the newest migration, once per backend (overrides the shared fixture)."""
    if request.param == "sqlite":
        target = tmp_path / "callmeter.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    template: Database = request.getfixturevalue("postgres_template")
    _empty_postgres(template)
    return template.url


@dataclass
class Api:
    """A test client for one app, with a write and a read token."""

    client: TestClient
    database: Database
    status: ServiceStatus
    write_token: str
    read_token: str

    @property
    def write(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.write_token}"}

    @property
    def read(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.read_token}"}

    def english(self, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "Accept-Language": "en-GB,en;q=0.9,nl;q=0.5"}

    def create_customer(self, helpdesk_id: str = "HD-1001", plan: str = "prepaid", *numbers: str) -> None:
        response = self.client.post(
            "/customers",
            json={"helpdesk_id": helpdesk_id, "name": "Bakkerij De Vries", "plan": plan},
            headers=self.write,
        )
        assert response.status_code == 201, response.text
        for number in numbers:
            added = self.client.post(
                f"/customers/{helpdesk_id}/numbers", json={"number": number}, headers=self.write
            )
            assert added.status_code == 201, added.text

    def top_up(self, helpdesk_id: str, amount_cents: int, key: str) -> dict[str, object]:
        response = self.client.post(
            f"/customers/{helpdesk_id}/top-ups",
            json={"amount_cents": amount_cents, "invoice_reference": f"F-{key}"},
            headers={**self.write, "Idempotency-Key": key},
        )
        assert response.status_code in (200, 201), response.text
        body: dict[str, object] = response.json()
        return body


def make_api(database: Database, settings: Settings | None = None) -> Api:
    with database.write() as session:
        write_token, _ = tokens.create(session, "balie-write", "write")
        read_token, _ = tokens.create(session, "balie-read", "read")
    status = ServiceStatus()
    app = create_app(settings or Settings(), database, status)
    return Api(TestClient(app), database, status, write_token, read_token)


@pytest.fixture
def api(db: Database) -> Iterator[Api]:
    made = make_api(db)
    with made.client:
        yield made


def insert_call(
    database: Database,
    uniqueid: str,
    *,
    helpdesk_id: str | None = "HD-1001",
    verdict: str = "admitted",
    state: str = "ended",
    admitted_at: datetime = datetime(2026, 12, 8, 16, 50, tzinfo=UTC),
    answered_at: datetime | None = None,
    limit_ms: int = 0,
    blocks: tuple[tuple[int, int | None, int], ...] = (),
) -> int:
    """Insert a call as metering would leave it; blocks are (n, zone, rate_cents)."""
    with database.write() as session:
        call = Call(
            uniqueid=uniqueid,
            channel="PJSIP/trunk-00000001",
            caller_raw="0612345678",
            caller_e164="+31612345678",
            helpdesk_id=helpdesk_id,
            plan="prepaid" if helpdesk_id else None,
            verdict=verdict,
            state=state,
            admitted_at=admitted_at,
            answered_at=answered_at,
            limit_ms=limit_ms,
            blocks_charged=len(blocks),
            charged_cents=sum(rate for _, _, rate in blocks),
        )
        session.add(call)
        session.flush()
        for n, zone, rate in blocks:
            starts_at = (answered_at or admitted_at).replace(microsecond=0)
            session.add(CallBlock(call_id=call.id, n=n, starts_at=starts_at, zone=zone, rate_cents=rate))
        session.flush()
        return call.id
