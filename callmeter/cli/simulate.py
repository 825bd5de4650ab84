"""CLI command ``callmeter simulate``: run the simulated PBX on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from callmeter import i18n
from callmeter.cli import app
from callmeter.cli.common import JsonOption, LangOption, console, print_json, settings_and_language
from callmeter.errors import InvalidInput
from callmeter.logging import configure_logging
from callmeter.simulator.admit import fastagi_admitter, fixed_admitter
from callmeter.simulator.ami_server import AmiServer
from callmeter.simulator.calls import CallOutcome
from callmeter.simulator.clock import VirtualClock
from callmeter.simulator.faults import parse_fault, run_faults
from callmeter.simulator.pbx import ChannelStyle, SimulatedPbx
from callmeter.simulator.replay import load_recording, replay
from callmeter.simulator.scenarios import play_scenario, preset

MAX_SPEED = 10_000.0
VERDICTS = ("admitted", "closed", "withheld", "unknown_number", "blocked", "no_credit")

i18n.register(
    {
        "error.speed_invalid": {
            "nl": "Ongeldige snelheid {value!r}: geef een getal groter dan 0 en hoogstens {maximum:g}.",
            "en": "Invalid speed {value!r}: give a number above 0 and at most {maximum:g}.",
        },
        "error.drop_every_invalid": {
            "nl": "Ongeldige waarde voor --drop-every {value!r}: geef een aantal seconden groter dan 0.",
            "en": "Invalid --drop-every {value!r}: give a number of seconds above 0.",
        },
        "error.channel_style_invalid": {
            "nl": "Ongeldige kanaalsoort {value!r}: kies local of pjsip.",
            "en": "Invalid channel style {value!r}: choose local or pjsip.",
        },
        "error.recording_missing": {
            "nl": "Opname {path} bestaat niet: geef een *.ami.jsonl-bestand.",
            "en": "Recording {path} does not exist: give an *.ami.jsonl file.",
        },
        "simulate.listening": {
            "nl": "Gesimuleerde PBX: AMI op {host}:{port}, FastAGI-toelating via {agi}, snelheid {speed:g}x.",
            "en": "Simulated PBX: AMI on {host}:{port}, FastAGI admission via {agi}, speed {speed:g}x.",
        },
        "simulate.waiting": {
            "nl": "Wacht hoogstens {seconds:g} s tot een AMI-client inlogt…",
            "en": "Waiting at most {seconds:g} s for an AMI client to log in…",
        },
        "simulate.no_client": {
            "nl": "Geen AMI-client ingelogd; het scenario start toch.",
            "en": "No AMI client logged in; the scenario starts anyway.",
        },
        "simulate.call": {
            "nl": "{number} via {route}: {verdict}{details}",
            "en": "{number} via {route}: {verdict}{details}",
        },
        "simulate.details": {
            "nl": ", {seconds:.1f} s gesprek, einde: {reason}",
            "en": ", {seconds:.1f} s talk, ended: {reason}",
        },
        "simulate.ended_only": {
            "nl": ", einde: {reason}",
            "en": ", ended: {reason}",
        },
        "simulate.done": {
            "nl": "Scenario klaar: {count} gesprekken, {admitted} toegelaten.",
            "en": "Scenario done: {count} calls, {admitted} admitted.",
        },
        "simulate.replay_done": {
            "nl": "Opname afgespeeld.",
            "en": "Recording replayed.",
        },
        "simulate.stopped": {
            "nl": "Gestopt.",
            "en": "Stopped.",
        },
        "simulate.no_number": {"nl": "(geen nummer)", "en": "(no number)"},
        "simulate.verdict.admitted": {"nl": "toegelaten", "en": "admitted"},
        "simulate.verdict.closed": {"nl": "geweigerd: gesloten", "en": "refused: closed"},
        "simulate.verdict.withheld": {"nl": "geweigerd: nummer afgeschermd", "en": "refused: number withheld"},
        "simulate.verdict.unknown_number": {"nl": "geweigerd: onbekend nummer", "en": "refused: unknown number"},
        "simulate.verdict.blocked": {"nl": "geweigerd: geblokkeerd", "en": "refused: blocked"},
        "simulate.verdict.no_credit": {"nl": "geweigerd: geen tegoed", "en": "refused: no credit"},
        "simulate.no_verdict": {"nl": "geen oordeel (toelating mislukt)", "en": "no verdict (admission failed)"},
        "simulate.reason.agent": {"nl": "medewerker hing op", "en": "agent hung up"},
        "simulate.reason.caller": {"nl": "beller hing op", "en": "caller hung up"},
        "simulate.reason.limit": {"nl": "limiet bereikt", "en": "limit reached"},
        "simulate.reason.no_answer": {"nl": "niet opgenomen", "en": "not answered"},
        "simulate.reason.refused": {"nl": "geweigerd", "en": "refused"},
        "simulate.reason.ami_hangup": {"nl": "opgehangen via AMI", "en": "hung up over AMI"},
        "simulate.reason.redirected": {"nl": "doorgestuurd (tegoed op)", "en": "redirected (credit used up)"},
    }
)

ScenarioOption = Annotated[str, typer.Option("--scenario", help="Scenario: busy-hour of smoke.")]
SpeedOption = Annotated[str, typer.Option("--speed", help="Hoeveel keer sneller dan echte tijd (standaard 60).")]


def _parse_speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        raise InvalidInput("error.speed_invalid", value=value, maximum=MAX_SPEED) from None
    if not 0 < speed <= MAX_SPEED:
        raise InvalidInput("error.speed_invalid", value=value, maximum=MAX_SPEED)
    return speed


def _parse_drop_every(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise InvalidInput("error.drop_every_invalid", value=value) from None
    if seconds <= 0:
        raise InvalidInput("error.drop_every_invalid", value=value)
    return seconds


def _parse_style(value: str) -> ChannelStyle:
    if value == "local":
        return "local"
    if value == "pjsip":
        return "pjsip"
    raise InvalidInput("error.channel_style_invalid", value=value)


@app.command("simulate")
def simulate(
    scenario: ScenarioOption = "busy-hour",
    ami_port: Annotated[int, typer.Option("--ami-port", help="AMI-poort op 127.0.0.1 (0: vrije poort).")] = 5038,
    agi_host: Annotated[str, typer.Option("--agi-host", help="Adres van de FastAGI-toelating.")] = "127.0.0.1",
    agi_port: Annotated[int, typer.Option("--agi-port", help="Poort van de FastAGI-toelating.")] = 4573,
    no_agi: Annotated[
        bool, typer.Option("--no-agi", help="Laat elk gesprek toe zonder FastAGI-server (voor een losse test).")
    ] = False,
    speed: SpeedOption = "60",
    username: Annotated[str | None, typer.Option("--username", help="AMI-gebruiker (standaard: instelling).")] = None,
    secret: Annotated[str | None, typer.Option("--secret", help="AMI-wachtwoord (standaard: instelling).")] = None,
    drop_every: Annotated[
        str | None, typer.Option("--drop-every", help="Verbreek alle AMI-verbindingen elke zoveel echte seconden.")
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            help=(
                "Storing op een echt tijdstip, herhaalbaar: drop@30, reject@30+20, silent@30+10 of "
                "restart@30+5 (seconden vanaf de start, +duur in seconden)."
            ),
        ),
    ] = None,
    channel_style: Annotated[
        str, typer.Option("--channel-style", help="Kanaalnamen: local (zoals de opnames) of pjsip.")
    ] = "local",
    wait_seconds: Annotated[
        float, typer.Option("--wait", help="Hoeveel echte seconden te wachten op een AMI-client.")
    ] = 30.0,
    replay_path: Annotated[
        Path | None, typer.Option("--replay", help="Speel een opname (*.ami.jsonl) af in plaats van een scenario.")
    ] = None,
    lang: LangOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draai een gesimuleerde Asterisk (AMI-server en FastAGI-client) met een scenario."""
    settings, language = settings_and_language(lang)
    # Logs go to stderr so that stdout carries only the call lines or the JSON.
    configure_logging("WARNING")
    parsed_speed = _parse_speed(speed)
    drop_seconds = _parse_drop_every(drop_every)
    style = _parse_style(channel_style)
    faults = [parse_fault(text) for text in fault or []]
    calls = preset(scenario) if replay_path is None else []
    if replay_path is not None and not replay_path.is_file():
        raise InvalidInput("error.recording_missing", path=replay_path)

    server = AmiServer(
        username=username or settings.ami.username,
        secret=secret if secret is not None else settings.ami.secret,
        port=ami_port,
        clock=VirtualClock(speed=parsed_speed),
    )
    admitter = fixed_admitter() if no_agi else fastagi_admitter(agi_host, agi_port)
    pbx = SimulatedPbx(server, admitter, channel_style=style)
    outcomes: list[CallOutcome] = []

    async def report(outcome: CallOutcome) -> None:
        outcomes.append(outcome)
        if not as_json:
            console.print(_describe(outcome, language), markup=False, soft_wrap=True)

    async def main() -> None:
        async with server:
            agi = "-" if no_agi else f"{agi_host}:{agi_port}"
            if not as_json:
                console.print(
                    i18n.text("simulate.listening", language, host=server.host, port=server.port, agi=agi,
                              speed=parsed_speed),
                    markup=False,
                    soft_wrap=True,
                )
            async with asyncio.TaskGroup() as group:
                dropper = group.create_task(_drop_periodically(server, drop_seconds)) if drop_seconds else None
                injector = group.create_task(run_faults(server, faults)) if faults else None
                await _wait_for_client(server, wait_seconds, language, quiet=as_json)
                if replay_path is not None:
                    recording = load_recording(replay_path)
                    agi_address = None if no_agi else (agi_host, agi_port)
                    await replay(
                        server, recording, speed=parsed_speed, agi_address=agi_address, login_timeout_seconds=None
                    )
                else:
                    await play_scenario(pbx, calls, report)
                # Let the last events reach the client before the sockets close.
                await asyncio.sleep(0.5)
                for background in (dropper, injector):
                    if background is not None:
                        background.cancel()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        console.print(i18n.text("simulate.stopped", language), markup=False, soft_wrap=True)
        raise typer.Exit(130) from None

    if as_json:
        print_json([_outcome_json(outcome) for outcome in outcomes])
    elif replay_path is not None:
        console.print(i18n.text("simulate.replay_done", language), markup=False, soft_wrap=True)
    else:
        admitted = sum(1 for outcome in outcomes if outcome.verdict == "admitted")
        summary = i18n.text("simulate.done", language, count=len(outcomes), admitted=admitted)
        console.print(summary, markup=False, soft_wrap=True)


