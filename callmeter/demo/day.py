"""The demo's customers and its scripted day of calls.

The day is Tuesday 8 December 2026 (no public holiday). Calls come in
episodes. The clock jumps over the quiet time between them, so a day plays
in about a minute while every event keeps its true time of day.

Expected charges, by hand from the terms (prepaid 500 per block in zone 1,
750 in zone 2; contract usage is recorded, not deducted):

* 09:05 HD-1001, 240 s by Dial: 1 block in zone 1 = 500.
* 10:30 HD-1002 (contract), 720 s via the queue: 3 blocks recorded, 0 deducted.
* 11:30 HD-1001, nobody answers: 0.
* 13:00 HD-1001 twice at once, 360 s by Dial and 170 s via the queue: 1000 + 500.
* 17:57 HD-1001, 360 s: block 0 at 17:57 in zone 1 and block 1 at 18:02 in zone 2 = 500 + 750.
* 19:00 HD-1005 with € 10,00 via the queue: the grant is one zone-2 block (a second
  would cost 1500 in all), so callmeter cuts the call off after 300 s = 750.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from callmeter.simulator.calls import CallSpec

DEMO_DATE = date(2026, 12, 8)


@dataclass(frozen=True)
class DemoCustomer:
    helpdesk_id: str
    name: str
    plan: str
    numbers: tuple[str, ...]
    credit_cents: int
    blocked: bool = False


CUSTOMERS = (
    # Plenty of credit. A grant is a promise, so each admitted call reserves up to the
    # 120-minute cap (24 blocks, € 120). Two calls at once need twice that.
    DemoCustomer("HD-1001", "Jan Jansen", "prepaid", ("06-12345678", "020 111 2233"), 30_000),
    DemoCustomer("HD-1002", "Bakkerij De Vries", "contract", ("038-1234567",), 0),
    DemoCustomer("HD-1003", "Piet Pieters", "prepaid", ("06-50000003",), 499),  # just under one block
    DemoCustomer("HD-1004", "Klaas Klaassen", "prepaid", ("06-50000004",), 2_000, blocked=True),
    DemoCustomer("HD-1005", "Fatima El Amrani", "prepaid", ("06-50000005",), 1_000),
)

# The final balances that the charges in the module docstring leave.
EXPECTED_BALANCES_CENTS = {
    "HD-1001": 30_000 - 500 - 1_000 - 500 - 500 - 750,
    "HD-1002": 0,
    "HD-1003": 499,
    "HD-1004": 2_000,
    "HD-1005": 1_000 - 750,
}


@dataclass(frozen=True)
class Episode:
    """Calls that overlap or follow closely; the clock jumps to ``starts`` first."""

    starts: time
    calls: tuple[CallSpec, ...]


def _dial(caller: str, name: str, offset: float, talk: float, label: str, **fields: object) -> CallSpec:
    return CallSpec(caller, name, start_seconds=offset, talk_seconds=talk, label=label, **fields)  # type: ignore[arg-type]


EPISODES = (
    Episode(time(8, 55), (_dial("0612345678", "Jan Jansen", 0, 60, "voor openingstijd"),)),
    Episode(
        time(9, 5),
        (
            _dial("0612345678", "Jan Jansen", 0, 240, "Dial, medewerker hangt op", answer_seconds=5),
            CallSpec.withheld("0612345678", start_seconds=30, label="privacy-header, nummer afgeschermd"),
            CallSpec.withheld(start_seconds=45, label="geen nummer"),
            CallSpec("anonymous", "", start_seconds=60, label="anonymous"),
        ),
    ),
    Episode(
        time(10, 0),
        (
            CallSpec("0201234567", "Onbekend", start_seconds=0, label="onbekend nummer"),
            CallSpec("0650000003", "Piet Pieters", start_seconds=20, label="€ 4,99: net geen blok"),
            CallSpec("0650000004", "Klaas Klaassen", start_seconds=40, label="geblokkeerd"),
        ),
    ),
    Episode(
        time(10, 30),
        (
            CallSpec(
                "0381234567", "Bakkerij De Vries", route="queue", answer_seconds=20, talk_seconds=720,
                ring_timeout_seconds=60, label="contract, wachtrij",
            ),
        ),
    ),
    Episode(
        time(11, 30),
        (CallSpec("0201112233", "Jan Jansen", answer_seconds=None, ring_timeout_seconds=30, label="niet opgenomen"),),
    ),
    Episode(
        time(13, 0),
        (
            _dial("0031612345678", "Jan Jansen", 0, 360, "tegelijk 1 (Dial)", answer_seconds=4),
            CallSpec(
                "31612345678", "Jan Jansen", route="queue", start_seconds=30, answer_seconds=10, talk_seconds=170,
                hangup_by="caller", ring_timeout_seconds=60, label="tegelijk 2 (wachtrij)",
            ),
        ),
    ),
    Episode(
        time(17, 56, 54),
        (_dial("0612345678", "Jan Jansen", 0, 360, "over 18:00 heen", answer_seconds=5.5),),
    ),
    Episode(
        time(19, 0),
        (
            CallSpec(
                "0650000005", "Fatima El Amrani", route="queue", answer_seconds=10, talk_seconds=480,
                ring_timeout_seconds=60, label="tegoed op, afgebroken",
            ),
        ),
    ),
)


def episode_start(episode: Episode, zone_info: ZoneInfo) -> datetime:
    """Return an episode's start as an aware datetime on the demo day."""
    return datetime.combine(DEMO_DATE, episode.starts, tzinfo=zone_info)
