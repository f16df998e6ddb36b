"""Worker threads: claim a task, execute it through the driver, record the outcome.

Several workers (threads here, processes too) share the queue in the database. Each claim
carries a lease that a heartbeat renews while the task runs; a task whose worker died is taken
up again once its lease expires, and its handler is safe to repeat.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from localecs.clock import Clock
from localecs.drivers.base import DriverBatch, DriverError, batches
from localecs.engine.control import Claimed, Interrupted, TaskControl
from localecs.engine.handlers import HANDLERS, ISOLATED_RECORDS, TaskContext, TaskFailed
from localecs.services.volume_status import refreshes_deferred
from localecs.store import queue
from localecs.store.outage import Outage, is_unavailable
from localecs.store.repository import Repository
from localecs.store.tables import Job
from localecs.store.uow import Database, retry_on_conflict

log = logging.getLogger("localecs.worker")

PURGE_INTERVAL_SECONDS = 60
# Below this, a task's execution is cheaper than the commits around it: a worker then claims
# several tasks at a time and records them together. Above it (a real data plane, or the
# simulated one with latency), one task per claim, so that a slow call on one server never
# holds back tasks of others that another worker could run meanwhile.
FAST_EXECUTE_SECONDS = 0.005
# How many tasks a worker claims at once while the data plane is fast. Splitting them among the
# process's workers gains nothing then (they share one interpreter lock and, on SQLite, one
# writer) and costs a claim and a record transaction per worker; a batch job's sub-jobs are
# carried out and recorded together instead. Other processes' workers take the tasks past these.
FAST_CLAIM_TASKS = 16


@dataclass(frozen=True)
class Outcome:
    """Why a task failed: its error code and reason."""

    code: str
    reason: str


# Claims lost in a row to other workers (same server, same instant) before idling.
CLAIM_RACES = 3

_T = TypeVar("_T")


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 4
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    retention_seconds: float = 86400.0


class WorkerPool:
    def __init__(
        self,
        db: Database,
        ctx: TaskContext,
        clock: Clock,
        settings: WorkerSettings,
        control: TaskControl | None = None,
    ) -> None:
        self._db = db
        self._control = control
        self._ctx = ctx
        self._clock = clock
        self._settings = settings
        self._wakeup = threading.Condition()
        self._pending_wakeups = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._in_flight: dict[str, str] = {}  # task id -> worker id
        self._in_flight_lock = threading.Lock()
        self._outage = Outage(log, "workers")
        self.identity = f"worker-{secrets.token_hex(6)}"
        # How long executing a task takes, on a moving average (the data plane's speed). It
        # starts at the threshold: until one task has shown the data plane fast, a worker claims
        # one task at a time, so a slow data plane never gets a whole batch claimed by one worker.
        self._execute_seconds = FAST_EXECUTE_SECONDS

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self._settings.lease_seconds)

    def start(self) -> None:
        for n in range(self._settings.concurrency):
            self._spawn(self._run, f"{self.identity}-{n}")
        self._spawn(self._heartbeat, f"{self.identity}-heartbeat")

    def wake(self) -> None:
        """Work was submitted: one idle worker should look now rather than at its next poll."""
        with self._wakeup:
            self._pending_wakeups += 1
            self._wakeup.notify()

    def stop(self, timeout: float | None = None) -> bool:
        """Stops claiming; tasks already running finish and are recorded. Those still running
        after `timeout` seconds are released (their leases end now) for another worker to take
        up. Returns whether every task finished."""
        self._stopping.set()
        with self._wakeup:
            self._wakeup.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if not any(thread.is_alive() for thread in self._threads):
            return True
        self._release_held()
        return False

    def _release_held(self) -> None:
        with self._in_flight_lock:
            held = dict(self._in_flight)
        if not held:
            return
        try:
            with self._db.write() as repo:
                released = queue.release_tasks(repo, held, self._clock.now())
            log.warning("released %d unfinished tasks for other workers", released)
        except (OperationalError, DBAPIError) as error:
            log.error("could not release %d tasks (%s); their leases will expire", len(held), error)

    def _spawn(self, target: Callable[[str], None], name: str) -> None:
        thread = threading.Thread(target=target, args=(name,), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self, worker_id: str) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self._claim(worker_id)
                if not claimed.tasks:
                    self._idle()
                    continue
                self._process(worker_id, claimed)
            except (OperationalError, DBAPIError) as error:
                if is_unavailable(error):
                    self._stopping.wait(self._outage.failed(error))
                else:
                    log.exception("worker %s: database error; carrying on", worker_id)
                    self._stopping.wait(self._settings.poll_seconds)
            except Exception:
                log.exception("worker %s hit an unexpected error; carrying on", worker_id)
                self._stopping.wait(self._settings.poll_seconds)

    def _idle(self) -> None:
        with self._wakeup:
            if self._pending_wakeups == 0:
                self._wakeup.wait(self._settings.poll_seconds)
            self._pending_wakeups = max(0, self._pending_wakeups - 1)

    def _claim(self, worker_id: str) -> Claimed:
        """The runnable tasks this worker takes (see queue.claim_tasks): up to FAST_CLAIM_TASKS
        while the data plane is fast, else one."""
        fast = self._fast_data_plane
        sharers = 1 if fast else self._settings.concurrency
        most = FAST_CLAIM_TASKS if fast else 1
        for _ in range(CLAIM_RACES):
            try:
                with self._db.write() as repo:
                    if self._control is not None:
                        claimed = self._control.claim(
                            repo, worker_id, self.lease, sharers=sharers, most=most
                        )
                    else:
                        claimed = Claimed(
                            queue.claim_tasks(
                                repo, worker_id, self._clock, self.lease, sharers=sharers, most=most
                            )
                        )
                break
            except IntegrityError:
                # Another worker started a task on the same server between our read and our
                # write. Other tasks may well be runnable: look again at once, not at next poll.
                continue
        else:
            return Claimed([])
        self._outage.succeeded()
        tasks = claimed.tasks
        if tasks:
            with self._in_flight_lock:
                for task in tasks:
                    self._in_flight[task.id] = worker_id
        if len(tasks) >= most:
            # More may be waiting: let another idle worker look too. (With fewer, this claim
            # took every runnable task; those queued behind them are taken when they finish.)
            self.wake()
        return claimed

    @property
    def _fast_data_plane(self) -> bool:
        return self._execute_seconds < FAST_EXECUTE_SECONDS

    def _driver_batch(self) -> AbstractContextManager[DriverBatch | None]:
        # A single task too: its writes are then flushed, not made inside its execution, so
        # execution times (_note_speed) mean the same with one task a claim as with several.
        # Counting a lone task's commits but not a batch's flush made the slow mode measure
        # itself slow: on PostgreSQL, the instant simulated driver took 6-10 ms a task one at a
        # time and ~0 in batches, and a worker stayed in whichever mode it started (~100 or
        # ~270 sub-jobs/s from one run to the next; bench/README.md).
        driver = self._ctx.driver
        if batches(driver):
            return driver.batch()
        return nullcontext()

    def _process(self, worker_id: str, claimed: Claimed) -> None:
        """Executes the tasks one after the other, then records all their outcomes at once
        (once the data plane's batch, if the driver keeps one, has been flushed)."""
        tasks = claimed.tasks
        outcomes: list[tuple[Job, Outcome | None]] = []
        try:
            with self._driver_batch() as batch:
                self._run_tasks(worker_id, claimed, batch, outcomes)
        except (OperationalError, DBAPIError) as error:
            # The database stayed away: the leases expire and another worker repeats the tasks.
            log.warning("gave up on tasks %s for now (%s)", [t.id for t in tasks], error)
        finally:
            with self._in_flight_lock:
                for task in tasks:
                    self._in_flight.pop(task.id, None)

    def _run_tasks(
        self,
        worker_id: str,
        claimed: Claimed,
        batch: DriverBatch | None,
        outcomes: list[tuple[Job, Outcome | None]],
    ) -> None:
        try:
            for task in claimed.tasks:
                started = time.perf_counter()
                try:
                    failure = self._patiently(partial(self._execute, worker_id, task, claimed))
                    outcomes.append((task, failure))
                except Interrupted:
                    log.info("task %s left to its lease (held, reset or stopping)", task.id)
                    self._note_speed(time.perf_counter() - started)
        finally:
            # What was done is recorded even if the database went away in between (then the
            # rest is repeated once the leases expire); the data plane's effects first: if they
            # cannot be flushed, nothing is recorded.
            if outcomes:
                if batch is not None:
                    self._patiently(batch.flush)
                self._patiently(lambda: self._record(worker_id, outcomes), reaches_database=True)

    def _execute(self, worker_id: str, task: Job, claimed: Claimed) -> Outcome | None:
        """Carries the task out at the data plane; its failure, or None for success. Raises
        Interrupted when the task must be left to its lease (see engine.control)."""
        try:
            handler = HANDLERS[task.job_type]
            waited = 0.0
            if self._control is not None:
                waited = self._control.before_execute(task, worker_id, self._stopping, claimed)
            started = time.perf_counter()
            try:
                handler.execute(self._ctx, task)
            finally:
                self._note_speed(waited + time.perf_counter() - started)
        except Interrupted:
            raise
        except (TaskFailed, DriverError) as failure:
            return Outcome(failure.code, failure.reason)
        except (OperationalError, DBAPIError):
            raise  # a database outage is not the task's fault: it is repeated later
        except Exception:
            log.exception("task %s (%s) crashed", task.id, task.job_type)
            return Outcome("Common.0001", "Internal error.")
        return None

    def _note_speed(self, seconds: float) -> None:
        """Adds a task's time at the data plane to the moving average. Only that time: its
        execution and the waits that stand for a slow data plane (holds, faults, latency
        profiles), not the control plane's reads around it, which on a busy PostgreSQL took
        over 5 ms with four workers each running one task, and so kept them one task each."""
        self._execute_seconds = 0.8 * self._execute_seconds + 0.2 * seconds

    def _patiently(self, step: Callable[[], _T], *, reaches_database: bool = False) -> _T:
        """Runs a step of claimed tasks again while the database is unavailable (the step is
        idempotent), for as long as the tasks' leases would last without a heartbeat. Then the
        error propagates, and the tasks are left for whoever claims them once the leases end.

        Only a step that always reaches the database (`reaches_database`: the record) shows that
        it is back. An execution or a driver batch's flush may have had nothing to do there (the
        simulated driver's writes wait in its batch): their success in the middle of an outage
        announced a recovery, and the next failure a new outage, several times over."""
        give_up = time.monotonic() + self._settings.lease_seconds
        while True:
            try:
                result = step()
            except (OperationalError, DBAPIError) as error:
                if not is_unavailable(error) or time.monotonic() > give_up:
                    raise
                # Not the stop event's wait: a stopping pool still finishes what it holds.
                time.sleep(self._outage.failed(error))
                continue
            if reaches_database:
                self._outage.succeeded()
            return result

    @retry_on_conflict
    def _record(self, worker_id: str, outcomes: list[tuple[Job, Outcome | None]]) -> None:
        """Records outcomes in one transaction, each task in a savepoint of its own, so that
        one whose records refuse the change (TaskFailed in apply) fails alone."""
        with self._db.write() as repo:
            now = self._clock.now()
            parents: set[str] = set()
            locked = queue.lock_tasks(repo, [task.id for task, _ in outcomes])
            with refreshes_deferred(repo):
                if len(outcomes) == 1 or not self._record_all(
                    repo, worker_id, outcomes, now, locked, parents
                ):
                    self._record_each(repo, worker_id, outcomes, now, locked, parents)
            # Once per parent, not once per sub-job: a 16-server batch read its 16 outcomes
            # 16 times over.
            queue.roll_up_parents(repo, parents, now)

    def _record_all(
        self,
        repo: Repository,
        worker_id: str,
        outcomes: list[tuple[Job, Outcome | None]],
        now: datetime,
        locked: dict[str, Job],
        parents: set[str],
    ) -> bool:
        """Records every outcome under one savepoint, and returns True; or, if a task's records
        refuse its change (TaskFailed in apply) or its lease was lost, undoes them all and
        returns False, for _record_each to record them one savepoint each. Two statements per
        task fewer in the usual case, where nothing refuses."""
        isolated = all(task.job_type in ISOLATED_RECORDS for task, _ in outcomes)
        try:
            with (
                repo.session.begin_nested(),
                repo.session.no_autoflush if isolated else nullcontext(),
            ):
                for task, failure in outcomes:
                    owned = queue.owned_task(repo, task.id, worker_id, locked)
                    handler = HANDLERS.get(task.job_type)
                    if failure is None:
                        assert handler is not None  # an unknown type fails in execute
                        handler.apply(repo, owned, now)
                        queue.finish_task(repo, owned, now, roll_up_parent=False)
                    else:
                        if handler is not None:
                            handler.revert(repo, owned, now)
                        queue.finish_task(
                            repo, owned, now, failure.code, failure.reason, roll_up_parent=False
                        )
        except (TaskFailed, queue.LeaseLost):
            return False
        for task, failure in outcomes:
            if task.parent_id is not None:
                parents.add(task.parent_id)
            if failure is None:
                log.info("task %s %s SUCCESS", task.id, task.job_type)
            else:
                log.info(
                    "task %s %s FAIL %s: %s",
                    task.id,
                    task.job_type,
                    failure.code,
                    failure.reason,
                )
        return True

    def _record_each(
        self,
        repo: Repository,
        worker_id: str,
        outcomes: list[tuple[Job, Outcome | None]],
        now: datetime,
        locked: dict[str, Job],
        parents: set[str],
    ) -> None:
        """Each task in a savepoint of its own; notes the parents to roll up."""
        for task, failure in outcomes:
            try:
                if failure is None:
                    failure = self._record_success(repo, worker_id, task, now, locked)
                if failure is not None:
                    self._record_failure(repo, worker_id, task, now, failure, locked)
            except queue.LeaseLost:
                log.warning("lease on task %s lost; another worker owns it", task.id)
                continue
            if task.parent_id is not None:
                parents.add(task.parent_id)

    def _record_success(
        self, repo: Repository, worker_id: str, task: Job, now: datetime, locked: dict[str, Job]
    ) -> Outcome | None:
        handler = HANDLERS[task.job_type]
        try:
            with repo.session.begin_nested():
                owned = queue.owned_task(repo, task.id, worker_id, locked)
                handler.apply(repo, owned, now)
                queue.finish_task(repo, owned, now, roll_up_parent=False)
        except TaskFailed as failure:
            return Outcome(failure.code, failure.reason)
        log.info("task %s %s SUCCESS", task.id, task.job_type)
        return None

    def _record_failure(
        self,
        repo: Repository,
        worker_id: str,
        task: Job,
        now: datetime,
        failure: Outcome,
        locked: dict[str, Job],
    ) -> None:
        handler = HANDLERS.get(task.job_type)
        with repo.session.begin_nested():
            owned = queue.owned_task(repo, task.id, worker_id, locked)
            if handler is not None:
                handler.revert(repo, owned, now)
            queue.finish_task(repo, owned, now, failure.code, failure.reason, roll_up_parent=False)
        log.info("task %s %s FAIL %s: %s", task.id, task.job_type, failure.code, failure.reason)

    def _heartbeat(self, _name: str) -> None:
        """Renews the leases of the tasks this pool holds, and now and then purges old jobs."""
        interval = self._settings.lease_seconds / 3
        last_purge = self._clock.now()
        while not self._stopping.wait(interval):
            try:
                reached = self._renew_leases()
                since = (self._clock.now() - last_purge).total_seconds()
                if since > min(PURGE_INTERVAL_SECONDS, self._settings.retention_seconds):
                    last_purge = self._clock.now()
                    self._purge()
                    reached = True
                if reached:  # a beat with nothing to do says nothing of the database
                    self._outage.succeeded()
            except (OperationalError, DBAPIError) as error:
                if is_unavailable(error):
                    self._outage.failed(error)
                else:
                    log.exception("heartbeat: database error")

    def _renew_leases(self) -> bool:
        """Renews the leases of the tasks in flight; whether there were any (and so whether the
        database was reached)."""
        with self._in_flight_lock:
            owned = dict(self._in_flight)
        if not owned:
            return False
        with self._db.write() as repo:
            until = self._clock.now() + self.lease
            for worker_id in set(owned.values()):
                ids = [task for task, owner in owned.items() if owner == worker_id]
                queue.renew_leases(repo, worker_id, ids, until)
        return True

    def _purge(self) -> None:
        """Deletes every job past its retention, a chunk per transaction: between them, the
        write lock goes to admissions and tasks (on SQLite one purge of thousands of jobs would
        hold it for seconds). All of them, not one chunk a minute, so that the store stays the
        size the retention says under any sustained load."""
        cutoff = self._clock.now() - timedelta(seconds=self._settings.retention_seconds)
        purged = 0
        while not self._stopping.is_set():
            with self._db.write() as repo:
                deleted = queue.purge_finished(repo, cutoff)
            purged += deleted
            if deleted < queue.PURGE_CHUNK:
                break
        if purged:
            log.info("purged %d jobs that ended before %s", purged, cutoff.isoformat())
