"""Keeping a disk's status equal to what its attachment rows say."""

from __future__ import annotations

from datetime import datetime

from localecs.domain.volumes import derive_status
from localecs.store.repository import Repository
from localecs.store.tables import Volume


def refresh_volume_status(repo: Repository, volume: Volume, now: datetime) -> None:
    """Recompute the status from the attachment rows of this transaction (pending ones included).

    Every transaction that adds, removes or re-marks an attachment calls this after doing so,
    with the volume row locked, so no interleaving of operations can lose an update.
    """
    states = repo.attachment_states(volume.id)
    status = derive_status(volume.status, states)
    if status != volume.status:
        volume.status = status
        volume.updated_at = now
