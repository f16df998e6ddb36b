"""The prebuilt admission statements (store/admission.py) write what the ORM would have."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from localecs.store.tables import Job
from localecs.store.uow import Database

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)


def _row(job_id: str, parent_id: str | None, n: int) -> dict[str, Any]:
    return {
        "id": job_id,
        "project_id": "p",
        "parent_id": parent_id,
        "job_type": "detachVolume",
        "is_task": parent_id is not None,
        "status": "INIT",
        "lock_key": f"server-{n}",
        "server_id": f"server-{n}",
        "volume_id": "v",
        "entities": {"server_id": f"server-{n}", "nested": {"n": n}},
        "payload": {},
        "sub_jobs_total": 0,
        "error_code": None,
        "fail_reason": None,
        "begin_time": NOW,
        "end_time": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempts": 0,
    }


def test_many_job_rows_keep_their_order_and_values(db: Database) -> None:
    # More rows than one multi-row INSERT may carry on SQLite (999 parameters, 19 columns).
    parent = secrets.token_hex(16)
    ids = [secrets.token_hex(16) for _ in range(120)]
    with db.write() as repo:
        repo.insert_jobs([_row(parent, None, 0), *(_row(i, parent, n) for n, i in enumerate(ids))])
    with db.read() as repo:
        jobs = list(repo.session.scalars(select(Job).where(Job.id.in_([parent, *ids]))))
    jobs.sort(key=lambda job: job.seq)
    assert [job.id for job in jobs] == [parent, *ids]  # submission order is seq order
    first = jobs[1]
    assert first.is_task is True and jobs[0].is_task is False
    assert first.entities == {"server_id": "server-0", "nested": {"n": 0}}
    assert first.payload == {}
    assert first.begin_time == NOW
    assert first.end_time is None
    assert first.parent_id == parent
