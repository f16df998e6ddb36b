"""What each kind of task does: at the data plane (execute) and in the records (apply / revert).

`execute` runs outside any transaction and may be repeated after a crash, so it only calls
idempotent driver operations, guarded by the recorded state. `apply` and `revert` run in the
transaction that records the task's outcome, so a task's effect on the records happens exactly
once, together with its final status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from localecs.domain import servers as server_rules
from localecs.domain import volumes as volume_rules
from localecs.domain.jobs import JobType
from localecs.drivers.base import Driver
from localecs.services.volume_status import refresh_volume_status
from localecs.store.repository import Repository, attachment_state
from localecs.store.tables import Attachment, Job, Server, Volume
from localecs.store.uow import Database


class TaskFailed(Exception):
    """The task cannot be done; it ends FAIL with this code and reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class TaskContext:
    db: Database
    driver: Driver


class Handler(Protocol):
    def execute(self, ctx: TaskContext, task: Job) -> None: ...

    def apply(self, repo: Repository, task: Job, now: datetime) -> None: ...

    def revert(self, repo: Repository, task: Job, now: datetime) -> None: ...


def _ids(task: Job) -> tuple[str, str]:
    assert task.server_id is not None and task.volume_id is not None
    return task.server_id, task.volume_id


def _locked_volume(repo: Repository, task: Job, volume_id: str) -> Volume | None:
    return repo.volume(task.project_id, volume_id, lock=True)


def _lock_disks_of_server(repo: Repository, task: Job) -> dict[str, Volume]:
    """Locks every disk on the task's server before the server itself: admission locks a disk,
    then servers, and taking locks in the same order keeps the two from deadlocking."""
    assert task.server_id is not None
    volume_ids = [a.volume_id for a in repo.attachments_of_server(task.server_id)]
    return repo.locked_volumes(task.project_id, volume_ids)


def _locked_server(repo: Repository, task: Job) -> Server:
    assert task.server_id is not None
    server = repo.server(task.project_id, task.server_id, lock=True)
    if server is None:
        raise TaskFailed("Ecs.0114", f"Instance {task.server_id} no longer exists.")
    return server


class AttachVolume:
    def execute(self, ctx: TaskContext, task: Job) -> None:
        server_id, volume_id = _ids(task)
        with ctx.db.connect() as connection:
            attachment = attachment_state(connection, volume_id, server_id)
        if attachment is None:
            raise TaskFailed("Ecs.0205", f"The attach of {volume_id} was withdrawn.")
        ctx.driver.attach_volume(server_id, volume_id, attachment.device)

    def apply(self, repo: Repository, task: Job, now: datetime) -> None:
        server_id, volume_id = _ids(task)
        volume = _locked_volume(repo, task, volume_id)
        attachment = repo.attachment(volume_id, server_id)
        if volume is None or attachment is None:
            raise TaskFailed("Ecs.0205", f"Volume {volume_id} disappeared during the attach.")
        attachment.state = volume_rules.ATTACHMENT_ATTACHED
        attachment.attached_at = now
        _refresh(repo, volume, now)

    def revert(self, repo: Repository, task: Job, now: datetime) -> None:
        server_id, volume_id = _ids(task)
        volume = _locked_volume(repo, task, volume_id)
        attachment = repo.attachment(volume_id, server_id)
        if attachment is not None and attachment.state == volume_rules.ATTACHMENT_ATTACHING:
            repo.delete(attachment)
        if volume is not None:
            _refresh(repo, volume, now)


class DetachVolume:
    def execute(self, ctx: TaskContext, task: Job) -> None:
        server_id, volume_id = _ids(task)
        with ctx.db.connect() as connection:
            attachment = attachment_state(connection, volume_id, server_id)
        if attachment is None or attachment.state != volume_rules.ATTACHMENT_DETACHING:
            raise TaskFailed(
                "Ecs.0111", f"Volume {volume_id} is not attached to instance {server_id}."
            )
        ctx.driver.detach_volume(server_id, volume_id)

    def apply(self, repo: Repository, task: Job, now: datetime) -> None:
        server_id, volume_id = _ids(task)
        volume = _locked_volume(repo, task, volume_id)
        attachment = repo.attachment(volume_id, server_id)
        if attachment is not None:
            repo.delete(attachment)
        if volume is not None:
            _refresh(repo, volume, now)

    def revert(self, repo: Repository, task: Job, now: datetime) -> None:
        server_id, volume_id = _ids(task)
        volume = _locked_volume(repo, task, volume_id)
        attachment = repo.attachment(volume_id, server_id)
        if attachment is not None and attachment.state == volume_rules.ATTACHMENT_DETACHING:
            attachment.state = volume_rules.ATTACHMENT_ATTACHED
        if volume is not None:
            _refresh(repo, volume, now)


