"""The READMEs link to files that exist and name settings that exist."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel

from callmeter.settings import Settings
from tests.docs.cli_commands import DOCS, REPO

# Repository folders that the READMEs link to and that another branch builds.
# While such a folder is missing, links into it are expected failures. Once it
# exists, test_pending_folders_are_current fails until its entry is deleted.
PENDING_FOLDERS: dict[str, str] = {
    "dialplan": "dialplan/ is built on the admission branch",
    "bench": "bench/ is built on the bench branch",
}

# Settings that the READMEs name and that another branch adds, handled like
# PENDING_FOLDERS.
PENDING_SETTINGS: dict[str, str] = {
    "api.session_https_only": "api.session_https_only is added on the web branch",
}

# Example values for the placeholders in documented keys such as rates.<plan>.zone1.
PLACEHOLDERS = {"<plan>": "prepaid", "<weekday>": "monday", "<weekdag>": "monday"}

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_SETTINGS_TABLE = re.compile(r"^\| (?:setting|instelling) \|.*\n((?:\|.*\n)+)", re.MULTILINE)
_CODE = re.compile(r"`([^`]+)`")
_DOTTED_SETTING = re.compile(r"`((?:fastagi|ami|api|metering|rates|zones)\.[a-z_<>.0-9]+)(?: = [^`]*)?`")


def _text(document: str) -> str:
    return _FENCE.sub("", (REPO / document).read_text(encoding="utf-8"))


def _documents() -> list[str]:
    return [document for document in DOCS if (REPO / document).is_file()]


def _link_cases() -> list[Any]:
    cases = []
    for document in _documents():
        folder = (REPO / document).parent
        for target in sorted(set(_LINK.findall(_text(document)))):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            path = (folder / target.partition("#")[0]).resolve()
            top_folder = path.relative_to(REPO).parts[0] if path.is_relative_to(REPO) else ""
            marks = []
            if top_folder in PENDING_FOLDERS and not (REPO / top_folder).exists():
                marks.append(pytest.mark.xfail(reason=PENDING_FOLDERS[top_folder], strict=True))
            cases.append(pytest.param(document, target, id=f"{document}:{target}", marks=marks))
    return cases


def _documented_settings(document: str) -> set[str]:
    text = _text(document)
    keys = set(_DOTTED_SETTING.findall(text))
    for table in _SETTINGS_TABLE.findall(text):
        for row in table.splitlines()[1:]:  # the first line is |---|---|
            first_cell = row.split("|")[1]
            keys.update(key for key in _CODE.findall(first_cell) if not key.startswith("."))
    return {key.rstrip(".") for key in keys}


def _setting_exists(key: str) -> bool:
    """Return whether a dotted key names a field of Settings, placeholders filled in."""
    for placeholder, example in PLACEHOLDERS.items():
        key = key.replace(placeholder, example)
    value: Any = Settings()
    for part in key.split("."):
        if isinstance(value, BaseModel):
            if part not in type(value).model_fields:
                return False
            value = getattr(value, part)
        elif isinstance(value, dict):
            if part not in value:
                return False
            value = value[part]
        else:
            return False
    return True


def _setting_cases() -> list[Any]:
    cases = []
    for document in _documents():
        for key in sorted(_documented_settings(document)):
            marks = []
            if key in PENDING_SETTINGS and not _setting_exists(key):
                marks.append(pytest.mark.xfail(reason=PENDING_SETTINGS[key], strict=True))
            cases.append(pytest.param(key, id=f"{document}:{key}", marks=marks))
    return cases


def test_pending_folders_are_current() -> None:
    present = [folder for folder in PENDING_FOLDERS if (REPO / folder).exists()]

    assert present == [], f"present now, so delete them from PENDING_FOLDERS: {present}"


def test_pending_settings_are_current() -> None:
    present = [key for key in PENDING_SETTINGS if _setting_exists(key)]

    assert present == [], f"present now, so delete them from PENDING_SETTINGS: {present}"


def test_readmes_document_settings() -> None:
    keys = _documented_settings("README.md")

    assert "database_url" in keys
    assert "fastagi.allowed_peers" in keys
    assert "api.open_health" in keys


@pytest.mark.parametrize(("document", "target"), _link_cases())
def test_relative_link_exists(document: str, target: str) -> None:
    path = (REPO / document).parent / target.partition("#")[0]

    assert path.exists(), f"{document} links to {target}, which does not exist"


@pytest.mark.parametrize("key", _setting_cases())
def test_documented_setting_exists(key: str) -> None:
    assert _setting_exists(key), f"no setting {key}; callmeter.example.toml lists the settings that exist"
