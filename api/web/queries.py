"""Database reads behind the web pages. Each takes an open session."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from callmeter.clock import ensure_utc
from callmeter.db.models import Call, CallBlock, Customer

ACTIVE_STATES: Final = ("admitted", "answered")
# Bounds on what one page shows, so a busy day cannot make a page huge.
MAX_TODAY_CALLS: Final = 300
MAX_CUSTOMER_CALLS: Final = 50
USAGE_DAYS: Final = 30


@dataclass(frozen=True)
class LiveCall:
    """An active call as the overview shows it at one instant."""

    call: Call
    customer_name: str | None
    metered_ms: int
    left_ms: int


def live_metered_ms(call: Call, now: datetime) -> int:
    """Return the metered time of an active call up to now.

    Metering stores ``metered_ms`` as blocks start, so between updates the
    time since ``answered_at`` is the better figure. The meter keeps running
    through a transfer, so a ``bridge_left_at`` does not stop it here.
    """
    if call.answered_at is None:
        return call.metered_ms
    end = call.ended_at or now
    running = int((end - call.answered_at).total_seconds() * 1000)
    return max(call.metered_ms, running)


def active_calls(session: Session, now: datetime) -> list[LiveCall]:
    calls = session.scalars(
        select(Call).where(Call.state.in_(ACTIVE_STATES)).order_by(Call.admitted_at, Call.id)
    ).all()
    names = customer_names(session, [call.customer_id for call in calls])
    live: list[LiveCall] = []
    for call in calls:
        metered_ms = live_metered_ms(call, now)
        live.append(
            LiveCall(
                call=call,
                customer_name=names.get(call.customer_id) if call.customer_id is not None else None,
                metered_ms=metered_ms,
                left_ms=max(0, call.limit_ms - metered_ms),
            )
        )
    return live


def day_bounds(day: date, zone_info: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC instants where a local date starts and the next one starts."""
    start = datetime.combine(day, time(0), tzinfo=zone_info)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone_info)
    return ensure_utc(start), ensure_utc(end)


def calls_of_day(session: Session, day: date, zone_info: ZoneInfo) -> list[Call]:
    """List the calls admitted or refused on a local date, newest first."""
    start, end = day_bounds(day, zone_info)
    return list(
        session.scalars(
            select(Call)
            .where(Call.admitted_at >= start, Call.admitted_at < end)
            .order_by(Call.admitted_at.desc(), Call.id.desc())
            .limit(MAX_TODAY_CALLS)
        ).all()
    )


def customer_names(session: Session, customer_ids: list[int | None]) -> dict[int, str]:
    requested = {customer_id for customer_id in customer_ids if customer_id is not None}
    if not requested:
        return {}
    rows = session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(requested))).all()
    return {row.id: row.name for row in rows}


def customer_calls(session: Session, customer_id: int) -> list[Call]:
    """List a customer's admitted calls with their blocks, newest first."""
    return list(
        session.scalars(
            select(Call)
            .where(Call.customer_id == customer_id, Call.verdict == "admitted")
            .options(selectinload(Call.blocks))
            .order_by(Call.admitted_at.desc(), Call.id.desc())
            .limit(MAX_CUSTOMER_CALLS)
        ).all()
    )


def customer_refusals(session: Session, customer_id: int) -> list[Call]:
    return list(
        session.scalars(
            select(Call)
            .where(Call.customer_id == customer_id, Call.verdict != "admitted")
            .order_by(Call.admitted_at.desc(), Call.id.desc())
            .limit(MAX_CUSTOMER_CALLS)
        ).all()
    )


@dataclass(frozen=True)
class DayUsage:
    """The blocks of one local date and their price, per zone (None is outside hours)."""

    day: date
    blocks: dict[int | None, int]
    cents: dict[int | None, int]

    @property
    def total_blocks(self) -> int:
        return sum(self.blocks.values())


def daily_usage(session: Session, customer_id: int, today: date, zone_info: ZoneInfo) -> list[DayUsage]:
    """Count a customer's charged blocks per local date and zone over the last 30 days."""
    first = today - timedelta(days=USAGE_DAYS - 1)
    start, _ = day_bounds(first, zone_info)
    _, end = day_bounds(today, zone_info)
    rows = session.execute(
        select(CallBlock.starts_at, CallBlock.zone, CallBlock.rate_cents)
        .join(Call, Call.id == CallBlock.call_id)
        .where(Call.customer_id == customer_id, CallBlock.starts_at >= start, CallBlock.starts_at < end)
    ).all()

    blocks: dict[date, dict[int | None, int]] = defaultdict(lambda: defaultdict(int))
    cents: dict[date, dict[int | None, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        local_day = row.starts_at.astimezone(zone_info).date()
        blocks[local_day][row.zone] += 1
        cents[local_day][row.zone] += row.rate_cents

    days = [first + timedelta(days=offset) for offset in range(USAGE_DAYS)]
    return [
        DayUsage(day=day, blocks=dict(blocks.get(day, {})), cents=dict(cents.get(day, {}))) for day in days
    ]
