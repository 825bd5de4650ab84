"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('read', 'write')", name=op.f("ck_api_tokens_scope")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "cdr_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("billable_seconds", sa.Integer(), nullable=True),
        sa.Column("disposition", sa.String(length=32), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdr_records")),
        sa.UniqueConstraint("uniqueid", "fingerprint", name="uq_cdr_records_uniqueid_fingerprint"),
    )
    with op.batch_alter_table("cdr_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cdr_records_uniqueid"), ["uniqueid"], unique=False)

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("helpdesk_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("access_valid_until", sa.Date(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("language IN ('nl', 'en')", name=op.f("ck_customers_language")),
        sa.CheckConstraint("plan IN ('prepaid', 'contract', 'postpaid')", name=op.f("ck_customers_plan")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("helpdesk_id", name=op.f("uq_customers_helpdesk_id")),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("caller_raw", sa.String(length=64), nullable=False),
        sa.Column("caller_e164", sa.String(length=20), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("helpdesk_id", sa.String(length=32), nullable=True),
        sa.Column("plan", sa.String(length=16), nullable=True),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("limit_ms", sa.BigInteger(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bridge_left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metered_ms", sa.BigInteger(), nullable=False),
        sa.Column("blocks_charged", sa.Integer(), nullable=False),
        sa.Column("charged_cents", sa.BigInteger(), nullable=False),
        sa.Column("end_estimated", sa.Boolean(), nullable=False),
        sa.Column("cut_off", sa.Boolean(), nullable=False),
        sa.Column("cdr_billable_seconds", sa.Integer(), nullable=True),
        sa.CheckConstraint("metered_ms >= 0", name=op.f("ck_calls_metered_ms")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_calls_customer_id_customers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("uniqueid", name=op.f("uq_calls_uniqueid")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_admitted_at"), ["admitted_at"], unique=False)
        batch_op.create_index("ix_calls_customer_started", ["customer_id", "admitted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_helpdesk_id"), ["helpdesk_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_linkedid"), ["linkedid"], unique=False)
        batch_op.create_index("ix_calls_state", ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_verdict"), ["verdict"], unique=False)

    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("raw", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_phone_numbers_customer_id_customers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("e164", name=op.f("uq_phone_numbers_e164")),
    )
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phone_numbers_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'correction') = (corrects_id IS NOT NULL)",
            name=op.f("ck_ledger_entries_correction_target"),
        ),
        sa.CheckConstraint(
            "(kind = 'topup' AND amount_cents > 0) OR (kind = 'charge' AND amount_cents < 0)"
            " OR (kind = 'reservation' AND amount_cents < 0)"
            " OR (kind = 'release' AND amount_cents >= 0)"
            " OR (kind = 'correction' AND amount_cents <> 0)",
            name=op.f("ck_ledger_entries_amount_sign"),
        ),
        sa.CheckConstraint(
            "kind IN ('topup', 'reservation', 'release', 'charge', 'correction')",
            name=op.f("ck_ledger_entries_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_ledger_entries_call_id_calls"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["corrects_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_entries_corrects_id_ledger_entries"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_ledger_entries_customer_id_customers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_entries_idempotency_key")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_call_id"), ["call_id"], unique=False)
        batch_op.create_index(
            "ix_ledger_entries_customer_created", ["customer_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("charged_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_reservations_amount_positive")),
        sa.CheckConstraint(
            "charged_cents >= 0 AND charged_cents <= amount_cents",
            name=op.f("ck_reservations_charged_within_hold"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_reservations_call_id_calls"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_reservations_customer_id_customers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
        sa.UniqueConstraint("call_id", name=op.f("uq_reservations_call_id")),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index("ix_reservations_open", ["customer_id", "released_at"], unique=False)

    op.create_table(
        "call_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("zone", sa.Integer(), nullable=True),
        sa.Column("rate_cents", sa.BigInteger(), nullable=False),
        sa.Column("ledger_entry_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_call_blocks_call_id_calls"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_call_blocks_ledger_entry_id_ledger_entries"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_blocks")),
        sa.UniqueConstraint("call_id", "n", name="uq_call_blocks_call_n"),
    )


def downgrade() -> None:
    op.drop_table("call_blocks")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_reservations_open")

    op.drop_table("reservations")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_customer_created")
        batch_op.drop_index(batch_op.f("ix_ledger_entries_call_id"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_numbers_customer_id"))

    op.drop_table("phone_numbers")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_verdict"))
        batch_op.drop_index("ix_calls_state")
        batch_op.drop_index(batch_op.f("ix_calls_linkedid"))
        batch_op.drop_index(batch_op.f("ix_calls_helpdesk_id"))
        batch_op.drop_index("ix_calls_customer_started")
        batch_op.drop_index(batch_op.f("ix_calls_admitted_at"))

    op.drop_table("calls")
    op.drop_table("customers")
    with op.batch_alter_table("cdr_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cdr_records_uniqueid"))

    op.drop_table("cdr_records")
    op.drop_table("api_tokens")
