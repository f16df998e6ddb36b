"""What authentication costs per request, in process (no HTTP), on SQLite or PostgreSQL.

    python -m bench.authentication [POSTGRESQL_SERVER_URL] [--requests N]

With a PostgreSQL URL it works in a throwaway database created beside the one named (and
dropped after); without one, in a temporary SQLite file.

Measures Authenticator.authenticate for: the account root's AK/SK; an IAM user's AK/SK (policies
from the cache); the same user right after a permission change (policies read again); a token.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from localecs.auth import signing
from localecs.auth.authenticate import Authenticator, SignedRequest
from localecs.auth.encryption import SecretBox
from localecs.bootstrap import ensure_credential
from localecs.clock import SystemClock
from localecs.config import BootstrapCredential
from localecs.services.identity import IdentityService, Scope, account_root
from localecs.store import schema
from localecs.store.database import make_engine
from localecs.store.uow import Database

POLICY = {"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["ecs:*:*"]}]}


def signed(access_key: str, secret_key: str, project_id: str) -> SignedRequest:
    date = datetime.now(UTC).strftime(signing.SDK_DATE_FORMAT)
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


def measure(name: str, call: Callable[[], object], requests: int) -> None:
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1e6)
    timings.sort()
    print(
        f"{name:<42} median {statistics.median(timings):7.0f} us   "
        f"p95 {timings[int(len(timings) * 0.95)]:7.0f} us"
    )


@contextmanager
def _store(server_url: str | None, tmp: str) -> Iterator[str]:
    if server_url is None:
        yield f"sqlite:///{tmp}/bench.db"
        return
    name = f"localecs_bench_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, _store(args.url, tmp) as url:
        engine = make_engine(url)
        schema.upgrade(engine)
        db, clock = Database(engine), SystemClock()
        identity = IdentityService(db, clock, SecretBox(os.urandom(32)))
        root = ensure_credential(identity, BootstrapCredential(), "cn-north-4")
        caller = account_root(identity, None)
        user = identity.create_user(caller, "bench-user", "Bench-Pass-1")
        group = identity.create_group(caller, "bench-group")
        identity.add_user_to_group(caller, group.id, user.id)
        role = identity.create_policy(caller, "bench-policy", POLICY)
        identity.grant(caller, group.id, role.id, root.project_id)
        key = identity.create_access_key(caller, user.id)
        authenticator = Authenticator(db, clock, identity.box)
        project = root.project_id

        root_request = signed(root.access_key, root.secret_key, project)
        user_request = signed(key.key.access_key, key.secret, project)
        measure(
            "root AK/SK", lambda: authenticator.authenticate(root_request, project), args.requests
        )
        measure(
            "IAM user AK/SK (policies cached)",
            lambda: authenticator.authenticate(user_request, project),
            args.requests,
        )

        def after_change() -> None:
            # A membership change bumps the user's version: the next request re-reads policies.
            identity.remove_user_from_group(caller, group.id, user.id)
            identity.add_user_to_group(caller, group.id, user.id)

        def changed() -> object:
            return authenticator.authenticate(user_request, project)

        timings = []
        for _ in range(min(args.requests, 300)):
            after_change()
            started = time.perf_counter()
            changed()
            timings.append((time.perf_counter() - started) * 1e6)
        print(
            f"{'IAM user AK/SK (after a permission change)':<42} median "
            f"{statistics.median(timings):7.0f} us"
        )
        # Issued after the changes above, which revoke earlier tokens.
        token = identity.issue_token(
            root.domain_name, "bench-user", "Bench-Pass-1", Scope(project_id=project)
        ).token
        token_request = SignedRequest("GET", "/", "", {"x-auth-token": token}, b"")
        measure(
            "IAM user token",
            lambda: authenticator.authenticate(token_request, project),
            args.requests,
        )
        engine.dispose()


if __name__ == "__main__":
    main()
