"""Helpers shared by the CLI commands: options, settings, parsing and output."""

from __future__ import annotations

import errno
import getpass
import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar

import structlog
import typer
from alembic.script import ScriptDirectory
from rich.console import Console
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

from callmeter import i18n
from callmeter.db import Database
from callmeter.db.engine import MIGRATIONS
from callmeter.errors import CallmeterError, ConfigError, InvalidInput, InvalidTime, SchemaOutdated
from callmeter.settings import PLANS, Plan, Settings, load_settings

log = structlog.get_logger(__name__)

console = Console(highlight=False)
console_err = Console(stderr=True, highlight=False)

i18n.register(
    {
        "error.language_option_invalid": {
            "nl": "Onbekende taal {value!r}: kies nl (Nederlands) of en (Engels).",
            "en": "Unknown language {value!r}: choose nl (Dutch) or en (English).",
        },
        "error.address_in_use": {
            "nl": (
                "Kan niet luisteren op {host}:{port} ({reason_nl}): draait callmeter al, of gebruikt een "
                "ander programma die poort? Kies een andere poort met de instelling {setting} "
                "({variable}{option})."
            ),
            "en": (
                "Cannot listen on {host}:{port} ({reason_en}): is callmeter already running, or does "
                "another program use that port? Choose another port with the setting {setting} "
                "({variable}{option})."
            ),
        },
    }
)


class AddressInUse(ConfigError):
    code = "address_in_use"


def check_port_free(host: str, port: int, setting: str, option: str = "") -> None:
    """Raise AddressInUse when a listening port cannot be bound, before a server starts."""
    if port == 0:
        return
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        variable = "CALLMETER_" + setting.upper().replace(".", "__")
        raise AddressInUse(
            "error.address_in_use",
            host=host,
            port=port,
            reason_nl="poort bezet" if error.errno == errno.EADDRINUSE else (error.strerror or str(error)),
            reason_en="port in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error)),
            setting=setting,
            variable=variable,
            option=f", {option}" if option else "",
        ) from None


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
        "error.period_reversed": {
            "nl": "Ongeldige periode: --from {since!r} ligt niet vóór --to {until!r}; verwissel ze.",
            "en": "Invalid period: --from {since!r} is not before --to {until!r}; swap them.",
        },
        "error.seconds_invalid": {
            "nl": "Ongeldig aantal seconden {value!r}: geef een geheel getal van 0 tot {maximum}.",
            "en": "Invalid number of seconds {value!r}: give a whole number from 0 to {maximum}.",
        },
        "error.usage": {
            "nl": "Ongeldige invoer: {detail}\nZie 'callmeter {command} --help'.",
            "en": "Invalid input: {detail}\nSee 'callmeter {command} --help'.",
        },
        "error.date_invalid": {
            "nl": "Ongeldige datum {value!r}: geef een datum als 2026-12-31 (jaar-maand-dag).",
            "en": "Invalid date {value!r}: give a date such as 2026-12-31 (year-month-day).",
        },
        "error.database_unavailable": {
            "nl": (
                "De database {url} is niet bereikbaar: {reason}. Controleer de instelling "
                "database_url (of CALLMETER_DATABASE_URL)."
            ),
            "en": (
                "Cannot reach the database {url}: {reason}. Check the database_url setting "
                "(or CALLMETER_DATABASE_URL)."
            ),
        },
        "error.database_url_invalid": {
            "nl": "sqlite:///pad/naar/callmeter.db of postgresql+psycopg://gebruiker@host:5432/naam",
            "en": "sqlite:///path/to/callmeter.db or postgresql+psycopg://user@host:5432/name",
        },
        "error.schema_newer": {
            "nl": (
                "Het databaseschema (revisie {current}) is nieuwer dan deze versie van callmeter "
                "kent (nieuwste {head}): installeer de callmeter-versie die de database heeft bijgewerkt."
            ),
            "en": (
                "The database schema (revision {current}) is newer than this version of callmeter "
                "knows (newest {head}): install the callmeter version that upgraded the database."
            ),
        },
        "error.schema_missing": {
            "nl": (
                "De database {url} heeft nog geen tabellen. Staat u in de juiste map? Zonder "
                "instellingen gebruikt callmeter ./callmeter.db in de huidige map. Maak een nieuwe "
                "database aan met 'callmeter db upgrade'."
            ),
            "en": (
                "The database {url} has no tables yet. Are you in the right folder? Without settings "
                "callmeter uses ./callmeter.db in the current folder. Create a new database with "
                "'callmeter db upgrade'."
            ),
        },
        "db.schema_created": {
            "nl": "Nieuwe database {url}: schema aangemaakt (revisie {head}).",
            "en": "New database {url}: schema created (revision {head}).",
        },
    }
)


class SchemaMissing(CallmeterError):
    code = "schema_missing"
    http_status = 503


class DatabaseUnavailable(CallmeterError):
    """The configured database cannot be opened or reached."""

    code: ClassVar[str] = "database_unavailable"
    http_status: ClassVar[int] = 503


LangOption = Annotated[
    str | None, typer.Option("--lang", help="Taal van de uitvoer: nl of en (standaard: instelling).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-uitvoer als JSON.")]


