"""Absurd input never gets a 500 and never changes the ledger."""

from __future__ import annotations

import json

from callmeter.db.models import LedgerEntry
from tests.api.conftest import Api

# Each case: a JSON body for POST /customers, sent as raw bytes so that even
# lone surrogates and NUL characters reach the server.
ABSURD_CUSTOMERS: list[bytes] = [
    b'{"helpdesk_id": "HD-1", "name": "\\u0000"}',
    b'{"helpdesk_id": "HD-1", "name": "\\ud800"}',
    b'{"helpdesk_id": "HD-\\u0000", "name": "X"}',
    b'{"helpdesk_id": "HD-1", "name": "' + b"x" * 1_000_000 + b'"}',
    b'{"helpdesk_id": 1e999, "name": "X"}',
    b'{"helpdesk_id": ["HD-1"], "name": {"a": 1}}',
    b'{"helpdesk_id": "HD-1", "name": "X", "access_valid_until": "99999-01-01"}',
    b'{"helpdesk_id": "HD-1", "name": "X", "access_valid_until": 99999999999999999999}',
    b'{"helpdesk_id": "HD-1", "name": "X", "plan": null}',
    b"[]",
    b"null",
    b"",
    b"\xff\xfe",
]


class TestAbsurdInput:
    def test_absurd_customer_bodies_are_4xx(self, api: Api) -> None:
        for body in ABSURD_CUSTOMERS:
            response = api.client.post(
                "/customers", content=body, headers={**api.write, "Content-Type": "application/json"}
            )
            assert response.status_code == 422, body[:80]
            assert response.headers["content-type"] == "application/problem+json", body[:80]

        listed = api.client.get("/customers", headers=api.read).json()
        assert listed["total"] == 0

    def test_unusual_but_valid_unicode_name_is_stored(self, api: Api) -> None:
        name = "Café Ωmega 🍞 עברית e\u0301"

        created = api.client.post("/customers", json={"helpdesk_id": "HD-1", "name": name}, headers=api.write)
        fetched = api.client.get("/customers/HD-1", headers=api.read)

        assert created.status_code == 201
        assert fetched.json()["name"] == name

    def test_absurd_paths_and_queries_are_4xx(self, api: Api) -> None:
        api.create_customer("HD-1001")
        paths = [
            "/customers/" + "9" * 5000,
            "/customers/%F0%9F%8D%9E",
            "/customers/HD-1001/numbers/%00",
            "/customers/HD-1001/ledger?from=%00",
            "/customers/HD-1001/ledger?limit=-1",
            "/customers/HD-1001/ledger?limit=1e3",
            "/calls/-1",
            "/calls/1.5",
            "/calls?helpdesk_id=%00",
            "/calls?from=2026-12-08T25:00",
            "/lookup?number=" + "6" * 65,
            "/tariff?at=" + "2" * 64,
        ]

        for path in paths:
            method = "DELETE" if "/numbers/" in path else "GET"
            response = api.client.request(method, path, headers=api.write)
            assert 400 <= response.status_code < 500, path
            assert response.headers["content-type"] == "application/problem+json", path

    def test_undecodable_lookup_number_is_unknown(self, api: Api) -> None:
        response = api.client.get("/lookup?number=%ED%A0%80", headers=api.read)

        assert response.status_code == 200
        assert response.json()["e164"] is None
        assert response.json()["customer"] is None

    def test_absurd_top_ups_leave_ledger_unchanged(self, api: Api) -> None:
        api.create_customer("HD-1001")
        bodies: list[object] = [
            {"amount_cents": 10**400, "invoice_reference": "F1"},
            {"amount_cents": True, "invoice_reference": "F1"},
            {"amount": "١٢", "invoice_reference": "F1"},
            {"amount": "12,50\u0000", "invoice_reference": "F1"},
            {"amount": "1" * 33, "invoice_reference": "F1"},
            {"amount_cents": 500, "invoice_reference": "F" * 201},
            {"amount_cents": 500, "invoice_reference": "F1\nF2"},
            {"amount_cents": 500, "invoice_reference": "F1", "extra": 1},
        ]

        for index, body in enumerate(bodies):
            response = api.client.post(
                "/customers/HD-1001/top-ups",
                content=json.dumps(body).encode(),
                headers={
                    **api.write,
                    "Idempotency-Key": f"absurd-{index}",
                    "Content-Type": "application/json",
                },
            )
            assert response.status_code == 422, body

        keys: list[str | bytes] = ["", " ", "a" * 151, "clé".encode("latin-1"), "a\tb"]
        for key in keys:
            response = api.client.post(
                "/customers/HD-1001/top-ups",
                json={"amount_cents": 500, "invoice_reference": "F1"},
                headers={**api.write, "Idempotency-Key": key},
            )
            assert response.status_code == 422, key

        with api.database.read() as session:
            assert session.query(LedgerEntry).count() == 0
