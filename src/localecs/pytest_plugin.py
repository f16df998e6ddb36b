"""The pytest plugin (entry point `pytest11`): a localecs per test session, reset per test.

Fixtures:

- `localecs_session` (session): the running `localecs.testing.LocalEcs`.
- `localecs` (function): the same, reset to empty before the test (faults, holds and the
  latency profile too). Use it, or one of the two below, in every test that touches localecs.
- `localecs_ecs`, `localecs_evs` (function): official SDK clients on the reset service.

Options: `--localecs-latency-profile` (default `instant`), `--localecs-database-url` (default:
SQLite in a temporary directory), `--localecs-endpoint` with `LOCALECS_ACCESS_KEY`,
`LOCALECS_SECRET_KEY` and `LOCALECS_PROJECT_ID` to use a service you run yourself.

Importing this module only defines fixtures: nothing starts until a test asks for one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from localecs.testing import LocalEcs


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("localecs", "localecs (Huawei Cloud ECS/EVS emulator)")
    group.addoption(
        "--localecs-latency-profile",
        default="instant",
        choices=("instant", "default", "realistic", "manual"),
        help="Latency profile of the session's localecs (default: instant).",
    )
    group.addoption(
        "--localecs-database-url",
        default=None,
        help="Database of the session's localecs (default: SQLite in a temporary directory).",
    )
    group.addoption(
        "--localecs-endpoint",
        default=None,
        help="Use this running localecs instead of starting one (root credentials from "
        "LOCALECS_ACCESS_KEY, LOCALECS_SECRET_KEY, LOCALECS_PROJECT_ID).",
    )


@pytest.fixture(scope="session")
def localecs_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalEcs]:
    from localecs.testing import LocalEcs

    config = request.config
    endpoint = config.getoption("--localecs-endpoint")
    if endpoint:
        service = LocalEcs(
            endpoint=endpoint,
            access_key=os.environ.get("LOCALECS_ACCESS_KEY"),
            secret_key=os.environ.get("LOCALECS_SECRET_KEY"),
            project_id=os.environ.get("LOCALECS_PROJECT_ID"),
        )
    else:
        service = LocalEcs(
            latency_profile=config.getoption("--localecs-latency-profile"),
            database_url=config.getoption("--localecs-database-url"),
            data_dir=tmp_path_factory.mktemp("localecs"),
        )
    with service:
        yield service


@pytest.fixture
def localecs(localecs_session: LocalEcs) -> LocalEcs:
    localecs_session.reset()
    return localecs_session


@pytest.fixture
def localecs_ecs(localecs: LocalEcs) -> Any:
    return localecs.ecs_client()


@pytest.fixture
def localecs_evs(localecs: LocalEcs) -> Any:
    return localecs.evs_client()
