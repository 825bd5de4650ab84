"""CLI command `admit`: what admission would decide for a caller, without reserving anything."""

from __future__ import annotations

from typing import Annotated

import typer

from callmeter import i18n
from callmeter.admission.verdicts import Decision, Presentation, Verdict, evaluate
from callmeter.cli import app
from callmeter.cli.common import (
    JsonOption,
    LangOption,
    console,
    parse_time,
    print_json,
    settings_and_language,
)
from callmeter.clock import utc_now
from callmeter.db import Database
from callmeter.errors import InvalidInput
from callmeter.money import format_cents
from callmeter.tariffs import Tariff

# The values CALLERID(num-pres) can take, as listed in Asterisk's include/asterisk/callerid.h.
NUM_PRES_VALUES = (
    "allowed_not_screened",
    "allowed_passed_screen",
    "allowed_failed_screen",
    "allowed",
    "prohib_not_screened",
    "prohib_passed_screen",
    "prohib_failed_screen",
    "prohib",
    "unavailable",
)

i18n.register(
    {
        "error.pres_invalid": {
            "nl": "Ongeldige nummerpresentatie {value!r}: kies een van {allowed}.",
            "en": "Invalid number presentation {value!r}: choose one of {allowed}.",
        },
        "error.callingpres_invalid": {
            "nl": "Ongeldige agi_callingpres {value!r}: geef een geheel getal van 0 tot 255, zoals 0, 32 of 67.",
            "en": "Invalid agi_callingpres {value!r}: give a whole number from 0 to 255, such as 0, 32 or 67.",
        },
        "admit.verdict": {"nl": "Uitslag: {label} ({verdict})", "en": "Verdict: {label} ({verdict})"},
        "admit.helpdesk_id": {"nl": "Helpdesk-ID: {helpdesk_id}", "en": "Helpdesk ID: {helpdesk_id}"},
        "admit.grant": {
            "nl": "Toegestane gesprekstijd: {minutes} min ({limit_ms} ms), waarschuwing na {warning_ms} ms",
            "en": "Grant: {minutes} min ({limit_ms} ms), warning at {warning_ms} ms",
        },
        "admit.reserve": {
            "nl": "Een echte toelating zou {amount} reserveren; deze controle reserveert niets.",
            "en": "A real admission would reserve {amount}; this check reserves nothing.",
        },
        "admit.reason": {"nl": "Reden: {reason}", "en": "Reason: {reason}"},
        "verdict.closed": {"nl": "gesloten", "en": "closed"},
        "verdict.withheld": {"nl": "nummer afgeschermd", "en": "number withheld"},
        "verdict.unknown_number": {"nl": "onbekend nummer", "en": "unknown number"},
        "verdict.blocked": {"nl": "geblokkeerd", "en": "blocked"},
        "verdict.no_credit": {"nl": "onvoldoende tegoed", "en": "not enough credit"},
        "verdict.admitted": {"nl": "toegelaten", "en": "admitted"},
    }
)


def parse_presentation(pres: str | None, callingpres: str | None) -> Presentation:
    """Read --pres and --callingpres; without them the caller shows the number."""
    num_pres = None
    if pres is not None:
        num_pres = pres.strip().lower()
        if num_pres not in NUM_PRES_VALUES:
            raise InvalidInput("error.pres_invalid", value=pres, allowed=", ".join(NUM_PRES_VALUES))
    calling = 0
    if callingpres is not None:
        text = callingpres.strip()
        if not text.isdigit() or int(text) > 255:
            raise InvalidInput("error.callingpres_invalid", value=callingpres)
        calling = int(text)
    return Presentation(callingpres=calling, num_pres=num_pres)


def verdict_label(verdict: Verdict, language: str) -> str:
    return i18n.text(f"verdict.{verdict}", language)


def _print_decision(decision: Decision, language: str) -> None:
    console.print(
        i18n.text(
            "admit.verdict",
            language,
            label=verdict_label(decision.verdict, language),
            verdict=decision.verdict,
        )
    )
    if decision.helpdesk_id:
        console.print(i18n.text("admit.helpdesk_id", language, helpdesk_id=decision.helpdesk_id))
    if decision.admitted:
        console.print(
            i18n.text(
                "admit.grant",
                language,
                minutes=decision.limit_ms // 60_000,
                limit_ms=decision.limit_ms,
                warning_ms=decision.warning_ms,
            )
        )
        if decision.reserved_cents:
            console.print(
                i18n.text("admit.reserve", language, amount=format_cents(decision.reserved_cents, language))
            )
    console.print(i18n.text("admit.reason", language, reason=decision.reason(language)))


@app.command()
def admit(
    number: Annotated[str, typer.Option("--number", help="Nummer van de beller, in elke schrijfwijze.")],
    at: Annotated[str | None, typer.Option("--at", help="Tijdstip (ISO 8601); standaard nu.")] = None,
    pres: Annotated[
        str | None,
        typer.Option("--pres", help="CALLERID(num-pres), zoals allowed_not_screened of prohib."),
    ] = None,
    callingpres: Annotated[
        str | None,
        typer.Option("--callingpres", help="agi_callingpres: 0 toegestaan, 32 afgeschermd, 67 onbekend."),
    ] = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Toon wat de toelating zou besluiten voor een beller, zonder iets te reserveren."""
    settings, language = settings_and_language(lang)
    instant = parse_time(at, settings) if at else utc_now()
    presentation = parse_presentation(pres, callingpres)
    database = Database(settings.database_url)
    try:
        database.check_schema()
        with database.read() as session:
            decision = evaluate(session, Tariff(settings), number, presentation, instant)
    finally:
        database.dispose()

    if as_json:
        print_json(
            {
                "verdict": decision.verdict,
                "helpdesk_id": decision.helpdesk_id,
                "limit_ms": decision.limit_ms,
                "reason": decision.reason(language),
            }
        )
        return
    _print_decision(decision, language)
