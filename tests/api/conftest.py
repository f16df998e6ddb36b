"""Fixtures for tests that need a store of their own (several processes, kills, restarts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.processes import SharedStore


@pytest.fixture(params=postgres.STORES)
def own_store(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """A store no other test uses (SQLite in the test's own data dir, or fresh PostgreSQL)."""
    with postgres.store(request.param) as url:
        yield url


@pytest.fixture
def shared_store(tmp_path: Path, own_store: str | None) -> Iterator[SharedStore]:
    store = SharedStore(tmp_path / "data", own_store)
    yield store
    store.close()
