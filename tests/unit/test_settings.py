"""Settings from a TOML file and the environment, and the Dutch errors for bad values."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from callmeter.db import normalise_url
from callmeter.errors import ConfigError
from callmeter.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "callmeter.test.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CALLMETER_CONFIG", str(path))
    return path


def config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> ConfigError:
    write_config(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    return raised.value


def test_toml_file_from_callmeter_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        tmp_path,
        monkeypatch,
        'block_seconds = 60\nholiday_policy = "closed"\n[rates.prepaid]\nzone1 = 400\nzone2 = 600\n'
        '[zones.sunday]\nzone2 = ["11:00-15:00"]\n',
    )
    settings = load_settings()
    assert settings.block_seconds == 60
    assert settings.holiday_policy == "closed"
    assert settings.rates["prepaid"].zone1 == 400
    assert settings.rates["postpaid"].zone2 == 1125
    assert settings.zones["sunday"].zone2[0].start == time(11)
    assert settings.zones["monday"].zone1[0].start == time(9)


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, "block_seconds = 60\n")
    monkeypatch.setenv("CALLMETER_BLOCK_SECONDS", "120")
    monkeypatch.setenv("CALLMETER_AMI__PORT", "5039")
    monkeypatch.setenv("CALLMETER_DATABASE_URL", "postgresql://u@127.0.0.1/x")
    settings = load_settings()
    assert settings.block_seconds == 120
    assert settings.ami.port == 5039
    assert settings.database_url == "postgresql://u@127.0.0.1/x"


def test_callmeter_toml_in_working_directory(tmp_path: Path) -> None:
    (tmp_path / "callmeter.toml").write_text('language = "en"\n', encoding="utf-8")
    assert load_settings().language == "en"


def test_example_config_equals_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    monkeypatch.setenv("CALLMETER_CONFIG", str(REPO / "callmeter.example.toml"))
    example = load_settings()
    assert example.model_dump() == defaults.model_dump()
    assert defaults.model_dump() == Settings().model_dump()


@pytest.mark.parametrize(
    ("text", "key", "value", "allowed"),
    [
        ("block_seconds = 0\n", "block_seconds", "0", "toegestaan is 1 of meer"),
        ('holiday_policy = "soms"\n', "holiday_policy", "'soms'", "'sunday', 'closed' of 'weekday'"),
        (
            '[zones.monday]\nzone1 = ["09:00-18:00"]\nzone2 = ["17:00-21:00"]\n',
            "zones.monday",
            "17:00-21:00",
            "mogen elkaar niet overlappen",
        ),
        ("colour = 1\n", "colour", "1", "onbekende sleutel"),
        ('timezone = "Mars/Olympus"\n', "timezone", "'Mars/Olympus'", "IANA-tijdzone"),
        ('[zones.monday]\nzone1 = ["9-18"]\n', "zones.monday.zone1", "'9-18'", "'UU:MM-UU:MM'"),
        ("[rates.gold]\nzone1 = 1\nzone2 = 2\n", "rates", "gold", "prepaid, contract, postpaid"),
    ],
)
def test_invalid_value_dutch_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, key: str, value: str, allowed: str
) -> None:
    message = config_error(tmp_path, monkeypatch, text).message("nl")
    assert message.startswith("Ongeldige instelling"), message
    assert key in message, message
    assert value in message, message
    assert allowed in message, message


def test_invalid_value_english_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(tmp_path, monkeypatch, 'holiday_policy = "soms"\n').message("en")
    assert message == "Invalid setting holiday_policy = 'soms': allowed: 'sunday', 'closed' or 'weekday'."


def test_invalid_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLMETER_BLOCK_SECONDS", "abc")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "block_seconds = 'abc'" in raised.value.message("nl")
    assert "geheel getal" in raised.value.message("nl")


def test_missing_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLMETER_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "missing.toml" in raised.value.message("nl")


def test_broken_toml_names_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    error = config_error(tmp_path, monkeypatch, "block_seconds = = 3\n")
    assert "callmeter.test.toml" in error.message("nl")


def test_backoff_order_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    error = config_error(
        tmp_path, monkeypatch, "[ami]\nreconnect_min_seconds = 10\nreconnect_max_seconds = 5\n"
    )
    assert "reconnect_max_seconds" in error.message("nl")
    assert error.params["key"] == "ami"


def test_window_to_midnight_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch, '[zones.friday]\nzone1 = ["09:00-18:00"]\nzone2 = ["18:00-24:00"]\n')
    window = load_settings().zones["friday"].zone2[0]
    assert window.contains(time(23, 59, 59))
    assert not window.contains(time(17, 59))


def test_database_url_default_and_postgres_normalised() -> None:
    assert Settings().database_url == "sqlite:///./callmeter.db"
    assert normalise_url("postgresql://u@127.0.0.1/x") == "postgresql+psycopg://u@127.0.0.1/x"
    assert normalise_url("postgresql+psycopg://u@127.0.0.1/x") == "postgresql+psycopg://u@127.0.0.1/x"
    assert normalise_url("sqlite:///./callmeter.db") == "sqlite:///./callmeter.db"
