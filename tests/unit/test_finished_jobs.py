"""The in-memory answers of finished jobs (api/finished_jobs.py): what may be kept, for whom,
and for how long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from localecs.api.finished_jobs import FinishedJobs, Kept
from localecs.services.jobs import JobView
from localecs.store.reads import JobRow

ENDED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
RETENTION = timedelta(hours=1)


def _view(job_id: str, status: str, end_time: datetime | None = ENDED) -> JobView:
    row = JobRow(
        1, job_id, "project-a", None, "batchDetachVolumes", status, {}, 0, None, None,
        ENDED - timedelta(seconds=1), end_time,
    )  # fmt: skip
    return JobView(row, [])


def test_a_finished_job_is_answered_from_memory_for_its_project_only() -> None:
    kept = FinishedJobs(enabled=True, retention=RETENTION)
    kept.offer(_view("j1", "SUCCESS"), b"answer")
    assert kept.get("project-a", "j1", ENDED) == Kept(b"answer", ENDED)
    assert kept.get("project-b", "j1", ENDED) is None
    assert kept.get("project-a", "j2", ENDED) is None


def test_a_job_still_running_is_never_kept() -> None:
    kept = FinishedJobs(enabled=True, retention=RETENTION)
    kept.offer(_view("j1", "RUNNING", end_time=None), b"running")
    kept.offer(_view("j2", "INIT", end_time=None), b"init")
    assert kept.get("project-a", "j1", ENDED) is None
    assert kept.get("project-a", "j2", ENDED) is None


def test_an_answer_is_dropped_once_the_job_may_be_purged() -> None:
    kept = FinishedJobs(enabled=True, retention=RETENTION)
    kept.offer(_view("j1", "FAIL"), b"failed")
    assert kept.get("project-a", "j1", ENDED + RETENTION - timedelta(seconds=1)) == Kept(
        b"failed", ENDED
    )
    assert kept.get("project-a", "j1", ENDED + RETENTION) is None
    assert kept.get("project-a", "j1", ENDED) is None  # gone, not merely hidden


def test_clear_capacity_and_disabled() -> None:
    kept = FinishedJobs(enabled=True, retention=RETENTION, capacity=2)
    for job_id in ("j1", "j2", "j3"):
        kept.offer(_view(job_id, "SUCCESS"), job_id.encode())
    assert kept.get("project-a", "j1", ENDED) is None  # the oldest made room
    assert kept.get("project-a", "j3", ENDED) == Kept(b"j3", ENDED)
    kept.clear()
    assert kept.get("project-a", "j3", ENDED) is None
    off = FinishedJobs(enabled=False, retention=RETENTION)
    off.offer(_view("j1", "SUCCESS"), b"answer")
    assert off.get("project-a", "j1", ENDED) is None


def test_drop_forgets_one_answer() -> None:
    kept = FinishedJobs(enabled=True, retention=RETENTION, verify=True)
    kept.offer(_view("j1", "SUCCESS"), b"one")
    kept.offer(_view("j2", "SUCCESS"), b"two")
    kept.drop("j1")
    kept.drop("j9")  # never kept: nothing to do
    assert kept.get("project-a", "j1", ENDED) is None
    assert kept.get("project-a", "j2", ENDED) == Kept(b"two", ENDED)
