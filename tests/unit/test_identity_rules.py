"""Identity's pure rules and primitives: lockout, token validity, names and passwords, secret
sealing, password hashing and the rate limiter."""

from __future__ import annotations

import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localecs.auth.encryption import EncryptionKeyError, SecretBox, load_key, new_key_text
from localecs.auth.passwords import hash_password, verify_password
from localecs.auth.ratelimit import RateLimiter
from localecs.domain import identity
from localecs.domain.identity import LockState
from localecs.errors import ApiError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


# --- Lockout ---------------------------------------------------------------------------------


def test_the_fifth_consecutive_failure_locks_for_five_minutes() -> None:
    state = LockState(0, None)
    for _ in range(4):
        state = identity.after_failure(state, T0)
        assert not identity.is_locked(state, T0)
    state = identity.after_failure(state, T0)
    assert identity.is_locked(state, T0)
    assert identity.is_locked(state, T0 + timedelta(minutes=4, seconds=59))
    assert not identity.is_locked(state, T0 + timedelta(minutes=5))


def test_after_a_lock_ends_the_count_starts_again() -> None:
    locked = LockState(0, T0 + timedelta(minutes=5))
    later = T0 + timedelta(minutes=6)
    state = identity.after_failure(locked, later)
    assert state == LockState(1, None)


@given(st.integers(min_value=0, max_value=3))
def test_fewer_than_five_failures_never_lock(failures: int) -> None:
    state = LockState(failures, None)
    assert not identity.is_locked(identity.after_failure(state, T0), T0)


# --- Tokens ----------------------------------------------------------------------------------


def test_a_token_is_usable_until_it_expires_or_its_user_changes() -> None:
    expires = identity.token_expiry(T0, timedelta(hours=24))
    assert identity.token_usable(expires, 3, 3, T0) is None
    assert identity.token_usable(expires, 3, 3, expires) == "token expires"
    assert "revoked" in (identity.token_usable(expires, 3, 4, T0) or "")


# --- Names and passwords ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alice", "dev.ops-1", "Team_A user", "_x"])
def test_good_user_names(name: str) -> None:
    identity.check_user_name(name)


@pytest.mark.parametrize("name", ["", "1abc", " lead", "trail ", "x" * 65, "a/b", "é"])
def test_bad_user_names(name: str) -> None:
    with pytest.raises(ApiError) as raised:
        identity.check_user_name(name)
    assert raised.value.code == "IAM.0007"


@pytest.mark.parametrize(
    "password", ["short1A", "onlylowercase", "ONLYUPPER", "12345678", "alice123", "321ecila"]
)
def test_weak_passwords_are_refused_without_being_repeated(password: str) -> None:
    with pytest.raises(ApiError) as raised:
        identity.check_password(password, "alice123")
    assert password not in raised.value.message


def test_a_good_password() -> None:
    identity.check_password("Correct-Horse-7", "alice")


# --- Sealing secrets -------------------------------------------------------------------------


def test_a_sealed_secret_opens_only_with_its_key_and_its_access_key() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal("the secret", "AK1")
    assert "the secret" not in sealed
    assert box.open(sealed, "AK1") == "the secret"
    assert box.seal("the secret", "AK1") != sealed  # a fresh nonce each time
    with pytest.raises(EncryptionKeyError):
        box.open(sealed, "AK2")
    with pytest.raises(EncryptionKeyError):
        SecretBox(os.urandom(32)).open(sealed, "AK1")
    with pytest.raises(EncryptionKeyError):
        box.open("not base64 at all!", "AK1")


def test_the_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "secret.key"
    first = load_key(None, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_key(None, key_file) == first
    assert list(key_file.parent.iterdir()) == [key_file]  # no drafts left behind


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_key(None, key_file))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1


def test_a_configured_key_wins_and_a_malformed_one_is_refused(tmp_path: Path) -> None:
    text = new_key_text()
    assert len(load_key(text, tmp_path / "unused.key")) == 32
    assert not (tmp_path / "unused.key").exists()
    for bad in ["short", "!!!!", new_key_text()[:-8]]:
        with pytest.raises(EncryptionKeyError):
            load_key(bad, tmp_path / "unused.key")


# --- Passwords -------------------------------------------------------------------------------


def test_password_hashes_verify_and_are_salted() -> None:
    stored = hash_password("Correct-Horse-7")
    assert stored.startswith("scrypt$") and "Correct-Horse-7" not in stored
    assert verify_password("Correct-Horse-7", stored)
    assert not verify_password("correct-horse-7", stored)
    assert hash_password("Correct-Horse-7") != stored
    assert not verify_password("anything", None)
    assert not verify_password("anything", "md5$whatever")


# --- Rate limits -----------------------------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate_per_credential() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # other credentials have buckets of their own
    clock.now += 0.5
    assert limiter.allow("a") and not limiter.allow("a")
    clock.now += 10
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]


def test_a_rate_of_zero_never_limits() -> None:
    limiter = RateLimiter(rate=0, burst=0)
    assert all(limiter.allow("a") for _ in range(10_000))
