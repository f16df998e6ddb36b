"""Bulk inserts straight into a localecs store: fleets in seconds rather than API calls.

Rows are written the way the services would have left them (servers ACTIVE, shared disks
attached through attachment rows, finished jobs with their sub-jobs), so the API serves them
like any others.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, insert

from bench.signer import Credentials
from localecs.bootstrap import ensure_credential
from localecs.clock import SystemClock
from localecs.config import BootstrapCredential, Settings
from localecs.domain import servers as server_rules
from localecs.domain import volumes as volume_rules
from localecs.domain.jobs import JobStatus, JobType
from localecs.runtime import identity_service
from localecs.store import schema
from localecs.store.database import make_engine
from localecs.store.tables import Attachment, Job, Server, Volume
from localecs.store.uow import Database

ZONE = "cn-north-4a"
DEVICE_LETTERS = "abcdefghijklmnopqrstuvwx"
BATCH = 16  # servers per batch: the shared-disk limit
CHUNK = 5000


def new_credentials() -> Credentials:
    return Credentials(
        access_key="BENCH" + secrets.token_hex(8).upper(),
        secret_key=secrets.token_urlsafe(30),
        project_id=secrets.token_hex(16),
    )


def open_store(url: str, credentials: Credentials, data_dir: Path) -> Engine:
    """The schema at its newest revision, with the credential's account, root user, project
    and access key, written by localecs's own bootstrap (its secret sealed with the key kept in
    `data_dir`, the servers' --data-dir)."""
    engine = make_engine(url)
    schema.upgrade(engine)
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        bootstrap=BootstrapCredential(
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            project_id=credentials.project_id,
        ),
    )
    identity = identity_service(settings, Database(engine), SystemClock())
    ensure_credential(identity, settings.bootstrap, settings.region)
    return engine


@dataclass(frozen=True)
class BatchRequest:
    """One valid batch request: attach `volume_id` to, or detach it from, `server_ids`."""

    action: str  # "attach" or "detach"
    volume_id: str
    server_ids: tuple[str, ...]


