"""Submitting jobs (in the caller's transaction) and reading them back (ShowJob)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from localecs.domain.jobs import JobStatus, JobType
from localecs.errors import job_not_found
from localecs.ids import new_job_id
from localecs.store.notify import announce_work
from localecs.store.repository import Repository
from localecs.store.uow import Database


@dataclass(frozen=True)
class Task:
    """One unit of work for the engine: a sub-job of a batch, or a job of its own."""

    job_type: JobType
    server_id: str | None = None
    volume_id: str | None = None
    entities: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def lock_key(self) -> str | None:
        # Work on one server is serialised; disk-only work (create/delete volume) is not.
        return self.server_id


class JobRecord(Protocol):
    """What ShowJob reads of a job row (an ORM Job or a row of store.reads)."""

    @property
    def id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def job_type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def entities(self) -> dict[str, Any]: ...
    @property
    def sub_jobs_total(self) -> int: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def fail_reason(self) -> str | None: ...
    @property
    def begin_time(self) -> datetime: ...
    @property
    def end_time(self) -> datetime | None: ...


@dataclass(frozen=True)
class JobView:
    job: JobRecord
    sub_jobs: Sequence[JobRecord]


def submit_single(repo: Repository, now: datetime, project_id: str, task: Task) -> str:
    """A job that is itself executed (single attach, single detach, create one volume)."""
    job = _job_row(project_id, task, now, parent_id=None)
    repo.insert_jobs([job])
    announce_work(repo)
    return str(job["id"])


def submit_batch(
    repo: Repository,
    now: datetime,
    project_id: str,
    job_type: JobType,
    tasks: Sequence[Task],
    entities: dict[str, Any] | None = None,
) -> str:
    """A parent job whose status is rolled up from one sub-job per task."""
    parent_id = new_job_id()
    parent = _row(
        id=parent_id,
        project_id=project_id,
        parent_id=None,
        job_type=job_type.value,
        is_task=False,
        lock_key=None,
        server_id=None,
        volume_id=None,
        entities=entities or {},
        payload={},
        sub_jobs_total=len(tasks),
        begin_time=now,
    )
    # The parent first: sub-jobs follow it in submission order (seq).
    repo.insert_jobs([parent, *(_job_row(project_id, t, now, parent_id) for t in tasks)])
    announce_work(repo)
    return parent_id


def show_job(db: Database, project_id: str, job_id: str) -> JobView:
    rows = db.hot_reads.job_tree(job_id)
    job = next((row for row in rows if row.id == job_id), None)
    # A job of another project is reported exactly like a missing one.
    if job is None or job.project_id != project_id:
        raise job_not_found(job_id)
    return JobView(job, [row for row in rows if row.parent_id == job_id])


def _job_row(project_id: str, task: Task, now: datetime, parent_id: str | None) -> dict[str, Any]:
    return _row(
        id=new_job_id(),
        project_id=project_id,
        parent_id=parent_id,
        job_type=task.job_type.value,
        is_task=True,
        lock_key=task.lock_key,
        server_id=task.server_id,
        volume_id=task.volume_id,
        entities=task.entities,
        payload=task.payload,
        sub_jobs_total=0,
        begin_time=now,
    )


def _row(**values: Any) -> dict[str, Any]:
    # Every row carries every column, so that one multi-row INSERT takes them all.
    return {
        **values,
        "status": JobStatus.INIT.value,
        "error_code": None,
        "fail_reason": None,
        "end_time": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempts": 0,
    }
