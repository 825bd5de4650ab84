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

from bisect import bisect_right
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


@dataclass(frozen=True, slots=True)
class _Prices:
    """Block prices that hold for every admission time in [valid_from, valid_until)."""

    valid_from: datetime
    valid_until: datetime
    prices: tuple[int, ...]


# How far past the admission time it was computed for a price list may be
# reused, and how many (plan, ring timeout, count) lists are kept.
PRICE_CACHE_SPAN = timedelta(minutes=5)
PRICE_CACHE_KEYS = 16


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
        # Window edges depend only on the local date and the frozen settings,
        # and every grant reads the same two or three days again.
        self._day_edges = lru_cache(maxsize=64)(self._compute_day_edges)
        self._prices: dict[tuple[Plan, timedelta, int], _Prices] = {}

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

    def _compute_day_edges(self, day: date) -> tuple[datetime, ...]:
        """List the window edges of one local date, midnight included, as sorted UTC instants."""
        zones = self.day_zones(day)
        edges = {time(0)}
        for window in zones.zone1 + zones.zone2:
            edges.update((window.start, window.end))
        # fold=0 picks the first of two repeated wall times; a window edge
        # never sits inside a DST gap in the shipped zones.
        return tuple(sorted(ensure_utc(datetime.combine(day, edge, tzinfo=self.zone_info)) for edge in edges))

    def _zone_changes(self, first: datetime, last: datetime) -> list[datetime]:
        """List the window edges strictly inside (first, last] as UTC instants, in order."""
        local_first = first.astimezone(self.zone_info)
        local_last = last.astimezone(self.zone_info)
        changes: list[datetime] = []
        day = local_first.date()
        while day <= local_last.date() + timedelta(days=1):
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

        ring = timedelta(
            seconds=self.settings.ring_timeout_seconds if ring_timeout_seconds is None else ring_timeout_seconds
        )
        reserved_cents = 0
        blocks = 0
        for price in self.block_prices(plan, admitted_at, ring, max_blocks):
            if reserved_cents + price > available_cents:
                break
            reserved_cents += price
            blocks += 1
        return self._grant(blocks, reserved_cents)

    def block_prices(self, plan: Plan, admitted_at: datetime, ring: timedelta, count: int) -> tuple[int, ...]:
        """Price blocks 0 to count - 1 of a call admitted at an instant and answered within ``ring``.

        Block n costs highest_rate_cents(plan, start_n, start_n + ring). The
        prices stay the same until some block start or latest answer time
        reaches a zone edge, so the last result is reused while the
        admission time stays within the span computed with it.
        """
        first = ensure_utc(admitted_at)
        key = (plan, ring, count)
        cached = self._prices.get(key)
        if cached is not None and cached.valid_from <= first < cached.valid_until:
            return cached.prices
        prices = self._price_blocks(plan, first, ring, count)
        if len(self._prices) >= PRICE_CACHE_KEYS:
            self._prices.clear()
        # One assignment of an immutable value, so threads that grant at the
        # same time see the old entry or the new one, never a mix.
        self._prices[key] = _Prices(first, self._prices_valid_until(first, ring, count), prices)
        return prices

    def _price_blocks(self, plan: Plan, first: datetime, ring: timedelta, count: int) -> tuple[int, ...]:
        # The edges inside every block's range are looked up once for the
        # longest call and sliced per block, which gives the same prices as
        # highest_rate_cents with one zone_at per edge instead of one per
        # edge and block.
        edges = self._zone_changes(first, self.block_start(first, max(count - 1, 0)) + ring)
        edge_rates = [self.rate_cents(plan, self.zone_at(edge)) for edge in edges]
        prices: list[int] = []
        for n in range(count):
            earliest = self.block_start(first, n)
            inside = edge_rates[bisect_right(edges, earliest) : bisect_right(edges, earliest + ring)]
            prices.append(max([self.rate_cents(plan, self.zone_at(earliest)), *inside]))
        return tuple(prices)

    def _prices_valid_until(self, first: datetime, ring: timedelta, count: int) -> datetime:
        """Return the end of the span [first, end) of admission times with the prices of ``first``.

        The prices of an admission time t equal those of ``first`` when no
        zone boundary lies in (first + shift, t + shift] for any shift of
        a block start (n · block) or a latest answer time (n · block +
        ring). Then every block start stays between the same two
        boundaries, where the local date and every window's membership are
        fixed, and every answer range holds the same edges. The boundaries
        are the window edges and midnights at both folds of a repeated
        hour. An offset change is no boundary, so a span that includes
        one is not cached.
        """
        last = first + PRICE_CACHE_SPAN + ring + timedelta(milliseconds=max(count - 1, 0) * self.block_ms)
        # NOTE: equal offsets at both ends are taken to mean no offset change
        # in between. The span is a few hours, and no zone in tzdata changes
        # its offset twice within hours in current years.
        if first.astimezone(self.zone_info).utcoffset() != last.astimezone(self.zone_info).utcoffset():
            return first
        shifts = [
            shift
            for n in range(count)
            for shift in (
                timedelta(milliseconds=n * self.block_ms),
                timedelta(milliseconds=n * self.block_ms) + ring,
            )
        ]
        valid_until = first + PRICE_CACHE_SPAN
        for boundary in self._boundaries(first, last):
            for shift in shifts:
                candidate = boundary - shift
                if first < candidate < valid_until:
                    valid_until = candidate
        return valid_until

    def _boundaries(self, first: datetime, last: datetime) -> list[datetime]:
        """List the instants in (first, last] where the local date or a window's membership may change."""
        found: list[datetime] = []
        day = first.astimezone(self.zone_info).date()
        while day <= last.astimezone(self.zone_info).date() + timedelta(days=1):
            zones = self.day_zones(day)
            for edge in {time(0)}.union(*((window.start, window.end) for window in zones.zone1 + zones.zone2)):
                for fold in (0, 1):
                    instant = ensure_utc(datetime.combine(day, edge, tzinfo=self.zone_info).replace(fold=fold))
                    if first < instant <= last:
                        found.append(instant)
            day += timedelta(days=1)
        return found

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
