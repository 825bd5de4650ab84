"""CLI commands: staff API tokens (`callmeter token ...`) and `callmeter api`."""

from __future__ import annotations

import socket
from typing import Annotated

import typer
from rich.table import Table

from callmeter import i18n
from callmeter.cli import app
from callmeter.cli.common import JsonOption, LangOption, console, iso, print_json, settings_and_language
from callmeter.db import Database
from callmeter.tokens import service as tokens

i18n.register(
    {
        "token.created": {
            "nl": "Token {name!r} (scope {scope}) is aangemaakt. Het wordt maar één keer getoond:",
            "en": "Token {name!r} (scope {scope}) was created. It is shown only once:",
        },
        "token.usage": {
            "nl": "Gebruik: curl -H 'Authorization: Bearer <token>' http://127.0.0.1:8000/customers",
            "en": "Use: curl -H 'Authorization: Bearer <token>' http://127.0.0.1:8000/customers",
        },
        "token.revoked": {"nl": "Token {name!r} is ingetrokken.", "en": "Token {name!r} was revoked."},
        "token.none": {"nl": "Er zijn nog geen tokens.", "en": "There are no tokens yet."},
        "token.column.name": {"nl": "Naam", "en": "Name"},
        "token.column.scope": {"nl": "Scope", "en": "Scope"},
        "token.column.created": {"nl": "Aangemaakt", "en": "Created"},
        "token.column.revoked": {"nl": "Ingetrokken", "en": "Revoked"},
        "api.serving": {
            "nl": "De API luistert op http://{host}:{port} (documentatie op /docs).",
            "en": "The API listens on http://{host}:{port} (documentation at /docs).",
        },
    }
)

token_app = typer.Typer(
    name="token",
    help="Beheer tokens voor de HTTP-API en de webpagina.",
    no_args_is_help=True,
)
app.add_typer(token_app)


@token_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Naam van het token, bijvoorbeeld balie.")],
    scope: Annotated[str, typer.Option("--scope", help="read (alleen lezen) of write (ook wijzigen).")],
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Maak een token aan en toon het één keer."""
    settings, language = settings_and_language(lang)
    database = Database(settings.database_url)
    try:
        database.check_schema()
        with database.write() as session:
            plaintext, token = tokens.create(session, name, scope)
            created_scope = token.scope
    finally:
        database.dispose()

    if as_json:
        print_json({"name": name, "scope": created_scope, "token": plaintext})
        return
    console.print(i18n.text("token.created", language, name=name, scope=created_scope))
    print(plaintext)
    console.print(i18n.text("token.usage", language))


@token_app.command("list")
def list_command(as_json: JsonOption = False, lang: LangOption = None) -> None:
    """Toon alle tokens (zonder de geheime waarde)."""
    settings, language = settings_and_language(lang)
    database = Database(settings.database_url)
    try:
        database.check_schema()
        with database.read() as session:
            rows = [
                (token.name, token.scope, token.created_at, token.revoked_at)
                for token in tokens.list_tokens(session)
            ]
    finally:
        database.dispose()

    if as_json:
        print_json(
            [
                {
                    "name": name,
                    "scope": scope,
                    "created_at": iso(created_at, settings),
                    "revoked_at": iso(revoked_at, settings) if revoked_at is not None else None,
                }
                for name, scope, created_at, revoked_at in rows
            ]
        )
        return
    if not rows:
        console.print(i18n.text("token.none", language))
        return
    table = Table()
    for column in ("token.column.name", "token.column.scope", "token.column.created", "token.column.revoked"):
        table.add_column(i18n.text(column, language))
    for name, scope, created_at, revoked_at in rows:
        table.add_row(
            name,
            scope,
            created_at.astimezone(settings.zone_info).strftime("%Y-%m-%d %H:%M"),
            revoked_at.astimezone(settings.zone_info).strftime("%Y-%m-%d %H:%M") if revoked_at else "",
        )
    console.print(table)


@token_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="Naam van het token.")],
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Trek een token in; het werkt daarna niet meer."""
    settings, language = settings_and_language(lang)
    database = Database(settings.database_url)
    try:
        database.check_schema()
        with database.write() as session:
            token = tokens.revoke(session, name)
            revoked_at = token.revoked_at
    finally:
        database.dispose()

    assert revoked_at is not None
    if as_json:
        print_json({"name": name, "revoked_at": iso(revoked_at, settings)})
        return
    console.print(i18n.text("token.revoked", language, name=name))


@app.command("api")
def serve_api(
    host: Annotated[
        str | None, typer.Option("--host", help="Adres om op te luisteren (standaard api.host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Poort (standaard api.port).", min=0, max=65535)
    ] = None,
    lang: LangOption = None,
) -> None:
    """Start alleen de HTTP-API (zonder AMI en FastAGI)."""
    import uvicorn

    from api.app import create_app
    from callmeter.logging import configure_logging

    settings, language = settings_and_language(lang)
    database = Database(settings.database_url)
    database.check_schema()
    configure_logging()
    chosen_host = host or settings.api.host
    chosen_port = settings.api.port if port is None else port

    # Bind before starting uvicorn so the message shows the real port, also for --port 0.
    listener = socket.create_server((chosen_host, chosen_port))
    bound_port = listener.getsockname()[1]
    console.print(i18n.text("api.serving", language, host=chosen_host, port=bound_port))
    config = uvicorn.Config(create_app(settings, database), log_level="info")
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        listener.close()
        database.dispose()
