"""Database tables of callmeter (SQLAlchemy 2 typed models).

Money columns are BigInteger cents. Every timestamp is stored in UTC; the
``UtcDateTime`` type turns the naive values SQLite returns back into aware
UTC datetimes, so the rest of the code only ever sees aware times.
The ledger is append-only: rows of ``ledger_entries`` are never updated or
deleted, and foreign keys restrict deletes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from callmeter.clock import utc_now

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert value.tzinfo is not None, "naive datetimes are not stored"
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("plan IN ('prepaid', 'contract', 'postpaid')", name="plan"),
        CheckConstraint("language IN ('nl', 'en')", name="language"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    helpdesk_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(16))
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    access_valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    language: Mapped[str] = mapped_column(String(2), default="nl")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    numbers: Mapped[list[PhoneNumber]] = relationship(back_populates="customer", order_by="PhoneNumber.id")


class PhoneNumber(Base):
    __tablename__ = "phone_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"), index=True)
    e164: Mapped[str] = mapped_column(String(20), unique=True)
    raw: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    customer: Mapped[Customer] = relationship(back_populates="numbers")


class Call(Base):
    """One inbound channel: admitted or refused, and its metering when admitted."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_customer_started", "customer_id", "admitted_at"),
        Index("ix_calls_state", "state"),
        CheckConstraint("metered_ms >= 0", name="metered_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    linkedid: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    channel: Mapped[str] = mapped_column(String(200), default="")
    caller_raw: Mapped[str] = mapped_column(String(64), default="")
    caller_e164: Mapped[str | None] = mapped_column(String(20), nullable=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), nullable=True
    )
    helpdesk_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    plan: Mapped[str | None] = mapped_column(String(16), nullable=True)
    verdict: Mapped[str] = mapped_column(String(20), index=True)
    # admitted → answered → ended; refused calls go straight to "refused".
    state: Mapped[str] = mapped_column(String(16))
    admitted_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    limit_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    bridge_left_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    metered_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    blocks_charged: Mapped[int] = mapped_column(Integer, default=0)
    charged_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    end_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    cut_off: Mapped[bool] = mapped_column(Boolean, default=False)
    cdr_billable_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The time of the last AMI event (or charged block) that metering applied.
    last_event_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # True when the agent answered while the AMI link was down, so answered_at is an estimate.
    answer_estimated: Mapped[bool] = mapped_column(Boolean, default=False)

    blocks: Mapped[list[CallBlock]] = relationship(back_populates="call", order_by="CallBlock.n")


class CallBlock(Base):
    """One charged block of a call, whatever the plan."""

    __tablename__ = "call_blocks"
    __table_args__ = (UniqueConstraint("call_id", "n", name="uq_call_blocks_call_n"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="RESTRICT"))
    n: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    zone: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rate_cents: Mapped[int] = mapped_column(BigInteger)
    ledger_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_entries.id", ondelete="RESTRICT"), nullable=True
    )

    call: Mapped[Call] = relationship(back_populates="blocks")


class Reservation(Base):
    """Credit held for one admitted prepaid call (a two-phase transfer).

    Charges draw on the hold; the rest is released at hangup. The check
    constraint makes the database refuse a charge beyond the hold, so
    metering can never spend credit that admission did not reserve.
    """

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("charged_cents >= 0 AND charged_cents <= amount_cents", name="charged_within_hold"),
        Index("ix_reservations_open", "customer_id", "released_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="RESTRICT"), unique=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    charged_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class LedgerEntry(Base):
    """One append-only movement of money or of a hold.

    Kinds and their sign: ``topup`` (+), ``charge`` (−), ``correction`` (±)
    change the balance. ``reservation`` (−, the held amount) and ``release``
    (+, the unused rest) record holds for the audit trail and do not count
    in the balance.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('topup', 'reservation', 'release', 'charge', 'correction')", name="kind"),
        CheckConstraint(
            "(kind = 'topup' AND amount_cents > 0) OR (kind = 'charge' AND amount_cents < 0)"
            " OR (kind = 'reservation' AND amount_cents < 0)"
            " OR (kind = 'release' AND amount_cents >= 0)"
            " OR (kind = 'correction' AND amount_cents <> 0)",
            name="amount_sign",
        ),
        CheckConstraint("(kind = 'correction') = (corrects_id IS NOT NULL)", name="correction_target"),
        Index("ix_ledger_entries_customer_created", "customer_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    corrects_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_entries.id", ondelete="RESTRICT"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class ApiToken(Base):
    """A staff bearer token. Only its SHA-256 hash is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("scope IN ('read', 'write')", name="scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CdrRecord(Base):
    """A Cdr event from AMI, kept for the audit trail and as a cross-check."""

    __tablename__ = "cdr_records"
    __table_args__ = (
        UniqueConstraint("uniqueid", "fingerprint", name="uq_cdr_records_uniqueid_fingerprint"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    billable_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    disposition: Mapped[str | None] = mapped_column(String(32), nullable=True)
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
