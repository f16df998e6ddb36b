"""Queries over the resource tables, bound to one transaction (see uow.Database)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, Select, bindparam, func, inspect, select
from sqlalchemy.orm import Session

from localecs.store.admission import AdmissionStore
from localecs.store.tables import (
    AccessKey,
    Attachment,
    Base,
    Job,
    Project,
    ProjectVolumeCount,
    Server,
    Volume,
)

T = TypeVar("T", bound=Base)

# The lookups every task and admission makes, built once: building a select and its filters
# per call cost more than running it (~140 µs against ~55 µs for an attachment, measured).
_SERVER = select(Server).where(
    Server.id == bindparam("id"), Server.project_id == bindparam("project_id")
)
_VOLUME = select(Volume).where(
    Volume.id == bindparam("id"), Volume.project_id == bindparam("project_id")
)
_ATTACHMENT = select(Attachment).where(
    Attachment.volume_id == bindparam("volume_id"), Attachment.server_id == bindparam("server_id")
)
_ATTACHMENT_STATES = select(Attachment.state).where(Attachment.volume_id == bindparam("volume_id"))
_JOB = select(Job).where(Job.id == bindparam("id"))
_LOCKED = {statement: statement.with_for_update() for statement in (_SERVER, _VOLUME, _JOB)}
# A disk's state on one server as plain values, for a worker's check before the data plane.
_ATTACHMENT_STATE_VALUES = select(Attachment.state, Attachment.device).where(
    Attachment.volume_id == bindparam("volume_id"), Attachment.server_id == bindparam("server_id")
)


def attachment_state(
    connection: Connection, volume_id: str, server_id: str
) -> Row[str, str] | None:
    """(state, device) of the disk on the server, or None: one statement on a plain connection
    (uow.Database.connect), a quarter of what an ORM session and object cost."""
    parameters = {"volume_id": volume_id, "server_id": server_id}
    return connection.execute(_ATTACHMENT_STATE_VALUES, parameters).first()


def _maybe_locked(statement: Select[Any], lock: bool) -> Select[Any]:
    return _LOCKED[statement] if lock else statement


@dataclass(frozen=True)
class Page:
    count: int
    items: Sequence[Any]


class Repository:
    def __init__(self, session: Session, connection: Connection | None = None) -> None:
        """`connection`: the one `session` is bound to, when the caller has it (group commit):
        statements on it then need no session transaction at all."""
        self.session = session
        self._admission = AdmissionStore(connection) if connection is not None else None

    def add(self, *records: Base) -> None:
        self.session.add_all(records)

    def delete(self, record: Base) -> None:
        self.session.delete(record)

    def flush(self) -> None:
        self.session.flush()

    def admission(self) -> AdmissionStore:
        """Batch admission's statements, in this transaction, without the ORM."""
        if self._admission is None:
            self._admission = AdmissionStore(self.session.connection())
        return self._admission

    def is_deleted(self, record: Base) -> bool:
        """Whether this transaction deleted the record (or will, at its next flush)."""
        state = inspect(record)
        return state.deleted or state.was_deleted or record in self.session.deleted

    # Identity

    def access_key(self, access_key: str) -> AccessKey | None:
        return self.session.get(AccessKey, access_key)

    def project(self, project_id: str) -> Project | None:
        return self.session.get(Project, project_id)

    def project_by_name(self, name: str) -> Project | None:
        return self.session.scalars(select(Project).filter_by(name=name)).first()

    def any_access_key(self) -> AccessKey | None:
        return self.session.scalars(select(AccessKey).order_by(AccessKey.created_at)).first()

    # Servers

    def server(self, project_id: str, server_id: str, *, lock: bool = False) -> Server | None:
        query = _maybe_locked(_SERVER, lock)
        found: Server | None = self.session.scalars(
            query, {"id": server_id, "project_id": project_id}
        ).first()
        return found

    def servers(self, project_id: str, server_ids: Collection[str]) -> dict[str, Server]:
        query = (
            select(Server)
            .where(Server.id.in_(list(server_ids)), Server.project_id == project_id)
            .order_by(Server.id)
            .with_for_update()
        )
        return {server.id: server for server in self.session.scalars(query)}

    def page(
        self,
        query: Select[T],
        *,
        offset: int,
        limit: int,
        keep: Callable[[T], bool] | None = None,
        count: int | None = None,
    ) -> Page:
        """One page of `query` and the count of all its rows. `keep` filters rows on what SQL
        cannot portably reach (values inside JSON columns); paging then happens after it.
        `count`: that count, when the caller knows it without counting."""
        if keep is not None:
            kept = [row for row in self.session.scalars(query) if keep(row)]
            return Page(len(kept), kept[offset : offset + limit])
        if count is None:
            count = self.session.scalar(
                select(func.count()).select_from(query.order_by(None).subquery())
            )
        items = self.session.scalars(query.offset(offset).limit(limit)).all()
        return Page(count or 0, items)

    # Volumes

    def volume(self, project_id: str, volume_id: str, *, lock: bool = False) -> Volume | None:
        query = _maybe_locked(_VOLUME, lock)
        found: Volume | None = self.session.scalars(
            query, {"id": volume_id, "project_id": project_id}
        ).first()
        return found

    def volume_count(self, project_id: str) -> int:
        """How many disks the project has, from the row the volumes triggers keep (tables.py)."""
        count = self.session.scalar(
            select(ProjectVolumeCount.volumes).where(ProjectVolumeCount.project_id == project_id)
        )
        return count or 0

    def locked_volumes(self, project_id: str, volume_ids: Collection[str]) -> dict[str, Volume]:
        """Locks disks in id order: the same order everywhere, so lockers never deadlock."""
        query = (
            select(Volume)
            .where(Volume.id.in_(list(volume_ids)), Volume.project_id == project_id)
            .order_by(Volume.id)
            .with_for_update()
        )
        return {volume.id: volume for volume in self.session.scalars(query)}

    def volumes_by_id(self, volume_ids: Collection[str]) -> dict[str, Volume]:
        query = select(Volume).where(Volume.id.in_(list(volume_ids)))
        return {volume.id: volume for volume in self.session.scalars(query)}

    # Attachments

    def attachment(self, volume_id: str, server_id: str) -> Attachment | None:
        parameters = {"volume_id": volume_id, "server_id": server_id}
        return self.session.scalars(_ATTACHMENT, parameters).first()

    def attachments_of_volume(self, volume_id: str) -> list[Attachment]:
        query = select(Attachment).filter_by(volume_id=volume_id).order_by(Attachment.attached_at)
        return list(self.session.scalars(query))

    def attachments_of_volumes(self, volume_ids: Collection[str]) -> dict[str, list[Attachment]]:
        found: dict[str, list[Attachment]] = {volume_id: [] for volume_id in volume_ids}
        query = select(Attachment).where(Attachment.volume_id.in_(list(volume_ids)))
        for attachment in self.session.scalars(query):
            found[attachment.volume_id].append(attachment)
        return found

    def attachment_states(self, volume_id: str) -> list[str]:
        """The states of a disk's attachment rows (pending ones of this transaction included)."""
        return list(self.session.scalars(_ATTACHMENT_STATES, {"volume_id": volume_id}))

    def devices_of_servers(self, server_ids: Collection[str]) -> dict[str, set[str]]:
        """The device names in use on each server: what choosing a free one needs, as plain
        values rather than every attachment as an object."""
        found: dict[str, set[str]] = {server_id: set() for server_id in server_ids}
        query = select(Attachment.server_id, Attachment.device).where(
            Attachment.server_id.in_(list(server_ids))
        )
        for server_id, device in self.session.execute(query):
            found[server_id].add(device)
        return found

    def attachments_of_server(self, server_id: str) -> list[Attachment]:
        return self.attachments_of_servers([server_id])[server_id]

    def attachments_of_servers(self, server_ids: Collection[str]) -> dict[str, list[Attachment]]:
        found: dict[str, list[Attachment]] = {server_id: [] for server_id in server_ids}
        query = (
            select(Attachment)
            .where(Attachment.server_id.in_(list(server_ids)))
            .order_by(Attachment.device)
        )
        for attachment in self.session.scalars(query):
            found[attachment.server_id].append(attachment)
        return found

    # Jobs

    def job(self, job_id: str, *, lock: bool = False) -> Job | None:
        found: Job | None = self.session.scalars(_maybe_locked(_JOB, lock), {"id": job_id}).first()
        return found

    def insert_jobs(self, rows: Sequence[dict[str, Any]]) -> None:
        """New job rows in one statement: admission writes up to 17 at once, and nothing in
        its transaction reads them back as objects."""
        # A prebuilt INSERT on the DB-API connection (store/admission.py): through the session
        # the same rows cost ~1 ms of statement machinery. Pending ORM changes go first, so the
        # statements reach the database in the order the caller made them.
        self.session.flush()
        self.admission().insert_jobs(rows)

    def sub_jobs(self, parent_ids: Collection[str]) -> dict[str, list[Job]]:
        found: dict[str, list[Job]] = {parent_id: [] for parent_id in parent_ids}
        query = select(Job).where(Job.parent_id.in_(list(parent_ids))).order_by(Job.seq)
        for job in self.session.scalars(query):
            found[job.parent_id or ""].append(job)
        return found
