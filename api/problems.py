"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every ``CallmeterError`` is mapped to its response in one handler, from the
error's ``http_status`` and ``code``. Request validation errors, unknown
routes and unexpected failures get the same shape, so a client parses one
kind of error body. The human text follows Accept-Language: Dutch unless
the client prefers English.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from callmeter import i18n
from callmeter.errors import CallmeterError

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
# The maximum length of a rejected value shown in a message. Longer values are cut off.
MAX_SHOWN_VALUE: Final = 80

i18n.register(
    {
        "problem.400": {"nl": "Ongeldig verzoek", "en": "Bad request"},
        "problem.401": {"nl": "Niet aangemeld", "en": "Unauthorized"},
        "problem.403": {"nl": "Geen toestemming", "en": "Forbidden"},
        "problem.404": {"nl": "Niet gevonden", "en": "Not found"},
        "problem.405": {"nl": "Methode niet toegestaan", "en": "Method not allowed"},
        "problem.409": {"nl": "Conflict", "en": "Conflict"},
        "problem.422": {"nl": "Ongeldige invoer", "en": "Invalid input"},
        "problem.500": {"nl": "Interne fout", "en": "Internal error"},
        "problem.503": {"nl": "Dienst niet beschikbaar", "en": "Service unavailable"},
        "problem.other": {"nl": "Fout", "en": "Error"},
        "api.route_not_found": {
            "nl": "Het pad {path} bestaat niet: zie /docs voor de paden van de API.",
            "en": "The path {path} does not exist: see /docs for the paths of the API.",
        },
        "api.method_not_allowed": {
            "nl": "Methode {method} is niet toegestaan op {path}: zie /docs.",
            "en": "Method {method} is not allowed on {path}: see /docs.",
        },
        "api.http_error": {"nl": "Het verzoek is mislukt: {reason}.", "en": "The request failed: {reason}."},
        "api.internal_error": {
            "nl": "Er ging iets mis bij callmeter; de fout is gelogd. Probeer het later opnieuw.",
            "en": "Something went wrong inside callmeter; the error was logged. Try again later.",
        },
        "api.body_unreadable": {
            "nl": "de body kan niet worden gelezen; stuur geldige JSON met gewone getallen",
            "en": "the body cannot be read; send valid JSON with ordinary numbers",
        },
        "api.database_unavailable": {
            "nl": "De database is niet bereikbaar. Probeer het later opnieuw; de fout is gelogd.",
            "en": "The database cannot be reached. Try again later; the error was logged.",
        },
        "api.validation": {"nl": "Ongeldige invoer: {details}", "en": "Invalid input: {details}"},
        "validation.item": {"nl": "{field} = {value}: {reason}", "en": "{field} = {value}: {reason}"},
        "validation.missing": {"nl": "{field} ontbreekt", "en": "{field} is missing"},
    }
)

_TITLED_STATUSES: Final = frozenset({400, 401, 403, 404, 405, 409, 422, 500, 503})

