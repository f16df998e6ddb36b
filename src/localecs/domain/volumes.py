"""EVS disk statuses and attachment rules (contract 7.1, 7.3 and section 8)."""

from __future__ import annotations

from collections.abc import Collection

from localecs.errors import ApiError

CREATING = "creating"
AVAILABLE = "available"
IN_USE = "in-use"
ATTACHING = "attaching"
DETACHING = "detaching"
DELETING = "deleting"
ERROR = "error"

# Attachment row states.
ATTACHMENT_ATTACHING = "attaching"
ATTACHMENT_ATTACHED = "attached"
ATTACHMENT_DETACHING = "detaching"

MAX_SHARED_ATTACHMENTS = 16
# Contract 2.16: a disk is deleted only when available or after a failed operation.
DELETABLE_STATUSES = frozenset(
    {AVAILABLE, ERROR, "error_extending", "error_restoring", "error_rollbacking"}
)

# The statuses that a disk's attachments decide. Any other (creating, deleting, error, and the
# extend/backup/restore family of contract 7.1) is a lifecycle state that attachments leave alone.
_ATTACHMENT_STATUSES = frozenset({AVAILABLE, IN_USE, ATTACHING, DETACHING})


def derive_status(current: str, attachment_states: Collection[str]) -> str:
    """The disk status that its attachments imply.

    Recomputed from the attachment rows inside every transaction that changes them, so two
    operations on one disk cannot leave a status that disagrees with its attachments.
    """
    if current not in _ATTACHMENT_STATUSES:
        return current
    if ATTACHMENT_DETACHING in attachment_states:
        return DETACHING
    if ATTACHMENT_ATTACHING in attachment_states:
        return ATTACHING
    if ATTACHMENT_ATTACHED in attachment_states:
        return IN_USE
    return AVAILABLE


def capacity(multiattach: bool) -> int:
    return MAX_SHARED_ATTACHMENTS if multiattach else 1


def check_attachable(
    volume_id: str, status: str, multiattach: bool, attached: int, adding: int
) -> None:
    """A disk can take `adding` more servers now (attach and batch attach)."""
    if status not in _ATTACHMENT_STATUSES:
        raise ApiError(
            400, "Ecs.0103", f"Volume {volume_id} is {status}; it must be available to attach."
        )
    if not multiattach and attached + adding > 1:
        raise ApiError(
            400,
            "Ecs.0103",
            f"Volume {volume_id} is not shared and is already in use.",
        )
    if attached + adding > MAX_SHARED_ATTACHMENTS:
        raise ApiError(
            400,
            "Ecs.0118",
            f"Volume {volume_id} can be attached to at most {MAX_SHARED_ATTACHMENTS} servers; "
            f"it has {attached} and the request adds {adding}.",
        )


def check_shared_for_batch(volume_id: str, multiattach: bool) -> None:
    if not multiattach:
        raise ApiError(
            400, "Ecs.0103", f"Volume {volume_id} is not a shared disk; batch attach needs one."
        )


def check_deletable(volume_id: str, status: str, attachments: int) -> None:
    if status not in DELETABLE_STATUSES or attachments:
        raise ApiError(
            400,
            "EVS.1046",
            f"Volume {volume_id} is {status}; only an available disk with no attachments "
            "can be deleted.",
        )


def check_same_zone(volume_id: str, volume_zone: str, server_id: str, server_zone: str) -> None:
    """A disk attaches only to servers of its own availability zone (failure domain)."""
    if volume_zone != server_zone:
        raise ApiError(
            400,
            "Ecs.0121",
            f"Volume {volume_id} is in {volume_zone} and instance {server_id} in {server_zone}.",
        )


def check_system_slot(volume_id: str, multiattach: bool, system_slot: bool) -> None:
    """Shared disks are data disks only (contract 7.3): never in a server's system slot."""
    if multiattach and system_slot:
        raise ApiError(
            400, "Ecs.0005", f"Volume {volume_id} is shared and cannot be a system disk."
        )
