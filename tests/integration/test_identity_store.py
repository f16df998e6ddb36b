"""Identity on a real store (SQLite and PostgreSQL): a foundation-era store upgraded with its
secrets sealed, secrets at rest, lockout shared by every process, the key check at start."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from localecs.auth import signing
from localecs.auth.authenticate import Authenticator, SignedRequest
from localecs.auth.encryption import EncryptionKeyError, SecretBox
from localecs.bootstrap import ensure_credential
from localecs.clock import FixedClock
from localecs.config import BootstrapCredential
from localecs.errors import ApiError
from localecs.services.identity import IdentityService, root_principal
from localecs.store import schema
from localecs.store.database import make_engine
from localecs.store.identity import IdentityRecords
from localecs.store.uow import Database
from tests.support import postgres

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REGION = "cn-north-4"


@pytest.fixture(params=postgres.STORES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with postgres.store(request.param) as url:
        engine = make_engine(url or f"sqlite:///{tmp_path / 'identity.db'}")
        yield engine
        engine.dispose()


def signed_request(
    access_key: str, secret_key: str, project_id: str, moment: datetime = NOW
) -> SignedRequest:
    """A GET signed exactly as the SDK signs it (contract 5.2)."""
    date = moment.strftime(signing.SDK_DATE_FORMAT)
    headers = {"host": "localhost", "x-sdk-date": date, "x-project-id": project_id}
    names = sorted(headers)
    path = f"/v1/{project_id}/cloudservers/detail"
    canonical = signing.canonical_request("GET", path, "", headers, names, b"")
    signature = signing.sign(secret_key, signing.string_to_sign(date, canonical))
    headers["authorization"] = (
        f"{signing.ALGORITHM} Access={access_key}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
    return SignedRequest("GET", path, "", headers, b"")


def test_a_foundation_store_upgrades_and_its_plaintext_secret_is_sealed(engine: Engine) -> None:
    schema.upgrade(engine, "0001")
    access_key, secret_key, project_id = "AKOLD" + secrets.token_hex(4), "old-secret", "p" * 32
    stamp = NOW.replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOW
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO projects (id, name, created_at) VALUES (:p, :n, :t)"),
            {"p": project_id, "n": REGION, "t": stamp},
        )
        connection.execute(
            text(
                "INSERT INTO access_keys (access_key, secret_key, project_id, created_at)"
                " VALUES (:a, :s, :p, :t)"
            ),
            {"a": access_key, "s": secret_key, "p": project_id, "t": stamp},
        )
    schema.upgrade(engine)
    db = Database(engine)
    clock = FixedClock(NOW)
    identity = IdentityService(db, clock, SecretBox(os.urandom(32)))

    credential = ensure_credential(identity, BootstrapCredential(), REGION)

    assert (credential.access_key, credential.secret_key) == (access_key, secret_key)
    assert credential.project_id == project_id
    with engine.connect() as connection:
        stored, scheme = connection.execute(
            text("SELECT secret_key, secret_scheme FROM access_keys")
        ).one()
    assert scheme == "aesgcm1" and secret_key not in stored
    principal = Authenticator(db, clock, identity.box).authenticate(
        signed_request(access_key, secret_key, project_id), project_id
    )
    assert principal.is_root and principal.project_id == project_id
    assert principal.account_id == credential.domain_id


def test_processes_that_bootstrap_together_agree_on_one_account(engine: Engine) -> None:
    """API processes of one deployment start together on an empty store, with the same fixed
    credential: every one of them starts, and they share one account, root and project."""
    schema.upgrade(engine)
    fixed = BootstrapCredential(
        access_key="BOOTSTRAPRACE0000001",
        secret_key=secrets.token_hex(20),
        project_id=secrets.token_hex(16),
    )
    box = SecretBox(os.urandom(32))
    starters = 6
    together = threading.Barrier(starters)

    def start() -> tuple[str, str]:
        # An engine each, as each process has its own connections.
        own = make_engine(engine.url.render_as_string(hide_password=False))
        try:
            identity = IdentityService(Database(own), FixedClock(NOW), box)
            together.wait()
            credential = ensure_credential(identity, fixed, REGION)
            return credential.domain_id, credential.project_id
        finally:
            own.dispose()

    for _ in range(3):
        with ThreadPoolExecutor(starters) as pool:
            started = list(pool.map(lambda _: start(), range(starters)))
        assert len(set(started)) == 1
        assert started[0][1] == fixed.project_id
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM accounts")).scalar() == 1
            roots = connection.execute(text("SELECT count(*) FROM users WHERE is_root")).scalar()
            assert roots == 1
            connection.execute(text("DELETE FROM access_keys"))
            connection.execute(text("DELETE FROM projects"))
            connection.execute(text("DELETE FROM users"))
            connection.execute(text("DELETE FROM accounts"))
            connection.commit()


def test_new_secrets_are_never_stored_in_clear_and_a_wrong_key_stops_the_start(
    engine: Engine,
) -> None:
    schema.upgrade(engine)
    db = Database(engine)
    identity = IdentityService(db, FixedClock(NOW), SecretBox(os.urandom(32)))
    credential = ensure_credential(identity, BootstrapCredential(), REGION)
    with db.read() as repo:
        records = IdentityRecords(repo)
        account = records.account(credential.domain_id)
        root = records.root(credential.domain_id)
        assert account is not None and root is not None
    created = identity.create_access_key(root_principal(account, root), root.id)
    with engine.connect() as connection:
        stored = " ".join(
            row[0] for row in connection.execute(text("SELECT secret_key FROM access_keys"))
        )
    assert created.secret not in stored and credential.secret_key not in stored

    stranger = IdentityService(db, FixedClock(NOW), SecretBox(os.urandom(32)))
    with pytest.raises(EncryptionKeyError):
        ensure_credential(stranger, BootstrapCredential(), REGION)


def test_lockout_is_shared_by_every_process_on_the_store(engine: Engine) -> None:
    schema.upgrade(engine)
    db = Database(engine)
    clock = FixedClock(NOW)
    identity = IdentityService(db, clock, SecretBox(os.urandom(32)))
    credential = ensure_credential(identity, BootstrapCredential(), REGION)
    # Two authenticators stand for two processes: their only common state is the store.
    first, second = (Authenticator(db, clock, identity.box) for _ in range(2))
    good = signed_request(credential.access_key, credential.secret_key, credential.project_id)
    bad = signed_request(credential.access_key, "wrong", credential.project_id)
    for authenticator in (first, second, first, second, first):
        with pytest.raises(ApiError):
            authenticator.authenticate(bad, credential.project_id)
    for authenticator in (first, second):
        with pytest.raises(ApiError) as raised:
            authenticator.authenticate(good, credential.project_id)
        assert "limit" in raised.value.message
    clock.current = NOW + timedelta(minutes=5)
    # Five minutes on the signature date would be refused as skew; re-sign at the new time.
    later = signed_request(
        credential.access_key, credential.secret_key, credential.project_id, clock.current
    )
    assert second.authenticate(later, credential.project_id).is_root


def test_a_secret_that_does_not_open_authenticates_nothing(engine: Engine) -> None:
    """Whatever a process with the wrong encryption key uses in place of a secret it cannot
    open, no signature verifies against it (an empty one least of all)."""
    schema.upgrade(engine)
    db = Database(engine)
    clock = FixedClock(NOW)
    identity = IdentityService(db, clock, SecretBox(os.urandom(32)))
    credential = ensure_credential(identity, BootstrapCredential(), REGION)
    stranger = Authenticator(db, clock, SecretBox(os.urandom(32)))
    for secret in ("", credential.secret_key):
        request = signed_request(credential.access_key, secret, credential.project_id)
        with pytest.raises(ApiError) as raised:
            stranger.authenticate(request, credential.project_id)
        assert raised.value.status == 401
