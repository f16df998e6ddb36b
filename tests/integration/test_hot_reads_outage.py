"""The hot reads (store/reads.py) go around SQLAlchemy's Connection, straight to the pool: a
database that cannot be reached must still surface as SQLAlchemy's DBAPIError, classified as an
outage, so the API answers 503 and workers back off (a raw driver error was a 500)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import DBAPIError

from localecs.store.database import make_engine
from localecs.store.outage import is_unavailable
from localecs.store.reads import Reads


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
