"""The job queue over the jobs table: claim a task, renew its lease, finish it, purge old jobs.

Claiming is a conditional update inside a write transaction. On SQLite the transaction holds
the single write lock; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` keeps workers off each other's
rows, and the partial unique index on running lock keys makes the database itself refuse two
running tasks on one server.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
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
    _start(repo, task, worker_id, clock, lease)
    _started(repo, [task])
    return task


def claim_tasks(
    repo: Repository,
    worker_id: str,
    clock: Clock,
    lease: timedelta,
    *,
    sharers: int,
    most: int,
    gate: ColumnElement[bool] | None = None,
) -> list[Job]:
    """Takes a fair share of the runnable tasks: as many as there are for each of `sharers`
    workers, at least one (if any), at most `most`. One transaction then claims, and one
    records, what would take one each per task (on SQLite, every commit waits for the single
    writer). `gate` as for claim_task. Call inside a write transaction."""
    claimed: list[Job] = []
    while len(claimed) < most and (task := _expired_task(repo, clock.now())) is not None:
        _start(repo, task, worker_id, clock, lease)
        claimed.append(task)
        repo.flush()  # the next look for an expired task must not find this one
    if len(claimed) >= most:
        _started(repo, claimed)
        return claimed
    if most == 1:
        waiting = [task] if (task := _next_task(repo, gate)) is not None else []
    else:
        # Candidates are looked for among the waiting tasks in order, past those queued behind
        # another on their server: asking for a few per worker keeps that scan short on a deep
        # queue (64 per claim drained one three times slower than 16; bench/README.md).
        query = _NEXT_TASKS if gate is None else _NEXT_TASKS.where(gate)
        waiting = list(repo.session.scalars(query, {"limit": max(4 * sharers, most)}))
    runnable = len(claimed) + len(waiting)
    share = min(most, max(1, -(-runnable // sharers))) - len(claimed)
    for task in waiting[: max(0, share)]:
        _start(repo, task, worker_id, clock, lease)
        claimed.append(task)
    _started(repo, claimed)
    return claimed


def _start(repo: Repository, task: Job, worker_id: str, clock: Clock, lease: timedelta) -> None:
    # Read the clock only now: the query above saw the previous task on this server committed,
    # so this start can never precede that task's recorded end, whatever the isolation level.
    now = clock.now()
    if task.status == _INIT:
        task.begin_time = now
    task.status = _RUNNING
    task.lease_owner = worker_id
    task.lease_expires_at = now + lease
    task.attempts += 1


def _started(repo: Repository, tasks: list[Job]) -> None:
    """Writes the claimed tasks (one flush: the ORM batches their updates) and marks their
    parents RUNNING, each parent once."""
    repo.flush()
    parents = sorted({task.parent_id for task in tasks if task.parent_id is not None})
    if parents:
        repo.session.execute(
            update(Job).where(Job.id.in_(parents), Job.status == _INIT).values(status=_RUNNING)
        )


# The claim queries run for every task: built once here, not per call.
_EXPIRED_TASK = (
    select(Job)
    .where(Job.is_task.is_(True), Job.status == _RUNNING, Job.lease_expires_at < bindparam("now"))
    .order_by(Job.seq)
    .limit(1)
    .with_for_update(skip_locked=True)
)
_other = aliased(Job)
_NEXT_TASK = (
    select(Job)
    .where(
        Job.is_task.is_(True),
        Job.status == _INIT,
        or_(
            Job.lock_key.is_(None),
            # Nothing running on its server, and nothing waiting there before it: two probes,
            # each a seek on the (lock_key, status) index. Only tasks have a lock key, so they
            # need no is_task term; with one (and the two as one OR), SQLite's planner probed by
            # the (is_task, status, seq) index instead and walked every task for each candidate:
            # a claim took 300-480 ms on a queue of 67,000 tasks, 1-2 ms now (bench/README.md).
            and_(
                ~exists().where(_other.lock_key == Job.lock_key, _other.status == _RUNNING),
                ~exists().where(
                    _other.lock_key == Job.lock_key,
                    _other.status == _INIT,
                    _other.seq < Job.seq,
                ),
            ),
        ),
    )
    .order_by(Job.seq)
    .limit(1)
    .with_for_update(skip_locked=True)
)
# Each server's first waiting task appears once at most: a fair share is a slice of this.
_NEXT_TASKS = _NEXT_TASK.limit(bindparam("limit", type_=Integer))
_jobs = Job.__table__.c
_SUB_JOB_OUTCOMES = select(_jobs.status, _jobs.error_code, _jobs.fail_reason, _jobs.end_time).where(
    _jobs.parent_id == bindparam("parent_id")
)


def _expired_task(repo: Repository, now: datetime) -> Job | None:
    """A task whose worker died: its lease ran out while it was RUNNING."""
    return repo.session.scalars(_EXPIRED_TASK, {"now": now}).first()


def _next_task(repo: Repository, gate: ColumnElement[bool] | None = None) -> Job | None:
    """The oldest waiting task whose server has nothing running and nothing queued before it."""
    query = _NEXT_TASK if gate is None else _NEXT_TASK.where(gate)
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


def lock_tasks(repo: Repository, task_ids: Collection[str]) -> dict[str, Job]:
    """Tasks by id, locked (in id order), in one statement: recording several tasks then
    checks each one's lease on these rows instead of reading it again (see owned_task)."""
    query = select(Job).where(Job.id.in_(sorted(task_ids))).order_by(Job.id).with_for_update()
    return {task.id: task for task in repo.session.scalars(query)}


