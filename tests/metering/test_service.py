"""``callmeter run``: the checks it makes before it starts serving."""

from __future__ import annotations

from typing import Any


def test_run_with_outdated_schema_exits_2(cli: Any, outdated_sqlite_url: str) -> None:
    result = cli("run", "--no-api", env={"CALLMETER_DATABASE_URL": outdated_sqlite_url})

    assert result.exit_code == 2
    assert "callmeter db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
