"""Every `callmeter …` command in the READMEs names a command that the CLI registers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.docs.cli_commands import DocumentedCommand, documented_commands, find_command, option_names

COMMANDS = documented_commands()


def _command_cases() -> list[Any]:
    cases = []
    seen: set[tuple[str, str]] = set()
    for command in COMMANDS:
        key = (command.document, command.path)
        if key in seen:
            continue
        seen.add(key)
        cases.append(pytest.param(command, id=f"{command.document}:{command.path or '(root)'}"))
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
            case_id = f"{command.document}:{command.path} {option}"
            cases.append(pytest.param(command, option, id=case_id))
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
