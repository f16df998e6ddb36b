"""A worker with a fast data plane claims a batch job's sub-jobs together, runs them through one
driver batch and records them in one transaction; what the data plane did not do is never
recorded, and a task whose records refuse its change fails alone. On SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, Table, delete, insert, select
from sqlalchemy.exc import DBAPIError

from localecs.clock import SystemClock
from localecs.drivers.base import DriverError
from localecs.drivers.simulated import SimAttachment, SimulatedDriver
from localecs.engine.handlers import TaskContext
from localecs.engine.worker import (
    FAST_CLAIM_TASKS,
    FAST_EXECUTE_SECONDS,
    WorkerPool,
    WorkerSettings,
)
from localecs.services.attachments import (
    AttachRequest,
    batch_attach_sharable_volumes,
    batch_detach_volumes,
)
from localecs.services.context import Context
from localecs.store import schema
from localecs.store.database import make_engine
from localecs.store.tables import Account, Attachment, Job, Project, Server, Volume
from localecs.store.uow import Database
from tests.support import postgres
from tests.support.rows import server_row, volume_row

NOW = datetime(2026, 11, 29, tzinfo=UTC)
SERVER_TABLE: Table = Server.__table__  # type: ignore[assignment]
VOLUME_TABLE: Table = Volume.__table__  # type: ignore[assignment]
ATTACHMENT_TABLE: Table = Attachment.__table__  # type: ignore[assignment]
SERVERS = 4


@pytest.fixture(scope="module", params=postgres.STORES)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with postgres.store(request.param) as url:
        engine = make_engine(url or f"sqlite:///{tmp_path_factory.mktemp('w') / 'w.db'}")
        schema.upgrade(engine)
        yield engine
        engine.dispose()


class Fleet:
    """A project with servers and one shared disk, the disk attached to all or none of them."""

    def __init__(self, engine: Engine, *, attached: bool) -> None:
        self.db = Database(engine)
        self.project_id = secrets.token_hex(16)
        account_id = secrets.token_hex(8)
        self.server_ids = [str(uuid.uuid4()) for _ in range(SERVERS)]
        self.volume_id = str(uuid.uuid4())
        with engine.begin() as conn:
            conn.execute(insert(Account).values(id=account_id, name=account_id, created_at=NOW))
            conn.execute(
                insert(Project).values(
                    id=self.project_id, name=self.project_id, account_id=account_id, created_at=NOW
                )
            )
            conn.execute(
                insert(SERVER_TABLE), [server_row(self.project_id, s, NOW) for s in self.server_ids]
            )
            conn.execute(
                insert(VOLUME_TABLE),
                [
                    volume_row(
                        self.project_id,
                        self.volume_id,
                        NOW,
                        status="in-use" if attached else "available",
                    )
                ],
            )
            if attached:
                conn.execute(
                    insert(ATTACHMENT_TABLE),
                    [self._attachment(s) for s in self.server_ids],
                )
        self.driver = SimulatedDriver(engine, latency=0)
        if attached:
            for server_id in self.server_ids:
                self.driver.attach_volume(server_id, self.volume_id, "/dev/vdb")
        self.context = Context(self.db, SystemClock(), lambda: None)

    def _attachment(self, server_id: str) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "volume_id": self.volume_id,
            "server_id": server_id,
            "device": "/dev/vdb",
            "boot_index": None,
            "state": "attached",
            "delete_on_termination": False,
            "attached_at": NOW,
        }

    def pool(self, driver: Any = None) -> WorkerPool:
        context = TaskContext(self.db, driver or self.driver)
        pool = WorkerPool(self.db, context, SystemClock(), WorkerSettings(concurrency=4))
        pool._execute_seconds = 0.0  # as after fast tasks: the data plane is known to be fast
        return pool

    def detach_all(self) -> str:
        return batch_detach_volumes(self.context, self.project_id, self.volume_id, self.server_ids)

    def attach_all(self) -> str:
        requests = [AttachRequest(s) for s in self.server_ids]
        return batch_attach_sharable_volumes(
            self.context, self.project_id, self.volume_id, requests
        )

    def jobs(self, parent_id: str) -> tuple[Job, dict[str, Job]]:
        with self.db.read() as repo:
            parent = repo.job(parent_id)
            assert parent is not None
            subs = repo.sub_jobs([parent_id])[parent_id]
            return parent, {sub.server_id or "": sub for sub in subs}

    def attachments(self) -> dict[str, str]:
        with self.db.read() as repo:
            return {a.server_id: a.state for a in repo.attachments_of_volume(self.volume_id)}

    def volume_status(self) -> str:
        with self.db.read() as repo:
            volume = repo.volume(self.project_id, self.volume_id)
            assert volume is not None
            return volume.status

    def data_plane(self) -> set[str]:
        with self.db.read() as repo:
            query = select(SimAttachment.server_id).filter_by(volume_id=self.volume_id)
            return set(repo.session.scalars(query))


def test_a_batch_is_claimed_run_and_recorded_whole(engine: Engine) -> None:
    fleet = Fleet(engine, attached=True)
    job_id = fleet.detach_all()
    pool = fleet.pool()
    claimed = pool._claim("worker-1")
    assert len(claimed.tasks) == SERVERS <= FAST_CLAIM_TASKS
    pool._process("worker-1", claimed)
    parent, subs = fleet.jobs(job_id)
    assert parent.status == "SUCCESS"
    assert {sub.status for sub in subs.values()} == {"SUCCESS"}
    assert fleet.attachments() == {}
    assert fleet.volume_status() == "available"
    assert fleet.data_plane() == set()


class RefusingDriver(SimulatedDriver):
    """Withdraws one server's attach from the records right after the data plane did it, so
    that recording its outcome finds the attachment gone (TaskFailed in apply)."""

    def __init__(self, engine: Engine, db: Database, victim: str) -> None:
        super().__init__(engine, latency=0)
        self._db = db
        self._victim = victim

    def attach_volume(self, server_id: str, volume_id: str, device: str) -> None:
        super().attach_volume(server_id, volume_id, device)
        if server_id == self._victim:
            with self._db.write() as repo:
                repo.session.execute(delete(Attachment).filter_by(server_id=server_id))


def test_a_task_whose_records_refuse_fails_alone(engine: Engine) -> None:
    fleet = Fleet(engine, attached=False)
    job_id = fleet.attach_all()
    victim = fleet.server_ids[1]
    pool = fleet.pool(RefusingDriver(engine, fleet.db, victim))
    claimed = pool._claim("worker-1")
    assert len(claimed.tasks) == SERVERS
    pool._process("worker-1", claimed)
    parent, subs = fleet.jobs(job_id)
    assert parent.status == "FAIL"
    assert (subs[victim].status, subs[victim].error_code) == ("FAIL", "Ecs.0205")
    others = [s for s in fleet.server_ids if s != victim]
    assert {subs[s].status for s in others} == {"SUCCESS"}
    assert fleet.attachments() == dict.fromkeys(others, "attached")
    assert fleet.volume_status() == "in-use"


class UnflushableDriver(SimulatedDriver):
    """A data plane whose batch cannot be made to take effect."""

    def _commit(self, writes: Any) -> None:
        if len(writes) > 1:
            raise DBAPIError("flush", {}, Exception("refused"))
        super()._commit(writes)


def test_what_the_data_plane_did_not_do_is_never_recorded(engine: Engine) -> None:
    fleet = Fleet(engine, attached=True)
    job_id = fleet.detach_all()
    pool = fleet.pool(UnflushableDriver(engine, latency=0))
    claimed = pool._claim("worker-1")
    pool._process("worker-1", claimed)  # logs that it gave the tasks up
    parent, subs = fleet.jobs(job_id)
    assert parent.status == "RUNNING"
    assert {sub.status for sub in subs.values()} == {"RUNNING"}  # left to their leases
    assert fleet.attachments() == dict.fromkeys(fleet.server_ids, "detaching")
    assert fleet.data_plane() == set(fleet.server_ids)


def test_a_driver_batch_takes_effect_only_when_flushed(engine: Engine) -> None:
    fleet = Fleet(engine, attached=True)
    first, second = fleet.server_ids[:2]
    with fleet.driver.batch() as batch:
        fleet.driver.detach_volume(first, fleet.volume_id)
        fleet.driver.detach_volume(second, fleet.volume_id)
        assert fleet.data_plane() == set(fleet.server_ids)  # held back
        batch.flush()
        assert fleet.data_plane() == set(fleet.server_ids) - {first, second}
        fleet.driver.detach_volume(fleet.server_ids[2], fleet.volume_id)
    # Not flushed when the block ended: never happened.
    assert fleet.data_plane() == set(fleet.server_ids) - {first, second}


def test_a_delete_in_a_batch_sees_the_steps_before_it(engine: Engine) -> None:
    fleet = Fleet(engine, attached=True)
    with fleet.driver.batch():
        for server_id in fleet.server_ids[:-1]:
            fleet.driver.detach_volume(server_id, fleet.volume_id)
        with pytest.raises(DriverError) as refused:
            fleet.driver.delete_volume(fleet.volume_id)
        assert fleet.server_ids[-1] in refused.value.reason
        fleet.driver.detach_volume(fleet.server_ids[-1], fleet.volume_id)
        fleet.driver.delete_volume(fleet.volume_id)
    assert fleet.data_plane() == set()


COMMIT_SECONDS = 0.05


class CostlyCommits(SimulatedDriver):
    """The simulated data plane, instant, but each of its commits takes 50 ms (as on a busy
    PostgreSQL, only more): a lone operation pays one, a batch one at its flush."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, latency=0)

    def _commit(self, writes: Any) -> None:
        time.sleep(COMMIT_SECONDS)
        super()._commit(writes)


def test_a_lone_tasks_commit_is_not_counted_as_data_plane_time(engine: Engine) -> None:
    """A lone task's writes are flushed after it, as a batch's are, so its execution time means
    the same as a batched task's. When a lone task's commit counted and a batch's flush did not,
    a worker that started slow (one task a claim) measured its commits and stayed slow."""
    fleet = Fleet(engine, attached=True)
    pool = fleet.pool(CostlyCommits(engine))
    pool._execute_seconds = FAST_EXECUTE_SECONDS  # a slow start: one task a claim
    assert not pool._fast_data_plane
    for submit in (fleet.detach_all, fleet.attach_all, fleet.detach_all):
        job_id = submit()
        while (claimed := pool._claim("worker-1")).tasks:
            pool._process("worker-1", claimed)
        parent, _ = fleet.jobs(job_id)
        assert parent.status == "SUCCESS"
    # Counted, each commit would have kept the average above 40 ms after these 12 tasks; what
    # is left is the executions themselves, however slow a loaded machine makes them.
    assert pool._execute_seconds < COMMIT_SECONDS / 2
