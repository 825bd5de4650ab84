"""The tariff engine: zone edges, holidays, DST, block counts, quotes and grants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callmeter.settings import Settings
from callmeter.tariffs import Tariff, Zone

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def local(text: str) -> datetime:
    """An Amsterdam wall-clock time as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=AMSTERDAM)


def tariff(**overrides: object) -> Tariff:
    return Tariff(Settings(**overrides))  # type: ignore[arg-type]


class TestZoneEdges:
    # 2026-12-07 is a Monday, 2026-12-12 a Saturday and 2026-12-13 a Sunday; none is a holiday.
    @pytest.mark.parametrize(
        ("wall", "zone"),
        [
            ("2026-12-07T08:59:59", None),
            ("2026-12-07T09:00:00", Zone.NORMAL),
            ("2026-12-07T17:59:59", Zone.NORMAL),
            ("2026-12-07T18:00:00", Zone.HIGH),
            ("2026-12-07T20:59:59", Zone.HIGH),
            ("2026-12-07T21:00:00", None),
            ("2026-12-12T08:59:59", None),
            ("2026-12-12T09:00:00", Zone.NORMAL),
            ("2026-12-12T11:59:59", Zone.NORMAL),
            ("2026-12-12T12:00:00", Zone.HIGH),
            ("2026-12-12T16:59:59", Zone.HIGH),
            ("2026-12-12T17:00:00", None),
            ("2026-12-13T09:59:59", None),
            ("2026-12-13T10:00:00", Zone.HIGH),
            ("2026-12-13T16:59:59", Zone.HIGH),
            ("2026-12-13T17:00:00", None),
        ],
    )
    def test_zone_at_edge(self, wall: str, zone: Zone | None) -> None:
        assert tariff().zone_at(local(wall)) == zone

    def test_zone_judged_on_amsterdam_wall_clock(self) -> None:
        # 08:00 UTC is 09:00 in Amsterdam in winter.
        assert tariff().zone_at(datetime(2026, 12, 7, 8, 0, tzinfo=UTC)) == Zone.NORMAL
        assert tariff().zone_at(datetime(2026, 12, 7, 7, 59, 59, tzinfo=UTC)) is None


class TestDaylightSavingTime:
    # All four switch days are Sundays: zone 2 runs 10:00-17:00 wall-clock time.
    SWITCH_DAYS = ("2026-03-29", "2026-10-25", "2027-03-28", "2027-10-31")

    @pytest.mark.parametrize("day", SWITCH_DAYS)
    def test_zone_uses_wall_time_on_switch_day(self, day: str) -> None:
        engine = tariff()
        assert engine.zone_at(local(f"{day}T09:59:59")) is None
        assert engine.zone_at(local(f"{day}T10:00:00")) == Zone.HIGH
        assert engine.zone_at(local(f"{day}T16:59:59")) == Zone.HIGH
        assert engine.zone_at(local(f"{day}T17:00:00")) is None

    @pytest.mark.parametrize("day", SWITCH_DAYS)
    def test_block_starts_absolute_across_switch(self, day: str) -> None:
        # 00:58 UTC is two minutes before the 01:00 UTC switch on each of these days.
        answered = datetime.fromisoformat(f"{day}T00:58:00+00:00")
        quote = tariff().quote("prepaid", answered, 601_000)
        starts = [block.starts_at for block in quote.blocks]
        assert starts == [answered + timedelta(seconds=300 * n) for n in range(3)]

    def test_spring_forward_wall_clock_jumps_an_hour(self) -> None:
        answered = datetime(2026, 3, 29, 0, 58, tzinfo=UTC)
        block = tariff().quote("prepaid", answered, 301_000).blocks[1]
        assert block.starts_at.astimezone(AMSTERDAM).strftime("%H:%M %Z") == "03:03 CEST"

    def test_fall_back_wall_clock_repeats_an_hour(self) -> None:
        answered = datetime(2026, 10, 25, 0, 58, tzinfo=UTC)
        block = tariff().quote("prepaid", answered, 301_000).blocks[1]
        assert block.starts_at.astimezone(AMSTERDAM).strftime("%H:%M %Z") == "02:03 CET"


