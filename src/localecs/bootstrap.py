"""The first credential: the root of the first account, with a project and an access key.

Values fixed by the environment (LOCALECS_ACCESS_KEY, _SECRET_KEY, _PROJECT_ID, _PROJECT_NAME,
_DOMAIN_ID, _DOMAIN_NAME) win and are stored; anything not fixed is generated once and kept.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from localecs.auth.encryption import SCHEME
from localecs.clock import Clock
from localecs.config import BootstrapCredential
from localecs.services.identity import IdentityService, new_access_key, new_id, new_secret_key
from localecs.store.identity import IdentityRecords
from localecs.store.repository import Repository
from localecs.store.tables import AccessKey, Account, Project, User


@dataclass(frozen=True)
class Credential:
    access_key: str
    secret_key: str
    project_id: str
    domain_id: str = ""
    domain_name: str = ""
    project_name: str = ""


def ensure_credential(
    identity: IdentityService, fixed: BootstrapCredential, region: str
) -> Credential:
    """The credential to print at start. Secrets a foundation-era store kept in plain text are
    sealed first; a key that does not open the stored secrets stops the start here."""
    identity.check_encryption_key()
    identity.seal_plaintext_secrets()
    with identity.db.write() as repo:
        records = IdentityRecords(repo)
        records.lock_bootstrap()
        now = identity.clock.now()
        account = _account(records, repo, identity.clock, fixed)
        root = records.root(account.id) or _add_root(repo, account, identity.clock)
        project = _project(records, repo, account, fixed, region, identity.clock)
        if fixed.access_key and fixed.secret_key:
            key = records.key(fixed.access_key)
            if key is None:
                key = AccessKey(
                    access_key=fixed.access_key,
                    secret_key="",
                    secret_scheme=SCHEME,
                    description="bootstrap",
                    status="active",
                    failures=0,
                    created_at=now,
                )
                repo.add(key)
            key.user_id = root.id
            key.secret_key = identity.box.seal(fixed.secret_key, fixed.access_key)
            key.secret_scheme = SCHEME
            key.status = "active"
            secret = fixed.secret_key
        else:
            keys = records.keys_of(root.id)
            if keys:
                key = keys[0]
                secret = identity.open_secret(key)
            else:
                secret, access_key = new_secret_key(), new_access_key()
                key = AccessKey(
                    access_key=access_key,
                    secret_key=identity.box.seal(secret, access_key),
                    secret_scheme=SCHEME,
                    user_id=root.id,
                    description="bootstrap",
                    status="active",
                    failures=0,
                    created_at=now,
                )
                repo.add(key)
        return Credential(
            access_key=key.access_key,
            secret_key=secret,
            project_id=project.id,
            domain_id=account.id,
            domain_name=account.name,
            project_name=project.name,
        )


def _account(
    records: IdentityRecords, repo: Repository, clock: Clock, fixed: BootstrapCredential
) -> Account:
    account = None
    if fixed.domain_id:
        account = records.account(fixed.domain_id)
    elif fixed.domain_name:
        account = records.account_by_name(fixed.domain_name)
    elif fixed.access_key and (found := records.key_with_user(fixed.access_key)) is not None:
        account = records.account(found[1].account_id)
    else:
        account = records.any_account()
    if account is None:
        account = Account(
            id=fixed.domain_id or new_id(),
            name=fixed.domain_name or f"localecs_{secrets.token_hex(4)}",
            created_at=clock.now(),
        )
        repo.add(account)
        repo.flush()
    elif fixed.domain_name and account.name != fixed.domain_name:
        account.name = fixed.domain_name
        root = records.root(account.id)
        if root is not None:
            root.name = fixed.domain_name
    return account


def _add_root(repo: Repository, account: Account, clock: Clock) -> User:
    root = User(
        id=new_id(),
        account_id=account.id,
        name=account.name,
        description="",
        password_hash=None,
        enabled=True,
        is_root=True,
        credentials_version=1,
        failed_logins=0,
        created_at=clock.now(),
    )
    repo.add(root)
    repo.flush()
    return root


def _project(
    records: IdentityRecords,
    repo: Repository,
    account: Account,
    fixed: BootstrapCredential,
    region: str,
    clock: Clock,
) -> Project:
    project = None
    if fixed.project_id:
        project = records.project(fixed.project_id)
        if project is not None and project.account_id != account.id:
            raise ValueError(
                f"project {fixed.project_id} belongs to another account than the bootstrap's"
            )
    elif fixed.project_name:
        project = next(iter(records.projects(account.id, fixed.project_name)), None)
    else:
        project = next(iter(records.projects(account.id)), None)
    if project is None:
        # The SDK looks a project up by the region id as its name; the first project takes it.
        name = fixed.project_name or (
            region if repo.project_by_name(region) is None else f"{region}_{secrets.token_hex(4)}"
        )
        project = Project(
            id=fixed.project_id or secrets.token_hex(16),
            name=name,
            account_id=account.id,
            created_at=clock.now(),
        )
        repo.add(project)
        repo.flush()
    elif fixed.project_name and project.name != fixed.project_name:
        project.name = fixed.project_name
    return project
