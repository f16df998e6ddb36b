"""indexes on (project_id, id) of servers and volumes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 01:45:00

Admission and the listings look servers and disks up as "these ids, of this project". With only
the (project_id, created_at) index and no statistics, SQLite's planner walked that index over
every server of the project and filtered the ids, instead of seeking the 16 ids: ~2 ms per batch
admission at 12,000 servers, growing with the project. With (project_id, id) both conditions are
seeks (~0.03 ms).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_servers_project_id_id"), "servers", ["project_id", "id"])
    op.create_index(op.f("ix_volumes_project_id_id"), "volumes", ["project_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_volumes_project_id_id"), table_name="volumes")
    op.drop_index(op.f("ix_servers_project_id_id"), table_name="servers")
