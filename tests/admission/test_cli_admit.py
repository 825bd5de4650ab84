"""`callmeter admit`: the verdict, the grant and the reason, without reserving anything."""

from __future__ import annotations

import json

from callmeter.db import Database
from tests.admission.conftest import add_customer, customer_credit


def _admit_json(cli, database_url: str, *args: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    result = cli("admit", *args, "--json", env={"CALLMETER_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict)
    return payload


class TestAdmitCommand:
    def test_prepaid_five_euros_admitted_one_block(self, cli, db: Database) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678", cents=500)
        payload = _admit_json(cli, db.url, "--number", "+31612345678", "--at", "2026-12-08T10:00")
        assert payload["verdict"] == "admitted"
        assert payload["helpdesk_id"] == "HD-1001"
        assert payload["limit_ms"] == 300_000
        assert set(payload) == {"verdict", "helpdesk_id", "limit_ms", "reason"}
        assert customer_credit(db, "HD-1001").reserved_cents == 0

    def test_sunday_early_closed_with_hours(self, cli, db: Database) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678", cents=500)
        payload = _admit_json(cli, db.url, "--number", "+31612345678", "--at", "2026-12-06T08:00")
        assert payload["verdict"] == "closed"
        assert payload["limit_ms"] == 0
        assert payload["reason"] == (
            "Nummer 0612345678 hoort bij HD-1001, maar de lijn is gesloten: "
            "open ma–vr 09:00–21:00, za 09:00–17:00, zo 10:00–17:00."
        )

    def test_prohib_presentation_withheld(self, cli, db: Database) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678", cents=500)
        payload = _admit_json(
            cli, db.url, "--number", "+31612345678", "--at", "2026-12-08T10:00", "--pres", "prohib"
        )
        assert payload["verdict"] == "withheld"
        assert payload["helpdesk_id"] is None

    def test_english_reason(self, cli, db: Database) -> None:  # type: ignore[no-untyped-def]
        payload = _admit_json(
            cli, db.url, "--number", "0201234567", "--at", "2026-12-08T10:00", "--lang", "en"
        )
        assert payload["verdict"] == "unknown_number"
        assert str(payload["reason"]).startswith("Number 0201234567 belongs to no customer")

    def test_human_output_dutch(self, cli, db: Database) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678", cents=500)
        result = cli(
            "admit",
            "--number",
            "06-12345678",
            "--at",
            "2026-12-08T10:00",
            env={"CALLMETER_DATABASE_URL": db.url},
        )
        assert result.exit_code == 0, result.stderr
        assert "Uitslag: toegelaten (admitted)" in result.stdout
        assert "Helpdesk-ID: HD-1001" in result.stdout
        assert "300000 ms" in result.stdout
        assert "deze controle reserveert niets" in result.stdout

    def test_invalid_pres_exits_2_in_dutch(self, cli, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
        result = cli(
            "admit", "--number", "0612345678", "--pres", "hidden", env={"CALLMETER_DATABASE_URL": sqlite_url}
        )
        assert result.exit_code == 2
        assert "Ongeldige nummerpresentatie 'hidden'" in result.stderr
        assert "Traceback" not in result.stderr

    def test_invalid_time_exits_2(self, cli, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
        result = cli(
            "admit", "--number", "0612345678", "--at", "morgen", env={"CALLMETER_DATABASE_URL": sqlite_url}
        )
        assert result.exit_code == 2
        assert "Ongeldige tijd 'morgen'" in result.stderr
