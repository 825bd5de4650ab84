"""Replay of a recorded scenario through a fresh callmeter, for ``callmeter replay`` and the tests.

The simulator plays the recorded AMI stream over a real socket and runs each
recorded FastAGI session against the real admission server at its recorded
moment. A real AMI client feeds the meter, and everything writes to a
temporary SQLite database. The installed clock follows the recording's own
time line, faster than real time, so admission judges the zone of the
recording and arrival times of events without ``Timestamp`` stay true to the
recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog
from sqlalchemy import select

from callmeter import clock, i18n
from callmeter.admission.server import FastAgiServer
from callmeter.ami.client import AmiClient
from callmeter.customers import service as customers
from callmeter.db import Database
from callmeter.db.models import Call
from callmeter.errors import InvalidInput
from callmeter.ledger import service as ledger
from callmeter.metering.meter import Meter
from callmeter.metering.recording import RecordedLine, read_lines, recording_start
from callmeter.settings import AmiSettings, FastAgiSettings, MeteringSettings, Settings
from callmeter.simulator.agi_client import load_recorded_sessions
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.clock import VirtualClock
from callmeter.simulator.replay import Recording, load_recording, replay

log = structlog.get_logger(__name__)

i18n.register(
    {
        "error.replay_file_missing": {
            "nl": "Bestand {path} bestaat niet: geef een opname (*.agi.jsonl en *.ami.jsonl).",
            "en": "File {path} does not exist: give a recording (*.agi.jsonl and *.ami.jsonl).",
        },
        "error.replay_customers_invalid": {
            "nl": "Klantenbestand {path} is ongeldig: {reason}. Verwacht een lijst met helpdesk_id, number, "
            "plan en credit_cents.",
            "en": "Customer file {path} is invalid: {reason}. Expected a list of helpdesk_id, number, plan "
            "and credit_cents.",
        },
        "error.replay_unreadable": {
            "nl": "{path} is geen opname: elke regel moet een JSON-object met t, dir en raw zijn.",
            "en": "{path} is not a recording: every line must be a JSON object with t, dir and raw.",
        },
        "error.replay_not_agi": {
            "nl": "{path} is geen FastAGI-opname: geef eerst NAAM.agi.jsonl en dan NAAM.ami.jsonl.",
            "en": "{path} is not a FastAGI recording: give NAME.agi.jsonl first, then NAME.ami.jsonl.",
        },
        "error.replay_not_ami": {
            "nl": "{path} is geen AMI-opname: geef eerst NAAM.agi.jsonl en dan NAAM.ami.jsonl.",
            "en": "{path} is not an AMI recording: give NAME.agi.jsonl first, then NAME.ami.jsonl.",
        },
        "error.replay_mismatch": {
            "nl": "{agi} en {ami} horen niet bij elkaar: geen van de gesprekken komt in beide voor. "
            "Geef NAAM.agi.jsonl en NAAM.ami.jsonl van dezelfde opname.",
            "en": "{agi} and {ami} do not belong together: no call appears in both. "
            "Give NAME.agi.jsonl and NAME.ami.jsonl of the same recording.",
        },
        "error.replay_timeout": {
            "nl": "De opname {path} is niet binnen {seconds:g} s afgespeeld.",
            "en": "The recording {path} did not finish within {seconds:g} s.",
        },
    }
)

# The customers the recordings were made with, each with ample prepaid credit.
# Other numbers in a recording (+31201234567 in s04) stay unknown.
RECORDING_CUSTOMERS = (
    ("HD-1001", "+31612345678"),
    ("HD-1002", "+31381234567"),
    ("HD-1003", "+31201112233"),
)
AMPLE_CREDIT_CENTS = 100_000

# Recording seconds per real second. Metered time comes from Timestamps, so a
# timestamped recording can run fast. Without Timestamps the arrival time is
# the event time, and scheduling jitter is multiplied by the speed, so those
# recordings run slower.
TIMESTAMPED_SPEED = 200.0
ARRIVAL_TIMED_SPEED = 50.0
# Real seconds the replay may take beyond the recording's own length at its speed.
EXTRA_REAL_SECONDS = 30.0
# Real seconds the meter gets after the last event to close the last call.
DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class ReplayCustomer:
    helpdesk_id: str
    number: str
    plan: str = "prepaid"
    credit_cents: int = AMPLE_CREDIT_CENTS


@dataclass(frozen=True)
class ReplayedCall:
    uniqueid: str
    caller: str
    verdict: str
    metered_seconds: float
    blocks: int
    charged_cents: int


class FollowingClock:
    """callmeter's Clock on top of the simulator's virtual clock (epoch seconds)."""

    def __init__(self, virtual: VirtualClock) -> None:
        self.virtual = virtual

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.virtual.now(), UTC)

    async def sleep(self, seconds: float) -> None:
        await self.virtual.sleep(seconds)


def default_customers() -> list[ReplayCustomer]:
    return [ReplayCustomer(helpdesk_id, number) for helpdesk_id, number in RECORDING_CUSTOMERS]


def load_customers(path: Path) -> list[ReplayCustomer]:
    """Read a TOML (``[[customers]]`` tables) or JSON list of replay customers."""
    if not path.is_file():
        raise InvalidInput("error.replay_file_missing", path=path)
    try:
        text = path.read_text(encoding="utf-8")
        data: object = tomllib.loads(text)["customers"] if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as error:
        raise InvalidInput("error.replay_customers_invalid", path=path, reason=str(error)) from None
    if not isinstance(data, list):
        raise InvalidInput("error.replay_customers_invalid", path=path, reason="not a list")
    found: list[ReplayCustomer] = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("helpdesk_id"), str) or not isinstance(
            item.get("number"), str
        ):
            raise InvalidInput("error.replay_customers_invalid", path=path, reason=f"entry {item!r}")
        credit = item.get("credit_cents", AMPLE_CREDIT_CENTS)
        plan = item.get("plan", "prepaid")
        if not isinstance(credit, int) or isinstance(credit, bool) or credit < 0 or not isinstance(plan, str):
            raise InvalidInput("error.replay_customers_invalid", path=path, reason=f"entry {item!r}")
        found.append(ReplayCustomer(item["helpdesk_id"], item["number"], plan, credit))
    return found


def _set_up(database: Database, replay_customers: list[ReplayCustomer], at: datetime) -> None:
    with database.write() as session:
        for customer in replay_customers:
            row = customers.create_customer(session, customer.helpdesk_id, f"Klant {customer.helpdesk_id}",
                                            customer.plan)
            customers.add_number(session, customer.helpdesk_id, customer.number)
            if customer.credit_cents > 0:
                reference = f"replay-{customer.helpdesk_id}"
                key = f"replay:{customer.helpdesk_id}"
                ledger.top_up(session, row.id, customer.credit_cents, reference, key, "replay", at)


def _results(database: Database) -> list[ReplayedCall]:
    with database.read() as session:
        rows = session.scalars(select(Call)).all()
        results = [
            ReplayedCall(
                uniqueid=row.uniqueid,
                caller=row.caller_e164 or row.caller_raw,
                verdict=row.verdict,
                metered_seconds=row.metered_ms / 1000,
                blocks=row.blocks_charged,
                charged_cents=row.charged_cents,
            )
            for row in rows
        ]
    return sorted(results, key=lambda call: float(call.uniqueid) if call.uniqueid[:1].isdigit() else 0.0)


def _read(path: Path) -> list[RecordedLine]:
    """Read a recording, turning a line that is not a recording line into InvalidInput."""
    try:
        return read_lines(path)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidInput("error.replay_unreadable", path=path) from None


def _check_kind(agi_path: Path, ami_path: Path, ami_lines: list[RecordedLine]) -> None:
    """Reject files that are not an AGI and an AMI recording, in that order."""
    agi_lines = _read(agi_path)
    if not any(line.incoming and line.raw.startswith("agi_") for line in agi_lines):
        raise InvalidInput("error.replay_not_agi", path=agi_path)
    if not any(line.incoming and line.raw.startswith(("Event:", "Asterisk Call Manager")) for line in ami_lines):
        raise InvalidInput("error.replay_not_ami", path=ami_path)
    admitted = {line.raw.partition(":")[2].strip() for line in agi_lines if line.raw.startswith("agi_uniqueid:")}
    ami_text = "".join(line.raw for line in ami_lines if line.incoming)
    if admitted and not any(f"Uniqueid: {uniqueid}\r\n" in ami_text for uniqueid in admitted):
        raise InvalidInput("error.replay_mismatch", agi=agi_path, ami=ami_path)


async def replay_recording(
    agi_path: Path,
    ami_path: Path,
    replay_customers: list[ReplayCustomer] | None = None,
    speed: float | None = None,
) -> list[ReplayedCall]:
    """Play a recorded pair into a fresh callmeter and return every call it recorded."""
    for path in (agi_path, ami_path):
        if not path.is_file():
            raise InvalidInput("error.replay_file_missing", path=path)
    lines = _read(ami_path)
    _check_kind(agi_path, ami_path, lines)
    start_epoch = recording_start(lines)
    timestamped = any("\r\nTimestamp: " in line.raw for line in lines if line.incoming)
    speed = speed or (TIMESTAMPED_SPEED if timestamped else ARRIVAL_TIMED_SPEED)
    login_t = next((line.t for line in lines if line.incoming and line.raw.startswith("Response:")), 0.0)
    recording = load_recording(ami_path)
    starts = [line.t for line in read_lines(agi_path) if line.incoming and line.raw.startswith("agi_network:")]
    recording.agi_sessions = [
        (max(t - login_t, 0.0), session) for t, session in zip(starts, load_recorded_sessions(agi_path), strict=True)
    ]
    offsets = [event.offset_seconds for event in recording.events] + [t for t, _ in recording.agi_sessions]
    length = max(offsets, default=0.0)

    with tempfile.TemporaryDirectory(prefix="callmeter-replay-") as folder:
        database = Database(f"sqlite:///{Path(folder) / 'replay.db'}")
        try:
            database.upgrade()
            following = FollowingClock(VirtualClock(speed, start_epoch + login_t))
            with clock.use_clock(following):
                _set_up(database, replay_customers or default_customers(), following.now())
                await _play(database, following, recording, speed, length, ami_path, start_epoch + login_t)
            return _results(database)
        finally:
            database.dispose()


async def _play(
    database: Database,
    following: FollowingClock,
    recording: Recording,
    speed: float,
    length: float,
    path: Path,
    anchor_epoch: float,
) -> None:
    # A fresh secret per replay: the link only lives inside this process.
    secret = secrets.token_hex(8)
    settings = Settings(
        fastagi=FastAgiSettings(host="127.0.0.1", port=0),
        ami=AmiSettings(host="127.0.0.1", port=1, username="callmeter", secret=secret,
                        reconnect_min_seconds=0.1, reconnect_max_seconds=1.0),
        # The settle delay is on the recording's clock, which runs `speed` times
        # faster than ours: half a real second covers a busy machine.
        metering=MeteringSettings(charge_settle_seconds=min(600.0, 0.5 * speed)),
    )
    server = AmiServer(username="callmeter", secret=secret, clock=following.virtual)
    await server.start()

    settings = settings.model_copy(update={"ami": settings.ami.model_copy(update={"port": server.port})})
    meter = Meter(database, settings)
    client = AmiClient(
        settings.ami,
        meter.on_event,
        on_connected=meter.on_connected,
        on_disconnected=meter.on_disconnected,
        clock=lambda: following.virtual.now(),
        events=meter.handled_events,
    )
    meter.pbx = client
    meter.event_source = client
    fastagi = FastAgiServer(settings, database, on_admitted=meter.on_admitted)
    await fastagi.start()
    assert fastagi.port is not None

    timeout = length / speed + EXTRA_REAL_SECONDS
    try:
        await meter.start()
        async with asyncio.TaskGroup() as group:
            ami_task = group.create_task(client.run(), name="replay-ami")
            await client.wait_connected(timeout=10.0)
            # Time zero of the replay is the login, as in the recording.
            following.virtual = VirtualClock(speed, anchor_epoch)
            server.clock = following.virtual
            try:
                async with asyncio.timeout(timeout):
                    await replay(server, recording, speed=speed, agi_address=("127.0.0.1", fastagi.port))
                    await _drain(meter)
            except TimeoutError:
                raise InvalidInput("error.replay_timeout", path=path, seconds=timeout) from None
            finally:
                await client.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ami_task, 5.0)
    finally:
        await meter.close()
        await fastagi.stop()
        await server.close()


async def _drain(meter: Meter) -> None:
    """Wait until the meter has closed every call; a call without a recorded Hangup stays open."""
    with contextlib.suppress(TimeoutError):
        await meter.wait_idle(DRAIN_SECONDS)
