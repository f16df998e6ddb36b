"""Identity rules: names, passwords, key limits, lockout and token lifetimes. Pure.

IAM answers its own errors as ``{"error_msg", "error_code"}`` (the gateway's shape, which the
SDK reads at top level). Codes follow the IAM API reference where it names one (IAM.0004 for
"could not find"); the rest are this project's choice, listed in docs/identity.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from localecs.errors import ApiError, ErrorFormat

LOCKOUT_THRESHOLD = 5
LOCKOUT_DURATION = timedelta(minutes=5)
MAX_ACCESS_KEYS_PER_USER = 2
DEFAULT_TOKEN_LIFETIME = timedelta(hours=24)

# IAM: 1-32 characters (64 for the API), letters, digits, spaces, "-", "_", "."; not a digit
# first. Our limit is the API's.
_USER_NAME = re.compile(r"[A-Za-z_.\- ][A-Za-z0-9_.\- ]{0,63}")
_GROUP_NAME = re.compile(r"[^\s@#%&<>\\:;\"'*?/|][^@#%&<>\\:;\"'*?/|]{0,127}")
_ACCOUNT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{2,63}")
_PASSWORD_CLASSES = (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
CUSTOM_POLICY_TYPES = ("XA", "AX")


def invalid(field: str, reason: str) -> ApiError:
    return ApiError(
        400, "IAM.0007", f"Request parameter {field} is invalid: {reason}", ErrorFormat.GATEWAY
    )


def not_found(kind: str, identifier: str) -> ApiError:
    return ApiError(404, "IAM.0004", f"Could not find {kind}: {identifier}.", ErrorFormat.GATEWAY)


def conflict(message: str) -> ApiError:
    return ApiError(409, "IAM.0016", message, ErrorFormat.GATEWAY)


def forbidden() -> ApiError:
    return ApiError(
        403,
        "IAM.0002",
        "You are not authorized to perform the requested action.",
        ErrorFormat.GATEWAY,
    )


def check_user_name(name: str) -> None:
    if _USER_NAME.fullmatch(name) is None or name != name.strip():
        raise invalid(
            "user.name",
            "1 to 64 letters, digits, spaces, '-', '_' or '.', not starting with a digit "
            "or a space",
        )


def check_group_name(name: str) -> None:
    if _GROUP_NAME.fullmatch(name) is None or name != name.strip():
        raise invalid("group.name", "1 to 128 characters, none of @#%&<>\\:;\"'*?/|")


def check_account_name(name: str) -> None:
    if _ACCOUNT_NAME.fullmatch(name) is None:
        raise invalid("domain.name", "3 to 64 letters, digits, '-' or '_', a letter first")


def check_password(password: str, user_name: str) -> None:
    """IAM's default policy: 8 to 32 characters of at least two kinds, not the user name
    forwards or backwards. The reason never repeats the password."""
    if not 8 <= len(password) <= 32:
        raise invalid("password", "it must have 8 to 32 characters")
    kinds = sum(1 for pattern in _PASSWORD_CLASSES if re.search(pattern, password))
    if kinds < 2:
        raise invalid(
            "password",
            "it must mix at least two of: lower case, upper case, digits, special characters",
        )
    if password.lower() in (user_name.lower(), user_name.lower()[::-1]):
        raise invalid("password", "it must not be the user name or the user name reversed")


def check_description(field: str, description: str) -> None:
    if len(description) > 255:
        raise invalid(field, "at most 255 characters")


@dataclass(frozen=True)
class LockState:
    failures: int
    locked_until: datetime | None


def is_locked(state: LockState, now: datetime) -> bool:
    return state.locked_until is not None and now < state.locked_until


def after_failure(state: LockState, now: datetime) -> LockState:
    """One more consecutive signature failure: the fifth locks the key for five minutes and
    starts the count again for when the lock ends."""
    failures = 0 if state.locked_until is not None and not is_locked(state, now) else state.failures
    failures += 1
    if failures >= LOCKOUT_THRESHOLD:
        return LockState(0, now + LOCKOUT_DURATION)
    return LockState(failures, None)


def token_expiry(issued_at: datetime, lifetime: timedelta) -> datetime:
    return issued_at + lifetime


def token_usable(
    expires_at: datetime, issued_version: int, current_version: int, now: datetime
) -> str | None:
    """Why a token can no longer be used, or None if it can."""
    if now >= expires_at:
        return "token expires"
    if issued_version != current_version:
        return "the token was revoked: the user's password, keys or permissions changed"
    return None
