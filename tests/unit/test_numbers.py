"""Phone numbers normalised to E.164 with NL as the default region."""

from __future__ import annotations

import pytest

from callmeter.errors import InvalidNumber
from callmeter.numbers import display, is_withheld_number, normalise, try_normalise


@pytest.mark.parametrize(
    "raw",
    [
        "0612345678",
        "+31612345678",
        "0031612345678",
        "31612345678",
        "06-12345678",
        "06 1234 5678",
        " 0612345678 ",
    ],
)
def test_dutch_mobile_formats_same_number(raw: str) -> None:
    assert normalise(raw) == "+31612345678"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+32470123456", "+32470123456"),
        ("0032470123456", "+32470123456"),
        ("32470123456", "+32470123456"),
        ("+44 20 7946 0958", "+442079460958"),
        ("038-7370296", "+31387370296"),
    ],
)
def test_foreign_and_landline_numbers(raw: str, e164: str) -> None:
    assert normalise(raw) == e164


@pytest.mark.parametrize("raw", ["abc", "", "12", "0612345678abc", "anonymous", "<unknown>", "0" * 70])
def test_invalid_number_rejected_with_value(raw: str) -> None:
    with pytest.raises(InvalidNumber) as raised:
        normalise(raw)
    assert raised.value.message("nl").startswith("Ongeldig telefoonnummer")
    assert repr(raw) in raised.value.message("nl")


def test_try_normalise_returns_none() -> None:
    assert try_normalise("abc") is None
    assert try_normalise(None) is None
    assert try_normalise("0612345678") == "+31612345678"


@pytest.mark.parametrize(
    "raw", ["", "Anonymous", "UNKNOWN", "<unknown>", "restricted", "private", "unavailable"]
)
def test_withheld_placeholders(raw: str) -> None:
    assert is_withheld_number(raw)


def test_display_dutch_and_foreign() -> None:
    assert display("+31612345678") == "06 12345678"
    assert display("+32470123456") == "+32 470 12 34 56"
