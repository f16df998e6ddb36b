"""The first credential: taken from the environment, else generated once and kept."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from localecs.clock import Clock
from localecs.config import BootstrapCredential
from localecs.store.repository import Repository
from localecs.store.tables import AccessKey, Project
from localecs.store.uow import Database

_AK_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Credential:
    access_key: str
    secret_key: str
    project_id: str


def ensure_credential(
    db: Database, clock: Clock, fixed: BootstrapCredential, region: str
) -> Credential:
    """The credential to print at start. Values fixed by the environment win and are stored."""
    with db.write() as repo:
        if fixed.access_key and fixed.secret_key:
            known = repo.access_key(fixed.access_key)
            project_id = fixed.project_id or (known.project_id if known else _new_project_id())
            credential = Credential(fixed.access_key, fixed.secret_key, project_id)
        else:
            existing = repo.any_access_key()
            if existing is not None:
                return Credential(existing.access_key, existing.secret_key, existing.project_id)
            access_key = "".join(secrets.choice(_AK_ALPHABET) for _ in range(20))
            project_id = fixed.project_id or _new_project_id()
            credential = Credential(access_key, secrets.token_urlsafe(30), project_id)
        _store(repo, clock, credential, region)
        return credential


def _new_project_id() -> str:
    # Huawei project ids are 32 lowercase hex characters.
    return secrets.token_hex(16)


def _store(repo: Repository, clock: Clock, credential: Credential, region: str) -> None:
    now = clock.now()
    if repo.project(credential.project_id) is None:
        # The SDK looks a project up by the region id as its name; the first project takes it.
        name = (
            region if repo.project_by_name(region) is None else f"{region}_{secrets.token_hex(4)}"
        )
        repo.add(Project(id=credential.project_id, name=name, created_at=now))
        repo.flush()
    key = repo.access_key(credential.access_key)
    if key is None:
        repo.add(
            AccessKey(
                access_key=credential.access_key,
                secret_key=credential.secret_key,
                project_id=credential.project_id,
                created_at=now,
            )
        )
    else:
        key.secret_key = credential.secret_key
        key.project_id = credential.project_id
