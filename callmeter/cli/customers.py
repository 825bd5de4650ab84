"""CLI commands for the database, customers, their numbers and the prepaid ledger.

Every command that uses the database opens it with ``using_database``,
which refuses an outdated schema. Writes to money run in one transaction
each, and the ledger records ``cli:<login name>`` as the actor.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from callmeter import i18n
from callmeter.cli import app
from callmeter.cli.common import (
    JsonOption,
    LangOption,
    cli_actor,
    console,
    display_url,
    iso,
    parse_date,
    parse_period,
    print_json,
    schema_state,
    settings_and_language,
    unchecked_database,
    using_database,
)
from callmeter.clock import utc_now
from callmeter.customers.service import (
    CustomerChanges,
    add_number,
    create_customer,
    find_by_number,
    get_customer,
    remove_number,
    search_customers,
    update_customer,
)
from callmeter.db.models import Customer, LedgerEntry
from callmeter.errors import InvalidAmount, InvalidInput, SchemaOutdated
from callmeter.ledger.service import (
    BALANCE_KINDS,
    balance_before_cents,
    balance_cents,
    call_uniqueids,
    credit,
    list_entries,
    top_up,
)
from callmeter.ledger.service import (
    correct as post_correction,
)
from callmeter.money import check_positive, format_cents, parse_cents, parse_euros
from callmeter.numbers import display, normalise
from callmeter.settings import Settings

i18n.register(
    {
        "db.upgraded": {
            "nl": "Databaseschema van {url} bijgewerkt van {previous} naar {head}.",
            "en": "Database schema of {url} upgraded from {previous} to {head}.",
        },
        "db.already_current": {
            "nl": "Databaseschema van {url} was al actueel (revisie {head}).",
            "en": "Database schema of {url} was already current (revision {head}).",
        },
        "db.current": {
            "nl": "Databaseschema van {url} is actueel (revisie {head}).",
            "en": "Database schema of {url} is current (revision {head}).",
        },
        "error.upgrade_failed": {
            "nl": (
                "Het databaseschema van {url} kon niet worden bijgewerkt: {reason}. "
                "Er is niets gewijzigd; controleer of database_url naar een callmeter-database wijst."
            ),
            "en": (
                "Could not upgrade the database schema of {url}: {reason}. "
                "Nothing was changed; check that database_url points to a callmeter database."
            ),
        },
        "customer.created": {
            "nl": "Klant {helpdesk_id} ({name}, {plan}) is aangemaakt.",
            "en": "Customer {helpdesk_id} ({name}, {plan}) created.",
        },
        "customer.blocked": {
            "nl": "{helpdesk_id} is geblokkeerd: oproepen worden geweigerd.",
            "en": "{helpdesk_id} is blocked: calls are refused.",
        },
        "customer.unblocked": {
            "nl": "{helpdesk_id} is niet meer geblokkeerd.",
            "en": "{helpdesk_id} is no longer blocked.",
        },
        "customer.none": {"nl": "Geen klanten gevonden.", "en": "No customers found."},
        "customer.shown": {
            "nl": "{shown} van {total} klanten getoond; verfijn met --search of verhoog --limit.",
            "en": "{shown} of {total} customers shown; narrow with --search or raise --limit.",
        },
        "customer.status.active": {"nl": "actief", "en": "active"},
        "customer.status.blocked": {"nl": "geblokkeerd", "en": "blocked"},
        "customer.status.expired": {"nl": "verlopen", "en": "expired"},
        "customer.label.helpdesk_id": {"nl": "Helpdesk-ID", "en": "Helpdesk ID"},
        "customer.label.name": {"nl": "Naam", "en": "Name"},
        "customer.label.plan": {"nl": "Abonnement", "en": "Plan"},
        "customer.label.language": {"nl": "Taal", "en": "Language"},
        "customer.label.status": {"nl": "Status", "en": "Status"},
        "customer.label.valid_until": {"nl": "Toegang tot en met", "en": "Access until"},
        "customer.label.numbers": {"nl": "Nummers", "en": "Numbers"},
        "customer.label.balance": {"nl": "Saldo", "en": "Balance"},
        "customer.label.reserved": {"nl": "Gereserveerd", "en": "Reserved"},
        "customer.label.available": {"nl": "Beschikbaar", "en": "Available"},
        "customer.label.none": {"nl": "geen", "en": "none"},
        "customer.label.unlimited": {"nl": "onbeperkt", "en": "unlimited"},
        "customer.label.invoiced": {
            "nl": "{plan}: gesprekken worden gefactureerd, niet van het tegoed afgeschreven.",
            "en": "{plan}: calls are invoiced, not deducted from credit.",
        },
        "number.added": {
            "nl": "Nummer {number} is geregistreerd bij {helpdesk_id}.",
            "en": "Number {number} is registered to {helpdesk_id}.",
        },
        "number.removed": {
            "nl": "Nummer {number} is verwijderd bij {helpdesk_id}.",
            "en": "Number {number} is removed from {helpdesk_id}.",
        },
        "number.found": {
            "nl": "Nummer {number} hoort bij {helpdesk_id} ({name}).",
            "en": "Number {number} belongs to {helpdesk_id} ({name}).",
        },
        "number.not_found": {
            "nl": "Nummer {number} is bij geen enkele klant geregistreerd.",
            "en": "Number {number} is not registered to any customer.",
        },
        "topup.booked": {
            "nl": (
                "Opwaardering geboekt: {amount} voor {helpdesk_id}, factuur {reference} "
                "(boeking #{entry_id}, sleutel {key}). Nieuw saldo: {balance}."
            ),
            "en": (
                "Top-up booked: {amount} for {helpdesk_id}, invoice {reference} "
                "(entry #{entry_id}, key {key}). New balance: {balance}."
            ),
        },
        "topup.already_booked": {
            "nl": (
                "Al eerder geboekt met sleutel {key}: {amount} voor {helpdesk_id}, factuur {reference} "
                "(boeking #{entry_id}). Er is niets opnieuw geboekt. Saldo: {balance}."
            ),
            "en": (
                "Already booked before with key {key}: {amount} for {helpdesk_id}, invoice {reference} "
                "(entry #{entry_id}). Nothing was booked again. Balance: {balance}."
            ),
        },
        "error.name_missing": {
            "nl": 'Geef de naam van de klant met --name "…".',
            "en": 'Give the name of the customer with --name "…".',
        },
        "error.topup_amount_missing": {
            "nl": "Geef het bedrag in euro's (50, 50,00 of 12.50) of met --cents, niet beide.",
            "en": "Give the amount in euros (50, 50,00 or 12.50) or with --cents, not both.",
        },
        "error.entry_id_invalid": {
            "nl": "Ongeldig boekingsnummer {value!r}: geef het nummer uit 'callmeter ledger', zoals 12.",
            "en": "Invalid entry number {value!r}: give the number from 'callmeter ledger', such as 12.",
        },
        "error.cents_missing": {
            "nl": "Geef het correctiebedrag in centen met --cents, bijvoorbeeld --cents -500.",
            "en": "Give the correction amount in cents with --cents, for example --cents -500.",
        },
        "correct.booked": {
            "nl": (
                "Correctie geboekt: {amount} op boeking #{corrects_id} van {helpdesk_id} "
                "(nieuwe boeking #{entry_id}, sleutel {key}). Saldo: {balance}."
            ),
            "en": (
                "Correction booked: {amount} on entry #{corrects_id} of {helpdesk_id} "
                "(new entry #{entry_id}, key {key}). Balance: {balance}."
            ),
        },
        "correct.already_booked": {
            "nl": (
                "Al eerder geboekt met sleutel {key}: correctie {amount} op boeking #{corrects_id} "
                "(boeking #{entry_id}). Er is niets opnieuw geboekt. Saldo: {balance}."
            ),
            "en": (
                "Already booked before with key {key}: correction {amount} on entry #{corrects_id} "
                "(entry #{entry_id}). Nothing was booked again. Balance: {balance}."
            ),
        },
        "ledger.title": {"nl": "Grootboek van {helpdesk_id}", "en": "Ledger of {helpdesk_id}"},
        "ledger.opening": {"nl": "Beginsaldo: {balance}", "en": "Opening balance: {balance}"},
        "ledger.closing": {"nl": "Eindsaldo: {balance}", "en": "Closing balance: {balance}"},
        "ledger.empty": {"nl": "Geen boekingen in deze periode.", "en": "No entries in this period."},
        "ledger.column.entry": {"nl": "#", "en": "#"},
        "ledger.column.time": {"nl": "Tijd", "en": "Time"},
        "ledger.column.kind": {"nl": "Soort", "en": "Kind"},
        "ledger.column.amount": {"nl": "Bedrag", "en": "Amount"},
        "ledger.column.running": {"nl": "Saldo", "en": "Balance"},
        "ledger.column.detail": {"nl": "Omschrijving", "en": "Description"},
        "ledger.column.actor": {"nl": "Door", "en": "By"},
        "ledger.kind.topup": {"nl": "opwaardering", "en": "top-up"},
        "ledger.kind.reservation": {"nl": "reservering", "en": "reservation"},
        "ledger.kind.release": {"nl": "vrijgave", "en": "release"},
        "ledger.kind.charge": {"nl": "afschrijving", "en": "charge"},
        "ledger.kind.correction": {"nl": "correctie", "en": "correction"},
        "ledger.detail.invoice": {"nl": "factuur {reference}", "en": "invoice {reference}"},
        "ledger.detail.call": {"nl": "gesprek {uniqueid}", "en": "call {uniqueid}"},
        "ledger.detail.corrects": {"nl": "corrigeert #{entry_id}", "en": "corrects #{entry_id}"},
    }
)

db_app = typer.Typer(help="Het databaseschema bijwerken en controleren.", no_args_is_help=True)
customer_app = typer.Typer(help="Klanten aanmaken, zoeken, tonen en blokkeren.", no_args_is_help=True)
number_app = typer.Typer(help="Telefoonnummers van klanten registreren en opzoeken.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(customer_app, name="customer")
app.add_typer(number_app, name="number")

HelpdeskIdArgument = Annotated[str, typer.Argument(help="Helpdesk-ID van de klant, zoals HD-1001.")]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key", help="Idempotentiesleutel: dezelfde sleutel boekt maar één keer (standaard: nieuw)."
    ),
]


# Database


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOption = False, lang: LangOption = None) -> None:
    """Breng het databaseschema naar de nieuwste revisie."""
    settings, language = settings_and_language(lang)
    with unchecked_database(settings) as database:
        previous, head, _ = schema_state(database)
        try:
            database.upgrade()
        except DatabaseError as error:
            # For example tables that exist without a recorded revision.
            reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
            raise SchemaOutdated(
                "error.upgrade_failed", url=display_url(database.url), reason=reason
            ) from None

    url = display_url(database.url)
    if as_json:
        print_json(
            {"database": url, "previous_revision": previous, "revision": head, "upgraded": previous != head}
        )
        return
    message = "db.upgraded" if previous != head else "db.already_current"
    console.print(i18n.text(message, language, url=url, previous=previous or "-", head=head), markup=False)


@db_app.command("check")
def db_check(as_json: JsonOption = False, lang: LangOption = None) -> None:
    """Meld of het databaseschema actueel is (exitcode 2 als dat niet zo is)."""
    settings, language = settings_and_language(lang)
    with unchecked_database(settings) as database:
        current, head, _ = schema_state(database)

    url = display_url(database.url)
    if as_json:
        print_json({"database": url, "revision": current, "head": head, "up_to_date": current == head})
    if current != head:
        raise SchemaOutdated("error.schema_outdated", current=current or "-", head=head)
    if not as_json:
        console.print(i18n.text("db.current", language, url=url, head=head), markup=False)


# Customers


def _status(customer: Customer, language: str, settings: Settings) -> str:
    if customer.blocked:
        return i18n.text("customer.status.blocked", language)
    valid_until = customer.access_valid_until
    if valid_until is not None and valid_until < utc_now().astimezone(settings.zone_info).date():
        return i18n.text("customer.status.expired", language)
    return i18n.text("customer.status.active", language)


def _customer_json(session: Session, customer: Customer, settings: Settings) -> dict[str, Any]:
    money = credit(session, customer.id)
    return {
        "helpdesk_id": customer.helpdesk_id,
        "name": customer.name,
        "plan": customer.plan,
        "language": customer.language,
        "blocked": customer.blocked,
        "access_valid_until": customer.access_valid_until.isoformat()
        if customer.access_valid_until
        else None,
        "created_at": iso(customer.created_at, settings),
        "numbers": [number.e164 for number in customer.numbers],
        "balance_cents": money.balance_cents,
        "reserved_cents": money.reserved_cents,
        "available_cents": money.available_cents,
    }


@customer_app.command("add")
def customer_add(
    helpdesk_id: HelpdeskIdArgument,
    name: Annotated[str | None, typer.Option("--name", help="Naam van de klant.")] = None,
    plan: Annotated[str, typer.Option("--plan", help="prepaid, contract of postpaid.")] = "prepaid",
    language: Annotated[
        str, typer.Option("--language", help="Taal van de gesproken meldingen: nl of en.")
    ] = "nl",
    valid_until: Annotated[
        str | None, typer.Option("--valid-until", help="Laatste dag van de helpdesktoegang (JJJJ-MM-DD).")
    ] = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Maak een klant aan met een nieuw helpdesk-ID."""
    settings, output_language = settings_and_language(lang)
    if name is None:
        raise InvalidInput("error.name_missing")
    access_valid_until = parse_date(valid_until) if valid_until is not None else None

    with using_database(settings, output_language, create_schema=True) as database, database.write() as session:
        customer = create_customer(
            session, helpdesk_id, name, plan, language.strip().lower(), access_valid_until
        )
        payload = _customer_json(session, customer, settings)

    if as_json:
        print_json(payload)
        return
    console.print(
        i18n.text(
            "customer.created",
            output_language,
            helpdesk_id=payload["helpdesk_id"],
            name=payload["name"],
            plan=payload["plan"],
        ),
        markup=False,
    )


