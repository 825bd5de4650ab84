"""Admission's database work: record the call, reserve the grant, undo it on hangup.

These functions are synchronous and each runs one write transaction. The
FastAGI server runs them in its worker threads, so the event loop never
waits on the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callmeter import i18n
from callmeter.admission.verdicts import (
    PROMPTS,
    VERDICTS,
    WARNING_BEFORE_LIMIT_MS,
    Decision,
    Presentation,
    evaluate,
    queue_priority,
)
from callmeter.clock import ensure_utc
from callmeter.customers.service import find_by_number
from callmeter.db import Database
from callmeter.db.models import Call
from callmeter.ledger import service as ledger
from callmeter.numbers import try_normalise
from callmeter.tariffs import Tariff

log = structlog.get_logger(__name__)

# Call states written here. Metering moves "admitted" calls on to "answered" and "ended".
STATE_ADMITTED = "admitted"
STATE_REFUSED = "refused"
STATE_ABANDONED = "abandoned"  # the caller hung up during admission; nothing stays reserved

# Maximum lengths of the caller number and channel name, matching the column sizes of `calls`.
_MAX_CALLER_CHARS = 64
_MAX_CHANNEL_CHARS = 200

i18n.register(
    {
        "reason.repeated": {
            "nl": "Herhaalde toelating van gesprek {uniqueid}: het eerdere besluit ({verdict}) blijft gelden.",
            "en": "Repeated admission of call {uniqueid}: the earlier verdict ({verdict}) stands.",
        },
    }
)


@dataclass(frozen=True, slots=True)
class CallRequest:
    """The facts about one inbound channel that admission decides on."""

    uniqueid: str
    channel: str
    caller_raw: str
    presentation: Presentation
    linkedid: str | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """The decision for one channel and the id of its row in `calls`."""

    call_id: int
    decision: Decision
    repeated: bool  # the uniqueid was admitted before; nothing new was written


class CallAbandoned(Exception):
    """A repeated admission of a call whose earlier admission was abandoned.

    Its reservation is released, and the ledger allows one reservation per
    uniqueid, so the call cannot be admitted again. The server sets no
    verdict, and the dialplan applies its fail policy.
    """


def _decision_from_row(call: Call) -> Decision:
    """Rebuild the channel variables of an earlier admission from its call row."""
    if call.state == STATE_ABANDONED:
        raise CallAbandoned(call.uniqueid)
    verdict = call.verdict if call.verdict in VERDICTS else "closed"
    limit_ms = call.limit_ms
    reason_nl, reason_en = (
        i18n.text("reason.repeated", language, uniqueid=call.uniqueid, verdict=call.verdict)
        for language in i18n.LANGUAGES
    )
    return Decision(
        verdict=verdict,
        helpdesk_id=call.helpdesk_id,
        limit_ms=limit_ms,
        warning_ms=max(limit_ms - WARNING_BEFORE_LIMIT_MS, 0),
        prompt=PROMPTS[verdict],
        queue_priority=queue_priority(call.plan),
        reason_nl=reason_nl,
        reason_en=reason_en,
        caller_e164=call.caller_e164,
        customer_id=call.customer_id,
        plan=None,
    )


def _existing(session: Session, uniqueid: str) -> Call | None:
    return session.scalar(select(Call).where(Call.uniqueid == uniqueid))


def _admit_once(session: Session, tariff: Tariff, request: CallRequest, at: datetime) -> Admission:
    existing = _existing(session, request.uniqueid)
    if existing is not None:
        return Admission(existing.id, _decision_from_row(existing), repeated=True)

    e164 = try_normalise(request.caller_raw)
    # Lock the customer while finding it, so two calls of one customer are
    # serialised before either reads the credit and neither can reserve the same money.
    customer = find_by_number(session, e164, lock=True) if e164 is not None else None
    found = (e164, customer) if e164 is not None else None
    decision = evaluate(session, tariff, request.caller_raw, request.presentation, at, found=found)

    call = Call(
        uniqueid=request.uniqueid,
        linkedid=request.linkedid,
        channel=request.channel[:_MAX_CHANNEL_CHARS],
        caller_raw=request.caller_raw[:_MAX_CALLER_CHARS],
        caller_e164=decision.caller_e164,
        customer_id=decision.customer_id,
        helpdesk_id=decision.helpdesk_id,
        plan=decision.plan,
        verdict=decision.verdict,
        state=STATE_ADMITTED if decision.admitted else STATE_REFUSED,
        admitted_at=ensure_utc(at),
        limit_ms=decision.limit_ms,
    )
    session.add(call)
    session.flush()
    if decision.admitted and decision.reserved_cents > 0:
        assert customer is not None
        ledger.reserve(session, call, decision.reserved_cents, at, locked=customer)
    return Admission(call.id, decision, repeated=False)


def admit(database: Database, tariff: Tariff, request: CallRequest, at: datetime) -> Admission:
    """Decide a call, record it in `calls` and reserve a prepaid grant, in one transaction.

    A repeated uniqueid returns the first decision and writes nothing, so a
    retried AGI never reserves twice.
    """
    try:
        with database.write() as session:
            admission = _admit_once(session, tariff, request, at)
    except IntegrityError:
        # Another process recorded the same uniqueid between our check and our insert.
        with database.read() as session:
            existing = _existing(session, request.uniqueid)
            if existing is None:
                raise
            admission = Admission(existing.id, _decision_from_row(existing), repeated=True)

    decision = admission.decision
    log.info(
        "call.admitted" if decision.admitted else "call.refused",
        uniqueid=request.uniqueid,
        verdict=decision.verdict,
        helpdesk_id=decision.helpdesk_id,
        limit_ms=decision.limit_ms,
        reserved_cents=decision.reserved_cents,
        repeated=admission.repeated,
    )
    return admission


def abandon(database: Database, call_id: int, at: datetime) -> bool:
    """Release the reservation of a call whose caller hung up during admission.

    The row keeps its verdict, moves to state ``abandoned`` and gets
    ``ended_at``. Returns False when the call had already moved on.
    """
    with database.write() as session:
        call = session.get(Call, call_id)
        assert call is not None, f"call {call_id} vanished"
        if call.state != STATE_ADMITTED:
            return False
        ledger.release(session, call, at)
        call.state = STATE_ABANDONED
        call.ended_at = ensure_utc(at)
        session.flush()
    log.info("call.abandoned", uniqueid=call.uniqueid, call_id=call_id, verdict=call.verdict)
    return True
