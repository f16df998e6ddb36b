"""After a run of many batch attach/detach jobs: the jobs, the records and the data plane agree.

The expected end state is derived from the jobs alone: for each (server, disk) pair, the last
sub-job that succeeded on it (attach or detach) says whether the disk is attached; with none,
it is not (the run starts with every disk free). Sub-jobs on one server never overlap, so "last"
is well defined. Then the disks (status, attachments), every server's block-device listing (all
through the SDK) and the simulated driver's own view (sim_* tables) must all say the same.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from huaweicloudsdkcore.exceptions.exceptions import ServiceResponseException
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model
from sqlalchemy import create_engine, func, select

from localecs.domain.jobs import JobType
from localecs.drivers.simulated import SimulatedDriver
from localecs.store.tables import Job
from tests.support import sdk

FINAL = {"SUCCESS", "FAIL"}


def final_job(ecs: sdk.EcsClient, job_id: str, timeout: float) -> Any:
    """Polls until the job is final, riding out 503s (the database may be coming back)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            job = ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id))
            if job.status in FINAL:
                return job
        except ServiceResponseException as error:
            assert error.status_code == 503, error
        assert time.monotonic() < deadline, f"job {job_id} not final after {timeout}s"
        time.sleep(0.05)


def wait_all_final(database_url: str, timeout: float) -> None:
    """Waits until no task is waiting or running, including jobs whose client never learnt
    their id (the API process died after committing them)."""
    engine = create_engine(database_url)
    query = select(func.count()).where(Job.is_task.is_(True), Job.status.in_(["INIT", "RUNNING"]))
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                left = conn.scalar(query)
            if not left:
                return
            assert time.monotonic() < deadline, f"{left} tasks still not final after {timeout}s"
            time.sleep(0.1)
    finally:
        engine.dispose()


def assert_jobs_recorded(jobs: Sequence[Any]) -> None:
    """Every job ended SUCCESS or FAIL, and every failure says why."""
    for job in jobs:
        assert job.status in FINAL, job
        if job.status == "FAIL":
            assert job.fail_reason, job
        for sub in job.entities.sub_jobs:
            assert sub.status in FINAL, job
            if sub.status == "FAIL":
                assert sub.error_code and sub.fail_reason, sub


def assert_jobs_whole(database_url: str) -> None:
    """Every batch in the jobs table has all its sub-jobs: admission is all or nothing, even in a
    process killed mid-request."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            sub = select(Job.parent_id, func.count().label("n")).group_by(Job.parent_id).subquery()
            partial = conn.execute(
                select(Job.id, Job.sub_jobs_total, sub.c.n)
                .join(sub, sub.c.parent_id == Job.id, isouter=True)
                .where(Job.is_task.is_(False), Job.sub_jobs_total != func.coalesce(sub.c.n, 0))
            ).all()
    finally:
        engine.dispose()
    assert partial == [], partial


def expected_attachments(database_url: str, disks: Sequence[str]) -> dict[tuple[str, str], bool]:
    """(server, disk) -> attached, replaying the successful sub-jobs in the order they ended;
    also checks that no two sub-jobs on one server overlapped in time."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            tasks = conn.execute(
                select(Job.job_type, Job.status, Job.server_id, Job.volume_id,
                       Job.begin_time, Job.end_time)
                .where(Job.is_task.is_(True), Job.lock_key.is_not(None))
                .order_by(Job.end_time, Job.seq)
            ).all()  # fmt: skip
    finally:
        engine.dispose()
    spans: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    expected: dict[tuple[str, str], bool] = {}
    for task in tasks:
        assert task.end_time is not None, task
        spans[task.server_id].append((task.begin_time, task.end_time))
        if task.status != "SUCCESS" or task.volume_id not in disks:
            continue
        if task.job_type == JobType.ATTACH_VOLUME.value:
            expected[(task.server_id, task.volume_id)] = True
        elif task.job_type == JobType.DETACH_VOLUME.value:
            expected[(task.server_id, task.volume_id)] = False
    for server_spans in spans.values():
        server_spans.sort()
        for (_, end), (begin, _) in itertools.pairwise(server_spans):
            assert begin >= end, server_spans
    return expected


def assert_state_agrees(
    ecs: sdk.EcsClient,
    evs: sdk.EvsClient,
    database_url: str,
    servers: Sequence[str],
    disks: Sequence[str],
) -> int:
    """Returns how many disk attachments the run left, for the caller to judge the run."""
    expected = expected_attachments(database_url, disks)
    listed = {
        s: {d.volume_id for d in sdk.block_devices(ecs, s).volume_attachments} for s in servers
    }
    engine = create_engine(database_url)
    driver = SimulatedDriver(engine, latency=0)
    try:
        data_plane = {s: set(driver.attached_volumes(s)) for s in servers}
    finally:
        engine.dispose()
    attached = 0
    for disk in disks:
        volume = evs.show_volume(evs_model.ShowVolumeRequest(volume_id=disk)).volume
        holders = {a.server_id for a in volume.attachments}
        should_hold = {s for s in servers if expected.get((s, disk), False)}
        assert holders == should_hold, (disk, holders, should_hold)
        assert volume.status == ("in-use" if holders else "available"), (disk, volume.status)
        for server in servers:
            assert (disk in listed[server]) == (server in holders), (server, disk)
            assert (disk in data_plane[server]) == (server in holders), (server, disk)
        attached += len(holders)
    return attached
