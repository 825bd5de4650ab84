"""The rates page: this week's zones as a grid, the rates per plan and the coming holidays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

from fastapi import APIRouter, Request, Response

from api.web.rendering import render
from api.web.routing import WebRoute
from api.web.session import require_staff, settings_of
from callmeter.clock import utc_now
from callmeter.settings import PLANS, DayZones, Window
from callmeter.tariffs import Tariff, Zone

router = APIRouter(route_class=WebRoute, include_in_schema=False)

# The grid shows 08:00-22:00 in half hours: every shipped zone edge falls on a
# full or half hour, and the line is closed outside these hours by default.
FIRST_HOUR: Final = 8
LAST_HOUR: Final = 22
SLOT_MINUTES: Final = 30
HOLIDAY_DAYS: Final = 60


@dataclass(frozen=True)
class GridDay:
    day: date
    holiday: str | None
    windows: list[tuple[Window, int]]
    cells: list[str]  # a CSS class per slot: zone-1, zone-2 or closed


def _slots() -> list[time]:
    count = (LAST_HOUR - FIRST_HOUR) * 60 // SLOT_MINUTES
    return [
        time(FIRST_HOUR + (index * SLOT_MINUTES) // 60, (index * SLOT_MINUTES) % 60) for index in range(count)
    ]


def _cell_class(zones: DayZones, at: time) -> str:
    if any(window.contains(at) for window in zones.zone1):
        return "zone-1"
    if any(window.contains(at) for window in zones.zone2):
        return "zone-2"
    return "closed"


def week_grid(tariff: Tariff, monday: date) -> list[GridDay]:
    slots = _slots()
    grid: list[GridDay] = []
    for day, zones, holiday in tariff.week(monday):
        windows = sorted(
            [(window, 1) for window in zones.zone1] + [(window, 2) for window in zones.zone2],
            key=lambda pair: pair[0].start,
        )
        grid.append(GridDay(day, holiday, windows, [_cell_class(zones, slot) for slot in slots]))
    return grid


@router.get("/web/tariffs", name="web_tariffs")
def tariffs(request: Request) -> Response:
    require_staff(request)
    settings = settings_of(request)
    tariff = Tariff(settings)
    now_local: datetime = utc_now().astimezone(settings.zone_info)
    today = now_local.date()
    monday = today - timedelta(days=today.weekday())

    # The current half hour is outlined in the grid, when it falls inside it.
    now_slot = None
    if FIRST_HOUR <= now_local.hour < LAST_HOUR:
        now_slot = ((now_local.hour - FIRST_HOUR) * 60 + now_local.minute) // SLOT_MINUTES

    rates = [
        (plan, tariff.rate_cents(plan, Zone.NORMAL), tariff.rate_cents(plan, Zone.HIGH), tariff.rate_cents(plan, None))
        for plan in PLANS
    ]
    return render(
        request,
        "tariffs.html",
        {
            "monday": monday,
            "today": today,
            "grid": week_grid(tariff, monday),
            "hours": list(range(FIRST_HOUR, LAST_HOUR)),
            "slots_per_hour": 60 // SLOT_MINUTES,
            "now_slot": now_slot,
            "rates": rates,
            "block_minutes": settings.block_seconds / 60,
            "holidays": tariff.holidays_between(today, today + timedelta(days=HOLIDAY_DAYS)),
            "holiday_policy": settings.holiday_policy,
        },
    )
