"""CLI commands for the tariff engine: tariff, quote, grant and the week table."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer
from rich.table import Table

from callmeter import i18n
from callmeter.cli import app
from callmeter.cli.common import (
    JsonOption,
    LangOption,
    console,
    iso,
    parse_plan,
    parse_seconds,
    parse_time,
    print_json,
    settings_and_language,
)
from callmeter.clock import utc_now
from callmeter.errors import InvalidAmount
from callmeter.money import format_cents, parse_cents, parse_euros
from callmeter.settings import DayZones, Settings
from callmeter.tariffs import Tariff, Zone

i18n.register(
    {
        "tariff.open": {
            "nl": "open, zone {zone} ({rate} per blok)",
            "en": "open, zone {zone} ({rate} per block)",
        },
        "tariff.closed": {"nl": "gesloten", "en": "closed"},
        "tariff.at": {"nl": "Op {at}: {state}", "en": "At {at}: {state}"},
        "quote.title": {
            "nl": "Prijs van {seconds} s gesprekstijd vanaf {at}",
            "en": "Price of {seconds} s metered from {at}",
        },
        "quote.total": {"nl": "Totaal: {total}", "en": "Total: {total}"},
        "grant.result": {
            "nl": "Toegestane gesprekstijd: {seconds} s ({blocks} blokken), te reserveren {reserved}",
            "en": "Grant: {seconds} s ({blocks} blocks), to reserve {reserved}",
        },
        "error.credit_missing": {
            "nl": "Geef het tegoed met --credit (euro's) of --credit-cents (centen), niet beide.",
            "en": "Give the credit with --credit (euros) or --credit-cents (cents), not both.",
        },
        "week.title": {"nl": "Tarieven week van {monday}", "en": "Rates for the week of {monday}"},
        "column.block": {"nl": "Blok", "en": "Block"},
        "column.starts": {"nl": "Begint", "en": "Starts"},
        "column.zone": {"nl": "Zone", "en": "Zone"},
        "column.rate": {"nl": "Tarief", "en": "Rate"},
        "column.day": {"nl": "Dag", "en": "Day"},
        "column.zone1": {"nl": "Zone 1 (normaal)", "en": "Zone 1 (normal)"},
        "column.zone2": {"nl": "Zone 2 (hoog)", "en": "Zone 2 (high)"},
        "column.holiday": {"nl": "Feestdag", "en": "Holiday"},
        "outside_hours": {"nl": "buiten openingstijden", "en": "outside hours"},
        "day_closed": {"nl": "gesloten", "en": "closed"},
    }
)

WEEKDAY_NAMES = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


@app.command()
def tariff(
    at: Annotated[str | None, typer.Option("--at", help="Tijdstip (ISO 8601); standaard nu.")] = None,
    plan: Annotated[str, typer.Option("--plan", help="prepaid, contract of postpaid.")] = "prepaid",
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Toon de zone en het bloktarief op een tijdstip."""
    settings, language = settings_and_language(lang)
    engine = Tariff(settings)
    instant = parse_time(at, settings) if at else utc_now()
    chosen_plan = parse_plan(plan)
    zone = engine.zone_at(instant)
    rate = engine.rate_cents(chosen_plan, zone) if zone is not None else None

    if as_json:
        print_json({"at": iso(instant, settings), "open": zone is not None, "zone": zone, "rate_cents": rate})
        return
    state = (
        i18n.text("tariff.open", language, zone=int(zone), rate=format_cents(rate or 0, language))
        if zone is not None
        else i18n.text("tariff.closed", language)
    )
    console.print(i18n.text("tariff.at", language, at=_local(instant, settings), state=state))


