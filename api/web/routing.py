"""The route class of the web page: redirects, HTML errors and security headers.

The API renders errors as JSON problem documents. A person at a browser
needs a page instead, so every web route runs inside :class:`WebRoute`,
which turns :class:`LoginRequired`, :class:`WebError` and
:class:`~callmeter.errors.CallmeterError` into HTML before the API's
handlers see them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

import structlog
from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from callmeter.errors import CallmeterError

log = structlog.get_logger(__name__)

# Everything the page loads comes from this server: no inline scripts, no
# other hosts. Inline SVG is markup, so it needs no exception.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class LoginRequired(Exception):
    """The request has no valid staff session; the browser goes to the login page."""


class WebError(Exception):
    """An expected failure to show as an error page with this status."""

    def __init__(self, status_code: int, message_id: str, **params: object) -> None:
        super().__init__(message_id)
        self.status_code = status_code
        self.message_id = message_id
        self.params = params


class WebRoute(APIRoute):
    """An APIRoute whose expected failures become HTML pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            # Imported here because rendering imports the texts and the session,
            # which import this module.
            from api.web.rendering import render_error, render_message

            try:
                response = await handler(request)
            except LoginRequired:
                response = RedirectResponse(request.url_for("web_login"), status_code=303)
            except WebError as error:
                response = render_error(request, error.status_code, error.message_id, **error.params)
            except CallmeterError as error:
                log.info("web.request_rejected", path=request.url.path, code=error.code)
                response = render_message(request, error.http_status, error.message(_language(request)))
            response.headers.update(SECURITY_HEADERS)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return handle


def _language(request: Request) -> str:
    from api.web.session import language

    return language(request)
