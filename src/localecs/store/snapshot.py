"""The whole state as rows: reset to empty, and a project's resources out and back in.

Identity (projects, access keys) survives a reset: the credentials a test suite holds stay
valid. The simulated data plane's own view (``sim_*``, created by the first migration) is reset
and re-seeded with the records, so the records and the data plane agree after an import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import column, delete, inspect, or_, select, table
from sqlalchemy.orm import DeclarativeBase

from localecs.store.repository import Repository
from localecs.store.tables import (
    Attachment,
    Base,
    ClientToken,
    ControlSetting,
    Fault,
    Job,
    Server,
    TaskGate,
    Volume,
)

_SIM_ATTACHMENTS = table(
    "sim_attachments", column("server_id"), column("volume_id"), column("device")
)
_SIM_VOLUMES = table("sim_volumes", column("volume_id"))
_SIM_POWER = table("sim_power", column("server_id"))

# Everything a reset empties, children before parents. A table added for a new kind of
# resource belongs here too.
_RESET = (Attachment, Job, TaskGate, ClientToken, Server, Volume, Fault, ControlSetting)

EXPORTED: Mapping[str, type[DeclarativeBase]] = {
    "servers": Server,
    "volumes": Volume,
    "attachments": Attachment,
    "jobs": Job,
}
# Columns that describe a process's hold on a row, not the state: never exported.
_NOT_EXPORTED = {"seq", "lease_owner", "lease_expires_at"}


def reset(repo: Repository) -> None:
    for model in _RESET:
        repo.session.execute(delete(model))
    for sim in (_SIM_ATTACHMENTS, _SIM_VOLUMES, _SIM_POWER):
        repo.session.execute(delete(sim))


def columns(model: type[DeclarativeBase]) -> dict[str, str]:
    """Wire name (the column's name) -> attribute name, for the exported columns of a table."""
    mapper = inspect(model)
    return {
        attr.columns[0].name: attr.key
        for attr in mapper.column_attrs
        if attr.columns[0].name not in _NOT_EXPORTED
    }


def project_rows(repo: Repository, project_id: str) -> dict[str, list[Any]]:
    servers = list(
        repo.session.scalars(
            select(Server).filter_by(project_id=project_id).order_by(Server.created_at, Server.id)
        )
    )
    volumes = list(
        repo.session.scalars(
            select(Volume).filter_by(project_id=project_id).order_by(Volume.created_at, Volume.id)
        )
    )
    server_ids = [s.id for s in servers]
    attachments = list(
        repo.session.scalars(
            select(Attachment)
            .where(Attachment.server_id.in_(server_ids))
            .order_by(Attachment.attached_at, Attachment.server_id, Attachment.device)
        )
    )
    jobs = list(
        repo.session.scalars(select(Job).filter_by(project_id=project_id).order_by(Job.seq))
    )
    return {"servers": servers, "volumes": volumes, "attachments": attachments, "jobs": jobs}


def foreign_ids(repo: Repository, project_id: str, kind: str, ids: Iterable[str]) -> list[str]:
    """Those of `ids` that belong to another project already."""
    model: Any = EXPORTED[kind]
    wanted = list(ids)
    if not wanted:
        return []
    if model is Attachment:
        mine = select(Server.id).filter_by(project_id=project_id)
        query = select(Attachment.id).where(
            Attachment.id.in_(wanted), Attachment.server_id.not_in(mine)
        )
    else:
        query = select(model.id).where(model.id.in_(wanted), model.project_id != project_id)
    return sorted(repo.session.scalars(query))


def replace_project(
    repo: Repository,
    project_id: str,
    rows: Mapping[str, Sequence[Base]],
    powered: Iterable[str],
) -> None:
    """Drops the project's resources and jobs and writes `rows` instead, in this transaction."""
    old_servers = list(repo.session.scalars(select(Server.id).filter_by(project_id=project_id)))
    old_volumes = list(repo.session.scalars(select(Volume.id).filter_by(project_id=project_id)))
    old_jobs = select(Job.id).filter_by(project_id=project_id)
    repo.session.execute(delete(TaskGate).where(TaskGate.task_id.in_(old_jobs)))
    repo.session.execute(
        delete(Attachment).where(
            or_(Attachment.server_id.in_(old_servers), Attachment.volume_id.in_(old_volumes))
        )
    )
    repo.session.execute(delete(Job).filter_by(project_id=project_id))
    repo.session.execute(delete(ClientToken).filter_by(project_id=project_id))
    repo.session.execute(delete(Server).filter_by(project_id=project_id))
    repo.session.execute(delete(Volume).filter_by(project_id=project_id))
    repo.session.execute(delete(_SIM_ATTACHMENTS).where(column("server_id").in_(old_servers)))
    repo.session.execute(delete(_SIM_VOLUMES).where(column("volume_id").in_(old_volumes)))
    repo.session.execute(delete(_SIM_POWER).where(column("server_id").in_(old_servers)))
    repo.flush()
    for kind in ("servers", "volumes", "attachments", "jobs"):
        repo.add(*rows.get(kind, ()))
        repo.flush()
    _seed_data_plane(repo, rows, powered)


def _seed_data_plane(
    repo: Repository, rows: Mapping[str, Sequence[Any]], powered: Iterable[str]
) -> None:
    volumes = [{"volume_id": v.id} for v in rows.get("volumes", ())]
    attachments = [
        {"server_id": a.server_id, "volume_id": a.volume_id, "device": a.device}
        for a in rows.get("attachments", ())
    ]
    power = [{"server_id": s} for s in powered]
    for sim, values in (
        (_SIM_VOLUMES, volumes),
        (_SIM_ATTACHMENTS, attachments),
        (_SIM_POWER, power),
    ):
        if values:
            repo.session.execute(sim.insert(), values)
