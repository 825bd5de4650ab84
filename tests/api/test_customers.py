"""Customers and their numbers over HTTP."""

from __future__ import annotations

from tests.api.conftest import Api


class TestCreateCustomer:
    def test_create_returns_customer(self, api: Api) -> None:
        response = api.client.post(
            "/customers",
            json={
                "helpdesk_id": "hd-1001",
                "name": "Bakkerij De Vries",
                "plan": "contract",
                "language": "en",
            },
            headers=api.write,
        )

        assert response.status_code == 201
        body = response.json()
        assert body["helpdesk_id"] == "HD-1001"
        assert body["plan"] == "contract"
        assert body["language"] == "en"
        assert body["numbers"] == []

    def test_duplicate_helpdesk_id_is_409(self, api: Api) -> None:
        api.create_customer("HD-1001")

        response = api.client.post(
            "/customers", json={"helpdesk_id": "HD-1001", "name": "Ander"}, headers=api.write
        )

        assert response.status_code == 409
        assert response.json()["code"] == "duplicate_customer"

    def test_invalid_helpdesk_id_is_422(self, api: Api) -> None:
        response = api.client.post(
            "/customers", json={"helpdesk_id": "HD 1001!", "name": "X"}, headers=api.write
        )

        assert response.status_code == 422
        assert response.json()["code"] == "invalid_input"
        assert "Ongeldig helpdesk-ID" in response.json()["detail"]

    def test_unknown_plan_is_422(self, api: Api) -> None:
        response = api.client.post(
            "/customers", json={"helpdesk_id": "HD-1", "name": "X", "plan": "gratis"}, headers=api.write
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "plan"


class TestGetCustomer:
    def test_get_shows_numbers(self, api: Api) -> None:
        api.create_customer("HD-1001", "prepaid", "06-12345678")

        response = api.client.get("/customers/HD-1001", headers=api.read)

        assert response.status_code == 200
        assert response.json()["numbers"] == [{"e164": "+31612345678", "display": "06 12345678"}]

    def test_unknown_helpdesk_id_is_404_in_dutch(self, api: Api) -> None:
        response = api.client.get("/customers/HD-9999", headers=api.read)

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "unknown_customer"
        assert body["status"] == 404
        assert body["type"] == "urn:callmeter:problem:unknown_customer"
        assert body["title"] == "Niet gevonden"
        assert body["detail"].startswith("Onbekende klant 'HD-9999'")

    def test_unknown_helpdesk_id_is_404_in_english(self, api: Api) -> None:
        response = api.client.get("/customers/HD-9999", headers=api.english(api.read))

        assert response.status_code == 404
        assert response.json()["title"] == "Not found"
        assert response.json()["detail"].startswith("Unknown customer 'HD-9999'")

    def test_malformed_helpdesk_id_is_404(self, api: Api) -> None:
        response = api.client.get("/customers/" + "%00" * 3 + "x" * 500, headers=api.read)

        assert response.status_code == 404
        assert response.json()["code"] == "unknown_customer"


class TestSearchCustomers:
    def test_search_by_number_in_any_format(self, api: Api) -> None:
        api.create_customer("HD-1001", "prepaid", "0612345678")
        api.create_customer("HD-1002", "prepaid", "0687654321")

        for query in ("+31612345678", "0031612345678", "31612345678", "06-12345678"):
            response = api.client.get("/customers", params={"q": query}, headers=api.read)
            assert response.status_code == 200
            assert [item["helpdesk_id"] for item in response.json()["items"]] == ["HD-1001"], query

    def test_search_by_name_and_id(self, api: Api) -> None:
        api.create_customer("HD-1001")
        api.create_customer("HD-2002")

        by_id = api.client.get("/customers", params={"q": "2002"}, headers=api.read).json()
        by_name = api.client.get("/customers", params={"q": "bakkerij"}, headers=api.read).json()

        assert [item["helpdesk_id"] for item in by_id["items"]] == ["HD-2002"]
        assert by_name["total"] == 2

    def test_pages_with_limit_and_offset(self, api: Api) -> None:
        for index in range(5):
            api.create_customer(f"HD-100{index}")

        page = api.client.get("/customers", params={"limit": 2, "offset": 2}, headers=api.read).json()

        assert page["total"] == 5
        assert [item["helpdesk_id"] for item in page["items"]] == ["HD-1002", "HD-1003"]
        assert page["limit"] == 2
        assert page["offset"] == 2

    def test_huge_offset_is_422(self, api: Api) -> None:
        response = api.client.get("/customers", params={"offset": "9" * 40}, headers=api.read)

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "offset"

    def test_control_characters_in_query_are_422(self, api: Api) -> None:
        response = api.client.get("/customers", params={"q": "HD\x00"}, headers=api.english(api.read))

        assert response.status_code == 422
        assert "control characters" in response.json()["detail"]


class TestChangeCustomer:
    def test_patch_changes_only_given_fields(self, api: Api) -> None:
        api.create_customer("HD-1001")

        response = api.client.patch(
            "/customers/HD-1001",
            json={"blocked": True, "access_valid_until": "2027-01-31"},
            headers=api.write,
        )

        assert response.status_code == 200
        body = response.json()
        assert body["blocked"] is True
        assert body["access_valid_until"] == "2027-01-31"
        assert body["name"] == "Bakkerij De Vries"

    def test_patch_null_clears_access_end(self, api: Api) -> None:
        api.create_customer("HD-1001")
        api.client.patch("/customers/HD-1001", json={"access_valid_until": "2027-01-31"}, headers=api.write)

        response = api.client.patch(
            "/customers/HD-1001", json={"access_valid_until": None}, headers=api.write
        )

        assert response.json()["access_valid_until"] is None

    def test_patch_string_for_bool_is_422(self, api: Api) -> None:
        api.create_customer("HD-1001")

        response = api.client.patch("/customers/HD-1001", json={"blocked": "yes"}, headers=api.write)

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "blocked"

    def test_patch_bad_date_is_422(self, api: Api) -> None:
        api.create_customer("HD-1001")

        response = api.client.patch(
            "/customers/HD-1001", json={"access_valid_until": "2027-02-30"}, headers=api.write
        )

        assert response.status_code == 422
        assert "2027-02-30" in response.json()["detail"]

    def test_patch_unknown_customer_is_404(self, api: Api) -> None:
        response = api.client.patch("/customers/HD-9999", json={"blocked": True}, headers=api.write)

        assert response.status_code == 404


class TestNumbers:
    def test_add_number_normalises(self, api: Api) -> None:
        api.create_customer("HD-1001")

        response = api.client.post(
            "/customers/HD-1001/numbers", json={"number": "0031 6 1234 5678"}, headers=api.write
        )

        assert response.status_code == 201
        assert response.json()["numbers"][0]["e164"] == "+31612345678"

    def test_duplicate_number_is_409_in_dutch_and_english(self, api: Api) -> None:
        api.create_customer("HD-1001", "prepaid", "0612345678")
        api.create_customer("HD-1002")

        dutch = api.client.post(
            "/customers/HD-1002/numbers", json={"number": "+31612345678"}, headers=api.write
        )
        english = api.client.post(
            "/customers/HD-1002/numbers", json={"number": "06-12345678"}, headers=api.english(api.write)
        )

        assert dutch.status_code == 409
        assert dutch.json()["code"] == "duplicate_number"
        assert dutch.json()["detail"] == (
            "Nummer +31612345678 is al geregistreerd bij HD-1001: verwijder het daar eerst."
        )
        assert english.status_code == 409
        assert english.json()["detail"] == (
            "Number +31612345678 is already registered to HD-1001: remove it there first."
        )

    def test_invalid_number_is_422_in_dutch_and_english(self, api: Api) -> None:
        api.create_customer("HD-1001")

        dutch = api.client.post("/customers/HD-1001/numbers", json={"number": "12"}, headers=api.write)
        english = api.client.post(
            "/customers/HD-1001/numbers", json={"number": "abc"}, headers=api.english(api.write)
        )

        assert dutch.status_code == 422
        assert dutch.json()["code"] == "invalid_number"
        assert dutch.json()["detail"].startswith("Ongeldig telefoonnummer '12'")
        assert english.status_code == 422
        assert english.json()["detail"].startswith("Invalid phone number 'abc'")

    def test_number_for_unknown_customer_is_404(self, api: Api) -> None:
        response = api.client.post(
            "/customers/HD-9999/numbers", json={"number": "0612345678"}, headers=api.write
        )

        assert response.status_code == 404

    def test_delete_number_in_other_format(self, api: Api) -> None:
        api.create_customer("HD-1001", "prepaid", "0612345678")

        response = api.client.delete("/customers/HD-1001/numbers/0031612345678", headers=api.write)

        assert response.status_code == 200
        assert response.json()["numbers"] == []

    def test_delete_number_not_registered_is_404(self, api: Api) -> None:
        api.create_customer("HD-1001")

        response = api.client.delete("/customers/HD-1001/numbers/0612345678", headers=api.write)

        assert response.status_code == 404
        assert response.json()["code"] == "number_not_registered"
