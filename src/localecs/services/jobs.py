"""Submitting jobs (in the caller's transaction) and reading them back (ShowJob)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localecs.domain.jobs import JobStatus, JobType
from localecs.errors import job_not_found
from localecs.ids import new_job_id
from localecs.store.notify import announce_work
from localecs.store.repository import Repository
from localecs.store.tables import Job
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


@dataclass(frozen=True)
class JobView:
    job: Job
    sub_jobs: Sequence[Job]


def submit_single(repo: Repository, now: datetime, project_id: str, task: Task) -> str:
    """A job that is itself executed (single attach, single detach, create one volume)."""
    job = _job_row(project_id, task, now, parent_id=None)
    repo.add(job)
    announce_work(repo)
    return job.id


def submit_batch(
    repo: Repository,
    now: datetime,
    project_id: str,
    job_type: JobType,
    tasks: Sequence[Task],
    entities: dict[str, Any] | None = None,
) -> str:
    """A parent job whose status is rolled up from one sub-job per task."""
    parent = Job(
        id=new_job_id(),
        project_id=project_id,
        job_type=job_type.value,
        is_task=False,
        status=JobStatus.INIT.value,
        entities=entities or {},
        payload={},
        sub_jobs_total=len(tasks),
        begin_time=now,
        attempts=0,
    )
    repo.add(parent, *(_job_row(project_id, task, now, parent_id=parent.id) for task in tasks))
    announce_work(repo)
    return parent.id


def show_job(db: Database, project_id: str, job_id: str) -> JobView:
    with db.read() as repo:
        job = repo.job(job_id)
        # A job of another project is reported exactly like a missing one.
        if job is None or job.project_id != project_id:
            raise job_not_found(job_id)
        sub_jobs = repo.sub_jobs([job.id])[job.id] if job.sub_jobs_total else []
        return JobView(job, sub_jobs)


def _job_row(project_id: str, task: Task, now: datetime, parent_id: str | None) -> Job:
    return Job(
        id=new_job_id(),
        project_id=project_id,
        parent_id=parent_id,
        job_type=task.job_type.value,
        is_task=True,
        status=JobStatus.INIT.value,
        lock_key=task.lock_key,
        server_id=task.server_id,
        volume_id=task.volume_id,
        entities=task.entities,
        payload=task.payload,
        sub_jobs_total=0,
        begin_time=now,
        attempts=0,
    )
