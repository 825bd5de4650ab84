"""Calls: the history, the calls in progress and one call with its blocks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator

from api.convert import call_fields, call_out, local
from api.dependencies import Authenticated, Context, Language, parse_optional_instant
from api.problems import problem_responses
from api.queries import active_calls, call_page, call_with_blocks
from api.routers.customers import Limit, Offset
from api.schemas import ActiveCall, ActiveCalls, BlockOut, CallDetail, CallPage, Verdict, printable
from callmeter import i18n
from callmeter.clock import utc_now
from callmeter.errors import UnknownCall
from callmeter.money import format_cents

router = APIRouter(tags=["calls"])

i18n.register(
    {
        "api.unknown_call": {
            "nl": "Onbekend gesprek #{call_id}: zoek het id op met GET /calls.",
            "en": "Unknown call #{call_id}: look the id up with GET /calls.",
        },
    }
)

CallId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The id of the call.")]


@router.get(
    "/calls",
    summary="List calls",
    description=(
        "Calls newest first, admitted and refused, filtered by helpdesk ID, verdict and admission time "
        "(`from` inclusive, `to` exclusive, ISO 8601, Amsterdam time without an offset)."
    ),
    responses=problem_responses(401, 422),
)
def list_calls(
    context: Context,
    _caller: Authenticated,
    helpdesk_id: Annotated[
        str | None, Query(max_length=32, examples=["HD-1001"]), AfterValidator(printable)
    ] = None,
    verdict: Verdict | None = None,
    since: Annotated[str | None, Query(alias="from", max_length=64, examples=["2026-12-08"])] = None,
    until: Annotated[str | None, Query(alias="to", max_length=64, examples=["2026-12-09"])] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CallPage:
    since_at = parse_optional_instant(since, context.settings)
    until_at = parse_optional_instant(until, context.settings)
    helpdesk = helpdesk_id.strip().upper() if helpdesk_id is not None else None
    with context.database.read() as session:
        rows, total = call_page(session, helpdesk, verdict, since_at, until_at, limit, offset)
        items = [call_out(row, context.settings) for row in rows]
    return CallPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/calls/active",
    summary="List calls in progress",
    description=(
        "Calls that are admitted (ringing) or answered, with the metered time so far (now minus the answer "
        "time), the blocks charged and the grant left."
    ),
    responses=problem_responses(401),
)
def list_active_calls(context: Context, _caller: Authenticated) -> ActiveCalls:
    now = utc_now()
    with context.database.read() as session:
        items = []
        for call in active_calls(session):
            metered_ms = 0
            if call.answered_at is not None:
                metered_ms = max(0, int((now - call.answered_at).total_seconds() * 1000))
            items.append(
                ActiveCall.model_validate(
                    {
                        **call_fields(call, context.settings),
                        "metered_ms_now": metered_ms,
                        "grant_left_ms": max(0, call.limit_ms - metered_ms),
                    }
                )
            )
    return ActiveCalls(at=local(now, context.settings), items=items)


@router.get(
    "/calls/{call_id}",
    summary="Show a call",
    description="One call with its charged blocks: the start, zone and rate of each.",
    responses=problem_responses(401, 404, 422),
)
def get_call(context: Context, _caller: Authenticated, language: Language, call_id: CallId) -> CallDetail:
    with context.database.read() as session:
        call = call_with_blocks(session, call_id)
        if call is None:
            raise UnknownCall("api.unknown_call", call_id=call_id)
        blocks = [
            BlockOut(
                n=block.n,
                starts_at=local(block.starts_at, context.settings),
                zone=block.zone,
                rate_cents=block.rate_cents,
                rate=format_cents(block.rate_cents, language),
            )
            for block in call.blocks
        ]
        return CallDetail.model_validate({**call_fields(call, context.settings), "blocks": blocks})
