"""Settings, read from a TOML file and from CALLMETER_* environment variables.

The file is ``$CALLMETER_CONFIG`` or, when that is unset, ``./callmeter.toml``
if it exists. Environment variables win over the file; nested keys use a
double underscore (``CALLMETER_AMI__PORT=5038``). Every key is documented in
``callmeter.example.toml``.
"""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from callmeter.errors import ConfigError

Plan = Literal["prepaid", "contract", "postpaid"]
PLANS: tuple[Plan, ...] = ("prepaid", "contract", "postpaid")
HolidayPolicy = Literal["sunday", "closed", "weekday"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Section):
    """A wall-clock interval [start, end) within one day."""

    start: time
    end: time  # time(0) stands for the end of the day (24:00).

    def contains(self, at: time) -> bool:
        if self.end == time(0):
            return at >= self.start
        return self.start <= at < self.end


def _invalid(kind: str, **context: object) -> PydanticCustomError:
    """Build a validation error whose Dutch and English texts are in ``_ALLOWED[kind]``."""
    return PydanticCustomError(kind, _ALLOWED[kind][1], context)


def _parse_window(value: object) -> Window:
    if isinstance(value, Window):
        return value
    if not isinstance(value, str):
        raise _invalid("window_format")
    match = _WINDOW.match(value.strip())
    if match is None:
        raise _invalid("window_format")
    start_hour, start_minute, end_hour, end_minute = (int(g) for g in match.groups())
    if start_hour > 23 or start_minute > 59 or end_minute > 59 or end_hour > 24:
        raise _invalid("window_range")
    if end_hour == 24 and end_minute != 0:
        raise _invalid("window_latest_end")
    start = time(start_hour, start_minute)
    # "00:00" as an end is read as midnight at the end of the day, like "24:00".
    end = time(0) if end_hour == 24 else time(end_hour, end_minute)
    if end != time(0) and end <= start:
        raise _invalid("window_order")
    return Window(start=start, end=end)


class DayZones(_Section):
    """The zone windows of one weekday."""

    zone1: tuple[Window, ...] = ()
    zone2: tuple[Window, ...] = ()

    @field_validator("zone1", "zone2", mode="before")
    @classmethod
    def _windows(cls, value: object) -> tuple[Window, ...]:
        if not isinstance(value, list | tuple):
            raise _invalid("window_list")
        return tuple(_parse_window(item) for item in value)

    @model_validator(mode="after")
    def _no_overlap(self) -> DayZones:
        windows = sorted(self.zone1 + self.zone2, key=lambda w: w.start)
        for earlier, later in itertools.pairwise(windows):
            if earlier.end == time(0) or later.start < earlier.end:
                raise _invalid("window_overlap")
        return self


def _default_zones() -> dict[str, DayZones]:
    weekday = DayZones.model_validate({"zone1": ["09:00-18:00"], "zone2": ["18:00-21:00"]})
    return {
        "monday": weekday,
        "tuesday": weekday,
        "wednesday": weekday,
        "thursday": weekday,
        "friday": weekday,
        "saturday": DayZones.model_validate({"zone1": ["09:00-12:00"], "zone2": ["12:00-17:00"]}),
        "sunday": DayZones.model_validate({"zone2": ["10:00-17:00"]}),
    }


class PlanRates(_Section):
    """Price of one block per zone, in euro-cents."""

    zone1: int = Field(ge=0, le=100_000)
    zone2: int = Field(ge=0, le=100_000)


def _default_rates() -> dict[str, PlanRates]:
    return {
        "prepaid": PlanRates(zone1=500, zone2=750),
        "contract": PlanRates(zone1=500, zone2=750),
        "postpaid": PlanRates(zone1=750, zone2=1125),
    }


class FastAgiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=4573, ge=0, le=65535)
    allowed_peers: tuple[str, ...] = ("127.0.0.1",)
    session_timeout_seconds: float = Field(default=2.0, gt=0, le=30)


