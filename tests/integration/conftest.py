"""A migrated database per module, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from localecs.store.database import make_engine
from localecs.store.schema import upgrade
from localecs.store.tables import Job
from localecs.store.uow import Database
from tests.support import postgres


@pytest.fixture(scope="module", params=postgres.STORES)
def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    with postgres.store(request.param) as url:
        engine = make_engine(url or f"sqlite:///{tmp_path_factory.mktemp('store') / 'localecs.db'}")
        upgrade(engine)
        yield Database(engine)
        engine.dispose()


@pytest.fixture
def db(migrated: Database) -> Database:
    """The module's database with an empty job queue."""
    with migrated.write() as repo:
        repo.session.execute(delete(Job))
    return migrated
