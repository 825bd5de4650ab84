"""Every `callmeter …` command in the READMEs names a command that the CLI registers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.docs.cli_commands import (
    PENDING_COMMANDS,
    PENDING_OPTIONS,
    DocumentedCommand,
    documented_commands,
    find_command,
    is_pending_command,
    is_pending_option,
    option_names,
)

COMMANDS = documented_commands()


def _command_cases() -> list[Any]:
    cases = []
    seen: set[tuple[str, str]] = set()
    for command in COMMANDS:
        key = (command.document, command.path)
        if key in seen:
            continue
        seen.add(key)
        marks = []
        if is_pending_command(command.path):
            marks.append(pytest.mark.xfail(reason=PENDING_COMMANDS[command.path], strict=True))
        cases.append(pytest.param(command, id=f"{command.document}:{command.path or '(root)'}", marks=marks))
    return cases


def _option_cases() -> list[Any]:
    cases = []
    seen: set[tuple[str, str, str]] = set()
    for command in COMMANDS:
        for option in command.options:
            key = (command.document, command.path, option)
            if key in seen:
                continue
            seen.add(key)
            marks = []
            if is_pending_option(command.path, option):
                reason = PENDING_COMMANDS.get(command.path) or PENDING_OPTIONS[(command.path, option)]
                marks.append(pytest.mark.xfail(reason=reason, strict=True))
            case_id = f"{command.document}:{command.path} {option}"
            cases.append(pytest.param(command, option, id=case_id, marks=marks))
    return cases


def test_readmes_show_callmeter_commands() -> None:
    documents = {command.document for command in COMMANDS}

    assert "README.md" in documents
    assert "README.nl.md" in documents


def test_readmes_show_the_same_commands() -> None:
    english = {command.path for command in COMMANDS if command.document == "README.md"}
    dutch = {command.path for command in COMMANDS if command.document == "README.nl.md"}

    assert english - dutch == set(), "commands in README.md but not in README.nl.md"
    assert dutch - english == set(), "commands in README.nl.md but not in README.md"


def test_pending_lists_are_current() -> None:
    registered_commands = [path for path in PENDING_COMMANDS if not is_pending_command(path)]
    registered_options = [
        f"{path} {option}" for path, option in PENDING_OPTIONS if not is_pending_option(path, option)
    ]

    assert registered_commands == [], (
        f"registered now, so delete them from PENDING_COMMANDS in tests/docs/cli_commands.py: {registered_commands}"
    )
    assert registered_options == [], (
        f"registered now, so delete them from PENDING_OPTIONS in tests/docs/cli_commands.py: {registered_options}"
    )


@pytest.mark.parametrize("command", _command_cases())
def test_documented_command_is_registered(command: DocumentedCommand) -> None:
    registered = find_command(command.path)

    assert registered is not None, (
        f"{command.document} shows `callmeter {command.path}` ({command.line!r}), "
        "but the CLI has no such command"
    )


@pytest.mark.parametrize(("command", "option"), _option_cases())
def test_documented_option_exists(command: DocumentedCommand, option: str) -> None:
    registered = find_command(command.path)
    assert registered is not None, f"`callmeter {command.path}` is not registered"

    assert option in option_names(registered), (
        f"{command.document} shows `callmeter {command.path} {option}` ({command.line!r}), "
        f"but that command has no option {option}"
    )
