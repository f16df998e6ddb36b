"""project_volume_counts: each project's number of disks, kept by triggers on volumes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 01:00:00

ListVolumes answers `count` (all the project's disks) on every page; counting them grew with the
store (~3 ms at 100,000 disks). The count is now kept in a row per project, changed by triggers
in the same transaction as the disk row itself, so that no writer (the API, the workers, state
import and reset, bulk inserts of rows) can leave it wrong, and concurrent writers on
PostgreSQL add and subtract atomically (an upsert of `volumes + 1`, an update of `volumes - 1`,
each under the row's lock).

The triggers are created before the backfill, in the migration's transaction; on PostgreSQL the
volumes table is locked against writers first, so that no disk is counted twice or missed.

Note for later migrations: Alembic's SQLite "batch" mode rebuilds a table by copying it, which
drops its triggers. A migration that alters `volumes` that way must create these again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ADD = (
    "INSERT INTO project_volume_counts (project_id, volumes) VALUES ({ref}.project_id, 1) "
    "ON CONFLICT (project_id) DO UPDATE SET volumes = project_volume_counts.volumes + 1"
)
_SUBTRACT = (
    "UPDATE project_volume_counts SET volumes = volumes - 1 WHERE project_id = {ref}.project_id"
)

_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER volumes_counted_insert AFTER INSERT ON volumes
    BEGIN {_ADD.format(ref="NEW")}; END""",
    f"""CREATE TRIGGER volumes_counted_delete AFTER DELETE ON volumes
    BEGIN {_SUBTRACT.format(ref="OLD")}; END""",
    f"""CREATE TRIGGER volumes_counted_move AFTER UPDATE OF project_id ON volumes
    WHEN OLD.project_id IS NOT NEW.project_id
    BEGIN {_SUBTRACT.format(ref="OLD")}; {_ADD.format(ref="NEW")}; END""",
)

_POSTGRES_FUNCTION = f"""
CREATE FUNCTION localecs_count_volumes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        {_SUBTRACT.format(ref="OLD")};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {_ADD.format(ref="NEW")};
    END IF;
    RETURN NULL;
END
$$"""
_POSTGRES_TRIGGERS = (
    """CREATE TRIGGER volumes_counted AFTER INSERT OR DELETE ON volumes
    FOR EACH ROW EXECUTE FUNCTION localecs_count_volumes()""",
    """CREATE TRIGGER volumes_counted_move AFTER UPDATE OF project_id ON volumes
    FOR EACH ROW WHEN (OLD.project_id IS DISTINCT FROM NEW.project_id)
    EXECUTE FUNCTION localecs_count_volumes()""",
)


def upgrade() -> None:
    op.create_table(
        "project_volume_counts",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("volumes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_volume_counts")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Writers wait until this transaction commits: none slips between backfill and triggers.
        op.execute("LOCK TABLE volumes IN SHARE ROW EXCLUSIVE MODE")
        op.execute(_POSTGRES_FUNCTION)
        for statement in _POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        # SQLite: the migration holds the only write lock.
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(
        "INSERT INTO project_volume_counts (project_id, volumes) "
        "SELECT project_id, COUNT(*) FROM volumes GROUP BY project_id"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER volumes_counted_move ON volumes")
        op.execute("DROP TRIGGER volumes_counted ON volumes")
        op.execute("DROP FUNCTION localecs_count_volumes()")
    else:
        for name in ("volumes_counted_move", "volumes_counted_delete", "volumes_counted_insert"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("project_volume_counts")
