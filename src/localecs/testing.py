"""localecs for your own test suite: an isolated service, SDK clients, and the controls.

    from localecs.testing import LocalEcs

    with LocalEcs() as cloud:
        ecs = cloud.ecs_client()
        cloud.faults.add(action="http", operation="batchDetachVolumes", status=503, times=1)
        ...

`LocalEcs` starts `localecs serve` in a subprocess on a free port with a data directory of its
own (or attaches to a running service with `endpoint=`), and stops it on exit. The pytest plugin
(`localecs.pytest_plugin`) hands one out per session and resets it before each test. The SDK
clients need `pip install 'localecs[testing]'` (the official huaweicloudsdk packages).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from localecs.control.client import ControlClient, ControlError

__all__ = ["ControlError", "Faults", "LocalEcs"]

START_TIMEOUT_SECONDS = 60.0


class Faults:
    """The fault controls: `add`, `list`, `get`, `remove`, `clear` (docs/faults-and-time.md)."""

    def __init__(self, control: ControlClient) -> None:
        self._control = control

    def add(self, **spec: Any) -> dict[str, Any]:
        """Adds a fault, e.g. `add(action="fail", operation="detachVolume", server_id=s,
        error_code="Ecs.0001")`; returns it with its id."""
        fault: dict[str, Any] = self._control.call("POST", "/_localecs/faults", spec)
        return fault

    def list(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._control.call("GET", "/_localecs/faults")["faults"]
        return found

    def get(self, fault_id: str) -> dict[str, Any]:
        fault: dict[str, Any] = self._control.call("GET", f"/_localecs/faults/{fault_id}")
        return fault

    def remove(self, fault_id: str) -> None:
        self._control.call("DELETE", f"/_localecs/faults/{fault_id}")

    def clear(self) -> int:
        deleted: int = self._control.call("DELETE", "/_localecs/faults")["deleted"]
        return deleted


class LocalEcs:
    """An isolated localecs: a context manager usable inside or outside pytest."""

    def __init__(
        self,
        *,
        latency_profile: str = "instant",
        driver_latency: float = 0.05,
        workers: int = 4,
        database_url: str | None = None,
        data_dir: str | Path | None = None,
        extra_args: Sequence[str] = (),
        endpoint: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        project_id: str | None = None,
    ) -> None:
        """Without `endpoint`, starts a service of its own; with it, uses that one, whose
        root `access_key`/`secret_key` (and `project_id`) must then be given."""
        self._attached = endpoint is not None
        if self._attached and not (access_key and secret_key and project_id):
            raise ValueError("endpoint= needs access_key=, secret_key= and project_id=")
        self.access_key = access_key or "AK" + secrets.token_hex(9).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.project_id = project_id or secrets.token_hex(16)
        self.endpoint = endpoint or ""
        self._options = (latency_profile, driver_latency, workers, database_url, tuple(extra_args))
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._own_dir: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._control = ControlClient(self.endpoint, self.access_key, self.secret_key)
        self.faults = Faults(self._control)

    # --- Life cycle -----------------------------------------------------------------------

    def __enter__(self) -> LocalEcs:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._attached or self._process is not None:
            return
        if self._data_dir is None:
            self._own_dir = tempfile.mkdtemp(prefix="localecs-")
            self._data_dir = Path(self._own_dir)
        self._data_dir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):  # a free port can be taken between our probe and the bind
            if self._spawn(_free_port()):
                return
        raise RuntimeError(f"localecs did not start:\n{self.log()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None
            self._data_dir = None

    def log(self) -> str:
        """The service's log so far (its stderr), for a failing test's report."""
        if self._data_dir is None:
            return ""
        path = self._data_dir / "localecs.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _spawn(self, port: int) -> bool:
        assert self._data_dir is not None
        profile, driver_latency, workers, database_url, extra = self._options
        args = [
            sys.executable, "-m", "localecs", "serve",
            "--port", str(port),
            "--data-dir", str(self._data_dir),
            "--latency-profile", profile,
            "--driver-latency", str(driver_latency),
            "--workers", str(workers),
            *extra,
        ]  # fmt: skip
        if database_url:
            args += ["--database-url", database_url]
        env = {
            **os.environ,
            "LOCALECS_ACCESS_KEY": self.access_key,
            "LOCALECS_SECRET_KEY": self.secret_key,
            "LOCALECS_PROJECT_ID": self.project_id,
        }
        with open(self._data_dir / "localecs.log", "ab") as log:
            self._process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=log)
        self.endpoint = f"http://127.0.0.1:{port}"
        self._control = ControlClient(self.endpoint, self.access_key, self.secret_key)
        self.faults = Faults(self._control)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            if _healthy(self.endpoint):
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"localecs did not become healthy:\n{self.log()}")

    # --- SDK clients ----------------------------------------------------------------------

    def credentials(self) -> Any:
        from huaweicloudsdkcore.auth.credentials import BasicCredentials

        return BasicCredentials(self.access_key, self.secret_key, self.project_id)

    def ecs_client(self) -> Any:
        """An `EcsClient` of the official SDK, pointed at this service."""
        from huaweicloudsdkecs.v2 import EcsClient

        builder = EcsClient.new_builder().with_credentials(self.credentials())
        return builder.with_endpoint(self.endpoint).build()

    def evs_client(self) -> Any:
        """An `EvsClient` of the official SDK, pointed at this service."""
        from huaweicloudsdkevs.v2 import EvsClient

        builder = EvsClient.new_builder().with_credentials(self.credentials())
        return builder.with_endpoint(self.endpoint).build()

    # --- Time -----------------------------------------------------------------------------

    def latency(
        self, profile: str | None = None, operations: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The latency setting; with arguments, sets it first (for every process)."""
        if profile is None and operations is None:
            current: dict[str, Any] = self._control.call("GET", "/_localecs/latency")
            return current
        body: dict[str, Any] = {"profile": profile or "default"}
        if operations:
            body["operations"] = operations
        changed: dict[str, Any] = self._control.call("PUT", "/_localecs/latency", body)
        return changed

    def holds(self) -> list[dict[str, Any]]:
        """The tasks waiting for a release, oldest first."""
        held: list[dict[str, Any]] = self._control.call("GET", "/_localecs/holds")["held"]
        return held

    def release(self, limit: int | None = None, **match: str) -> list[dict[str, Any]]:
        """Lets held tasks pass one hold: all that match (job_id, operation, project_id,
        server_id, volume_id), or only the oldest `limit`. Returns the tasks released."""
        body: dict[str, Any] = dict(match)
        if limit is not None:
            body["limit"] = limit
        released: list[dict[str, Any]] = self._control.call("POST", "/_localecs/release", body)[
            "released"
        ]
        return released

    def wait_held(
        self, count: int = 1, timeout: float = 30.0, **match: str
    ) -> list[dict[str, Any]]:
        """Waits until at least `count` tasks matching `match` are held; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            held = [h for h in self.holds() if all(h.get(k) == v for k, v in match.items())]
            if len(held) >= count or time.monotonic() > deadline:
                if len(held) < count:
                    raise TimeoutError(f"{len(held)} of {count} tasks held after {timeout}s")
                return held
            time.sleep(0.02)

    # --- State ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Empties every project (credentials stay); clears faults, holds and the profile."""
        self._control.call("POST", "/_localecs/reset")

    def export(self, project_id: str | None = None) -> dict[str, Any]:
        document: dict[str, Any] = self._control.call(
            "GET", f"/_localecs/projects/{project_id or self.project_id}/state"
        )
        return document

    def import_(self, document: dict[str, Any], project_id: str | None = None) -> dict[str, Any]:
        """Replaces a project's state with `document` (as `export` returned it)."""
        result: dict[str, Any] = self._control.call(
            "PUT", f"/_localecs/projects/{project_id or self.project_id}/state", document
        )
        return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localecs/health", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
