"""The staff web page, served by the same FastAPI application.

``router`` contains every page under /web/. The application must also call
:func:`install`, which adds the session middleware the login needs;
``api.app.create_app`` does both. Staff open /web/ and log in with a token
from ``callmeter token create``. A read token sees every page but no form
that changes data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse

from api.web import auth, customers, overview, tariffs, texts
from api.web.routing import WebError, WebRoute
from api.web.session import install

__all__ = ["install", "router", "texts"]

STATIC: Final = Path(__file__).with_name("static")
_STATIC_NAME = re.compile(r"^[a-z0-9_-]+\.(css|js)$")
_MEDIA_TYPES: Final = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}

router = APIRouter(route_class=WebRoute, include_in_schema=False)
router.include_router(auth.router)
router.include_router(overview.router)
router.include_router(customers.router)
router.include_router(tariffs.router)


@router.get("/", include_in_schema=False)
@router.get("/web", include_in_schema=False)
def web_root(request: Request) -> Response:
    """Send a browser at the server's root to the overview."""
    return RedirectResponse(request.url_for("web_overview"), status_code=307)


@router.get("/web/static/{name}", name="web_static", include_in_schema=False)
def static_file(name: str) -> Response:
    """Serve the page's own CSS and JavaScript; nothing is loaded from another host."""
    match = _STATIC_NAME.match(name)
    path = STATIC / name
    if match is None or not path.is_file():
        raise WebError(404, "web.error.not_found")
    response = FileResponse(path, media_type=_MEDIA_TYPES[match.group(1)])
    response.headers["Cache-Control"] = "no-cache"
    return response
