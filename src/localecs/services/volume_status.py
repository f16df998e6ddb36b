"""Keeping a disk's status equal to what its attachment rows say."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from localecs.domain.volumes import derive_status
from localecs.store.repository import Repository
from localecs.store.tables import Volume


def refresh_volume_status(repo: Repository, volume: Volume, now: datetime) -> None:
    """Recompute the status from the attachment rows of this transaction (pending ones included).

    Every transaction that adds, removes or re-marks an attachment calls this after doing so,
    with the volume row locked, so no interleaving of operations can lose an update. Inside
    `refreshes_deferred` the disk is only noted, and refreshed once when that block ends.
    """
    pending: dict[str, tuple[Volume, datetime]] | None = repo.session.info.get(_DEFERRED)
    if pending is not None:
        pending[volume.id] = (volume, now)
        return
    _refresh(repo, volume, now)


# The session.info key of the disks noted for a refresh at the end of a refreshes_deferred block.
_DEFERRED = "localecs.deferred_volume_refreshes"


@contextmanager
def refreshes_deferred(repo: Repository) -> Iterator[None]:
    """Refreshes each disk noted in the block once, when it ends without raising.

    For a transaction that records many sub-jobs on one disk (a batch detach): the status is a
    function of the final attachment rows (domain.volumes.derive_status), so one refresh at the
    end gives what one after every change would, without reading the rows again each time.
    """
    pending: dict[str, tuple[Volume, datetime]] = {}
    repo.session.info[_DEFERRED] = pending
    try:
        yield
    finally:
        repo.session.info.pop(_DEFERRED, None)
    for volume, now in pending.values():
        if not repo.is_deleted(volume):  # a disk deleted with its server has no status to keep
            _refresh(repo, volume, now)


def _refresh(repo: Repository, volume: Volume, now: datetime) -> None:
    states = repo.attachment_states(volume.id)
    status = derive_status(volume.status, states)
    if status != volume.status:
        volume.status = status
        volume.updated_at = now