def settings_and_language(lang: str | None) -> tuple[Settings, i18n.Language]:
    """Load the settings and pick the output language; an unknown --lang is invalid input."""
    settings = load_settings()
    if lang is not None and lang.strip().lower() not in i18n.LANGUAGES:
        raise InvalidInput("error.language_option_invalid", value=lang)
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


def parse_date(value: str) -> date:
    """Parse a calendar date written as YYYY-MM-DD."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidTime("error.date_invalid", value=value) from None


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_period_start(value: str, settings: Settings) -> datetime:
    """Parse the start of a period: a date means its first instant in the configured zone."""
    if _DATE_ONLY.match(value.strip()):
        return datetime.combine(parse_date(value), time(0), tzinfo=settings.zone_info)
    return parse_time(value, settings)


def parse_period_end(value: str, settings: Settings) -> datetime:
    """Parse the exclusive end of a period: a date includes that whole day."""
    if _DATE_ONLY.match(value.strip()):
        next_day = parse_date(value) + timedelta(days=1)
        return datetime.combine(next_day, time(0), tzinfo=settings.zone_info)
    return parse_time(value, settings)


def parse_period(
    since: str | None, until: str | None, settings: Settings
) -> tuple[datetime | None, datetime | None]:
    """Parse --from and --to; a period that ends before it starts is an error, not an empty list."""
    start = parse_period_start(since, settings) if since is not None else None
    end = parse_period_end(until, settings) if until is not None else None
    if start is not None and end is not None and start >= end:
        raise InvalidTime("error.period_reversed", since=since, until=until)
    return start, end


def cli_actor() -> str:
    """Name the person behind a CLI write in the ledger: ``cli:<login name>``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        # getuser() fails in containers that run under a uid without a passwd entry.
        user = "unknown"
    return f"cli:{user}"[:100]


def display_url(url: str) -> str:
    """Render a database URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.partition("://")[0] + "://…"


def _connect(settings: Settings) -> Database:
    try:
        return Database(settings.database_url)
    except ArgumentError:
        # The message shows only the scheme, because an unparsable URL may still contain a password.
        raise ConfigError(
            "error.config",
            key="database_url",
            value=display_url(settings.database_url),
            allowed_nl=i18n.text("error.database_url_invalid", "nl"),
            allowed_en=i18n.text("error.database_url_invalid", "en"),
        ) from None


def _unavailable(database: Database, error: Exception) -> DatabaseUnavailable:
    original = getattr(error, "orig", None) or error
    reason = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return DatabaseUnavailable("error.database_unavailable", url=display_url(database.url), reason=reason)


def schema_state(database: Database) -> tuple[str | None, str, bool]:
    """Return the current revision, the newest revision and whether the database has no tables."""
    current, head = database.schema_revisions()
    empty = current is None and not inspect(database.engine).get_table_names()
    # A revision this code does not know was made by a newer callmeter; 'db upgrade' cannot help.
    if current is not None and current != head:
        known = {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
        if current not in known:
            raise SchemaOutdated("error.schema_newer", current=current, head=head)
    return current, head, empty


def _missing_sqlite_file(url: str) -> Path | None:
    """Return the path of an SQLite database file that does not exist yet, else None."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def open_database(settings: Settings, language: str | None = None, create_schema: bool = False) -> Database:
    """Open the configured database for a CLI command that reads or writes it.

    With create_schema (the commands that start a new installation:
    'customer add' and 'token create'), a database without any tables gets
    the schema at once, with a notice on stderr. Every other command refuses
    an empty or missing database with a message that names it, so a command
    run in the wrong folder does not leave a stray callmeter.db behind. A
    database at an older revision raises SchemaOutdated, whose message names
    'callmeter db upgrade'. The caller disposes of the returned Database.
    """
    missing = _missing_sqlite_file(settings.database_url)
    if missing is not None and not create_schema:
        raise SchemaMissing("error.schema_missing", url=display_url(settings.database_url), path=missing)
    database = _connect(settings)
    try:
        _, head, empty = schema_state(database)
        if empty and not create_schema:
            raise SchemaMissing("error.schema_missing", url=display_url(database.url), path=missing or "-")
        if empty:
            database.upgrade()
            url = display_url(database.url)
            log.info("db.schema_created", url=url, revision=head)
            console_err.print(
                i18n.text("db.schema_created", language or settings.language, url=url, head=head),
                markup=False,
            )
        database.check_schema()
    except (OperationalError, InterfaceError) as error:
        database.dispose()
        raise _unavailable(database, error) from None
    except CallmeterError:
        database.dispose()
        raise
    return database


@contextmanager
def using_database(
    settings: Settings, language: str | None = None, create_schema: bool = False
) -> Iterator[Database]:
    """Open the database as open_database() does and dispose of it at the end.

    A connection lost inside the with-block becomes DatabaseUnavailable, so
    the user gets one message instead of a traceback.
    """
    database = open_database(settings, language, create_schema)
    try:
        yield database
    except (OperationalError, InterfaceError) as error:
        raise _unavailable(database, error) from None
    finally:
        database.dispose()


@contextmanager
def unchecked_database(settings: Settings) -> Iterator[Database]:
    """Open the database without checking its schema, for the 'db' commands."""
    database = _connect(settings)
    try:
        yield database
    except (OperationalError, InterfaceError) as error:
        raise _unavailable(database, error) from None
    finally:
        database.dispose()
