"""The kept count of a project's disks (project_volume_counts, migration 0004) equals a count of
its disks after every kind of write: ORM and bulk inserts, deletes, a reset, a project import,
concurrent writers, and a store migrated with disks already in it."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, delete, func, insert, select, update

from localecs.drivers import simulated  # noqa: F401  (its tables are part of the schema)
from localecs.store import schema, snapshot
from localecs.store.database import make_engine
from localecs.store.tables import Account, Project, ProjectVolumeCount, Volume
from localecs.store.uow import Database
from tests.support import postgres, rows

NOW = datetime(2026, 11, 29, tzinfo=UTC)
VOLUME_TABLE: Table = Volume.__table__  # type: ignore[assignment]


@pytest.fixture(params=postgres.STORES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with postgres.store(request.param) as url:
        engine = make_engine(url or f"sqlite:///{tmp_path / 'counts.db'}")
        yield engine
        engine.dispose()


def new_project(db: Database) -> str:
    account_id, project_id = secrets.token_hex(8), secrets.token_hex(8)
    with db.write() as repo:
        repo.session.execute(
            insert(Account).values(id=account_id, name=f"a-{account_id}", created_at=NOW)
        )
        repo.session.execute(
            insert(Project).values(
                id=project_id, name=f"p-{project_id}", account_id=account_id, created_at=NOW
            )
        )
    return project_id


def volume_row(project_id: str) -> dict[str, Any]:
    return rows.volume_row(project_id, secrets.token_hex(16), NOW, multiattach=False)


def volume_object(project_id: str) -> Volume:
    row = volume_row(project_id)
    row["metadata_"] = row.pop("metadata")
    return Volume(**row)


def counted(db: Database, project_id: str) -> tuple[int, int]:
    """(the kept count, a count of the disks)."""
    with db.read() as repo:
        actual = repo.session.scalar(
            select(func.count()).select_from(Volume).where(Volume.project_id == project_id)
        )
        return repo.volume_count(project_id), actual or 0


def test_the_count_follows_every_kind_of_write(engine: Engine) -> None:
    schema.upgrade(engine)
    db = Database(engine)
    mine, other = new_project(db), new_project(db)
    assert counted(db, mine) == (0, 0)

    with db.write() as repo:  # bulk: one multi-row INSERT, as bench/seed.py does
        repo.session.execute(insert(VOLUME_TABLE), [volume_row(mine) for _ in range(50)])
        repo.session.execute(insert(VOLUME_TABLE), [volume_row(other) for _ in range(3)])
    assert counted(db, mine) == (50, 50)
    assert counted(db, other) == (3, 3)

    added = volume_object(mine)
    with db.write() as repo:  # through the ORM, as the API creates disks
        repo.add(added)
    assert counted(db, mine) == (51, 51)

    with db.write() as repo:  # one deleted through the ORM, as a worker deletes one
        volume = repo.volume(mine, added.id, lock=True)
        assert volume is not None
        repo.delete(volume)
    assert counted(db, mine) == (50, 50)

    with db.write() as repo:  # several by one statement
        doomed = select(Volume.id).where(Volume.project_id == mine).limit(10)
        ids = list(repo.session.scalars(doomed))
        repo.session.execute(delete(Volume).where(Volume.id.in_(ids)))
    assert counted(db, mine) == (40, 40)

    with db.write() as repo:  # a disk moved to another project
        moved = repo.session.scalars(select(Volume.id).where(Volume.project_id == mine)).first()
        repo.session.execute(update(Volume).where(Volume.id == moved).values(project_id=other))
    assert counted(db, mine) == (39, 39)
    assert counted(db, other) == (4, 4)

    with db.write() as repo:  # a project's import replaces its disks
        rows = [volume_object(mine) for _ in range(7)]
        snapshot.replace_project(repo, mine, {"volumes": rows}, [])
    assert counted(db, mine) == (7, 7)
    assert counted(db, other) == (4, 4)

    with db.write() as repo:  # a reset empties every project
        snapshot.reset(repo)
    assert counted(db, mine) == (0, 0)
    assert counted(db, other) == (0, 0)


def test_concurrent_writers_keep_the_count_exact(engine: Engine) -> None:
    """Many transactions adding and removing disks of one project at once (on PostgreSQL, from
    many connections truly in parallel): each one's change lands exactly once."""
    schema.upgrade(engine)
    db = Database(engine)
    project_id = new_project(db)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(10):
                rows = [volume_row(project_id) for _ in range(3)]
                with db.write() as repo:
                    repo.session.execute(insert(VOLUME_TABLE), rows)
                with db.write() as repo:
                    repo.session.execute(delete(Volume).where(Volume.id == rows[0]["id"]))
        except BaseException as error:  # noqa: BLE001  (reported by the test below)
            errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert counted(db, project_id) == (6 * 10 * 2, 6 * 10 * 2)


def test_the_migration_counts_the_disks_already_there(engine: Engine) -> None:
    schema.upgrade(engine, "0003")
    db = Database(engine)
    first, second, empty = new_project(db), new_project(db), new_project(db)
    with db.write() as repo:
        repo.session.execute(insert(VOLUME_TABLE), [volume_row(first) for _ in range(12)])
        repo.session.execute(insert(VOLUME_TABLE), [volume_row(second) for _ in range(5)])
    schema.upgrade(engine)
    assert counted(db, first) == (12, 12)
    assert counted(db, second) == (5, 5)
    assert counted(db, empty) == (0, 0)
    with db.read() as repo:
        assert repo.session.scalar(select(func.count()).select_from(ProjectVolumeCount)) == 2
