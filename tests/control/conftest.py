"""A localecs of its own for each module of these tests: faults, holds, the latency profile and
resets are global to a store, so these tests never share one with the rest of the suite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from localecs.testing import LocalEcs
from tests.conftest import RunningService, new_credentials, start_service, stop_service
from tests.support import postgres, sdk


@dataclass(frozen=True)
class Controlled:
    """A running service, its SDK clients, and the controls (localecs.testing attached to it)."""

    service: RunningService
    cloud: LocalEcs
    ecs: sdk.EcsClient
    evs: sdk.EvsClient


@pytest.fixture(scope="module", params=postgres.STORES)
def controlled_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Controlled]:
    with postgres.store(request.param) as url:
        access_key, secret_key, project_id = new_credentials()
        running = start_service(
            tmp_path_factory.mktemp("control"),
            access_key=access_key,
            secret_key=secret_key,
            project_id=project_id,
            database_url=url,
        )
        cloud = LocalEcs(
            endpoint=running.endpoint,
            access_key=access_key,
            secret_key=secret_key,
            project_id=project_id,
        )
        args = (running.endpoint, access_key, secret_key, project_id)
        yield Controlled(running, cloud, sdk.ecs_client(*args), sdk.evs_client(*args))
        stop_service(running)
        # Injected 5xx answers are expected here; a crash is not.
        log = running.log_path.read_text(errors="replace")
        assert "unhandled error" not in log and "Traceback" not in log


@pytest.fixture
def controlled(controlled_service: Controlled) -> Controlled:
    """The module's service, reset to empty (faults, holds and profile too) for this test."""
    controlled_service.cloud.reset()
    return controlled_service
