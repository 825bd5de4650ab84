"""The lists in pending.py name only what is still missing."""

from __future__ import annotations

from tests.docs.cli_commands import REPO, find_command, option_names
from tests.docs.pending import PENDING_COMMANDS, PENDING_OPTIONS, PENDING_PATHS, PENDING_SETTINGS
from tests.docs.settings_keys import setting_exists

HINT = "these exist now, so delete them from {name} in tests/docs/pending.py: {entries}"


def test_pending_commands_still_missing() -> None:
    registered = [path for path in PENDING_COMMANDS if find_command(path) is not None]

    assert registered == [], HINT.format(name="PENDING_COMMANDS", entries=registered)


def test_pending_options_still_missing() -> None:
    registered = []
    for path, option in PENDING_OPTIONS:
        command = find_command(path)
        if command is not None and option in option_names(command):
            registered.append(f"{path} {option}")

    assert registered == [], HINT.format(name="PENDING_OPTIONS", entries=registered)


def test_pending_paths_still_missing() -> None:
    present = [path for path in PENDING_PATHS if (REPO / path).exists()]

    assert present == [], HINT.format(name="PENDING_PATHS", entries=present)


def test_pending_settings_still_missing() -> None:
    defined = [key for key in PENDING_SETTINGS if setting_exists(key)]

    assert defined == [], HINT.format(name="PENDING_SETTINGS", entries=defined)
