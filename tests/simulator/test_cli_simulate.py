"""`callmeter simulate` as a user runs it."""

from __future__ import annotations

import json
from typing import Any


def test_simulate_smoke_prints_calls_in_dutch(cli: Any) -> None:
    result = cli("simulate", "--scenario", "smoke", "--no-agi", "--speed", "5000", "--wait", "0", "--ami-port", "0")

    assert result.exit_code == 0, result.stderr
    assert "Gesimuleerde PBX: AMI op 127.0.0.1:" in result.stdout
    assert "0612345678 via dial: toegelaten, 20.0 s gesprek, einde: medewerker hing op" in result.stdout
    assert "Scenario klaar: 3 gesprekken, 3 toegelaten." in result.stdout


def test_simulate_json_lists_outcomes(cli: Any) -> None:
    result = cli(
        "simulate", "--scenario", "smoke", "--no-agi", "--speed", "5000", "--wait", "0", "--ami-port", "0", "--json"
    )
    outcomes = json.loads(result.stdout)

    assert result.exit_code == 0
    assert len(outcomes) == 3
    assert {outcome["end_reason"] for outcome in outcomes} == {"agent", "caller"}


def test_simulate_unknown_scenario_exits_2(cli: Any) -> None:
    result = cli("simulate", "--scenario", "rush-hour", "--no-agi")

    assert result.exit_code == 2
    assert "Onbekend scenario 'rush-hour': kies uit busy-hour, smoke." in result.stderr


def test_simulate_invalid_speed_exits_2(cli: Any) -> None:
    result = cli("simulate", "--speed", "snel", "--lang", "en")

    assert result.exit_code == 2
    assert "Invalid speed 'snel'" in result.stderr


def test_simulate_replay_of_recording(cli: Any) -> None:
    from pathlib import Path

    recording = Path(__file__).parents[1] / "fixtures" / "ami" / "s01-agent-hangs-up.ami.jsonl"
    result = cli(
        "simulate", "--replay", str(recording), "--no-agi", "--speed", "10000", "--wait", "0", "--ami-port", "0"
    )

    assert result.exit_code == 0, result.stderr
    assert "Opname afgespeeld." in result.stdout


def test_simulate_invalid_fault_exits_2(cli: Any) -> None:
    result = cli("simulate", "--no-agi", "--fault", "explode@3")

    assert result.exit_code == 2
    assert "Ongeldige storing 'explode@3'" in result.stderr


def test_simulate_with_fault_schedule(cli: Any) -> None:
    result = cli(
        "simulate", "--scenario", "smoke", "--no-agi", "--speed", "5000", "--wait", "0", "--ami-port", "0",
        "--fault", "drop@0", "--fault", "silent@0+0.1",
    )

    assert result.exit_code == 0, result.stderr
    assert "Scenario klaar: 3 gesprekken, 3 toegelaten." in result.stdout
