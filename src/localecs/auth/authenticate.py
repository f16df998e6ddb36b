"""Who is calling: an AK/SK signature (contract 5.2) or an IAM token (5.1), the account and
project that follow from it, and the caller's policies on that project.

One prebuilt statement per request finds the key (or token) with its user (store/reads.py:
no ORM session, no transaction); a project's account never changes, so it is read once per
process. The user's policies come from a cache keyed on the user's ``credentials_version``, which
every change of password, keys or grants bumps, so a change made by any process is seen by the
very next request everywhere (contract 9). Only a cache miss opens a read transaction.

On SQLite the whole check runs where the request is (the event loop: api/deps.py); the writes
it may make (a failed signature counted, a lockout cleared) are single-row updates.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from localecs.auth import signing
from localecs.auth.encryption import SCHEME, EncryptionKeyError, SecretBox
from localecs.auth.ratelimit import RateLimiter
from localecs.clock import Clock
from localecs.domain import identity
from localecs.domain.identity import LockState
from localecs.domain.policies import Policy, PolicyError, parse_policy
from localecs.errors import ApiError, authentication_failed, throttled
from localecs.store.identity import IdentityRecords, UserRecord
from localecs.store.uow import Database

log = logging.getLogger("localecs.auth")

MAX_CLOCK_SKEW = timedelta(minutes=15)
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Principal:
    access_key: str  # "" when the caller came with a token
    project_id: str  # the project the request may act on; "" if none of the caller's
    # The account root may do everything; an IAM user only what its policies allow (on the
    # project it called), evaluated by services/authorization.py.
    is_root: bool = True
    policies: tuple[Policy, ...] = ()
    account_id: str = ""
    user_name: str = ""  # the g:UserName condition key
    user_id: str = ""


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]  # lower-case names, values as the client signed them
    body: bytes


@dataclass(frozen=True)
class _Caller:
    """What one read transaction found out about the credential of a request."""

    user_id: str
    user_name: str
    account_id: str
    is_root: bool
    enabled: bool
    version: int
    project_id: str  # "" unless the requested project is one of the account's
    policies: tuple[Policy, ...]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Authenticator:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        box: SecretBox,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._box = box
        self._limiter = limiter or RateLimiter(0, 0)
        self._policies: OrderedDict[tuple[str, str, int], tuple[Policy, ...]] = OrderedDict()
        self._project_accounts: dict[str, str] = {}
        self._opened: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def authenticate(self, request: SignedRequest, project_id: str | None = None) -> Principal:
        """The caller of a request, for ``project_id`` (the path's) if given; raises 401
        APIG.0301 for anything less than a valid credential, 429 when over its rate."""
        header = request.headers.get("authorization")
        if header is None:
            token = request.headers.get("x-auth-token")
            if token is not None:
                return self._by_token(token.strip(), project_id)
            raise authentication_failed("the request is not signed")
        return self._by_signature(request, header, project_id)

    # AK/SK

    def _by_signature(
        self, request: SignedRequest, header: str, project_id: str | None
    ) -> Principal:
        try:
            auth = signing.parse_authorization(header)
            signed_at = signing.parse_sdk_date(request.headers.get("x-sdk-date", ""))
        except signing.SignatureError as error:
            raise authentication_failed(str(error)) from None
        now = self._clock.now()
        if abs(now - signed_at) > MAX_CLOCK_SKEW:
            raise authentication_failed("X-Sdk-Date is more than 15 minutes from server time")
        found = self._db.hot_reads.key_record(auth.access_key)
        if found is None:
            # An unknown key costs and answers the same as a wrong signature.
            self._verify(auth, "", request)
            log.info("signature rejected for access key %s", auth.access_key)
            raise authentication_failed("verify aksk signature fail")
        lock = LockState(found.failures, found.locked_until)
        if identity.is_locked(lock, now):
            raise authentication_failed("AK access failed to reach the limit,forbidden.")
        secret = self._secret(auth.access_key, found.secret_key, found.secret_scheme)
        if secret is None:
            raise authentication_failed("verify aksk signature fail")
        if not self._verify(auth, secret, request):
            log.info("signature rejected for access key %s", auth.access_key)
            self._record_failure(auth.access_key)
            raise authentication_failed("verify aksk signature fail")
        caller = self._caller(found.user, project_id)
        if not (found.status == "active" and caller.enabled):
            raise authentication_failed("the access key is disabled")
        if lock.failures:
            self._reset_failures(auth.access_key)
        if not self._limiter.allow("ak:" + auth.access_key):
            raise throttled()
        return self._principal(auth.access_key, caller)

    def _secret(self, access_key: str, sealed: str, scheme: str) -> str | None:
        """The key's secret, or None if it cannot be had (never a stand-in: a request signed
        with that stand-in would then verify)."""
        if scheme != SCHEME:
            return sealed  # sealed at the next start (services/identity.py)
        # Keyed by the sealed text itself: a new secret is a new entry, never a stale answer.
        opened = self._opened.get((access_key, sealed))
        if opened is not None:
            return opened
        try:
            opened = self._box.open(sealed, access_key)
        except EncryptionKeyError:
            log.error(
                "the secret of access key %s does not open with this encryption key", access_key
            )
            return None
        with self._lock:
            self._opened[(access_key, sealed)] = opened
            while len(self._opened) > _CACHE_SIZE:
                self._opened.popitem(last=False)
        return opened

    @staticmethod
    def _verify(auth: signing.Authorization, secret: str, request: SignedRequest) -> bool:
        return signing.verify_signature(
            auth,
            secret,
            request.method,
            request.raw_path,
            request.raw_query,
            request.headers,
            request.body,
        )

    def _record_failure(self, access_key: str) -> None:
        with self._db.write() as repo:
            key = IdentityRecords(repo).key(access_key, lock=True)
            if key is None:
                return
            state = identity.after_failure(
                LockState(key.failures, key.locked_until), self._clock.now()
            )
            key.failures, key.locked_until = state.failures, state.locked_until
        if state.locked_until is not None:
            log.warning("access key %s locked until %s", access_key, state.locked_until)

    def _reset_failures(self, access_key: str) -> None:
        with self._db.write() as repo:
            key = IdentityRecords(repo).key(access_key, lock=True)
            if key is not None and not identity.is_locked(
                LockState(key.failures, key.locked_until), self._clock.now()
            ):
                key.failures, key.locked_until = 0, None

    # Tokens

    def _by_token(self, token: str, project_id: str | None) -> Principal:
        if not token:
            raise authentication_failed("x-auth-token not found")
        digest = token_digest(token)
        found = self._db.hot_reads.token_record(digest)
        if found is None or not hmac.compare_digest(found.digest, digest):
            raise authentication_failed("decrypt token fail")
        scope = found.project_id or ""
        # A token acts only on its own project: for any other, the caller's project is "" and
        # the path's project check refuses the request.
        caller = self._caller(found.user, scope if scope == project_id else None)
        reason = identity.token_usable(
            found.expires_at, found.credentials_version, caller.version, self._clock.now()
        )
        if reason is not None:
            raise authentication_failed(f"{reason}, expires_at: {_iso(found.expires_at)}")
        if not caller.enabled:
            raise authentication_failed("the user is disabled")
        if not self._limiter.allow("user:" + caller.user_id):
            raise throttled()
        return self._principal("", caller)

    # Callers

    def _caller(self, user: UserRecord, project_id: str | None) -> _Caller:
        project = ""
        if project_id:
            account = self._project_accounts.get(project_id)
            if account is None:
                account = self._db.hot_reads.project_account(project_id)
                if account is not None:
                    self._project_accounts[project_id] = account
            if account == user.account_id:
                project = project_id
        policies: tuple[Policy, ...] = ()
        if project and not user.is_root:
            policies = self._policies_of(user, project)
        return _Caller(
            user.id,
            user.name,
            user.account_id,
            user.is_root,
            user.enabled,
            user.credentials_version,
            project,
            policies,
        )

    def _policies_of(self, user: UserRecord, project_id: str) -> tuple[Policy, ...]:
        cache_key = (user.id, project_id, user.credentials_version)
        with self._lock:
            cached = self._policies.get(cache_key)
            if cached is not None:
                self._policies.move_to_end(cache_key)
                return cached
        # Read after the version that keys the cache: the documents are at least that new.
        with self._db.read() as repo:
            documents = IdentityRecords(repo).policy_documents(user.id, project_id)
        policies = []
        for role_id, document in documents:
            try:
                policies.append(parse_policy(document))
            except PolicyError as error:
                # Documents are checked when created; one that no longer parses (a newer
                # rule) grants nothing rather than failing every request of the user.
                log.warning("policy %s is ignored: %s", role_id, error)
        parsed = tuple(policies)
        with self._lock:
            self._policies[cache_key] = parsed
            while len(self._policies) > _CACHE_SIZE:
                self._policies.popitem(last=False)
        return parsed

    @staticmethod
    def _principal(access_key: str, caller: _Caller) -> Principal:
        return Principal(
            access_key=access_key,
            project_id=caller.project_id,
            is_root=caller.is_root,
            policies=caller.policies,
            account_id=caller.account_id,
            user_name=caller.user_name,
            user_id=caller.user_id,
        )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_project(principal: Principal, path_project_id: str, mismatch: ApiError) -> None:
    if principal.project_id != path_project_id:
        raise mismatch