class TestHolidays:
    # Easter Monday 2026-04-06 and King's Day 2026-04-27 are both Mondays.
    HOLIDAYS = ("2026-04-06", "2026-04-27")

    @pytest.mark.parametrize("day", HOLIDAYS)
    def test_sunday_policy_uses_sunday_hours(self, day: str) -> None:
        engine = tariff(holiday_policy="sunday")
        assert engine.zone_at(local(f"{day}T09:30")) is None
        assert engine.zone_at(local(f"{day}T10:00")) == Zone.HIGH
        assert engine.zone_at(local(f"{day}T17:30")) is None

    @pytest.mark.parametrize("day", HOLIDAYS)
    def test_closed_policy_closes_all_day(self, day: str) -> None:
        engine = tariff(holiday_policy="closed")
        for wall in ("09:30", "12:00", "19:00"):
            assert engine.zone_at(local(f"{day}T{wall}")) is None, wall

    @pytest.mark.parametrize("day", HOLIDAYS)
    def test_weekday_policy_uses_monday_hours(self, day: str) -> None:
        engine = tariff(holiday_policy="weekday")
        assert engine.zone_at(local(f"{day}T09:30")) == Zone.NORMAL
        assert engine.zone_at(local(f"{day}T19:00")) == Zone.HIGH

    @pytest.mark.parametrize(
        ("day", "name"),
        [("2026-04-06", "Easter Monday"), ("2026-04-27", "Koningsdag")],
    )
    def test_ignored_holiday_is_ordinary_day(self, day: str, name: str) -> None:
        for policy in ("sunday", "closed"):
            engine = tariff(holiday_policy=policy, ignored_holidays=(name,))
            assert engine.holiday_name(local(day).date()) is None, policy
            assert engine.zone_at(local(f"{day}T09:30")) == Zone.NORMAL, policy

    def test_ignoring_one_holiday_keeps_the_other(self) -> None:
        engine = tariff(holiday_policy="closed", ignored_holidays=("easter monday",))
        assert engine.zone_at(local("2026-04-27T09:30")) is None
        assert engine.holiday_name(local("2026-04-27").date()) == "Koningsdag"


class TestBlocks:
    @pytest.mark.parametrize(
        ("seconds", "blocks"),
        [(0, 0), (1, 1), (299, 1), (300, 1), (301, 2), (600, 2), (601, 3)],
    )
    def test_block_count(self, seconds: int, blocks: int) -> None:
        assert tariff().block_count(seconds * 1000) == blocks

    def test_grace_period_delays_each_block(self) -> None:
        engine = tariff(grace_seconds=10)
        assert engine.block_count(10_000) == 0
        assert engine.block_count(10_001) == 1
        assert engine.block_count(310_000) == 1
        assert engine.block_count(310_001) == 2

    def test_call_crossing_six_pm_costs_normal_then_high(self) -> None:
        # 2026-12-08 is a Tuesday; block 1 starts at 18:02.
        quote = tariff().quote("prepaid", local("2026-12-08T17:57"), 360_000)
        assert [block.rate_cents for block in quote.blocks] == [500, 750]
        assert quote.total_cents == 1250
        assert quote.blocks[1].starts_at == local("2026-12-08T18:02")

    def test_block_outside_hours_priced_as_zone_two(self) -> None:
        quote = tariff().quote("postpaid", local("2026-12-08T20:58"), 301_000)
        assert [block.zone for block in quote.blocks] == [Zone.HIGH, None]
        assert [block.rate_cents for block in quote.blocks] == [1125, 1125]


class TestGrant:
    def test_grant_in_zone_one_far_from_edges(self) -> None:
        grant = tariff().grant("prepaid", local("2026-12-08T10:00"), 1500)
        assert grant.blocks == 3
        assert grant.reserved_cents == 1500
        assert grant.limit_ms == 900_000

    def test_grant_near_six_pm_prices_at_high_rate(self) -> None:
        # With a 10-minute ring timeout block 0 starts by 17:55 (normal rate),
        # but block 1 may start at 18:00, so it is priced at the high rate.
        grant = tariff().grant("prepaid", local("2026-12-08T17:45"), 1500)
        assert grant.blocks == 2
        assert grant.reserved_cents == 1250

    def test_grant_capped_by_max_call_minutes(self) -> None:
        grant = tariff(max_call_minutes=10).grant("prepaid", local("2026-12-08T10:00"), 1_000_000)
        assert grant.blocks == 2

    def test_contract_grant_reserves_nothing(self) -> None:
        grant = tariff().grant("contract", local("2026-12-08T10:00"), 0)
        assert grant.blocks == 24
        assert grant.reserved_cents == 0


