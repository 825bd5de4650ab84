"""Any mix of ledger operations keeps balance and reservations equal to a simple model.

Each hypothesis example starts from an empty, migrated database (a copied
SQLite file or an emptied PostgreSQL schema), so examples cannot see each
other's entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from callmeter.db import Database
from callmeter.db.models import Call, LedgerEntry
from callmeter.errors import InsufficientCredit
from callmeter.ledger import service as ledger
from tests.ledger.conftest import AT, FreshDatabase, add_call, add_customer

RATES = st.sampled_from([1, 500, 750, 1125])


@dataclass
class OpenCall:
    uniqueid: str
    held_cents: int
    charged_cents: int = 0
    blocks: int = 0


def machine_for(fresh_database: FreshDatabase) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.db: Database = fresh_database()
            self.customer_id = add_customer(self.db)
            self.balance_cents = 0
            self.calls: dict[str, OpenCall] = {}
            self.entry_ids: list[int] = []
            self.counter = 0

        def _next(self) -> int:
            self.counter += 1
            return self.counter

        @property
        def reserved_cents(self) -> int:
            return sum(call.held_cents - call.charged_cents for call in self.calls.values())

        @rule(cents=st.integers(1, 5000))
        def top_up(self, cents: int) -> None:
            key = f"k{self._next()}"
            with self.db.write() as session:
                entry, created = ledger.top_up(session, self.customer_id, cents, f"F-{key}", key, "test", AT)
            assert created
            self.entry_ids.append(entry.id)
            self.balance_cents += cents

        @precondition(lambda self: self.entry_ids)
        @rule(cents=st.integers(1, 5000))
        def replay_top_up(self, cents: int) -> None:
            # A retry with the key of the first top-up writes nothing.
            with self.db.write() as session:
                first = session.get(LedgerEntry, self.entry_ids[0])
                assert first is not None
                if first.kind != "topup":
                    return
                key = first.idempotency_key.removeprefix("topup:")
                assert first.reference is not None
                _, created = ledger.top_up(
                    session, self.customer_id, first.amount_cents, first.reference, key, "test", AT
                )
            assert not created

        @rule(cents=st.integers(1, 4000))
        def reserve(self, cents: int) -> None:
            uniqueid = f"1700000000.{self._next()}"
            expected = cents <= self.balance_cents - self.reserved_cents
            try:
                with self.db.write() as session:
                    call = add_call(session, self.customer_id, uniqueid=uniqueid)
                    ledger.reserve(session, call, cents, AT)
            except InsufficientCredit:
                assert not expected
                return
            assert expected
            self.calls[uniqueid] = OpenCall(uniqueid, cents)

        @precondition(lambda self: self.calls)
        @rule(data=st.data(), rate=RATES)
        def charge(self, data: st.DataObject, rate: int) -> None:
            call = self.calls[data.draw(st.sampled_from(sorted(self.calls)))]
            fits = call.charged_cents + rate <= call.held_cents and self.balance_cents - rate >= 0
            try:
                with self.db.write() as session:
                    row = session.scalar(select(Call).where(Call.uniqueid == call.uniqueid))
                    assert row is not None
                    _, created = ledger.charge_block(session, row, call.blocks, rate, AT)
            except InsufficientCredit:
                assert not fits
                return
            assert fits
            assert created
            call.charged_cents += rate
            call.blocks += 1
            self.balance_cents -= rate

        @precondition(lambda self: self.calls)
        @rule(data=st.data())
        def release(self, data: st.DataObject) -> None:
            uniqueid = data.draw(st.sampled_from(sorted(self.calls)))
            with self.db.write() as session:
                row = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
                assert row is not None
                entry = ledger.release(session, row, AT)
            call = self.calls.pop(uniqueid)
            assert entry is not None
            assert entry.amount_cents == call.held_cents - call.charged_cents

        @precondition(lambda self: self.entry_ids)
        @rule(data=st.data(), cents=st.integers(-3000, 3000).filter(bool))
        def correct(self, data: st.DataObject, cents: int) -> None:
            target = data.draw(st.sampled_from(self.entry_ids))
            with self.db.write() as session:
                entry, created = ledger.correct(
                    session, target, cents, "test", "test", f"c{self._next()}", AT
                )
            assert created
            self.entry_ids.append(entry.id)
            self.balance_cents += cents

        @invariant()
        def matches_model(self) -> None:
            with self.db.read() as session:
                money = ledger.credit(session, self.customer_id)
                entries, _ = ledger.list_entries(session, self.customer_id, limit=None)
                summed = sum(e.amount_cents for e in entries if e.kind in ledger.BALANCE_KINDS)
            assert money.balance_cents == self.balance_cents
            assert money.reserved_cents == self.reserved_cents
            assert summed == self.balance_cents

        def teardown(self) -> None:
            self.db.dispose()

    return LedgerMachine


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_balance_equals_sum_of_entries(fresh_database: FreshDatabase) -> None:
    run_state_machine_as_test(
        machine_for(fresh_database),
        settings=settings(
            max_examples=10,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
