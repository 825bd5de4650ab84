"""Money is integer euro-cents. This module parses and formats it."""

from __future__ import annotations

import re

from callmeter import i18n
from callmeter.errors import InvalidAmount

i18n.register(
    {
        "error.amount_format": {
            "nl": (
                "Ongeldig bedrag {value!r}: geef euro's als 50, 50,00 of 12.50 "
                "(hooguit twee decimalen), of een geheel aantal centen."
            ),
            "en": (
                "Invalid amount {value!r}: give euros as 50, 50,00 or 12.50 "
                "(at most two decimals), or a whole number of cents."
            ),
        },
        "error.amount_not_positive": {
            "nl": "Ongeldig bedrag {value!r}: het bedrag moet groter zijn dan nul.",
            "en": "Invalid amount {value!r}: the amount must be more than zero.",
        },
        "error.amount_too_large": {
            "nl": "Ongeldig bedrag {value!r}: het maximum is {maximum}.",
            "en": "Invalid amount {value!r}: the maximum is {maximum}.",
        },
    }
)

# Euros with an optional sign, then either a comma or a point with one or two
# decimals. Thousands separators are rejected on purpose: "12,345" could mean
# twelve thousand or twelve euros, and a wrong guess moves real money.
# re.ASCII limits \d to 0-9, because otherwise "١٢" (Arabic-Indic digits) would be read as 12.
# Up to 15 whole digits parse, so that an absurd amount gets the message about the maximum.
_EUROS = re.compile(r"^(?P<sign>-?)(?P<whole>\d{1,15})(?:[.,](?P<fraction>\d{1,2}))?$", re.ASCII)
_CENTS = re.compile(r"^-?\d{1,12}$", re.ASCII)


def parse_euros(value: str) -> int:
    """Parse a euro amount typed by a person into cents (may be negative).

    A leading euro sign is allowed ("€ 12,50"); thousands separators are not.
    """
    match = _EUROS.match(value.strip().removeprefix("€").strip())
    if match is None:
        raise InvalidAmount("error.amount_format", value=value)
    cents = int(match["whole"]) * 100 + int((match["fraction"] or "0").ljust(2, "0"))
    return -cents if match["sign"] else cents


def parse_cents(value: str) -> int:
    """Parse a whole number of cents given as text."""
    if _CENTS.match(value.strip()) is None:
        raise InvalidAmount("error.amount_format", value=value)
    return int(value.strip())


def check_positive(cents: int, shown: str, maximum_cents: int) -> int:
    """Reject amounts of zero or less and amounts above the maximum."""
    if cents <= 0:
        raise InvalidAmount("error.amount_not_positive", value=shown)
    if cents > maximum_cents:
        raise InvalidAmount("error.amount_too_large", value=shown, maximum=format_cents(maximum_cents))
    return cents


def format_cents(cents: int, language: str = i18n.DEFAULT_LANGUAGE) -> str:
    """Format cents as a person reads money: '€ 1.234,50' in Dutch, '€1,234.50' in English."""
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    if language == "en":
        return f"{sign}€{whole:,}.{fraction:02d}"
    grouped = f"{whole:,}".replace(",", ".")
    return f"{sign}€ {grouped},{fraction:02d}"