@customer_app.command("list")
def customer_list(
    search: Annotated[
        str | None, typer.Option("--search", help="Zoek op helpdesk-ID, naam of telefoonnummer.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10_000, help="Hoeveel klanten ten hoogste.")
    ] = 200,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Toon klanten met hun nummers, status en saldo."""
    settings, language = settings_and_language(lang)
    with using_database(settings, language) as database, database.read() as session:
        customers, total = search_customers(session, search, limit, 0)
        rows = [_customer_json(session, customer, settings) for customer in customers]
        statuses = [_status(customer, language, settings) for customer in customers]

    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(i18n.text("customer.none", language), markup=False)
        return
    table = Table()
    for label in (
        "customer.label.helpdesk_id",
        "customer.label.name",
        "customer.label.plan",
        "customer.label.numbers",
        "customer.label.status",
        "customer.label.balance",
    ):
        table.add_column(i18n.text(label, language))
    for row, status in zip(rows, statuses, strict=True):
        table.add_row(
            row["helpdesk_id"],
            row["name"],
            row["plan"],
            ", ".join(display(number) for number in row["numbers"]) or "-",
            status,
            format_cents(row["balance_cents"], language),
        )
    console.print(table)
    if total > len(rows):
        console.print(i18n.text("customer.shown", language, shown=len(rows), total=total), markup=False)


@customer_app.command("show")
def customer_show(
    helpdesk_id: HelpdeskIdArgument, as_json: JsonOption = False, lang: LangOption = None
) -> None:
    """Toon een klant: abonnement, status, nummers en tegoed."""
    settings, language = settings_and_language(lang)
    with using_database(settings, language) as database, database.read() as session:
        customer = get_customer(session, helpdesk_id)
        payload = _customer_json(session, customer, settings)
        status = _status(customer, language, settings)

    if as_json:
        print_json(payload)
        return
    numbers = ", ".join(f"{display(number)} ({number})" for number in payload["numbers"])
    lines = [
        (i18n.text("customer.label.helpdesk_id", language), payload["helpdesk_id"]),
        (i18n.text("customer.label.name", language), payload["name"]),
        (i18n.text("customer.label.plan", language), payload["plan"]),
        (i18n.text("customer.label.language", language), payload["language"]),
        (i18n.text("customer.label.status", language), status),
        (
            i18n.text("customer.label.valid_until", language),
            payload["access_valid_until"] or i18n.text("customer.label.unlimited", language),
        ),
        (
            i18n.text("customer.label.numbers", language),
            numbers or i18n.text("customer.label.none", language),
        ),
        (i18n.text("customer.label.balance", language), format_cents(payload["balance_cents"], language)),
        (i18n.text("customer.label.reserved", language), format_cents(payload["reserved_cents"], language)),
        (i18n.text("customer.label.available", language), format_cents(payload["available_cents"], language)),
    ]
    width = max(len(label) for label, _ in lines) + 1
    for label, value in lines:
        console.print(f"{label + ':':<{width}} {value}", markup=False)
    if payload["plan"] != "prepaid":
        console.print(i18n.text("customer.label.invoiced", language, plan=payload["plan"]), markup=False)


def _set_blocked(helpdesk_id: str, blocked: bool, as_json: bool, lang: str | None) -> None:
    settings, language = settings_and_language(lang)
    with using_database(settings, language) as database, database.write() as session:
        customer = update_customer(session, helpdesk_id, CustomerChanges(blocked=blocked))
        found_id = customer.helpdesk_id

    if as_json:
        print_json({"helpdesk_id": found_id, "blocked": blocked})
        return
    message = "customer.blocked" if blocked else "customer.unblocked"
    console.print(i18n.text(message, language, helpdesk_id=found_id), markup=False)


@customer_app.command("block")
def customer_block(
    helpdesk_id: HelpdeskIdArgument, as_json: JsonOption = False, lang: LangOption = None
) -> None:
    """Blokkeer een klant: zijn oproepen worden geweigerd."""
    _set_blocked(helpdesk_id, True, as_json, lang)


@customer_app.command("unblock")
def customer_unblock(
    helpdesk_id: HelpdeskIdArgument, as_json: JsonOption = False, lang: LangOption = None
) -> None:
    """Hef de blokkade van een klant op."""
    _set_blocked(helpdesk_id, False, as_json, lang)


# Numbers

NumberArgument = Annotated[str, typer.Argument(help="Telefoonnummer, zoals 0612345678 of +32470123456.")]


@number_app.command("add")
def number_add(
    helpdesk_id: HelpdeskIdArgument,
    number: NumberArgument,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Registreer een nummer bij een klant; een nummer hoort bij hooguit één klant."""
    settings, language = settings_and_language(lang)
    with using_database(settings, language) as database, database.write() as session:
        registered = add_number(session, helpdesk_id, number)
        e164, owner = registered.e164, registered.customer.helpdesk_id

    if as_json:
        print_json({"number": e164, "helpdesk_id": owner})
        return
    console.print(i18n.text("number.added", language, number=_shown(e164), helpdesk_id=owner), markup=False)


@number_app.command("remove")
def number_remove(
    helpdesk_id: HelpdeskIdArgument,
    number: NumberArgument,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Verwijder een nummer bij een klant."""
    settings, language = settings_and_language(lang)
    with using_database(settings, language) as database, database.write() as session:
        e164 = remove_number(session, helpdesk_id, number)
        owner = get_customer(session, helpdesk_id).helpdesk_id

    if as_json:
        print_json({"number": e164, "helpdesk_id": owner, "removed": True})
        return
    console.print(i18n.text("number.removed", language, number=_shown(e164), helpdesk_id=owner), markup=False)


@number_app.command("find")
def number_find(number: NumberArgument, as_json: JsonOption = False, lang: LangOption = None) -> None:
    """Zoek bij welke klant een nummer hoort, in welk formaat het ook is getypt."""
    settings, language = settings_and_language(lang)
    e164 = normalise(number)
    with using_database(settings, language) as database, database.read() as session:
        customer = find_by_number(session, e164)
        owner = (customer.helpdesk_id, customer.name) if customer is not None else None

    if as_json:
        print_json({"number": e164, "helpdesk_id": owner[0] if owner else None})
        return
    if owner is None:
        console.print(i18n.text("number.not_found", language, number=_shown(e164)), markup=False)
        return
    console.print(
        i18n.text("number.found", language, number=_shown(e164), helpdesk_id=owner[0], name=owner[1]),
        markup=False,
    )


def _shown(e164: str) -> str:
    return f"{display(e164)} ({e164})"


# Ledger


def _topup_cents(amount: str | None, cents: str | None, settings: Settings) -> int:
    if (amount is None) == (cents is None):
        raise InvalidAmount("error.topup_amount_missing")
    if amount is not None:
        return check_positive(parse_euros(amount), amount, settings.max_topup_cents)
    assert cents is not None
    return check_positive(parse_cents(cents), cents, settings.max_topup_cents)


# "-5" must reach the amount parser as an argument, not fail as an unknown option.
@app.command("topup", context_settings={"ignore_unknown_options": True})
def topup_command(
    helpdesk_id: HelpdeskIdArgument,
    amount: Annotated[
        str | None, typer.Argument(help="Bedrag in euro's: 50, 50,00 of 12.50 (of gebruik --cents).")
    ] = None,
    invoice: Annotated[str | None, typer.Option("--invoice", help="Factuurnummer van de betaling.")] = None,
    cents: Annotated[
        str | None, typer.Option("--cents", help="Bedrag in centen in plaats van euro's.")
    ] = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Boek een betaalde factuur als prepaid tegoed."""
    settings, language = settings_and_language(lang)
    amount_cents = _topup_cents(amount, cents, settings)
    if invoice is None or not invoice.strip():
        raise InvalidInput("error.reference_missing")
    chosen_key = key if key is not None else uuid.uuid4().hex

    with using_database(settings, language) as database, database.write() as session:
        customer = get_customer(session, helpdesk_id)
        entry, created = top_up(
            session, customer.id, amount_cents, invoice, chosen_key, cli_actor(), utc_now()
        )
        balance = balance_cents(session, customer.id)
        found_id, entry_id, reference = customer.helpdesk_id, entry.id, entry.reference

    if as_json:
        print_json(
            {
                "entry_id": entry_id,
                "helpdesk_id": found_id,
                "amount_cents": amount_cents,
                "reference": reference,
                "key": chosen_key.strip(),
                "created": created,
                "balance_cents": balance,
            }
        )
        return
    console.print(
        i18n.text(
            "topup.booked" if created else "topup.already_booked",
            language,
            amount=format_cents(amount_cents, language),
            helpdesk_id=found_id,
            reference=reference,
            entry_id=entry_id,
            key=chosen_key.strip(),
            balance=format_cents(balance, language),
        ),
        markup=False,
    )


@app.command("balance")
def balance_command(
    helpdesk_id: HelpdeskIdArgument, as_json: JsonOption = False, lang: LangOption = None
) -> None:
    """Toon saldo, gereserveerd en beschikbaar tegoed van een klant."""
    settings, language = settings_and_language(lang)
    with using_database(settings, language) as database, database.read() as session:
        customer = get_customer(session, helpdesk_id)
        money = credit(session, customer.id)
        found_id, plan = customer.helpdesk_id, customer.plan

    if as_json:
        print_json(
            {
                "helpdesk_id": found_id,
                "balance_cents": money.balance_cents,
                "reserved_cents": money.reserved_cents,
                "available_cents": money.available_cents,
            }
        )
        return
    lines = [
        (i18n.text("customer.label.balance", language), money.balance_cents),
        (i18n.text("customer.label.reserved", language), money.reserved_cents),
        (i18n.text("customer.label.available", language), money.available_cents),
    ]
    width = max(len(label) for label, _ in lines) + 1
    console.print(f"{found_id}", markup=False)
    for label, cents_value in lines:
        console.print(f"  {label + ':':<{width}} {format_cents(cents_value, language)}", markup=False)
    if plan != "prepaid":
        console.print(i18n.text("customer.label.invoiced", language, plan=plan), markup=False)


def _detail(row: dict[str, Any], language: str) -> str:
    parts: list[str] = []
    if row["reference"]:
        parts.append(i18n.text("ledger.detail.invoice", language, reference=row["reference"]))
    if row["uniqueid"]:
        parts.append(i18n.text("ledger.detail.call", language, uniqueid=row["uniqueid"]))
    if row["corrects_id"] is not None:
        parts.append(i18n.text("ledger.detail.corrects", language, entry_id=row["corrects_id"]))
    if row["reason"]:
        parts.append(row["reason"])
    return "; ".join(parts)


@app.command("ledger")
def ledger_command(
    helpdesk_id: HelpdeskIdArgument,
    since: Annotated[
        str | None, typer.Option("--from", help="Vanaf deze datum of tijd (ISO 8601, Nederlandse tijd).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Tot deze tijd; een datum telt de hele dag mee.")
    ] = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Toon de boekingen van een klant met het lopende saldo."""
    settings, language = settings_and_language(lang)
    start, end = parse_period(since, until, settings)

    with using_database(settings, language) as database, database.read() as session:
        customer = get_customer(session, helpdesk_id)
        opening = balance_before_cents(session, customer.id, start) if start is not None else 0
        entries, _ = list_entries(session, customer.id, since=start, until=end, limit=None)
        uniqueids = call_uniqueids(session, entries)
        found_id = customer.helpdesk_id
        rows = _ledger_rows(entries, opening, uniqueids, settings)

    if as_json:
        print_json(rows)
        return
    _print_ledger(found_id, rows, opening, language)


def _ledger_rows(
    entries: list[LedgerEntry], opening: int, uniqueids: dict[int, str], settings: Settings
) -> list[dict[str, Any]]:
    """Turn entries into JSON rows with the running balance after each entry."""
    running = opening
    rows: list[dict[str, Any]] = []
    for entry in entries:
        if entry.kind in BALANCE_KINDS:
            running += entry.amount_cents
        rows.append(
            {
                "id": entry.id,
                "kind": entry.kind,
                "amount_cents": entry.amount_cents,
                "balance_cents": running,
                "reference": entry.reference,
                "actor": entry.actor,
                "reason": entry.reason,
                "created_at": iso(entry.created_at, settings),
                "corrects_id": entry.corrects_id,
                "uniqueid": uniqueids.get(entry.call_id) if entry.call_id is not None else None,
            }
        )
    return rows


def _print_ledger(helpdesk_id: str, rows: list[dict[str, Any]], opening: int, language: str) -> None:
    console.print(
        i18n.text("ledger.opening", language, balance=format_cents(opening, language)), markup=False
    )
    if not rows:
        console.print(i18n.text("ledger.empty", language), markup=False)
        return
    table = Table(title=i18n.text("ledger.title", language, helpdesk_id=helpdesk_id))
    for column in (
        "ledger.column.entry",
        "ledger.column.time",
        "ledger.column.kind",
        "ledger.column.amount",
        "ledger.column.running",
    ):
        table.add_column(
            i18n.text(column, language),
            justify="left" if column == "ledger.column.kind" else "right",
            no_wrap=True,
        )
    table.add_column(i18n.text("ledger.column.detail", language))
    table.add_column(i18n.text("ledger.column.actor", language))
    for row in rows:
        table.add_row(
            str(row["id"]),
            # The ISO time is already in the configured zone; show it without the offset.
            row["created_at"][:19].replace("T", " "),
            i18n.text(f"ledger.kind.{row['kind']}", language),
            format_cents(row["amount_cents"], language),
            format_cents(row["balance_cents"], language),
            _detail(row, language),
            row["actor"],
        )
    console.print(table)
    console.print(
        i18n.text("ledger.closing", language, balance=format_cents(rows[-1]["balance_cents"], language)),
        markup=False,
    )


def _parse_entry_id(value: str) -> int:
    text = value.strip().removeprefix("#")
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise InvalidInput("error.entry_id_invalid", value=value)
    return int(text)


@app.command("correct")
def correct_command(
    entry: Annotated[str, typer.Argument(help="Nummer van de boeking die wordt gecorrigeerd.")],
    cents: Annotated[
        str | None, typer.Option("--cents", help="Correctie in centen; negatief haalt tegoed weg.")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Waarom de correctie nodig is.")] = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Boek een correctie die naar een eerdere boeking verwijst (mag het saldo negatief maken)."""
    settings, language = settings_and_language(lang)
    entry_id = _parse_entry_id(entry)
    if cents is None:
        raise InvalidAmount("error.cents_missing")
    amount_cents = parse_cents(cents)
    if abs(amount_cents) > settings.max_topup_cents:
        raise InvalidAmount(
            "error.amount_too_large", value=cents, maximum=format_cents(settings.max_topup_cents)
        )
    if reason is None:
        raise InvalidInput("error.reason_missing")
    chosen_key = key if key is not None else uuid.uuid4().hex

    with using_database(settings, language) as database, database.write() as session:
        posted, created = post_correction(
            session, entry_id, amount_cents, reason, cli_actor(), chosen_key, utc_now()
        )
        owner = session.get(Customer, posted.customer_id)
        assert owner is not None
        balance_after = balance_cents(session, owner.id)
        found_id, new_id, corrects_id = owner.helpdesk_id, posted.id, posted.corrects_id

    if as_json:
        print_json(
            {
                "entry_id": new_id,
                "corrects_id": corrects_id,
                "helpdesk_id": found_id,
                "amount_cents": amount_cents,
                "reason": reason.strip(),
                "key": chosen_key.strip(),
                "created": created,
                "balance_cents": balance_after,
            }
        )
        return
    console.print(
        i18n.text(
            "correct.booked" if created else "correct.already_booked",
            language,
            amount=format_cents(amount_cents, language),
            corrects_id=corrects_id,
            helpdesk_id=found_id,
            entry_id=new_id,
            key=chosen_key.strip(),
            balance=format_cents(balance_after, language),
        ),
        markup=False,
    )
