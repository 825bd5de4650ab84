"""evaluate(): the verdict order, withheld detection, holidays and reasons, without sockets."""

from __future__ import annotations

from datetime import UTC, datetime

from callmeter.admission.verdicts import Presentation, evaluate
from callmeter.db import Database
from callmeter.settings import Settings
from callmeter.tariffs import Tariff
from tests.admission.conftest import SUNDAY_MORNING, ZONE1, add_customer, customer_credit

ALLOWED = Presentation(callingpres=0, num_pres="allowed_not_screened")
# Friday 25 December 2026 (Christmas Day), 09:30 in Amsterdam.
CHRISTMAS_MORNING = datetime(2026, 12, 25, 8, 30, tzinfo=UTC)
# Tuesday 8 December 2026, 19:00 in Amsterdam: zone 2, high rate.
ZONE2 = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)


def _evaluate(
    db: Database, number: str, presentation: Presentation = ALLOWED, at: datetime = ZONE1, **settings
):  # type: ignore[no-untyped-def]
    with db.read() as session:
        return evaluate(session, Tariff(Settings(**settings)), number, presentation, at)


class TestWithheld:
    def test_hidden_callingpres_withheld(self, db: Database) -> None:
        add_customer(db, "HD-1001", "0612345678")
        for callingpres in (32, 33, 34, 35, 67):
            decision = _evaluate(db, "0612345678", Presentation(callingpres, "allowed_not_screened"))
            assert decision.verdict == "withheld", callingpres
            assert decision.helpdesk_id is None, callingpres

    def test_num_pres_not_allowed_withheld(self, db: Database) -> None:
        for num_pres in ("prohib", "prohib_not_screened", "unavailable", ""):
            decision = _evaluate(db, "0612345678", Presentation(callingpres=0, num_pres=num_pres))
            assert decision.verdict == "withheld", num_pres

    def test_placeholder_numbers_withheld(self, db: Database) -> None:
        placeholders = (
            "",
            "anonymous",
            "Anonymous",
            "unknown",
            "<unknown>",
            "Restricted",
            "PRIVATE",
            "unavailable",
        )
        for number in placeholders:
            decision = _evaluate(db, number)
            assert decision.verdict == "withheld", number
            assert decision.prompt == "callmeter/refused-withheld", number

    def test_missing_callingpres_withheld(self, db: Database) -> None:
        assert _evaluate(db, "0612345678", Presentation(callingpres=None)).verdict == "withheld"

    def test_withheld_reason_names_presentation(self, db: Database) -> None:
        decision = _evaluate(db, "0612345678", Presentation(callingpres=32))
        assert "presentatie 32" in decision.reason_nl
        assert "presentation 32" in decision.reason_en


class TestOrder:
    def test_closed_before_withheld(self, db: Database) -> None:
        decision = _evaluate(db, "anonymous", at=SUNDAY_MORNING)
        assert decision.verdict == "closed"
        assert decision.reason_nl.startswith("De lijn is gesloten: open ma–vr")

    def test_unparsable_number_unknown(self, db: Database) -> None:
        decision = _evaluate(db, "12")
        assert decision.verdict == "unknown_number"
        assert "'12' is geen geldig telefoonnummer" in decision.reason_nl

    def test_blocked_before_no_credit(self, db: Database) -> None:
        add_customer(db, "HD-1001", "0612345678", cents=0, blocked=True)
        assert _evaluate(db, "0612345678").verdict == "blocked"

    def test_postpaid_admitted_ahead_in_queue(self, db: Database) -> None:
        add_customer(db, "HD-4001", "0612345678", plan="postpaid", cents=0)
        decision = _evaluate(db, "0612345678")
        assert decision.verdict == "admitted"
        assert decision.queue_priority == 10
        assert decision.reserved_cents == 0
        assert "achteraf betalen" in decision.reason_nl

    def test_evaluate_reserves_nothing(self, db: Database) -> None:
        add_customer(db, "HD-1001", "0612345678", cents=500)
        decision = _evaluate(db, "0612345678")
        assert decision.reserved_cents == 500
        assert customer_credit(db, "HD-1001").reserved_cents == 0


class TestGrant:
    def test_high_rate_in_zone2_needs_750(self, db: Database) -> None:
        add_customer(db, "HD-1001", "0612345678", cents=700)
        decision = _evaluate(db, "0612345678", at=ZONE2)
        assert decision.verdict == "no_credit"
        assert "(€ 7,00)" in decision.reason_nl
        assert "(€ 7,50)" in decision.reason_nl

    def test_warning_one_minute_before_limit(self, db: Database) -> None:
        add_customer(db, "HD-1001", "0612345678", cents=1500)
        decision = _evaluate(db, "0612345678")
        assert decision.limit_ms == 900_000
        assert decision.warning_ms == 840_000


class TestHolidays:
    def test_christmas_morning_closed_like_sunday(self, db: Database) -> None:
        add_customer(db, "HD-1001", "0612345678")
        decision = _evaluate(db, "0612345678", at=CHRISTMAS_MORNING)
        assert decision.verdict == "closed"
        assert "Vandaag is het Eerste kerstdag" in decision.reason_nl

    def test_christmas_as_weekday_admitted(self, db: Database) -> None:
        add_customer(db, "HD-1001", "0612345678")
        decision = _evaluate(db, "0612345678", at=CHRISTMAS_MORNING, holiday_policy="weekday")
        assert decision.verdict == "admitted"
