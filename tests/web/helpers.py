"""Shared setup of the web tests: a customer with history, tokens and a login."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from callmeter.clock import utc_now
from callmeter.customers.service import add_number, create_customer
from callmeter.db import Database
from callmeter.db.models import Call, CallBlock
from callmeter.ledger.service import top_up
from callmeter.tokens.service import create

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def seed_customer(database: Database, at: datetime | None = None) -> None:
    """Create HD-1001 (prepaid, € 50,00, number 06-12345678) with one call and one refusal."""
    now = at or utc_now()
    with database.write() as session:
        customer = create_customer(session, "HD-1001", "Jansen Installatietechniek", "prepaid")
        add_number(session, "HD-1001", "06-12345678")
        top_up(session, customer.id, 5000, "F-2026-001", "seed-topup-1", "test", now - timedelta(days=2))
        call = Call(
            uniqueid="1700000000.1",
            caller_raw="0612345678",
            caller_e164="+31612345678",
            customer_id=customer.id,
            helpdesk_id="HD-1001",
            plan="prepaid",
            verdict="admitted",
            state="ended",
            admitted_at=now - timedelta(days=1, minutes=1),
            answered_at=now - timedelta(days=1),
            ended_at=now - timedelta(days=1) + timedelta(minutes=7),
            limit_ms=3_600_000,
            metered_ms=420_000,
            blocks_charged=2,
            charged_cents=1250,
        )
        session.add(call)
        session.flush()
        session.add(CallBlock(call_id=call.id, n=0, starts_at=now - timedelta(days=1), zone=1, rate_cents=500))
        session.add(
            CallBlock(call_id=call.id, n=1, starts_at=now - timedelta(days=1, minutes=-5), zone=2, rate_cents=750)
        )
        session.add(
            Call(
                uniqueid="1700000000.2",
                caller_raw="0612345678",
                caller_e164="+31612345678",
                customer_id=customer.id,
                helpdesk_id="HD-1001",
                plan="prepaid",
                verdict="no_credit",
                state="refused",
                admitted_at=now - timedelta(hours=3),
            )
        )


def create_token(database: Database, name: str, scope: str) -> str:
    with database.write() as session:
        plaintext, _ = create(session, name, scope)
    return plaintext


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "page has no CSRF field"
    return match.group(1)


def log_in(client: TestClient, token: str) -> None:
    page = client.get("/web/login")
    response = client.post("/web/login", data={"token": token, "csrf": csrf_of(page.text)})
    assert response.status_code == 200, response.text
    assert response.url.path == "/web/"
