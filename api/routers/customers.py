"""Customers, their numbers, their balance, top-ups and ledger."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import AfterValidator
from starlette.concurrency import run_in_threadpool

from api.convert import as_plan, customer_out, load_customer, local
from api.dependencies import Authenticated, Context, Language, parse_optional_instant, require_write
from api.money import resolve_topup_amount
from api.problems import problem_responses
from api.queries import customer_credit, ledger_page
from api.schemas import (
    BalanceOut,
    CustomerChange,
    CustomerCreate,
    CustomerOut,
    CustomerPage,
    LedgerEntryOut,
    LedgerPage,
    NumberCreate,
    TopUpCreate,
    TopUpOut,
    printable,
)
from callmeter.clock import utc_now
from callmeter.customers import service as customers
from callmeter.customers.service import parse_helpdesk_id
from callmeter.db import Database
from callmeter.errors import InvalidInput, UnknownCustomer
from callmeter.ledger import service as ledger
from callmeter.money import format_cents
from callmeter.settings import Plan

router = APIRouter(tags=["customers"])

# The maximum number of rows in one page, so that one request stays cheap.
MAX_PAGE: Final = 500
# Offsets beyond this are refused rather than sent to the database, where
# a value past 2^63 would overflow.
MAX_OFFSET: Final = 1_000_000_000

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=ledger.MAX_KEY_LENGTH,
        pattern=r"^[!-~]+$",
        description=f"A key of 1 to {ledger.MAX_KEY_LENGTH} visible ASCII characters, new for each new posting.",
        examples=["topup-F2026-0412"],
    ),
]

READ = problem_responses(401, 422)
READ_ONE = problem_responses(401, 404, 422)
WRITE = problem_responses(401, 403, 404, 422)


@router.get(
    "/customers",
    summary="Search customers",
    description=(
        "Find customers by helpdesk ID, name or a phone number in any format. "
        "Without `q` every customer is listed. Paginated with `limit` and `offset`."
    ),
    responses=READ,
)
def search_customers(
    context: Context,
    _caller: Authenticated,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Helpdesk ID, name or number."),
        AfterValidator(printable),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CustomerPage:
    with context.database.read() as session:
        rows, total = customers.search_customers(session, q, limit, offset)
        items = [customer_out(row, context.settings) for row in rows]
    return CustomerPage(items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/customers",
    status_code=status.HTTP_201_CREATED,
    summary="Create a customer",
    description="Create a customer with a new helpdesk ID. Register numbers afterwards.",
    responses={**WRITE, **problem_responses(409)},
)
def create_customer(context: Context, caller: Authenticated, body: CustomerCreate) -> CustomerOut:
    require_write(caller)
    with context.database.write() as session:
        customer = customers.create_customer(
            session,
            helpdesk_id=body.helpdesk_id,
            name=body.name,
            plan=body.plan,
            language=body.language,
            access_valid_until=body.access_valid_until,
        )
        return customer_out(customer, context.settings)


@router.get(
    "/customers/{helpdesk_id}",
    summary="Show a customer",
    description="Show a customer with the registered numbers.",
    responses=READ_ONE,
)
def get_customer(context: Context, _caller: Authenticated, helpdesk_id: str) -> CustomerOut:
    with context.database.read() as session:
        return customer_out(load_customer(session, helpdesk_id), context.settings)


@router.patch(
    "/customers/{helpdesk_id}",
    summary="Change a customer",
    description=(
        "Change the name, plan, blocked flag, access end date or language. Fields left out stay as they are; "
        "`access_valid_until: null` removes the end date."
    ),
    responses=WRITE,
)
def change_customer(
    context: Context, caller: Authenticated, helpdesk_id: str, body: CustomerChange
) -> CustomerOut:
    require_write(caller)
    changes = customers.CustomerChanges(
        name=body.name,
        plan=body.plan,
        blocked=body.blocked,
        language=body.language,
        access_valid_until=body.access_valid_until,
        clear_access_valid_until="access_valid_until" in body.model_fields_set
        and body.access_valid_until is None,
    )
    with context.database.write() as session:
        customer = load_customer(session, helpdesk_id)
        customer = customers.update_customer(session, customer.helpdesk_id, changes)
        return customer_out(customer, context.settings)


@router.post(
    "/customers/{helpdesk_id}/numbers",
    status_code=status.HTTP_201_CREATED,
    summary="Register a number",
    description=(
        "Register a phone number to a customer. Any format is accepted and stored in E.164; "
        "a number belongs to at most one customer."
    ),
    responses={**WRITE, **problem_responses(409)},
)
def add_number(context: Context, caller: Authenticated, helpdesk_id: str, body: NumberCreate) -> CustomerOut:
    require_write(caller)
    with context.database.write() as session:
        customer = load_customer(session, helpdesk_id)
        customers.add_number(session, customer.helpdesk_id, body.number)
        session.refresh(customer)
        return customer_out(customer, context.settings)


@router.delete(
    "/customers/{helpdesk_id}/numbers/{number}",
    summary="Remove a number",
    description="Unregister a phone number, given in any format, from a customer.",
    responses=WRITE,
)
def remove_number(context: Context, caller: Authenticated, helpdesk_id: str, number: str) -> CustomerOut:
    require_write(caller)
    with context.database.write() as session:
        customer = load_customer(session, helpdesk_id)
        customers.remove_number(session, customer.helpdesk_id, number)
        session.refresh(customer)
        return customer_out(customer, context.settings)


@router.get(
    "/customers/{helpdesk_id}/balance",
    summary="Show the balance",
    description=(
        "Balance, reserved and available credit in cents and formatted for the request language, "
        "and the metered time the available credit buys for a call admitted now."
    ),
    responses=READ_ONE,
)
async def get_balance(
    context: Context, _caller: Authenticated, language: Language, helpdesk_id: str
) -> BalanceOut:
    # Async, so that the request makes one thread-pool hop, for the database
    # read. The grant and the response are cheap enough for the event loop.
    now = utc_now()
    helpdesk, plan, credit = await run_in_threadpool(_read_credit, context.database, helpdesk_id)
    grant = context.tariff.grant(plan, now, credit.available_cents)
    return BalanceOut(
        helpdesk_id=helpdesk,
        plan=plan,
        balance_cents=credit.balance_cents,
        reserved_cents=credit.reserved_cents,
        available_cents=credit.available_cents,
        balance=format_cents(credit.balance_cents, language),
        reserved=format_cents(credit.reserved_cents, language),
        available=format_cents(credit.available_cents, language),
        grant_seconds=grant.grant_seconds,
        grant_minutes=grant.grant_seconds // 60,
        at=local(now, context.settings),
    )


def _read_credit(database: Database, helpdesk_id: str) -> tuple[str, Plan, ledger.Credit]:
    try:
        normalised = parse_helpdesk_id(helpdesk_id)
    except InvalidInput:
        raise UnknownCustomer("error.unknown_customer", helpdesk_id=helpdesk_id) from None
    with database.read_connection() as connection:
        found = customer_credit(connection, normalised)
    if found is None:
        raise UnknownCustomer("error.unknown_customer", helpdesk_id=helpdesk_id)
    return found.helpdesk_id, as_plan(found.plan), found.credit


@router.post(
    "/customers/{helpdesk_id}/top-ups",
    status_code=status.HTTP_201_CREATED,
    summary="Record a top-up",
    description=(
        "Credit a paid invoice. Give `amount_cents` as a JSON integer or `amount` as euros in text "
        "('12,50'); JSON numbers with a fraction are rejected. The `Idempotency-Key` header is required: "
        "repeating a request with the same key credits once and answers 200, and the same key with "
        "another amount or invoice is a 409."
    ),
    responses={
        200: {"model": TopUpOut, "description": "This Idempotency-Key was posted before; nothing changed."},
        **WRITE,
        **problem_responses(409),
    },
)
def post_top_up(
    context: Context,
    caller: Authenticated,
    language: Language,
    response: Response,
    helpdesk_id: str,
    idempotency_key: IdempotencyKey,
    body: TopUpCreate,
) -> TopUpOut:
    amount_cents = resolve_topup_amount(body.amount_cents, body.amount, context.settings.max_topup_cents)
    require_write(caller)
    with context.database.write() as session:
        customer = load_customer(session, helpdesk_id)
        entry, created = ledger.top_up(
            session,
            customer.id,
            amount_cents,
            reference=body.invoice_reference,
            idempotency_key=idempotency_key,
            actor=f"api:{caller.name}",
            at=utc_now(),
        )
        balance = ledger.balance_cents(session, customer.id)
        result = TopUpOut(
            created=created,
            entry_id=entry.id,
            helpdesk_id=customer.helpdesk_id,
            amount_cents=entry.amount_cents,
            amount=format_cents(entry.amount_cents, language),
            reference=entry.reference,
            balance_cents=balance,
            balance=format_cents(balance, language),
        )
    if not created:
        response.status_code = status.HTTP_200_OK
    return result


@router.get(
    "/customers/{helpdesk_id}/ledger",
    summary="List ledger entries",
    description=(
        "The customer's ledger, oldest first, each entry with the balance after it. `from` and `to` are "
        "ISO 8601 times (without an offset they are Amsterdam time); `to` is exclusive."
    ),
    responses=READ_ONE,
)
def get_ledger(
    context: Context,
    _caller: Authenticated,
    language: Language,
    helpdesk_id: str,
    since: Annotated[str | None, Query(alias="from", max_length=64, examples=["2026-12-01"])] = None,
    until: Annotated[str | None, Query(alias="to", max_length=64, examples=["2027-01-01"])] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> LedgerPage:
    since_at = parse_optional_instant(since, context.settings)
    until_at = parse_optional_instant(until, context.settings)
    with context.database.read() as session:
        customer = load_customer(session, helpdesk_id)
        rows, total = ledger_page(session, customer.id, since_at, until_at, limit, offset)
        items = [
            LedgerEntryOut(
                id=row.entry.id,
                kind=row.entry.kind,
                amount_cents=row.entry.amount_cents,
                amount=format_cents(row.entry.amount_cents, language),
                balance_after_cents=row.balance_after_cents,
                balance_after=format_cents(row.balance_after_cents, language),
                reference=row.entry.reference,
                reason=row.entry.reason,
                actor=row.entry.actor,
                call_id=row.entry.call_id,
                corrects_id=row.entry.corrects_id,
                created_at=local(row.entry.created_at, context.settings),
            )
            for row in rows
        ]
        return LedgerPage(
            helpdesk_id=customer.helpdesk_id, items=items, total=total, limit=limit, offset=offset
        )
