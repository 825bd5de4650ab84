"""Fixtures of the web tests: a test client of the whole app, and the app served for the browser."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from callmeter.db import Database
from callmeter.settings import Settings
from tests.web.helpers import create_token, seed_customer

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("CALLMETER_REQUIRE_BROWSER") == "1"
# Startup of uvicorn in a thread takes well under a second; this is a hang guard.
SERVER_START_TIMEOUT_SECONDS = 15

_browser_skipped: list[str] = []


def browser_problem() -> str | None:
    """Return why the browser tests cannot run, or None when they can."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
    return None


def skip_or_fail_without_browser() -> None:
    problem = browser_problem()
    if problem is None:
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"{problem}; CALLMETER_REQUIRE_BROWSER=1 makes this a failure")
    _browser_skipped.append(problem)
    pytest.skip(problem)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _browser_skipped:
        terminalreporter.write_sep("!", "Browser tests were SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(_browser_skipped[0])
        terminalreporter.write_line("CI sets CALLMETER_REQUIRE_BROWSER=1, which makes a missing browser a failure.")


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    """A test client of the whole app, on https so that the Secure session cookie is sent back."""
    seed_customer(db)
    app = create_app(Settings(), db)
    with TestClient(app, base_url="https://testserver", headers={"Accept-Language": "nl"}) as test_client:
        yield test_client


@dataclass(frozen=True)
class Served:
    """The app served over HTTP on 127.0.0.1 for the browser tests."""

    base_url: str
    database: Database
    write_token: str
    read_token: str


def clean_settings(directory: Path, **overrides: Any) -> Settings:
    """Build settings that ignore a developer's callmeter.toml and CALLMETER_* variables."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("CALLMETER_") and not name.startswith(("CALLMETER_TEST_", "CALLMETER_REQUIRE_")):
                patch.delenv(name)
        patch.chdir(directory)
        return Settings(**overrides)


@contextlib.contextmanager
def serving(settings: Settings, database: Database) -> Iterator[str]:
    """Serve the app with uvicorn in a thread on an ephemeral port of 127.0.0.1; yield its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, database), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped during startup"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_TIMEOUT_SECONDS)


def seeded_database(directory: Path) -> tuple[Database, str, str]:
    """Create a migrated SQLite database with HD-1001 and return it with a write and a read token."""
    database = Database(f"sqlite:///{directory / 'callmeter.db'}")
    database.upgrade()
    seed_customer(database)
    return database, create_token(database, "desk", "write"), create_token(database, "viewer", "read")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app over a fresh SQLite file, served for the browser."""
    skip_or_fail_without_browser()
    directory = tmp_path_factory.mktemp("web")
    database, write_token, read_token = seeded_database(directory)
    settings = clean_settings(directory, database_url=database.url)
    with serving(settings, database) as url:
        yield Served(url, database, write_token, read_token)
    database.dispose()
