"""SQLAlchemy table mappings. Records only: the rules that move them live in ``domain``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Named constraints keep Alembic's batch mode on SQLite able to alter tables later.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)


class Timestamp(TypeDecorator[datetime]):
    """Stores UTC and always hands back aware datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text: one fixed naive UTC form keeps them ordered.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            # SQLite hands back the text written by process_bind_param; the C parser reads it
            # many times faster than the generic DateTime processor's regular expression, and
            # every ShowJob converts two of these per sub-job.
            return _sqlite_timestamp
        return super().result_processor(dialect, coltype)


def _sqlite_timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Account(Base):
    """An account (IAM "domain"): it owns projects, users, groups and custom policies."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp())


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    # Unique across the store, not per account: the SDK finds a project by name alone.
    name: Mapped[str] = mapped_column(String(255), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp())


class User(Base):
    """An IAM user, or an account's root (``is_root``), which may do everything.

    ``credentials_version`` changes whenever the user's password, keys or permissions do:
    a token remembers the version it was issued under and is refused once it differs, and
    the cache of a user's policies is keyed on it.
    """

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_root: Mapped[bool] = mapped_column(Boolean, default=False)
    credentials_version: Mapped[int] = mapped_column(Integer, default=1)
    # Consecutive wrong passwords, and until when password tokens are refused.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(Timestamp())
    created_at: Mapped[datetime] = mapped_column(Timestamp())


class AccessKey(Base):
    """An AK/SK pair. The secret is sealed (see auth/encryption.py) unless ``secret_scheme`` is
    "plain", which only rows written before encryption existed have until the next start."""

    __tablename__ = "access_keys"

    access_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    secret_key: Mapped[str] = mapped_column(String(255))
    secret_scheme: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Consecutive signature failures, and until when the key is refused (contract 9).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(Timestamp())
    created_at: Mapped[datetime] = mapped_column(Timestamp())


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(Timestamp())


class Membership(Base):
    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


class Role(Base):
    """A custom policy: its document is stored as given and parsed when a caller is loaded."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("account_id", "display_name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    document: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(Timestamp())
    updated_at: Mapped[datetime] = mapped_column(Timestamp())


class Grant(Base):
    """A role given to a group on one project, or (``project_id`` "") on all the account's."""

    __tablename__ = "grants"

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("roles.id"), primary_key=True)


class Token(Base):
    """An issued token, by the SHA-256 of its text: a copy of this table grants nothing."""

    __tablename__ = "tokens"
    __table_args__ = (Index(None, "user_id", "expires_at"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    project_id: Mapped[str | None] = mapped_column(String(64))
    credentials_version: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(Timestamp())
    expires_at: Mapped[datetime] = mapped_column(Timestamp())


class Server(Base):
    __tablename__ = "servers"
    # (project_id, id): "these servers of this project" seeks each id (migration 0005).
    __table_args__ = (Index(None, "project_id", "created_at"), Index(None, "project_id", "id"))

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    task_state: Mapped[str | None] = mapped_column(String(32))
    flavor_id: Mapped[str] = mapped_column(String(128))
    image_id: Mapped[str] = mapped_column(String(128))
    vpc_id: Mapped[str] = mapped_column(String(128))
    availability_zone: Mapped[str] = mapped_column(String(128))
    reservation_id: Mapped[str] = mapped_column(String(64))
    enterprise_project_id: Mapped[str] = mapped_column(String(64))
    key_name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    nics: Mapped[list[Any]] = mapped_column(default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(Timestamp())
    updated_at: Mapped[datetime] = mapped_column(Timestamp())
    launched_at: Mapped[datetime | None] = mapped_column(Timestamp())


class Volume(Base):
    __tablename__ = "volumes"
    __table_args__ = (Index(None, "project_id", "created_at"), Index(None, "project_id", "id"))

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(Integer)
    volume_type: Mapped[str] = mapped_column(String(32))
    availability_zone: Mapped[str] = mapped_column(String(128))
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False)
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32))
    image_id: Mapped[str | None] = mapped_column(String(128))
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(Timestamp())
    updated_at: Mapped[datetime] = mapped_column(Timestamp())


