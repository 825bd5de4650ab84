"""Health, metrics and the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import app_factory, create_app
from callmeter.db import Database
from callmeter.errors import SchemaOutdated
from callmeter.settings import ApiSettings, Settings
from tests.api.conftest import Api, insert_call, make_api


class TestHealth:
    def test_healthy_when_ami_disabled(self, api: Api) -> None:
        response = api.client.get("/health", headers=api.read)

        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert response.json()["database"] == "ok"
        assert response.json()["ami"] == "disabled"

    @pytest.mark.parametrize("state", ["down", "connecting"])
    def test_503_when_ami_not_connected(self, api: Api, state: str) -> None:
        api.status.ami = state  # type: ignore[assignment]
        api.status.ami_last_error = "Connection refused"

        response = api.client.get("/health", headers=api.read)

        assert response.status_code == 503
        assert response.json()["status"] == "degraded"
        assert response.json()["ami_last_error"] == "Connection refused"

    def test_connected_with_fastagi_listening(self, api: Api) -> None:
        api.status.ami = "connected"
        api.status.ami_since = datetime(2026, 12, 8, 7, tzinfo=UTC)
        api.status.fastagi = "listening"
        api.status.fastagi_address = "127.0.0.1:4573"

        body = api.client.get("/health", headers=api.read).json()

        assert body["ami_since"] == "2026-12-08T08:00:00+01:00"
        assert body["fastagi"] == "listening"

    def test_open_without_token_when_configured(self, db: Database) -> None:
        api = make_api(db, Settings(api=ApiSettings(open_health=True)))

        assert api.client.get("/health").status_code == 200
        assert api.client.get("/metrics").status_code == 200
        assert api.client.get("/customers").status_code == 401


class TestMetrics:
    def test_gauges_counted_from_database(self, api: Api) -> None:
        insert_call(api.database, "m.1", state="answered", answered_at=datetime(2026, 12, 8, 9, tzinfo=UTC))
        insert_call(api.database, "m.2", state="admitted")
        insert_call(api.database, "m.3", state="ended")

        response = api.client.get("/metrics", headers=api.read)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert "callmeter_active_calls 2.0" in response.text
        assert "callmeter_open_reservations 0.0" in response.text
        assert "callmeter_admissions_total" in response.text
        assert "callmeter_ami_event_lag_seconds_bucket" in response.text


class TestOpenApi:
    def test_every_operation_is_documented(self, api: Api) -> None:
        schema = api.client.get("/openapi.json").json()

        assert schema["info"]["description"]
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                where = f"{method.upper()} {path}"
                assert operation.get("summary"), where
                assert operation.get("description"), where
                assert "401" in operation["responses"], where
                problem = operation["responses"]["401"]["content"]["application/problem+json"]
                assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}, where
        assert "Problem" in schema["components"]["schemas"]

    def test_every_operation_has_an_example_response(self, api: Api) -> None:
        schema = api.client.get("/openapi.json").json()
        components = schema["components"]["schemas"]

        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                examples = []
                for status, response in operation["responses"].items():
                    if not status.startswith("2"):
                        continue
                    for content in response.get("content", {}).values():
                        body = content.get("schema", {})
                        if "$ref" in body:
                            body = components[body["$ref"].rsplit("/", 1)[1]]
                        examples.extend(body.get("examples", []))
                        examples.extend([content["example"]] if "example" in content else [])
                assert examples, f"{method.upper()} {path}"

    def test_docs_are_served(self, api: Api) -> None:
        assert api.client.get("/docs").status_code == 200


class TestUnknownRoute:
    def test_unknown_path_is_problem_json(self, api: Api) -> None:
        response = api.client.get("/nergens", headers=api.read)

        assert response.status_code == 404
        assert response.json()["code"] == "route_not_found"

    def test_wrong_method_is_problem_json(self, api: Api) -> None:
        response = api.client.put("/customers", headers=api.write)

        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"


class TestAppFactory:
    def test_factory_reads_settings_from_environment(
        self, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CALLMETER_DATABASE_URL", sqlite_url)

        app = app_factory()

        assert TestClient(app).get("/customers").status_code == 401

    def test_factory_rejects_unmigrated_database(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CALLMETER_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")

        with pytest.raises(SchemaOutdated):
            app_factory()


class TestDatabaseDown:
    def test_unreachable_database_is_503(self, tmp_path: Path) -> None:
        database = Database(f"sqlite:///{tmp_path / 'missing' / 'callmeter.db'}")
        client = TestClient(create_app(Settings(api=ApiSettings(open_health=True)), database))

        health = client.get("/health")
        customers = client.get("/customers", headers={"Authorization": "Bearer cm_x"})

        assert health.status_code == 503
        assert health.json()["database"] == "error"
        assert customers.status_code == 503
        assert customers.headers["content-type"] == "application/problem+json"
        assert customers.json()["code"] == "database_unavailable"
        assert customers.json()["detail"].startswith("De database is niet bereikbaar")
