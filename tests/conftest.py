"""Shared fixtures: real SQLite and PostgreSQL databases, settings and a CLI runner.

Database tests take the ``database_url`` or ``db`` fixture and run once per
backend. PostgreSQL comes from ``CALLMETER_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). When it cannot be reached
the PostgreSQL runs are skipped with a notice, unless
``CALLMETER_REQUIRE_POSTGRES=1`` (set by CI) makes that a failure.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import structlog

from callmeter.db import Database, normalise_url

FIXTURES = Path(__file__).with_name("fixtures")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL = os.environ.get("CALLMETER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
REQUIRE_POSTGRES = os.environ.get("CALLMETER_REQUIRE_POSTGRES") == "1"

_postgres_problem: str | None = None
_postgres_checked = False


def postgres_problem() -> str | None:
    """Return why PostgreSQL cannot be used, or None when it can."""
    global _postgres_checked, _postgres_problem
    if not _postgres_checked:
        _postgres_checked = True
        try:
            with psycopg.connect(POSTGRES_URL, connect_timeout=3):
                pass
        except psycopg.Error as error:
            _postgres_problem = f"PostgreSQL at {POSTGRES_URL} is not reachable: {error}".strip()
    return _postgres_problem


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    problem = postgres_problem() if _postgres_checked else None
    if problem:
        terminalreporter.write_sep("!", "PostgreSQL tests were SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(problem)
        terminalreporter.write_line("Set CALLMETER_TEST_POSTGRES_URL to run them; CI requires them.")


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep tests away from a developer's callmeter.toml and CALLMETER_* settings."""
    for name in list(os.environ):
        if name.startswith("CALLMETER_") and not name.startswith(("CALLMETER_TEST_", "CALLMETER_REQUIRE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@contextlib.contextmanager
def _postgres_schema() -> Iterator[str]:
    problem = postgres_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"cm_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield normalise_url(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, migrated database: a fresh SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'callmeter.db'}"
        database = Database(url)
        database.upgrade()
        database.dispose()
        yield url
        return
    with _postgres_schema() as url:
        database = Database(url)
        database.upgrade()
        database.dispose()
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'callmeter.db'}"
    database = Database(url)
    database.upgrade()
    database.dispose()
    return url


@pytest.fixture
def outdated_sqlite_url(tmp_path: Path) -> str:
    """A SQLite database migrated only to the first revision, as an older callmeter left it."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'outdated.db'}"
    database = Database(url)
    config = database._alembic_config()
    with database.write_engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.commit()
    database.dispose()
    return url


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> object:
    """Run the callmeter CLI in-process, as `callmeter ARGS` would, and capture its output."""

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        from callmeter.cli import main

        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "argv", ["callmeter", *args])
        monkeypatch.setenv("COLUMNS", "200")
        exit_code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as done:
                exit_code = int(done.code or 0)
        return CliResult(exit_code, out.getvalue(), err.getvalue())

    return run
