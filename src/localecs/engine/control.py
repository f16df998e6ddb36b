"""What tests control in the engine: holds, faults and latency, around each task's execution.

The worker calls `claim` instead of claiming directly, and `before_execute` just before a task
reaches the data plane. Everything comes from the database, so every worker process obeys the
same faults, holds and profile.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from localecs.clock import Clock
from localecs.domain.faults import Action, Target, delay_seconds, task_operations
from localecs.domain.latency import LatencySetting
from localecs.engine.handlers import TaskFailed
from localecs.services import faults, timing
from localecs.store import control, queue
from localecs.store.repository import Repository
from localecs.store.tables import Job
from localecs.store.uow import Database

log = logging.getLogger("localecs.control")

HOLD_POLL_SECONDS = 0.05


class Interrupted(Exception):
    """The task cannot go on in this process (it is stopping, or the task was reset or taken
    over): it is left as it is, for its lease to expire."""


class StepLatency:
    """The simulated driver's seconds per data-plane step for the task this thread runs:
    `--driver-latency` under the `default` profile, none under the others (they wait per task)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._local = threading.local()

    def __call__(self) -> float:
        value: float = getattr(self._local, "seconds", self.seconds)
        return value

    def set(self, use_driver_latency: bool) -> None:
        self._local.seconds = self.seconds if use_driver_latency else 0.0


@dataclass(frozen=True)
class Claimed:
    """Tasks claimed in one transaction, and what that transaction read for them, so that
    running them needs no further read unless a hold is in their way."""

    tasks: list[Job]
    # The latency setting when they were claimed; None: read it before each task.
    setting: LatencySetting | None = None
    # Those that had a gate row (a hold) then. Only the task's own worker adds one later (a
    # hang fault), so a task without one has no hold to wait at.
    gated: frozenset[str] = frozenset()


class TaskControl:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        latency: LatencySetting,
        steps: StepLatency | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._latency = latency
        self._steps = steps

    def claim(
        self, repo: Repository, worker_id: str, lease: timedelta, *, sharers: int, most: int
    ) -> Claimed:
        """Claims the next tasks (see queue.claim_tasks), in the caller's write transaction. In
        manual mode only a task released once may be claimed, one at a time, and its claim sets
        the hold it waits at while RUNNING, so that RUNNING is never observed before that hold
        is in place."""
        setting = timing.latency_setting(repo, self._latency)
        manual = setting.manual
        gate = control.released_once() if manual else None
        tasks = queue.claim_tasks(
            repo,
            worker_id,
            self._clock,
            lease,
            sharers=sharers,
            most=1 if manual else most,
            gate=gate,
        )
        if manual:
            for task in tasks:
                row = control.gate(repo, task.id, create=True)
                assert row is not None
                row.waiting_for = max(row.waiting_for, timing.RUN_HOLD)
        gated = frozenset(control.gates(repo, [task.id for task in tasks])) if tasks else None
        return Claimed(tasks, setting, gated or frozenset())

    def before_execute(
        self,
        task: Job,
        worker_id: str,
        stopping: threading.Event,
        claimed: Claimed | None = None,
    ) -> float:
        """Holds, then faults, then the profile's wait. Raises TaskFailed for a fail fault and
        Interrupted when the task must be left to its lease. `claimed`: what the claim read,
        which spares a read of the task's gate and of the setting. Returns the seconds spent
        waiting (at holds, delay and hang faults, the profile's wait): they stand for a slow
        data plane in the worker's measure of its speed."""
        waited = 0.0
        if claimed is None or claimed.setting is None or task.id in claimed.gated:
            started = time.perf_counter()
            self._wait_for_release(task, worker_id, stopping)
            waited += time.perf_counter() - started
        fired = faults.meet(self._db, lambda: self._target(task), lambda action: action.on_tasks)
        if fired is not None:
            started = time.perf_counter()
            spec = fired.spec
            log.info("fault %s %s task %s", fired.fault_id, spec.action.value, task.id)
            if spec.action is Action.FAIL:
                assert spec.error_code is not None and spec.fail_reason is not None
                raise TaskFailed(spec.error_code, spec.fail_reason)
            if spec.action is Action.DELAY:
                stopping.wait(delay_seconds(spec, fired.fault_id, fired.match_number))
            elif spec.action is Action.HANG:
                self._hold(task)
                self._wait_for_release(task, worker_id, stopping)
            waited += time.perf_counter() - started
        setting = (
            claimed.setting
            if claimed is not None and claimed.setting is not None
            else timing.read_latency(self._db, self._latency)
        )
        if self._steps is not None:
            self._steps.set(setting.uses_driver_latency)
        # A stop cuts a wait short: the task then runs and is recorded, so a drain is quick.
        delay = setting.task_delay(task.job_type, random.Random(task.id))
        if delay > 0:
            started = time.perf_counter()
            stopping.wait(delay)
            waited += time.perf_counter() - started
        return waited

    def _target(self, task: Job) -> Target:
        parent_type = None
        if task.parent_id is not None:
            with self._db.read() as repo:
                parent_type = control.parent_types(repo, [task.parent_id]).get(task.parent_id)
        operations = task_operations(task.job_type, parent_type)
        return Target(operations, task.project_id, task.server_id, task.volume_id)

    def _hold(self, task: Job) -> None:
        with self._db.write() as repo:
            row = control.gate(repo, task.id, create=True)
            assert row is not None
            row.waiting_for = max(row.waiting_for, row.released) + 1

    def _wait_for_release(self, task: Job, worker_id: str, stopping: threading.Event) -> None:
        while True:
            with self._db.read() as repo:
                row = control.gate(repo, task.id)
                if row is None or row.released >= row.waiting_for:
                    return
                current = repo.job(task.id)
                if current is None or current.lease_owner != worker_id:
                    raise Interrupted(task.id)
            if stopping.wait(HOLD_POLL_SECONDS):
                raise Interrupted(task.id)
