"""EVS disk statuses and attachment rules (contract 7.1, 7.3 and section 8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localecs.domain import volumes
from localecs.domain.volumes import (
    ATTACHMENT_ATTACHED,
    ATTACHMENT_ATTACHING,
    ATTACHMENT_DETACHING,
    MAX_SHARED_ATTACHMENTS,
    capacity,
    check_attachable,
    check_deletable,
    check_shared_for_batch,
    derive_status,
)
from localecs.errors import ApiError

# Contract 7.1: every status EVS may report.
DOCUMENTED_STATUSES = frozenset(
    {
        "creating",
        "available",
        "in-use",
        "attaching",
        "detaching",
        "error",
        "deleting",
        "error_deleting",
        "extending",
        "error_extending",
        "backing-up",
        "restoring-backup",
        "error_restoring",
        "uploading",
        "downloading",
        "rollbacking",
        "error_rollbacking",
        "awaiting-transfer",
    }
)
LIFECYCLE_STATUSES = ["creating", "deleting", "error"]
# The non-lifecycle statuses this service sets: the attachment rows decide between them.
ATTACHMENT_DRIVEN_STATUSES = ["available", "in-use", "attaching", "detaching"]
ATTACHMENT_STATES = [ATTACHMENT_ATTACHING, ATTACHMENT_ATTACHED, ATTACHMENT_DETACHING]


def api_error(excinfo: pytest.ExceptionInfo[ApiError]) -> tuple[int, str]:
    return excinfo.value.status, excinfo.value.code


# derive_status


@pytest.mark.parametrize("current", LIFECYCLE_STATUSES)
@pytest.mark.parametrize(
    "states", [[], [ATTACHMENT_ATTACHED], [ATTACHMENT_DETACHING, ATTACHMENT_ATTACHING]]
)
def test_lifecycle_statuses_are_kept_whatever_the_attachments(
    current: str, states: list[str]
) -> None:
    assert derive_status(current, states) == current


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], "available"),
        ([ATTACHMENT_ATTACHED], "in-use"),
        ([ATTACHMENT_ATTACHED, ATTACHMENT_ATTACHED], "in-use"),
        ([ATTACHMENT_ATTACHING], "attaching"),
        ([ATTACHMENT_ATTACHED, ATTACHMENT_ATTACHING], "attaching"),
        ([ATTACHMENT_DETACHING], "detaching"),
        ([ATTACHMENT_ATTACHED, ATTACHMENT_DETACHING], "detaching"),
        # detaching wins over attaching, attaching over in-use.
        ([ATTACHMENT_ATTACHING, ATTACHMENT_DETACHING], "detaching"),
        ([ATTACHMENT_DETACHING, ATTACHMENT_ATTACHING, ATTACHMENT_ATTACHED], "detaching"),
    ],
)
@pytest.mark.parametrize("current", ATTACHMENT_DRIVEN_STATUSES)
def test_status_follows_attachments_by_priority(
    current: str, states: list[str], expected: str
) -> None:
    assert derive_status(current, states) == expected


def test_derive_status_accepts_any_collection() -> None:
    assert derive_status("in-use", frozenset()) == "available"
    assert derive_status("available", (ATTACHMENT_ATTACHED,)) == "in-use"


@given(
    current=st.sampled_from(ATTACHMENT_DRIVEN_STATUSES),
    states=st.lists(st.sampled_from(ATTACHMENT_STATES), max_size=MAX_SHARED_ATTACHMENTS),
)
def test_derive_status_property(current: str, states: list[str]) -> None:
    status = derive_status(current, states)

    assert status in DOCUMENTED_STATUSES
    assert (status == "available") == (not states)
    if ATTACHMENT_DETACHING in states:
        assert status == "detaching"
    elif ATTACHMENT_ATTACHING in states:
        assert status == "attaching"
    elif states:
        assert status == "in-use"


@given(
    current=st.sampled_from(LIFECYCLE_STATUSES),
    states=st.lists(st.sampled_from(ATTACHMENT_STATES), max_size=4),
)
def test_derive_status_keeps_lifecycle_property(current: str, states: list[str]) -> None:
    assert derive_status(current, states) == current


# check_attachable


def test_capacity_is_one_for_plain_disks_and_sixteen_for_shared() -> None:
    assert capacity(multiattach=False) == 1
    assert capacity(multiattach=True) == MAX_SHARED_ATTACHMENTS == 16


@pytest.mark.parametrize(
    ("status", "multiattach", "attached", "adding"),
    [
        ("available", False, 0, 1),
        ("available", True, 0, 1),
        ("available", True, 0, 16),
        ("in-use", True, 1, 1),
        ("in-use", True, 15, 1),
        ("in-use", True, 10, 6),
    ],
)
def test_attachable_within_capacity(
    status: str, multiattach: bool, attached: int, adding: int
) -> None:
    check_attachable("vol-1", status, multiattach, attached, adding)


@pytest.mark.parametrize(("attached", "adding"), [(1, 1), (0, 2), (2, 1)])
def test_non_shared_disk_attaches_to_at_most_one_server(attached: int, adding: int) -> None:
    status = "in-use" if attached else "available"

    with pytest.raises(ApiError) as excinfo:
        check_attachable("vol-1", status, False, attached, adding)

    assert api_error(excinfo) == (400, "Ecs.0103")
    assert "vol-1" in excinfo.value.message


@pytest.mark.parametrize(("attached", "adding"), [(16, 1), (15, 2), (0, 17), (8, 9)])
def test_shared_disk_attaches_to_at_most_sixteen_servers(attached: int, adding: int) -> None:
    with pytest.raises(ApiError) as excinfo:
        check_attachable("vol-1", "in-use", True, attached, adding)

    assert api_error(excinfo) == (400, "Ecs.0118")
    assert "16" in excinfo.value.message


@pytest.mark.parametrize("status", LIFECYCLE_STATUSES)
@pytest.mark.parametrize("multiattach", [False, True])
def test_disk_being_created_deleted_or_in_error_cannot_attach(
    status: str, multiattach: bool
) -> None:
    with pytest.raises(ApiError) as excinfo:
        check_attachable("vol-1", status, multiattach, 0, 1)

    assert api_error(excinfo) == (400, "Ecs.0103")
    assert status in excinfo.value.message


@given(
    multiattach=st.booleans(),
    attached=st.integers(0, 20),
    adding=st.integers(1, 20),
)
def test_check_attachable_property(multiattach: bool, attached: int, adding: int) -> None:
    status = "in-use" if attached else "available"
    limit = capacity(multiattach)
    try:
        check_attachable("vol-1", status, multiattach, attached, adding)
    except ApiError as error:
        assert attached + adding > limit
        assert error.code == ("Ecs.0118" if multiattach else "Ecs.0103")
    else:
        assert attached + adding <= limit


def test_batch_attach_needs_a_shared_disk() -> None:
    check_shared_for_batch("vol-1", multiattach=True)
    with pytest.raises(ApiError) as excinfo:
        check_shared_for_batch("vol-1", multiattach=False)

    assert api_error(excinfo) == (400, "Ecs.0103")


# check_deletable


@pytest.mark.parametrize("status", sorted(volumes.DELETABLE_STATUSES))
def test_available_or_error_disk_without_attachments_is_deletable(status: str) -> None:
    check_deletable("vol-1", status, 0)


@pytest.mark.parametrize(
    ("status", "attachments"),
    [
        ("in-use", 1),
        ("in-use", 0),
        ("available", 1),
        ("error", 2),
        ("attaching", 1),
        ("detaching", 1),
        ("creating", 0),
        ("deleting", 0),
    ],
)
def test_other_disks_are_not_deletable(status: str, attachments: int) -> None:
    with pytest.raises(ApiError) as excinfo:
        check_deletable("vol-1", status, attachments)

    assert api_error(excinfo) == (400, "EVS.1046")
    assert "vol-1" in excinfo.value.message
