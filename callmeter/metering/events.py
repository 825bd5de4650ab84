"""Reading the AMI events that metering acts on.

Nothing here depends on channel technology names: the recordings use
``Local/…`` channels, production trunks ``PJSIP/…``. Calls are matched by
``Uniqueid`` and their legs grouped by ``Linkedid``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from callmeter.ami.message import Message

# Events that move the state of an inbound channel.
CALL_EVENTS = frozenset({"dialend", "agentconnect", "bridgeenter", "bridgeleave", "hangup"})

# Every event the meter acts on, in lower case. The meter drops any other event before
# a header lookup. Newchannel gives each channel's Linkedid, which ties a leg's Cdr to
# its call. In the ``read = all`` recordings these are about one event in ten. The rest
# (VarSet, CEL, Newexten, DeviceStateChange, ...) carry nothing metering uses, so the
# AMI client is given this set and skips them before it parses them.
METERED_EVENTS = CALL_EVENTS | {"cdr", "newchannel"}

# Headers that differ between two deliveries of the same Cdr and so stay out of its fingerprint.
_CDR_VOLATILE = frozenset({"privilege", "timestamp", "actionid"})


def event_name(message: Message) -> str:
    return (message.event or "").lower()


def event_datetime(message: Message) -> datetime:
    """Return the event's instant: its Timestamp header when present, else its arrival."""
    return datetime.fromtimestamp(message.event_time, UTC)


def has_timestamp(message: Message) -> bool:
    return bool(message.get("Timestamp"))


def epoch_datetime(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


def is_answered_dial(message: Message) -> bool:
    """Tell whether a DialEnd reports that the dialled party answered."""
    return (message.get("DialStatus") or "").upper() == "ANSWER"


def cdr_uniqueid(message: Message) -> str | None:
    """Return the channel a Cdr belongs to (``UniqueID``, any case)."""
    return message.get("UniqueID")


def cdr_billable_seconds(message: Message) -> int | None:
    value = (message.get("BillableSeconds") or "").strip()
    return int(value) if value.isdigit() else None


def cdr_fingerprint(message: Message) -> str:
    """Hash a Cdr's content, so the same record delivered twice is stored once."""
    parts = sorted(
        f"{name.lower()}={value}" for name, value in message.headers if name.lower() not in _CDR_VOLATILE
    )
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def cdr_raw(message: Message) -> str:
    return "".join(f"{name}: {value}\n" for name, value in message.headers)


_UNIQUEID = re.compile(r"(\d+)\.\d+$")


def uniqueid_epoch(uniqueid: str | None) -> int | None:
    """Return the epoch second in an Asterisk Uniqueid (``[systemname-]<epoch>.<sequence>``)."""
    match = _UNIQUEID.search(uniqueid or "")
    return int(match.group(1)) if match else None


def parse_duration(value: str | None) -> timedelta | None:
    """Parse a CoreShowChannel ``Duration`` (``HH:MM:SS``, or plain seconds)."""
    if not value:
        return None
    text = value.strip()
    try:
        if ":" not in text:
            return timedelta(seconds=int(text))
        hours, minutes, seconds = (int(part) for part in text.split(":"))
    except ValueError:
        return None
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)
