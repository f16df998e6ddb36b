"""The driver boundary. A real hypervisor plugs in by implementing `Driver`.

Every operation must be idempotent: the job engine may repeat one after a crash (it cannot know
whether the data plane acted before the process died), and it relies on a repeat being harmless.
"""

from __future__ import annotations

from typing import Protocol


class DriverError(Exception):
    """The data plane refused or failed an operation; the sub-job fails with this code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Driver(Protocol):
    def create_volume(self, volume_id: str, size_gb: int) -> None: ...

    def delete_volume(self, volume_id: str) -> None: ...

    def attach_volume(self, server_id: str, volume_id: str, device: str) -> None: ...

    def detach_volume(self, server_id: str, volume_id: str) -> None: ...

    def power_on(self, server_id: str) -> None: ...

    def power_off(self, server_id: str) -> None: ...

    def attached_volumes(self, server_id: str) -> dict[str, str]:
        """The disks the data plane has on a server: volume id -> device."""
        ...
