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
    _index: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, value in self.headers:
            self._index.setdefault(name.lower(), value)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]], received_at: float = 0.0) -> Message:
        return cls(list(pairs), received_at)

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of a header, ignoring case, or default when absent."""
        return self._index.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        """Return every value of a repeated header, in order."""
        wanted = name.lower()
        return [value for header, value in self.headers if header.lower() == wanted]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    @property
    def event(self) -> str | None:
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
