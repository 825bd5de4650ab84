"""Parsing euro amounts typed by people, and formatting cents."""

from __future__ import annotations

import pytest

from callmeter.errors import InvalidAmount
from callmeter.money import check_positive, format_cents, parse_cents, parse_euros


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("50", 5000),
        ("50,00", 5000),
        ("12.50", 1250),
        ("12,5", 1250),
        (" 7,05 ", 705),
        ("€ 12,50", 1250),
        ("0,01", 1),
        ("-5", -500),
    ],
)
def test_parse_euros_accepts(text: str, cents: int) -> None:
    assert parse_euros(text) == cents


@pytest.mark.parametrize(
    "text", ["abc", "1e9", "12,345", "NaN", "", "1.234,50", "12,", ",5", "5 euro", "inf"]
)
def test_parse_euros_rejects_with_value(text: str) -> None:
    with pytest.raises(InvalidAmount) as raised:
        parse_euros(text)
    assert repr(text) in raised.value.message("nl")
    assert raised.value.message("nl").startswith("Ongeldig bedrag")


def test_parse_cents() -> None:
    assert parse_cents("500") == 500
    assert parse_cents("-250") == -250
    for text in ("5.00", "abc", "", "1e3"):
        with pytest.raises(InvalidAmount):
            parse_cents(text)


def test_check_positive_rejects_zero_and_negative() -> None:
    for cents, shown in ((0, "0"), (-500, "-5")):
        with pytest.raises(InvalidAmount) as raised:
            check_positive(cents, shown, 10_000)
        assert f"'{shown}'" in raised.value.message("nl")
        assert "groter zijn dan nul" in raised.value.message("nl")


def test_check_positive_rejects_above_maximum() -> None:
    with pytest.raises(InvalidAmount) as raised:
        check_positive(10_001, "100,01", 10_000)
    assert "€ 100,00" in raised.value.message("nl")
    assert check_positive(10_000, "100", 10_000) == 10_000


@pytest.mark.parametrize(
    ("cents", "dutch", "english"),
    [
        (1250, "€ 12,50", "€12.50"),
        (0, "€ 0,00", "€0.00"),
        (123_456_78, "€ 123.456,78", "€123,456.78"),
        (-505, "-€ 5,05", "-€5.05"),
    ],
)
def test_format_cents(cents: int, dutch: str, english: str) -> None:
    assert format_cents(cents) == dutch
    assert format_cents(cents, "en") == english
