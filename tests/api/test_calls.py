"""Calls over HTTP: the list, the calls in progress and one call with its blocks."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun import freeze_time

from tests.api.conftest import Api, insert_call


class TestListCalls:
    def test_filters_by_customer_verdict_and_time(self, api: Api) -> None:
        insert_call(api.database, "1.1", admitted_at=datetime(2026, 12, 8, 9, tzinfo=UTC))
        insert_call(
            api.database, "1.2", helpdesk_id="HD-2002", admitted_at=datetime(2026, 12, 8, 10, tzinfo=UTC)
        )
        insert_call(
            api.database,
            "1.3",
            verdict="no_credit",
            state="refused",
            admitted_at=datetime(2026, 12, 9, 9, tzinfo=UTC),
        )

        by_customer = api.client.get("/calls", params={"helpdesk_id": "hd-1001"}, headers=api.read).json()
        by_verdict = api.client.get("/calls", params={"verdict": "no_credit"}, headers=api.read).json()
        by_time = api.client.get(
            "/calls", params={"from": "2026-12-08T10:30", "to": "2026-12-09"}, headers=api.read
        ).json()

        assert [item["uniqueid"] for item in by_customer["items"]] == ["1.3", "1.1"]
        assert [item["uniqueid"] for item in by_verdict["items"]] == ["1.3"]
        assert [item["uniqueid"] for item in by_time["items"]] == ["1.2"]

    def test_times_are_shown_in_amsterdam(self, api: Api) -> None:
        insert_call(api.database, "1.1", admitted_at=datetime(2026, 12, 8, 9, tzinfo=UTC))

        item = api.client.get("/calls", headers=api.read).json()["items"][0]

        assert item["admitted_at"] == "2026-12-08T10:00:00+01:00"

    def test_pages(self, api: Api) -> None:
        for index in range(4):
            insert_call(api.database, f"1.{index}", admitted_at=datetime(2026, 12, 8, 9, index, tzinfo=UTC))

        page = api.client.get("/calls", params={"limit": 1, "offset": 1}, headers=api.read).json()

        assert page["total"] == 4
        assert [item["uniqueid"] for item in page["items"]] == ["1.2"]

    def test_unknown_verdict_is_422(self, api: Api) -> None:
        response = api.client.get("/calls", params={"verdict": "maybe"}, headers=api.read)

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "verdict"


class TestActiveCalls:
    @freeze_time("2026-12-08T09:07:30Z")
    def test_metered_time_so_far_and_grant_left(self, api: Api) -> None:
        insert_call(
            api.database,
            "2.1",
            state="answered",
            admitted_at=datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
            answered_at=datetime(2026, 12, 8, 9, 1, tzinfo=UTC),
            limit_ms=900_000,
            blocks=((0, 1, 500), (1, 1, 500)),
        )
        insert_call(
            api.database, "2.2", state="admitted", admitted_at=datetime(2026, 12, 8, 9, 7, tzinfo=UTC)
        )
        insert_call(api.database, "2.3", state="ended")

        body = api.client.get("/calls/active", headers=api.read).json()

        assert [item["uniqueid"] for item in body["items"]] == ["2.1", "2.2"]
        answered, ringing = body["items"]
        assert answered["metered_ms_now"] == 390_000
        assert answered["grant_left_ms"] == 510_000
        assert answered["blocks_charged"] == 2
        assert ringing["metered_ms_now"] == 0


class TestGetCall:
    def test_call_with_blocks(self, api: Api) -> None:
        call_id = insert_call(
            api.database,
            "3.1",
            answered_at=datetime(2026, 12, 8, 16, 57, tzinfo=UTC),
            blocks=((0, 1, 500), (1, 2, 750)),
        )

        body = api.client.get(f"/calls/{call_id}", headers=api.read).json()

        assert [(block["n"], block["zone"], block["rate_cents"]) for block in body["blocks"]] == [
            (0, 1, 500),
            (1, 2, 750),
        ]
        assert body["blocks"][1]["rate"] == "€ 7,50"
        assert body["charged_cents"] == 1250

    def test_unknown_call_is_404_in_dutch_and_english(self, api: Api) -> None:
        dutch = api.client.get("/calls/77", headers=api.read)
        english = api.client.get("/calls/77", headers=api.english(api.read))

        assert dutch.status_code == 404
        assert dutch.json()["detail"].startswith("Onbekend gesprek #77")
        assert english.json()["detail"].startswith("Unknown call #77")

    def test_non_numeric_id_is_422(self, api: Api) -> None:
        response = api.client.get("/calls/abc", headers=api.read)

        assert response.status_code == 422
