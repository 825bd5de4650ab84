"""Staff bearer tokens: create, verify, list and revoke.

A token is shown once, when it is created. The database stores only the
SHA-256 hash of it, so a copy of the database does not hand out access.
A read token may only read. A write token may also change customers and
post top-ups and corrections.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Final, Literal

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callmeter import i18n
from callmeter.clock import ensure_utc, utc_now
from callmeter.db.models import ApiToken
from callmeter.errors import CallmeterError, Conflict, InvalidInput, NotFound

log = structlog.get_logger(__name__)

Scope = Literal["read", "write"]
SCOPES: Final[tuple[Scope, ...]] = ("read", "write")

# The prefix makes a leaked token easy to recognise in logs and secret scanners.
TOKEN_PREFIX: Final = "cm_"  # noqa: S105 (a public prefix, not a secret)
# 32 random bytes: far beyond guessing, and short enough to paste into curl.
TOKEN_BYTES: Final = 32
# Longer than any token this module creates, so hashing a huge header is skipped.
MAX_TOKEN_LENGTH: Final = 200

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

i18n.register(
    {
        "error.token_name_invalid": {
            "nl": "Ongeldige tokennaam {value!r}: gebruik 1 tot 100 letters, cijfers, punten of streepjes.",
            "en": "Invalid token name {value!r}: use 1 to 100 letters, digits, dots or dashes.",
        },
        "error.token_scope_invalid": {
            "nl": "Ongeldige scope {value!r}: kies read of write.",
            "en": "Invalid scope {value!r}: choose read or write.",
        },
        "error.duplicate_token": {
            "nl": "Er bestaat al een token met de naam {name!r}: kies een andere naam.",
            "en": "A token named {name!r} already exists: choose another name.",
        },
        "error.unknown_token": {
            "nl": "Onbekend token {name!r}: bekijk de namen met 'callmeter token list'.",
            "en": "Unknown token {name!r}: see the names with 'callmeter token list'.",
        },
        "error.token_missing": {
            "nl": "Geen token meegestuurd: stuur de header 'Authorization: Bearer <token>'.",
            "en": "No token sent: send the header 'Authorization: Bearer <token>'.",
        },
        "error.token_invalid": {
            "nl": "Het token is ongeldig of ingetrokken: vraag een beheerder om een nieuw token.",
            "en": "The token is invalid or revoked: ask an administrator for a new token.",
        },
        "error.token_scope": {
            "nl": "Token {name!r} mag alleen lezen: voor wijzigingen is een token met scope write nodig.",
            "en": "Token {name!r} may only read: changes need a token with scope write.",
        },
    }
)


class DuplicateToken(Conflict):
    code = "duplicate_token"


class UnknownToken(NotFound):
    code = "unknown_token"


class InvalidToken(CallmeterError):
    """The request carries no token, an unknown one or a revoked one."""

    code = "invalid_token"
    http_status = 401


class InsufficientScope(CallmeterError):
    """A read token was used for a change."""

    code = "insufficient_scope"
    http_status = 403


def hash_token(plaintext: str) -> str:
    """Return the hex SHA-256 of a token, the only form that is stored."""
    return hashlib.sha256(plaintext.encode("utf-8", "replace")).hexdigest()


def parse_scope(value: str) -> Scope:
    candidate = value.strip().lower()
    if candidate == "read":
        return "read"
    if candidate == "write":
        return "write"
    raise InvalidInput("error.token_scope_invalid", value=value)


def create(session: Session, name: str, scope: str, at: datetime | None = None) -> tuple[str, ApiToken]:
    """Create a token and return its plaintext (shown once) and its row."""
    if not _NAME.match(name):
        raise InvalidInput("error.token_name_invalid", value=name)
    checked_scope = parse_scope(scope)
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise DuplicateToken("error.duplicate_token", name=name)

    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken(
        name=name,
        scope=checked_scope,
        token_hash=hash_token(plaintext),
        created_at=ensure_utc(at or utc_now()),
    )
    try:
        with session.begin_nested():
            session.add(token)
            session.flush()
    except IntegrityError:
        raise DuplicateToken("error.duplicate_token", name=name) from None

    log.info("token.created", name=name, scope=checked_scope)
    return plaintext, token


def verify(session: Session, plaintext: str) -> ApiToken | None:
    """Return the active token with this plaintext, or None.

    The lookup goes by hash, which an attacker cannot steer towards a
    stored hash. The final comparison is constant-time all the same.
    """
    if not plaintext or len(plaintext) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_token(plaintext)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None:
        return None
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    """List every token, revoked ones included, by name."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)).all())


def revoke(session: Session, name: str, at: datetime | None = None) -> ApiToken:
    """Revoke a token by name; revoking a revoked token changes nothing."""
    token = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None:
        raise UnknownToken("error.unknown_token", name=name)
    if token.revoked_at is None:
        token.revoked_at = ensure_utc(at or utc_now())
        session.flush()
        log.info("token.revoked", name=name)
    return token


def require_scope(token: ApiToken, scope: Scope) -> None:
    """Raise InsufficientScope unless the token may act with this scope."""
    if scope == "write" and token.scope != "write":
        raise InsufficientScope("error.token_scope", name=token.name)
