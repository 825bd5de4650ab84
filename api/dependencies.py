"""Dependencies of the routers: the context of the app, the language and the caller's token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.problems import request_language
from api.token_cache import TokenCache
from callmeter import i18n
from callmeter.clock import utc_now
from callmeter.db import Database
from callmeter.errors import InvalidTime
from callmeter.settings import Settings
from callmeter.status import ServiceStatus
from callmeter.tariffs import Tariff
from callmeter.tokens.service import (
    MAX_TOKEN_LENGTH,
    InsufficientScope,
    InvalidToken,
    Scope,
    hash_token,
    verify,
)

i18n.register(
    {
        "api.time_invalid": {
            "nl": (
                "Ongeldige tijd {value!r}: geef een ISO 8601-tijd zoals 2026-12-08T17:57 "
                "(zonder offset is het Nederlandse tijd)."
            ),
            "en": (
                "Invalid time {value!r}: give an ISO 8601 time such as 2026-12-08T17:57 "
                "(without an offset it is Amsterdam time)."
            ),
        },
    }
)


@dataclass(frozen=True)
class Caller:
    """The token a request was authenticated with, copied out of its session."""

    name: str
    scope: Scope


@dataclass(frozen=True)
class ApiContext:
    """The long-lived objects one app serves from, kept on ``app.state.context``."""

    settings: Settings
    database: Database
    tariff: Tariff
    status: ServiceStatus
    tokens: TokenCache[Caller] = field(default_factory=TokenCache)


def get_context(request: Request) -> ApiContext:
    context = request.app.state.context
    assert isinstance(context, ApiContext)
    return context


# FastAPI runs a plain ``def`` dependency in the thread pool. These two only
# read the request, so they are ``async`` to spare every request two thread
# hops.
async def _context_dependency(request: Request) -> ApiContext:
    return get_context(request)


async def _language_dependency(request: Request) -> i18n.Language:
    return request_language(request)


Context = Annotated[ApiContext, Depends(_context_dependency)]
Language = Annotated[i18n.Language, Depends(_language_dependency)]

bearer = HTTPBearer(
    auto_error=False,
    description="A staff token from `callmeter token create`. Read tokens may GET; write tokens may also change.",
)


async def authenticate(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    """Check the bearer token; routes that change data also call require_write.

    A token verified within the last few seconds is taken from the app's
    token cache (see ``api.token_cache``), so a revoked token is rejected
    only after that cache time. Otherwise the database lookup runs in the
    thread pool.
    """
    if credentials is None:
        raise InvalidToken("error.token_missing")
    plaintext = credentials.credentials
    if not plaintext or len(plaintext) > MAX_TOKEN_LENGTH:
        raise InvalidToken("error.token_invalid")
    token_hash = hash_token(plaintext)
    caller = context.tokens.get(token_hash)
    if caller is None:
        started = utc_now()
        caller = await run_in_threadpool(_verify, context.database, plaintext)
        context.tokens.put(token_hash, caller, started)
    return caller


def _verify(database: Database, plaintext: str) -> Caller:
    with database.read() as session:
        token = verify(session, plaintext)
        if token is None:
            raise InvalidToken("error.token_invalid")
        return Caller(name=token.name, scope="write" if token.scope == "write" else "read")


def require_write(caller: Caller) -> None:
    """Raise InsufficientScope unless the caller's token has write scope.

    Routes call this after the request has been validated (by FastAPI, and
    amounts by the route), so an invalid request gets its 422 whatever the
    token, and a valid change by a read token gets a 403.
    """
    if caller.scope != "write":
        raise InsufficientScope("error.token_scope", name=caller.name)


async def authenticate_unless_open(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller | None:
    """Authenticate like every route, unless ``api.open_health`` opens health and metrics."""
    if context.settings.api.open_health:
        return None
    return await authenticate(context, credentials)


Authenticated = Annotated[Caller, Depends(authenticate)]


def parse_instant(value: str, settings: Settings) -> datetime:
    """Parse ISO 8601 into an aware instant; a time without offset is Amsterdam wall-clock time."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidTime("api.time_invalid", value=value) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.zone_info)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        # Year 1 or 9999 with an offset falls outside what datetime can hold.
        raise InvalidTime("api.time_invalid", value=value) from None


def parse_optional_instant(value: str | None, settings: Settings) -> datetime | None:
    return None if value is None else parse_instant(value, settings)
