"""How a parent job's status follows its sub-jobs (contract 3.3; section 8 "Job status roll-up")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localecs.domain.jobs import JobStatus, RollUp, SubJobOutcome, roll_up

INIT = JobStatus.INIT
RUNNING = JobStatus.RUNNING
SUCCESS = JobStatus.SUCCESS
FAIL = JobStatus.FAIL


def ok() -> SubJobOutcome:
    return SubJobOutcome(SUCCESS, None, None)


def failed(code: str, reason: str) -> SubJobOutcome:
    return SubJobOutcome(FAIL, code, reason)


def pending(status: JobStatus) -> SubJobOutcome:
    return SubJobOutcome(status, None, None)


def test_final_statuses_are_success_and_fail_only() -> None:
    assert {s for s in JobStatus if s.is_final} == {SUCCESS, FAIL}


@pytest.mark.parametrize("count", [1, 2, 5])
def test_parent_is_init_while_every_sub_job_is_init(count: int) -> None:
    assert roll_up([pending(INIT)] * count) == RollUp(INIT)


@pytest.mark.parametrize(
    "statuses",
    [
        [RUNNING],
        [RUNNING, INIT],
        [INIT, RUNNING],
        [SUCCESS, INIT],
        [INIT, SUCCESS, INIT],
        [FAIL, INIT],
        [FAIL, RUNNING, SUCCESS],
        [SUCCESS, SUCCESS, RUNNING],
    ],
)
def test_parent_is_running_once_any_started_and_not_all_final(
    statuses: list[JobStatus],
) -> None:
    outcomes = [
        failed("Ecs.0111", "gone") if status is FAIL else pending(status) for status in statuses
    ]

    result = roll_up(outcomes)

    # A running parent carries no error yet, even when a sub-job has already failed.
    assert result == RollUp(RUNNING)


def test_parent_succeeds_when_every_sub_job_succeeded() -> None:
    assert roll_up([ok(), ok(), ok()]) == RollUp(SUCCESS, None, None)


def test_failed_parent_copies_the_first_failing_sub_job_code() -> None:
    outcomes = [
        ok(),
        failed("Ecs.0111", "Volume v is not attached to instance s2."),
        ok(),
        failed("Ecs.1000", "backend error"),
    ]

    result = roll_up(outcomes)

    assert result.status is FAIL
    assert result.error_code == "Ecs.0111"
    assert result.fail_reason is not None
    assert "2 of 4" in result.fail_reason
    assert "Volume v is not attached to instance s2." in result.fail_reason
    assert "backend error" not in result.fail_reason


def test_single_failed_sub_job_fails_the_parent() -> None:
    result = roll_up([failed("Ecs.0100", "bad state")])

    assert result.status is FAIL
    assert result.error_code == "Ecs.0100"
    assert result.fail_reason is not None
    assert "1 of 1" in result.fail_reason
    assert "bad state" in result.fail_reason


def test_roll_up_accepts_any_iterable_once() -> None:
    outcomes = iter([ok(), failed("Ecs.0111", "gone")])

    assert roll_up(outcomes).error_code == "Ecs.0111"


_CODES = st.sampled_from(["Ecs.0111", "Ecs.0100", "Ecs.1000", "Ecs.0205"])


@st.composite
def sub_job_outcomes(draw: st.DrawFn) -> SubJobOutcome:
    status = draw(st.sampled_from(list(JobStatus)))
    if status is FAIL:
        code = draw(_CODES)
        return SubJobOutcome(FAIL, code, f"reason for {code} #{draw(st.integers(0, 99))}")
    return SubJobOutcome(status, None, None)


@given(st.lists(sub_job_outcomes(), min_size=1, max_size=20))
def test_roll_up_property(outcomes: list[SubJobOutcome]) -> None:
    result = roll_up(outcomes)
    statuses = [o.status for o in outcomes]
    all_final = all(s.is_final for s in statuses)
    failures = [o for o in outcomes if o.status is FAIL]

    assert result.status.is_final == all_final
    if all(s is INIT for s in statuses):
        assert result == RollUp(INIT)
    elif not all_final:
        assert result == RollUp(RUNNING)
    elif not failures:
        assert result == RollUp(SUCCESS)
    else:
        first = failures[0]
        assert result.status is FAIL
        assert result.error_code == first.error_code
        assert result.fail_reason is not None
        assert f"{len(failures)} of {len(outcomes)}" in result.fail_reason
        assert str(first.fail_reason) in result.fail_reason


@given(st.lists(sub_job_outcomes(), min_size=1, max_size=20))
def test_roll_up_ignores_errors_until_final(outcomes: list[SubJobOutcome]) -> None:
    result = roll_up(outcomes)

    if not result.status.is_final or result.status is SUCCESS:
        assert result.error_code is None
        assert result.fail_reason is None