class CreateSingleServer:
    """Boots a server whose disks were staged at admission (creating, attaching)."""

    def execute(self, ctx: TaskContext, task: Job) -> None:
        assert task.server_id is not None
        with ctx.db.read() as repo:
            disks = [(a.volume_id, a.device) for a in repo.attachments_of_server(task.server_id)]
            sizes = {v.id: v.size for v in repo.volumes_by_id([v for v, _ in disks]).values()}
        for volume_id, device in disks:
            ctx.driver.create_volume(volume_id, sizes[volume_id])
            ctx.driver.attach_volume(task.server_id, volume_id, device)
        ctx.driver.power_on(task.server_id)

    def apply(self, repo: Repository, task: Job, now: datetime) -> None:
        volumes = _lock_disks_of_server(repo, task)
        server = _locked_server(repo, task)
        attachments = repo.attachments_of_server(server.id)
        for attachment in attachments:
            attachment.state = volume_rules.ATTACHMENT_ATTACHED
            attachment.attached_at = now
            volume = volumes[attachment.volume_id]
            if volume.status == volume_rules.CREATING:
                volume.status = volume_rules.AVAILABLE
            _refresh(repo, volume, now)
        server.status = server_rules.ACTIVE
        server.launched_at = now
        server.updated_at = now

    def revert(self, repo: Repository, task: Job, now: datetime) -> None:
        volumes = _lock_disks_of_server(repo, task)
        server = repo.server(task.project_id, task.server_id or "", lock=True)
        if server is None:
            return
        for attachment in repo.attachments_of_server(server.id):
            volume = volumes.get(attachment.volume_id)
            repo.delete(attachment)
            if volume is not None and volume.status == volume_rules.CREATING:
                volume.status = volume_rules.ERROR
                volume.updated_at = now
        server.status = server_rules.ERROR
        server.updated_at = now


class DeleteSingleServer:
    """Powers a server off, detaches its disks, deletes its system disk (data disks if asked)."""

    def execute(self, ctx: TaskContext, task: Job) -> None:
        assert task.server_id is not None
        with ctx.db.read() as repo:
            attachments = repo.attachments_of_server(task.server_id)
            doomed = _disks_deleted_with(repo, task, attachments)
        ctx.driver.power_off(task.server_id)
        for attachment in attachments:
            ctx.driver.detach_volume(task.server_id, attachment.volume_id)
        for volume_id in doomed:
            ctx.driver.delete_volume(volume_id)

    def apply(self, repo: Repository, task: Job, now: datetime) -> None:
        volumes = _lock_disks_of_server(repo, task)
        server = repo.server(task.project_id, task.server_id or "", lock=True)
        if server is None:
            return  # deleted by an earlier attempt whose outcome was recorded
        attachments = repo.attachments_of_server(server.id)
        doomed = set(_disks_deleted_with(repo, task, attachments))
        for attachment in attachments:
            volume = volumes.get(attachment.volume_id)
            repo.delete(attachment)
            if volume is None:
                continue
            if volume.id in doomed:
                repo.flush()
                repo.delete(volume)
            else:
                _refresh(repo, volume, now)
        repo.flush()
        repo.delete(server)

    def revert(self, repo: Repository, task: Job, now: datetime) -> None:
        _clear_task_state(repo, task, now, server_rules.DELETING)


def _disks_deleted_with(repo: Repository, task: Job, attachments: list[Attachment]) -> list[str]:
    """The system disk always goes with its server; data disks only with delete_volume, and a
    shared disk only if no other server still has it."""
    delete_data = bool(task.payload.get("delete_volume"))
    attached = repo.attachments_of_volumes([a.volume_id for a in attachments])
    return [
        a.volume_id
        for a in attachments
        if (a.boot_index == 0 or delete_data) and len(attached[a.volume_id]) == 1
    ]


