"""Staff bearer tokens for the HTTP API and the web page."""

from callmeter.tokens.service import (
    InsufficientScope,
    InvalidToken,
    Scope,
    create,
    list_tokens,
    revoke,
    verify,
)

__all__ = ["InsufficientScope", "InvalidToken", "Scope", "create", "list_tokens", "revoke", "verify"]
