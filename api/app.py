"""The FastAPI application of the staff API.

``create_app`` builds the app from explicit parts, for tests and for the
service that also runs the AMI link and the FastAGI server. ``app_factory``
reads the settings itself, for ``uvicorn --factory api.app:app_factory``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from api.dependencies import ApiContext
from api.problems import Problem, install_handlers, problem_responses
from api.routers import calls, customers, ledger, lookup, system
from api.token_cache import TOKEN_CACHE_SECONDS
from api.web import install as install_web
from api.web import router as web_router
from callmeter.db import Database
from callmeter.settings import Settings, load_settings
from callmeter.status import ServiceStatus
from callmeter.tariffs import Tariff

DESCRIPTION = f"""\
The staff API of callmeter, which meters paid telephone support on the
helpdesk line 038-7370296 and deducts prepaid credit in blocks of
5 minutes (by default).

**Authentication.** Every request needs a staff token in the header
`Authorization: Bearer <token>`. Create one with
`callmeter token create --name NAME --scope read|write`. A read token may
use GET; a write token may also create, change and delete. An invalid
request gets its 422 whatever the token's scope; a valid change by a read
token gets a 403. `/health` and
`/metrics` are open without a token only when the setting `api.open_health`
is true. A verified token is trusted for {TOKEN_CACHE_SECONDS:g} seconds without a new database
lookup, so a revoked token keeps working for up to {TOKEN_CACHE_SECONDS:g} seconds.

**Money** is integer euro-cents (`amount_cents`). Requests may give euros
as text instead (`"amount": "12,50"`); JSON numbers with a fraction are
rejected. Responses also carry each amount formatted for people.

**Times** are ISO 8601. A time without an offset is Amsterdam wall-clock
time; responses show times with the Amsterdam offset.

**Errors** are `application/problem+json` with a stable machine `code`.
The human `detail` is Dutch, or English when Accept-Language prefers `en`.

**Idempotency.** Top-ups and corrections require an `Idempotency-Key`
header. Repeating a request with the same key posts once; the same key
with other content is a 409.
"""


def create_app(settings: Settings, database: Database, status: ServiceStatus | None = None) -> FastAPI:
    """Build the API with its routers, the web page and the problem+json error handlers."""
    app = FastAPI(
        title="callmeter",
        version="0.1.0",
        description=DESCRIPTION,
        # /docs is served below from files installed with swagger-ui-bundle,
        # because FastAPI's default page loads Swagger UI from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = ApiContext(
        settings=settings,
        database=database,
        tariff=Tariff(settings),
        status=status if status is not None else ServiceStatus(),
    )
    install_handlers(app)
    install_web(app, settings)
    for router in (customers.router, ledger.router, calls.router, lookup.router, system.router):
        app.include_router(router)
    app.include_router(web_router)
    _document_problems(app)
    _serve_docs(app)
    return app


def _serve_docs(app: FastAPI) -> None:
    """Serve the interactive API documentation at /docs without any other host."""
    app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="callmeter API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )


def app_factory() -> FastAPI:
    """Build the app from the settings file and environment, for uvicorn's factory mode."""
    settings = load_settings()
    database = Database(settings.database_url)
    database.check_schema()
    return create_app(settings, database)


def _document_problems(app: FastAPI) -> None:
    """Add the Problem schema that error responses refer to, and a 503 to every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas["Problem"] = problem
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation["responses"].setdefault("503", problem_responses(503)[503])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