# Weeks with something to trip over: spring DST, Easter Monday, King's Day, autumn DST.
WEEK_STARTS = [
    datetime(2026, 3, 23, tzinfo=AMSTERDAM),
    datetime(2026, 4, 6, tzinfo=AMSTERDAM),
    datetime(2026, 4, 27, tzinfo=AMSTERDAM),
    datetime(2026, 10, 19, tzinfo=AMSTERDAM),
    datetime(2027, 3, 22, tzinfo=AMSTERDAM),
    datetime(2027, 10, 25, tzinfo=AMSTERDAM),
]
POLICIES = st.sampled_from(["sunday", "closed", "weekday"])


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    week = draw(st.sampled_from(WEEK_STARTS))
    offset = draw(st.integers(min_value=0, max_value=7 * 24 * 3600 - 1))
    return week.astimezone(UTC) + timedelta(seconds=offset)


@settings(max_examples=200, deadline=None)
@given(at=instants(), short_ms=st.integers(0, 4 * 3600_000), extra_ms=st.integers(0, 3600_000))
def test_price_never_falls_as_metered_time_grows(at: datetime, short_ms: int, extra_ms: int) -> None:
    engine = tariff()
    shorter = engine.quote("prepaid", at, short_ms).total_cents
    longer = engine.quote("prepaid", at, short_ms + extra_ms).total_cents
    assert shorter <= longer


