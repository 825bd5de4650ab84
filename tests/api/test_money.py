"""Balance, top-ups, the ledger and corrections over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from callmeter.db.models import LedgerEntry
from callmeter.ledger import service as ledger
from tests.api.conftest import Api, insert_call

# Tuesday 8 December 2026, 10:00 in Amsterdam: zone 1, prepaid blocks cost 500.
ZONE_ONE_MORNING = "2026-12-08T09:00:00Z"


def _top_up(
    api: Api, body: dict[str, object], key: str = "key-1", english: bool = False
) -> tuple[int, dict[str, object]]:
    headers = {**api.write, "Idempotency-Key": key}
    response = api.client.post(
        "/customers/HD-1001/top-ups", json=body, headers=api.english(headers) if english else headers
    )
    return response.status_code, response.json()


def _entry_count(api: Api) -> int:
    with api.database.read() as session:
        return session.query(LedgerEntry).count()


class TestBalance:
    @freeze_time(ZONE_ONE_MORNING)
    def test_balance_in_cents_formatted_and_minutes(self, api: Api) -> None:
        api.create_customer("HD-1001")
        api.top_up("HD-1001", 1250, "k1")

        body = api.client.get("/customers/HD-1001/balance", headers=api.read).json()

        assert body["balance_cents"] == 1250
        assert body["reserved_cents"] == 0
        assert body["available_cents"] == 1250
        assert body["balance"] == "€ 12,50"
        assert body["available"] == "€ 12,50"
        assert body["grant_seconds"] == 600
        assert body["grant_minutes"] == 10

    @freeze_time(ZONE_ONE_MORNING)
    def test_balance_formatted_in_english(self, api: Api) -> None:
        api.create_customer("HD-1001")
        api.top_up("HD-1001", 123456, "k1")

        body = api.client.get("/customers/HD-1001/balance", headers=api.english(api.read)).json()

        assert body["balance"] == "€1,234.56"

    @freeze_time(ZONE_ONE_MORNING)
    def test_reservation_lowers_available(self, api: Api) -> None:
        api.create_customer("HD-1001")
        api.top_up("HD-1001", 2000, "k1")
        call_id = insert_call(api.database, "1765184400.1", state="admitted")
        with api.database.write() as session:
            from callmeter.db.models import Call

            call = session.get(Call, call_id)
            assert call is not None
            call.customer_id = 1
            ledger.reserve(session, call, 1000, datetime(2026, 12, 8, 9, tzinfo=UTC))

        body = api.client.get("/customers/HD-1001/balance", headers=api.read).json()

        assert body["reserved_cents"] == 1000
        assert body["available_cents"] == 1000
        assert body["reserved"] == "€ 10,00"
        assert body["grant_minutes"] == 10

    @freeze_time(ZONE_ONE_MORNING)
    def test_balance_equals_ledger_credit(self, api: Api) -> None:
        api.create_customer("HD-1001")
        api.create_customer("HD-1002")
        api.top_up("HD-1001", 5000, "k1")
        api.top_up("HD-1002", 700, "k2")
        at = datetime(2026, 12, 8, 9, tzinfo=UTC)
        charged = insert_call(api.database, "1765184400.1", state="answered")
        released = insert_call(api.database, "1765184400.2", state="answered")
        with api.database.write() as session:
            from callmeter.db.models import Call

            for call_id in (charged, released):
                call = session.get(Call, call_id)
                assert call is not None
                call.customer_id = 1
                ledger.reserve(session, call, 1500, at)
            charged_call = session.get(Call, charged)
            released_call = session.get(Call, released)
            assert charged_call is not None and released_call is not None
            ledger.charge_block(session, charged_call, 0, 500, at)
            ledger.release(session, released_call, at)
        with api.database.read() as session:
            expected = ledger.credit(session, 1)

        body = api.client.get("/customers/hd-1001/balance", headers=api.read).json()

        assert body["helpdesk_id"] == "HD-1001"
        assert body["balance_cents"] == expected.balance_cents == 4500
        assert body["reserved_cents"] == expected.reserved_cents == 1000
        assert body["available_cents"] == expected.available_cents == 3500

    def test_unknown_customer_is_404(self, api: Api) -> None:
        response = api.client.get("/customers/HD-9999/balance", headers=api.read)

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unknown_customer"

    @pytest.mark.parametrize("helpdesk_id", ["HD 1001", "x" * 200, "%C3%A9"])
    def test_malformed_helpdesk_id_is_404(self, api: Api, helpdesk_id: str) -> None:
        response = api.client.get(f"/customers/{helpdesk_id}/balance", headers=api.english(api.read))

        assert response.status_code == 404
        assert response.json()["code"] == "unknown_customer"
        assert response.json()["detail"].startswith("Unknown")


# Each case: the body, a part of the Dutch detail and a part of the English one.
INVALID_AMOUNTS: list[tuple[dict[str, object], str, str]] = [
    ({"amount": 12.5}, "amount = 12.5: geef euro's als tekst", "amount = 12.5: give euros as text"),
    (
        {"amount_cents": 12.5},
        "amount_cents = 12.5: geef een geheel aantal centen",
        "amount_cents = 12.5: give a whole number of cents",
    ),
    (
        {"amount_cents": 12.0},
        "amount_cents = 12.0: geef een geheel aantal centen",
        "amount_cents = 12.0: give a whole number of cents",
    ),
    ({"amount_cents": "1250"}, "amount_cents = '1250': geef een geheel aantal", "give a whole number"),
    (
        {"amount_cents": -500},
        "het bedrag moet groter zijn dan nul",
        "the amount must be more than zero",
    ),
    ({"amount": "-5,00"}, "het bedrag moet groter zijn dan nul", "the amount must be more than zero"),
    ({"amount_cents": 0}, "het bedrag moet groter zijn dan nul", "the amount must be more than zero"),
    ({"amount": "0"}, "het bedrag moet groter zijn dan nul", "the amount must be more than zero"),
    ({"amount_cents": 10**12}, "het maximum is", "the maximum is"),
    (
        {"amount_cents": 10**30},
        "toegestaan is 1000000000000000 of minder",
        "allowed is 1000000000000000 or less",
    ),
    ({"amount": "999999999"}, "het maximum is", "the maximum is"),
    ({"amount": "abc"}, "Ongeldig bedrag 'abc'", "Invalid amount 'abc'"),
    ({"amount": "12,345"}, "Ongeldig bedrag '12,345'", "Invalid amount '12,345'"),
    ({"amount": "1e3"}, "Ongeldig bedrag '1e3'", "Invalid amount '1e3'"),
    ({}, "niet beide", "not both"),
    ({"amount": "5", "amount_cents": 500}, "niet beide", "not both"),
]


class TestTopUp:
    def test_amount_as_euro_text(self, api: Api) -> None:
        api.create_customer("HD-1001")

        status, body = _top_up(api, {"amount": "12,50", "invoice_reference": "F2026-0412"})

        assert status == 201
        assert body["created"] is True
        assert body["amount_cents"] == 1250
        assert body["amount"] == "€ 12,50"
        assert body["reference"] == "F2026-0412"
        assert body["balance_cents"] == 1250

    def test_same_key_credits_once(self, api: Api) -> None:
        api.create_customer("HD-1001")

        first = _top_up(api, {"amount_cents": 5000, "invoice_reference": "F1"}, key="same")
        second = _top_up(api, {"amount_cents": 5000, "invoice_reference": "F1"}, key="same")

        assert first[0] == 201
        assert second[0] == 200
        assert second[1]["created"] is False
        assert second[1]["entry_id"] == first[1]["entry_id"]
        assert second[1]["balance_cents"] == 5000
        assert _entry_count(api) == 1

    def test_same_key_other_amount_is_409(self, api: Api) -> None:
        api.create_customer("HD-1001")
        _top_up(api, {"amount_cents": 5000, "invoice_reference": "F1"}, key="same")

        dutch = _top_up(api, {"amount_cents": 6000, "invoice_reference": "F1"}, key="same")
        english = _top_up(api, {"amount": "60", "invoice_reference": "F1"}, key="same", english=True)

        assert dutch[0] == 409
        assert dutch[1]["code"] == "idempotency_conflict"
        assert "is al gebruikt" in str(dutch[1]["detail"])
        assert english[0] == 409
        assert "was already used" in str(english[1]["detail"])
        assert _entry_count(api) == 1

    def test_missing_idempotency_key_is_422(self, api: Api) -> None:
        api.create_customer("HD-1001")

        response = api.client.post(
            "/customers/HD-1001/top-ups",
            json={"amount_cents": 500, "invoice_reference": "F1"},
            headers=api.write,
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "Idempotency-Key"
        assert response.json()["detail"] == "Ongeldige invoer: Idempotency-Key ontbreekt."

    def test_unknown_customer_is_404(self, api: Api) -> None:
        response = api.client.post(
            "/customers/HD-9999/top-ups",
            json={"amount_cents": 500, "invoice_reference": "F1"},
            headers={**api.write, "Idempotency-Key": "k"},
        )

        assert response.status_code == 404
        assert response.json()["code"] == "unknown_customer"

    def test_invalid_amounts_are_422_in_dutch_and_english(self, api: Api) -> None:
        api.create_customer("HD-1001")

        for body, dutch, english in INVALID_AMOUNTS:
            payload = {**body, "invoice_reference": "F1"}
            status_nl, problem_nl = _top_up(api, payload, key="bad-nl")
            status_en, problem_en = _top_up(api, payload, key="bad-en", english=True)
            assert status_nl == 422, body
            assert dutch in str(problem_nl["detail"]), body
            assert status_en == 422, body
            assert english in str(problem_en["detail"]), body

        assert _entry_count(api) == 0

    def test_invoice_reference_required(self, api: Api) -> None:
        api.create_customer("HD-1001")

        status, problem = _top_up(api, {"amount_cents": 500})

        assert status == 422
        assert problem["detail"] == "Ongeldige invoer: invoice_reference ontbreekt."

    def test_invalid_json_is_422(self, api: Api) -> None:
        api.create_customer("HD-1001")

        response = api.client.post(
            "/customers/HD-1001/top-ups",
            content=b'{"amount_cents": 5',
            headers={**api.write, "Idempotency-Key": "k", "Content-Type": "application/json"},
        )

        assert response.status_code == 422
        assert "ongeldige JSON" in response.json()["detail"]

    def test_json_integer_with_thousands_of_digits_is_422(self, api: Api) -> None:
        api.create_customer("HD-1001")

        response = api.client.post(
            "/customers/HD-1001/top-ups",
            content=b'{"amount_cents": ' + b"9" * 5000 + b', "invoice_reference": "F1"}',
            headers={**api.write, "Idempotency-Key": "k", "Content-Type": "application/json"},
        )

        assert response.status_code == 422


class TestLedger:
    def test_entries_with_running_balance(self, api: Api) -> None:
        api.create_customer("HD-1001")
        api.top_up("HD-1001", 1000, "k1")
        api.top_up("HD-1001", 500, "k2")
        api.top_up("HD-1001", 250, "k3")

        page = api.client.get("/customers/HD-1001/ledger", params={"offset": 1}, headers=api.read).json()

        assert page["total"] == 3
        assert [item["amount_cents"] for item in page["items"]] == [500, 250]
        assert [item["balance_after_cents"] for item in page["items"]] == [1500, 1750]
        assert page["items"][0]["balance_after"] == "€ 15,00"
        assert page["items"][0]["actor"] == "api:balie-write"

    def test_from_to_filter(self, api: Api) -> None:
        api.create_customer("HD-1001")
        with freeze_time("2026-12-01T10:00:00Z"):
            api.top_up("HD-1001", 1000, "k1")
        with freeze_time("2026-12-05T10:00:00Z"):
            api.top_up("HD-1001", 500, "k2")

        page = api.client.get(
            "/customers/HD-1001/ledger",
            params={"from": "2026-12-02", "to": "2026-12-06T00:00+01:00"},
            headers=api.read,
        ).json()

        assert [item["amount_cents"] for item in page["items"]] == [500]
        assert page["items"][0]["balance_after_cents"] == 1500

    @pytest.mark.parametrize(
        "value", ["gisteren", "2026-13-01", "0001-01-01T00:05", "9999-12-31T23:59+00:00x"]
    )
    def test_bad_time_is_422(self, api: Api, value: str) -> None:
        api.create_customer("HD-1001")

        dutch = api.client.get("/customers/HD-1001/ledger", params={"from": value}, headers=api.read)
        english = api.client.get(
            "/customers/HD-1001/ledger", params={"to": value}, headers=api.english(api.read)
        )

        assert dutch.status_code == 422
        assert dutch.json()["code"] == "invalid_time"
        assert dutch.json()["detail"].startswith(f"Ongeldige tijd {value!r}")
        assert english.status_code == 422
        assert english.json()["detail"].startswith(f"Invalid time {value!r}")

    def test_unknown_customer_is_404(self, api: Api) -> None:
        assert api.client.get("/customers/HD-9999/ledger", headers=api.read).status_code == 404


class TestCorrection:
    def test_correction_points_to_entry(self, api: Api) -> None:
        api.create_customer("HD-1001")
        entry_id = api.top_up("HD-1001", 1000, "k1")["entry_id"]

        response = api.client.post(
            f"/ledger/{entry_id}/corrections",
            json={"amount": "-2,50", "reason": "Dubbel geboekt"},
            headers={**api.write, "Idempotency-Key": "c1"},
        )

        assert response.status_code == 201
        body = response.json()
        assert body["corrects_id"] == entry_id
        assert body["amount_cents"] == -250
        assert body["balance_cents"] == 750
        assert body["reason"] == "Dubbel geboekt"

    def test_correction_may_go_below_zero(self, api: Api) -> None:
        api.create_customer("HD-1001")
        entry_id = api.top_up("HD-1001", 1000, "k1")["entry_id"]

        response = api.client.post(
            f"/ledger/{entry_id}/corrections",
            json={"amount_cents": -1500, "reason": "Factuur niet betaald"},
            headers={**api.write, "Idempotency-Key": "c1"},
        )

        assert response.json()["balance_cents"] == -500

    def test_same_key_posts_once(self, api: Api) -> None:
        api.create_customer("HD-1001")
        entry_id = api.top_up("HD-1001", 1000, "k1")["entry_id"]
        request = {
            "json": {"amount_cents": -100, "reason": "x"},
            "headers": {**api.write, "Idempotency-Key": "c1"},
        }

        first = api.client.post(f"/ledger/{entry_id}/corrections", **request)  # type: ignore[arg-type]
        second = api.client.post(f"/ledger/{entry_id}/corrections", **request)  # type: ignore[arg-type]

        assert first.status_code == 201
        assert second.status_code == 200
        assert second.json()["created"] is False
        assert _entry_count(api) == 2

    def test_reason_required(self, api: Api) -> None:
        api.create_customer("HD-1001")
        entry_id = api.top_up("HD-1001", 1000, "k1")["entry_id"]

        response = api.client.post(
            f"/ledger/{entry_id}/corrections",
            json={"amount_cents": -100},
            headers={**api.write, "Idempotency-Key": "c"},
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "reason"

    def test_zero_correction_is_422(self, api: Api) -> None:
        api.create_customer("HD-1001")
        entry_id = api.top_up("HD-1001", 1000, "k1")["entry_id"]

        response = api.client.post(
            f"/ledger/{entry_id}/corrections",
            json={"amount_cents": 0, "reason": "x"},
            headers={**api.write, "Idempotency-Key": "c"},
        )

        assert response.status_code == 422
        assert response.json()["code"] == "invalid_amount"

    def test_unknown_entry_is_404(self, api: Api) -> None:
        response = api.client.post(
            "/ledger/4242/corrections",
            json={"amount_cents": -100, "reason": "x"},
            headers={**api.write, "Idempotency-Key": "c"},
        )

        assert response.status_code == 404
        assert response.json()["code"] == "unknown_entry"

    def test_huge_entry_id_is_422(self, api: Api) -> None:
        response = api.client.post(
            "/ledger/99999999999999999999999/corrections",
            json={"amount_cents": -100, "reason": "x"},
            headers={**api.write, "Idempotency-Key": "c"},
        )

        assert response.status_code == 422
