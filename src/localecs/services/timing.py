"""Time under test control: the latency profile, and holding tasks until a test releases them.

Holds. A task waits at a hold while its gate's ``waiting_for`` exceeds ``released``; each
release raises ``released`` by one. In manual mode every task has two holds: before it is
claimed (it stays INIT; the claim query skips it) and right after its claim (it is RUNNING and
the data plane has not acted yet). A hang fault adds one more hold before the data plane acts.
So a test sees INIT, releases, sees RUNNING (and the disk ``detaching``), releases, sees the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from localecs.domain.faults import Target, invalid, task_operations
from localecs.domain.jobs import JobStatus
from localecs.domain.latency import LatencySetting, parse_setting
from localecs.store import control
from localecs.store.notify import announce_work
from localecs.store.repository import Repository
from localecs.store.tables import Job
from localecs.store.uow import Database

LATENCY = "latency"
START_HOLD = 1  # manual mode: released once, the task may be claimed
RUN_HOLD = 2  # manual mode: released twice, the claimed task runs


def latency_setting(repo: Repository, default: LatencySetting) -> LatencySetting:
    """The run-time setting if one was made, else the one this process started with."""
    stored = control.setting(repo, LATENCY)
    return parse_setting(stored) if stored is not None else default


def read_latency(db: Database, default: LatencySetting) -> LatencySetting:
    with db.read() as repo:
        return latency_setting(repo, default)


def set_latency(db: Database, data: Mapping[str, Any]) -> LatencySetting:
    setting = parse_setting(data)
    with db.write() as repo:
        control.put_setting(repo, LATENCY, setting.to_json())
        announce_work(repo)  # leaving manual mode makes held tasks claimable
    return setting


@dataclass(frozen=True)
class HeldTask:
    task: Job
    hold: str  # "start" (INIT, manual mode), "run" (RUNNING, manual mode) or "hang"

    def to_json(self) -> dict[str, Any]:
        task = self.task
        return {
            "task_id": task.id,
            "job_id": task.parent_id or task.id,
            "job_type": task.job_type,
            "status": task.status,
            "project_id": task.project_id,
            "server_id": task.server_id,
            "volume_id": task.volume_id,
            "hold": self.hold,
        }


@dataclass(frozen=True)
class ReleaseFilter:
    job_id: str | None = None  # a job, or one of its sub-jobs
    operation: str | None = None
    project_id: str | None = None
    server_id: str | None = None
    volume_id: str | None = None
    limit: int | None = None  # None: every held task that matches

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ReleaseFilter:
        fields = ("job_id", "operation", "project_id", "server_id", "volume_id")
        unknown = set(data) - {*fields, "limit"}
        if unknown:
            raise invalid(f"Invalid parameter {sorted(unknown)[0]}: unknown field.")
        for name in fields:
            value = data.get(name)
            if value is not None and (not isinstance(value, str) or not value):
                raise invalid(f"Invalid parameter {name}: a non-empty string is required.")
        limit = data.get("limit")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise invalid("Invalid parameter limit: a positive integer is required.")
        return cls(**{name: data.get(name) for name in fields}, limit=limit)

    def matches(self, task: Job, parent_type: str | None) -> bool:
        if self.job_id is not None and self.job_id not in (task.id, task.parent_id):
            return False
        target = Target(
            task_operations(task.job_type, parent_type),
            task.project_id,
            task.server_id,
            task.volume_id,
        )
        wanted_ops = frozenset({self.operation}) if self.operation else target.operations
        return (
            bool(wanted_ops & target.operations)
            and self.project_id in (None, target.project_id)
            and self.server_id in (None, target.server_id)
            and self.volume_id in (None, target.volume_id)
        )


def held_tasks(
    repo: Repository, manual: bool, wanted: ReleaseFilter | None = None
) -> list[HeldTask]:
    """Tasks now waiting at a hold, oldest first."""
    tasks = control.open_tasks(repo)
    gates = control.gates(repo, [t.id for t in tasks])
    parents = control.parent_types(repo, {t.parent_id for t in tasks if t.parent_id})
    held: list[HeldTask] = []
    for task in tasks:
        gate = gates.get(task.id)
        released = gate.released if gate is not None else 0
        waiting_for = gate.waiting_for if gate is not None else 0
        if task.status == JobStatus.INIT and manual and released < START_HOLD:
            hold = "start"
        elif task.status == JobStatus.RUNNING and waiting_for > released:
            hold = "run" if waiting_for == RUN_HOLD and manual else "hang"
        else:
            continue
        parent = parents.get(task.parent_id) if task.parent_id else None
        if wanted is None or wanted.matches(task, parent):
            held.append(HeldTask(task, hold))
    return held


def list_held(db: Database, default: LatencySetting) -> list[HeldTask]:
    with db.read() as repo:
        return held_tasks(repo, latency_setting(repo, default).manual)


def release(db: Database, default: LatencySetting, wanted: ReleaseFilter) -> list[HeldTask]:
    """Lets the held tasks that match (the oldest `limit` of them) pass their current hold."""
    with db.write() as repo:
        manual = latency_setting(repo, default).manual
        chosen = held_tasks(repo, manual, wanted)[: wanted.limit]
        for held in chosen:
            gate = control.gate(repo, held.task.id, create=True)
            assert gate is not None
            gate.released += 1
        if chosen:
            announce_work(repo)  # a released task may now be claimed, in any worker process
        return chosen