class AmiSettings(_Section):
    """The Asterisk Manager Interface link; the reconnect backoff doubles from min to max."""

    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = "callmeter"
    secret: str = ""
    tls: bool = False
    tls_ca_file: str | None = None
    ping_interval_seconds: float = Field(default=5.0, gt=0, le=300)
    ping_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    action_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    reconnect_min_seconds: float = Field(default=1.0, gt=0, le=600)
    reconnect_max_seconds: float = Field(default=60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _backoff_order(self) -> AmiSettings:
        if self.reconnect_max_seconds < self.reconnect_min_seconds:
            raise _invalid("backoff_order")
        return self


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    open_health: bool = False
    session_secret: str = ""
    session_https_only: bool = True


class MeteringSettings(_Section):
    cutoff_slack_seconds: float = Field(default=2.0, ge=0, le=60)
    # A block timer charges a block this long after the block starts, so that a
    # Hangup sent just before the start, still on the network or in the PBX's
    # output, reaches the meter first. One second covers a loaded LAN and PBX.
    # It is measured on the installed clock, so a simulator running faster than
    # real time needs a proportionally larger value; hence the high bound.
    charge_settle_seconds: float = Field(default=1.0, ge=0, le=600)
    credit_exhausted_context: str = "callmeter-credit-exhausted"
    credit_exhausted_extension: str = "s"
    credit_exhausted_priority: int = Field(default=1, ge=1)


class Settings(BaseSettings):
    """All settings of one callmeter process."""

    model_config = SettingsConfigDict(
        env_prefix="CALLMETER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    language: Literal["nl", "en"] = "nl"
    timezone: str = "Europe/Amsterdam"
    database_url: str = "sqlite:///./callmeter.db"

    zones: dict[str, DayZones] = Field(default_factory=_default_zones)
    rates: dict[str, PlanRates] = Field(default_factory=_default_rates)
    block_seconds: int = Field(default=300, ge=1, le=3600)
    grace_seconds: int = Field(default=0, ge=0, le=3600)
    holiday_policy: HolidayPolicy = "sunday"
    ignored_holidays: tuple[str, ...] = ()
    max_call_minutes: int = Field(default=120, ge=1, le=24 * 60)
    ring_timeout_seconds: int = Field(default=600, ge=0, le=3600)
    max_topup_cents: int = Field(default=10_000_000, ge=1)

    fastagi: FastAgiSettings = FastAgiSettings()
    ami: AmiSettings = AmiSettings()
    api: ApiSettings = ApiSettings()
    metering: MeteringSettings = MeteringSettings()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise _invalid("timezone_unknown") from error
        return value

    @field_validator("zones")
    @classmethod
    def _all_weekdays(cls, value: dict[str, DayZones]) -> dict[str, DayZones]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise _invalid("weekday_unknown", name=unknown[0], allowed=", ".join(WEEKDAYS))
        merged = _default_zones()
        merged.update(value)
        return merged

    @field_validator("rates")
    @classmethod
    def _all_plans(cls, value: dict[str, PlanRates]) -> dict[str, PlanRates]:
        unknown = sorted(set(value) - set(PLANS))
        if unknown:
            raise _invalid("plan_unknown", name=unknown[0], allowed=", ".join(PLANS))
        merged = _default_rates()
        merged.update(value)
        return merged

    @property
    def zone_info(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def max_call_seconds(self) -> int:
        return self.max_call_minutes * 60

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def config_path() -> Path | None:
    """Return the config file to read, or None when there is none."""
    configured = os.environ.get("CALLMETER_CONFIG")
    if configured:
        return Path(configured)
    default = Path("callmeter.toml")
    return default if default.is_file() else None


# Dutch and English descriptions of what a setting allows, per pydantic error type.
_ALLOWED: dict[str, tuple[str, str]] = {
    "greater_than_equal": ("toegestaan is {ge} of meer", "allowed is {ge} or more"),
    "greater_than": ("toegestaan is meer dan {gt}", "allowed is more than {gt}"),
    "less_than_equal": ("toegestaan is {le} of minder", "allowed is {le} or less"),
    "less_than": ("toegestaan is minder dan {lt}", "allowed is less than {lt}"),
    "literal_error": ("toegestaan: {expected}", "allowed: {expected}"),
    "int_parsing": ("geef een geheel getal", "give a whole number"),
    "int_from_float": ("geef een geheel getal", "give a whole number"),
    "int_type": ("geef een geheel getal", "give a whole number"),
    "float_parsing": ("geef een getal", "give a number"),
    "bool_parsing": ("geef true of false", "give true or false"),
    "bool_type": ("geef true of false", "give true or false"),
    "string_type": ("geef tekst tussen aanhalingstekens", "give text in quotes"),
    "extra_forbidden": (
        "onbekende sleutel; zie callmeter.example.toml voor de sleutels die bestaan",
        "unknown key; see callmeter.example.toml for the keys that exist",
    ),
    # Raised by the validators in this module through _invalid().
    "window_format": (
        "geef een venster als 'UU:MM-UU:MM', bijvoorbeeld '09:00-18:00'",
        "give a window as 'HH:MM-HH:MM', for example '09:00-18:00'",
    ),
    "window_range": (
        "uren lopen van 00 tot 24 en minuten van 00 tot 59",
        "hours run from 00 to 24 and minutes from 00 to 59",
    ),
    "window_latest_end": ("24:00 is het laatste einde", "24:00 is the latest end"),
    "window_order": ("het einde moet na het begin liggen", "the end must be after the start"),
    "window_list": (
        'geef een lijst van vensters, zoals ["09:00-18:00"]',
        'give a list of windows, such as ["09:00-18:00"]',
    ),
    "window_overlap": (
        "de zonevensters van één dag mogen elkaar niet overlappen",
        "the zone windows of one day must not overlap",
    ),
    "timezone_unknown": (
        "geef een IANA-tijdzone zoals Europe/Amsterdam",
        "give an IANA time zone such as Europe/Amsterdam",
    ),
    "weekday_unknown": (
        "onbekende weekdag {name!r}; toegestaan: {allowed}",
        "unknown weekday {name!r}; allowed: {allowed}",
    ),
    "plan_unknown": (
        "onbekend abonnement {name!r}; toegestaan: {allowed}",
        "unknown plan {name!r}; allowed: {allowed}",
    ),
    "backoff_order": (
        "reconnect_max_seconds moet minstens reconnect_min_seconds zijn",
        "reconnect_max_seconds must be at least reconnect_min_seconds",
    ),
}


def _describe(error: dict[str, Any]) -> tuple[str, object, str, str]:
    """Return the key, the value and what is allowed, in Dutch and English."""
    key = ".".join(str(part) for part in error["loc"]) or "(root)"
    value = error.get("input")
    context = {name: str(item) for name, item in error.get("ctx", {}).items()}
    templates = _ALLOWED.get(error["type"])
    if templates is None:
        # A pydantic error type without a translation: show pydantic's English text in both.
        message = str(error["msg"]).removeprefix("Value error, ")
        return key, value, message, message
    dutch_context = dict(context)
    if "expected" in dutch_context:
        # pydantic lists the allowed literals as "'a', 'b' or 'c'".
        dutch_context["expected"] = dutch_context["expected"].replace(" or ", " of ")
    return key, value, templates[0].format(**dutch_context), templates[1].format(**context)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings, raising ConfigError on the first problem."""
    path = config_path()
    if path is not None:
        try:
            with path.open("rb") as handle:
                tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError("error.config_file", path=path, reason="file not found") from None
        except (tomllib.TOMLDecodeError, OSError) as error:
            raise ConfigError("error.config_file", path=path, reason=str(error)) from None
    try:
        return Settings(**overrides)
    except ValidationError as error:
        key, value, allowed_nl, allowed_en = _describe(dict(error.errors()[0]))
        raise ConfigError(
            "error.config", key=key, value=value, allowed_nl=allowed_nl, allowed_en=allowed_en
        ) from None
