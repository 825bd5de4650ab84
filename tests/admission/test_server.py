"""The FastAGI admission server over real sockets on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import struct
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import func, select

from callmeter.admission import FastAgiServer
from callmeter.db import Database
from callmeter.db.models import Call, LedgerEntry, Reservation
from callmeter.errors import ConfigError
from callmeter.metrics import ADMISSIONS
from callmeter.simulator.agi_client import (
    AgiSessionResult,
    agi_environment,
    load_recorded_sessions,
    run_agi_session,
)
from callmeter.status import ServiceStatus
from tests.admission.conftest import (
    SUNDAY_MORNING,
    ZONE1,
    add_customer,
    add_recorded_customers,
    customer_credit,
    make_settings,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"
ALLOWED = {"CALLERID(num-pres)": "allowed_not_screened"}

# The verdict and helpdesk ID of each recorded session, per scenario.
RECORDED_OUTCOMES: dict[str, list[tuple[str, str]]] = {
    "s01-agent-hangs-up": [("admitted", "HD-1001")],
    "s02-caller-hangs-up": [("admitted", "HD-1001")],
    "s03-withheld-prohib": [("withheld", "")] * 5,
    "s04-unknown-number": [("unknown_number", "")],
    "s05-no-answer": [("admitted", "HD-1002")],
    "s07-cutoff-by-limit": [("admitted", "HD-1001")],
    "s08-number-formats": [("admitted", "HD-1001")] * 4 + [("admitted", "HD-1002")],
    "s09-concurrent-same-customer": [
        ("admitted", "HD-1001"),
        ("admitted", "HD-1001"),
        ("admitted", "HD-1002"),
    ],
    "s11-long-call-crosses-block": [("admitted", "HD-1001")],
    "s13-channelvars-presentation": [("admitted", "HD-1001"), ("withheld", ""), ("withheld", "")],
}


async def _call(port: int, uniqueid: str, number: str, **options: Any) -> AgiSessionResult:
    pres = options.pop("channel_vars", ALLOWED)
    env = agi_environment(
        uniqueid, f"PJSIP/trunk-{uniqueid}", number, callingpres=options.pop("callingpres", 0)
    )
    return await run_agi_session("127.0.0.1", port, env, pres, **options)


def _call_row(db: Database, uniqueid: str) -> Call | None:
    """Load a call row, detached with its columns loaded, so asserts can read it after the session."""
    with db.read() as session:
        row = session.scalar(select(Call).where(Call.uniqueid == uniqueid))
        if row is not None:
            session.expunge(row)
        return row


def _open_reservations(db: Database) -> int:
    with db.read() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Reservation).where(Reservation.released_at.is_(None))
            )
            or 0
        )


class TestRecordedSessions:
    async def test_recordings_replay_to_expected_verdicts(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_recorded_customers(db)
        paths = sorted(FIXTURES.glob("*.agi.jsonl")) + sorted(FIXTURES.glob("no-timestamps/*.agi.jsonl"))
        assert len(paths) == 18

        async with running_server() as server:
            for path in paths:
                expected = RECORDED_OUTCOMES[path.name.removesuffix(".agi.jsonl")]
                sessions = load_recorded_sessions(path)
                assert len(sessions) == len(expected), path
                for session, (verdict, helpdesk_id) in zip(sessions, expected, strict=True):
                    assert server.port is not None
                    result = await run_agi_session(
                        "127.0.0.1", server.port, session.env, session.channel_vars
                    )
                    where = f"{path.name} {session.uniqueid}"
                    assert result.variables["CALLMETER_VERDICT"] == verdict, where
                    assert result.variables["CALLMETER_HELPDESK_ID"] == helpdesk_id, where
                    assert result.commands[0] == 'GET VARIABLE "CALLERID(num-pres)"', where
                    row = _call_row(db, session.uniqueid)
                    assert row is not None, where
                    assert row.verdict == verdict, where
                    assert row.channel == session.env["agi_channel"], where
                    assert row.caller_raw == session.env["agi_callerid"], where
                    assert row.state == ("admitted" if verdict == "admitted" else "refused"), where

    async def test_admitted_call_sets_every_variable(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_recorded_customers(db)
        session = load_recorded_sessions(FIXTURES / "s01-agent-hangs-up.agi.jsonl")[0]
        async with running_server() as server:
            result = await run_agi_session("127.0.0.1", server.port, session.env, session.channel_vars)

        # 1000 euros of credit at 5 euros a block covers the full 120-minute maximum.
        assert result.variables == {
            "CALLMETER_HELPDESK_ID": "HD-1001",
            "CALLMETER_LIMIT_MS": "7200000",
            "CALLMETER_WARNING_MS": "7140000",
            "CALLMETER_PROMPT": "",
            "CALLMETER_QUEUE_PRIORITY": "0",
            "CALLMETER_VERDICT": "admitted",
        }
        row = _call_row(db, session.uniqueid)
        assert row is not None
        assert row.limit_ms == 7_200_000
        assert row.helpdesk_id == "HD-1001"
        assert row.caller_e164 == "+31612345678"
        assert row.plan == "prepaid"
        assert customer_credit(db, "HD-1001").reserved_cents == 24 * 500


class TestVerdicts:
    async def test_sunday_nine_oclock_closed(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        async with running_server(at=SUNDAY_MORNING) as server:
            result = await _call(server.port, "10.1", "0612345678")
        assert result.variables["CALLMETER_VERDICT"] == "closed"
        assert result.variables["CALLMETER_PROMPT"] == "callmeter/refused-closed"
        assert result.variables["CALLMETER_LIMIT_MS"] == "0"
        assert customer_credit(db, "HD-1001").reserved_cents == 0

    async def test_499_cents_no_credit(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678", cents=499)
        async with running_server() as server:
            result = await _call(server.port, "10.2", "0612345678")
        assert result.variables["CALLMETER_VERDICT"] == "no_credit"
        assert result.variables["CALLMETER_PROMPT"] == "callmeter/refused-no-credit"
        assert result.variables["CALLMETER_LIMIT_MS"] == "0"
        assert _open_reservations(db) == 0

    async def test_500_cents_admitted_one_block(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678", cents=500)
        async with running_server() as server:
            result = await _call(server.port, "10.3", "0612345678")
        assert result.variables["CALLMETER_VERDICT"] == "admitted"
        assert result.variables["CALLMETER_LIMIT_MS"] == "300000"
        assert result.variables["CALLMETER_WARNING_MS"] == "240000"
        credit = customer_credit(db, "HD-1001")
        assert credit.reserved_cents == 500
        assert credit.available_cents == 0

    async def test_second_call_gets_only_leftover(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678", cents=500)
        async with running_server() as server:
            first = await _call(server.port, "10.4", "0612345678")
            second = await _call(server.port, "10.5", "0612345678")
        assert first.variables["CALLMETER_VERDICT"] == "admitted"
        assert second.variables["CALLMETER_VERDICT"] == "no_credit"

    async def test_blocked_customer_refused(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678", blocked=True)
        async with running_server() as server:
            result = await _call(server.port, "10.6", "0612345678")
        assert result.variables["CALLMETER_VERDICT"] == "blocked"
        assert result.variables["CALLMETER_HELPDESK_ID"] == "HD-1001"
        assert result.variables["CALLMETER_PROMPT"] == "callmeter/refused-blocked"

    async def test_expired_access_blocked(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678", access_valid_until=date(2026, 12, 7))
        add_customer(db, "HD-1002", "0381234567", access_valid_until=date(2026, 12, 8))
        async with running_server() as server:
            expired = await _call(server.port, "10.7", "0612345678")
            last_day = await _call(server.port, "10.8", "0381234567")
        assert expired.variables["CALLMETER_VERDICT"] == "blocked"
        assert last_day.variables["CALLMETER_VERDICT"] == "admitted"

    async def test_contract_without_credit_admitted(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-2001", "0201112233", plan="contract", cents=0)
        async with running_server() as server:
            result = await _call(server.port, "10.9", "0201112233")
        assert result.variables["CALLMETER_VERDICT"] == "admitted"
        assert result.variables["CALLMETER_LIMIT_MS"] == "7200000"
        assert result.variables["CALLMETER_QUEUE_PRIORITY"] == "10"
        assert _open_reservations(db) == 0

    async def test_privacy_header_withheld_despite_known_number(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        async with running_server() as server:
            result = await _call(server.port, "10.10", "0612345678", callingpres=32)
        assert result.variables["CALLMETER_VERDICT"] == "withheld"
        assert result.variables["CALLMETER_HELPDESK_ID"] == ""
        assert result.variables["CALLMETER_PROMPT"] == "callmeter/refused-withheld"

    async def test_unset_num_pres_falls_back_to_callingpres(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        async with running_server() as server:
            result = await _call(server.port, "10.11", "0612345678", channel_vars={})
        assert result.variables["CALLMETER_VERDICT"] == "admitted"

    async def test_repeated_uniqueid_reserves_once(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678", cents=1000)
        async with running_server() as server:
            first = await _call(server.port, "10.12", "0612345678")
            again = await _call(server.port, "10.12", "0612345678")
        assert first.variables == again.variables
        assert first.variables["CALLMETER_LIMIT_MS"] == "600000"
        assert customer_credit(db, "HD-1001").reserved_cents == 1000
        with db.read() as session:
            entries = session.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "reservation")
            )
        assert entries == 1

    async def test_linkedid_recorded_when_sent(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        env = agi_environment("10.13", "PJSIP/trunk-1", "0612345678", linkedid="10.0")
        async with running_server() as server:
            await run_agi_session("127.0.0.1", server.port, env, ALLOWED)
        row = _call_row(db, "10.13")
        assert row is not None
        assert row.linkedid == "10.0"

    async def test_admissions_counted_by_verdict(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        before = ADMISSIONS.labels(verdict="unknown_number")._value.get()
        async with running_server() as server:
            await _call(server.port, "10.14", "0201234567")
        assert ADMISSIONS.labels(verdict="unknown_number")._value.get() == before + 1

    async def test_on_admitted_called_with_call_id(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        seen: list[tuple[int, str]] = []

        async def record(call_id: int, uniqueid: str) -> None:
            seen.append((call_id, uniqueid))

        async with running_server(on_admitted=record) as server:
            await _call(server.port, "10.15", "0612345678")
            await _call(server.port, "10.16", "0201234567")
        row = _call_row(db, "10.15")
        assert row is not None
        assert seen == [(row.id, "10.15")]


class TestLifecycle:
    async def test_status_follows_server(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        status = ServiceStatus()
        async with running_server(status=status) as server:
            assert status.fastagi == "listening"
            assert status.fastagi_address == f"127.0.0.1:{server.port}"
        assert status.fastagi == "stopped"

    async def test_hostname_in_allowlist_rejected(self, db: Database) -> None:
        with pytest.raises(ConfigError) as raised:
            FastAgiServer(make_settings(db.url, allowed_peers=("pbx.example.org",)), db)
        assert "fastagi.allowed_peers" in raised.value.message("nl")


class TestHangupAndBadInput:
    async def test_hangup_mid_session_leaves_no_reservation(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        async with running_server() as server:
            result = await _call(server.port, "20.1", "0612345678", hangup_after_commands=2)
            await _wait_for_state(db, "20.1", "abandoned")
        assert result.hung_up is True
        assert "CALLMETER_VERDICT" not in result.variables
        row = _call_row(db, "20.1")
        assert row is not None
        assert row.verdict == "admitted"
        assert row.state == "abandoned"
        assert row.ended_at is not None
        assert customer_credit(db, "HD-1001").reserved_cents == 0
        assert _open_reservations(db) == 0

    async def test_retry_after_hangup_sets_no_verdict(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        async with running_server() as server:
            await _call(server.port, "20.7", "0612345678", hangup_after_commands=2)
            await _wait_for_state(db, "20.7", "abandoned")
            retry = await _call(server.port, "20.7", "0612345678")
        assert retry.variables == {}
        assert len(retry.commands) == 1
        assert _open_reservations(db) == 0

    async def test_client_silent_after_decision_releases(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        env = agi_environment("20.8", "PJSIP/trunk-1", "0612345678")
        async with running_server(session_timeout_seconds=0.5) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write("".join(f"{name}: {value}\n" for name, value in env.items()).encode() + b"\n")
            assert (
                await asyncio.wait_for(reader.readline(), timeout=5) == b'GET VARIABLE "CALLERID(num-pres)"\n'
            )
            writer.write(b"200 result=1 (allowed_not_screened)\n")
            first_set = await asyncio.wait_for(reader.readline(), timeout=5)
            # No reply to the first SET VARIABLE: the server gives up at its deadline and closes.
            assert await asyncio.wait_for(reader.read(), timeout=5) == b""
            writer.close()
            await _wait_for_state(db, "20.8", "abandoned")
        assert first_set.startswith(b"SET VARIABLE CALLMETER_HELPDESK_ID")
        assert customer_credit(db, "HD-1001").reserved_cents == 0

    async def test_connection_reset_mid_session_releases(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        env = agi_environment("20.9", "PJSIP/trunk-1", "0612345678")
        async with running_server() as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write("".join(f"{name}: {value}\n" for name, value in env.items()).encode() + b"\n")
            await asyncio.wait_for(reader.readline(), timeout=5)
            writer.write(b"200 result=1 (allowed_not_screened)\n")
            await asyncio.wait_for(reader.readline(), timeout=5)
            # SO_LINGER with a zero timeout makes close() send a TCP reset instead of a FIN.
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            await _wait_for_state(db, "20.9", "abandoned")
        assert customer_credit(db, "HD-1001").reserved_cents == 0

    async def test_hangup_before_decision_writes_nothing(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        async with running_server() as server:
            result = await _call(server.port, "20.2", "0612345678", hangup_after_commands=0)
            # A later session gives the server time to finish the first one.
            await _call(server.port, "20.3", "0201234567")
        assert result.hung_up is True
        assert _call_row(db, "20.2") is None
        assert _open_reservations(db) == 0

    async def test_garbage_bytes_dropped(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        async with running_server() as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x00\xff\xfe garbage \x81\r\n\x16\x03\x01\x02\x00\n\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), timeout=5) == b""
            writer.close()
            result = await _call(server.port, "20.4", "0201234567")
        assert result.variables["CALLMETER_VERDICT"] == "unknown_number"

    async def test_overlong_line_dropped(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        async with running_server() as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"agi_channel: " + b"x" * 100_000 + b"\n\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), timeout=5) == b""
            writer.close()

    async def test_silent_client_dropped_after_timeout(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        async with running_server(session_timeout_seconds=0.3) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"agi_network: yes\nagi_network_script: admit\n")
            await writer.drain()
            # The server closes the socket on its own; the wait only guards against a hang.
            assert await asyncio.wait_for(reader.read(), timeout=5) == b""
            writer.close()

    async def test_peer_not_on_allowlist_refused(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        add_customer(db, "HD-1001", "0612345678")
        async with running_server(allowed_peers=("192.0.2.10", "10.0.0.0/8")) as server:
            result = await _call(server.port, "20.5", "0612345678")
        assert result.commands == []
        assert result.variables == {}
        assert _call_row(db, "20.5") is None

    async def test_other_script_name_refused(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        env = agi_environment("20.6", "PJSIP/trunk-1", "0612345678")
        env["agi_network_script"] = "something-else"
        async with running_server() as server:
            result = await run_agi_session("127.0.0.1", server.port, env, ALLOWED)
        assert result.commands == []


class TestDatabaseFailure:
    async def test_missing_schema_sets_no_verdict(self, tmp_path: Path) -> None:
        # A database without tables makes every admission fail inside the worker thread.
        # Plain-text tracebacks keep the logged failures fast to render.
        structlog.configure(
            processors=[structlog.processors.format_exc_info, structlog.processors.KeyValueRenderer()]
        )
        broken = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        server = FastAgiServer(make_settings(broken.url), broken, clock=lambda: ZONE1)
        try:
            async with server:
                assert server.port is not None
                first = await _call(server.port, "40.1", "0612345678")
                second = await _call(server.port, "40.2", "0612345678")
        finally:
            broken.dispose()
        assert first.variables == {}
        assert first.commands == ['GET VARIABLE "CALLERID(num-pres)"']
        assert second.variables == {}


class TestLoad:
    async def test_200_concurrent_sessions_answered(self, db: Database, running_server) -> None:  # type: ignore[no-untyped-def]
        # 40 prepaid customers with one block of credit each, five calls per customer at once:
        # exactly one call of each customer may be admitted, whatever the order.
        for index in range(40):
            add_customer(db, f"HD-{3000 + index}", f"06{20000000 + index}", cents=500)
        calls = [(f"30.{index}", f"06{20000000 + index % 40}") for index in range(200)]

        # The bound is generous because the point is correctness under load, not latency.
        async with running_server(session_timeout_seconds=30) as server:
            results = await asyncio.gather(
                *(_call(server.port, uniqueid, number, timeout=60) for uniqueid, number in calls)
            )

        verdicts = [result.variables.get("CALLMETER_VERDICT") for result in results]
        assert verdicts.count("admitted") == 40
        assert verdicts.count("admitted") + verdicts.count("no_credit") == 200
        for (uniqueid, number), result in zip(calls, results, strict=True):
            if result.variables["CALLMETER_VERDICT"] == "admitted":
                assert result.variables["CALLMETER_LIMIT_MS"] == "300000", uniqueid
                assert result.variables["CALLMETER_HELPDESK_ID"] == f"HD-{3000 + int(number[2:]) - 20000000}"
        for index in range(40):
            credit = customer_credit(db, f"HD-{3000 + index}")
            assert credit.reserved_cents == 500
            assert credit.available_cents == 0


async def _wait_for_state(db: Database, uniqueid: str, state: str) -> None:
    """Poll the call row until it reaches a state; the timeout only guards against a hang."""
    async with asyncio.timeout(10):
        while True:
            row = await asyncio.to_thread(_call_row, db, uniqueid)
            if row is not None and row.state == state:
                return
            await asyncio.sleep(0.01)
