"""Rows of the control plane for tests: faults, task gates (holds and releases), settings."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, select

from localecs.store.repository import Repository
from localecs.store.tables import ControlSetting, Fault, Job, TaskGate

# --- Faults -------------------------------------------------------------------------------------


def faults(repo: Repository, *, lock: bool = False) -> Sequence[Fault]:
    query = select(Fault).order_by(Fault.seq)
    if lock:
        query = query.with_for_update()
    return repo.session.scalars(query).all()


def fault(repo: Repository, fault_id: str) -> Fault | None:
    return repo.session.scalars(select(Fault).filter_by(id=fault_id)).first()


def add_fault(repo: Repository, fault_id: str | None, spec: dict[str, Any], now: datetime) -> Fault:
    """Adds a fault; without an id it gets `fault-N`, N counting from 1 after a clear, so that
    a replayed script gets the same ids (and so the same probability decisions)."""
    if fault_id is None:
        n = (repo.session.scalar(select(func.count()).select_from(Fault)) or 0) + 1
        while fault(repo, f"fault-{n}") is not None:
            n += 1
        fault_id = f"fault-{n}"
    row = Fault(id=fault_id, spec=spec, matches=0, applied=0, created_at=now)
    repo.add(row)
    repo.flush()
    return row


def delete_faults(repo: Repository, fault_id: str | None = None) -> int:
    query = delete(Fault) if fault_id is None else delete(Fault).filter_by(id=fault_id)
    return int(repo.session.execute(query).rowcount)  # type: ignore[attr-defined]


# --- Settings -----------------------------------------------------------------------------------


def setting(repo: Repository, name: str) -> dict[str, Any] | None:
    row = repo.session.get(ControlSetting, name)
    return row.value if row is not None else None


def put_setting(repo: Repository, name: str, value: dict[str, Any]) -> None:
    row = repo.session.get(ControlSetting, name, with_for_update=True)
    if row is None:
        repo.add(ControlSetting(name=name, value=value))
    else:
        row.value = value


# --- Task gates ---------------------------------------------------------------------------------


def gate(repo: Repository, task_id: str, *, create: bool = False) -> TaskGate | None:
    row = repo.session.get(TaskGate, task_id, with_for_update=create)
    if row is None and create:
        row = TaskGate(task_id=task_id, released=0, waiting_for=0)
        repo.add(row)
        repo.flush()
    return row


def gates(repo: Repository, task_ids: Collection[str]) -> dict[str, TaskGate]:
    query = select(TaskGate).where(TaskGate.task_id.in_(list(task_ids)))
    return {row.task_id: row for row in repo.session.scalars(query)}


def released_once() -> ColumnElement[bool]:
    """For the claim query in manual mode: the task was released at least once."""
    return exists().where(TaskGate.task_id == Job.id, TaskGate.released >= 1)


def open_tasks(repo: Repository) -> Sequence[Job]:
    """Tasks that are not final yet, oldest first."""
    query = (
        select(Job)
        .where(Job.is_task.is_(True), Job.status.in_(["INIT", "RUNNING"]))
        .order_by(Job.seq)
    )
    return repo.session.scalars(query).all()


def parent_types(repo: Repository, parent_ids: Collection[str]) -> dict[str, str]:
    query = select(Job.id, Job.job_type).where(Job.id.in_(list(parent_ids)))
    return {str(row.id): str(row.job_type) for row in repo.session.execute(query)}
