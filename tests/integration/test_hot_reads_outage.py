"""The hot reads (store/reads.py) go around SQLAlchemy's Connection, straight to the pool: a
database that cannot be reached must still surface as SQLAlchemy's DBAPIError, classified as an
outage, so the API answers 503 and workers back off (a raw driver error was a 500)."""

from __future__ import annotations

import gc
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from localecs.store import reads as reads_module
from localecs.store.database import make_engine
from localecs.store.outage import is_unavailable
from localecs.store.reads import Reads
from localecs.store.schema import upgrade
from tests.support import postgres


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening for the whole test: connecting to it is refused, and no
    process started meanwhile (by this test run or another) can take it and answer."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("read", ["any_fault", "job_tree"])
def test_an_unreachable_postgresql_is_an_outage_not_a_driver_error(
    read: str, closed_port: int
) -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/test")
    try:
        reads = Reads(engine)
        with pytest.raises(DBAPIError) as raised:
            reads.any_fault() if read == "any_fault" else reads.job_tree("j")
        assert is_unavailable(raised.value)
    finally:
        engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres.store("postgresql") as url:
        assert url is not None
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def test_a_kept_postgresql_connection_that_died_is_replaced_and_the_read_answers(
    postgres_url: str,
) -> None:
    """PostgreSQL's hot reads keep a few connections and do not ping them first: when the
    server has ended them (a restart, a terminated backend), the read is made again on a
    fresh connection instead of failing."""
    engine = make_engine(postgres_url)
    reads = Reads(engine)
    try:
        assert reads.any_fault() is False
        assert reads.job_tree("none") == []
        kept = _backends(postgres_url)
        assert kept, "the hot reads keep a connection"
        _terminate(postgres_url)
        assert reads.any_fault() is False  # no error: answered on a fresh connection
        assert reads.job_tree("none") == []
    finally:
        reads.close()
        engine.dispose()


def test_postgresql_hot_reads_keep_a_bounded_number_of_connections(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads beyond the kept connections read on the pool's: many API threads never hold
    more of the server's connections than the pool and a few more."""
    monkeypatch.setattr(reads_module, "SERVER_KEPT_CONNECTIONS", 2)
    engine = make_engine(postgres_url, pool_size=2)
    reads = Reads(engine)
    together = threading.Barrier(16)

    def read(_: int) -> bool:
        together.wait()
        return reads.any_fault()

    try:
        with ThreadPoolExecutor(16) as pool:
            for _ in range(5):
                assert not any(pool.map(read, range(16)))
        assert 1 <= len(_backends(postgres_url, application="localecs-reads")) <= 2
    finally:
        reads.close()
        engine.dispose()
    assert _backends(postgres_url) == []


def _backends(url: str, *, terminate: bool = False, application: str = "%") -> list[int]:
    """The other sessions on the database (ended first, with `terminate`)."""
    query = (
        "SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
        " AND application_name LIKE :application"
    )
    if terminate:
        query = query.replace("SELECT pid", "SELECT pg_terminate_backend(pid)")
    with create_engine(url, poolclass=NullPool).connect() as connection:
        values = {"name": make_url(url).database, "application": application}
        return list(connection.scalars(text(query), values))


def _terminate(url: str) -> None:
    _backends(url, terminate=True)


def test_kept_postgresql_connections_close_with_the_engine_or_their_reads(
    postgres_url: str,
) -> None:
    """Kept connections are detached from the pool: they must still close when the engine is
    disposed, or when the reads are dropped, never be left for the collector to find open."""
    engine = make_engine(postgres_url)
    reads = Reads(engine)
    assert reads.any_fault() is False
    engine.dispose()
    assert _backends(postgres_url) == []
    assert reads.any_fault() is False  # and the reads go on, on new connections
    del reads
    gc.collect()
    assert _backends(postgres_url) == []
    engine.dispose()


def test_sqlite_hot_reads_go_on_after_the_engine_is_disposed(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'reads.db'}")
    upgrade(engine)
    reads = Reads(engine)
    try:
        assert reads.any_fault() is False
        engine.dispose()  # closes this thread's kept connection
        assert reads.any_fault() is False
    finally:
        reads.close()
        engine.dispose()


def test_a_kept_connection_that_cannot_be_set_up_leaves_the_read_to_the_pool(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting a new kept connection up is a statement of its own; when it fails (the server
    ends connections as they open, say), the read is made on a pooled connection, whose errors
    are SQLAlchemy's and classified (503), never a raw driver error (500)."""
    monkeypatch.setattr(reads_module, "APPLICATION_NAME", "SET no_such_setting = 1")
    engine = make_engine(postgres_url)
    reads = Reads(engine)
    try:
        assert reads.any_fault() is False
        assert _backends(postgres_url, application="localecs-reads") == []
    finally:
        reads.close()
        engine.dispose()
