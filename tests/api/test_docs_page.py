"""The interactive API documentation is served without any other host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from callmeter.db import Database
from callmeter.settings import Settings


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    database = Database(sqlite_url)
    with TestClient(create_app(Settings(), database)) as test_client:
        yield test_client
    database.dispose()


def test_docs_page_loads_local_assets(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    assert "/docs/static/swagger-ui-bundle.js" in page.text
    assert "cdn." not in page.text


def test_docs_assets_are_served(client: TestClient) -> None:
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = client.get(f"/docs/static/{asset}")
        assert response.status_code == 200, asset
