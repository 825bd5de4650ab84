"""Request and response bodies of the API.

Request bodies are strict: an integer field takes only a JSON integer, so
12.5 and 12.0 are rejected rather than rounded, and a text field takes only
a JSON string. Money is integer cents; each amount also comes formatted
for people, in the language of the request.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

PlanName = Literal["prepaid", "contract", "postpaid"]
LanguageCode = Literal["nl", "en"]
Verdict = Literal["closed", "withheld", "unknown_number", "blocked", "no_credit", "admitted"]


def printable(value: str) -> str:
    """Reject control characters and lone surrogates, which no database column should get."""
    for character in value:
        category = unicodedata.category(character)
        if category == "Cc" or category == "Cs":
            raise PydanticCustomError("control_characters", "control characters are not allowed")
    return value


# Text fields are stripped of surrounding whitespace before their length is checked.
HelpdeskIdText = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    Field(strict=True, min_length=1, max_length=32, examples=["HD-1001"]),
    AfterValidator(printable),
]
NameText = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    Field(strict=True, min_length=1, max_length=200, examples=["Bakkerij De Vries"]),
    AfterValidator(printable),
]
NumberText = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    Field(strict=True, min_length=1, max_length=64, examples=["06-12345678"]),
    AfterValidator(printable),
]
ReferenceText = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    Field(strict=True, min_length=1, max_length=200, examples=["F2026-0412"]),
    AfterValidator(printable),
]
ReasonText = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    Field(strict=True, min_length=1, max_length=1000, examples=["Dubbel geboekt"]),
    AfterValidator(printable),
]
AmountText = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    Field(strict=True, min_length=1, max_length=32, examples=["12,50"]),
    AfterValidator(printable),
]


def _date_text_only(value: object) -> object:
    """Let only text through to date parsing; lax mode would read a number as a Unix time."""
    if isinstance(value, str | date):
        return value
    raise PydanticCustomError("date_type", "Input should be a valid date")


# JSON has no date type, so a date arrives as text. It is parsed in lax mode
# (strict mode would refuse any text), and only text is let through.
DateText = Annotated[date, Field(strict=False, examples=["2027-01-31"]), BeforeValidator(_date_text_only)]
# Bounded so that a value never reaches a BigInteger column unchecked. The
# routers then check the configured maximum, with a clearer message.
Cents = Annotated[StrictInt, Field(ge=-(10**15), le=10**15, examples=[1250])]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# Customers


class NumberOut(BaseModel):
    e164: str = Field(description="The number in E.164.", examples=["+31612345678"])
    display: str = Field(description="The number as a Dutch reader writes it.", examples=["06 12345678"])


class CustomerOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "helpdesk_id": "HD-1001",
                    "name": "Bakkerij De Vries",
                    "plan": "prepaid",
                    "blocked": False,
                    "access_valid_until": None,
                    "language": "nl",
                    "numbers": [{"e164": "+31612345678", "display": "06 12345678"}],
                    "created_at": "2026-12-01T10:00:00+01:00",
                }
            ]
        }
    )

    helpdesk_id: str
    name: str
    plan: PlanName
    blocked: bool
    access_valid_until: date | None = Field(description="The last day the customer may call; null is no end.")
    language: LanguageCode
    numbers: list[NumberOut]
    created_at: datetime


class CustomerPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "helpdesk_id": "HD-1001",
                            "name": "Bakkerij De Vries",
                            "plan": "prepaid",
                            "blocked": False,
                            "access_valid_until": None,
                            "language": "nl",
                            "numbers": [{"e164": "+31612345678", "display": "06 12345678"}],
                            "created_at": "2026-12-01T10:00:00+01:00",
                        }
                    ],
                    "total": 1,
                    "limit": 50,
                    "offset": 0,
                }
            ]
        }
    )

    items: list[CustomerOut]
    total: int = Field(description="How many customers match, over all pages.")
    limit: int
    offset: int


class CustomerCreate(_Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"helpdesk_id": "HD-1001", "name": "Bakkerij De Vries", "plan": "prepaid", "language": "nl"}
            ]
        }
    )

    helpdesk_id: HelpdeskIdText
    name: NameText
    plan: PlanName = "prepaid"
    language: LanguageCode = "nl"
    access_valid_until: DateText | None = None


class CustomerChange(_Request):
    """Fields to change; a field left out stays as it is, and access_valid_until null clears the end date."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"blocked": True}, {"plan": "contract"}]})

    name: NameText | None = None
    plan: PlanName | None = None
    blocked: StrictBool | None = None
    access_valid_until: DateText | None = None
    language: LanguageCode | None = None


