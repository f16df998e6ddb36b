"""Wire timestamp formats (contract 2.11, 2.15, 3.1 and section 8, "Job times")."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localecs.api.timefmt import job_time, server_time, usage_time, volume_time

PLUS_EIGHT = timezone(timedelta(hours=8))
JOB_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def test_job_time_matches_the_documented_example() -> None:
    value = datetime(2016, 4, 25, 20, 4, 47, 591000, tzinfo=UTC)

    assert job_time(value) == "2016-04-25T20:04:47.591Z"


@pytest.mark.parametrize(
    ("microsecond", "millis"), [(0, "000"), (999, "000"), (1000, "001"), (591999, "591")]
)
def test_job_time_truncates_to_milliseconds(microsecond: int, millis: str) -> None:
    value = datetime(2024, 1, 1, 0, 0, 0, microsecond, tzinfo=UTC)

    assert job_time(value) == f"2024-01-01T00:00:00.{millis}Z"


def test_job_time_converts_to_utc() -> None:
    value = datetime(2024, 1, 1, 3, 0, 0, 5000, tzinfo=PLUS_EIGHT)

    assert job_time(value) == "2023-12-31T19:00:00.005Z"


def test_running_job_has_empty_end_time() -> None:
    assert job_time(None) == ""


def test_server_time_has_no_fraction() -> None:
    value = datetime(2019, 5, 22, 11, 19, 19, 999999, tzinfo=PLUS_EIGHT)

    assert server_time(value) == "2019-05-22T03:19:19Z"


@pytest.mark.parametrize("formatter", [usage_time, volume_time])
def test_usage_and_volume_times_have_microseconds_and_no_zone(
    formatter: Callable[[datetime | None], str],
) -> None:
    assert formatter(datetime(2019, 5, 22, 3, 23, 59, tzinfo=UTC)) == "2019-05-22T03:23:59.000000"
    assert formatter(datetime(2016, 5, 3, 2, 14, 8, 42, tzinfo=PLUS_EIGHT)) == (
        "2016-05-02T18:14:08.000042"
    )
    assert formatter(None) == ""


_OFFSETS = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=_OFFSETS)
)
def test_job_time_round_trips_to_the_millisecond(value: datetime) -> None:
    text = job_time(value)

    assert JOB_TIME.fullmatch(text)
    parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert timedelta(0) <= value - parsed < timedelta(milliseconds=1)
