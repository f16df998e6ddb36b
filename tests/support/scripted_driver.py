"""A driver of a test's own, loaded with `--driver tests.support.scripted_driver:make`.

It stands for a real data plane plugged in through the driver boundary: it keeps its own view in
memory and fails the operations a test scripts in the JSON file named by
LOCALECS_SCRIPTED_DRIVER_FILE: `{"fail": {"detach_volume": ["<server id>", ...]}}`.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from localecs.drivers.base import DriverError

FILE_ENV = "LOCALECS_SCRIPTED_DRIVER_FILE"
FAILURE_CODE = "Ecs.0205"


class ScriptedDriver:
    def __init__(self, script: Path) -> None:
        self._script = script
        self._lock = threading.Lock()
        self._disks: dict[str, dict[str, str]] = {}

    def _check(self, operation: str, subject: str) -> None:
        script = json.loads(self._script.read_text()) if self._script.exists() else {}
        if subject in script.get("fail", {}).get(operation, []):
            raise DriverError(FAILURE_CODE, f"scripted failure of {operation} on {subject}")

    def create_volume(self, volume_id: str, size_gb: int) -> None:
        self._check("create_volume", volume_id)

    def delete_volume(self, volume_id: str) -> None:
        self._check("delete_volume", volume_id)

    def attach_volume(self, server_id: str, volume_id: str, device: str) -> None:
        self._check("attach_volume", server_id)
        with self._lock:
            self._disks.setdefault(server_id, {})[volume_id] = device

    def detach_volume(self, server_id: str, volume_id: str) -> None:
        self._check("detach_volume", server_id)
        with self._lock:
            self._disks.get(server_id, {}).pop(volume_id, None)

    def power_on(self, server_id: str) -> None:
        self._check("power_on", server_id)

    def power_off(self, server_id: str) -> None:
        self._check("power_off", server_id)

    def attached_volumes(self, server_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self._disks.get(server_id, {}))


def make() -> ScriptedDriver:
    return ScriptedDriver(Path(os.environ[FILE_ENV]))
