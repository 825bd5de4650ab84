"""``callmeter replay``: recordings played over real sockets through admission, the AMI client and the meter."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from callmeter.errors import InvalidInput
from callmeter.metering.replay import ReplayCustomer, load_customers, replay_recording
from tests.metering.support import AMI_FIXTURES

# Metered seconds and blocks of each admitted call, in Uniqueid order (the fixtures README).
TIMESTAMPED: dict[str, list[tuple[float, int]]] = {
    "s01-agent-hangs-up": [(20.52, 1)],
    "s02-caller-hangs-up": [(10.50, 1)],
    "s03-withheld-prohib": [],
    "s04-unknown-number": [],
    "s05-no-answer": [(0.0, 0)],
    "s07-cutoff-by-limit": [(20.02, 1)],
    "s08-number-formats": [(4.5, 1)] * 5,
    "s09-concurrent-same-customer": [(25.53, 1), (15.52, 1), (10.51, 1)],
    "s11-long-call-crosses-block": [(330.6, 2)],
    "s13-channelvars-presentation": [(6.5, 1)],
}
# The README gives "about 4.5 s" for the s08 calls.
TOLERANCE = {"s08-number-formats": 0.5}


def _pair(name: str, folder: Path = AMI_FIXTURES) -> tuple[Path, Path]:
    return folder / f"{name}.agi.jsonl", folder / f"{name}.ami.jsonl"


@pytest.mark.parametrize("name", sorted(TIMESTAMPED))
def test_replay_meters_recording(name: str) -> None:
    results = asyncio.run(replay_recording(*_pair(name)))

    admitted = [call for call in results if call.verdict == "admitted"]
    assert len(admitted) == len(TIMESTAMPED[name])
    for call, (seconds, blocks) in zip(admitted, TIMESTAMPED[name], strict=True):
        assert call.metered_seconds == pytest.approx(seconds, abs=TOLERANCE.get(name, 0.05))
        assert call.blocks == blocks


def test_replay_keeps_unknown_number_unknown() -> None:
    results = asyncio.run(replay_recording(*_pair("s04-unknown-number")))

    assert [(call.caller, call.verdict) for call in results] == [("+31201234567", "unknown_number")]


def test_replay_without_timestamps_meters_by_arrival() -> None:
    results = asyncio.run(replay_recording(*_pair("s01-agent-hangs-up", AMI_FIXTURES / "no-timestamps")))

    [call] = results
    assert call.verdict == "admitted"
    # Arrival times carry the replay's scheduling jitter, multiplied by its speed.
    assert call.metered_seconds == pytest.approx(20.52, abs=1.0)
    assert call.blocks == 1


def test_replay_with_customer_file_without_credit_refuses(tmp_path: Path) -> None:
    path = tmp_path / "customers.toml"
    path.write_text('[[customers]]\nhelpdesk_id = "HD-1001"\nnumber = "0612345678"\ncredit_cents = 0\n')

    results = asyncio.run(replay_recording(*_pair("s01-agent-hangs-up"), load_customers(path)))

    assert [call.verdict for call in results] == ["no_credit"]


def test_customer_file_invalid_entry_rejected(tmp_path: Path) -> None:
    path = tmp_path / "customers.json"
    path.write_text(json.dumps([{"helpdesk_id": "HD-1001", "number": "0612345678", "credit_cents": -5}]))

    with pytest.raises(InvalidInput):
        load_customers(path)


def test_customer_file_json_read(tmp_path: Path) -> None:
    path = tmp_path / "customers.json"
    path.write_text(json.dumps([{"helpdesk_id": "HD-1009", "number": "0201112233", "plan": "contract"}]))

    assert load_customers(path) == [ReplayCustomer("HD-1009", "0201112233", "contract", 100_000)]


def test_replay_cli_json_s11(cli: Any) -> None:
    result = cli("replay", *(str(path) for path in _pair("s11-long-call-crosses-block")), "--json")

    payload = json.loads(result.stdout)
    assert result.exit_code == 0
    assert len(payload) == 1
    assert payload[0]["verdict"] == "admitted"
    assert payload[0]["metered_seconds"] == pytest.approx(330.6, abs=0.05)
    assert payload[0]["blocks"] == 2
    assert payload[0]["charged_cents"] == 1500


def test_replay_cli_missing_file_exits_2(cli: Any, tmp_path: Path) -> None:
    result = cli("replay", str(tmp_path / "x.agi.jsonl"), str(tmp_path / "x.ami.jsonl"))

    assert result.exit_code == 2
    assert "bestaat niet" in result.stderr
