"""A short-lived, bounded cache of verified bearer tokens, kept per app.

Most API requests come from a few staff tokens, and looking each one up in
the database costs a thread-pool hop and a query per request. A token that
was verified less than ``TOKEN_CACHE_SECONDS`` ago is accepted from memory
instead. So a revoked token keeps working in a running API process for up
to that long after ``callmeter token revoke``. Only tokens that verified are
stored: an unknown or revoked token is looked up in the database on every
request. Entries are keyed by the token's SHA-256, so the cache holds no
plaintext token.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Generic, TypeVar

from callmeter.clock import utc_now

# How long a verified token is trusted without asking the database again,
# and so the longest a revoked token keeps working in a running API.
TOKEN_CACHE_SECONDS: Final = 5.0
# Far more tokens than a helpdesk has staff; beyond it the oldest entry goes.
TOKEN_CACHE_MAX_ENTRIES: Final = 1024

Value = TypeVar("Value")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[Value]):
    value: Value
    verified_at: datetime


class TokenCache(Generic[Value]):
    """Verified tokens by hash, each trusted for ``ttl_seconds`` on the installed clock.

    Not thread-safe: the API uses it from the event loop only.
    """

    def __init__(
        self, ttl_seconds: float = TOKEN_CACHE_SECONDS, max_entries: int = TOKEN_CACHE_MAX_ENTRIES
    ) -> None:
        if ttl_seconds < 0 or max_entries < 1:
            raise ValueError(f"invalid token cache size: ttl {ttl_seconds} s, {max_entries} entries")
        self.ttl = timedelta(seconds=ttl_seconds)
        self.max_entries = max_entries
        # Insertion order is verification order, so the first entry is the oldest.
        self._entries: OrderedDict[str, _Entry[Value]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_hash: str) -> Value | None:
        """Return the value stored for a hash while it is fresh, else None."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        now = utc_now()
        # A clock that went back is treated like an expired entry, so that
        # no entry can outlive its TTL by a clock step.
        if not entry.verified_at <= now < entry.verified_at + self.ttl:
            del self._entries[token_hash]
            return None
        return entry.value

    def put(self, token_hash: str, value: Value, verified_at: datetime) -> None:
        """Store a token verified against the database by a lookup that started at ``verified_at``.

        The TTL counts from the start of the lookup, because a revocation
        committed while it ran may not have been seen.
        """
        if not self.ttl:
            return
        self._entries.pop(token_hash, None)
        while len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
        self._entries[token_hash] = _Entry(value, verified_at)

    def clear(self) -> None:
        self._entries.clear()
