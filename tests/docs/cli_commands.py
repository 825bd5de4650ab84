"""Find the `callmeter …` commands that the docs show and look them up in the CLI.

The docs are README.md, README.nl.md and docker/README.md. Commands are taken
from fenced shell blocks (sh, bash, shell, console; `ExecStart=` lines in ini
blocks) and from inline code spans that start with `callmeter ` or a path
to it, such as `.venv/bin/callmeter `.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "README.nl.md", "docker/README.md")

# Command groups of the planned CLI. The word after a group name is a
# subcommand even while the group is not registered yet, so that a missing
# `customer add` is reported as such and not as a missing `customer`.
PLANNED_GROUPS = frozenset({"customer", "db", "number", "token"})

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`((?:[\w.-]*/)*callmeter [^`\n]+)`")
_SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})
_SEPARATORS = frozenset({"&&", "||", ";", "|"})
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class DocumentedCommand:
    """One `callmeter …` invocation found in a document."""

    document: str
    line: str
    arguments: tuple[str, ...]

    @property
    def path(self) -> str:
        """The command path: the first argument, plus a subcommand of a group."""
        words: list[str] = []
        for argument in self.arguments:
            if argument.startswith("-"):
                break
            words.append(argument)
            if not _is_group(" ".join(words)):
                break
        return " ".join(words)

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(argument.partition("=")[0] for argument in self.arguments if argument.startswith("--"))


def documented_commands() -> list[DocumentedCommand]:
    """Return every `callmeter …` invocation in the docs, in document order."""
    found: list[DocumentedCommand] = []
    for name in DOCS:
        path = REPO / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            language, body = match.group(1).lower(), match.group(2)
            for line in _logical_lines(body):
                command_line = _command_line(language, line)
                if command_line is not None:
                    found.extend(_invocations(name, command_line))
        for match in _INLINE.finditer(_FENCE.sub("", text)):
            found.extend(_invocations(name, match.group(1)))
    return found


def _logical_lines(body: str) -> list[str]:
    """Join lines that end in a backslash with the next one."""
    return body.replace("\\\n", " ").splitlines()


def _command_line(language: str, line: str) -> str | None:
    stripped = line.strip()
    if language in _SHELL_LANGUAGES:
        if language == "console":
            return stripped[2:] if stripped.startswith("$ ") else None
        return stripped or None
    if language in {"ini", "systemd"} and stripped.startswith("ExecStart="):
        return stripped.removeprefix("ExecStart=")
    return None


def _invocations(document: str, command_line: str) -> list[DocumentedCommand]:
    words = shlex.split(command_line, comments=True)
    commands: list[list[str]] = [[]]
    for word in words:
        if word in _SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(word)

    found = []
    for command in commands:
        program = _skip_prefixes(command)
        if program and Path(program[0]).name == "callmeter":
            found.append(DocumentedCommand(document, command_line, tuple(program[1:])))
    return found


def _skip_prefixes(command: list[str]) -> list[str]:
    """Drop what runs a command: VAR=value, `env`, `exec`, `sudo -u USER`, `docker compose exec SERVICE`."""
    rest = list(command)
    while rest:
        if _ENV_ASSIGNMENT.match(rest[0]) or rest[0] in {"exec", "env"}:
            rest = rest[1:]
        elif rest[0] == "sudo":
            rest = rest[3:] if len(rest) > 2 and rest[1] == "-u" else rest[1:]
        elif rest[:3] == ["docker", "compose", "exec"]:
            rest = rest[3:]
            while rest and rest[0].startswith("-"):
                rest = rest[1:]
            rest = rest[1:]  # the service name
        else:
            break
    return rest


@cache
def command_tree() -> Any:
    """Return the click command that typer builds for `callmeter`."""
    import typer

    from callmeter.cli import app

    return typer.main.get_command(app)


def find_command(path: str) -> Any | None:
    """Return the registered command or group for a space-separated path, or None."""
    node = command_tree()
    for word in path.split():
        subcommands = getattr(node, "commands", None)
        if not isinstance(subcommands, dict) or word not in subcommands:
            return None
        node = subcommands[word]
    return node


def option_names(command: Any) -> set[str]:
    """Return every long and short option name of a registered command, --help included."""
    names = {"--help"}
    for parameter in getattr(command, "params", []):
        names.update(getattr(parameter, "opts", []))
        names.update(getattr(parameter, "secondary_opts", []))
    return names


def _is_group(path: str) -> bool:
    registered = find_command(path)
    if registered is not None:
        return isinstance(getattr(registered, "commands", None), dict)
    return path in PLANNED_GROUPS
