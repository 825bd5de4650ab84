"""``callmeter run``: the checks it makes before it starts serving."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def test_run_with_outdated_schema_exits_2(cli: Any, tmp_path: Path) -> None:
    # A database with tables but no migration revision is outdated; an empty one
    # would get the schema created, and the service would start serving.
    path = tmp_path / "outdated.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    url = f"sqlite:///{path}"

    result = cli("run", "--no-api", env={"CALLMETER_DATABASE_URL": url})

    assert result.exit_code == 2
    assert "callmeter db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
