"""Run the demo: a fresh SQLite database, the real service and the simulated PBX on loopback.

Everything runs in one event loop: the callmeter service (FastAGI server, AMI
client, metering, HTTP API) and the simulated Asterisk that places the calls
of the scripted day. The installed clock is the simulator's virtual clock,
so admission, metering and the simulator agree on the time of day.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text
from sqlalchemy import select

from callmeter import clock, i18n
from callmeter.customers import service as customers
from callmeter.customers.service import CustomerChanges
from callmeter.db import Database
from callmeter.db.models import Call, CallBlock, Customer
from callmeter.demo.day import CUSTOMERS, EPISODES, EXPECTED_BALANCES_CENTS, episode_start
from callmeter.ledger import service as ledger
from callmeter.metering.replay import FollowingClock
from callmeter.money import format_cents
from callmeter.numbers import display
from callmeter.service import Service
from callmeter.settings import AmiSettings, ApiSettings, FastAgiSettings, MeteringSettings, Settings
from callmeter.simulator.admit import fastagi_admitter
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.calls import CallOutcome
from callmeter.simulator.clock import VirtualClock
from callmeter.simulator.pbx import SimulatedPbx
from callmeter.simulator.scenarios import play_scenario
from callmeter.tokens import service as tokens

log = structlog.get_logger(__name__)

# Virtual seconds per real second. The calls of the day add up to about
# 2 200 s of virtual time, so the normal pace plays them in about a minute and
# the fast pace (for the test suite) in a few seconds.
NORMAL_SPEED = 45.0
FAST_SPEED = 600.0
# Real seconds that an event may take from the simulator to the meter on a busy
# machine. The meter waits this long (in virtual time: times the speed) before
# it charges a block, so a Hangup just before a block start is never outrun.
EVENT_DELAY_REAL_SECONDS = 0.5
# Real seconds the service gets to start, and to close the calls of an episode.
START_TIMEOUT_SECONDS = 15.0
EPISODE_DRAIN_SECONDS = 30.0
PREFERRED_API_PORT = 8000

i18n.register(
    {
        "demo.title": {"nl": "Gesprekken op {day}", "en": "Calls on {day}"},
        "demo.balances": {"nl": "Saldi na de dag", "en": "Balances after the day"},
        "demo.column.time": {"nl": "Om", "en": "At"},
        "demo.column.caller": {"nl": "Beller", "en": "Caller"},
        "demo.column.customer": {"nl": "Klant", "en": "Customer"},
        "demo.column.verdict": {"nl": "Oordeel", "en": "Verdict"},
        "demo.column.metered": {"nl": "Tijd", "en": "Metered"},
        "demo.column.blocks": {"nl": "Blokken", "en": "Blocks"},
        "demo.column.charge": {"nl": "Bedrag", "en": "Charge"},
        "demo.column.name": {"nl": "Naam", "en": "Name"},
        "demo.column.plan": {"nl": "Abonnement", "en": "Plan"},
        "demo.column.balance": {"nl": "Saldo", "en": "Balance"},
        "demo.column.reserved": {"nl": "Gereserveerd", "en": "Reserved"},
        "demo.column.available": {"nl": "Beschikbaar", "en": "Available"},
        "demo.column.expected": {"nl": "Verwacht", "en": "Expected"},
        "demo.invoiced": {"nl": "{amount} factuur", "en": "{amount} invoice"},
        "demo.no_number": {"nl": "(geen nummer)", "en": "(no number)"},
        "demo.cut_off": {"nl": "afgebroken", "en": "cut off"},
        "demo.mismatch": {
            "nl": "Let op: saldo van {helpdesk_id} is {actual}, verwacht {expected}.",
            "en": "Warning: balance of {helpdesk_id} is {actual}, expected {expected}.",
        },
        "demo.all_match": {
            "nl": "Alle saldi kloppen met de handberekening.",
            "en": "Every balance matches the hand calculation.",
        },
        "demo.serving": {
            "nl": (
                "callmeter draait door. Webpagina: {web}  API: {api}  (documentatie: {api}/docs)\n"
                "Leestoken: {token}\n"
                "Probeer: curl -H \"Authorization: Bearer {token}\" {api}/customers/HD-1001/balance\n"
                "Stop met Ctrl-C."
            ),
            "en": (
                "callmeter keeps running. Web page: {web}  API: {api}  (documentation: {api}/docs)\n"
                "Read token: {token}\n"
                "Try: curl -H \"Authorization: Bearer {token}\" {api}/customers/HD-1001/balance\n"
                "Stop with Ctrl-C."
            ),
        },
        "demo.database": {"nl": "Database: {path}", "en": "Database: {path}"},
    }
)

LABELS_EN = {
    "voor openingstijd": "before opening hours",
    "Dial, medewerker hangt op": "Dial, agent hangs up",
    "privacy-header, nummer afgeschermd": "privacy header, number withheld",
    "geen nummer": "no number",
    "anonymous": "anonymous",
    "onbekend nummer": "unknown number",
    "€ 4,99: net geen blok": "€4.99: just under one block",
    "geblokkeerd": "blocked",
    "contract, wachtrij": "contract, queue",
    "niet opgenomen": "nobody answers",
    "tegelijk 1 (Dial)": "at once 1 (Dial)",
    "tegelijk 2 (wachtrij)": "at once 2 (queue)",
    "over 18:00 heen": "crossing 18:00",
    "tegoed op, afgebroken": "credit used up, cut off",
}


class SteppingClock(VirtualClock):
    """A virtual clock that can also be set to a time, to skip the quiet time between episodes."""

    def set_to(self, epoch: float) -> None:
        """Move the clock to an epoch time; it goes on at the same speed from there.

        Only the demo driver calls this, and only while no call is open, so no
        timer of the meter is waiting on the clock when it moves.
        """
        self._start_epoch = epoch
        self._start_perf = time.perf_counter()


@dataclass
class DemoOptions:
    language: str = "nl"
    fast: bool = False
    serve: bool = False
    live: bool = True


@dataclass
class DemoResult:
    balances_cents: dict[str, int] = field(default_factory=dict)
    matches: bool = True
    database_path: Path | None = None


def _free_port(preferred: int | None = None) -> int:
    """Return a free TCP port on 127.0.0.1, the preferred one when it is free."""
    candidates = [preferred, 0] if preferred else [0]
    for candidate in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate or 0))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


def seed(database: Database, at: datetime) -> None:
    """Create the demo customers with their numbers and opening top-ups."""
    with database.write() as session:
        for demo in CUSTOMERS:
            customer = customers.create_customer(session, demo.helpdesk_id, demo.name, demo.plan)
            for number in demo.numbers:
                customers.add_number(session, demo.helpdesk_id, number)
            if demo.credit_cents:
                ledger.top_up(
                    session, customer.id, demo.credit_cents, f"DEMO-{demo.helpdesk_id}",
                    f"demo:{demo.helpdesk_id}", "demo", at,
                )
            if demo.blocked:
                customers.update_customer(session, demo.helpdesk_id, CustomerChanges(blocked=True))


def calls_table(database: Database, settings: Settings, language: str, labels: dict[str, str]) -> Table:
    """Build the table of the day's calls from the database."""
    # No vertical lines, and the situation as a second line under the verdict,
    # so the table still fits an 80-column terminal.
    table = Table(title=i18n.text("demo.title", language, day="2026-12-08"), box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("time", "caller", "customer", "verdict", "metered", "blocks", "charge"):
        justify = "right" if column in ("metered", "charge") else "left"
        table.add_column(
            i18n.text(f"demo.column.{column}", language),
            justify=justify,  # type: ignore[arg-type]
            no_wrap=column != "verdict",
            min_width=22 if column == "verdict" else None,
        )
    with database.read() as session:
        calls = session.scalars(select(Call).order_by(Call.admitted_at, Call.id)).all()
        blocks = session.scalars(select(CallBlock).order_by(CallBlock.call_id, CallBlock.n)).all()
        _fill_calls(table, calls, blocks, settings, language, labels)
    return table


def _fill_calls(
    table: Table,
    calls: Sequence[Call],
    blocks: Sequence[CallBlock],
    settings: Settings,
    language: str,
    labels: dict[str, str],
) -> None:
    english = language == "en"
    zones_by_call: dict[int, list[str]] = {}
    for block in blocks:
        zones_by_call.setdefault(block.call_id, []).append(str(block.zone) if block.zone else "2")
    for call in calls:
        admitted = call.verdict == "admitted"
        caller = display(call.caller_e164) if call.caller_e164 else (call.caller_raw or "")
        if not call.caller_e164 and call.caller_raw.strip().lower() in ("", "<unknown>", "unknown"):
            caller = i18n.text("demo.no_number", language)
        # The short verdict labels are the ones `callmeter admit` prints.
        verdict_id = f"verdict.{call.verdict}"
        verdict = i18n.text(verdict_id, language) if i18n.has(verdict_id) else call.verdict
        if call.cut_off:
            verdict += f" ({i18n.text('demo.cut_off', language)})"
        label = labels.get(call.uniqueid, "")
        situation = LABELS_EN.get(label, label) if english else label
        if situation in verdict:
            situation = ""
        charge = format_cents(call.charged_cents, language) if admitted else ""
        if admitted and call.plan in ("contract", "postpaid"):
            charge = i18n.text("demo.invoiced", language, amount=charge)
        zones = zones_by_call.get(call.id, [])
        metered_seconds = call.metered_ms // 1000
        table.add_row(
            call.admitted_at.astimezone(settings.zone_info).strftime("%H:%M"),
            caller,
            call.helpdesk_id or "",
            Text(verdict) + (Text("\n" + situation, style="dim") if situation else Text("")),
            f"{metered_seconds // 60}:{metered_seconds % 60:02d}" if admitted else "",
            _blocks_cell(zones, admitted),
            charge,
        )


def _blocks_cell(zones: list[str], admitted: bool) -> str:
    """Show the block count with the zone of each block, as in "2 (1+2)"."""
    if zones:
        return f"{len(zones)} ({'+'.join(zones)})"
    return "0" if admitted else ""


def balances(database: Database) -> dict[str, tuple[Customer, ledger.Credit]]:
    with database.read() as session:
        rows = session.scalars(select(Customer).order_by(Customer.helpdesk_id)).all()
        found = {row.helpdesk_id: (row, ledger.credit(session, row.id)) for row in rows}
        session.expunge_all()
    return found


def balances_table(found: dict[str, tuple[Customer, ledger.Credit]], language: str) -> Table:
    table = Table(title=i18n.text("demo.balances", language), box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("customer", "name", "plan", "balance", "reserved", "available", "expected"):
        justify = "right" if column in ("balance", "reserved", "available", "expected") else "left"
        table.add_column(i18n.text(f"demo.column.{column}", language), justify=justify)  # type: ignore[arg-type]
    for helpdesk_id, (customer, credit) in found.items():
        expected = EXPECTED_BALANCES_CENTS.get(helpdesk_id)
        table.add_row(
            helpdesk_id,
            customer.name,
            customer.plan,
            format_cents(credit.balance_cents, language),
            format_cents(credit.reserved_cents, language),
            format_cents(credit.available_cents, language),
            format_cents(expected, language) if expected is not None else "",
        )
    return table


async def _fastagi_port(service: Service) -> int:
    """Wait until the service's FastAGI server is listening and return its port."""
    # The service binds the server inside run(), which gives no signal of its own.
    poll_seconds = 0.02
    for _ in range(int(START_TIMEOUT_SECONDS / poll_seconds)):
        if service.fastagi.port is not None:
            return service.fastagi.port
        await asyncio.sleep(poll_seconds)
    raise TimeoutError(f"FastAGI server did not start within {START_TIMEOUT_SECONDS} s")


async def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    """Play the day and return the final balances; with ``serve`` keep running until cancelled."""
    folder = Path(tempfile.mkdtemp(prefix="callmeter-demo-"))
    database_path = folder / "demo.db"
    database_url = f"sqlite:///{database_path}"
    database = Database(database_url)
    database.upgrade()
    base = Settings(language="en" if options.language == "en" else "nl")
    first = episode_start(EPISODES[0], base.zone_info) - timedelta(minutes=5)
    virtual = SteppingClock(FAST_SPEED if options.fast else NORMAL_SPEED, first.timestamp())
    following = FollowingClock(virtual)
    result = DemoResult(database_path=database_path)

    with clock.use_clock(following):
        seed(database, following.now())
        secret = secrets.token_hex(8)
        server = AmiServer(username="callmeter", secret=secret, clock=virtual)
        await server.start()
        api_port = _free_port(PREFERRED_API_PORT if options.serve else None)
        settings = base.model_copy(
            update={
                "database_url": database_url,
                "fastagi": FastAgiSettings(host="127.0.0.1", port=0),
                "ami": AmiSettings(
                    host="127.0.0.1", port=server.port, username="callmeter", secret=secret,
                    reconnect_min_seconds=0.1, reconnect_max_seconds=1.0,
                ),
                "api": ApiSettings(host="127.0.0.1", port=api_port),
                "metering": MeteringSettings(charge_settle_seconds=EVENT_DELAY_REAL_SECONDS * virtual.speed),
            }
        )
        service = Service(settings, database, say=lambda _text: None, language=settings.language)
        try:
            async with asyncio.TaskGroup() as group:
                service_task = group.create_task(service.run(), name="demo-service")
                fastagi_port = await _fastagi_port(service)
                await asyncio.wait_for(server.wait_for_client(), START_TIMEOUT_SECONDS)
                pbx = SimulatedPbx(server, fastagi_admitter("127.0.0.1", fastagi_port))
                await _play_day(pbx, virtual, service, database, settings, options, console)

                found = balances(database)
                result.balances_cents = {key: credit.balance_cents for key, (_, credit) in found.items()}
                console.print(balances_table(found, settings.language))
                result.matches = _report_mismatches(result.balances_cents, settings.language, console)
                console.print(i18n.text("demo.database", settings.language, path=database_path), markup=False)

                if options.serve:
                    await _serve(database, settings, console, api_port)
                service.stop()
                await service_task
        finally:
            await server.close()
            database.dispose()
    return result


async def _play_day(
    pbx: SimulatedPbx,
    virtual: SteppingClock,
    service: Service,
    database: Database,
    settings: Settings,
    options: DemoOptions,
    console: Console,
) -> None:
    labels: dict[str, str] = {}

    async def remember(outcome: CallOutcome) -> None:
        labels[outcome.uniqueid] = outcome.spec.label

    def render() -> Table:
        return calls_table(database, settings, settings.language, labels)

    live = Live(render(), console=console, refresh_per_second=4, transient=False) if options.live else None
    with live if live is not None else contextlib.nullcontext():
        for episode in EPISODES:
            # Start-up and the previous episode took some virtual time. The episodes
            # are far enough apart that this never moves the clock back past a call
            # that is still open.
            virtual.set_to(episode_start(episode, settings.zone_info).timestamp())
            log.info("demo.episode", starts=episode.starts.isoformat())
            playing = asyncio.create_task(play_scenario(pbx, episode.calls, remember))
            while not playing.done():
                await asyncio.wait({playing}, timeout=0.25)
                if live is not None:
                    live.update(render())
            await playing
            await service.meter.wait_idle(EPISODE_DRAIN_SECONDS)
            if live is not None:
                live.update(render())
    if live is None:
        console.print(render())


def _report_mismatches(found: dict[str, int], language: str, console: Console) -> bool:
    matches = True
    for helpdesk_id, expected in EXPECTED_BALANCES_CENTS.items():
        actual = found.get(helpdesk_id)
        if actual != expected:
            matches = False
            console.print(
                i18n.text(
                    "demo.mismatch", language, helpdesk_id=helpdesk_id,
                    actual=format_cents(actual or 0, language), expected=format_cents(expected, language),
                ),
                style="bold red",
                markup=False,
            )
    if matches:
        console.print(i18n.text("demo.all_match", language), style="green", markup=False)
    return matches


async def _serve(database: Database, settings: Settings, console: Console, api_port: int) -> None:
    """Print how to reach the running service and wait until the demo is interrupted."""
    with database.write() as session:
        token, _ = tokens.create(session, f"demo-{datetime.now(UTC):%H%M%S}", "read")
    api = f"http://127.0.0.1:{api_port}"
    console.print(
        i18n.text("demo.serving", settings.language, web=f"{api}/web/", api=api, token=token),
        markup=False,
        soft_wrap=True,
    )
    # Ctrl-C and SIGTERM end the wait, so the service shuts down through its own
    # clean path. The handlers stay until the loop closes, so a second Ctrl-C
    # during the shutdown changes nothing.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
