"""Batch admissions written concurrently: on SQLite they share transactions and commits (group
commit), on PostgreSQL each is a transaction of its own; on both, a refused admission changes
nothing and does not disturb the others, and an answered one is committed."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from localecs.clock import FixedClock
from localecs.domain import volumes as volume_rules
from localecs.errors import ApiError
from localecs.services import attachments
from localecs.services.attachments import AttachRequest
from localecs.services.context import Context
from localecs.services.jobs import show_job
from localecs.store.group_commit import MAX_GROUP
from localecs.store.repository import Repository
from localecs.store.tables import Account, Attachment, Job, Project, Server, Volume
from localecs.store.uow import Database
from tests.support.rows import server_row, volume_row

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ZONE = "cn-north-4a"
SERVERS = 4


@dataclass(frozen=True)
class Fleet:
    project_id: str
    servers: list[str]
    loner: str  # a server that holds no disk
    attached: list[str]  # shared disks attached to every server
    free: list[str]  # shared disks attached to none


def _seed(db: Database, disks: int) -> Fleet:
    project_id = secrets.token_hex(16)
    account_id = secrets.token_hex(8)
    servers = [str(uuid.uuid4()) for _ in range(SERVERS)]
    loner = str(uuid.uuid4())
    attached = [str(uuid.uuid4()) for _ in range(disks)]
    free = [str(uuid.uuid4()) for _ in range(disks)]
    with db.engine.begin() as conn:
        conn.execute(insert(Account), [{"id": account_id, "name": account_id, "created_at": NOW}])
        conn.execute(
            insert(Project),
            [{"id": project_id, "name": project_id, "account_id": account_id, "created_at": NOW}],
        )
        conn.execute(
            insert(Server),
            [server_row(project_id, s, NOW, availability_zone=ZONE) for s in [*servers, loner]],
        )
        conn.execute(
            insert(Volume),
            [
                volume_row(project_id, v, NOW, status=volume_rules.IN_USE, availability_zone=ZONE)
                for v in attached
            ]
            + [volume_row(project_id, v, NOW, availability_zone=ZONE) for v in free],
        )
        conn.execute(
            insert(Attachment),
            [
                {
                    "id": str(uuid.uuid4()),
                    "volume_id": volume_id,
                    "server_id": server_id,
                    "device": f"/dev/vd{'bcdefghijklmnop'[k]}",
                    "boot_index": None,
                    "state": volume_rules.ATTACHMENT_ATTACHED,
                    "delete_on_termination": False,
                    "attached_at": NOW,
                }
                for k, volume_id in enumerate(attached)
                for server_id in servers
            ],
        )
    return Fleet(project_id, servers, loner, attached, free)


def _concurrently(db: Database, calls: list[Callable[[], Any]]) -> list[Any]:
    """Runs `calls` on threads of their own. On SQLite the writer mutex is held until every call
    has queued its work, so that one leader finds them all waiting (deterministic grouping)."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as error:  # noqa: BLE001  (compared below)
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    group = db.group_commit
    if group is None:
        for thread in threads:
            thread.start()
    else:
        with _writer(db):
            for thread in threads:
                thread.start()
            _wait_for(lambda: group.queued() == len(calls))
    for thread in threads:
        thread.join(30)
    return results


def _writer(db: Database) -> Any:
    return db._writer  # the test stands in for a long transaction


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _states(db: Database, volume_id: str) -> dict[str, str]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(Attachment.server_id, Attachment.state).where(Attachment.volume_id == volume_id)
        )
        return {row.server_id: row.state for row in rows}


def _status(db: Database, volume_id: str) -> str:
    with db.engine.connect() as conn:
        return str(conn.scalar(select(Volume.status).where(Volume.id == volume_id)))


def test_concurrent_admissions_share_a_commit_and_a_refused_one_changes_nothing(
    db: Database,
) -> None:
    fleet = _seed(db, disks=3)
    ctx = Context(db, FixedClock(NOW), lambda: None)
    p = fleet.project_id
    requests = [AttachRequest(s) for s in fleet.servers]
    # This detach names a server that does not hold the disk: refused (Ecs.0111), in the middle
    # of a group whose others have written before it and write after it.
    with_loner = [*fleet.servers[:-1], fleet.loner]
    calls: list[Callable[[], Any]] = [
        lambda: attachments.batch_detach_volumes(ctx, p, fleet.attached[0], fleet.servers),
        lambda: attachments.batch_attach_sharable_volumes(ctx, p, fleet.free[0], requests),
        lambda: attachments.batch_detach_volumes(ctx, p, fleet.attached[1], with_loner),
        lambda: attachments.batch_attach_sharable_volumes(ctx, p, fleet.free[1], requests),
        lambda: attachments.batch_detach_volumes(ctx, p, fleet.attached[2], fleet.servers),
    ]
    group = db.group_commit
    commits_before = group.commits if group else 0

    results = _concurrently(db, calls)

    refused = results[2]
    assert isinstance(refused, ApiError)
    assert refused.code == "Ecs.0111"
    accepted = [results[i] for i in (0, 1, 3, 4)]
    assert all(isinstance(job_id, str) for job_id in accepted), results
    if group is not None:
        assert group.commits - commits_before == 1  # five admissions, one transaction
    # The answered ones are committed, with their sub-jobs, as ShowJob reads them.
    for job_id in accepted:
        view = show_job(db, p, job_id)
        assert len(view.sub_jobs) == SERVERS
        assert view.job.begin_time == NOW
        assert {sub.entities["server_id"] for sub in view.sub_jobs} == set(fleet.servers)
    assert set(_states(db, fleet.attached[0]).values()) == {volume_rules.ATTACHMENT_DETACHING}
    assert _status(db, fleet.attached[0]) == volume_rules.DETACHING
    assert set(_states(db, fleet.free[0]).values()) == {volume_rules.ATTACHMENT_ATTACHING}
    assert _status(db, fleet.free[0]) == volume_rules.ATTACHING
    # The refused one left its disk as it was.
    assert set(_states(db, fleet.attached[1]).values()) == {volume_rules.ATTACHMENT_ATTACHED}
    assert _status(db, fleet.attached[1]) == volume_rules.IN_USE


