"""faults, task gates and run-time settings (control of time and failure)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 20:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "faults",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("matches", sa.Integer(), nullable=False),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_faults")),
        sa.UniqueConstraint("id", name=op.f("uq_faults_id")),
    )
    op.create_table(
        "task_gates",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("released", sa.Integer(), nullable=False),
        sa.Column("waiting_for", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_gates")),
    )
    op.create_table(
        "control_settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_control_settings")),
    )


def downgrade() -> None:
    op.drop_table("control_settings")
    op.drop_table("task_gates")
    op.drop_table("faults")
