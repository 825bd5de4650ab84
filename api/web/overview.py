"""The overview: active calls, refreshed live, and today's calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from api.web.queries import active_calls, calls_of_day, customer_names, live_metered_ms
from api.web.rendering import render
from api.web.routing import WebRoute
from api.web.session import current_staff, database_of, require_staff, settings_of
from callmeter.clock import utc_now

router = APIRouter(route_class=WebRoute, include_in_schema=False)

# How often the page requests fresh call data. Two and a half seconds keeps
# the metered time visibly moving without loading a busy desk's server.
REFRESH_MS = 2500


def _live_context(request: Request, session: Session) -> dict[str, Any]:
    settings = settings_of(request)
    now = utc_now()
    today = now.astimezone(settings.zone_info).date()
    today_calls = calls_of_day(session, today, settings.zone_info)
    return {
        "live": active_calls(session, now),
        "today_calls": today_calls,
        "names": customer_names(session, [call.customer_id for call in today_calls]),
        "metered": {call.id: live_metered_ms(call, now) for call in today_calls},
        "today": today,
        "now": now,
    }


# Pages render inside the read session: closing it expires the loaded rows.


@router.get("/web/", name="web_overview")
def overview(request: Request) -> Response:
    require_staff(request)
    with database_of(request).read() as session:
        context = _live_context(request, session)
        context["refresh_ms"] = REFRESH_MS
        return render(request, "overview.html", context)


@router.get("/web/live", name="web_live")
def live_fragment(request: Request) -> Response:
    """Return the HTML fragment that overview.js swaps in every few seconds."""
    # A fetch that follows a redirect to the login page would paste that page
    # into the table, so an expired session gets a 401 and the script shows a notice.
    if current_staff(request) is None:
        return Response(status_code=401)
    with database_of(request).read() as session:
        return render(request, "_live.html", _live_context(request, session))
