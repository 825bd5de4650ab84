"""Health and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Final

import structlog
from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.convert import local_or_none
from api.dependencies import Caller, Context, authenticate_unless_open
from api.problems import PROBLEM_MEDIA_TYPE, problem_responses
from api.queries import count_active_calls, count_open_reservations
from api.schemas import HealthOut
from callmeter.metrics import ACTIVE_CALLS, OPEN_RESERVATIONS, REGISTRY

log = structlog.get_logger(__name__)

router = APIRouter(tags=["system"])

# "disabled" is not down: `callmeter api` runs without an AMI link on
# purpose, and a health check that failed there would page for nothing.
AMI_DOWN_STATES: Final = frozenset({"down", "connecting"})

HealthCaller = Annotated[Caller | None, Depends(authenticate_unless_open)]


@router.get(
    "/health",
    summary="Check health",
    description=(
        "The state of the database, the AMI link and the FastAGI server. The status is 503 when the database "
        "fails or the AMI link is down or still connecting; an AMI link that is `disabled` (the API runs "
        "alone, as with `callmeter api`) counts as healthy. Open without a token only when the setting "
        "`api.open_health` is true."
    ),
    response_model=HealthOut,
    responses={
        503: {
            "model": HealthOut,
            "description": (
                "The database fails or the AMI link is down. When the token cannot be checked because the "
                "database is down, the body is a problem document instead."
            ),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        },
        **problem_responses(401),
    },
)
def health(context: Context, _caller: HealthCaller) -> JSONResponse:
    database_ok = True
    try:
        with context.database.read() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        database_ok = False
        log.warning("api.health_database_failed", error=str(error))

    status = context.status
    healthy = database_ok and status.ami not in AMI_DOWN_STATES
    body = HealthOut(
        status="ok" if healthy else "degraded",
        database="ok" if database_ok else "error",
        ami=status.ami,
        ami_since=local_or_none(status.ami_since, context.settings),
        ami_last_error=status.ami_last_error,
        fastagi=status.fastagi,
        fastagi_address=status.fastagi_address,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if healthy else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description=(
        "Metrics in the Prometheus text format: admissions by verdict, active calls, blocks and cents "
        "charged, AMI reconnects, event lag and open reservations. Active calls and open reservations are "
        "counted in the database at each scrape. Open without a token only when `api.open_health` is true."
    ),
    response_class=Response,
    responses={
        200: {
            "content": {
                CONTENT_TYPE_LATEST.split(";")[0]: {
                    "schema": {"type": "string"},
                    "example": (
                        "# HELP callmeter_active_calls Admitted calls not yet ended.\n"
                        "# TYPE callmeter_active_calls gauge\n"
                        "callmeter_active_calls 2.0\n"
                    ),
                }
            },
            "description": "Metrics in the Prometheus text format.",
        },
        **problem_responses(401),
    },
)
def metrics(context: Context, _caller: HealthCaller) -> Response:
    try:
        with context.database.read() as session:
            ACTIVE_CALLS.set(count_active_calls(session))
            OPEN_RESERVATIONS.set(count_open_reservations(session))
    except SQLAlchemyError as error:
        # Serve the other metrics anyway; the gauges keep their last values.
        log.warning("api.metrics_refresh_failed", error=str(error))
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
