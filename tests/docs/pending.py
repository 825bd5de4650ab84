"""What the docs describe but another branch builds: commands, options, paths and settings.

While an entry here is still missing, the checks that need it are expected
failures (xfail) with the entry's reason. Once it exists, those checks run
normally and test_pending.py fails until the entry is deleted, so that a
later regression cannot hide behind a stale entry. When every list is
empty, this module and test_pending.py can go.
"""

from __future__ import annotations

from tests.docs.cli_commands import REPO, find_command, option_names
from tests.docs.settings_keys import setting_exists

# Commands by path, as `callmeter PATH` shows them.
PENDING_COMMANDS: dict[str, str] = {
    "db upgrade": "`callmeter db upgrade` is built on the ledger branch",
    "customer": "`callmeter customer` is built on the ledger branch",
    "customer add": "`callmeter customer add` is built on the ledger branch",
    "number": "`callmeter number` is built on the ledger branch",
    "number add": "`callmeter number add` is built on the ledger branch",
    "topup": "`callmeter topup` is built on the ledger branch",
    "balance": "`callmeter balance` is built on the ledger branch",
    "ledger": "`callmeter ledger` is built on the ledger branch",
    "correct": "`callmeter correct` is built on the ledger branch",
    "admit": "`callmeter admit` is built on the admission branch",
    "simulate": "`callmeter simulate` is built on the ami branch",
    "run": "`callmeter run` is built on the metering branch",
    "replay": "`callmeter replay` is built on the metering branch",
    "token": "`callmeter token` is built on the api branch",
    "token create": "`callmeter token create` is built on the api branch",
    "api": "`callmeter api` is built on the api branch",
}

# Options of commands that exist, by (command path, option).
PENDING_OPTIONS: dict[tuple[str, str], str] = {
    ("demo", "--serve"): "`callmeter demo --serve` comes with the full demo",
    ("demo", "--fast"): "`callmeter demo --fast` comes with the full demo",
}

# Repository paths. An entry also covers everything below it.
PENDING_PATHS: dict[str, str] = {
    "dialplan": "dialplan/ (Asterisk configuration and prompts) is built on the admission branch",
    "bench/README.md": "bench/README.md is written on the bench branch",
}

# Settings by dotted key.
PENDING_SETTINGS: dict[str, str] = {
    "api.session_https_only": "api.session_https_only is added on the web branch",
}


def pending_command_reason(path: str) -> str | None:
    """Return the reason if a command is listed here and still not registered."""
    if path in PENDING_COMMANDS and find_command(path) is None:
        return PENDING_COMMANDS[path]
    return None


def pending_option_reason(path: str, option: str) -> str | None:
    """Return the reason if an option, or its command, is listed here and still missing."""
    command_reason = pending_command_reason(path)
    if command_reason is not None:
        return command_reason
    command = find_command(path)
    if (path, option) in PENDING_OPTIONS and (command is None or option not in option_names(command)):
        return PENDING_OPTIONS[(path, option)]
    return None


def pending_path_reason(relative_path: str) -> str | None:
    """Return the reason if a repository path lies under a listed path that is still missing."""
    for pending, reason in PENDING_PATHS.items():
        covered = relative_path == pending or relative_path.startswith(pending + "/")
        if covered and not (REPO / pending).exists():
            return reason
    return None


def pending_setting_reason(key: str) -> str | None:
    """Return the reason if a setting is listed here and still not defined."""
    if key in PENDING_SETTINGS and not setting_exists(key):
        return PENDING_SETTINGS[key]
    return None