@settings(max_examples=200, deadline=None)
@given(block_seconds=st.integers(1, 3600), seconds=st.integers(0, 10 * 3600))
def test_block_count_is_ceiling_of_seconds(block_seconds: int, seconds: int) -> None:
    engine = tariff(block_seconds=block_seconds)
    assert engine.block_count(seconds * 1000) == -(-seconds // block_seconds)


@settings(max_examples=300, deadline=None)
@given(
    admitted=instants(),
    credit=st.integers(-1000, 20_000),
    ring_timeout=st.integers(0, 1200),
    answer_fraction=st.floats(0, 1),
    policy=POLICIES,
)
def test_grant_affordable_whatever_the_answer_time(
    admitted: datetime, credit: int, ring_timeout: int, answer_fraction: float, policy: str
) -> None:
    engine = tariff(holiday_policy=policy, ring_timeout_seconds=ring_timeout)
    grant = engine.grant("prepaid", admitted, credit)
    answered = admitted + timedelta(seconds=round(ring_timeout * answer_fraction))

    quote = engine.quote("prepaid", answered, grant.grant_seconds * 1000)

    assert len(quote.blocks) == grant.blocks
    assert quote.total_cents <= grant.reserved_cents
    assert grant.reserved_cents <= max(credit, 0)


def reference_grant(engine: Tariff, admitted: datetime, credit: int, ring_timeout: int) -> tuple[int, int]:
    """Price block after block with highest_rate_cents, as billing rule 5 reads; return blocks and cents."""
    max_blocks = engine.settings.max_call_seconds // engine.settings.block_seconds
    reserved = 0
    blocks = 0
    while blocks < max_blocks:
        earliest = engine.block_start(admitted, blocks)
        price = engine.highest_rate_cents("prepaid", earliest, earliest + timedelta(seconds=ring_timeout))
        if reserved + price > credit:
            break
        reserved += price
        blocks += 1
    return blocks, reserved


@st.composite
def whole_minutes(draw: st.DrawFn) -> datetime:
    """Instants on whole minutes, where window edges are, so a block range often ends on one."""
    week = draw(st.sampled_from(WEEK_STARTS))
    return week.astimezone(UTC) + timedelta(minutes=draw(st.integers(0, 7 * 24 * 60 - 1)))


@settings(max_examples=400, deadline=None)
@given(
    admitted=st.one_of(instants(), whole_minutes()),
    credit=st.integers(-1000, 40_000),
    ring_timeout=st.sampled_from([0, 60, 300, 1800]) | st.integers(0, 3 * 3600),
    block_seconds=st.sampled_from([1, 60, 300, 3600]),
    policy=POLICIES,
)
def test_grant_matches_reference_pricing(
    admitted: datetime, credit: int, ring_timeout: int, block_seconds: int, policy: str
) -> None:
    engine = tariff(holiday_policy=policy, block_seconds=block_seconds)
    # The same engine twice: the second grant runs on cached day edges.
    for _ in range(2):
        grant = engine.grant("prepaid", admitted, credit, ring_timeout)

        assert (grant.blocks, grant.reserved_cents) == reference_grant(engine, admitted, credit, ring_timeout)


@pytest.mark.parametrize(
    ("wall", "ring_timeout"),
    [
        ("2026-12-08T17:55", 300),  # block 0 may be answered exactly at 18:00
        ("2026-12-08T17:55", 299),  # ... or up to one second before
        ("2026-12-08T18:00", 0),  # block 0 starts on the edge
        ("2026-12-08T16:00", 3600),  # blocks 0 to 12 may reach 18:00 or later
        ("2026-12-12T11:50", 600),  # Saturday zone 2 starts at 12:00
        ("2026-10-25T01:55", 300),  # autumn DST: 02:00-03:00 runs twice
    ],
)
def test_grant_on_edges_matches_reference(wall: str, ring_timeout: int) -> None:
    engine = tariff()
    admitted = local(wall)

    grant = engine.grant("prepaid", admitted, 40_000, ring_timeout)

    assert (grant.blocks, grant.reserved_cents) == reference_grant(engine, admitted, 40_000, ring_timeout)


# Window edges inside the hour that autumn DST repeats (02:00-03:00 on the
# last Sunday of October), where a wall time occurs twice.
REPEATED_HOUR_ZONES = {
    day: {"zone1": ["00:00-02:30", "09:00-18:00"], "zone2": ["02:30-03:00", "18:00-21:00"]}
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


@settings(max_examples=300, deadline=None)
@given(
    start=st.one_of(instants(), whole_minutes()),
    steps=st.lists(st.integers(0, 400) | st.sampled_from([1, 60, 300]), min_size=1, max_size=40),
    credit=st.integers(0, 40_000),
    ring_timeout=st.sampled_from([0, 60, 600]) | st.integers(0, 3600),
    repeated_hour=st.booleans(),
)
def test_reused_prices_match_reference(
    start: datetime, steps: list[int], credit: int, ring_timeout: int, repeated_hour: bool
) -> None:
    engine = tariff(zones=REPEATED_HOUR_ZONES) if repeated_hour else tariff()
    admitted = start
    # Time moves forward in small steps, as it does between balance requests,
    # so most grants reuse the prices of an earlier one.
    for step in steps:
        admitted += timedelta(seconds=step)

        grant = engine.grant("prepaid", admitted, credit, ring_timeout)

        assert (grant.blocks, grant.reserved_cents) == reference_grant(engine, admitted, credit, ring_timeout)


@pytest.mark.parametrize("block_seconds", [300, 420])
@pytest.mark.parametrize("repeated_hour", [False, True])
@pytest.mark.parametrize(
    "night_start",
    [
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC),  # autumn: 03:00 CEST becomes 02:00 CET at 01:00 UTC
        datetime(2027, 3, 27, 23, 0, tzinfo=UTC),  # spring: 02:00 CET becomes 03:00 CEST at 01:00 UTC
    ],
)
def test_reused_prices_through_dst_night(
    night_start: datetime, repeated_hour: bool, block_seconds: int
) -> None:
    zones = REPEATED_HOUR_ZONES if repeated_hour else Settings().zones
    engine = tariff(zones=zones, block_seconds=block_seconds)
    # 37 s steps for four hours land on every minute's second sooner or later.
    for step in range(4 * 3600 // 37):
        admitted = night_start + timedelta(seconds=37 * step)

        grant = engine.grant("prepaid", admitted, 40_000, 600)

        assert (grant.blocks, grant.reserved_cents) == reference_grant(engine, admitted, 40_000, 600), admitted
