"""The Alembic migrations build exactly the schema the tables declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from localecs.drivers import simulated  # noqa: F401  (its tables are part of the schema)
from localecs.store import schema
from localecs.store.database import make_engine
from localecs.store.tables import Base
from tests.support import postgres


@pytest.fixture(params=postgres.STORES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with postgres.store(request.param) as url:
        engine = make_engine(url or f"sqlite:///{tmp_path / 'migrated.db'}")
        yield engine
        engine.dispose()


def test_migrations_match_the_tables(engine: Engine) -> None:
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent(engine: Engine) -> None:
    schema.upgrade(engine)
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision(engine)
