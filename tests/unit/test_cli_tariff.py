"""The tariff, quote and grant commands as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def test_quote_crossing_six_pm_json(cli: Any) -> None:
    result = cli("quote", "--plan", "prepaid", "--answered", "2026-12-08T17:57", "--seconds", "360", "--json")
    payload = json.loads(result.stdout)
    assert result.exit_code == 0
    assert payload["total_cents"] == 1250
    assert [block["zone"] for block in payload["blocks"]] == [1, 2]
    assert payload["blocks"][1]["starts_at"] == "2026-12-08T18:02:00+01:00"


def test_tariff_sunday_morning_closed(cli: Any) -> None:
    result = cli("tariff", "--at", "2026-12-06T09:30", "--json")
    payload = json.loads(result.stdout)
    assert payload["open"] is False
    assert payload["zone"] is None
    assert payload["rate_cents"] is None


def test_grant_one_cent_short_is_zero(cli: Any) -> None:
    short = json.loads(
        cli(
            "grant", "--plan", "prepaid", "--at", "2026-12-08T10:00", "--credit-cents", "499", "--json"
        ).stdout
    )
    enough = json.loads(
        cli(
            "grant", "--plan", "prepaid", "--at", "2026-12-08T10:00", "--credit-cents", "500", "--json"
        ).stdout
    )
    assert short["grant_seconds"] == 0
    assert enough["grant_seconds"] == 300
    assert enough["reserved_cents"] == 500


def test_bad_input_dutch_message_exit_two(cli: Any, tmp_path: Path) -> None:
    cases = [
        (("quote", "--plan", "prepaid", "--answered", "2026-12-08T17:57", "--seconds", "-5"), "'-5'"),
        (("quote", "--plan", "prepaid", "--answered", "gisteren", "--seconds", "60"), "'gisteren'"),
        (("quote", "--plan", "gold", "--answered", "2026-12-08T17:57", "--seconds", "60"), "'gold'"),
    ]
    for arguments, shown in cases:
        result = cli(*arguments)
        assert result.exit_code == 2, arguments
        assert "Ongeldig" in result.stderr, arguments
        assert shown in result.stderr, arguments
        assert "Traceback" not in result.stderr, arguments


def test_config_block_seconds_zero_rejected(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("block_seconds = 0\n")
    result = cli("tariff", env={"CALLMETER_CONFIG": str(config)})
    assert result.exit_code == 2
    assert "block_seconds" in result.stderr
    assert "Ongeldige instelling" in result.stderr


def test_english_output_with_lang(cli: Any) -> None:
    result = cli(
        "quote", "--plan", "prepaid", "--answered", "2026-12-08T17:57", "--seconds", "360", "--lang", "en"
    )
    assert "Total: €12.50" in result.stdout


def test_unknown_lang_option_rejected(cli: Any) -> None:
    result = cli("tariff", "--at", "2026-12-08T10:00", "--lang", "fr")
    assert result.exit_code == 2
    assert "'fr'" in result.stderr
    assert "Traceback" not in result.stderr
