"""Helpers shared by the CLI commands: options, settings, parsing and output."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from callmeter import i18n
from callmeter.errors import InvalidInput, InvalidTime
from callmeter.settings import PLANS, Plan, Settings, load_settings

console = Console(highlight=False)
console_err = Console(stderr=True, highlight=False)

i18n.register(
    {
        "error.time_invalid": {
            "nl": (
                "Ongeldige tijd {value!r}: geef een ISO 8601-tijd zoals 2026-12-08T17:57 "
                "(zonder offset is het Nederlandse tijd)."
            ),
            "en": (
                "Invalid time {value!r}: give an ISO 8601 time such as 2026-12-08T17:57 "
                "(without an offset it is Amsterdam time)."
            ),
        },
        "error.seconds_invalid": {
            "nl": "Ongeldig aantal seconden {value!r}: geef een geheel getal van 0 tot {maximum}.",
            "en": "Invalid number of seconds {value!r}: give a whole number from 0 to {maximum}.",
        },
        "error.usage": {
            "nl": "Ongeldige invoer: {detail}\nZie 'callmeter {command} --help'.",
            "en": "Invalid input: {detail}\nSee 'callmeter {command} --help'.",
        },
    }
)

LangOption = Annotated[
    str | None, typer.Option("--lang", help="Taal van de uitvoer: nl of en (standaard: instelling).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-uitvoer als JSON.")]


def settings_and_language(lang: str | None) -> tuple[Settings, i18n.Language]:
    """Load the settings and pick the output language."""
    settings = load_settings()
    return settings, i18n.parse_language(lang or settings.language)


def parse_time(value: str, settings: Settings) -> datetime:
    """Parse ISO 8601; a time without offset is wall-clock time in the configured zone."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidTime("error.time_invalid", value=value) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.zone_info)
    return parsed


def parse_plan(value: str) -> Plan:
    from callmeter.customers.service import parse_plan as parse

    parsed = parse(value)
    assert parsed in PLANS
    return parsed


def parse_seconds(value: str, maximum: int) -> int:
    text = value.strip()
    if not text.isdigit() or int(text) > maximum:
        raise InvalidInput("error.seconds_invalid", value=value, maximum=maximum)
    return int(text)


def print_json(payload: Any) -> None:
    """Print JSON to stdout without rich markup processing."""
    print(json.dumps(payload, ensure_ascii=False, indent=2))


def iso(at: datetime, settings: Settings) -> str:
    """Format an instant as ISO 8601 in the configured zone, with its offset."""
    return at.astimezone(settings.zone_info).isoformat()


def usage_error_message(error: Exception, language: str) -> str:
    """Render a click usage error (missing or unknown option) with a pointer to --help."""
    context = getattr(error, "ctx", None)
    path = context.command_path if context is not None else "callmeter"
    command = path.removeprefix("callmeter").strip()
    format_message = getattr(error, "format_message", None)
    detail = format_message() if callable(format_message) else str(error)
    rendered = i18n.text("error.usage", language, detail=detail, command=command)
    return rendered.replace("callmeter  --help", "callmeter --help")
