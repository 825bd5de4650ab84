"""One AMI message: an ordered list of headers with case-insensitive lookup.

Asterisk varies header case across events (``Uniqueid`` in channel events,
``UniqueID`` in ``Cdr``) and repeats some headers (``Output``,
``ChanVariable``), so headers stay a list and lookups ignore case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Message:
    headers: list[tuple[str, str]]
    received_at: float = 0.0  # time.time() when the frame was read; event time falls back to it
    # First value per lower-case name, built at the first lookup: many events
    # are filtered by their name alone and never need it.
    _index: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def _lookup(self) -> dict[str, str]:
        index = self._index
        if index is None:
            # Reversed, so that the first of repeated headers wins.
            index = {name.lower(): value for name, value in reversed(self.headers)}
            self._index = index
        return index

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]], received_at: float = 0.0) -> Message:
        return cls(list(pairs), received_at)

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of a header, ignoring case, or default when absent."""
        return self._lookup().get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        """Return every value of a repeated header, in order."""
        wanted = name.lower()
        return [value for header, value in self.headers if header.lower() == wanted]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    @property
    def event(self) -> str | None:
        # Asterisk puts Event first, so the usual case needs no index.
        headers = self.headers
        if headers and headers[0][0] == "Event":
            return headers[0][1]
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    @property
    def uniqueid(self) -> str | None:
        return self.get("Uniqueid")

    @property
    def event_time(self) -> float:
        """Return the event's epoch time: its Timestamp header when present, else arrival time."""
        stamp = self.get("Timestamp")
        if stamp:
            try:
                return float(stamp)
            except ValueError:
                pass
        return self.received_at

    def channel_variables(self) -> dict[str, str]:
        """Return the ChanVariable headers as a dict (``NAME=value`` pairs)."""
        variables: dict[str, str] = {}
        for item in self.get_all("ChanVariable"):
            name, _, value = item.partition("=")
            variables[name] = value
        return variables

    def encode(self) -> bytes:
        """Serialise as an AMI frame ending in a blank line."""
        lines = "".join(f"{name}: {value}\r\n" for name, value in self.headers)
        return (lines + "\r\n").encode("utf-8")
