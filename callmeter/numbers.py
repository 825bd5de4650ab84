"""Phone numbers: parsing caller numbers into E.164 with phonenumbers.

Numbers without a country code are read as Dutch. A trunk that drops the
leading plus sends ``31612345678``; such a number is read as international
when it is not a valid Dutch national number but is valid with a plus.
"""

from __future__ import annotations

import phonenumbers

from callmeter import i18n
from callmeter.errors import InvalidNumber

DEFAULT_REGION = "NL"

i18n.register(
    {
        "error.number_invalid": {
            "nl": (
                "Ongeldig telefoonnummer {value!r}: geef een Nederlands nummer zoals "
                "0612345678 of een internationaal nummer met landcode zoals +32470123456."
            ),
            "en": (
                "Invalid phone number {value!r}: give a Dutch number such as 0612345678 "
                "or an international number with its country code such as +32470123456."
            ),
        },
    }
)

WITHHELD_NUMBERS = frozenset(
    {"", "anonymous", "unknown", "<unknown>", "restricted", "private", "unavailable"}
)


def is_withheld_number(raw: str | None) -> bool:
    """Tell whether a caller number is one of the placeholders for 'no number'."""
    return (raw or "").strip().casefold() in WITHHELD_NUMBERS


def _parse(candidate: str) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(candidate, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


# Maximum length of the text accepted as a phone number. E.164 has at most 15
# digits, so 64 characters leave room for spaces, dashes and an international
# prefix. It is also the size of the column that stores the number as typed.
MAX_RAW_LENGTH = 64


def normalise(raw: str) -> str:
    """Return the E.164 form of a phone number, or raise InvalidNumber."""
    cleaned = raw.strip()
    if not cleaned or len(cleaned) > MAX_RAW_LENGTH or is_withheld_number(cleaned):
        raise InvalidNumber("error.number_invalid", value=raw)
    digits = "".join(ch for ch in cleaned if ch.isdigit())
    parsed = _parse(cleaned)
    if parsed is None and cleaned[0].isdigit() and not cleaned.startswith("0"):
        # A trunk that drops the '+' (31612345678), or a national number
        # without its leading zero (612345678) as some PBXes send it.
        parsed = _parse("+" + digits) or _parse("0" + digits)
    if parsed is None:
        raise InvalidNumber("error.number_invalid", value=raw)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalise(raw: str | None) -> str | None:
    """Return the E.164 form, or None when the number cannot be parsed."""
    if raw is None:
        return None
    try:
        return normalise(raw)
    except InvalidNumber:
        return None


def display(e164: str) -> str:
    """Format an E.164 number the way a Dutch reader expects to see it."""
    parsed = phonenumbers.parse(e164, DEFAULT_REGION)
    if parsed.country_code == 31:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
