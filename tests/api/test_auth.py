"""Bearer-token authentication and scopes."""

from __future__ import annotations

import pytest

from callmeter.tokens import service as tokens
from tests.api.conftest import Api

PROTECTED_READS = [
    "/customers",
    "/customers/HD-1001",
    "/customers/HD-1001/balance",
    "/customers/HD-1001/ledger",
    "/calls",
    "/calls/active",
    "/calls/1",
    "/lookup?number=0612345678",
    "/tariff",
    "/health",
    "/metrics",
]


class TestMissingOrWrongToken:
    def test_no_token_is_401_with_dutch_detail(self, api: Api) -> None:
        for path in PROTECTED_READS:
            response = api.client.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"].startswith("Bearer"), path
            assert response.headers["content-type"] == "application/problem+json", path
            assert response.json()["code"] == "invalid_token", path
            assert response.json()["detail"].startswith("Geen token meegestuurd"), path

    def test_no_token_in_english(self, api: Api) -> None:
        response = api.client.get("/customers", headers={"Accept-Language": "en"})

        assert response.json()["detail"].startswith("No token sent")

    @pytest.mark.parametrize(
        "header", ["Bearer cm_wrong", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000, "cm_no_scheme"]
    )
    def test_wrong_token_is_401(self, api: Api, header: str) -> None:
        response = api.client.get("/customers", headers={"Authorization": header})

        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_revoked_token_is_401(self, api: Api) -> None:
        with api.database.write() as session:
            tokens.revoke(session, "balie-read")

        response = api.client.get("/customers", headers=api.read)

        assert response.status_code == 401
        assert response.json()["detail"].startswith("Het token is ongeldig of ingetrokken")

    def test_write_without_token_is_401_not_422(self, api: Api) -> None:
        response = api.client.post("/customers", json={"helpdesk_id": 5})

        assert response.status_code == 401


class TestScopes:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", "/customers", {"helpdesk_id": "HD-2", "name": "X"}),
            ("PATCH", "/customers/HD-1001", {"blocked": True}),
            ("POST", "/customers/HD-1001/numbers", {"number": "0612345678"}),
            ("DELETE", "/customers/HD-1001/numbers/0612345678", None),
            ("POST", "/customers/HD-1001/top-ups", {"amount_cents": 500, "invoice_reference": "F1"}),
            ("POST", "/ledger/1/corrections", {"amount_cents": -5, "reason": "x"}),
        ],
    )
    def test_read_token_on_write_is_403(self, api: Api, method: str, path: str, body: object) -> None:
        api.create_customer("HD-1001", "prepaid", "0612345678")

        response = api.client.request(method, path, json=body, headers={**api.read, "Idempotency-Key": "k"})

        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_scope"
        assert "mag alleen lezen" in response.json()["detail"]

    def test_read_token_may_read(self, api: Api) -> None:
        api.create_customer("HD-1001")

        assert api.client.get("/customers/HD-1001", headers=api.read).status_code == 200

    def test_read_token_on_write_is_403_in_english(self, api: Api) -> None:
        response = api.client.post(
            "/customers", json={"helpdesk_id": "HD-2", "name": "X"}, headers=api.english(api.read)
        )

        assert response.status_code == 403
        assert "may only read" in response.json()["detail"]

    def test_invalid_change_by_read_token_is_422(self, api: Api) -> None:
        api.create_customer("HD-1001")

        response = api.client.post(
            "/customers/HD-1001/top-ups",
            json={"amount": 12.5, "invoice_reference": "F1"},
            headers={**api.read, "Idempotency-Key": "k"},
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "amount"
