"""Who is calling: the AK/SK signature check against the stored access keys (contract 5.2)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from localecs.auth import signing
from localecs.clock import Clock
from localecs.errors import ApiError, authentication_failed
from localecs.store.uow import Database

log = logging.getLogger("localecs.auth")

MAX_CLOCK_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class Principal:
    access_key: str
    project_id: str
    # The account's root credential: may use the control API (/_localecs/...).
    is_root: bool = True


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]  # lower-case names, values as the client signed them
    body: bytes


class Authenticator:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def authenticate(self, request: SignedRequest) -> Principal:
        """The caller of a signed request; raises 401 APIG.0301 for anything less than valid."""
        header = request.headers.get("authorization")
        if header is None:
            if "x-auth-token" in request.headers:
                raise authentication_failed("token authentication is not enabled")
            raise authentication_failed("the request is not signed")
        try:
            auth = signing.parse_authorization(header)
            signed_at = signing.parse_sdk_date(request.headers.get("x-sdk-date", ""))
        except signing.SignatureError as error:
            raise authentication_failed(str(error)) from None
        if abs(self._clock.now() - signed_at) > MAX_CLOCK_SKEW:
            raise authentication_failed("X-Sdk-Date is more than 15 minutes from server time")
        with self._db.read() as repo:
            key = repo.access_key(auth.access_key)
            found = (key.secret_key, key.project_id) if key is not None else None
        # An unknown key and a wrong signature answer alike, so keys cannot be probed.
        secret, project_id = found if found is not None else ("", "")
        valid = signing.verify_signature(
            auth,
            secret,
            request.method,
            request.raw_path,
            request.raw_query,
            request.headers,
            request.body,
        )
        if found is None or not valid:
            log.info("signature rejected for access key %s", auth.access_key)
            raise authentication_failed("verify aksk signature fail")
        return Principal(auth.access_key, project_id)


def check_project(principal: Principal, path_project_id: str, mismatch: ApiError) -> None:
    if principal.project_id != path_project_id:
        raise mismatch
