"""ShowJob answers for jobs that have ended, kept in memory.

A job that has reached SUCCESS or FAIL never changes again: its answer is the same bytes until
the job is purged (the job retention) or the store is reset or replaced (the control API). So
the answer is kept, and a client polling a finished job costs no conversion and no encoding.

Where this process is the store's one API process (the embedded SQLite store), it sees every
reset and import, and a kept answer is given without reading the store at all. With several API
processes (PostgreSQL), a reset or a purge through another would leave this one answering for
jobs that no longer exist: there each kept answer is given only once the store confirms the job
is still there as it ended (one indexed row, instead of the job and its sub-jobs read, converted
and encoded again).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import NamedTuple

from localecs.domain.jobs import JobStatus
from localecs.services.jobs import JobView

# About 4 KB per 16-server batch job: a few megabytes at most.
CAPACITY = 2048


class Kept(NamedTuple):
    """A finished job's answer, and when the job ended (what a check against the store compares)."""

    body: bytes
    ended: datetime


class FinishedJobs:
    def __init__(
        self,
        enabled: bool,
        retention: timedelta,
        capacity: int = CAPACITY,
        *,
        verify: bool = False,
    ) -> None:
        self.enabled = enabled
        # Whether a kept answer may be given only after the store confirms the job (above).
        self.verify = verify
        self._retention = retention
        self._capacity = capacity
        self._answers: OrderedDict[str, tuple[str, datetime, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, project_id: str, job_id: str, now: datetime) -> Kept | None:
        """The kept answer, if the job is the project's and not yet due to be purged."""
        if not self.enabled:
            return None
        with self._lock:
            kept = self._answers.get(job_id)
            if kept is None:
                return None
            owner, ended, body = kept
            if now - ended >= self._retention:
                # From now on the purge may delete it at any moment: read the store.
                del self._answers[job_id]
                return None
            self._answers.move_to_end(job_id)
        # Another project's job is answered like a missing one, by the store read.
        return Kept(body, ended) if owner == project_id else None

    def offer(self, view: JobView, body: bytes) -> None:
        """Keeps `body` as the answer for the job of `view` if that job has ended."""
        job = view.job
        if not self.enabled or job.end_time is None or not JobStatus(job.status).is_final:
            return
        with self._lock:
            self._answers[job.id] = (job.project_id, job.end_time, body)
            self._answers.move_to_end(job.id)
            while len(self._answers) > self._capacity:
                self._answers.popitem(last=False)

    def drop(self, job_id: str) -> None:
        """Forgets one job's answer: the store no longer has the job as it was kept."""
        with self._lock:
            self._answers.pop(job_id, None)

    def clear(self) -> None:
        """After a reset or an import: kept answers may name jobs that are gone."""
        with self._lock:
            self._answers.clear()