class NumberCreate(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"number": "06-12345678"}]})

    number: NumberText = Field(description="A phone number in any format; Dutch when it has no country code.")


# Money


class BalanceOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "helpdesk_id": "HD-1001",
                    "plan": "prepaid",
                    "balance_cents": 2500,
                    "reserved_cents": 1000,
                    "available_cents": 1500,
                    "balance": "€ 25,00",
                    "reserved": "€ 10,00",
                    "available": "€ 15,00",
                    "grant_seconds": 900,
                    "grant_minutes": 15,
                    "at": "2026-12-08T10:00:00+01:00",
                }
            ]
        }
    )

    helpdesk_id: str
    plan: PlanName
    balance_cents: int = Field(description="The sum of top-ups, charges and corrections.")
    reserved_cents: int = Field(description="Credit held for calls in progress.")
    available_cents: int = Field(description="Balance minus reserved: what a new call may use.")
    balance: str
    reserved: str
    available: str
    grant_seconds: int = Field(description="Metered time the available credit buys for a call admitted now.")
    grant_minutes: int
    at: datetime


class TopUpCreate(_Request):
    """A paid invoice to credit: give amount_cents (integer) or amount (euros as text), not both."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"amount": "12,50", "invoice_reference": "F2026-0412"},
                {"amount_cents": 5000, "invoice_reference": "F2026-0413"},
            ]
        }
    )

    amount_cents: Cents | None = Field(default=None, description="Whole cents, more than zero.")
    amount: AmountText | None = Field(default=None, description="Euros as text: '12,50', '12.50' or '50'.")
    invoice_reference: ReferenceText


class CorrectionCreate(_Request):
    """A correction of an earlier entry: a signed amount and a reason."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"amount_cents": -500, "reason": "Dubbel geboekt"},
                {"amount": "5,00", "reason": "Gesprek viel weg door storing"},
            ]
        }
    )

    amount_cents: Cents | None = Field(
        default=None, description="Whole cents, not zero; negative takes credit away."
    )
    amount: AmountText | None = Field(default=None, description="Euros as text, may start with '-'.")
    reason: ReasonText


class LedgerEntryOut(BaseModel):
    id: int
    kind: Literal["topup", "reservation", "release", "charge", "correction"]
    amount_cents: int
    amount: str
    balance_after_cents: int = Field(
        description="The balance after this entry; reservations and releases do not change it."
    )
    balance_after: str
    reference: str | None
    reason: str | None
    actor: str
    call_id: int | None
    corrects_id: int | None
    created_at: datetime


class TopUpOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "created": True,
                    "entry_id": 17,
                    "helpdesk_id": "HD-1001",
                    "amount_cents": 1250,
                    "amount": "€ 12,50",
                    "reference": "F2026-0412",
                    "balance_cents": 3750,
                    "balance": "€ 37,50",
                }
            ]
        }
    )

    created: bool = Field(description="False when this Idempotency-Key was already posted: nothing changed.")
    entry_id: int
    helpdesk_id: str
    amount_cents: int
    amount: str
    reference: str | None
    balance_cents: int
    balance: str


class CorrectionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "created": True,
                    "entry_id": 18,
                    "corrects_id": 17,
                    "helpdesk_id": "HD-1001",
                    "amount_cents": -500,
                    "amount": "-€ 5,00",
                    "reason": "Dubbel geboekt",
                    "balance_cents": 3250,
                    "balance": "€ 32,50",
                }
            ]
        }
    )

    created: bool
    entry_id: int
    corrects_id: int
    helpdesk_id: str
    amount_cents: int
    amount: str
    reason: str
    balance_cents: int
    balance: str


_ENTRY_EXAMPLE: JsonDict = {
    "id": 17,
    "kind": "topup",
    "amount_cents": 1250,
    "amount": "€ 12,50",
    "balance_after_cents": 3750,
    "balance_after": "€ 37,50",
    "reference": "F2026-0412",
    "reason": None,
    "actor": "api:balie",
    "call_id": None,
    "corrects_id": None,
    "created_at": "2026-12-08T10:00:00+01:00",
}


class LedgerPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"helpdesk_id": "HD-1001", "items": [_ENTRY_EXAMPLE], "total": 1, "limit": 100, "offset": 0}
            ]
        }
    )

    helpdesk_id: str
    items: list[LedgerEntryOut]
    total: int
    limit: int
    offset: int


# Calls


class CallOut(BaseModel):
    id: int
    uniqueid: str = Field(description="The Asterisk Uniqueid of the inbound channel.")
    helpdesk_id: str | None
    caller: str = Field(description="The caller number as received.")
    caller_e164: str | None
    plan: str | None
    verdict: str
    state: str = Field(description="admitted, answered, ended or refused.")
    admitted_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    limit_ms: int
    metered_ms: int
    blocks_charged: int
    charged_cents: int
    end_estimated: bool
    cut_off: bool


