"""EVS disks: create (v2.1 and legacy v2), show, list and delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, or_, select

from localecs.domain import volumes as volume_rules
from localecs.domain.jobs import JobType
from localecs.errors import volume_not_found
from localecs.ids import new_resource_id
from localecs.services.context import Context
from localecs.services.idempotency import IdempotencyKey, run_once
from localecs.services.jobs import Task, submit_batch, submit_single
from localecs.services.lookups import require_volume
from localecs.store.repository import Repository
from localecs.store.tables import Attachment, Volume
from localecs.store.uow import retry_on_conflict

SERVICE_TYPE = "EVS"


@dataclass(frozen=True)
class VolumeSpec:
    availability_zone: str
    volume_type: str
    size: int
    name: str = ""
    description: str = ""
    multiattach: bool = False
    count: int = 1
    image_id: str | None = None
    enterprise_project_id: str = "0"
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreatedVolumes:
    job_id: str
    volume_ids: list[str]


@dataclass(frozen=True)
class VolumeDetail:
    volume: Volume
    attachments: Sequence[Attachment]


@dataclass(frozen=True)
class VolumeFilters:
    name: str | None = None
    status: str | None = None
    availability_zone: str | None = None
    multiattach: bool | None = None
    ids: Sequence[str] | None = None
    server_id: str | None = None
    enterprise_project_id: str | None = None
    volume_type_id: str | None = None
    service_type: str | None = None
    dedicated_storage: str | None = None
    metadata: dict[str, str] | None = None
    not_metadata: dict[str, str] | None = None


NO_FILTERS = VolumeFilters()


@dataclass(frozen=True)
class VolumeOrder:
    sort_key: str = "created_at"
    descending: bool = True


def create_volumes(
    ctx: Context, project_id: str, spec: VolumeSpec, key: IdempotencyKey | None = None
) -> CreatedVolumes:
    """Stages the disks (creating) and submits createVolume, or batchCreateVolume with one
    sub-job per disk. A retry with the same X-Client-Token gets the first answer."""
    response = run_once(
        ctx,
        project_id,
        JobType.CREATE_VOLUME,
        key,
        lambda repo, now: _stage_volumes(repo, now, project_id, spec),
    )
    return CreatedVolumes(response["job_id"], response["volume_ids"])


def _stage_volumes(
    repo: Repository, now: datetime, project_id: str, spec: VolumeSpec
) -> dict[str, Any]:
    volumes = [
        Volume(
            id=new_resource_id(),
            project_id=project_id,
            name=_volume_name(spec, index),
            description=spec.description,
            size=spec.size,
            volume_type=spec.volume_type,
            availability_zone=spec.availability_zone,
            multiattach=spec.multiattach,
            bootable=spec.image_id is not None,
            status=volume_rules.CREATING,
            image_id=spec.image_id,
            enterprise_project_id=spec.enterprise_project_id,
            metadata_=spec.metadata,
            tags=spec.tags,
            created_at=now,
            updated_at=now,
        )
        for index in range(spec.count)
    ]
    repo.add(*volumes)
    tasks = [
        Task(JobType.CREATE_VOLUME, volume_id=v.id, entities=_evs_entities(v)) for v in volumes
    ]
    if len(tasks) == 1:
        job_id = submit_single(repo, now, project_id, tasks[0])
    else:
        job_id = submit_batch(repo, now, project_id, JobType.BATCH_CREATE_VOLUME, tasks)
    return {"job_id": job_id, "volume_ids": [v.id for v in volumes]}


def _evs_entities(volume: Volume) -> dict[str, Any]:
    """What an EVS job says of its disk (contract 3.4)."""
    return {
        "volume_id": volume.id,
        "name": volume.name,
        "size": volume.size,
        "volume_type": volume.volume_type,
    }


def _volume_name(spec: VolumeSpec, index: int) -> str:
    if spec.count == 1:
        return spec.name
    return f"{spec.name}-{index + 1:04d}"


def show_volume(ctx: Context, project_id: str, volume_id: str) -> VolumeDetail:
    with ctx.db.read() as repo:
        volume = require_volume(repo, project_id, volume_id)
        return VolumeDetail(volume, repo.attachments_of_volume(volume_id))


def list_volumes(
    ctx: Context,
    project_id: str,
    filters: VolumeFilters,
    order: VolumeOrder,
    *,
    offset: int,
    limit: int,
    marker: str | None,
) -> tuple[int, list[VolumeDetail]]:
    query = _filtered(select(Volume).where(Volume.project_id == project_id), filters)
    column = getattr(Volume, order.sort_key)
    with ctx.db.read() as repo:
        if marker:
            anchor = repo.volume(project_id, marker)
            if anchor is None:
                raise volume_not_found(marker)
            value = getattr(anchor, order.sort_key)
            after = column < value if order.descending else column > value
            query = query.where(or_(after, (column == value) & (Volume.id > anchor.id)))
        sort = column.desc() if order.descending else column.asc()
        keep = (
            (lambda v: _matches(v, filters)) if filters.metadata or filters.not_metadata else None
        )
        # Unfiltered, `count` is every disk of the project: the kept count, in this read's
        # snapshot, instead of a count that grows with the disks.
        count = repo.volume_count(project_id) if not marker and filters == NO_FILTERS else None
        page = repo.page(
            query.order_by(sort, Volume.id), offset=offset, limit=limit, keep=keep, count=count
        )
        attachments = repo.attachments_of_volumes([v.id for v in page.items])
        return page.count, [VolumeDetail(v, attachments[v.id]) for v in page.items]


def _filtered(query: Select[Volume], filters: VolumeFilters) -> Select[Volume]:
    if (filters.service_type not in (None, SERVICE_TYPE)) or filters.dedicated_storage:
        # Every disk here is a plain EVS disk: none is DSS/DESS or on dedicated storage.
        return query.where(false())
    if filters.ids is not None:
        query = query.where(Volume.id.in_(list(filters.ids)))
    if filters.name:
        query = query.where(Volume.name.contains(filters.name, autoescape=True))
    if filters.status:
        query = query.where(Volume.status == filters.status)
    if filters.availability_zone:
        query = query.where(Volume.availability_zone == filters.availability_zone)
    if filters.multiattach is not None:
        query = query.where(Volume.multiattach.is_(filters.multiattach))
    if filters.enterprise_project_id:
        query = query.where(Volume.enterprise_project_id == filters.enterprise_project_id)
    if filters.volume_type_id:
        query = query.where(Volume.volume_type == filters.volume_type_id)
    if filters.server_id:
        on_server = select(Attachment.volume_id).where(Attachment.server_id == filters.server_id)
        query = query.where(Volume.id.in_(on_server))
    return query


def _matches(volume: Volume, filters: VolumeFilters) -> bool:
    """`metadata` names pairs a disk's metadata must all have; `not_metadata` pairs it must not
    have all of."""
    items = volume.metadata_.items()
    has = filters.metadata is None or filters.metadata.items() <= items
    lacks = filters.not_metadata is None or not filters.not_metadata.items() <= items
    return has and lacks


@retry_on_conflict
def delete_volume(ctx: Context, project_id: str, volume_id: str) -> str:
    with ctx.db.write() as repo:
        volume = require_volume(repo, project_id, volume_id, lock=True)
        attachments = repo.attachments_of_volume(volume_id)
        volume_rules.check_deletable(volume_id, volume.status, len(attachments))
        now = ctx.clock.now()
        volume.status = volume_rules.DELETING
        volume.updated_at = now
        task = Task(JobType.DELETE_VOLUME, volume_id=volume_id, entities=_evs_entities(volume))
        job_id = submit_single(repo, now, project_id, task)
    ctx.wake_workers()
    return job_id