def owned_task(
    repo: Repository, task_id: str, worker_id: str, locked: Mapping[str, Job] | None = None
) -> Job:
    """The task, locked, if this worker still holds it; raises LeaseLost otherwise. `locked`:
    rows this transaction already holds (lock_tasks); a task missing there is read afresh."""
    task = locked.get(task_id) if locked is not None else None
    if task is None:
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
    *,
    roll_up_parent: bool = True,
) -> None:
    """Records a task's outcome and rolls its parent up, in the caller's transaction. A caller
    that records several sub-jobs of one parent passes `roll_up_parent=False` and calls
    `roll_up_parents` once they are all recorded: one roll-up instead of one per sub-job."""
    failed = error_code is not None
    task.status = (JobStatus.FAIL if failed else JobStatus.SUCCESS).value
    task.end_time = now
    task.error_code = error_code
    task.fail_reason = fail_reason
    task.lease_owner = None
    task.lease_expires_at = None
    if failed:
        task.entities = {**task.entities, "errorcode_message": fail_reason}
    if roll_up_parent and task.parent_id is not None:
        _roll_up_parent(repo, task.parent_id, now)


def roll_up_parents(repo: Repository, parent_ids: Collection[str], now: datetime) -> None:
    """Rolls each parent up from its sub-jobs, in the caller's transaction. Parents are locked
    in id order, so that two workers rolling up overlapping parents cannot deadlock."""
    for parent_id in sorted(parent_ids):
        _roll_up_parent(repo, parent_id, now)


def _roll_up_parent(repo: Repository, parent_id: str, now: datetime) -> None:
    parent = repo.job(parent_id, lock=True)
    if parent is None:
        return
    repo.flush()
    # Only the outcomes, as plain rows: loading every sibling as an ORM object cost more than
    # the rest of recording a task.
    outcomes = repo.session.execute(_SUB_JOB_OUTCOMES, {"parent_id": parent_id}).all()
    result = roll_up(SubJobOutcome(JobStatus(s), code, reason) for s, code, reason, _ in outcomes)
    parent.status = result.status.value
    if result.status.is_final:
        # Not earlier than any sub-job's end: a sibling recorded by another worker may have
        # taken its time after ours and committed first (we waited on the parent's row lock).
        parent.end_time = max([now, *(ended for *_, ended in outcomes if ended is not None)])
        parent.error_code = result.error_code
        parent.fail_reason = result.fail_reason


# How many finished jobs one purge transaction deletes. Each has its sub-jobs (16 for a full
# batch) and every row its index entries; on SQLite the transaction holds the one write lock.
# 1,000 at a time held it for 0.6-1 s; 50 hold it for a few tens of milliseconds.
PURGE_CHUNK = 50

# Finished top-level jobs that ended before a moment, a chunk at a time.
_ENDED_BEFORE = (
    select(Job.id)
    .where(
        # "No parent", written so that it cannot be looked up by the parent_id index: SQLite's
        # planner preferred that index and walked every top-level job (130 ms with the write
        # lock held, every minute, on a store of 60,000 jobs) where the end_time index seeks
        # only the jobs old enough to go (1-5 ms).
        func.coalesce(Job.parent_id, "") == "",
        or_(Job.status == JobStatus.SUCCESS.value, Job.status == JobStatus.FAIL.value),
        Job.end_time < bindparam("before"),
    )
    .limit(bindparam("chunk", type_=Integer))
)


def purge_finished(repo: Repository, before: datetime, chunk: int = PURGE_CHUNK) -> int:
    """Deletes up to `chunk` jobs (with their sub-jobs) that ended before `before`. Returns how
    many; fewer than `chunk` means none is left."""
    ids = list(repo.session.scalars(_ENDED_BEFORE, {"before": before, "chunk": chunk}))
    if ids:
        repo.session.execute(delete(Job).where(Job.parent_id.in_(ids)))
        repo.session.execute(delete(Job).where(Job.id.in_(ids)))
    return len(ids)