class PowerServer:
    def __init__(self, on: bool) -> None:
        self.on = on

    def execute(self, ctx: TaskContext, task: Job) -> None:
        assert task.server_id is not None
        if self.on:
            ctx.driver.power_on(task.server_id)
        else:
            ctx.driver.power_off(task.server_id)

    @property
    def task_state(self) -> str:
        return server_rules.POWERING_ON if self.on else server_rules.POWERING_OFF

    def apply(self, repo: Repository, task: Job, now: datetime) -> None:
        server = _locked_server(repo, task)
        server.status = server_rules.ACTIVE if self.on else server_rules.SHUTOFF
        server.updated_at = now
        _clear_task_state(repo, task, now, self.task_state)

    def revert(self, repo: Repository, task: Job, now: datetime) -> None:
        _clear_task_state(repo, task, now, self.task_state)


def _clear_task_state(repo: Repository, task: Job, now: datetime, state: str) -> None:
    """Ends `state`, unless a later operation (a delete queued behind) has replaced it."""
    server = repo.server(task.project_id, task.server_id or "", lock=True)
    if server is not None and server.task_state == state:
        server.task_state = None
        server.updated_at = now


class CreateVolume:
    def execute(self, ctx: TaskContext, task: Job) -> None:
        assert task.volume_id is not None
        ctx.driver.create_volume(task.volume_id, int(task.entities.get("size", 0)))

    def apply(self, repo: Repository, task: Job, now: datetime) -> None:
        volume = _locked_volume(repo, task, task.volume_id or "")
        if volume is None:
            raise TaskFailed("EVS.5404", f"Volume {task.volume_id} disappeared during creation.")
        if volume.status == volume_rules.CREATING:
            volume.status = volume_rules.AVAILABLE
            volume.updated_at = now

    def revert(self, repo: Repository, task: Job, now: datetime) -> None:
        volume = _locked_volume(repo, task, task.volume_id or "")
        if volume is not None and volume.status == volume_rules.CREATING:
            volume.status = volume_rules.ERROR
            volume.updated_at = now


class DeleteVolume:
    def execute(self, ctx: TaskContext, task: Job) -> None:
        assert task.volume_id is not None
        ctx.driver.delete_volume(task.volume_id)

    def apply(self, repo: Repository, task: Job, now: datetime) -> None:
        volume = _locked_volume(repo, task, task.volume_id or "")
        if volume is not None:
            repo.delete(volume)

    def revert(self, repo: Repository, task: Job, now: datetime) -> None:
        volume = _locked_volume(repo, task, task.volume_id or "")
        if volume is not None and volume.status == volume_rules.DELETING:
            volume.status = volume_rules.ERROR
            volume.updated_at = now


def _refresh(repo: Repository, volume: Volume, now: datetime) -> None:
    refresh_volume_status(repo, volume, now)


# Job types whose apply and revert read and change only their own attachment row and their
# disk's row: with one task per server running at a time, no other task recorded in the same
# transaction changes what they read, so a worker may record several without flushing between
# them (one flush for all their writes). A disk's status is then refreshed at the end
# (volume_status.refreshes_deferred). Creating and deleting servers read other servers'
# attachments of the disks they hold, so they are not among them.
ISOLATED_RECORDS = frozenset({JobType.ATTACH_VOLUME, JobType.DETACH_VOLUME})

HANDLERS: dict[str, Handler] = {
    JobType.ATTACH_VOLUME: AttachVolume(),
    JobType.DETACH_VOLUME: DetachVolume(),
    JobType.CREATE_SINGLE_SERVER: CreateSingleServer(),
    JobType.DELETE_SINGLE_SERVER: DeleteSingleServer(),
    JobType.START_SERVER: PowerServer(on=True),
    JobType.STOP_SERVER: PowerServer(on=False),
    JobType.CREATE_VOLUME: CreateVolume(),
    JobType.DELETE_VOLUME: DeleteVolume(),
}
