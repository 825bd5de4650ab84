"""``callmeter run``: the checks it makes before it starts serving."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_run_with_outdated_schema_exits_2(cli: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"

    result = cli("run", "--no-api", env={"CALLMETER_DATABASE_URL": url})

    assert result.exit_code == 2
    assert "callmeter db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
