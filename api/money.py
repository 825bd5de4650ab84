"""Amounts in request bodies: integer cents or euros as text, never a JSON float."""

from __future__ import annotations

from callmeter import i18n
from callmeter.errors import InvalidAmount
from callmeter.money import check_positive, format_cents, parse_euros

i18n.register(
    {
        "api.amount_choice": {
            "nl": (
                "Geef het bedrag als amount_cents (geheel aantal centen) "
                "of als amount (euro's als tekst), niet beide."
            ),
            "en": "Give the amount as amount_cents (whole cents) or as amount (euros as text), not both.",
        },
        "api.correction_amount_zero": {
            "nl": "Ongeldig bedrag {value!r}: een correctie mag niet nul zijn.",
            "en": "Invalid amount {value!r}: a correction must not be zero.",
        },
    }
)


def _cents(amount_cents: int | None, amount: str | None) -> tuple[int, str]:
    """Return the cents and the value as the client sent it."""
    if (amount_cents is None) == (amount is None):
        raise InvalidAmount("api.amount_choice")
    if amount_cents is not None:
        return amount_cents, str(amount_cents)
    assert amount is not None
    return parse_euros(amount), amount


def resolve_topup_amount(amount_cents: int | None, amount: str | None, maximum_cents: int) -> int:
    """Return the cents of a top-up: more than zero and at most the configured maximum."""
    cents, shown = _cents(amount_cents, amount)
    return check_positive(cents, shown, maximum_cents)


def resolve_correction_amount(amount_cents: int | None, amount: str | None, maximum_cents: int) -> int:
    """Return the cents of a correction: not zero, and at most the maximum either way."""
    cents, shown = _cents(amount_cents, amount)
    if cents == 0:
        raise InvalidAmount("api.correction_amount_zero", value=shown)
    if abs(cents) > maximum_cents:
        raise InvalidAmount("error.amount_too_large", value=shown, maximum=format_cents(maximum_cents))
    return cents
