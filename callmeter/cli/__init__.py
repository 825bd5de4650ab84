"""The callmeter command line (typer with rich).

Human output is Dutch by default; ``--lang en`` or the ``language`` setting
switches it. ``--json`` prints machine output with integer cents and ISO
times. Every expected failure prints one message and exits with code 2,
without a traceback.
"""

from __future__ import annotations

import logging
import sys

import structlog
import typer

from callmeter import i18n
from callmeter.cli.common import console_err, usage_error_message
from callmeter.errors import CallmeterError

# typer 0.22+ vendors its own copy of click, so click's exception classes are
# reached through the ones typer exports rather than by importing click.
UsageError: type[Exception] = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError")

app = typer.Typer(
    name="callmeter",
    help="callmeter: gesprekken meten en prepaid tegoed afschrijven voor de helpdesklijn.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Importing a command module registers its commands on ``app``.
from callmeter.cli import admission, customers, demo, service, simulate, tariff, tokens  # noqa: E402, F401


def main() -> None:
    """Run the CLI, turning expected errors into a message and exit code 2."""
    language = i18n.parse_language(_language_from_argv(sys.argv[1:]))
    # Log warnings and errors to stderr, so that --json output on stdout stays
    # parseable. Only structlog is set here: a long-running command (the
    # service) calls configure_logging() itself, and logging.basicConfig()
    # takes effect only once per process.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    try:
        # Without standalone mode click returns the code of typer.Exit instead of exiting.
        exit_code = app(standalone_mode=False)
    except CallmeterError as error:
        label = "Fout" if language == "nl" else "Error"
        console_err.print(f"[bold red]{label}:[/] {error.message(language)}", markup=True)
        raise SystemExit(2) from None
    except UsageError as error:
        console_err.print(usage_error_message(error, language), markup=False)
        raise SystemExit(2) from None
    except typer.Abort:
        raise SystemExit(130) from None
    except typer.Exit as done:
        raise SystemExit(done.exit_code) from None
    if isinstance(exit_code, int) and exit_code != 0:
        raise SystemExit(exit_code)


def _language_from_argv(arguments: list[str]) -> str | None:
    for index, argument in enumerate(arguments):
        if argument == "--lang" and index + 1 < len(arguments):
            return arguments[index + 1]
        if argument.startswith("--lang="):
            return argument.partition("=")[2]
    from callmeter.settings import load_settings

    try:
        return load_settings().language
    except CallmeterError:
        return None
