"""Engines and sessions for SQLite (the embedded default) and PostgreSQL.

Writers to one customer's money are serialised. On PostgreSQL a write
session locks the customer row with ``SELECT … FOR NO KEY UPDATE`` (see
``callmeter.ledger.service.lock_customer``). On SQLite a
write session starts with ``BEGIN IMMEDIATE``, which takes the database's
write lock before the first read, so two writers can never both read the
same balance and both spend it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from callmeter.errors import SchemaOutdated

MIGRATIONS = Path(__file__).with_name("migrations")

# How long an SQLite writer waits for the write lock before giving up.
# Money writes are short (a few ms), so 30 s only runs out when something
# holds the lock by mistake.
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# The connections an SQLite engine keeps open: as many as the threads that
# FastAPI runs plain def routes in (anyio's default limit is 40). With the
# pool's default of 5, a loaded API opened and closed a connection, with its
# PRAGMAs, for most requests. An idle SQLite connection holds a file handle
# and the pages it has cached.
SQLITE_POOL_SIZE = 40


def normalise_url(url: str) -> str:
    """Pick the psycopg 3 driver for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        # The pool keeps connections open between transactions. Closing an
        # SQLite connection runs a WAL checkpoint (about 3 ms here), which a
        # fresh connection per transaction would pay on every write. Each
        # thread that works at once needs its own connection, and the pool
        # closes every connection beyond pool_size when it is returned.
        pool_size=SQLITE_POOL_SIZE,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module, so that the
        # BEGIN below is the one that runs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The engines and session factories of one database URL."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(self.url, immediate=False)
            self.write_engine = _sqlite_engine(self.url, immediate=True)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=10, max_overflow=20)
            self.write_engine = self.engine
        # SQLite admits one writer at a time, and a writer that finds the lock
        # taken sleeps in SQLite's busy handler for up to 100 ms per try. The
        # writers of one process therefore queue on this lock instead, and
        # wake the moment the previous one commits. busy_timeout still covers
        # writers in other processes.
        self._write_lock: threading.RLock | nullcontext[None] = (
            threading.RLock() if self.is_sqlite else nullcontext()
        )
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Open a session for reads; it is rolled back at the end."""
        with self._read_sessions() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """Open a Core connection for reads; it is rolled back at the end.

        Cheaper than ``read()`` for a prepared statement, because no ORM
        session is built.
        """
        with self.engine.connect() as connection:
            try:
                yield connection
            finally:
                connection.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Open one write transaction; commit on success, roll back on error."""
        with self._write_lock, self._write_sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()

    # Migrations

    def _alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def upgrade(self) -> None:
        """Apply every migration up to the newest."""
        config = self._alembic_config()
        with self.write_engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()

    def schema_revisions(self) -> tuple[str | None, str]:
        """Return the current and the newest migration revision."""
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        return current, head

    def check_schema(self) -> None:
        """Raise SchemaOutdated unless the schema is at the newest migration."""
        current, head = self.schema_revisions()
        if current != head:
            raise SchemaOutdated("error.schema_outdated", current=current or "-", head=head)
