"""The tariff engine: zones, block prices, quotes and grants.

Pure functions without I/O. Every function takes the instant it needs and
none reads the clock. Instants are aware datetimes; zones are judged on the
wall clock of the configured time zone (Europe/Amsterdam by default).

The helpdesk's terms, as enforced here:

* Metered time is sold in blocks (300 s by default). Block n covers
  [answered_at + n·block, answered_at + (n+1)·block) and every block that
  has started is charged in full.
* A block is priced at the rate in force at the instant it starts: zone 1
  (normal), zone 2 (high), or outside hours, which is priced as zone 2
  because a call admitted at 20:58 may run past 21:00.
* The grant is the longest metered time the available credit pays for,
  with each block priced at the highest rate it could meet for any answer
  time between admission and admission + the ring timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import IntEnum
from functools import lru_cache

import holidays

from callmeter.clock import ensure_utc
from callmeter.settings import WEEKDAYS, DayZones, Plan, Settings


class Zone(IntEnum):
    NORMAL = 1
    HIGH = 2


@dataclass(frozen=True, slots=True)
class Block:
    """One charged block of a metered call."""

    n: int
    starts_at: datetime
    zone: Zone | None  # None when the block starts outside hours.
    rate_cents: int


@dataclass(frozen=True, slots=True)
class Quote:
    metered_ms: int
    blocks: tuple[Block, ...]

    @property
    def total_cents(self) -> int:
        return sum(block.rate_cents for block in self.blocks)


@dataclass(frozen=True, slots=True)
class Grant:
    """How long an admitted call may be metered, and what to reserve for it."""

    blocks: int
    grant_seconds: int  # blocks · block length
    limit_ms: int  # the limit the dialplan enforces: the grant plus the grace period
    reserved_cents: int  # 0 for plans that are not prepaid


# Local dates whose window edges a Tariff keeps; a year of dates is far more than any grant reads.
_EDGE_CACHE_DAYS = 400


@lru_cache(maxsize=64)
def _holidays_for_year(year: int, ignored: tuple[str, ...]) -> dict[date, str]:
    """Return Dutch public holidays of one year, minus the ignored names.

    An ignored name matches the Dutch or the English name, case-insensitively.
    """
    ignored_folded = {name.casefold() for name in ignored}
    dutch = holidays.country_holidays("NL", years=year, language="nl")
    english = holidays.country_holidays("NL", years=year, language="en_US")
    result: dict[date, str] = {}
    for day, name in dutch.items():
        english_name = english.get(day, name)
        if name.casefold() in ignored_folded or english_name.casefold() in ignored_folded:
            continue
        result[day] = name
    return result


class Tariff:
    """The zones and rates of one configuration, ready to price blocks."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.zone_info = settings.zone_info
        self.block_ms = settings.block_seconds * 1000
        self.grace_ms = settings.grace_seconds * 1000
        self._edges_by_day: dict[date, tuple[datetime, ...]] = {}

    # Zones

    def holiday_name(self, day: date) -> str | None:
        """Return the public holiday on a local date, or None."""
        return _holidays_for_year(day.year, self.settings.ignored_holidays).get(day)

    def holidays_between(self, first: date, last: date) -> list[tuple[date, str]]:
        """List the public holidays from first to last, both included."""
        found: list[tuple[date, str]] = []
        for year in range(first.year, last.year + 1):
            for day, name in _holidays_for_year(year, self.settings.ignored_holidays).items():
                if first <= day <= last:
                    found.append((day, name))
        return sorted(found)

    def day_zones(self, day: date) -> DayZones:
        """Return the zone windows that apply on a local date, holidays included."""
        if self.holiday_name(day) is not None:
            policy = self.settings.holiday_policy
            if policy == "closed":
                return DayZones()
            if policy == "sunday":
                return self.settings.zones["sunday"]
        return self.settings.zones[WEEKDAYS[day.weekday()]]

    def zone_at(self, at: datetime) -> Zone | None:
        """Return the zone in force at an instant, or None when the line is closed."""
        local = ensure_utc(at).astimezone(self.zone_info)
        zones = self.day_zones(local.date())
        wall = local.time().replace(tzinfo=None)
        if any(window.contains(wall) for window in zones.zone1):
            return Zone.NORMAL
        if any(window.contains(wall) for window in zones.zone2):
            return Zone.HIGH
        return None

    def is_open(self, at: datetime) -> bool:
        return self.zone_at(at) is not None

    # Prices

    def rate_cents(self, plan: Plan, zone: Zone | None) -> int:
        """Return the price of one block in a zone; outside hours costs zone 2."""
        rates = self.settings.rates[plan]
        return rates.zone1 if zone == Zone.NORMAL else rates.zone2

    def block_at(self, plan: Plan, n: int, starts_at: datetime) -> Block:
        zone = self.zone_at(starts_at)
        return Block(n=n, starts_at=ensure_utc(starts_at), zone=zone, rate_cents=self.rate_cents(plan, zone))

    def block_start(self, answered_at: datetime, n: int) -> datetime:
        return ensure_utc(answered_at) + timedelta(milliseconds=n * self.block_ms)

    def block_count(self, metered_ms: int) -> int:
        """Count the blocks that have started after metered_ms of talk.

        Block n is charged once the metered time passes its start by more
        than the grace period, so with no grace 0 ms is 0 blocks and 1 ms is
        one block.
        """
        assert metered_ms >= 0
        chargeable_ms = metered_ms - self.grace_ms
        if chargeable_ms <= 0:
            return 0
        return -(-chargeable_ms // self.block_ms)

    def quote(self, plan: Plan, answered_at: datetime, metered_ms: int) -> Quote:
        """Price the metered interval [answered_at, answered_at + metered_ms)."""
        blocks = tuple(
            self.block_at(plan, n, self.block_start(answered_at, n))
            for n in range(self.block_count(metered_ms))
        )
        return Quote(metered_ms=metered_ms, blocks=blocks)

    # Grants

    def _day_edges(self, day: date) -> tuple[datetime, ...]:
        """Return the window edges of a local date as sorted UTC instants, midnight included.

        A grant reads the edges of the same few days once per block, so
        they are computed once per date and configuration.
        """
        cached = self._edges_by_day.get(day)
        if cached is not None:
            return cached
        zones = self.day_zones(day)
        edges = {time(0)}
        for window in zones.zone1 + zones.zone2:
            edges.update((window.start, window.end))
        # fold=0 picks the first of two repeated wall times; a window edge
        # never sits inside a DST gap in the shipped zones.
        instants = tuple(sorted(ensure_utc(datetime.combine(day, edge, tzinfo=self.zone_info)) for edge in edges))
        if len(self._edges_by_day) >= _EDGE_CACHE_DAYS:
            self._edges_by_day.clear()
        self._edges_by_day[day] = instants
        return instants

    def _zone_changes(self, first: datetime, last: datetime) -> list[datetime]:
        """List the window edges strictly inside (first, last] as UTC instants."""
        day = first.astimezone(self.zone_info).date()
        last_day = last.astimezone(self.zone_info).date() + timedelta(days=1)
        changes: list[datetime] = []
        while day <= last_day:
            changes.extend(instant for instant in self._day_edges(day) if first < instant <= last)
            day += timedelta(days=1)
        return changes

    def highest_rate_cents(self, plan: Plan, earliest: datetime, latest: datetime) -> int:
        """Return the highest block rate that applies anywhere in [earliest, latest]."""
        instants = [ensure_utc(earliest), *self._zone_changes(ensure_utc(earliest), ensure_utc(latest))]
        return max(self.rate_cents(plan, self.zone_at(instant)) for instant in instants)

    def grant(
        self,
        plan: Plan,
        admitted_at: datetime,
        available_cents: int,
        ring_timeout_seconds: int | None = None,
    ) -> Grant:
        """Compute the grant for a call admitted at an instant (billing rule 5).

        Prepaid grants stop at the first block the credit cannot pay for.
        Contract and postpaid calls get the maximum call length and reserve
        nothing, because their usage is invoiced afterwards.
        """
        max_blocks = self.settings.max_call_seconds * 1000 // self.block_ms
        if plan != "prepaid":
            return self._grant(max_blocks, reserved_cents=0)

        ring_ms = (
            self.settings.ring_timeout_seconds if ring_timeout_seconds is None else ring_timeout_seconds
        ) * 1000
        reserved_cents = 0
        blocks = 0
        while blocks < max_blocks:
            earliest = self.block_start(admitted_at, blocks)
            latest = earliest + timedelta(milliseconds=ring_ms)
            price = self.highest_rate_cents(plan, earliest, latest)
            if reserved_cents + price > available_cents:
                break
            reserved_cents += price
            blocks += 1
        return self._grant(blocks, reserved_cents)

    def _grant(self, blocks: int, reserved_cents: int) -> Grant:
        grant_ms = blocks * self.block_ms
        limit_ms = grant_ms + self.grace_ms if blocks else 0
        return Grant(
            blocks=blocks,
            grant_seconds=grant_ms // 1000,
            limit_ms=limit_ms,
            reserved_cents=reserved_cents,
        )

    def week(self, monday: date) -> list[tuple[date, DayZones, str | None]]:
        """Return the seven days from a Monday with their windows and holiday name."""
        return [
            (day, self.day_zones(day), self.holiday_name(day))
            for day in (monday + timedelta(days=offset) for offset in range(7))
        ]
