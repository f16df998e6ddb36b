"""IAM operations (contract 9): accounts, projects, users, groups, access keys, custom
policies, grants and password tokens. The HTTP routes and `localecs iam` both call these.

Management is the account root's; the project and domain look-ups the SDK makes on its own
are open to any valid credential of the account. Whatever changes what a user may do bumps
that user's ``credentials_version`` in the same transaction (see auth/authenticate.py).
"""

from __future__ import annotations

import functools
import secrets
import string
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from localecs.auth.authenticate import Principal, token_digest
from localecs.auth.encryption import SCHEME, SecretBox
from localecs.auth.passwords import hash_password, verify_password
from localecs.clock import Clock
from localecs.domain import identity
from localecs.domain.identity import LockState, conflict, invalid, not_found
from localecs.domain.policies import PolicyError, parse_policy
from localecs.errors import authentication_failed
from localecs.store.identity import IdentityRecords
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
from localecs.store.uow import Database

_AK_ALPHABET = string.ascii_uppercase + string.digits

F = TypeVar("F", bound=Callable[..., Any])


def _unique_races(operation: F) -> F:
    """Two requests creating the same name at once both pass the look-up; the database's
    unique constraint stops the second, which is then a 409 like any duplicate, not a 500."""

    @functools.wraps(operation)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return operation(*args, **kwargs)
        except IntegrityError:
            raise conflict("It already exists: a concurrent request created it.") from None

    return guarded  # type: ignore[return-value]


def new_access_key() -> str:
    """20 upper-case letters and digits, as Huawei's AKs."""
    return "".join(secrets.choice(_AK_ALPHABET) for _ in range(20))


def new_secret_key() -> str:
    """40 characters, as Huawei's SKs."""
    return secrets.token_urlsafe(30)


