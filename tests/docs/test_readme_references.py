"""The READMEs link to files that exist and name settings that exist."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.docs.cli_commands import DOCS, REPO
from tests.docs.settings_keys import setting_exists

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
        for target in sorted(set(_LINK.findall(_text(document)))):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            cases.append(pytest.param(document, target, id=f"{document}:{target}"))
    return cases


def _documented_settings(document: str) -> set[str]:
    text = _text(document)
    keys = set(_DOTTED_SETTING.findall(text))
    for table in _SETTINGS_TABLE.findall(text):
        for row in table.splitlines()[1:]:  # the first line is |---|---|
            first_cell = row.split("|")[1]
            keys.update(key for key in _CODE.findall(first_cell) if not key.startswith("."))
    return {key.rstrip(".") for key in keys}


def _setting_cases() -> list[Any]:
    cases = []
    for document in _documents():
        for key in sorted(_documented_settings(document)):
            cases.append(pytest.param(key, id=f"{document}:{key}"))
    return cases


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
    assert setting_exists(key), f"no setting {key}; callmeter.example.toml lists the settings that exist"
