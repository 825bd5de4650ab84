"""`callmeter demo`: a scripted day of calls, metered by the real service on the embedded default."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
from rich.console import Console

from callmeter.cli import app
from callmeter.cli.common import LangOption, console, settings_and_language
from callmeter.logging import configure_logging


@app.command()
def demo(
    fast: Annotated[bool, typer.Option("--fast", help="Speel de dag in enkele seconden, zonder live tabel.")] = False,
    serve: Annotated[
        bool, typer.Option("--serve", help="Laat de dienst daarna draaien en toon de API-URL en een leestoken.")
    ] = False,
    lang: LangOption = None,
) -> None:
    """Speel een dag gesprekken af tegen een gesimuleerde PBX, met SQLite in een tijdelijke map."""
    from callmeter.demo.runner import DemoOptions, run_demo

    _, language = settings_and_language(lang)
    # Log lines would scroll the live table away, so only errors show unless
    # CALLMETER_LOG_LEVEL asks for more.
    configure_logging(os.environ.get("CALLMETER_LOG_LEVEL", "ERROR"))
    # A pipe or a log file gets a fixed width, because the terminal width is unknown there.
    output = console if console.is_terminal else Console(width=100, highlight=False)
    options = DemoOptions(language=language, fast=fast, serve=serve, live=not fast and output.is_terminal)
    try:
        result = asyncio.run(run_demo(options, output))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    if not result.matches:
        raise typer.Exit(1)
