"""ECS server states and the rules that depend on them (contract 7.2)."""

from __future__ import annotations

from collections.abc import Collection

from localecs.errors import ApiError

ACTIVE = "ACTIVE"
SHUTOFF = "SHUTOFF"
BUILD = "BUILD"
ERROR = "ERROR"

# OS-EXT-STS:vm_state and OS-EXT-STS:power_state for each status (1 running, 4 shutdown).
_VM_STATE = {ACTIVE: "active", SHUTOFF: "stopped", BUILD: "building", ERROR: "error"}
_POWER_STATE = {ACTIVE: 1, SHUTOFF: 4, BUILD: 0, ERROR: 0}

ATTACHABLE_STATES = frozenset({ACTIVE, SHUTOFF})

# OS-EXT-STS:task_state while an operation is under way.
POWERING_ON = "powering-on"
POWERING_OFF = "powering-off"
DELETING = "deleting"

# Devices a KVM server hands out, in order; vda is the system disk's.
MAX_DEVICES = 24
_DEVICE_LETTERS = "abcdefghijklmnopqrstuvwxyz"[:MAX_DEVICES]
SYSTEM_DEVICE = "/dev/vda"


def vm_state(status: str) -> str:
    return _VM_STATE.get(status, status.lower())


def power_state(status: str) -> int:
    return _POWER_STATE.get(status, 0)


def check_not_locked(server_id: str, locked: bool) -> None:
    if locked:
        raise ApiError(400, "Ecs.0605", f"Instance {server_id} is locked.")


def check_can_attach(server_id: str, status: str, task_state: str | None) -> None:
    if status not in ATTACHABLE_STATES or task_state is not None:
        raise ApiError(
            400,
            "Ecs.0100",
            f"Instance {server_id} is in status {status}"
            f"{f' ({task_state})' if task_state else ''}; attach needs ACTIVE or SHUTOFF.",
        )


def check_can_detach(
    server_id: str, status: str, task_state: str | None, boot_index: int | None
) -> None:
    if status not in ATTACHABLE_STATES or task_state is not None:
        raise ApiError(
            400,
            "Ecs.0100",
            f"Instance {server_id} is in status {status}"
            f"{f' ({task_state})' if task_state else ''}; detach needs ACTIVE or SHUTOFF.",
        )
    if boot_index == 0 and status != SHUTOFF:
        raise ApiError(
            400,
            "Ecs.0100",
            f"The system disk of instance {server_id} can be detached only while it is SHUTOFF.",
        )


def check_can_power(server_id: str, status: str, task_state: str | None) -> None:
    if status not in ATTACHABLE_STATES or task_state is not None:
        raise ApiError(
            400,
            "Ecs.0100",
            f"Instance {server_id} is in status {status}"
            f"{f' ({task_state})' if task_state else ''} and cannot be started or stopped.",
        )


def normalise_device(device: str) -> str:
    """KVM servers name virtio disks /dev/vdX: a requested /dev/sdX is rewritten (contract 2.2)."""
    if device.startswith("/dev/sd"):
        return "/dev/vd" + device.removeprefix("/dev/sd")
    return device


def choose_device(used: Collection[str], requested: str | None, server_id: str) -> str:
    """The device for a new disk: the requested one if free, else the first free data slot."""
    if requested:
        device = normalise_device(requested)
        if not _is_valid_device(device):
            raise ApiError(400, "Ecs.0005", f"Invalid device name {requested}.")
        if device in used:
            raise ApiError(
                400, "Ecs.0005", f"Device {device} is already in use on instance {server_id}."
            )
        return device
    for letter in _DEVICE_LETTERS[1:]:
        device = f"/dev/vd{letter}"
        if device not in used:
            return device
    raise ApiError(400, "Ecs.0104", f"Instance {server_id} has no free slot for another disk.")


def _is_valid_device(device: str) -> bool:
    return (
        device.startswith("/dev/vd")
        and len(device) == len("/dev/vda")
        and device[-1] in _DEVICE_LETTERS
    )
