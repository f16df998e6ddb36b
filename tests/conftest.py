"""Shared fixtures: a real localecs process on a free port, and SDK clients pointed at it."""

from __future__ import annotations

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


@pytest.fixture(scope="session", params=postgres.STORES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Each store the whole API suite runs on (see postgres.store)."""
    with postgres.store(request.param) as url:
        yield url


@pytest.fixture(scope="session")
def service(
    tmp_path_factory: pytest.TempPathFactory, database_url: str | None
) -> Iterator[RunningService]:
    """One localecs per store for the session, with a fast simulated driver."""
    access_key, secret_key, project_id = new_credentials()
    running = start_service(
        tmp_path_factory.mktemp("localecs"),
        access_key=access_key,
        secret_key=secret_key,
        project_id=project_id,
        database_url=database_url,
    )
    yield running
    stop_service(running)
    assert_no_server_errors(running)


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


@pytest.fixture(scope="session")
def ecs(service: RunningService) -> sdk.EcsClient:
    return sdk.ecs_client(
        service.endpoint, service.access_key, service.secret_key, service.project_id
    )


@pytest.fixture(scope="session")
def evs(service: RunningService) -> sdk.EvsClient:
    return sdk.evs_client(
        service.endpoint, service.access_key, service.secret_key, service.project_id
    )
