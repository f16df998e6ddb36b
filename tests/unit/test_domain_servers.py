"""ECS server states and the rules that depend on them (contract 7.2, 2.2, 2.5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localecs.domain.servers import (
    ACTIVE,
    BUILD,
    ERROR,
    SHUTOFF,
    SYSTEM_DEVICE,
    check_can_attach,
    check_can_detach,
    check_can_power,
    check_not_locked,
    choose_device,
    normalise_device,
    power_state,
    vm_state,
)
from localecs.errors import ApiError

SERVER = "srv-1"
# vdb .. vdx: the 23 data-disk slots of a KVM server (contract 2.2: at most 23 disks).
DATA_DEVICES = [f"/dev/vd{letter}" for letter in "bcdefghijklmnopqrstuvwx"]
NOT_ATTACHABLE_STATES = [BUILD, ERROR, "SUSPENDED", "PAUSED", "DELETED", "REBOOT", "HARD_REBOOT"]


def error_of(excinfo: pytest.ExceptionInfo[ApiError]) -> tuple[int, str]:
    return excinfo.value.status, excinfo.value.code


# vm_state / power_state


@pytest.mark.parametrize(
    ("status", "expected_vm_state", "expected_power_state"),
    [
        (ACTIVE, "active", 1),
        (SHUTOFF, "stopped", 4),
        (BUILD, "building", 0),
        (ERROR, "error", 0),
        ("DELETED", "deleted", 0),
    ],
)
def test_vm_and_power_state_follow_status(
    status: str, expected_vm_state: str, expected_power_state: int
) -> None:
    assert vm_state(status) == expected_vm_state
    assert power_state(status) == expected_power_state


# check_can_attach


@pytest.mark.parametrize("status", [ACTIVE, SHUTOFF])
def test_attach_allowed_on_running_or_stopped_server(status: str) -> None:
    check_can_attach(SERVER, status, None)


@pytest.mark.parametrize("status", NOT_ATTACHABLE_STATES)
def test_attach_refused_in_other_states(status: str) -> None:
    with pytest.raises(ApiError) as excinfo:
        check_can_attach(SERVER, status, None)

    assert error_of(excinfo) == (400, "Ecs.0100")
    assert SERVER in excinfo.value.message
    assert status in excinfo.value.message


@pytest.mark.parametrize("status", [ACTIVE, SHUTOFF])
def test_attach_refused_while_a_task_runs_on_the_server(status: str) -> None:
    with pytest.raises(ApiError) as excinfo:
        check_can_attach(SERVER, status, "powering-off")

    assert error_of(excinfo) == (400, "Ecs.0100")
    assert "powering-off" in excinfo.value.message


# check_can_detach


@pytest.mark.parametrize("status", [ACTIVE, SHUTOFF])
@pytest.mark.parametrize("boot_index", [None, 1, 2, -1])
def test_data_disk_detaches_online_or_offline(status: str, boot_index: int | None) -> None:
    check_can_detach(SERVER, status, None, boot_index)


def test_system_disk_detaches_only_when_shutoff() -> None:
    check_can_detach(SERVER, SHUTOFF, None, 0)

    with pytest.raises(ApiError) as excinfo:
        check_can_detach(SERVER, ACTIVE, None, 0)

    assert error_of(excinfo) == (400, "Ecs.0100")
    assert "SHUTOFF" in excinfo.value.message


@pytest.mark.parametrize("status", NOT_ATTACHABLE_STATES)
@pytest.mark.parametrize("boot_index", [None, 0, 1])
def test_detach_refused_in_other_states(status: str, boot_index: int | None) -> None:
    with pytest.raises(ApiError) as excinfo:
        check_can_detach(SERVER, status, None, boot_index)

    assert error_of(excinfo) == (400, "Ecs.0100")


@pytest.mark.parametrize("boot_index", [None, 0])
def test_detach_refused_while_a_task_runs_on_the_server(boot_index: int | None) -> None:
    with pytest.raises(ApiError) as excinfo:
        check_can_detach(SERVER, SHUTOFF, "rebooting", boot_index)

    assert error_of(excinfo) == (400, "Ecs.0100")


# locks and power


def test_locked_server_is_refused_with_ecs_0605() -> None:
    check_not_locked(SERVER, False)
    with pytest.raises(ApiError) as excinfo:
        check_not_locked(SERVER, True)

    assert error_of(excinfo) == (400, "Ecs.0605")


@pytest.mark.parametrize(
    ("status", "task_state", "allowed"),
    [(ACTIVE, None, True), (SHUTOFF, None, True), (BUILD, None, False), (ACTIVE, "x", False)],
)
def test_power_needs_active_or_shutoff_and_no_task(
    status: str, task_state: str | None, allowed: bool
) -> None:
    if allowed:
        check_can_power(SERVER, status, task_state)
        return
    with pytest.raises(ApiError) as excinfo:
        check_can_power(SERVER, status, task_state)
    assert error_of(excinfo) == (400, "Ecs.0100")


# choose_device


def test_first_free_data_slot_is_vdb() -> None:
    assert choose_device({SYSTEM_DEVICE}, None, SERVER) == "/dev/vdb"


def test_first_gap_is_reused() -> None:
    used = {SYSTEM_DEVICE, "/dev/vdb", "/dev/vdd"}

    assert choose_device(used, None, SERVER) == "/dev/vdc"


def test_never_hands_out_the_system_slot() -> None:
    assert choose_device(set(), None, SERVER) == "/dev/vdb"


@pytest.mark.parametrize("requested", [None, ""])
def test_no_requested_device_means_first_free(requested: str | None) -> None:
    assert choose_device({SYSTEM_DEVICE, "/dev/vdb"}, requested, SERVER) == "/dev/vdc"


def test_requested_free_device_is_used() -> None:
    assert choose_device({SYSTEM_DEVICE}, "/dev/vdf", SERVER) == "/dev/vdf"


@pytest.mark.parametrize(
    ("requested", "expected"), [("/dev/sdb", "/dev/vdb"), ("/dev/sdx", "/dev/vdx")]
)
def test_requested_scsi_name_is_rewritten_to_virtio(requested: str, expected: str) -> None:
    assert normalise_device(requested) == expected
    assert choose_device({SYSTEM_DEVICE}, requested, SERVER) == expected


@pytest.mark.parametrize("requested", ["/dev/vdb", "/dev/sdb", "/dev/vda", "/dev/sda"])
def test_requested_device_in_use_is_ecs_0005(requested: str) -> None:
    with pytest.raises(ApiError) as excinfo:
        choose_device({SYSTEM_DEVICE, "/dev/vdb"}, requested, SERVER)

    assert error_of(excinfo) == (400, "Ecs.0005")
    assert SERVER in excinfo.value.message


@pytest.mark.parametrize(
    "requested", ["vdb", "/dev/xvdb", "/dev/vdbb", "/dev/vdB", "/dev/vd", "/dev/vdz", "/dev/hdb"]
)
def test_malformed_requested_device_is_ecs_0005(requested: str) -> None:
    with pytest.raises(ApiError) as excinfo:
        choose_device({SYSTEM_DEVICE}, requested, SERVER)

    assert error_of(excinfo) == (400, "Ecs.0005")
    assert requested in excinfo.value.message


def test_the_twenty_third_data_disk_gets_the_last_slot() -> None:
    used = {SYSTEM_DEVICE, *DATA_DEVICES[:-1]}

    assert choose_device(used, None, SERVER) == "/dev/vdx"


def test_no_slot_after_twenty_three_data_disks_is_ecs_0104() -> None:
    used = {SYSTEM_DEVICE, *DATA_DEVICES}
    assert len(DATA_DEVICES) == 23

    with pytest.raises(ApiError) as excinfo:
        choose_device(used, None, SERVER)

    assert error_of(excinfo) == (400, "Ecs.0104")
    assert SERVER in excinfo.value.message


@given(st.sets(st.sampled_from(DATA_DEVICES)))
def test_choose_device_property(used_data: set[str]) -> None:
    used = {SYSTEM_DEVICE, *used_data}
    free = [device for device in DATA_DEVICES if device not in used]
    try:
        device = choose_device(used, None, SERVER)
    except ApiError as error:
        assert error.code == "Ecs.0104"
        assert not free
    else:
        assert device == free[0]
