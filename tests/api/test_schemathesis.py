"""Property-based run of schemathesis against the app's own OpenAPI document.

It checks that no generated request, valid or invalid, gets a 5xx, and
that every response matches the documented status codes, content types
and schemas. The run is bounded and deterministic (derandomized, a fixed
seed and few examples per operation) so it takes seconds, on SQLite only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, seed, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from callmeter.db import Database
from callmeter.settings import Settings
from callmeter.tokens import service as tokens

TOKEN_NAME = "schemathesis"


@pytest.fixture(scope="module")
def schema_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, str]]:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "callmeter.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    with database.write() as session:
        token, _ = tokens.create(session, TOKEN_NAME, "write")
    yield database, token
    database.dispose()


@pytest.fixture(scope="module")
def app(schema_database: tuple[Database, str]) -> FastAPI:
    database, _ = schema_database
    return create_app(Settings(), database)


# The schema is read at import time, from an app whose database is never
# opened: building the app and its OpenAPI document does not connect. The
# requests go to the app of the fixture above, on a migrated database.
# (schemathesis.pytest.from_fixture would avoid this, but its lazy loader
# fails on pytest 9 with "'Function' object has no attribute '_nodeid'".)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(), Database("sqlite://")))


@schema.parametrize()
@seed(20261208)
@settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(
    case: schemathesis.Case, app: FastAPI, schema_database: tuple[Database, str]
) -> None:
    _, token = schema_database
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        app=app,
        # The schema cannot express that a date must exist in the calendar,
        # that a top-up takes amount or amount_cents but not both, or the
        # maximum from the settings, so some schema-valid requests get a 422.
        excluded_checks=[positive_data_acceptance],
    )