def seed_batch_pool(engine: Engine, project_id: str, requests: int) -> list[BatchRequest]:
    """Groups of 16 servers sharing 20 disks: 10 attached to all 16, 10 free. The returned
    requests alternate attach (a free disk) and detach (an attached one), each disk once, so
    every request is valid when it arrives whatever the order the connections deliver them."""
    per_group = 10
    groups = max(1, -(-requests // (2 * per_group)))
    servers: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    pool: list[BatchRequest] = []
    now = _now()
    for _ in range(groups):
        group = [_server(project_id, now) for _ in range(BATCH)]
        servers += group
        server_ids = tuple(s["id"] for s in group)
        for k in range(per_group):
            attached = _volume(project_id, now, volume_rules.IN_USE)
            free = _volume(project_id, now, volume_rules.AVAILABLE)
            volumes += [attached, free]
            attachments += [
                _attachment(attached["id"], server_id, DEVICE_LETTERS[1 + k], now)
                for server_id in server_ids
            ]
            pool.append(BatchRequest("attach", free["id"], server_ids))
            pool.append(BatchRequest("detach", attached["id"], server_ids))
    _insert(engine, Server.__table__, servers)
    _insert(engine, Volume.__table__, volumes)
    _insert(engine, Attachment.__table__, attachments)
    return pool[:requests] if requests >= 2 else pool[:2]


@dataclass(frozen=True)
class Probe:
    """What the growth measurements read: the same objects in an empty and in a full store."""

    job_id: str
    server_id: str
    volume_ids: tuple[str, ...]


def seed_probe(engine: Engine, project_id: str) -> Probe:
    """A server with 4 shared disks, 100 more disks (a full first page of 100), and one
    finished 16-server batch job."""
    now = _now()
    server = _server(project_id, now)
    disks = [_volume(project_id, now, volume_rules.IN_USE) for _ in range(4)]
    more = [_volume(project_id, now, volume_rules.AVAILABLE) for _ in range(100)]
    _insert(engine, Server.__table__, [server])
    _insert(engine, Volume.__table__, disks + more)
    _insert(
        engine,
        Attachment.__table__,
        [
            _attachment(d["id"], server["id"], DEVICE_LETTERS[1 + i], now)
            for i, d in enumerate(disks)
        ],
    )
    servers = [server["id"]] + [secrets.token_hex(8) for _ in range(BATCH - 1)]
    parent, subs = _finished_batch(project_id, disks[0]["id"], servers, now)
    _insert(engine, Job.__table__, [parent, *subs])
    return Probe(parent["id"], server["id"], tuple(d["id"] for d in disks))


def seed_fleet(engine: Engine, project_id: str, servers: int, volumes: int, jobs: int) -> None:
    """`servers` servers, `volumes` disks (one on each server while both last) and `jobs`
    finished job rows (batch parents with 16 sub-jobs each), all older than the probe."""
    then = _now() - timedelta(days=1)
    server_ids: list[str] = []

    def server_rows() -> Iterator[dict[str, Any]]:
        for _ in range(servers):
            row = _server(project_id, then)
            server_ids.append(row["id"])
            yield row

    _insert(engine, Server.__table__, server_rows())
    volume_rows = [_volume(project_id, then, volume_rules.IN_USE) for _ in range(volumes)]
    _insert(engine, Volume.__table__, volume_rows)
    _insert(
        engine,
        Attachment.__table__,
        (_attachment(v["id"], s, "b", then) for v, s in zip(volume_rows, server_ids, strict=False)),
    )

    def job_rows() -> Iterator[dict[str, Any]]:
        written = 0
        index = 0
        while written < jobs:
            start = index % max(1, len(server_ids) - BATCH)
            batch = server_ids[start : start + BATCH] or [secrets.token_hex(8)]
            volume_id = volume_rows[index % len(volume_rows)]["id"] if volume_rows else "none"
            parent, subs = _finished_batch(project_id, volume_id, batch, then)
            for row in [parent, *subs][: jobs - written]:
                written += 1
                yield row
            index += 1

    _insert(engine, Job.__table__, job_rows())


def seed_e2e(engine: Engine, project_id: str, sizes: Sequence[int]) -> list[BatchRequest]:
    """For each size, that many servers sharing one attached disk: detach then attach them again
    is a valid cycle for a sequential client."""
    now = _now()
    cycles: list[BatchRequest] = []
    for size in sizes:
        group = [_server(project_id, now) for _ in range(size)]
        disk = _volume(project_id, now, volume_rules.IN_USE)
        _insert(engine, Server.__table__, group)
        _insert(engine, Volume.__table__, [disk])
        _insert(
            engine,
            Attachment.__table__,
            [_attachment(disk["id"], s["id"], "b", now) for s in group],
        )
        cycles.append(BatchRequest("detach", disk["id"], tuple(s["id"] for s in group)))
    return cycles


def _finished_batch(
    project_id: str, volume_id: str, server_ids: Sequence[str], at: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    parent_id = secrets.token_hex(16)
    parent = _job(project_id, JobType.BATCH_DETACH_VOLUMES, at, id=parent_id, is_task=False)
    parent.update(entities={"volume_id": volume_id}, sub_jobs_total=len(server_ids))
    subs = []
    for server_id in server_ids:
        sub = _job(project_id, JobType.DETACH_VOLUME, at, parent_id=parent_id, is_task=True)
        sub.update(
            lock_key=server_id,
            server_id=server_id,
            volume_id=volume_id,
            entities={"server_id": server_id, "volume_id": volume_id},
            attempts=1,
        )
        subs.append(sub)
    return parent, subs


def _job(project_id: str, job_type: JobType, at: datetime, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": secrets.token_hex(16),
        "project_id": project_id,
        "parent_id": None,
        "job_type": job_type.value,
        "status": JobStatus.SUCCESS.value,
        "lock_key": None,
        "server_id": None,
        "volume_id": None,
        "entities": {},
        "payload": {},
        "sub_jobs_total": 0,
        "error_code": None,
        "fail_reason": None,
        "begin_time": at,
        "end_time": at + timedelta(milliseconds=5),
        "lease_owner": None,
        "lease_expires_at": None,
        "attempts": 0,
    }
    row.update(values)
    return row


def _server(project_id: str, at: datetime) -> dict[str, Any]:
    server_id = str(uuid.uuid4())
    return {
        "id": server_id,
        "project_id": project_id,
        "name": f"bench-{server_id[:8]}",
        "status": server_rules.ACTIVE,
        "task_state": None,
        "flavor_id": "s6.large.2",
        "image_id": "bench-image",
        "vpc_id": "bench-vpc",
        "availability_zone": ZONE,
        "reservation_id": "r-bench",
        "enterprise_project_id": "0",
        "key_name": None,
        "description": "",
        "locked": False,
        "nics": [],
        "metadata": {},
        "tags": [],
        "created_at": at,
        "updated_at": at,
        "launched_at": at,
    }


def _volume(project_id: str, at: datetime, status: str) -> dict[str, Any]:
    volume_id = str(uuid.uuid4())
    return {
        "id": volume_id,
        "project_id": project_id,
        "name": f"bench-{volume_id[:8]}",
        "description": "",
        "size": 10,
        "volume_type": "SSD",
        "availability_zone": ZONE,
        "multiattach": True,
        "bootable": False,
        "status": status,
        "image_id": None,
        "enterprise_project_id": "0",
        "metadata": {},
        "tags": {},
        "created_at": at,
        "updated_at": at,
    }


def _attachment(volume_id: str, server_id: str, letter: str, at: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "volume_id": volume_id,
        "server_id": server_id,
        "device": f"/dev/vd{letter}",
        "boot_index": None,
        "state": volume_rules.ATTACHMENT_ATTACHED,
        "delete_on_termination": False,
        "attached_at": at,
    }


def analyze(engine: Engine) -> None:
    """On PostgreSQL, gathers the planner's statistics, as autovacuum would have within about a
    minute of the rows arriving. A store seeded in bulk and loaded at once has none, and the
    planner then reads whole tables for lookups a running store makes by index: the devices of
    a batch's 16 servers took a sequential scan of every attachment (1.1 ms on 6,400 rows, 0.1 ms
    analysed). SQLite gathers none unless told to, and localecs never tells it: left as it is."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def _insert(engine: Engine, table: Table | Any, rows: Iterable[dict[str, Any]]) -> None:
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        with engine.begin() as conn:
            conn.execute(insert(table), chunk)


def _now() -> datetime:
    return datetime.now(UTC)
