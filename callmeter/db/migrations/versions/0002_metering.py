"""metering state of a call

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Metering persists the time of the last event it applied to a call, so a
restarted process can skip events it already applied and can close a call
that vanished during the downtime at the last instant it knew about.
``answer_estimated`` marks calls whose answer happened while the AMI link
was down, so that staff can review their metered time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("answer_estimated", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("answer_estimated")
        batch_op.drop_column("last_event_at")