_CALL_EXAMPLE: JsonDict = {
    "id": 42,
    "uniqueid": "1765213020.17",
    "helpdesk_id": "HD-1001",
    "caller": "0612345678",
    "caller_e164": "+31612345678",
    "plan": "prepaid",
    "verdict": "admitted",
    "state": "ended",
    "admitted_at": "2026-12-08T17:56:40+01:00",
    "answered_at": "2026-12-08T17:57:00+01:00",
    "ended_at": "2026-12-08T18:04:10+01:00",
    "limit_ms": 1800000,
    "metered_ms": 430000,
    "blocks_charged": 2,
    "charged_cents": 1250,
    "end_estimated": False,
    "cut_off": False,
}


class CallPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_CALL_EXAMPLE], "total": 1, "limit": 50, "offset": 0}]}
    )

    items: list[CallOut]
    total: int
    limit: int
    offset: int


class BlockOut(BaseModel):
    n: int
    starts_at: datetime
    zone: int | None = Field(description="1 normal, 2 high, null outside hours (priced as zone 2).")
    rate_cents: int
    rate: str


class CallDetail(CallOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_CALL_EXAMPLE,
                    "blocks": [
                        {
                            "n": 0,
                            "starts_at": "2026-12-08T17:57:00+01:00",
                            "zone": 1,
                            "rate_cents": 500,
                            "rate": "€ 5,00",
                        },
                        {
                            "n": 1,
                            "starts_at": "2026-12-08T18:02:00+01:00",
                            "zone": 2,
                            "rate_cents": 750,
                            "rate": "€ 7,50",
                        },
                    ],
                }
            ]
        }
    )

    blocks: list[BlockOut]


class ActiveCall(CallOut):
    metered_ms_now: int = Field(description="Metered time so far: now minus answered_at, 0 while ringing.")
    grant_left_ms: int = Field(description="The limit minus the metered time so far.")


class ActiveCalls(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "at": "2026-12-08T18:00:00+01:00",
                    "items": [
                        {
                            **_CALL_EXAMPLE,
                            "state": "answered",
                            "ended_at": None,
                            "metered_ms": 0,
                            "blocks_charged": 1,
                            "charged_cents": 500,
                            "metered_ms_now": 180000,
                            "grant_left_ms": 1620000,
                        }
                    ],
                }
            ]
        }
    )

    at: datetime
    items: list[ActiveCall]


# Lookup and tariff


class LookupCustomer(BaseModel):
    helpdesk_id: str
    name: str
    plan: PlanName
    blocked: bool


class LookupOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "0612345678",
                    "e164": "+31612345678",
                    "customer": {
                        "helpdesk_id": "HD-1001",
                        "name": "Bakkerij De Vries",
                        "plan": "prepaid",
                        "blocked": False,
                    },
                    "verdict": "admitted",
                    "limit_ms": 1800000,
                    "reason": "De beller wordt doorverbonden.",
                    "at": "2026-12-08T10:00:00+01:00",
                }
            ]
        }
    )

    number: str
    e164: str | None
    customer: LookupCustomer | None
    verdict: Verdict
    limit_ms: int
    reason: str = Field(
        description="Why the caller would be admitted or refused now, in the response language."
    )
    at: datetime


class TariffOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "at": "2026-12-08T17:57:00+01:00",
                    "open": True,
                    "zone": 1,
                    "holiday": None,
                    "rates_cents": {"prepaid": 500, "contract": 500, "postpaid": 750},
                    "rates": {"prepaid": "€ 5,00", "contract": "€ 5,00", "postpaid": "€ 7,50"},
                    "block_seconds": 300,
                }
            ]
        }
    )

    at: datetime
    open: bool
    zone: int | None = Field(description="1 normal, 2 high, null when the line is closed.")
    holiday: str | None
    rates_cents: dict[str, int] = Field(description="Price of a block starting at this time, per plan.")
    rates: dict[str, str]
    block_seconds: int


class HealthOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "database": "ok",
                    "ami": "connected",
                    "ami_since": "2026-12-08T08:00:00+01:00",
                    "ami_last_error": None,
                    "fastagi": "listening",
                    "fastagi_address": "127.0.0.1:4573",
                }
            ]
        }
    )

    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
    ami: Literal["disabled", "connecting", "connected", "down"]
    ami_since: datetime | None
    ami_last_error: str | None
    fastagi: Literal["disabled", "listening", "stopped"]
    fastagi_address: str | None
