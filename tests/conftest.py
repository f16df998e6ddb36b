"""Shared fixtures: a real localecs process on a free port, and SDK clients pointed at it."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import iam, postgres, sdk
from tests.support.ports import free_port


@dataclass(frozen=True)
class RunningService:
    endpoint: str
    access_key: str
    secret_key: str
    project_id: str
    data_dir: Path
    database_url: str
    process: subprocess.Popen[bytes]
    log_path: Path  # the service's log (stderr)
    stdout_path: Path  # what it prints for its user (the start banner)


def start_service(
    data_dir: Path,
    *,
    access_key: str,
    secret_key: str,
    project_id: str,
    database_url: str | None = None,
    driver_latency: float = 0.05,
    lease_seconds: float = 3.0,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> RunningService:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "LOCALECS_ACCESS_KEY": access_key,
        "LOCALECS_SECRET_KEY": secret_key,
        "LOCALECS_PROJECT_ID": project_id,
        **(extra_env or {}),
    }
    for _attempt in range(3):  # something outside the suite can take the port before the bind
        port = free_port()
        log_path = data_dir / f"serve-{port}.log"
        stdout_path = data_dir / f"serve-{port}.out"
        args = [
            sys.executable,
            "-m",
            "localecs",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--driver-latency",
            str(driver_latency),
            "--lease-seconds",
            str(lease_seconds),
            *extra_args,
        ]
        if database_url:
            args += ["--database-url", database_url]
        with open(log_path, "ab") as log, open(stdout_path, "ab") as out:
            process = subprocess.Popen(args, env=env, stdout=out, stderr=log)
        endpoint = f"http://127.0.0.1:{port}"
        if _wait_healthy(endpoint, process, log_path):
            break
    else:
        raise RuntimeError(f"localecs could not bind a port:\n{log_path.read_text()}")
    return RunningService(
        endpoint,
        access_key,
        secret_key,
        project_id,
        data_dir,
        database_url or f"sqlite:///{data_dir / 'localecs.db'}",
        process,
        log_path,
        stdout_path,
    )


# A generous deadline costs nothing (the wait ends at the first answer) and a loaded machine
# (a parallel suite beside benchmarks) can take many seconds to start Python and answer once.
START_DEADLINE_SECONDS = 90
HEALTH_TIMEOUT_SECONDS = 5


def _wait_healthy(endpoint: str, process: subprocess.Popen[bytes], log_path: Path) -> bool:
    """True once the service answers; False if it exited because its port was taken."""
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")
            if "address already in use" in log.lower():
                return False
            raise RuntimeError(f"localecs exited early:\n{log}")
        try:
            answer = httpx.get(f"{endpoint}/_localecs/health", timeout=HEALTH_TIMEOUT_SECONDS)
            healthy = answer.status_code == 200
            if healthy and process.poll() is None:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"localecs did not become healthy:\n{log_path.read_text()}")


def stop_service(service: RunningService, *, kill: bool = False) -> None:
    if kill:
        service.process.kill()
    else:
        service.process.terminate()
    service.process.wait(timeout=30)
    assert_no_secrets_logged(service)


def new_credentials() -> tuple[str, str, str]:
    return (
        "AK" + secrets.token_hex(9).upper(),
        secrets.token_urlsafe(30),
        secrets.token_hex(16),
    )


# The files that take longest (measured with --durations), in that order, go first: pytest-xdist
# hands whole files to its workers in collection order (--dist loadfile, --no-loadscope-reorder),
# so none of them starts near the end and holds the whole run up alone.
SLOWEST_FILES = (
    "tests/api/test_worker_process.py",
    "tests/api/test_model_based.py",
    "tests/api/test_scale_out.py",
    "tests/api/test_durability.py",
    "tests/control/test_state.py",
    "tests/bench/test_bench_smoke.py",
    "tests/api/test_identity.py",
    "tests/api/test_servers.py",
    "tests/control/test_pytest_plugin.py",
    "tests/control/test_faults.py",
    "tests/control/test_across_processes.py",
    "tests/test_code_quality.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: n for n, path in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


class SessionServices:
    """This session's localecs on each store, started when a test first asks for it and kept
    until the session ends. (A session fixture parametrized by store keeps one store's service
    at a time: under pytest-xdist, where a worker runs whole files one after the other, each
    with tests on both stores, it would stop and start both services and their databases at
    every file.)"""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._stores = contextlib.ExitStack()
        self._running: dict[str, RunningService] = {}

    def get(self, store: str) -> RunningService:
        if store not in self._running:
            database_url = self._stores.enter_context(postgres.store(store))
            access_key, secret_key, project_id = new_credentials()
            self._running[store] = start_service(
                self._tmp_path_factory.mktemp("localecs"),
                access_key=access_key,
                secret_key=secret_key,
                project_id=project_id,
                database_url=database_url,
            )
        return self._running[store]

    def close(self) -> None:
        # Each service is stopped and checked even if another's check fails; the PostgreSQL
        # databases are dropped last.
        with self._stores, contextlib.ExitStack() as checks:
            for running in self._running.values():
                checks.callback(assert_no_server_errors, running)
                checks.callback(stop_service, running)


@pytest.fixture(scope="session")
def session_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionServices]:
    services = SessionServices(tmp_path_factory)
    yield services
    services.close()


@pytest.fixture(scope="module", params=postgres.STORES)
def service(request: pytest.FixtureRequest, session_services: SessionServices) -> RunningService:
    """One localecs per store for the session, with a fast simulated driver."""
    return session_services.get(request.param)


def assert_no_server_errors(service: RunningService) -> None:
    """Nothing the suite sent, valid or not, may have been answered with a 5xx."""
    log = service.log_path.read_text(errors="replace")
    five_hundreds = re.findall(r"^.* 5\d\d [\d.]+ms \[[0-9a-f]{32}\]$", log, re.MULTILINE)
    assert five_hundreds == [], five_hundreds
    assert "unhandled error" not in log


def assert_no_secrets_logged(service: RunningService) -> None:
    """No secret key, password or token a test created or used may be in the service's log."""
    log = service.log_path.read_text(errors="replace")
    leaked = [secret for secret in {service.secret_key, *iam.SECRETS} if secret in log]
    assert leaked == [], f"{len(leaked)} secret(s) found in {service.log_path}"


@pytest.fixture(scope="module")
def ecs(service: RunningService) -> sdk.EcsClient:
    return sdk.ecs_client(
        service.endpoint, service.access_key, service.secret_key, service.project_id
    )


@pytest.fixture(scope="module")
def evs(service: RunningService) -> sdk.EvsClient:
    return sdk.evs_client(
        service.endpoint, service.access_key, service.secret_key, service.project_id
    )