# Dutch and English reasons per pydantic error type. Placeholders come from
# the error's context (ge, le, max_length, expected, ...).
_REASONS: Final[dict[str, tuple[str, str]]] = {
    "int_type": (
        "geef een geheel getal, geen kommagetal of tekst",
        "give a whole number, not a decimal or text",
    ),
    "int_parsing": ("geef een geheel getal", "give a whole number"),
    "int_from_float": ("geef een geheel getal, geen kommagetal", "give a whole number, not a decimal"),
    "int_parsing_size": ("het getal is te groot", "the number is too large"),
    "string_type": ("geef tekst tussen aanhalingstekens", "give text in quotes"),
    "bool_type": ("geef true of false", "give true or false"),
    "bool_parsing": ("geef true of false", "give true or false"),
    "greater_than_equal": ("toegestaan is {ge} of meer", "allowed is {ge} or more"),
    "greater_than": ("toegestaan is meer dan {gt}", "allowed is more than {gt}"),
    "less_than_equal": ("toegestaan is {le} of minder", "allowed is {le} or less"),
    "less_than": ("toegestaan is minder dan {lt}", "allowed is less than {lt}"),
    "string_too_long": ("hooguit {max_length} tekens", "at most {max_length} characters"),
    "string_too_short": ("minstens {min_length} teken(s)", "at least {min_length} character(s)"),
    "too_long": ("hooguit {max_length} elementen", "at most {max_length} items"),
    "literal_error": ("toegestaan: {expected}", "allowed: {expected}"),
    "enum": ("toegestaan: {expected}", "allowed: {expected}"),
    "date_type": ("geef een datum zoals 2026-12-31", "give a date such as 2026-12-31"),
    "date_parsing": ("geef een datum zoals 2026-12-31", "give a date such as 2026-12-31"),
    "date_from_datetime_parsing": ("geef een datum zoals 2026-12-31", "give a date such as 2026-12-31"),
    "date_from_datetime_inexact": ("geef een datum zonder tijd", "give a date without a time"),
    "extra_forbidden": ("onbekend veld; zie /docs voor de velden", "unknown field; see /docs for the fields"),
    "json_invalid": ("ongeldige JSON", "invalid JSON"),
    "model_type": ("geef een JSON-object", "give a JSON object"),
    "model_attributes_type": ("geef een JSON-object", "give a JSON object"),
    "dict_type": ("geef een JSON-object", "give a JSON object"),
    "list_type": ("geef een lijst", "give a list"),
    "control_characters": (
        "stuurtekens en ongeldige Unicode zijn niet toegestaan",
        "control characters and invalid Unicode are not allowed",
    ),
}


# Money fields get a reason that names the form to use instead.
_MONEY_REASONS: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("amount", "string_type"): (
        'geef euro\'s als tekst, zoals "12,50", of gebruik amount_cents',
        'give euros as text, such as "12,50", or use amount_cents',
    ),
    ("amount_cents", "int_type"): (
        "geef een geheel aantal centen, zoals 1250; een kommagetal wordt geweigerd",
        "give a whole number of cents, such as 1250; a decimal is rejected",
    ),
}


class DatabaseUnavailable(CallmeterError):
    """The database refused the connection or the query timed out."""

    code = "database_unavailable"
    http_status = 503


class FieldProblem(BaseModel):
    """One rejected request value."""

    field: str = Field(description="Where the value was: the body field, query parameter or header.")
    message: str = Field(description="What is wrong, in the response language.")


class Problem(BaseModel):
    """An error response (RFC 9457) with callmeter's stable machine code."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:callmeter:problem:unknown_customer",
                    "title": "Niet gevonden",
                    "status": 404,
                    "detail": "Onbekende klant 'HD-9999': controleer het helpdesk-ID met 'callmeter customer list'.",
                    "code": "unknown_customer",
                }
            ]
        }
    )

    type: str = Field(description="A URN naming the kind of problem: urn:callmeter:problem:<code>.")
    title: str = Field(description="A short title of the HTTP status.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong and what to do, in Dutch or English.")
    code: str = Field(description="A stable machine code, such as unknown_customer or invalid_amount.")
    errors: list[FieldProblem] | None = Field(
        default=None, description="The rejected values, for validation errors only."
    )


def problem_response(
    status: int,
    code: str,
    detail: str,
    language: str,
    errors: Sequence[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build a problem+json response."""
    title = i18n.text(f"problem.{status}" if status in _TITLED_STATUSES else "problem.other", language)
    body = Problem(
        type=f"urn:callmeter:problem:{code}",
        title=title,
        status=status,
        detail=detail,
        code=code,
        errors=list(errors) if errors is not None else None,
    )
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="callmeter"'}
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def request_language(request: Request) -> i18n.Language:
    return i18n.preferred_language(request.headers.get("accept-language"))


def _shown(value: object) -> str:
    text = repr(value)
    if len(text) > MAX_SHOWN_VALUE:
        return text[: MAX_SHOWN_VALUE - 1] + "…"
    return text


def _field_name(location: Sequence[int | str]) -> str:
    # The first part of the location is the request part (body, query, path or header).
    parts = [str(part) for part in location[1:]] or [str(location[0]) if location else "body"]
    return ".".join(parts)


