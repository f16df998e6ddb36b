"""Throwaway PostgreSQL databases for tests, on the server named by LOCALECS_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ENV = "LOCALECS_TEST_POSTGRES_URL"


def base_url() -> str | None:
    return os.environ.get(ENV) or None


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """Creates an empty database beside the one in `url`, yields its URL, drops it after."""
    name = f"localecs_test_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


STORES = ["sqlite", "postgresql"]


@contextmanager
def store(kind: str) -> Iterator[str | None]:
    """A fresh store of the given kind: None for SQLite (the caller picks the file), else the URL
    of a new PostgreSQL database. PostgreSQL is skipped unless LOCALECS_TEST_POSTGRES_URL is set
    (CI sets it, so there it always runs)."""
    if kind == "sqlite":
        yield None
        return
    base = base_url()
    if base is None:
        pytest.skip(f"set {ENV} to run on PostgreSQL as well")
    with fresh_database(base) as url:
        yield url
