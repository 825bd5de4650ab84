"""The customer, number and ledger commands as staff run them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from callmeter.db import Database


@pytest.fixture
def run(cli: Any, database_url: str) -> Any:
    """Run callmeter against the test database."""

    def run_with_database(*args: str) -> Any:
        return cli(*args, env={"CALLMETER_DATABASE_URL": database_url})

    return run_with_database


def setup_customer(run: Any) -> None:
    assert run("customer", "add", "HD-1001", "--name", "Jan Jansen", "--plan", "prepaid").exit_code == 0
    assert run("number", "add", "HD-1001", "06-12345678").exit_code == 0


def test_staff_flow_top_up_twice_one_entry(run: Any) -> None:
    setup_customer(run)
    first = run("topup", "HD-1001", "50", "--invoice", "F1", "--key", "k1")
    second = run("topup", "HD-1001", "50", "--invoice", "F1", "--key", "k1")
    balance = json.loads(run("balance", "HD-1001", "--json").stdout)
    entries = json.loads(run("ledger", "HD-1001", "--json").stdout)
    found = json.loads(run("number", "find", "0031612345678", "--json").stdout)

    assert first.exit_code == 0
    assert "Opwaardering geboekt" in first.stdout
    assert second.exit_code == 0
    assert "Al eerder geboekt" in second.stdout
    assert balance == {
        "helpdesk_id": "HD-1001",
        "balance_cents": 5000,
        "reserved_cents": 0,
        "available_cents": 5000,
    }
    assert [entry["kind"] for entry in entries] == ["topup"]
    assert entries[0]["amount_cents"] == 5000
    assert entries[0]["reference"] == "F1"
    assert entries[0]["actor"].startswith("cli:")
    assert found == {"number": "+31612345678", "helpdesk_id": "HD-1001"}


@pytest.mark.parametrize("amount", ["-5", "0", "abc", "1e9", "12,345", "NaN"])
def test_topup_bad_amount_rejected(run: Any, amount: str) -> None:
    setup_customer(run)
    result = run("topup", "HD-1001", amount, "--invoice", "F1")
    entries = json.loads(run("ledger", "HD-1001", "--json").stdout)
    assert result.exit_code == 2
    assert "Ongeldig bedrag" in result.stderr
    assert repr(amount) in result.stderr
    assert "Traceback" not in result.stderr
    assert entries == []


def test_topup_above_maximum_rejected(run: Any) -> None:
    setup_customer(run)
    result = run("topup", "HD-1001", "--cents", "10000001", "--invoice", "F1")
    assert result.exit_code == 2
    assert "het maximum is € 100.000,00" in result.stderr


def test_topup_huge_euros_names_maximum(run: Any) -> None:
    setup_customer(run)
    result = run("topup", "HD-1001", "99999999999", "--invoice", "F1")
    assert result.exit_code == 2
    assert "het maximum is € 100.000,00" in result.stderr


def test_topup_same_key_other_amount_conflicts(run: Any) -> None:
    setup_customer(run)
    run("topup", "HD-1001", "50", "--invoice", "F1", "--key", "k1")
    result = run("topup", "HD-1001", "12.50", "--invoice", "F1", "--key", "k1")
    balance = json.loads(run("balance", "HD-1001", "--json").stdout)
    assert result.exit_code == 2
    assert "Sleutel 'k1' is al gebruikt" in result.stderr
    assert balance["balance_cents"] == 5000


def test_topup_without_key_books_each_time(run: Any) -> None:
    setup_customer(run)
    first = json.loads(run("topup", "HD-1001", "12,50", "--invoice", "F1", "--json").stdout)
    second = json.loads(run("topup", "HD-1001", "--cents", "1250", "--invoice", "F2", "--json").stdout)
    assert first["created"] is True
    assert second["created"] is True
    assert first["key"] != second["key"]
    assert second["balance_cents"] == 2500


def test_topup_without_invoice_rejected(run: Any) -> None:
    setup_customer(run)
    result = run("topup", "HD-1001", "50")
    assert result.exit_code == 2
    assert "--invoice" in result.stderr


def test_correct_with_negative_cents(run: Any) -> None:
    setup_customer(run)
    topup = json.loads(run("topup", "HD-1001", "50", "--invoice", "F1", "--json").stdout)
    result = run("correct", str(topup["entry_id"]), "--cents", "-750", "--reason", "dubbel", "--json")
    entries = json.loads(run("ledger", "HD-1001", "--json").stdout)
    payload = json.loads(result.stdout)
    assert result.exit_code == 0
    assert payload["balance_cents"] == 4250
    assert entries[-1]["kind"] == "correction"
    assert entries[-1]["corrects_id"] == topup["entry_id"]
    assert entries[-1]["reason"] == "dubbel"
    assert entries[-1]["balance_cents"] == 4250


def test_correct_unknown_entry(run: Any) -> None:
    setup_customer(run)
    result = run("correct", "99", "--cents", "100", "--reason", "x")
    assert result.exit_code == 2
    assert "Onbekende boeking #99" in result.stderr


def test_ledger_period_and_human_output(run: Any) -> None:
    setup_customer(run)
    run("topup", "HD-1001", "50", "--invoice", "F1")
    human = run("ledger", "HD-1001")
    future = json.loads(run("ledger", "HD-1001", "--from", "2099-01-01", "--json").stdout)
    bad = run("ledger", "HD-1001", "--from", "gisteren")
    assert "opwaardering" in human.stdout
    assert "Eindsaldo: € 50,00" in human.stdout
    assert future == []
    assert bad.exit_code == 2
    assert "'gisteren'" in bad.stderr


def test_ledger_reversed_period_rejected(run: Any) -> None:
    setup_customer(run)
    result = run("ledger", "HD-1001", "--from", "2026-12-10", "--to", "2026-12-01")
    assert result.exit_code == 2
    assert "'2026-12-10'" in result.stderr
    assert "verwissel" in result.stderr
    assert "Traceback" not in result.stderr


def test_customer_show_list_block(run: Any) -> None:
    setup_customer(run)
    blocked = run("customer", "block", "hd-1001")
    shown = json.loads(run("customer", "show", "HD-1001", "--json").stdout)
    listed = json.loads(run("customer", "list", "--search", "jansen", "--json").stdout)
    by_number = json.loads(run("customer", "list", "--search", "+31 6 12345678", "--json").stdout)
    unblocked = run("customer", "unblock", "HD-1001")
    assert "geblokkeerd" in blocked.stdout
    assert shown["blocked"] is True
    assert shown["numbers"] == ["+31612345678"]
    assert shown["plan"] == "prepaid"
    assert [row["helpdesk_id"] for row in listed] == ["HD-1001"]
    assert [row["helpdesk_id"] for row in by_number] == ["HD-1001"]
    assert unblocked.exit_code == 0


def test_customer_add_errors(run: Any) -> None:
    setup_customer(run)
    duplicate = run("customer", "add", "HD-1001", "--name", "Ander")
    bad_plan = run("customer", "add", "HD-1002", "--name", "X", "--plan", "gold")
    bad_date = run("customer", "add", "HD-1003", "--name", "X", "--valid-until", "31-12-2026")
    unknown = run("customer", "show", "HD-9999")
    assert duplicate.exit_code == 2
    assert "bestaat al" in duplicate.stderr
    assert "'gold'" in bad_plan.stderr
    assert "'31-12-2026'" in bad_date.stderr
    assert "Onbekende klant 'HD-9999'" in unknown.stderr


def test_number_errors(run: Any) -> None:
    setup_customer(run)
    run("customer", "add", "HD-1002", "--name", "Piet")
    taken = run("number", "add", "HD-1002", "+31612345678")
    invalid = run("number", "add", "HD-1002", "06-123")
    removed = run("number", "remove", "HD-1001", "0612345678")
    gone = json.loads(run("number", "find", "0612345678", "--json").stdout)
    assert taken.exit_code == 2
    assert "al geregistreerd bij HD-1001" in taken.stderr
    assert invalid.exit_code == 2
    assert "Ongeldig telefoonnummer '06-123'" in invalid.stderr
    assert removed.exit_code == 0
    assert gone == {"number": "+31612345678", "helpdesk_id": None}


def test_english_output(run: Any) -> None:
    setup_customer(run)
    result = run("topup", "HD-1001", "50", "--invoice", "F1", "--lang", "en")
    assert "Top-up booked: €50.00" in result.stdout


def test_schema_without_revision_refused(run: Any, database_url: str) -> None:
    # Tables without a recorded revision: not ours to migrate blindly.
    database = Database(database_url)
    with database.write() as session:
        session.execute(text("DELETE FROM alembic_version"))
    database.dispose()

    result = run("balance", "HD-1001")
    check = run("db", "check")
    upgrade = run("db", "upgrade")

    assert result.exit_code == 2
    assert "Voer eerst 'callmeter db upgrade' uit" in result.stderr
    assert check.exit_code == 2
    assert "niet actueel" in check.stderr
    assert upgrade.exit_code == 2
    assert "kon niet worden bijgewerkt" in upgrade.stderr
    assert "Traceback" not in upgrade.stderr


def test_db_upgrade_then_check(cli: Any, tmp_path: Path) -> None:
    env = {"CALLMETER_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    before = cli("db", "check", "--json", env=env)
    upgrade = cli("db", "upgrade", env=env)
    again = cli("db", "upgrade", "--json", env=env)
    after = cli("db", "check", env=env)
    assert before.exit_code == 2
    assert json.loads(before.stdout)["up_to_date"] is False
    assert upgrade.exit_code == 0
    assert "bijgewerkt van - naar" in upgrade.stdout
    assert json.loads(again.stdout)["upgraded"] is False
    assert after.exit_code == 0
    assert "is actueel" in after.stdout


def test_newer_schema_refused(run: Any, database_url: str) -> None:
    database = Database(database_url)
    with database.write() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    database.dispose()
    result = run("balance", "HD-1001")
    assert result.exit_code == 2
    assert "nieuwer" in result.stderr


def test_new_sqlite_file_gets_schema(cli: Any, tmp_path: Path) -> None:
    # The default database is ./callmeter.db; the autouse fixture runs each test in tmp_path.
    result = cli("customer", "add", "HD-1001", "--name", "Jan Jansen", "--plan", "prepaid")
    listed = cli("customer", "list", "--json")
    assert result.exit_code == 0
    assert "schema aangemaakt" in result.stderr
    assert (tmp_path / "callmeter.db").is_file()
    assert json.loads(listed.stdout)[0]["helpdesk_id"] == "HD-1001"


def test_read_command_leaves_no_stray_database(cli: Any, tmp_path: Path) -> None:
    result = cli("balance", "HD-1001")
    assert result.exit_code == 2
    assert "callmeter db upgrade" in result.stderr
    assert "juiste map" in result.stderr
    assert not (tmp_path / "callmeter.db").exists()


def test_unreachable_database_one_message(cli: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'callmeter.db'}"
    environment = {"CALLMETER_DATABASE_URL": url}
    result = cli("customer", "add", "HD-1001", "--name", "Jan", "--plan", "prepaid", env=environment)
    assert result.exit_code == 2
    assert "niet bereikbaar" in result.stderr
    assert "Traceback" not in result.stderr
