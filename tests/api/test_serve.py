"""`callmeter api` serves the API alone, as a user would start it."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import api
from callmeter.db import Database
from callmeter.tokens import service as tokens

# A hang guard only: the server normally prints its address within a second or two.
START_TIMEOUT_SECONDS = 60

# The subprocess imports the same source tree as this test run.
SOURCE_ROOT = Path(api.__file__).resolve().parents[1]


@pytest.fixture
def served(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Start `callmeter api --port 0` on a migrated SQLite file; yield its base URL and a read token."""
    database = Database(sqlite_url)
    with database.write() as session:
        token, _ = tokens.create(session, "balie", "read")
    database.dispose()

    environment = {
        **os.environ,
        "CALLMETER_DATABASE_URL": sqlite_url,
        "COLUMNS": "200",
        "PYTHONPATH": str(SOURCE_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from callmeter.cli import main; main()", "api", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=environment,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match is not None, f"unexpected first line: {line!r}"
        yield f"http://127.0.0.1:{match[1]}", token
    finally:
        process.terminate()
        process.wait(timeout=START_TIMEOUT_SECONDS)


def test_serves_balance_and_rejects_missing_token(served: tuple[str, str]) -> None:
    base_url, token = served

    with httpx.Client(base_url=base_url, timeout=START_TIMEOUT_SECONDS) as client:
        anonymous = client.get("/customers/HD-1001/balance")
        authorised = client.get("/customers/HD-1001/balance", headers={"Authorization": f"Bearer {token}"})

    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.json()["detail"].startswith("Geen token meegestuurd")
    assert authorised.status_code == 404
    assert authorised.json()["code"] == "unknown_customer"


def test_refuses_unmigrated_database(tmp_path: Path) -> None:
    # Tables without a migration revision; an empty file would get the schema created.
    path = tmp_path / "unmigrated.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    environment = {
        **os.environ,
        "CALLMETER_DATABASE_URL": f"sqlite:///{path}",
        "PYTHONPATH": str(SOURCE_ROOT),
    }

    result = subprocess.run(
        [sys.executable, "-c", "from callmeter.cli import main; main()", "api", "--port", "0"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=START_TIMEOUT_SECONDS,
    )

    assert result.returncode == 2
    assert "callmeter db upgrade" in result.stderr
