"""Concurrent writers on SQLite and PostgreSQL: charges against one balance, one number twice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from callmeter.customers.service import add_number
from callmeter.db import Database
from callmeter.errors import DuplicateNumber, IdempotencyConflict, InsufficientCredit
from callmeter.ledger import service as ledger
from tests.ledger.conftest import AT, add_call, add_customer

# Hang guard only: every thread finishes in well under a second on a quiet machine.
TIMEOUT_SECONDS = 120
BLOCK_CENTS = 500
ATTEMPTS = 50


def test_fifty_charges_against_ten_blocks(db: Database) -> None:
    customer_id = add_customer(db)
    with db.write() as session:
        ledger.top_up(session, customer_id, 10 * BLOCK_CENTS, "F1", "k1", "cli:test", AT)
    barrier = threading.Barrier(ATTEMPTS, timeout=TIMEOUT_SECONDS)
    observed_balances: list[int] = []
    lock = threading.Lock()

    def attempt(index: int) -> str:
        barrier.wait()
        # Admission: reserve one block for a new call; refused once the credit is held.
        try:
            with db.write() as session:
                call = add_call(session, customer_id, uniqueid=f"1700000000.{index}")
                ledger.reserve(session, call, BLOCK_CENTS, AT)
        except InsufficientCredit:
            return "refused"
        # Answer: charge block 0 out of the reservation, then release the (empty) rest.
        with db.write() as session:
            call = session.merge(call)
            ledger.charge_block(session, call, 0, BLOCK_CENTS, AT)
            balance = ledger.balance_cents(session, customer_id)
            ledger.release(session, call, AT)
        with lock:
            observed_balances.append(balance)
        with db.read() as session:
            after = ledger.balance_cents(session, customer_id)
        with lock:
            observed_balances.append(after)
        return "charged"

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        outcomes = list(pool.map(attempt, range(ATTEMPTS), timeout=TIMEOUT_SECONDS))

    assert outcomes.count("charged") == 10
    assert outcomes.count("refused") == ATTEMPTS - 10
    assert min(observed_balances) >= 0
    assert len(observed_balances) == 20
    with db.read() as session:
        final = ledger.credit(session, customer_id)
    assert final.balance_cents == 0
    assert final.reserved_cents == 0


def test_concurrent_charges_of_one_reservation(db: Database) -> None:
    # Ten threads race and replay the charges of blocks 0-2 of one call: each block is charged once.
    customer_id = add_customer(db)
    with db.write() as session:
        ledger.top_up(session, customer_id, 5 * BLOCK_CENTS, "F1", "k1", "cli:test", AT)
        call = add_call(session, customer_id, uniqueid="1700000001.1")
        ledger.reserve(session, call, 3 * BLOCK_CENTS, AT)
    barrier = threading.Barrier(10, timeout=TIMEOUT_SECONDS)

    def attempt(index: int) -> bool:
        barrier.wait()
        with db.write() as session:
            _, created = ledger.charge_block(session, session.merge(call), index % 3, BLOCK_CENTS, AT)
        return created

    with ThreadPoolExecutor(max_workers=10) as pool:
        created = list(pool.map(attempt, range(10), timeout=TIMEOUT_SECONDS))

    assert created.count(True) == 3
    with pytest.raises(InsufficientCredit), db.write() as session:
        ledger.charge_block(session, session.merge(call), 3, BLOCK_CENTS, AT)
    with db.read() as session:
        final = ledger.credit(session, customer_id)
    assert final.balance_cents == 2 * BLOCK_CENTS
    assert final.reserved_cents == 0


def test_one_number_two_customers_at_once(db: Database) -> None:
    add_customer(db, "HD-1001")
    add_customer(db, "HD-1002")
    barrier = threading.Barrier(2, timeout=TIMEOUT_SECONDS)

    def register(helpdesk_id: str) -> str:
        barrier.wait()
        try:
            with db.write() as session:
                add_number(session, helpdesk_id, "06-12345678")
        except DuplicateNumber as error:
            return error.message("nl")
        return "registered"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(register, ["HD-1001", "HD-1002"], timeout=TIMEOUT_SECONDS))

    assert outcomes.count("registered") == 1
    winner = ["HD-1001", "HD-1002"][outcomes.index("registered")]
    refusal = next(outcome for outcome in outcomes if outcome != "registered")
    assert f"al geregistreerd bij {winner}" in refusal
    assert "+31612345678" in refusal


def test_number_insert_racing_open_transaction(db: Database) -> None:
    # HD-1002 checks while HD-1001's insert is not yet committed, so on
    # PostgreSQL it reaches the unique index and must look the owner up.
    add_customer(db, "HD-1001")
    add_customer(db, "HD-1002")
    outcome: list[BaseException | str] = []

    def register_second() -> None:
        try:
            with db.write() as session:
                add_number(session, "HD-1002", "+31612345678")
            outcome.append("registered")
        except DuplicateNumber as error:
            outcome.append(error)

    second = threading.Thread(target=register_second)
    with db.write() as session:
        add_number(session, "HD-1001", "0612345678")
        second.start()
        # Give the second writer time to start; it blocks on the lock or the index either way.
        second.join(timeout=0.5)
    second.join(timeout=TIMEOUT_SECONDS)

    assert not second.is_alive()
    assert len(outcome) == 1
    error = outcome[0]
    assert isinstance(error, DuplicateNumber)
    assert error.params["helpdesk_id"] == "HD-1001"


def test_concurrent_reservations_never_overbook(db: Database) -> None:
    reserve_cents = 3 * BLOCK_CENTS
    customer_id = add_customer(db)
    with db.write() as session:
        ledger.top_up(session, customer_id, 10 * BLOCK_CENTS, "F1", "k1", "cli:test", AT)
    barrier = threading.Barrier(20, timeout=TIMEOUT_SECONDS)

    def attempt(index: int) -> bool:
        barrier.wait()
        try:
            with db.write() as session:
                ledger.reserve(session, add_call(session, customer_id), reserve_cents, AT)
        except InsufficientCredit:
            return False
        return True

    with ThreadPoolExecutor(max_workers=20) as pool:
        granted = sum(pool.map(attempt, range(20), timeout=TIMEOUT_SECONDS))

    assert granted == 3
    with db.read() as session:
        assert ledger.credit(session, customer_id).available_cents == BLOCK_CENTS


def test_one_topup_key_two_customers_at_once(db: Database) -> None:
    # No lock covers both customers, so the unique key decides: one entry, one conflict.
    customers = [add_customer(db, "HD-1001"), add_customer(db, "HD-1002")]
    barrier = threading.Barrier(2, timeout=TIMEOUT_SECONDS)

    def top_up(customer_id: int) -> str:
        barrier.wait()
        try:
            with db.write() as session:
                ledger.top_up(session, customer_id, 1000, f"F-{customer_id}", "same-key", "cli:test", AT)
        except IdempotencyConflict:
            return "conflict"
        return "credited"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(top_up, customers, timeout=TIMEOUT_SECONDS))

    assert sorted(outcomes) == ["conflict", "credited"]
    with db.read() as session:
        balances = [ledger.balance_cents(session, customer_id) for customer_id in customers]
    assert sorted(balances) == [0, 1000]
