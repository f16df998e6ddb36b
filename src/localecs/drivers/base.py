"""The driver boundary. A real hypervisor plugs in by implementing `Driver`.

Every operation must be idempotent: the job engine may repeat one after a crash (it cannot know
whether the data plane acted before the process died), and it relies on a repeat being harmless.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, TypeGuard


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


class DriverBatch(Protocol):
    def flush(self) -> None:
        """Makes every operation called in the batch so far take effect. If it raises, the
        worker may call it again (or leave the tasks to be repeated)."""
        ...


class BatchingDriver(Driver, Protocol):
    """A driver that may hold back the effects of its operations until the worker flushes them.

    Optional. A worker runs the tasks it claimed (one, or several one after the other while the
    data plane is fast) inside `with driver.batch() as batch:` and calls `batch.flush()` before
    it records their outcomes; an outcome is recorded only after a flush returned. Operations
    called in the batch still raise DriverError for themselves at once. What was not flushed
    when the block ends must never take effect (the tasks are then repeated, their operations
    being idempotent). The simulated driver writes a batch's steps in one transaction.
    """

    def batch(self) -> AbstractContextManager[DriverBatch]: ...


def batches(driver: Driver) -> TypeGuard[BatchingDriver]:
    """Whether the driver offers batches (see BatchingDriver)."""
    return callable(getattr(driver, "batch", None))
