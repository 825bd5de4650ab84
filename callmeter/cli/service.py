"""CLI commands ``callmeter run`` (the service) and ``callmeter replay`` (a recording through a fresh callmeter)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from callmeter import i18n
from callmeter.cli import app
from callmeter.cli.common import (
    JsonOption,
    LangOption,
    check_port_free,
    console,
    console_err,
    open_database,
    print_json,
    settings_and_language,
)
from callmeter.errors import CallmeterError, InvalidInput
from callmeter.money import format_cents

i18n.register(
    {
        "replay.uniqueid": {"nl": "Uniqueid", "en": "Uniqueid"},
        "replay.caller": {"nl": "Beller", "en": "Caller"},
        "replay.verdict": {"nl": "Oordeel", "en": "Verdict"},
        "replay.metered": {"nl": "Gemeten (s)", "en": "Metered (s)"},
        "replay.blocks": {"nl": "Blokken", "en": "Blocks"},
        "replay.charged": {"nl": "Afgeschreven", "en": "Charged"},
        "replay.none": {"nl": "De opname bevat geen gesprekken.", "en": "The recording holds no calls."},
        "error.replay_speed_invalid": {
            "nl": "Ongeldige snelheid {value!r}: geef een getal groter dan 0 en hoogstens 10000.",
            "en": "Invalid speed {value!r}: give a number above 0 and at most 10000.",
        },
    }
)


@app.command("run")
def run(
    lang: LangOption = None,
    no_api: Annotated[bool, typer.Option("--no-api", help="Start zonder de HTTP-API.")] = False,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log als JSON-regels in plaats van tekst.")] = False,
) -> None:
    """Start callmeter: FastAGI-toelating, AMI-koppeling, metering en de HTTP-API."""
    from callmeter.logging import configure_logging
    from callmeter.service import Service, run_service

    settings, language = settings_and_language(lang)
    configure_logging(json=log_json)
    database = open_database(settings, language)
    try:
        check_port_free(settings.fastagi.host, settings.fastagi.port, "fastagi.port")
        if not no_api:
            check_port_free(settings.api.host, settings.api.port, "api.port")
    except CallmeterError:
        database.dispose()
        raise
    try:
        service = Service(
            settings, database, say=lambda line: console_err.print(line, markup=False), language=language,
            with_api=not no_api,
        )
        asyncio.run(run_service(service))
    finally:
        database.dispose()


def _parse_speed(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        speed = float(value)
    except ValueError:
        raise InvalidInput("error.replay_speed_invalid", value=value) from None
    if not 0 < speed <= 10_000:
        raise InvalidInput("error.replay_speed_invalid", value=value)
    return speed


@app.command("replay")
def replay(
    agi_file: Annotated[Path, typer.Argument(help="De FastAGI-opname (NAAM.agi.jsonl).")],
    ami_file: Annotated[Path, typer.Argument(help="De AMI-opname (NAAM.ami.jsonl).")],
    customers: Annotated[
        Path | None,
        typer.Option("--customers", help="TOML- of JSON-lijst met helpdesk_id, number, plan en credit_cents."),
    ] = None,
    speed: Annotated[
        str | None,
        typer.Option("--speed", help="Opnameseconden per echte seconde (standaard 200, zonder Timestamp 50)."),
    ] = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Speel een opgenomen gesprek af door een nieuwe callmeter en toon wat er gemeten is."""
    from callmeter.logging import configure_logging
    from callmeter.metering.replay import default_customers, load_customers, replay_recording

    _, language = settings_and_language(lang)
    configure_logging(level="ERROR")
    replay_customers = load_customers(customers) if customers is not None else default_customers()
    results = asyncio.run(replay_recording(agi_file, ami_file, replay_customers, _parse_speed(speed)))

    if as_json:
        print_json([asdict(call) for call in results])
        return
    if not results:
        console.print(i18n.text("replay.none", language))
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for key in ("uniqueid", "caller", "verdict", "metered", "blocks", "charged"):
        justify = "right" if key in ("metered", "blocks", "charged") else "left"
        # The uniqueid and the number are looked up elsewhere, so they are never cut.
        no_wrap = key in ("uniqueid", "caller")
        table.add_column(
            i18n.text(f"replay.{key}", language), justify=justify, no_wrap=no_wrap  # type: ignore[arg-type]
        )
    for call in results:
        verdict_id = f"simulate.verdict.{call.verdict}"
        metered = f"{call.metered_seconds:.3f}"
        table.add_row(
            call.uniqueid,
            call.caller,
            i18n.text(verdict_id, language) if i18n.has(verdict_id) else call.verdict,
            metered if language == "en" else metered.replace(".", ","),
            str(call.blocks),
            format_cents(call.charged_cents, language),
        )
    console.print(table)
