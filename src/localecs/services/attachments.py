"""Attaching and detaching disks: admission of the four ECS operations and the block-device reads.

Admission is all-or-nothing: every check runs before any state changes, and the attachment marks,
the disk status and the job rows are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from localecs.clock import Clock
from localecs.domain import servers as server_rules
from localecs.domain import volumes as volume_rules
from localecs.domain.jobs import JobType
from localecs.domain.volumes import derive_status
from localecs.errors import ApiError, server_not_found, volume_not_found
from localecs.ids import new_attachment_id
from localecs.services.context import Context
from localecs.services.jobs import Task, submit_batch, submit_single
from localecs.services.lookups import require_server, require_servers, require_volume
from localecs.services.volume_status import refresh_volume_status
from localecs.store.admission import AdmissionStore, VolumeRow
from localecs.store.repository import Repository
from localecs.store.tables import Attachment, Server, Volume
from localecs.store.uow import retry_on_conflict


class _ServerFacts(Protocol):
    """What the admission rules read of a server: an ORM Server or a row of store.admission."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def task_state(self) -> str | None: ...
    @property
    def locked(self) -> bool: ...
    @property
    def availability_zone(self) -> str: ...


class _VolumeFacts(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def multiattach(self) -> bool: ...
    @property
    def availability_zone(self) -> str: ...


class _AttachmentFacts(Protocol):
    @property
    def state(self) -> str: ...
    @property
    def boot_index(self) -> int | None: ...


_A = TypeVar("_A", bound=_AttachmentFacts)
_S = TypeVar("_S", bound=_ServerFacts)


@dataclass(frozen=True)
class AttachRequest:
    server_id: str
    device: str | None = None


@dataclass(frozen=True)
class BlockDevice:
    attachment: Attachment
    volume: Volume


@dataclass(frozen=True)
class BlockDevices:
    server: Server
    devices: Sequence[BlockDevice]
    used_slots: int


@retry_on_conflict
def batch_detach_volumes(
    ctx: Context, project_id: str, volume_id: str, server_ids: Sequence[str]
) -> str:
    _check_batch_size(volume_id, len(server_ids))
    job_id = ctx.db.write_grouped(
        lambda repo: _admit_batch_detach(repo, ctx.clock, project_id, volume_id, server_ids)
    )
    ctx.wake_workers()
    return job_id


def _admit_batch_detach(
    repo: Repository, clock: Clock, project_id: str, volume_id: str, server_ids: Sequence[str]
) -> str:
    store = repo.admission()
    volume = store.volume(project_id, volume_id)
    if volume is None:
        raise volume_not_found(volume_id)
    servers = _require_all(store.servers(project_id, server_ids), server_ids)
    attachments = store.attachments_of_volume(volume_id)
    # Contract 7.4: every server must hold the disk (Ecs.0111) before any server's state
    # is checked (Ecs.0100), so the answer does not depend on the order of the list.
    for server_id in server_ids:
        _require_attached(servers[server_id], volume_id, attachments.get(server_id))
    for server_id in server_ids:
        _detachable(servers[server_id], volume_id, attachments.get(server_id))
    store.mark_attachments(volume_id, server_ids, volume_rules.ATTACHMENT_DETACHING)
    now = clock.now()
    detaching = set(server_ids)
    states = [
        volume_rules.ATTACHMENT_DETACHING if server_id in detaching else attachment.state
        for server_id, attachment in attachments.items()
    ]
    _set_volume_status(store, volume, states, now)
    tasks = [_detach_task(volume_id, server_id) for server_id in server_ids]
    return submit_batch(
        repo, now, project_id, JobType.BATCH_DETACH_VOLUMES, tasks, {"volume_id": volume_id}
    )


@retry_on_conflict
def detach_server_volume(
    ctx: Context, project_id: str, server_id: str, volume_id: str, force: bool
) -> str:
    def admit(repo: Repository) -> str:
        volume, server = _lock_pair(repo, project_id, server_id, volume_id)
        attachment = repo.attachment(volume_id, server_id)
        if force and attachment is not None and attachment.boot_index == 0:
            raise ApiError(
                400,
                "Ecs.0102",
                f"Volume {volume_id} is a system disk and cannot be force-detached.",
            )
        _detachable(server, volume_id, attachment).state = volume_rules.ATTACHMENT_DETACHING
        now = ctx.clock.now()
        refresh_volume_status(repo, volume, now)
        return submit_single(repo, now, project_id, _detach_task(volume_id, server_id))

    job_id = ctx.db.write_grouped(admit)
    ctx.wake_workers()
    return job_id


@retry_on_conflict
def batch_attach_sharable_volumes(
    ctx: Context, project_id: str, volume_id: str, requests: Sequence[AttachRequest]
) -> str:
    _check_batch_size(volume_id, len(requests))
    job_id = ctx.db.write_grouped(
        lambda repo: _admit_batch_attach(repo, ctx.clock, project_id, volume_id, requests)
    )
    ctx.wake_workers()
    return job_id


def _admit_batch_attach(
    repo: Repository,
    clock: Clock,
    project_id: str,
    volume_id: str,
    requests: Sequence[AttachRequest],
) -> str:
    store = repo.admission()
    volume = store.volume(project_id, volume_id)
    if volume is None:
        raise volume_not_found(volume_id)
    volume_rules.check_shared_for_batch(volume_id, volume.multiattach)
    server_ids = [r.server_id for r in requests]
    servers = _require_all(store.servers(project_id, server_ids), server_ids)
    current = store.attachments_of_volume(volume_id)
    _check_not_attached(volume_id, current, requests)
    volume_rules.check_attachable(
        volume_id, volume.status, volume.multiattach, len(current), len(requests)
    )
    devices = store.devices_of_servers(server_ids)
    rows = []
    tasks = []
    for request in requests:
        server = servers[request.server_id]
        device = _admit_attachment(volume, server, devices[server.id], request.device)
        rows.append(
            {
                "id": new_attachment_id(),
                "volume_id": volume_id,
                "server_id": server.id,
                "device": device,
                # A disk put in the system slot is the system disk (contract 7.2).
                "boot_index": 0 if device == server_rules.SYSTEM_DEVICE else None,
                "state": volume_rules.ATTACHMENT_ATTACHING,
                "delete_on_termination": False,
                "attached_at": None,
            }
        )
        tasks.append(_attach_task(volume_id, server.id, device))
    store.insert_attachments(rows)
    now = clock.now()
    states = [a.state for a in current.values()]
    states += [volume_rules.ATTACHMENT_ATTACHING] * len(rows)
    _set_volume_status(store, volume, states, now)
    return submit_batch(
        repo, now, project_id, JobType.BATCH_ATTACH_VOLUMES, tasks, {"volume_id": volume_id}
    )


@retry_on_conflict
def attach_server_volume(
    ctx: Context, project_id: str, server_id: str, volume_id: str, device: str | None, dry_run: bool
) -> str | None:
    """Returns the job id, or None for a dry run that passed every check."""

    def admit(repo: Repository) -> str | None:
        volume, server = _lock_pair(repo, project_id, server_id, volume_id)
        new = _admit_attachments(
            repo, volume, {server_id: server}, [AttachRequest(server_id, device)]
        )
        if dry_run:
            return None  # every check passed; nothing was staged
        repo.add(*new)
        now = ctx.clock.now()
        refresh_volume_status(repo, volume, now)
        return submit_single(
            repo, now, project_id, _attach_task(volume_id, server_id, new[0].device)
        )

    job_id = ctx.db.write_grouped(admit)
    if job_id is not None:
        ctx.wake_workers()
    return job_id


def list_server_block_devices(ctx: Context, project_id: str, server_id: str) -> BlockDevices:
    with ctx.db.read() as repo:
        server = require_server(repo, project_id, server_id)
        attachments = repo.attachments_of_server(server_id)
        volumes = repo.volumes_by_id([a.volume_id for a in attachments])
        devices = [BlockDevice(a, volumes[a.volume_id]) for a in attachments if _visible(a)]
        return BlockDevices(server, devices, used_slots=len(attachments))


def show_server_block_device(
    ctx: Context, project_id: str, server_id: str, volume_id: str
) -> BlockDevice:
    listing = list_server_block_devices(ctx, project_id, server_id)
    for device in listing.devices:
        if device.volume.id == volume_id:
            return device
    # Terraform reads a 400 Ecs.1000 mentioning itemNotFound as "this attachment is gone".
    raise ApiError(
        400,
        "Ecs.1000",
        f"itemNotFound: volume {volume_id} is not attached to instance {server_id}.",
    )


def _visible(attachment: Attachment) -> bool:
    # A disk appears on the server once attached, and until its detach has been applied.
    return attachment.state != volume_rules.ATTACHMENT_ATTACHING


def _check_batch_size(volume_id: str, count: int) -> None:
    if count > volume_rules.MAX_SHARED_ATTACHMENTS:
        raise ApiError(
            400,
            "Ecs.0118",
            f"A batch on volume {volume_id} may name at most "
            f"{volume_rules.MAX_SHARED_ATTACHMENTS} servers; it names {count}.",
        )


def _lock_pair(
    repo: Repository, project_id: str, server_id: str, volume_id: str
) -> tuple[Volume, Server]:
    """The server and disk of a server-scoped call. The server's 404 comes first (it is the
    path's subject), but locks are always taken disk first, then servers, as in the batch calls,
    so that concurrent admissions cannot deadlock."""
    require_server(repo, project_id, server_id)
    volume = require_volume(repo, project_id, volume_id, lock=True)
    server = require_servers(repo, project_id, [server_id])[server_id]
    return volume, server


def _require_attached(server: _ServerFacts, volume_id: str, attachment: _A | None) -> _A:
    if attachment is None or attachment.state != volume_rules.ATTACHMENT_ATTACHED:
        raise ApiError(
            400, "Ecs.0111", f"Volume {volume_id} is not attached to instance {server.id}."
        )
    return attachment


def _detachable(server: _ServerFacts, volume_id: str, attachment: _A | None) -> _A:
    """The attachment a detach may take off, after every check on it and its server."""
    attachment = _require_attached(server, volume_id, attachment)
    server_rules.check_not_locked(server.id, server.locked)
    server_rules.check_can_detach(
        server.id, server.status, server.task_state, attachment.boot_index
    )
    return attachment


def _admit_attachments(
    repo: Repository,
    volume: Volume,
    servers: dict[str, Server],
    requests: Sequence[AttachRequest],
) -> list[Attachment]:
    """Checks every requested attachment; returns the rows to stage (state attaching)."""
    current = {a.server_id for a in repo.attachments_of_volume(volume.id)}
    _check_not_attached(volume.id, current, requests)
    volume_rules.check_attachable(
        volume.id, volume.status, volume.multiattach, len(current), len(requests)
    )
    devices = repo.devices_of_servers([r.server_id for r in requests])
    new = []
    for request in requests:
        server = servers[request.server_id]
        device = _admit_attachment(volume, server, devices[server.id], request.device)
        new.append(
            Attachment(
                id=new_attachment_id(),
                volume_id=volume.id,
                server_id=server.id,
                device=device,
                # A disk put in the system slot is the system disk (contract 7.2).
                boot_index=0 if device == server_rules.SYSTEM_DEVICE else None,
                state=volume_rules.ATTACHMENT_ATTACHING,
                delete_on_termination=False,
            )
        )
    return new


def _check_not_attached(
    volume_id: str, current: Collection[str], requests: Sequence[AttachRequest]
) -> None:
    for request in requests:
        if request.server_id in current:
            raise ApiError(
                400,
                "Ecs.0057",
                f"Volume {volume_id} is already attached to instance {request.server_id}.",
            )


def _admit_attachment(
    volume: _VolumeFacts, server: _ServerFacts, used: set[str], requested: str | None
) -> str:
    """Every check of one server's attach; the device it gets."""
    server_rules.check_not_locked(server.id, server.locked)
    server_rules.check_can_attach(server.id, server.status, server.task_state)
    volume_rules.check_same_zone(
        volume.id, volume.availability_zone, server.id, server.availability_zone
    )
    device = server_rules.choose_device(used, requested, server.id)
    system_slot = device == server_rules.SYSTEM_DEVICE
    volume_rules.check_system_slot(volume.id, volume.multiattach, system_slot)
    return device


def _require_all(found: dict[str, _S], server_ids: Sequence[str]) -> dict[str, _S]:
    """404 for the first named server that is missing (in the order of the request)."""
    for server_id in server_ids:
        if server_id not in found:
            raise server_not_found(server_id)
    return found


def _set_volume_status(
    store: AdmissionStore, volume: VolumeRow, attachment_states: list[str], now: datetime
) -> None:
    """The disk's status from its attachment rows as this transaction leaves them (what
    services/volume_status.py recomputes for the ORM paths)."""
    status = derive_status(volume.status, attachment_states)
    if status != volume.status:
        store.set_volume_status(volume.id, status, now)


def _detach_task(volume_id: str, server_id: str) -> Task:
    return Task(
        JobType.DETACH_VOLUME,
        server_id=server_id,
        volume_id=volume_id,
        entities={"server_id": server_id, "volume_id": volume_id},
    )


def _attach_task(volume_id: str, server_id: str, device: str) -> Task:
    return Task(
        JobType.ATTACH_VOLUME,
        server_id=server_id,
        volume_id=volume_id,
        entities={"server_id": server_id, "volume_id": volume_id},
        payload={"device": device},
    )
