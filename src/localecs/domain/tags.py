"""ECS server tags: what a tag may be and how a batch changes a server's tags.

Limits from Huawei's "Adding Tags to an ECS in a Batch" (ecs_02_1002) and the SDK's
BatchAddServerTag model: at most 10 tags per server; a key is 1-36 characters of A-Z, a-z,
0-9, '-', '_' or CJK (U+4E00-U+9FFF), unique per server; a value is 0-43 characters of the same
set plus '.'. Adding an existing key overwrites its value; the call is idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from localecs.errors import Service, invalid_parameter

MAX_TAGS_PER_SERVER = 10
MAX_KEY_LENGTH = 36
MAX_VALUE_LENGTH = 43
_KEY = re.compile(r"^[A-Za-z0-9_\-\u4e00-\u9fff]+$")
_VALUE = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]*$")


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY.match(key):
        raise invalid_parameter(
            Service.ECS,
            f"Invalid tag key {key!r}: 1-{MAX_KEY_LENGTH} characters of letters, digits, "
            "'-', '_' or CJK.",
        )


def check_value(key: str, value: str) -> None:
    if len(value) > MAX_VALUE_LENGTH or not _VALUE.match(value):
        raise invalid_parameter(
            Service.ECS,
            f"Invalid value for tag {key!r}: at most {MAX_VALUE_LENGTH} characters of letters, "
            "digits, '.', '-', '_' or CJK.",
        )


def check_request(pairs: Iterable[tuple[str, str | None]]) -> None:
    """Every key valid and listed once in the request; every given value valid."""
    seen: set[str] = set()
    for key, value in pairs:
        check_key(key)
        if value is not None:
            check_value(key, value)
        if key in seen:
            raise invalid_parameter(Service.ECS, f"Tag key {key!r} is listed more than once.")
        seen.add(key)


def added(current: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str]:
    """The tags after adding ``new``: existing keys take the new value, in place."""
    result = {**current, **new}
    if len(result) > MAX_TAGS_PER_SERVER:
        raise invalid_parameter(
            Service.ECS,
            f"A server takes at most {MAX_TAGS_PER_SERVER} tags; this would make {len(result)}.",
        )
    return result


def removed(current: Mapping[str, str], gone: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """The tags after deleting ``gone``: a key with no value (or an empty one) goes whatever its
    value; a key with a value goes only if the value matches. Absent tags are no error."""
    result = dict(current)
    for key, value in gone:
        if key in result and (not value or result[key] == value):
            del result[key]
    return result


def as_stored(tags: Mapping[str, str]) -> list[str]:
    """The servers table's form ("key=value", as ShowServer's tags and the list filter use)."""
    return [f"{key}={value}" for key, value in tags.items()]


def from_stored(stored: Iterable[object]) -> dict[str, str]:
    pairs = (str(item).partition("=") for item in stored)
    return {key: value for key, _, value in pairs}
