"""Login and logout of staff with an API token."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from api.web.rendering import flash, render
from api.web.routing import WebRoute
from api.web.session import check_csrf, current_staff, database_of, language, log_in, log_out
from callmeter import i18n
from callmeter.tokens.service import verify

log = structlog.get_logger(__name__)

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/web/login", name="web_login")
def login_page(request: Request) -> Response:
    if current_staff(request) is not None:
        return RedirectResponse(request.url_for("web_overview"), status_code=303)
    return render(request, "login.html", {"error": None})


@router.post("/web/login", name="web_login_submit")
def login_submit(
    request: Request, token: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(request, csrf)

    with database_of(request).read() as session:
        found = verify(session, token.strip())
        if found is not None:
            log_in(request, found)
            log.info("web.login", token_name=found.name, scope=found.scope)
            return RedirectResponse(request.url_for("web_overview"), status_code=303)

    # The token itself is never logged; a wrong one is only counted here.
    log.warning("web.login_failed", client=request.client.host if request.client else None)
    error = i18n.text("web.login.failed", language(request))
    return render(request, "login.html", {"error": error}, status_code=401)


@router.post("/web/logout", name="web_logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    staff = current_staff(request)
    log_out(request)
    if staff is not None:
        log.info("web.logout", token_name=staff.name)
    flash(request, "ok", i18n.text("web.logged_out", language(request)))
    return RedirectResponse(request.url_for("web_login"), status_code=303)