def new_id() -> str:
    """Keystone ids (users, groups, projects, domains) are 32 lower-case hex characters."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class CreatedKey:
    key: AccessKey
    secret: str  # the only time it is ever handed out


@dataclass(frozen=True)
class IssuedToken:
    token: str
    record: Token
    user: User
    account: Account
    project: Project | None
    roles: Sequence[Role]


@dataclass(frozen=True)
class Scope:
    """What a password token is for: a project (by id or name) or the account."""

    project_id: str | None = None
    project_name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


class IdentityService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        box: SecretBox,
        token_lifetime: timedelta = identity.DEFAULT_TOKEN_LIFETIME,
        region: str = "cn-north-4",
    ) -> None:
        self.db = db
        self.clock = clock
        self.box = box
        self.token_lifetime = token_lifetime
        self.region = region

    # Look-ups open to every credential of the account

    def list_domains(self, caller: Principal) -> list[Account]:
        with self.db.read() as repo:
            account = IdentityRecords(repo).account(caller.account_id)
            return [account] if account is not None else []

    def list_projects(
        self, caller: Principal, name: str | None = None, domain_id: str | None = None
    ) -> Sequence[Project]:
        if domain_id is not None and domain_id != caller.account_id:
            return []
        with self.db.read() as repo:
            return IdentityRecords(repo).projects(caller.account_id, name)

    # Accounts and projects (the operator's, through the CLI; projects also through the API)

    @_unique_races
    def create_account(self, name: str, account_id: str | None = None) -> tuple[Account, User]:
        identity.check_account_name(name)
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            if records.account_by_name(name) is not None:
                raise conflict(f"An account named {name} already exists.")
            if account_id is not None and records.account(account_id) is not None:
                raise conflict(f"An account with id {account_id} already exists.")
            now = self.clock.now()
            account = Account(id=account_id or new_id(), name=name, created_at=now)
            root = User(
                id=new_id(),
                account_id=account.id,
                name=name,
                description="",
                password_hash=None,
                enabled=True,
                is_root=True,
                credentials_version=1,
                failed_logins=0,
                created_at=now,
            )
            repo.add(account)
            repo.flush()
            repo.add(root)
            return account, root

    @_unique_races
    def create_project(
        self, caller: Principal, name: str, project_id: str | None = None, description: str = ""
    ) -> Project:
        _require_root(caller)
        if not name or len(name) > 64 or name != name.strip():
            raise invalid("project.name", "1 to 64 characters without surrounding spaces")
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            # Names are unique across the store: the SDK finds a project by name alone.
            if repo.project_by_name(name) is not None:
                raise conflict(f"A project named {name} already exists.")
            if project_id is not None and records.project(project_id) is not None:
                raise conflict(f"A project with id {project_id} already exists.")
            project = Project(
                id=project_id or new_id(),
                name=name,
                account_id=caller.account_id,
                created_at=self.clock.now(),
            )
            repo.add(project)
            return project

    # Users

    @_unique_races
    def create_user(
        self,
        caller: Principal,
        name: str,
        password: str | None = None,
        *,
        enabled: bool = True,
        description: str = "",
        domain_id: str | None = None,
    ) -> User:
        _require_root(caller)
        _check_domain(caller, domain_id)
        identity.check_user_name(name)
        identity.check_description("user.description", description)
        if password is not None:
            identity.check_password(password, name)
        password_hash = hash_password(password) if password is not None else None
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            if records.user_by_name(caller.account_id, name) is not None:
                raise conflict(f"A user named {name} already exists in this account.")
            user = User(
                id=new_id(),
                account_id=caller.account_id,
                name=name,
                description=description,
                password_hash=password_hash,
                enabled=enabled,
                is_root=False,
                credentials_version=1,
                failed_logins=0,
                created_at=self.clock.now(),
            )
            repo.add(user)
            return user

    def update_user(
        self,
        caller: Principal,
        user_id: str,
        *,
        password: str | None = None,
        enabled: bool | None = None,
        description: str | None = None,
    ) -> User:
        _require_root(caller)
        if description is not None:
            identity.check_description("user.description", description)
        with self.db.read() as repo:
            current = IdentityRecords(repo).user(caller.account_id, user_id)
            if current is None:
                raise not_found("user", user_id)
            name = current.name
        if password is not None:
            identity.check_password(password, name)
        password_hash = hash_password(password) if password is not None else None
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            user = records.user(caller.account_id, user_id)
            if user is None:
                raise not_found("user", user_id)
            if password_hash is not None:
                user.password_hash = password_hash
            if enabled is not None:
                user.enabled = enabled
            if description is not None:
                user.description = description
            if password_hash is not None or enabled is False:
                user.credentials_version += 1
            return user

    def list_users(self, caller: Principal) -> Sequence[User]:
        _require_root(caller)
        with self.db.read() as repo:
            return IdentityRecords(repo).users(caller.account_id)

    # Groups

    @_unique_races
    def create_group(
        self, caller: Principal, name: str, description: str = "", domain_id: str | None = None
    ) -> Group:
        _require_root(caller)
        _check_domain(caller, domain_id)
        identity.check_group_name(name)
        identity.check_description("group.description", description)
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            if records.group_by_name(caller.account_id, name) is not None:
                raise conflict(f"A group named {name} already exists in this account.")
            group = Group(
                id=new_id(),
                account_id=caller.account_id,
                name=name,
                description=description,
                created_at=self.clock.now(),
            )
            repo.add(group)
            return group

    def list_groups(self, caller: Principal) -> Sequence[Group]:
        _require_root(caller)
        with self.db.read() as repo:
            return IdentityRecords(repo).groups(caller.account_id)

    @_unique_races
    def add_user_to_group(self, caller: Principal, group_id: str, user_id: str) -> None:
        _require_root(caller)
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            _require_group(records, caller, group_id)
            _require_user(records, caller, user_id)
            if records.membership(group_id, user_id) is None:
                repo.add(Membership(group_id=group_id, user_id=user_id))
                records.bump_users([user_id])

    def remove_user_from_group(self, caller: Principal, group_id: str, user_id: str) -> None:
        _require_root(caller)
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            _require_group(records, caller, group_id)
            _require_user(records, caller, user_id)
            membership = records.membership(group_id, user_id)
            if membership is None:
                raise not_found("membership", f"{user_id} in {group_id}")
            repo.delete(membership)
            records.bump_users([user_id])

    # Access keys

    @_unique_races
    def create_access_key(
        self,
        caller: Principal,
        user_id: str,
        description: str = "",
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> CreatedKey:
        _require_root(caller)
        identity.check_description("credential.description", description)
        access_key = access_key or new_access_key()
        secret = secret_key or new_secret_key()
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            user = _require_user(records, caller, user_id)
            if len(records.keys_of(user.id)) >= identity.MAX_ACCESS_KEYS_PER_USER:
                raise invalid(
                    "credential.user_id",
                    f"a user has at most {identity.MAX_ACCESS_KEYS_PER_USER} access keys",
                )
            if records.key(access_key) is not None:
                raise conflict("That access key already exists.")
            key = AccessKey(
                access_key=access_key,
                secret_key=self.box.seal(secret, access_key),
                secret_scheme=SCHEME,
                user_id=user.id,
                description=description,
                status="active",
                failures=0,
                locked_until=None,
                created_at=self.clock.now(),
            )
            repo.add(key)
            records.bump_users([user.id])
            return CreatedKey(key, secret)

    def list_access_keys(
        self, caller: Principal, user_id: str | None = None
    ) -> Sequence[AccessKey]:
        with self.db.read() as repo:
            records = IdentityRecords(repo)
            if user_id is None or user_id == caller.user_id:
                return records.keys_of(caller.user_id)
            _require_root(caller)
            user = _require_user(records, caller, user_id)
            return records.keys_of(user.id)

    def update_access_key(
        self,
        caller: Principal,
        access_key: str,
        *,
        status: str | None = None,
        description: str | None = None,
    ) -> AccessKey:
        """Deactivates or reactivates a key (an inactive key authenticates nothing)."""
        _require_root(caller)
        if status is not None and status not in ("active", "inactive"):
            raise invalid("credential.status", "active or inactive")
        if description is not None:
            identity.check_description("credential.description", description)
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            found = records.key_with_user(access_key)
            if found is None or found[1].account_id != caller.account_id:
                raise not_found("credential", access_key)
            key, user = found
            if status is not None and status != key.status:
                key.status = status
                records.bump_users([user.id])
            if description is not None:
                key.description = description
            return key

    def delete_access_key(self, caller: Principal, access_key: str) -> None:
        _require_root(caller)
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            found = records.key_with_user(access_key)
            if found is None or found[1].account_id != caller.account_id:
                raise not_found("credential", access_key)
            key, user = found
            repo.delete(key)
            records.bump_users([user.id])

    # Custom policies and grants

    @_unique_races
    def create_policy(
        self,
        caller: Principal,
        display_name: str,
        document: Mapping[str, Any],
        *,
        role_type: str = "XA",
        description: str = "",
    ) -> Role:
        _require_root(caller)
        if not display_name or len(display_name) > 128:
            raise invalid("role.display_name", "1 to 128 characters")
        if role_type not in identity.CUSTOM_POLICY_TYPES:
            raise invalid("role.type", "AX (global services) or XA (projects)")
        identity.check_description("role.description", description)
        try:
            parse_policy(document)
        except PolicyError as error:
            raise invalid("role.policy", str(error)) from None
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            if records.role_by_name(caller.account_id, display_name) is not None:
                raise conflict(f"A custom policy named {display_name} already exists.")
            role_id = new_id()
            now = self.clock.now()
            role = Role(
                id=role_id,
                account_id=caller.account_id,
                name=f"custom_{caller.account_id}_{len(records.roles(caller.account_id))}",
                display_name=display_name,
                type=role_type,
                description=description,
                document=dict(document),
                created_at=now,
                updated_at=now,
            )
            repo.add(role)
            return role

    def list_policies(self, caller: Principal) -> Sequence[Role]:
        _require_root(caller)
        with self.db.read() as repo:
            return IdentityRecords(repo).roles(caller.account_id)

    @_unique_races
    def grant(self, caller: Principal, group_id: str, role_id: str, project_id: str | None) -> None:
        """The role to the group on one project, or on every project of the account (None)."""
        _require_root(caller)
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            scope = self._grant_scope(records, caller, project_id)
            _require_group(records, caller, group_id)
            if records.role(caller.account_id, role_id) is None:
                raise not_found("role", role_id)
            if records.grant(group_id, scope, role_id) is None:
                repo.add(Grant(group_id=group_id, project_id=scope, role_id=role_id))
                records.bump_users(records.members(group_id))

    def roles_of_group(
        self, caller: Principal, group_id: str, project_id: str | None
    ) -> Sequence[Role]:
        """The roles a group holds on a project (or, for None, on the whole account)."""
        _require_root(caller)
        with self.db.read() as repo:
            records = IdentityRecords(repo)
            scope = self._grant_scope(records, caller, project_id)
            _require_group(records, caller, group_id)
            return records.roles_granted(group_id, scope)

    def revoke(
        self, caller: Principal, group_id: str, role_id: str, project_id: str | None
    ) -> None:
        _require_root(caller)
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            scope = self._grant_scope(records, caller, project_id)
            _require_group(records, caller, group_id)
            grant = records.grant(group_id, scope, role_id)
            if grant is None:
                raise not_found("role", role_id)
            repo.delete(grant)
            records.bump_users(records.members(group_id))

    @staticmethod
    def _grant_scope(records: IdentityRecords, caller: Principal, project_id: str | None) -> str:
        if project_id is None:
            return ""
        if records.project_account(project_id) != caller.account_id:
            raise not_found("project", project_id)
        return project_id

    # Tokens

    def issue_token(
        self, account_name: str, user_name: str, password: str, scope: Scope
    ) -> IssuedToken:
        """A token for the user's password. Every failure answers alike (401), whichever
        of account, user, password or scope was wrong, so none of them can be probed."""
        with self.db.read() as repo:
            records = IdentityRecords(repo)
            account = records.account_by_name(account_name)
            user = records.user_by_name(account.id, user_name) if account is not None else None
        valid = verify_password(password, user.password_hash if user is not None else None)
        if user is not None:
            # Password guessing meets the same lockout as signature guessing; a locked user is
            # refused like a wrong password, so a lock does not tell who exists.
            lock = LockState(user.failed_logins, user.locked_until)
            if identity.is_locked(lock, self.clock.now()):
                raise authentication_failed("the user name or password is wrong")
            if not valid:
                self._record_login_failure(user.id)
            elif lock.failures:
                self._record_login_success(user.id)
        if not valid:
            raise authentication_failed("the user name or password is wrong")
        assert user is not None and account is not None
        if not user.enabled:
            raise authentication_failed("the user is disabled")
        token = "MII" + secrets.token_urlsafe(48)
        now = self.clock.now()
        with self.db.write() as repo:
            records = IdentityRecords(repo)
            project = self._token_project(records, account, scope)
            current = records.user(account.id, user.id)
            if current is None or current.password_hash != user.password_hash:
                raise authentication_failed("the user name or password is wrong")
            records.purge_tokens(user.id, now)
            record = Token(
                digest=token_digest(token),
                user_id=user.id,
                project_id=project.id if project is not None else None,
                credentials_version=current.credentials_version,
                issued_at=now,
                expires_at=identity.token_expiry(now, self.token_lifetime),
            )
            repo.add(record)
            roles = self._token_roles(records, current, project)
        return IssuedToken(token, record, current, account, project, roles)

    def _record_login_failure(self, user_id: str) -> None:
        with self.db.write() as repo:
            user = repo.session.get(User, user_id, with_for_update=True)
            if user is not None:
                state = identity.after_failure(
                    LockState(user.failed_logins, user.locked_until), self.clock.now()
                )
                user.failed_logins, user.locked_until = state.failures, state.locked_until

    def _record_login_success(self, user_id: str) -> None:
        with self.db.write() as repo:
            user = repo.session.get(User, user_id, with_for_update=True)
            if user is not None:
                user.failed_logins, user.locked_until = 0, None

    @staticmethod
    def _token_project(records: IdentityRecords, account: Account, scope: Scope) -> Project | None:
        if scope.project_id is not None or scope.project_name is not None:
            project = (
                records.project(scope.project_id)
                if scope.project_id is not None
                else next(iter(records.projects(account.id, scope.project_name)), None)
            )
            if project is None or project.account_id != account.id:
                raise authentication_failed("the scope is not a project of the user's account")
            return project
        if scope.domain_id not in (None, account.id) or scope.domain_name not in (
            None,
            account.name,
        ):
            raise authentication_failed("the scope is not the user's account")
        return None

    @staticmethod
    def _token_roles(
        records: IdentityRecords, user: User, project: Project | None
    ) -> Sequence[Role]:
        if user.is_root or project is None:
            return []
        ids = {role_id for role_id, _ in records.policy_documents(user.id, project.id)}
        return [role for role in records.roles(user.account_id) if role.id in ids]

    # Keeping secrets sealed

    def seal_plaintext_secrets(self) -> int:
        """Encrypts the secrets a store from before encryption holds in plain text."""
        with self.db.write() as repo:
            keys = IdentityRecords(repo).plaintext_keys()
            for key in keys:
                key.secret_key = self.box.seal(key.secret_key, key.access_key)
                key.secret_scheme = SCHEME
            return len(keys)

    def check_encryption_key(self) -> None:
        """Raises EncryptionKeyError unless the configured key opens the store's secrets:
        a process with another key would refuse every signature without saying why."""
        with self.db.read() as repo:
            key = IdentityRecords(repo).any_sealed_key()
        if key is not None:
            self.open_secret(key)

    def open_secret(self, key: AccessKey) -> str:
        if key.secret_scheme != SCHEME:
            return key.secret_key
        return self.box.open(key.secret_key, key.access_key)


def root_principal(account: Account, root: User) -> Principal:
    """The account root, as the CLI and the bootstrap act."""
    return Principal(
        access_key="",
        project_id="",
        is_root=True,
        account_id=account.id,
        user_name=root.name,
        user_id=root.id,
    )


def _require_root(caller: Principal) -> None:
    if not caller.is_root:
        raise identity.forbidden()


def _check_domain(caller: Principal, domain_id: str | None) -> None:
    if domain_id is not None and domain_id != caller.account_id:
        raise invalid("domain_id", "it must be the id of the caller's account")


def _require_user(records: IdentityRecords, caller: Principal, user_id: str) -> User:
    user = records.user(caller.account_id, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


def _require_group(records: IdentityRecords, caller: Principal, group_id: str) -> Group:
    group = records.group(caller.account_id, group_id)
    if group is None:
        raise not_found("group", group_id)
    return group


class Lookup:
    """Names or ids as an operator types them (the CLI), resolved within one account."""

    def __init__(self, service: IdentityService, caller: Principal) -> None:
        self.service = service
        self.caller = caller

    def user(self, ref: str) -> User:
        with self.service.db.read() as repo:
            records = IdentityRecords(repo)
            found = records.user(self.caller.account_id, ref) or records.user_by_name(
                self.caller.account_id, ref
            )
        if found is None:
            raise not_found("user", ref)
        return found

    def group(self, ref: str) -> Group:
        with self.service.db.read() as repo:
            records = IdentityRecords(repo)
            found = records.group(self.caller.account_id, ref) or records.group_by_name(
                self.caller.account_id, ref
            )
        if found is None:
            raise not_found("group", ref)
        return found

    def policy(self, ref: str) -> Role:
        with self.service.db.read() as repo:
            records = IdentityRecords(repo)
            found = records.role(self.caller.account_id, ref) or records.role_by_name(
                self.caller.account_id, ref
            )
        if found is None:
            raise not_found("policy", ref)
        return found

    def project(self, ref: str) -> Project:
        with self.service.db.read() as repo:
            records = IdentityRecords(repo)
            project = records.project(ref)
            if project is None or project.account_id != self.caller.account_id:
                project = next(iter(records.projects(self.caller.account_id, ref)), None)
        if project is None:
            raise not_found("project", ref)
        return project


def account_root(service: IdentityService, account_ref: str | None) -> Principal:
    """The root of an account named by name or id, or of the first account if None."""
    with service.db.read() as repo:
        records = IdentityRecords(repo)
        if account_ref is None:
            account = records.any_account()
        else:
            account = records.account(account_ref) or records.account_by_name(account_ref)
        root = records.root(account.id) if account is not None else None
    if account is None or root is None:
        raise not_found("account", account_ref or "(none yet: run `localecs serve` once)")
    return root_principal(account, root)
