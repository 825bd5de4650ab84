"""Staff sessions of the web page: login state, CSRF token and language.

Staff log in with an API token. The session cookie stores the token's
database id, never the token itself, because Starlette's session cookie is
signed but readable. Every request loads the token row again, so revoking a
token ends its web sessions at the next click.

The cookie is HTTP-only and SameSite=Strict. It is marked Secure unless
``api.session_https_only`` is false. Browsers treat http://127.0.0.1 and
http://localhost as secure origins (checked with Chromium 156), so a Secure
cookie still works on a loopback address without TLS. Only a plain-HTTP
deployment on another address needs the setting turned off.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware

from api.dependencies import get_context
from api.web.routing import LoginRequired, WebError
from callmeter import i18n
from callmeter.db import Database
from callmeter.db.models import ApiToken
from callmeter.settings import Settings

SESSION_COOKIE: Final = "callmeter_session"
# A desk shift; after that staff log in again.
SESSION_MAX_AGE: Final = int(timedelta(hours=12).total_seconds())


def install(app: FastAPI, settings: Settings) -> None:
    """Add the session middleware the web page needs to an application.

    An empty ``api.session_secret`` gets a random secret, so sessions end
    when the process restarts.
    """
    secret = settings.api.session_secret or secrets.token_urlsafe(32)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="strict",
        https_only=settings.api.session_https_only,
    )


def settings_of(request: Request) -> Settings:
    return get_context(request).settings


def database_of(request: Request) -> Database:
    return get_context(request).database


@dataclass(frozen=True)
class Staff:
    """The person behind a web session, known by the name of their token."""

    token_id: int
    name: str
    scope: str

    @property
    def can_write(self) -> bool:
        return self.scope == "write"


def log_in(request: Request, token: ApiToken) -> None:
    """Start a fresh session for a verified token."""
    language_choice = request.session.get("lang")
    request.session.clear()
    if hasattr(request.state, "web_staff"):
        del request.state.web_staff
    request.session["token_id"] = token.id
    request.session["csrf"] = secrets.token_urlsafe(32)
    if language_choice:
        request.session["lang"] = language_choice


def log_out(request: Request) -> None:
    language_choice = request.session.get("lang")
    request.session.clear()
    request.state.web_staff = None
    if language_choice:
        request.session["lang"] = language_choice


def current_staff(request: Request) -> Staff | None:
    """Return the logged-in staff member, or None when the session has no live token.

    The result is cached on the request, because the route and the layout both need it.
    """
    if hasattr(request.state, "web_staff"):
        cached: Staff | None = request.state.web_staff
        return cached
    token_id = request.session.get("token_id")
    staff = None
    if isinstance(token_id, int):
        with database_of(request).read() as session:
            token = session.get(ApiToken, token_id)
            if token is not None and token.revoked_at is None:
                staff = Staff(token_id=token.id, name=token.name, scope=token.scope)
    request.state.web_staff = staff
    return staff


def require_staff(request: Request) -> Staff:
    """Return the logged-in staff member or send the browser to the login page."""
    staff = current_staff(request)
    if staff is None:
        request.session.pop("token_id", None)
        raise LoginRequired
    return staff


def require_writer(request: Request) -> Staff:
    """Return a staff member whose token may change data, or refuse with 403."""
    staff = require_staff(request)
    if not staff.can_write:
        raise WebError(403, "web.error.read_only")
    return staff


def csrf_token(request: Request) -> str:
    """Return the session's CSRF token, creating it on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str) -> None:
    """Refuse a form whose hidden CSRF field does not match the session."""
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, submitted):
        raise WebError(403, "web.error.csrf")


def language(request: Request) -> i18n.Language:
    """Pick the page language: ?lang=, then the session, then Accept-Language.

    A ``lang`` query parameter is remembered in the session, so one click on
    the language link switches every later page.
    """
    requested = request.query_params.get("lang")
    if requested in i18n.LANGUAGES:
        request.session["lang"] = requested
    stored = request.session.get("lang")
    if stored in i18n.LANGUAGES:
        return i18n.parse_language(stored)
    header = request.headers.get("accept-language")
    if header:
        return i18n.preferred_language(header)
    return i18n.parse_language(settings_of(request).language)