def describe_validation_error(error: dict[str, Any], language: str) -> FieldProblem:
    """Render one pydantic error as a field name and a message in the language."""
    field = _field_name(error.get("loc", ()))
    if error.get("type") == "missing":
        return FieldProblem(field=field, message=i18n.text("validation.missing", language, field=field))

    error_type = str(error.get("type"))
    templates = _MONEY_REASONS.get((field, error_type)) or _REASONS.get(error_type)
    if templates is None:
        reason = str(error.get("msg", ""))
    else:
        context = {name: str(item) for name, item in (error.get("ctx") or {}).items()}
        try:
            reason = templates[1 if language == "en" else 0].format(**context)
        except KeyError:
            reason = str(error.get("msg", ""))
    message = i18n.text(
        "validation.item", language, field=field, value=_shown(error.get("input")), reason=reason
    )
    return FieldProblem(field=field, message=message)


async def _callmeter_error(request: Request, error: Exception) -> JSONResponse:
    """Map every expected failure to its status: the one place that does so."""
    assert isinstance(error, CallmeterError)
    language = request_language(request)
    fields = {"code": error.code, "method": request.method, "path": request.url.path}
    if error.http_status in (401, 403):
        log.warning("api.auth_rejected", **fields)
    elif error.http_status >= 500:
        log.warning("api.request_failed", error=str(error), **fields)
    else:
        log.info("api.request_rejected", status=error.http_status, **fields)
    return problem_response(error.http_status, error.code, error.message(language), language)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    language = request_language(request)
    problems = [describe_validation_error(dict(item), language) for item in error.errors()]
    details = "; ".join(problem.message for problem in problems) + "."
    return problem_response(
        422, "invalid_input", i18n.text("api.validation", language, details=details), language, problems
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    language = request_language(request)
    path = request.url.path
    headers = dict(error.headers) if error.headers else {}
    if error.status_code == 400:
        # FastAPI raises a bare 400 for a body it cannot decode at all, such as
        # a JSON integer of thousands of digits. That is invalid input like
        # any other, so it gets the same status and shape as a validation error.
        reason = i18n.text("api.body_unreadable", language)
        detail = i18n.text("api.validation", language, details=f"body: {reason}.")
        return problem_response(
            422, "invalid_input", detail, language, [FieldProblem(field="body", message=f"body: {reason}")]
        )
    if error.status_code == 404:
        code, detail = "route_not_found", i18n.text("api.route_not_found", language, path=path)
    elif error.status_code == 405:
        code = "method_not_allowed"
        detail = i18n.text("api.method_not_allowed", language, method=request.method, path=path)
        # Starlette lists only the methods of the one route that matched the
        # path, but FastAPI makes a route per method, so collect them all.
        headers["Allow"] = ", ".join(_allowed_methods(request))
    else:
        code, detail = "http_error", i18n.text("api.http_error", language, reason=error.detail)
    return problem_response(error.status_code, code, detail, language, headers=headers or None)


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        # APIRoute is a Route; mounts and websocket routes have no methods.
        if not isinstance(route, Route):
            continue
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(route.methods or ())
    return sorted(methods)


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    """Answer 503 when the database is down, so clients retry instead of reporting a bug."""
    assert isinstance(error, OperationalError)
    log.warning("api.database_unavailable", path=request.url.path, error=str(error.orig))
    return await _callmeter_error(request, DatabaseUnavailable("api.database_unavailable"))


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("api.unexpected_error", path=request.url.path, method=request.method)
    language = request_language(request)
    return problem_response(500, "internal_error", i18n.text("api.internal_error", language), language)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CallmeterError, _callmeter_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)


_PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}

_DESCRIPTIONS: Final[dict[int, str]] = {
    401: "No token, an unknown token or a revoked token.",
    403: "A read token was used for a change.",
    404: "The customer, entry or call does not exist.",
    409: "Conflict: a duplicate, or an idempotency key reused with other content.",
    422: "Invalid input: the response names the field and the value.",
    503: "The database cannot be reached.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document error statuses of an operation with the problem+json schema."""
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
        }
        for status in statuses
    }
