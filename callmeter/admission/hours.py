"""Opening hours as a person reads them, for the reason given with a `closed` verdict."""

from __future__ import annotations

from datetime import date, time

from callmeter import i18n
from callmeter.settings import WEEKDAYS, DayZones
from callmeter.tariffs import Tariff

i18n.register(
    {
        "hours.closed_all_week": {"nl": "nooit open", "en": "never open"},
        "hours.holiday_sunday": {
            "nl": " Vandaag is het {name}; dan gelden de tijden van zondag.",
            "en": " Today is {name}, when the Sunday hours apply.",
        },
        "hours.holiday_closed": {
            "nl": " Vandaag is het {name}; dan is de lijn gesloten.",
            "en": " Today is {name}, when the line is closed.",
        },
    }
)

DAY_ABBREVIATIONS = {
    "nl": ("ma", "di", "wo", "do", "vr", "za", "zo"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def _clock(at: time, is_end: bool) -> str:
    if is_end and at == time(0):
        return "24:00"
    return at.strftime("%H:%M")


def _day_text(zones: DayZones) -> str:
    """Join a day's zone windows into opening spans, merging windows that touch."""
    spans: list[list[time]] = []
    for window in sorted(zones.zone1 + zones.zone2, key=lambda item: item.start):
        if spans and spans[-1][1] == window.start:
            spans[-1][1] = window.end
        else:
            spans.append([window.start, window.end])
    return ", ".join(f"{_clock(start, False)}–{_clock(end, True)}" for start, end in spans)


def weekly_hours(tariff: Tariff, language: str) -> str:
    """Describe the weekly opening hours, grouping consecutive days with the same hours.

    With the shipped zones this reads "ma–vr 09:00–21:00, za 09:00–17:00, zo 10:00–17:00".
    """
    names = DAY_ABBREVIATIONS["en" if language == "en" else "nl"]
    texts = [_day_text(tariff.settings.zones[day]) for day in WEEKDAYS]
    groups: list[tuple[int, int, str]] = []
    for index, text in enumerate(texts):
        if groups and groups[-1][2] == text and groups[-1][1] == index - 1:
            groups[-1] = (groups[-1][0], index, text)
        else:
            groups.append((index, index, text))

    parts = []
    for first, last, text in groups:
        if not text:
            continue
        days = names[first] if first == last else f"{names[first]}–{names[last]}"
        parts.append(f"{days} {text}")
    return ", ".join(parts) if parts else i18n.text("hours.closed_all_week", language)


def holiday_note(tariff: Tariff, day: date, language: str) -> str:
    """Return a sentence about today's public holiday when it changes the hours, else ''."""
    name = tariff.holiday_name(day)
    policy = tariff.settings.holiday_policy
    if name is None or policy == "weekday":
        return ""
    message_id = "hours.holiday_closed" if policy == "closed" else "hours.holiday_sunday"
    return i18n.text(message_id, language, name=name)


__all__ = ["holiday_note", "weekly_hours"]