@app.command()
def quote(
    plan: Annotated[str, typer.Option("--plan", help="prepaid, contract of postpaid.")],
    answered: Annotated[str, typer.Option("--answered", help="Opnametijd (ISO 8601).")],
    seconds: Annotated[str, typer.Option("--seconds", help="Gemeten gesprekstijd in seconden.")],
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Bereken de prijs van een gesprek: blokken, zones en totaal."""
    settings, language = settings_and_language(lang)
    engine = Tariff(settings)
    chosen_plan = parse_plan(plan)
    answered_at = parse_time(answered, settings)
    metered_seconds = parse_seconds(seconds, maximum=7 * 24 * 3600)
    result = engine.quote(chosen_plan, answered_at, metered_seconds * 1000)

    if as_json:
        print_json(
            {
                "metered_seconds": metered_seconds,
                "blocks": [
                    {
                        "n": b.n,
                        "starts_at": iso(b.starts_at, settings),
                        "zone": b.zone,
                        "rate_cents": b.rate_cents,
                    }
                    for b in result.blocks
                ],
                "total_cents": result.total_cents,
            }
        )
        return
    table = Table(
        title=i18n.text("quote.title", language, seconds=metered_seconds, at=_local(answered_at, settings))
    )
    for column in ("column.block", "column.starts", "column.zone", "column.rate"):
        table.add_column(i18n.text(column, language))
    for block in result.blocks:
        table.add_row(
            str(block.n),
            _local(block.starts_at, settings),
            _zone_label(block.zone, language),
            format_cents(block.rate_cents, language),
        )
    console.print(table)
    console.print(i18n.text("quote.total", language, total=format_cents(result.total_cents, language)))


@app.command()
def grant(
    plan: Annotated[str, typer.Option("--plan", help="prepaid, contract of postpaid.")],
    at: Annotated[str, typer.Option("--at", help="Toelatingstijd (ISO 8601).")],
    credit: Annotated[str | None, typer.Option("--credit", help="Beschikbaar tegoed in euro's.")] = None,
    credit_cents: Annotated[
        str | None, typer.Option("--credit-cents", help="Beschikbaar tegoed in centen.")
    ] = None,
    ring_timeout: Annotated[
        str | None, typer.Option("--ring-timeout", help="Maximale beltijd tot opnemen, in seconden.")
    ] = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Bereken hoeveel gesprekstijd een tegoed toestaat (de grant)."""
    settings, language = settings_and_language(lang)
    engine = Tariff(settings)
    chosen_plan = parse_plan(plan)
    admitted_at = parse_time(at, settings)
    if (credit is None) == (credit_cents is None):
        raise InvalidAmount("error.credit_missing")
    available = parse_euros(credit) if credit is not None else parse_cents(credit_cents or "")
    ring = parse_seconds(ring_timeout, maximum=3600) if ring_timeout is not None else None
    result = engine.grant(chosen_plan, admitted_at, available, ring)

    if as_json:
        print_json(
            {
                "grant_seconds": result.grant_seconds,
                "blocks": result.blocks,
                "reserved_cents": result.reserved_cents,
            }
        )
        return
    console.print(
        i18n.text(
            "grant.result",
            language,
            seconds=result.grant_seconds,
            blocks=result.blocks,
            reserved=format_cents(result.reserved_cents, language),
        )
    )


def week_table(settings: Settings, language: str, today: date) -> Table:
    """Build the rate table of the week that contains today."""
    engine = Tariff(settings)
    monday = today - timedelta(days=today.weekday())
    table = Table(title=i18n.text("week.title", language, monday=monday.isoformat()))
    for column in ("column.day", "column.zone1", "column.zone2", "column.holiday"):
        table.add_column(i18n.text(column, language))
    rates = settings.rates["prepaid"]
    for day, zones, holiday in engine.week(monday):
        name = f"{WEEKDAY_NAMES['en' if language == 'en' else 'nl'][day.weekday()]} {day.isoformat()}"
        table.add_row(
            name,
            _windows(zones, 1, language)
            + (f" · {format_cents(rates.zone1, language)}" if zones.zone1 else ""),
            _windows(zones, 2, language)
            + (f" · {format_cents(rates.zone2, language)}" if zones.zone2 else ""),
            holiday or "",
        )
    return table


def _windows(zones: DayZones, zone: int, language: str) -> str:
    windows = zones.zone1 if zone == 1 else zones.zone2
    if not windows:
        return i18n.text("day_closed", language)
    return ", ".join(
        f"{w.start:%H:%M}–{'24:00' if w.end.hour == 0 and w.end.minute == 0 else format(w.end, '%H:%M')}"
        for w in windows
    )


def _zone_label(zone: Zone | None, language: str) -> str:
    return str(int(zone)) if zone is not None else i18n.text("outside_hours", language)


def _local(instant: object, settings: Settings) -> str:
    from datetime import datetime

    assert isinstance(instant, datetime)
    return instant.astimezone(settings.zone_info).strftime("%Y-%m-%d %H:%M:%S %Z")
