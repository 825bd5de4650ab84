"""The error hierarchy of callmeter.

``CallmeterError`` is the one base. Each domain declares its subclasses next
to its code. An error carries a stable machine ``code``, a message id and
the parameters of its message, so the CLI and the API can render it in
Dutch or English. The API maps ``http_status`` to the response status in one
place; the CLI exits with code 2 for every ``CallmeterError``.

    CallmeterError
    ├── ConfigError              invalid setting or config file
    ├── InvalidInput             a value a person typed is not acceptable
    │   ├── InvalidAmount
    │   ├── InvalidNumber
    │   └── InvalidTime
    ├── NotFound
    │   ├── UnknownCustomer
    │   ├── UnknownEntry
    │   ├── UnknownCall
    │   └── NumberNotRegistered
    ├── Conflict
    │   ├── DuplicateCustomer
    │   ├── DuplicateNumber
    │   ├── DuplicateInvoice
    │   └── IdempotencyConflict
    ├── InsufficientCredit
    └── SchemaOutdated
"""

from __future__ import annotations

from typing import ClassVar

from callmeter import i18n

i18n.register(
    {
        "error.config": {
            "nl": "Ongeldige instelling {key} = {value!r}: {allowed_nl}.",
            "en": "Invalid setting {key} = {value!r}: {allowed_en}.",
        },
        "error.config_file": {
            "nl": "Configuratiebestand {path} kan niet worden gelezen: {reason}.",
            "en": "Cannot read config file {path}: {reason}.",
        },
        "error.schema_outdated": {
            "nl": (
                "Het databaseschema is niet actueel (nu {current}, nodig {head}). "
                "Voer eerst 'callmeter db upgrade' uit."
            ),
            "en": (
                "The database schema is not current (at {current}, need {head}). "
                "Run 'callmeter db upgrade' first."
            ),
        },
    }
)


class CallmeterError(Exception):
    """Base of every expected, reportable failure."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400

    def __init__(self, message_id: str, **params: object) -> None:
        self.message_id = message_id
        self.params = params
        super().__init__(self.message("en"))

    def message(self, language: str = i18n.DEFAULT_LANGUAGE) -> str:
        """Render the human message in Dutch (default) or English."""
        return i18n.text(self.message_id, language, **self.params)


class ConfigError(CallmeterError):
    code = "invalid_config"


class InvalidInput(CallmeterError):
    code = "invalid_input"
    http_status = 422


class InvalidAmount(InvalidInput):
    code = "invalid_amount"


class InvalidNumber(InvalidInput):
    code = "invalid_number"


class InvalidTime(InvalidInput):
    code = "invalid_time"


class NotFound(CallmeterError):
    code = "not_found"
    http_status = 404


class UnknownCustomer(NotFound):
    code = "unknown_customer"


class UnknownEntry(NotFound):
    code = "unknown_entry"


class UnknownCall(NotFound):
    code = "unknown_call"


class NumberNotRegistered(NotFound):
    code = "number_not_registered"


class Conflict(CallmeterError):
    code = "conflict"
    http_status = 409


class DuplicateCustomer(Conflict):
    code = "duplicate_customer"


class DuplicateNumber(Conflict):
    code = "duplicate_number"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class DuplicateInvoice(Conflict):
    code = "duplicate_invoice"


class InsufficientCredit(CallmeterError):
    code = "insufficient_credit"
    http_status = 409


class SchemaOutdated(CallmeterError):
    code = "schema_outdated"
    http_status = 503
