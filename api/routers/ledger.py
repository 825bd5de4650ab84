"""Corrections of ledger entries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.dependencies import Authenticated, Context, Language, require_write
from api.money import resolve_correction_amount
from api.problems import problem_responses
from api.routers.customers import IdempotencyKey
from api.schemas import CorrectionCreate, CorrectionOut
from callmeter.clock import utc_now
from callmeter.db.models import Customer
from callmeter.ledger import service as ledger
from callmeter.money import format_cents

router = APIRouter(tags=["ledger"])

# Ids are 32-bit integers in the database; a larger id is refused before the query.
EntryId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The id of the entry to correct.")]


@router.post(
    "/ledger/{entry_id}/corrections",
    status_code=status.HTTP_201_CREATED,
    summary="Correct a ledger entry",
    description=(
        "Post a correction that points to an earlier entry; nothing is changed or deleted. A negative amount "
        "takes credit away and may take the balance below zero. A reason is required, and so is the "
        "`Idempotency-Key` header: the same key again answers 200 without posting twice."
    ),
    responses={
        200: {
            "model": CorrectionOut,
            "description": "This Idempotency-Key was posted before; nothing changed.",
        },
        **problem_responses(401, 403, 404, 409, 422),
    },
)
def post_correction(
    context: Context,
    caller: Authenticated,
    language: Language,
    response: Response,
    entry_id: EntryId,
    idempotency_key: IdempotencyKey,
    body: CorrectionCreate,
) -> CorrectionOut:
    amount_cents = resolve_correction_amount(body.amount_cents, body.amount, context.settings.max_topup_cents)
    require_write(caller)
    with context.database.write() as session:
        entry, created = ledger.correct(
            session,
            entry_id,
            amount_cents,
            reason=body.reason,
            actor=f"api:{caller.name}",
            idempotency_key=idempotency_key,
            at=utc_now(),
        )
        customer = session.get(Customer, entry.customer_id)
        assert customer is not None
        balance = ledger.balance_cents(session, customer.id)
        assert entry.corrects_id is not None
        result = CorrectionOut(
            created=created,
            entry_id=entry.id,
            corrects_id=entry.corrects_id,
            helpdesk_id=customer.helpdesk_id,
            amount_cents=entry.amount_cents,
            amount=format_cents(entry.amount_cents, language),
            reason=entry.reason or "",
            balance_cents=balance,
            balance=format_cents(balance, language),
        )
    if not created:
        response.status_code = status.HTTP_200_OK
    return result
