"""Number lookup and the tariff over HTTP."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from tests.api.conftest import Api

# Tuesday 8 December 2026, 10:00 in Amsterdam: zone 1.
OPEN = "2026-12-08T09:00:00Z"


class TestLookup:
    @freeze_time(OPEN)
    def test_admitted_with_limit(self, api: Api) -> None:
        api.create_customer("HD-1001", "prepaid", "0612345678")
        api.top_up("HD-1001", 1000, "k1")

        body = api.client.get("/lookup", params={"number": "31612345678"}, headers=api.read).json()

        assert body["e164"] == "+31612345678"
        assert body["customer"]["helpdesk_id"] == "HD-1001"
        assert body["verdict"] == "admitted"
        assert body["limit_ms"] == 600_000
        assert body["reason"].startswith("Nummer 0612345678 hoort bij HD-1001 (prepaid): toegelaten")

    @freeze_time(OPEN)
    def test_no_credit(self, api: Api) -> None:
        api.create_customer("HD-1001", "prepaid", "0612345678")

        body = api.client.get(
            "/lookup", params={"number": "0612345678"}, headers=api.english(api.read)
        ).json()

        assert body["verdict"] == "no_credit"
        assert "the customer has to top up first" in body["reason"]

    @freeze_time(OPEN)
    def test_blocked(self, api: Api) -> None:
        api.create_customer("HD-1001", "contract", "0612345678")
        api.client.patch("/customers/HD-1001", json={"blocked": True}, headers=api.write)

        body = api.client.get("/lookup", params={"number": "0612345678"}, headers=api.read).json()

        assert body["verdict"] == "blocked"

    @freeze_time(OPEN)
    @pytest.mark.parametrize(
        ("number", "verdict"), [("anonymous", "withheld"), ("0687654321", "unknown_number")]
    )
    def test_refusals(self, api: Api, number: str, verdict: str) -> None:
        body = api.client.get("/lookup", params={"number": number}, headers=api.read).json()

        assert body["verdict"] == verdict
        assert body["customer"] is None

    @freeze_time("2026-12-08T22:00:00Z")
    def test_closed_at_night(self, api: Api) -> None:
        body = api.client.get("/lookup", params={"number": "0612345678"}, headers=api.read).json()

        assert body["verdict"] == "closed"

    def test_number_required(self, api: Api) -> None:
        response = api.client.get("/lookup", headers=api.read)

        assert response.status_code == 422
        assert response.json()["detail"] == "Ongeldige invoer: number ontbreekt."


class TestTariff:
    def test_zone_and_rates_at_naive_amsterdam_time(self, api: Api) -> None:
        body = api.client.get("/tariff", params={"at": "2026-12-08T18:02"}, headers=api.read).json()

        assert body["at"] == "2026-12-08T18:02:00+01:00"
        assert body["zone"] == 2
        assert body["rates_cents"] == {"prepaid": 750, "contract": 750, "postpaid": 1125}
        assert body["rates"]["prepaid"] == "€ 7,50"

    def test_closed_on_christmas(self, api: Api) -> None:
        body = api.client.get("/tariff", params={"at": "2026-12-25T09:30+01:00"}, headers=api.read).json()

        assert body["open"] is False
        assert body["zone"] is None
        assert body["holiday"] is not None

    @pytest.mark.parametrize("value", ["morgen", "2026-02-30T10:00", "10000-01-01", "0001-01-01T00:05"])
    def test_bad_time_is_422(self, api: Api, value: str) -> None:
        response = api.client.get("/tariff", params={"at": value}, headers=api.english(api.read))

        assert response.status_code == 422
        assert response.json()["detail"].startswith(f"Invalid time {value!r}")
