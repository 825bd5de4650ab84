"""The overview: active calls, refreshed live, and today's calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from callmeter.clock import utc_now

from api.web.queries import active_calls, calls_of_day, customer_names
from api.web.rendering import render
from api.web.routing import WebRoute
from api.web.session import current_staff, database_of, require_staff, settings_of

router = APIRouter(route_class=WebRoute)

# How often the page asks for fresh call data. Two and a half seconds keeps
# the metered time visibly moving without loading a busy desk's server.
REFRESH_MS = 2500


def _live_context(request: Request) -> dict[str, Any]:
    settings = settings_of(request)
    now = utc_now()
    today = now.astimezone(settings.zone_info).date()
    with database_of(request).read() as session:
        live = active_calls(session, now)
        today_calls = calls_of_day(session, today, settings.zone_info)
        names = customer_names(session, [call.customer_id for call in today_calls])
    return {"live": live, "today_calls": today_calls, "names": names, "today": today, "now": now}


@router.get("/web/", name="web_overview")
def overview(request: Request) -> Response:
    require_staff(request)
    context = _live_context(request)
    context["refresh_ms"] = REFRESH_MS
    return render(request, "overview.html", context)


@router.get("/web/live", name="web_live")
def live_fragment(request: Request) -> Response:
    """Return the HTML fragment that overview.js swaps in every few seconds."""
    # A fetch that follows a redirect to the login page would paste that page
    # into the table, so an expired session answers 401 and the script says so.
    if current_staff(request) is None:
        return Response(status_code=401)
    return render(request, "_live.html", _live_context(request))
