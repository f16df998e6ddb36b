"""identity: accounts, users, groups, keys of users, custom policies, grants, tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 20:45:00

A foundation-era store has projects and access keys but no accounts or users. Its projects
all go to one new account, and its keys to that account's root user. The secrets stay as
they were, marked "plain": the encryption key belongs to the configuration, not to the
migration, so they are sealed by the first `localecs serve` or `localecs db upgrade`
(services/identity.py seal_plaintext_secrets).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
# After the faults migration (0002).
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("is_root", sa.Boolean(), nullable=False),
        sa.Column("credentials_version", sa.Integer(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_users_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_users_account_id_name")),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_groups_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_groups_account_id_name")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_members_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_group_members_user_id_users")
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_user_id"), ["user_id"], unique=False)
    op.create_table(
        "roles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_roles_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint(
            "account_id", "display_name", name=op.f("uq_roles_account_id_display_name")
        ),
    )
    op.create_table(
        "grants",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_grants_group_id_groups")
        ),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], name=op.f("fk_grants_role_id_roles")),
        sa.PrimaryKeyConstraint("group_id", "project_id", "role_id", name=op.f("pk_grants")),
    )
    op.create_table(
        "tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("credentials_version", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_tokens")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tokens_user_id_expires_at"), ["user_id", "expires_at"], unique=False
        )

    account_id, root_id = _adopt_existing_projects_and_keys()

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.String(length=64), nullable=True))
    if account_id is not None:
        op.execute(sa.text("UPDATE projects SET account_id = :a").bindparams(a=account_id))
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.alter_column("account_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_projects_account_id"), ["account_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_projects_account_id_accounts"), "accounts", ["account_id"], ["id"]
        )

    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("secret_scheme", sa.String(16), nullable=False, server_default="plain")
        )
        batch_op.add_column(sa.Column("user_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="active")
        )
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    if root_id is not None:
        op.execute(sa.text("UPDATE access_keys SET user_id = :u").bindparams(u=root_id))
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        # The defaults only served the rows that were already there.
        for column in ("secret_scheme", "description", "status", "failures"):
            batch_op.alter_column(column, server_default=None)
        batch_op.alter_column("user_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index("ix_access_keys_project_id")
        batch_op.drop_constraint("fk_access_keys_project_id_projects", type_="foreignkey")
        batch_op.drop_column("project_id")
        batch_op.create_index(batch_op.f("ix_access_keys_user_id"), ["user_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_access_keys_user_id_users"), "users", ["user_id"], ["id"]
        )


def _adopt_existing_projects_and_keys() -> tuple[str | None, str | None]:
    """One account and its root for what a foundation-era store holds, if it holds anything."""
    bind = op.get_bind()
    has_projects = bind.execute(sa.text("SELECT count(*) FROM projects")).scalar_one() > 0
    has_keys = bind.execute(sa.text("SELECT count(*) FROM access_keys")).scalar_one() > 0
    if not (has_projects or has_keys):
        return None, None
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # tables.Timestamp's form on SQLite
    account_id = secrets.token_hex(16)
    root_id = secrets.token_hex(16)
    name = f"localecs_{secrets.token_hex(4)}"
    bind.execute(
        sa.text("INSERT INTO accounts (id, name, created_at) VALUES (:id, :name, :now)"),
        {"id": account_id, "name": name, "now": now},
    )
    bind.execute(
        sa.text(
            "INSERT INTO users (id, account_id, name, description, password_hash, enabled,"
            " is_root, credentials_version, failed_logins, created_at)"
            " VALUES (:id, :account, :name, '', NULL, :true, :true, 1, 0, :now)"
        ),
        {"id": root_id, "account": account_id, "name": name, "true": True, "now": now},
    )
    return account_id, root_id


def downgrade() -> None:
    raise NotImplementedError("identity data cannot be folded back into the foundation schema")
