"""The job queue over the jobs table: claim a task, renew its lease, finish it, purge old jobs.

Claiming is a conditional update inside a write transaction. On SQLite the transaction holds
the single write lock; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` keeps workers off each other's
rows, and the partial unique index on running lock keys makes the database itself refuse two
running tasks on one server.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, update
from sqlalchemy.orm import aliased

from localecs.clock import Clock
from localecs.domain.jobs import JobStatus, SubJobOutcome, roll_up
from localecs.store.repository import Repository
from localecs.store.tables import Job

_RUNNING = JobStatus.RUNNING.value
_INIT = JobStatus.INIT.value


class LeaseLost(Exception):
    """Another worker owns this task now (our lease expired); our outcome must be dropped."""


def claim_task(
    repo: Repository,
    worker_id: str,
    clock: Clock,
    lease: timedelta,
    gate: ColumnElement[bool] | None = None,
) -> Job | None:
    """Takes the next runnable task, or None. Call inside a write transaction.

    `gate` is an extra condition a waiting task must meet (manual mode: released by a test).
    """
    task = _expired_task(repo, clock.now()) or _next_task(repo, gate)
    if task is None:
        return None
    # Read the clock only now: the query above saw the previous task on this server committed,
    # so this start can never precede that task's recorded end, whatever the isolation level.
    now = clock.now()
    if task.status == _INIT:
        task.begin_time = now
    task.status = _RUNNING
    task.lease_owner = worker_id
    task.lease_expires_at = now + lease
    task.attempts += 1
    if task.parent_id is not None:
        repo.session.execute(
            update(Job).where(Job.id == task.parent_id, Job.status == _INIT).values(status=_RUNNING)
        )
    repo.flush()
    return task


def _expired_task(repo: Repository, now: datetime) -> Job | None:
    """A task whose worker died: its lease ran out while it was RUNNING."""
    query = (
        select(Job)
        .where(Job.is_task.is_(True), Job.status == _RUNNING, Job.lease_expires_at < now)
        .order_by(Job.seq)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return repo.session.scalars(query).first()


def _next_task(repo: Repository, gate: ColumnElement[bool] | None = None) -> Job | None:
    """The oldest waiting task whose server has nothing running and nothing queued before it."""
    other = aliased(Job)
    blocked = exists().where(
        other.lock_key == Job.lock_key,
        other.is_task.is_(True),
        or_(other.status == _RUNNING, and_(other.status == _INIT, other.seq < Job.seq)),
    )
    query = (
        select(Job)
        .where(
            Job.is_task.is_(True),
            Job.status == _INIT,
            or_(Job.lock_key.is_(None), ~blocked),
            *([gate] if gate is not None else []),
        )
        .order_by(Job.seq)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return repo.session.scalars(query).first()


def renew_leases(
    repo: Repository, worker_id: str, task_ids: Collection[str], until: datetime
) -> None:
    if not task_ids:
        return
    repo.session.execute(
        update(Job)
        .where(Job.id.in_(list(task_ids)), Job.lease_owner == worker_id, Job.status == _RUNNING)
        .values(lease_expires_at=until)
    )


def release_tasks(repo: Repository, held: Mapping[str, str], now: datetime) -> int:
    """Ends the leases of tasks (id -> worker id) their workers will not finish, so another
    worker takes them up at once. Returns how many were still held."""
    released = 0
    for task_id, worker_id in held.items():
        result = repo.session.execute(
            update(Job)
            .where(Job.id == task_id, Job.lease_owner == worker_id, Job.status == _RUNNING)
            .values(lease_expires_at=now)
        )
        released += result.rowcount  # type: ignore[attr-defined]
    return released


def owned_task(repo: Repository, task_id: str, worker_id: str) -> Job:
    """The task, locked, if this worker still holds it; raises LeaseLost otherwise."""
    task = repo.job(task_id, lock=True)
    if task is None or task.status != _RUNNING or task.lease_owner != worker_id:
        raise LeaseLost(task_id)
    return task


def finish_task(
    repo: Repository,
    task: Job,
    now: datetime,
    error_code: str | None = None,
    fail_reason: str | None = None,
) -> None:
    """Records a task's outcome and rolls its parent up, in the caller's transaction."""
    failed = error_code is not None
    task.status = (JobStatus.FAIL if failed else JobStatus.SUCCESS).value
    task.end_time = now
    task.error_code = error_code
    task.fail_reason = fail_reason
    task.lease_owner = None
    task.lease_expires_at = None
    if failed:
        task.entities = {**task.entities, "errorcode_message": fail_reason}
    if task.parent_id is not None:
        _roll_up_parent(repo, task.parent_id, now)


def _roll_up_parent(repo: Repository, parent_id: str, now: datetime) -> None:
    parent = repo.job(parent_id, lock=True)
    if parent is None:
        return
    repo.flush()
    subs = repo.sub_jobs([parent_id])[parent_id]
    result = roll_up(SubJobOutcome(JobStatus(s.status), s.error_code, s.fail_reason) for s in subs)
    parent.status = result.status.value
    if result.status.is_final:
        parent.end_time = now
        parent.error_code = result.error_code
        parent.fail_reason = result.fail_reason


def purge_finished(repo: Repository, before: datetime) -> int:
    """Deletes jobs (with their sub-jobs) that ended before `before`. Returns how many parents."""
    old = select(Job.id).where(
        Job.parent_id.is_(None),
        Job.status.in_([JobStatus.SUCCESS.value, JobStatus.FAIL.value]),
        Job.end_time < before,
    )
    ids = list(repo.session.scalars(old.limit(1000)))
    if ids:
        repo.session.execute(delete(Job).where(Job.parent_id.in_(ids)))
        repo.session.execute(delete(Job).where(Job.id.in_(ids)))
    return len(ids)
