"""The ledger service on SQLite and PostgreSQL: top-ups, holds, charges, releases, corrections."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from callmeter.customers import service as customers
from callmeter.db import Database
from callmeter.db.models import LedgerEntry, Reservation
from callmeter.errors import (
    IdempotencyConflict,
    InsufficientCredit,
    InvalidAmount,
    InvalidInput,
    UnknownEntry,
)
from callmeter.ledger import service as ledger
from tests.ledger.conftest import AT, add_call, add_customer


def entry_count(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


def credit_of(db: Database, customer_id: int) -> ledger.Credit:
    with db.read() as session:
        return ledger.credit(session, customer_id)


class TestTopUp:
    def test_same_key_twice_credited_once(self, db: Database) -> None:
        customer_id = add_customer(db)
        results = []
        for _ in range(2):
            with db.write() as session:
                entry, created = ledger.top_up(session, customer_id, 5000, "F1", "k1", "cli:test", AT)
                results.append((entry.id, created))
        assert results[0][1] is True
        assert results[1] == (results[0][0], False)
        assert credit_of(db, customer_id).balance_cents == 5000
        assert entry_count(db) == 1

    def test_same_key_other_amount_conflicts(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 5000, "F1", "k1", "cli:test", AT)
        with pytest.raises(IdempotencyConflict) as raised, db.write() as session:
            ledger.top_up(session, customer_id, 6000, "F1", "k1", "cli:test", AT)
        assert "'k1'" in raised.value.message("nl")
        assert credit_of(db, customer_id).balance_cents == 5000
        assert entry_count(db) == 1

    def test_same_key_other_customer_conflicts(self, db: Database) -> None:
        first = add_customer(db, "HD-1001")
        second = add_customer(db, "HD-1002")
        with db.write() as session:
            ledger.top_up(session, first, 5000, "F1", "k1", "cli:test", AT)
        with pytest.raises(IdempotencyConflict), db.write() as session:
            ledger.top_up(session, second, 5000, "F1", "k1", "cli:test", AT)
        assert credit_of(db, second).balance_cents == 0

    def test_staff_key_cannot_collide_with_charge_key(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "charge:1.1:0", "cli:test", AT)
            call = add_call(session, customer_id, uniqueid="1.1")
            ledger.reserve(session, call, 500, AT)
            _, created = ledger.charge_block(session, call, 0, 500, AT)
        assert created
        assert credit_of(db, customer_id).balance_cents == 500

    @pytest.mark.parametrize("amount", [0, -500])
    def test_not_positive_rejected(self, db: Database, amount: int) -> None:
        customer_id = add_customer(db)
        with pytest.raises(InvalidAmount), db.write() as session:
            ledger.top_up(session, customer_id, amount, "F1", "k1", "cli:test", AT)
        assert entry_count(db) == 0

    @pytest.mark.parametrize(
        ("reference", "key"), [("", "k1"), ("F" * 201, "k1"), ("F1", ""), ("F1", "k" * 151)]
    )
    def test_bad_reference_or_key_rejected(self, db: Database, reference: str, key: str) -> None:
        customer_id = add_customer(db)
        with pytest.raises(InvalidInput), db.write() as session:
            ledger.top_up(session, customer_id, 500, reference, key, "cli:test", AT)
        assert entry_count(db) == 0


class TestReservationsAndCharges:
    def test_reserve_charge_release(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 2000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
            ledger.reserve(session, call, 1250, AT)
        assert credit_of(db, customer_id) == ledger.Credit(balance_cents=2000, reserved_cents=1250)

        with db.write() as session:
            call = session.merge(call)
            ledger.charge_block(session, call, 0, 500, AT)
        assert credit_of(db, customer_id) == ledger.Credit(balance_cents=1500, reserved_cents=750)

        with db.write() as session:
            release = ledger.release(session, session.merge(call), AT)
        assert release is not None
        assert release.amount_cents == 750
        assert credit_of(db, customer_id) == ledger.Credit(balance_cents=1500, reserved_cents=0)

    def test_reserve_more_than_available_refused(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            ledger.reserve(session, add_call(session, customer_id), 600, AT)
        with pytest.raises(InsufficientCredit), db.write() as session:
            ledger.reserve(session, add_call(session, customer_id), 500, AT)
        assert credit_of(db, customer_id).reserved_cents == 600

    def test_reserve_again_same_amount_returns_first(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
            first = ledger.reserve(session, call, 500, AT)
            again = ledger.reserve(session, call, 500, AT)
            assert again.id == first.id
            with pytest.raises(IdempotencyConflict):
                ledger.reserve(session, call, 700, AT)
        assert credit_of(db, customer_id).reserved_cents == 500

    def test_charge_replay_charges_once(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
            ledger.reserve(session, call, 1000, AT)
            first, created = ledger.charge_block(session, call, 0, 500, AT)
            again, created_again = ledger.charge_block(session, call, 0, 500, AT)
        assert created
        assert not created_again
        assert again.id == first.id
        assert credit_of(db, customer_id).balance_cents == 500

    def test_charge_beyond_reservation_refused(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 5000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
            ledger.reserve(session, call, 500, AT)
            ledger.charge_block(session, call, 0, 500, AT)
        with pytest.raises(InsufficientCredit), db.write() as session:
            ledger.charge_block(session, session.merge(call), 1, 500, AT)
        assert credit_of(db, customer_id).balance_cents == 4500

    def test_charge_never_takes_balance_below_zero(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            topup, _ = ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
            ledger.reserve(session, call, 1000, AT)
            # Staff take most of the credit back while the call holds its reservation.
            ledger.correct(session, topup.id, -800, "refund", "cli:test", "c1", AT)
        with pytest.raises(InsufficientCredit) as raised, db.write() as session:
            ledger.charge_block(session, session.merge(call), 0, 500, AT)
        assert "onder nul" in raised.value.message("nl")
        assert credit_of(db, customer_id).balance_cents == 200

    def test_database_refuses_charge_beyond_hold(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            reservation = ledger.reserve(session, add_call(session, customer_id), 500, AT)
        with pytest.raises(IntegrityError), db.write() as session:
            session.execute(
                update(Reservation).where(Reservation.id == reservation.id).values(charged_cents=501)
            )

    def test_charge_replay_in_new_transaction(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
            ledger.reserve(session, call, 1000, AT)
        with db.write() as session:
            first, created = ledger.charge_block(session, session.merge(call), 0, 500, AT)
        with db.write() as session:
            again, created_again = ledger.charge_block(session, session.merge(call), 0, 500, AT)
        assert created
        assert not created_again
        assert again.id == first.id
        assert again.amount_cents == -500
        assert credit_of(db, customer_id) == ledger.Credit(balance_cents=500, reserved_cents=500)
        assert entry_count(db) == 3

    def test_charge_replay_after_release(self, db: Database) -> None:
        # A late replay of an event must not be refused once the hold is gone.
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
            ledger.reserve(session, call, 500, AT)
            first, _ = ledger.charge_block(session, call, 0, 500, AT)
            ledger.release(session, call, AT)
        with db.write() as session:
            again, created = ledger.charge_block(session, session.merge(call), 0, 500, AT)
        assert not created
        assert again.id == first.id
        assert credit_of(db, customer_id).balance_cents == 500

    def test_charge_replay_other_rate_conflicts(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
            ledger.reserve(session, call, 1000, AT)
            first, _ = ledger.charge_block(session, call, 0, 500, AT)
        with pytest.raises(IdempotencyConflict) as raised, db.write() as session:
            ledger.charge_block(session, session.merge(call), 0, 400, AT)
        assert raised.value.params["entry_id"] == first.id
        assert credit_of(db, customer_id) == ledger.Credit(balance_cents=500, reserved_cents=500)

    def test_charge_without_reservation_refused(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
        with pytest.raises(InsufficientCredit) as raised, db.write() as session:
            ledger.charge_block(session, session.merge(call), 0, 500, AT)
        assert raised.value.params["available"] == "€ 0,00"
        assert credit_of(db, customer_id).balance_cents == 1000
        assert entry_count(db) == 1

    def test_charge_updates_loaded_reservation(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
            reservation = ledger.reserve(session, call, 1000, AT)
            ledger.charge_block(session, call, 0, 300, AT)
            ledger.charge_block(session, call, 1, 300, AT)
            assert reservation.charged_cents == 600
        with db.read() as session:
            stored = session.get(Reservation, reservation.id)
            assert stored is not None
            assert stored.charged_cents == 600

    def test_release_twice_is_noop(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            call = add_call(session, customer_id)
            ledger.reserve(session, call, 500, AT)
            assert ledger.release(session, call, AT) is not None
            assert ledger.release(session, call, AT) is None
        assert entry_count(db) == 3


class TestCorrections:
    def test_correction_points_to_entry_and_may_go_negative(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            topup, _ = ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            entry, created = ledger.correct(session, topup.id, -1500, "wrong invoice", "cli:test", "c1", AT)
        assert created
        assert entry.corrects_id == topup.id
        assert entry.kind == "correction"
        assert credit_of(db, customer_id).balance_cents == -500

    def test_correction_replay_and_conflict(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            topup, _ = ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
            first, _ = ledger.correct(session, topup.id, -100, "fee", "cli:test", "c1", AT)
            again, created = ledger.correct(session, topup.id, -100, "fee", "cli:test", "c1", AT)
            assert again.id == first.id
            assert not created
            with pytest.raises(IdempotencyConflict):
                ledger.correct(session, topup.id, -200, "fee", "cli:test", "c1", AT)
        assert credit_of(db, customer_id).balance_cents == 900

    def test_correction_checks(self, db: Database) -> None:
        customer_id = add_customer(db)
        with db.write() as session:
            topup, _ = ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
        for amount, reason, target in ((0, "x", topup.id), (5, " ", topup.id), (5, "x", topup.id + 99)):
            with pytest.raises((InvalidInput, UnknownEntry)), db.write() as session:
                ledger.correct(session, target, amount, reason, "cli:test", "c9", AT)
        assert entry_count(db) == 1


def test_listing_and_opening_balance(db: Database) -> None:
    customer_id = add_customer(db)
    later = AT.replace(hour=12)
    with db.write() as session:
        ledger.top_up(session, customer_id, 1000, "F1", "k1", "cli:test", AT)
        ledger.top_up(session, customer_id, 2000, "F2", "k2", "cli:test", later)
    with db.read() as session:
        entries, total = ledger.list_entries(session, customer_id, since=later, limit=None)
        references = [entry.reference for entry in entries]
        opening = ledger.balance_before_cents(session, customer_id, later)
    assert total == 1
    assert references == ["F2"]
    assert opening == 1000


def test_sqlite_uses_wal_and_foreign_keys(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.read() as session:
        journal_mode = session.execute(text("PRAGMA journal_mode")).scalar()
        foreign_keys = session.execute(text("PRAGMA foreign_keys")).scalar()
    database.dispose()
    assert journal_mode == "wal"
    assert foreign_keys == 1


def test_invoice_credited_once_across_keys(db: Database) -> None:
    from callmeter.errors import DuplicateInvoice

    with db.write() as session:
        first = customers.create_customer(session, "HD-2001", "Eerste", "prepaid")
        second = customers.create_customer(session, "HD-2002", "Tweede", "prepaid")
        ledger.top_up(session, first.id, 5000, "F2026-0042", "key-a", "test", AT)

    for customer_id, key, reference in ((first.id, "key-b", "F2026-0042"), (second.id, "key-c", "f2026-0042")):
        with pytest.raises(DuplicateInvoice) as raised, db.write() as session:
            ledger.top_up(session, customer_id, 1000, reference, key, "test", AT)
        assert "F2026-0042" in raised.value.message("nl")

    with db.read() as session:
        assert ledger.balance_cents(session, first.id) == 5000
        assert ledger.balance_cents(session, second.id) == 0
