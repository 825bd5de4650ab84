"""Dutch and English texts for everything a person reads or hears.

Each domain module registers its own catalogue with :func:`register`, so a
message lives next to the code that raises it. Dutch is the default
language; English is the second.
"""

from __future__ import annotations

from typing import Final, Literal

Language = Literal["nl", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("nl", "en")
DEFAULT_LANGUAGE: Final[Language] = "nl"

_catalogue: dict[str, dict[Language, str]] = {}


def register(messages: dict[str, dict[Language, str]]) -> None:
    """Add message templates, keyed by message id, to the catalogue."""
    for message_id, texts in messages.items():
        assert set(texts) == set(LANGUAGES), f"{message_id} needs both nl and en"
        assert message_id not in _catalogue or _catalogue[message_id] == texts, (
            f"message id {message_id} registered twice with different texts"
        )
        _catalogue[message_id] = texts


def text(message_id: str, language: str = DEFAULT_LANGUAGE, **params: object) -> str:
    """Render one message in the requested language, falling back to Dutch."""
    texts = _catalogue[message_id]
    chosen: Language = "en" if language == "en" else "nl"
    return texts[chosen].format(**params)


def has(message_id: str) -> bool:
    """Tell whether a message id is registered."""
    return message_id in _catalogue


def parse_language(value: str | None) -> Language:
    """Map a language setting or option to a supported language."""
    if value is None:
        return DEFAULT_LANGUAGE
    normalised = value.strip().lower()[:2]
    return "en" if normalised == "en" else "nl"


def preferred_language(accept_language: str | None) -> Language:
    """Pick nl or en from an HTTP Accept-Language header, defaulting to nl."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        weight = 1.0
        for piece in pieces[1:]:
            name, _, value = piece.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        ranked.append((-weight, position, tag))
    for _, _, tag in sorted(ranked):
        if tag.startswith("nl"):
            return "nl"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE
