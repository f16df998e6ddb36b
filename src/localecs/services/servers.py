"""ECS servers: create (v1 and v1.1), show, list, start/stop and delete."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select

from localecs.domain import servers as server_rules
from localecs.domain import volumes as volume_rules
from localecs.domain.jobs import JobType
from localecs.errors import ApiError
from localecs.ids import new_attachment_id, new_resource_id
from localecs.services.context import Context
from localecs.services.idempotency import IdempotencyKey, run_once
from localecs.services.jobs import Task, submit_batch
from localecs.services.lookups import require_server, require_servers
from localecs.store.repository import Repository
from localecs.store.tables import Attachment, Server, Volume
from localecs.store.uow import retry_on_conflict

MAX_DATA_VOLUMES = 23
# Addresses only need to look plausible and differ; nothing secret depends on them.
_rng = random.Random()
DEFAULT_AVAILABILITY_ZONE = "cn-north-4a"


@dataclass(frozen=True)
class DiskSpec:
    volume_type: str
    size: int
    multiattach: bool = False


@dataclass(frozen=True)
class NicSpec:
    subnet_id: str | None
    port_id: str | None = None
    ip_address: str | None = None


@dataclass(frozen=True)
class ServerSpec:
    name: str
    image_id: str
    flavor_id: str
    vpc_id: str
    nics: Sequence[NicSpec]
    root_volume: DiskSpec
    data_volumes: Sequence[DiskSpec] = ()
    count: int = 1
    auto_rename: bool = True
    availability_zone: str | None = None
    key_name: str | None = None
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    enterprise_project_id: str = "0"


@dataclass(frozen=True)
class CreatedServers:
    job_id: str
    server_ids: list[str]


@dataclass(frozen=True)
class ServerFilters:
    name: str | None = None
    status: str | None = None
    flavor: str | None = None
    server_ids: Sequence[str] | None = None
    enterprise_project_id: str | None = None
    reservation_id: str | None = None
    tags: str | None = None
    not_tags: str | None = None
    ip: str | None = None
    ip_eq: str | None = None


@dataclass(frozen=True)
class ServerDetail:
    server: Server
    attachments: Sequence[Attachment]


def create_servers(
    ctx: Context, project_id: str, spec: ServerSpec, key: IdempotencyKey | None = None
) -> CreatedServers:
    """Stages the servers (BUILD) and their disks (creating, attaching) and submits one
    createSingleServer sub-job per server. A retry with the same X-Client-Token gets the first
    answer."""
    if len(spec.data_volumes) > MAX_DATA_VOLUMES:
        raise ApiError(400, "Ecs.0042", f"A server takes at most {MAX_DATA_VOLUMES} data disks.")
    response = run_once(
        ctx,
        project_id,
        JobType.CREATE_SERVER,
        key,
        lambda repo, now: _stage_servers(repo, now, project_id, spec),
    )
    return CreatedServers(response["job_id"], response["serverIds"])


def _stage_servers(
    repo: Repository, now: datetime, project_id: str, spec: ServerSpec
) -> dict[str, Any]:
    reservation_id = f"r-{new_resource_id()[:8]}"
    zone = spec.availability_zone or DEFAULT_AVAILABILITY_ZONE
    server_ids = []
    for index in range(spec.count):
        server = Server(
            id=new_resource_id(),
            project_id=project_id,
            name=_server_name(spec, index),
            status=server_rules.BUILD,
            flavor_id=spec.flavor_id,
            image_id=spec.image_id,
            vpc_id=spec.vpc_id,
            availability_zone=zone,
            reservation_id=reservation_id,
            enterprise_project_id=spec.enterprise_project_id,
            key_name=spec.key_name,
            description=spec.description,
            locked=False,
            nics=_addressed(spec.nics),
            metadata_=spec.metadata,
            tags=spec.tags,
            created_at=now,
            updated_at=now,
        )
        repo.add(server)
        repo.flush()
        _stage_disks(repo, project_id, server, spec, zone, now)
        server_ids.append(server.id)
    tasks = [
        Task(JobType.CREATE_SINGLE_SERVER, server_id=s, entities={"server_id": s})
        for s in server_ids
    ]
    job_id = submit_batch(repo, now, project_id, JobType.CREATE_SERVER, tasks)
    return {"job_id": job_id, "serverIds": server_ids}


def _addressed(nics: Sequence[NicSpec]) -> list[dict[str, Any]]:
    """Each NIC with a port, a MAC and a fixed IP (the requested one, or one the simulated
    network hands out); the first is the primary."""
    return [
        {
            "subnet_id": nic.subnet_id,
            "port_id": nic.port_id or new_resource_id(),
            "ip_address": nic.ip_address
            or f"192.168.{_rng.randint(0, 255)}.{_rng.randint(2, 254)}",
            "mac_address": "fa:16:3e:" + ":".join(f"{_rng.randint(0, 255):02x}" for _ in range(3)),
            "primary": index == 0,
        }
        for index, nic in enumerate(nics)
    ]


def _server_name(spec: ServerSpec, index: int) -> str:
    if spec.count == 1 or not spec.auto_rename:
        return spec.name
    return f"{spec.name}-{index + 1:04d}"


def _stage_disks(
    repo: Repository, project_id: str, server: Server, spec: ServerSpec, zone: str, now: datetime
) -> None:
    disks = [(spec.root_volume, True), *((d, False) for d in spec.data_volumes)]
    for index, (disk, system) in enumerate(disks):
        volume = Volume(
            id=new_resource_id(),
            project_id=project_id,
            name=f"{server.name}-volume-{index:04d}",
            description="",
            size=disk.size,
            volume_type=disk.volume_type,
            availability_zone=zone,
            multiattach=disk.multiattach,
            bootable=system,
            status=volume_rules.CREATING,
            image_id=spec.image_id if system else None,
            enterprise_project_id=spec.enterprise_project_id,
            metadata_={},
            tags={},
            created_at=now,
            updated_at=now,
        )
        repo.add(volume)
        repo.flush()
        repo.add(
            Attachment(
                id=new_attachment_id(),
                volume_id=volume.id,
                server_id=server.id,
                device=f"/dev/vd{'abcdefghijklmnopqrstuvwx'[index]}",
                boot_index=0 if system else None,
                state=volume_rules.ATTACHMENT_ATTACHING,
                delete_on_termination=system,
            )
        )


def show_server(ctx: Context, project_id: str, server_id: str) -> ServerDetail:
    with ctx.db.read() as repo:
        server = require_server(repo, project_id, server_id)
        return ServerDetail(server, repo.attachments_of_server(server_id))


def list_servers(
    ctx: Context,
    project_id: str,
    filters: ServerFilters,
    *,
    offset: int,
    limit: int,
    marker: str | None,
) -> tuple[int, list[ServerDetail]]:
    query = select(Server).where(Server.project_id == project_id)
    if filters.server_ids is not None:
        # The API ignores every other filter when server_id is given.
        query = query.where(Server.id.in_(list(filters.server_ids)))
        filters = ServerFilters(server_ids=filters.server_ids)
    else:
        query = _filtered(query, filters)
    query = query.order_by(Server.created_at.desc(), Server.id)
    with ctx.db.read() as repo:
        if marker:
            anchor = repo.server(project_id, marker)
            if anchor is None:
                raise ApiError(400, "Ecs.0005", f"Invalid marker {marker}.")
            query = query.where(
                or_(
                    Server.created_at < anchor.created_at,
                    (Server.created_at == anchor.created_at) & (Server.id > anchor.id),
                )
            )
        keep = (lambda s: _matches(s, filters)) if _has_json_filters(filters) else None
        page = repo.page(query, offset=offset, limit=limit, keep=keep)
        attachments = repo.attachments_of_servers([s.id for s in page.items])
        return page.count, [ServerDetail(s, attachments[s.id]) for s in page.items]


def _filtered(query: Select[Server], filters: ServerFilters) -> Select[Server]:
    if filters.name:
        query = query.where(Server.name.contains(filters.name, autoescape=True))
    if filters.status:
        query = query.where(Server.status == filters.status)
    if filters.flavor:
        query = query.where(Server.flavor_id == filters.flavor)
    if filters.enterprise_project_id:
        query = query.where(Server.enterprise_project_id == filters.enterprise_project_id)
    if filters.reservation_id:
        query = query.where(Server.reservation_id == filters.reservation_id)
    return query


def _has_json_filters(filters: ServerFilters) -> bool:
    return any((filters.tags, filters.not_tags, filters.ip, filters.ip_eq))


def _matches(server: Server, filters: ServerFilters) -> bool:
    """`tags` / `not-tags` name a `key=value` tag the server has / lacks; `ip` is a substring of
    one of its addresses, `ip_eq` one of them exactly."""
    tags = set(server.tags)
    addresses = [str(nic.get("ip_address", "")) for nic in server.nics]
    return (
        (not filters.tags or filters.tags in tags)
        and (not filters.not_tags or filters.not_tags not in tags)
        and (not filters.ip or any(filters.ip in address for address in addresses))
        and (not filters.ip_eq or filters.ip_eq in addresses)
    )


@retry_on_conflict
def batch_power(ctx: Context, project_id: str, server_ids: Sequence[str], on: bool) -> str:
    _check_distinct(server_ids)
    with ctx.db.write() as repo:
        servers = require_servers(repo, project_id, server_ids)
        for server in servers.values():
            server_rules.check_not_locked(server.id, server.locked)
            server_rules.check_can_power(server.id, server.status, server.task_state)
        now = ctx.clock.now()
        for server in servers.values():
            server.task_state = server_rules.POWERING_ON if on else server_rules.POWERING_OFF
            server.updated_at = now
        sub_type = JobType.START_SERVER if on else JobType.STOP_SERVER
        tasks = [Task(sub_type, server_id=s, entities={"server_id": s}) for s in server_ids]
        parent = JobType.BATCH_START_SERVERS if on else JobType.BATCH_STOP_SERVERS
        job_id = submit_batch(repo, now, project_id, parent, tasks)
    ctx.wake_workers()
    return job_id


@retry_on_conflict
def delete_servers(
    ctx: Context, project_id: str, server_ids: Sequence[str], delete_volume: bool
) -> str:
    _check_distinct(server_ids)
    with ctx.db.write() as repo:
        servers = require_servers(repo, project_id, server_ids)
        for server in servers.values():
            server_rules.check_not_locked(server.id, server.locked)
        now = ctx.clock.now()
        for server in servers.values():
            server.task_state = server_rules.DELETING
            server.updated_at = now
        tasks = [
            Task(
                JobType.DELETE_SINGLE_SERVER,
                server_id=s,
                entities={"server_id": s},
                payload={"delete_volume": delete_volume},
            )
            for s in server_ids
        ]
        job_id = submit_batch(repo, now, project_id, JobType.DELETE_SERVERS, tasks)
    ctx.wake_workers()
    return job_id


def _check_distinct(server_ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for server_id in server_ids:
        if server_id in seen:
            raise ApiError(400, "Ecs.0005", f"Server {server_id} is listed more than once.")
        seen.add(server_id)