async def _wait_for_client(server: AmiServer, seconds: float, language: str, quiet: bool) -> None:
    if not quiet:
        console.print(i18n.text("simulate.waiting", language, seconds=seconds), markup=False, soft_wrap=True)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await server.wait_for_client()
            return
    if not quiet:
        console.print(i18n.text("simulate.no_client", language), markup=False, soft_wrap=True)


async def _drop_periodically(server: AmiServer, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        await server.drop_connections()


def _describe(outcome: CallOutcome, language: str) -> str:
    number = outcome.spec.caller or i18n.text("simulate.no_number", language)
    verdict = _verdict_text(outcome.verdict, language)
    reason = i18n.text(f"simulate.reason.{outcome.end_reason}", language) if outcome.end_reason else "?"
    if outcome.answered_at is not None and outcome.ended_at is not None:
        details = i18n.text("simulate.details", language, seconds=outcome.ended_at - outcome.answered_at, reason=reason)
    else:
        details = i18n.text("simulate.ended_only", language, reason=reason)
    return i18n.text("simulate.call", language, number=number, route=outcome.spec.route, verdict=verdict,
                     details=details)


def _verdict_text(verdict: str | None, language: str) -> str:
    if verdict is None:
        return i18n.text("simulate.no_verdict", language)
    if verdict in VERDICTS:
        return i18n.text(f"simulate.verdict.{verdict}", language)
    return verdict


def _outcome_json(outcome: CallOutcome) -> dict[str, object]:
    payload = asdict(outcome)
    payload["spec"] = asdict(outcome.spec)
    return payload