class ProjectVolumeCount(Base):
    """How many disks a project has: ListVolumes answers `count` from this row instead of
    counting the project's disks (a scan that grows with them).

    Kept by triggers on ``volumes`` (migration 0004): every insert, delete or move of a disk,
    by any code path and any process, changes it in the same transaction, with an atomic
    ``volumes = volumes + 1`` (an upsert) or ``- 1``. No row means no disks. No foreign key:
    a row left at 0 must not stand in the way of deleting its project.
    """

    __tablename__ = "project_volume_counts"

    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    volumes: Mapped[int] = mapped_column(Integer)


class Attachment(Base):
    """One disk on one server. ``state`` is attaching, attached or detaching.

    A row exists from the moment an attach is admitted until its detach is applied, so the
    admission checks of later requests see work that is still in flight.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        UniqueConstraint("volume_id", "server_id"),
        UniqueConstraint("server_id", "device"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    server_id: Mapped[str] = mapped_column(ForeignKey("servers.id"))
    device: Mapped[str] = mapped_column(String(64))
    boot_index: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    attached_at: Mapped[datetime | None] = mapped_column(Timestamp())


class Job(Base):
    """A job or sub-job. Rows with ``is_task`` are what workers execute.

    A parent of a batch is not a task: its status is rolled up from its sub-jobs. A task holds
    ``lock_key`` (its server) while RUNNING; the partial unique index makes the database itself
    refuse a second running task on the same server, whichever process asks.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index(None, "parent_id"),
        Index(None, "is_task", "status", "seq"),
        Index(None, "lock_key", "status"),
        Index(
            "ux_jobs_running_lock_key",
            "lock_key",
            unique=True,
            sqlite_where=text("status = 'RUNNING' AND lock_key IS NOT NULL"),
            postgresql_where=text("status = 'RUNNING' AND lock_key IS NOT NULL"),
        ),
        Index(None, "end_time"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[str | None] = mapped_column(String(64))
    job_type: Mapped[str] = mapped_column(String(64))
    is_task: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    lock_key: Mapped[str | None] = mapped_column(String(80))
    server_id: Mapped[str | None] = mapped_column(String(64))
    volume_id: Mapped[str | None] = mapped_column(String(64))
    entities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sub_jobs_total: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    fail_reason: Mapped[str | None] = mapped_column(Text)
    begin_time: Mapped[datetime] = mapped_column(Timestamp())
    end_time: Mapped[datetime | None] = mapped_column(Timestamp())
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp())
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ClientToken(Base):
    """A create call's X-Client-Token, with the answer it got, so a retry gets the same one."""

    __tablename__ = "client_tokens"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64))
    request_digest: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(Timestamp())


# Control of time and failure (docs/faults-and-time.md). Kept in the database so that every
# API and worker process sees the same faults, holds and latency profile.


class Fault(Base):
    """An injected failure. ``matches`` counts the calls or tasks it matched, so that a
    probability decision is a pure function of (seed, id, match number) in every process."""

    __tablename__ = "faults"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(64), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column()
    matches: Mapped[int] = mapped_column(Integer, default=0)
    applied: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp())


class TaskGate(Base):
    """How many times a test released a task (manual mode, hang faults), and the hold the
    task now waits at, if any: it is held while ``waiting_for`` exceeds ``released``."""

    __tablename__ = "task_gates"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    released: Mapped[int] = mapped_column(Integer, default=0)
    waiting_for: Mapped[int] = mapped_column(Integer, default=0)


class ControlSetting(Base):
    """A setting changed at run time through the control API (the latency profile)."""

    __tablename__ = "control_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()