def test_work_that_wrote_and_then_failed_is_rolled_back_alone(db: Database) -> None:
    def insert_job(job_id: str, fail: bool) -> Callable[[Repository], str]:
        def work(repo: Repository) -> str:
            repo.insert_jobs([_job_row(job_id)])
            if fail:
                raise ApiError(400, "Ecs.0000", "refused after writing")
            return job_id

        return work

    ids = [secrets.token_hex(16) for _ in range(4)]
    calls: list[Callable[[], Any]] = [
        partial(db.write_grouped, insert_job(ids[i], fail=i == 1)) for i in range(4)
    ]
    group = db.group_commit
    commits_before = group.commits if group else 0

    results = _concurrently(db, calls)

    assert isinstance(results[1], ApiError)
    assert [results[i] for i in (0, 2, 3)] == [ids[0], ids[2], ids[3]]
    if group is not None:
        assert group.commits - commits_before == 1
    with db.engine.connect() as conn:
        written = set(conn.scalars(select(Job.id).where(Job.id.in_(ids))))
    assert written == {ids[0], ids[2], ids[3]}


def test_work_whose_flush_fails_does_not_take_the_others_down(db: Database) -> None:
    """An ORM session rolls back the whole transaction it joined when its flush fails: the
    other work of the group runs again, and commits; the failing one gets its error."""
    taken = secrets.token_hex(8)
    with db.engine.begin() as conn:
        conn.execute(insert(Account), [{"id": taken, "name": taken, "created_at": NOW}])

    def duplicate_account(repo: Repository) -> str:
        repo.add(Account(id=taken, name=secrets.token_hex(8), created_at=NOW))
        return "never"

    def job(job_id: str) -> Callable[[Repository], str]:
        def run(repo: Repository) -> str:
            repo.insert_jobs([_job_row(job_id)])
            return job_id

        return run

    ids = [secrets.token_hex(16) for _ in range(4)]
    works: list[Callable[[Repository], str]] = [job(ids[0]), job(ids[1]), duplicate_account]
    works += [job(ids[2]), job(ids[3])]
    group = db.group_commit
    commits_before = group.commits if group else 0
    results = _concurrently(db, [partial(db.write_grouped, work) for work in works])

    assert isinstance(results[2], IntegrityError)
    assert [results[i] for i in (0, 1, 3, 4)] == ids
    if group is not None:
        assert group.commits - commits_before == 1  # the first try was rolled back, not counted
    with db.engine.connect() as conn:
        assert set(conn.scalars(select(Job.id).where(Job.id.in_(ids)))) == set(ids)


def test_a_failed_commit_answers_every_caller_of_the_group_with_its_error(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = db.group_commit
    if group is None:
        pytest.skip("PostgreSQL: every admission is a transaction of its own")
    ids = [secrets.token_hex(16) for _ in range(3)]

    def work(job_id: str) -> Callable[[Repository], str]:
        def run(repo: Repository) -> str:
            repo.insert_jobs([_job_row(job_id)])
            return job_id

        return run

    def failing_commit(dbapi_connection: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    # The group's COMMIT, as the driver would fail it (the savepoints' RELEASE is a statement).
    monkeypatch.setattr(db.engine.dialect, "do_commit", failing_commit)
    results = _concurrently(db, [partial(db.write_grouped, work(ids[i])) for i in range(3)])
    monkeypatch.undo()

    assert all(isinstance(result, OperationalError) for result in results), results
    with db.engine.connect() as conn:
        assert list(conn.scalars(select(Job.id).where(Job.id.in_(ids)))) == []


def test_group_size_is_bounded(db: Database) -> None:
    group = db.group_commit
    if group is None:
        pytest.skip("PostgreSQL: every admission is a transaction of its own")
    count = 40
    ids = [secrets.token_hex(16) for _ in range(count)]

    def work(job_id: str) -> Callable[[Repository], str]:
        def run(repo: Repository) -> str:
            repo.insert_jobs([_job_row(job_id)])
            return job_id

        return run

    commits_before = group.commits
    results = _concurrently(db, [partial(db.write_grouped, work(job_id)) for job_id in ids])
    assert results == ids
    commits = group.commits - commits_before
    assert -(-count // MAX_GROUP) <= commits < count


def _job_row(job_id: str) -> dict[str, Any]:
    return {
        "id": job_id,
        "project_id": "p",
        "parent_id": None,
        "job_type": "detachVolume",
        "is_task": False,
        "status": "SUCCESS",
        "lock_key": None,
        "server_id": None,
        "volume_id": None,
        "entities": {"k": "v"},
        "payload": {},
        "sub_jobs_total": 0,
        "error_code": None,
        "fail_reason": None,
        "begin_time": NOW,
        "end_time": NOW,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempts": 0,
    }
