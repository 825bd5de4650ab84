"""The one clock of callmeter.

Every function that needs "now" either takes the instant as an argument or
calls :func:`utc_now`, which tests fix with freezegun. Nothing else in the
package reads the system time for business decisions.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def ensure_utc(at: datetime) -> datetime:
    """Convert an aware datetime to UTC, rejecting naive ones.

    A naive datetime has no defined instant, and guessing its zone is how
    billing bugs start, so it is a programming error here.
    """
    assert at.tzinfo is not None, f"naive datetime {at!r} has no time zone"
    return at.astimezone(UTC)
