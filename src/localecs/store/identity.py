"""Queries over the identity tables, bound to the transaction of a Repository."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, text, update

from localecs.store.repository import Repository
from localecs.store.tables import (
    AccessKey,
    Account,
    Grant,
    Group,
    Membership,
    Project,
    Role,
    Token,
    User,
)


@dataclass(frozen=True)
class UserRecord:
    """What authentication needs of a user, read as plain columns (no ORM objects to build on
    the path every request takes)."""

    id: str
    name: str
    account_id: str
    is_root: bool
    enabled: bool
    credentials_version: int


@dataclass(frozen=True)
class KeyRecord:
    secret_key: str
    secret_scheme: str
    status: str
    failures: int
    locked_until: datetime | None
    user: UserRecord


@dataclass(frozen=True)
class TokenRecord:
    digest: str
    project_id: str | None
    credentials_version: int
    expires_at: datetime
    user: UserRecord


_USER_COLUMNS = (
    User.id,
    User.name,
    User.account_id,
    User.is_root,
    User.enabled,
    User.credentials_version,
)


# Built once: these run on every request, and building a statement costs more than running it.
# store/reads.py runs them on the DB-API connection; IdentityRecords inside a transaction.
KEY_RECORD = (
    select(
        AccessKey.secret_key,
        AccessKey.secret_scheme,
        AccessKey.status,
        AccessKey.failures,
        AccessKey.locked_until,
        *_USER_COLUMNS,
    )
    .join(User, AccessKey.user_id == User.id)
    .where(AccessKey.access_key == bindparam("access_key"))
)
TOKEN_RECORD = (
    select(
        Token.digest, Token.project_id, Token.credentials_version, Token.expires_at, *_USER_COLUMNS
    )
    .join(User, Token.user_id == User.id)
    .where(Token.digest == bindparam("digest"))
)
PROJECT_ACCOUNT = select(Project.account_id).where(Project.id == bindparam("project_id"))


def _user(row: Sequence[Any], start: int) -> UserRecord:
    user_id, name, account_id, is_root, enabled, version = row[start : start + 6]
    return UserRecord(user_id, name, account_id, is_root, enabled, version)


def key_record(row: Sequence[Any]) -> KeyRecord:
    """A row of KEY_RECORD."""
    return KeyRecord(row[0], row[1], row[2], row[3], row[4], _user(row, 5))


def token_record(row: Sequence[Any]) -> TokenRecord:
    """A row of TOKEN_RECORD."""
    return TokenRecord(row[0], row[1], row[2], row[3], _user(row, 4))


# Any fixed number: the key of the PostgreSQL advisory lock that bootstraps take.
_BOOTSTRAP_LOCK = 0x6C6F63616C626F6F  # "localboo"


class IdentityRecords:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.session = repo.session

    def lock_bootstrap(self) -> None:
        """Serialise the processes that bootstrap the first credential, until this transaction
        ends. Without it, two API processes starting together on an empty PostgreSQL store
        each create an account, and the one that then finds the other's project refuses to
        start. SQLite's write transactions already hold the one write lock from BEGIN."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BOOTSTRAP_LOCK}
            )

    # Accounts and projects

    def account(self, account_id: str) -> Account | None:
        return self.session.get(Account, account_id)

    def account_by_name(self, name: str) -> Account | None:
        return self.session.scalars(select(Account).filter_by(name=name)).first()

    def any_account(self) -> Account | None:
        return self.session.scalars(select(Account).order_by(Account.created_at)).first()

    def project(self, project_id: str) -> Project | None:
        return self.session.get(Project, project_id)

    def projects(self, account_id: str, name: str | None = None) -> Sequence[Project]:
        query = select(Project).filter_by(account_id=account_id).order_by(Project.created_at)
        if name is not None:
            query = query.filter_by(name=name)
        return self.session.scalars(query).all()

    def project_account(self, project_id: str) -> str | None:
        return self.session.scalar(PROJECT_ACCOUNT, {"project_id": project_id})

    # Users

    def user(self, account_id: str, user_id: str) -> User | None:
        return self.session.scalars(
            select(User).filter_by(id=user_id, account_id=account_id)
        ).first()

    def user_by_name(self, account_id: str, name: str) -> User | None:
        return self.session.scalars(
            select(User).filter_by(account_id=account_id, name=name)
        ).first()

    def users(self, account_id: str) -> Sequence[User]:
        query = select(User).filter_by(account_id=account_id).order_by(User.created_at, User.name)
        return self.session.scalars(query).all()

    def root(self, account_id: str) -> User | None:
        return self.session.scalars(
            select(User).filter_by(account_id=account_id, is_root=True)
        ).first()

    def bump_users(self, user_ids: Sequence[str]) -> None:
        """Their tokens stop working and their cached permissions are read again."""
        if user_ids:
            self.session.execute(
                update(User)
                .where(User.id.in_(list(user_ids)))
                .values(credentials_version=User.credentials_version + 1)
            )

    # Access keys

    def key_with_user(self, access_key: str) -> tuple[AccessKey, User] | None:
        query = select(AccessKey, User).join(User, AccessKey.user_id == User.id)
        row = self.session.execute(query.where(AccessKey.access_key == access_key)).first()
        return None if row is None else (row[0], row[1])

    def key_record(self, access_key: str) -> KeyRecord | None:
        row = self.session.execute(KEY_RECORD, {"access_key": access_key}).first()
        return None if row is None else key_record(row)

    def token_record(self, digest: str) -> TokenRecord | None:
        row = self.session.execute(TOKEN_RECORD, {"digest": digest}).first()
        return None if row is None else token_record(row)

    def key(self, access_key: str, *, lock: bool = False) -> AccessKey | None:
        query = select(AccessKey).filter_by(access_key=access_key)
        if lock:
            query = query.with_for_update()
        return self.session.scalars(query).first()

    def keys_of(self, user_id: str) -> Sequence[AccessKey]:
        query = select(AccessKey).filter_by(user_id=user_id).order_by(AccessKey.created_at)
        return self.session.scalars(query).all()

    def keys_of_account(self, account_id: str) -> Sequence[AccessKey]:
        query = (
            select(AccessKey)
            .join(User, AccessKey.user_id == User.id)
            .where(User.account_id == account_id)
            .order_by(AccessKey.created_at)
        )
        return self.session.scalars(query).all()

    def any_sealed_key(self) -> AccessKey | None:
        query = select(AccessKey).where(AccessKey.secret_scheme != "plain").limit(1)
        return self.session.scalars(query).first()

    def plaintext_keys(self) -> Sequence[AccessKey]:
        return self.session.scalars(select(AccessKey).filter_by(secret_scheme="plain")).all()

    # Groups, policies, grants

    def group(self, account_id: str, group_id: str) -> Group | None:
        query = select(Group).filter_by(id=group_id, account_id=account_id)
        return self.session.scalars(query).first()

    def group_by_name(self, account_id: str, name: str) -> Group | None:
        return self.session.scalars(
            select(Group).filter_by(account_id=account_id, name=name)
        ).first()

    def groups(self, account_id: str) -> Sequence[Group]:
        query = select(Group).filter_by(account_id=account_id).order_by(Group.created_at)
        return self.session.scalars(query).all()

    def membership(self, group_id: str, user_id: str) -> Membership | None:
        return self.session.get(Membership, (group_id, user_id))

    def members(self, group_id: str) -> list[str]:
        query = select(Membership.user_id).filter_by(group_id=group_id)
        return list(self.session.scalars(query))

    def role(self, account_id: str, role_id: str) -> Role | None:
        return self.session.scalars(
            select(Role).filter_by(id=role_id, account_id=account_id)
        ).first()

    def role_by_name(self, account_id: str, display_name: str) -> Role | None:
        query = select(Role).filter_by(account_id=account_id, display_name=display_name)
        return self.session.scalars(query).first()

    def roles(self, account_id: str) -> Sequence[Role]:
        query = select(Role).filter_by(account_id=account_id).order_by(Role.created_at)
        return self.session.scalars(query).all()

    def grant(self, group_id: str, project_id: str, role_id: str) -> Grant | None:
        return self.session.get(Grant, (group_id, project_id, role_id))

    def roles_granted(self, group_id: str, project_id: str) -> Sequence[Role]:
        query = (
            select(Role)
            .join(Grant, Grant.role_id == Role.id)
            .where(Grant.group_id == group_id, Grant.project_id == project_id)
            .order_by(Role.created_at)
        )
        return self.session.scalars(query).all()

    def policy_documents(self, user_id: str, project_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(role id, document) of every role the user holds on the project, through its groups:
        granted on that project or on the whole account ("")."""
        query = (
            select(Role.id, Role.document)
            .join(Grant, Grant.role_id == Role.id)
            .join(Membership, Membership.group_id == Grant.group_id)
            .where(Membership.user_id == user_id, Grant.project_id.in_([project_id, ""]))
            .order_by(Role.id)
        )
        # Deduplicated here: PostgreSQL's json type has no equality for DISTINCT.
        found: dict[str, dict[str, Any]] = {}
        for role_id, document in self.session.execute(query):
            found[role_id] = document
        return list(found.items())

    # Tokens

    def purge_tokens(self, user_id: str, before: Any) -> None:
        self.session.execute(
            delete(Token).where(Token.user_id == user_id, Token.expires_at <= before)
        )
