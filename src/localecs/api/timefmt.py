"""The several timestamp formats of the ECS and EVS wire (contract 2.11, 2.15, 3.1)."""

from __future__ import annotations

from datetime import UTC, datetime


def job_time(value: datetime | None) -> str:
    """`2016-04-25T20:04:47.591Z`; a job still running has an empty end_time."""
    if value is None:
        return ""
    if value.tzinfo is not UTC:  # the store hands back UTC: convert only what is not
        value = value.astimezone(UTC)
    # isoformat, not strftime: this runs for every sub-job of every ShowJob answer. The first
    # 23 characters are `YYYY-MM-DDTHH:MM:SS.mmm`, the offset after them is always +00:00.
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def server_time(value: datetime) -> str:
    """`2019-05-22T03:19:19Z` (created, updated)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_time(value: datetime | None) -> str:
    """`2019-05-22T03:23:59.000000` (OS-SRV-USG:launched_at)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def volume_time(value: datetime | None) -> str:
    """`2016-05-02T18:14:08.000000` (created_at, updated_at, attached_at)."""
    return usage_time(value)
