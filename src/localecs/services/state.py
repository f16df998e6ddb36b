"""The whole state: reset to empty; a project's resources and jobs exported as JSON and imported
back (replacing what the project had) in one transaction, after checking the document fully."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase

from localecs.domain import servers as server_rules
from localecs.domain import volumes as volume_rules
from localecs.domain.faults import invalid
from localecs.domain.jobs import JobStatus
from localecs.errors import ApiError
from localecs.store import snapshot
from localecs.store.tables import Attachment, Job, Server, Timestamp, Volume
from localecs.store.uow import Database

FORMAT = "localecs-state/1"
KINDS = ("servers", "volumes", "attachments", "jobs")


def project_not_found(project_id: str) -> ApiError:
    return ApiError(404, "LocalEcs.0404", f"Project {project_id} could not be found.")


def reset(db: Database) -> None:
    with db.write() as repo:
        snapshot.reset(repo)


def export_project(db: Database, project_id: str, now: datetime) -> dict[str, Any]:
    with db.read() as repo:
        if repo.project(project_id) is None:
            raise project_not_found(project_id)
        rows = snapshot.project_rows(repo, project_id)
        document: dict[str, Any] = {
            "format": FORMAT,
            "project_id": project_id,
            "exported_at": now.isoformat(),
        }
        for kind in KINDS:
            names = snapshot.columns(snapshot.EXPORTED[kind])
            document[kind] = [_encode(row, names) for row in rows[kind]]
        return document


def import_project(db: Database, project_id: str, document: Any) -> dict[str, int]:
    """Replaces the project's servers, disks, attachments and jobs with the document's."""
    if not isinstance(document, Mapping):
        raise invalid("The state must be a JSON object.")
    unknown = set(document) - {"format", "project_id", "exported_at", *KINDS}
    if unknown:
        raise invalid(f"Invalid parameter {sorted(unknown)[0]}: unknown field.")
    if document.get("format") != FORMAT:
        raise invalid(f"Invalid parameter format: {FORMAT!r} is required.")
    rows = {kind: _decode_all(kind, document.get(kind, []), project_id) for kind in KINDS}
    _check_references(rows)
    powered = [s.id for s in rows["servers"] if s.status == server_rules.ACTIVE]
    with db.write() as repo:
        if repo.project(project_id) is None:
            raise project_not_found(project_id)
        for kind in KINDS:
            taken = snapshot.foreign_ids(repo, project_id, kind, [r.id for r in rows[kind]])
            if taken:
                raise ApiError(
                    409,
                    "LocalEcs.0409",
                    f"{kind[:-1].capitalize()} {taken[0]} belongs to another project.",
                )
        snapshot.replace_project(repo, project_id, rows, powered)
    return {kind: len(rows[kind]) for kind in KINDS}


def _encode(row: Any, names: Mapping[str, str]) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for name, attribute in names.items():
        value = getattr(row, attribute)
        encoded[name] = value.isoformat() if isinstance(value, datetime) else value
    return encoded


def _decode_all(kind: str, items: Any, project_id: str) -> list[Any]:
    if not isinstance(items, list):
        raise invalid(f"Invalid parameter {kind}: a list is required.")
    model = snapshot.EXPORTED[kind]
    return [_decode(model, f"{kind}.{n}", item, project_id) for n, item in enumerate(items)]


def _decode(model: type[DeclarativeBase], where: str, item: Any, project_id: str) -> Any:
    if not isinstance(item, Mapping):
        raise invalid(f"Invalid parameter {where}: an object is required.")
    names = snapshot.columns(model)
    unknown = set(item) - set(names)
    if unknown:
        raise invalid(f"Invalid parameter {where}.{sorted(unknown)[0]}: unknown field.")
    table = model.__table__
    values: dict[str, Any] = {}
    for name, attribute in names.items():
        column = table.columns[name]
        value = item.get(name)
        if name == "project_id":
            value = project_id  # a document from another project is imported into this one
        values[attribute] = _typed(column, value, f"{where}.{name}")
    return model(**values)


def _typed(column: Any, value: Any, where: str) -> Any:
    if value is None:
        if column.nullable:
            return None
        raise invalid(f"Invalid parameter {where}: the field is required.")
    kind = column.type
    if isinstance(kind, Timestamp):
        if not isinstance(value, str):
            raise invalid(f"Invalid parameter {where}: an ISO 8601 time is required.")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise invalid(f"Invalid parameter {where}: an ISO 8601 time is required.") from None
        if parsed.tzinfo is None:
            raise invalid(f"Invalid parameter {where}: the time needs a UTC offset.")
        return parsed
    if isinstance(kind, Boolean):
        ok = isinstance(value, bool)
    elif isinstance(kind, Integer):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(kind, String | Text):
        limit = getattr(kind, "length", None)
        ok = isinstance(value, str) and (limit is None or len(value) <= limit)
    elif isinstance(kind, JSON):
        ok = isinstance(value, dict | list)
    else:  # pragma: no cover - a column type this codec does not know yet
        ok = False
    if not ok:
        raise invalid(f"Invalid parameter {where}: wrong type or too long.")
    return value


def _check_references(rows: Mapping[str, list[Any]]) -> None:
    """The document must describe a settled, consistent state: no work in flight."""
    servers: dict[str, Server] = _unique("servers", rows["servers"])
    volumes: dict[str, Volume] = _unique("volumes", rows["volumes"])
    _unique("attachments", rows["attachments"])
    jobs: dict[str, Job] = _unique("jobs", rows["jobs"])
    for server in servers.values():
        if server.task_state is not None or server.status not in server_rules.ATTACHABLE_STATES | {
            server_rules.ERROR
        }:
            raise invalid(
                f"Server {server.id} is {server.status}/{server.task_state}: not settled."
            )
    seen_pairs: set[tuple[str, str]] = set()
    seen_devices: set[tuple[str, str]] = set()
    states: dict[str, list[str]] = {volume_id: [] for volume_id in volumes}
    for attachment in rows["attachments"]:
        _check_attachment(attachment, servers, volumes, seen_pairs, seen_devices)
        states[attachment.volume_id].append(attachment.state)
    for volume in volumes.values():
        derived = volume_rules.derive_status(volume.status, states[volume.id])
        settled = {volume_rules.AVAILABLE, volume_rules.IN_USE, volume_rules.ERROR}
        if volume.status not in settled or derived != volume.status:
            raise invalid(
                f"Volume {volume.id} is {volume.status}: not settled with its attachments."
            )
        capacity = volume_rules.capacity(volume.multiattach)
        if len(states[volume.id]) > capacity:
            raise invalid(f"Volume {volume.id} has more attachments than it can hold.")
    for job in jobs.values():
        if job.status not in (JobStatus.SUCCESS, JobStatus.FAIL):
            raise invalid(f"Job {job.id} is {job.status}: only finished jobs can be imported.")
        if job.parent_id is not None and job.parent_id not in jobs:
            raise invalid(
                f"Job {job.id} names a parent {job.parent_id} that is not in the document."
            )


def _check_attachment(
    attachment: Attachment,
    servers: Mapping[str, Server],
    volumes: Mapping[str, Volume],
    pairs: set[tuple[str, str]],
    devices: set[tuple[str, str]],
) -> None:
    if attachment.server_id not in servers or attachment.volume_id not in volumes:
        raise invalid(f"Attachment {attachment.id} names a server or volume not in the document.")
    if attachment.state != volume_rules.ATTACHMENT_ATTACHED:
        raise invalid(f"Attachment {attachment.id} is {attachment.state}: not settled.")
    pair = (attachment.volume_id, attachment.server_id)
    device = (attachment.server_id, attachment.device)
    if pair in pairs or device in devices:
        raise invalid(f"Attachment {attachment.id} repeats a disk or a device on its server.")
    pairs.add(pair)
    devices.add(device)


def _unique(kind: str, items: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in items:
        if item.id in found:
            raise invalid(f"Invalid parameter {kind}: id {item.id} appears twice.")
        found[item.id] = item
    return found
