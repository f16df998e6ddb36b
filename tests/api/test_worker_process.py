"""`localecs worker`: workers in a process of their own, beside API-only `serve` processes."""

from __future__ import annotations

import time

import pytest
from huaweicloudsdkecs.v2 import model as ecs_model

from tests.support import sdk
from tests.support.processes import SharedStore, start_worker, stop_worker


def _submit_detach(ecs: sdk.EcsClient, volume_id: str, server_ids: list[str]) -> str:
    request = ecs_model.BatchDetachVolumesRequest(
        volume_id=volume_id, body=ecs_model.VolumeBatchDetachRequest(serverinfo=server_ids)
    )
    return str(ecs.batch_detach_volumes(request).job_id)


def _submit_attach(ecs: sdk.EcsClient, volume_id: str, server_ids: list[str]) -> str:
    body = ecs_model.BatchAttachSharableVolumesRequestBody(
        serverinfo=[ecs_model.BatchAttachSharableVolumesOption(server_id=s) for s in server_ids]
    )
    request = ecs_model.BatchAttachSharableVolumesRequest(volume_id=volume_id, body=body)
    return str(ecs.batch_attach_sharable_volumes(request).job_id)


def _status(ecs: sdk.EcsClient, job_id: str) -> str:
    return str(ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id)).status)


def _wait_for(condition: object, timeout: float, what: str) -> float:
    """Polls `condition()` until true; returns the seconds it took."""
    assert callable(condition)
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what} did not happen in {timeout}s"
        time.sleep(0.02)
    return time.monotonic() - started


def _prepared(store: SharedStore, servers: int) -> tuple[list[str], str]:
    """Servers and a shared disk, made with a short-lived worker (the API process has none)."""
    helper = start_worker(store.data_dir, store.database_url, driver_latency=0)
    try:
        ecs, evs = store.clients()
        server_ids = sdk.create_servers(ecs, count=servers, name="wp")
        disk = sdk.create_volume(evs, shared=True, name="wp")
    finally:
        assert stop_worker(helper) == 0
    return server_ids, disk


def test_serve_with_no_workers_is_api_only_and_a_worker_process_runs_its_jobs(
    shared_store: SharedStore,
) -> None:
    servers, disk = _prepared(shared_store, 3)
    ecs, _ = shared_store.clients()
    job_id = _submit_attach(ecs, disk, servers)
    time.sleep(1.5)  # what an API-only process would do with it, given the time: nothing
    assert _status(ecs, job_id) == "INIT"

    worker = start_worker(shared_store.data_dir, shared_store.database_url)
    try:
        job = sdk.wait_job(ecs, job_id, timeout=30)
        assert job.status == "SUCCESS", job
        assert all(disk in sdk.attached_volume_ids(ecs, s) for s in servers)
    finally:
        assert stop_worker(worker) == 0
    assert "Traceback" not in worker.log()


def test_sigterm_drains_in_flight_sub_jobs_and_exits_zero(shared_store: SharedStore) -> None:
    servers, disk = _prepared(shared_store, 4)
    ecs, _ = shared_store.clients()
    job_id = _submit_attach(ecs, disk, servers)
    worker = start_worker(
        shared_store.data_dir, shared_store.database_url, "--concurrency", "4",
        driver_latency=1.5, lease_seconds=30,
    )  # fmt: skip
    _wait_for(lambda: _status(ecs, job_id) == "RUNNING", 30, "the job starting")
    assert stop_worker(worker) == 0
    # The worker held the sub-jobs under a long lease; it finished them before it exited,
    # so nothing is left RUNNING for a lease to expire.
    job = ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id))
    assert job.status == "SUCCESS", job
    assert all(disk in sdk.attached_volume_ids(ecs, s) for s in servers)
    assert "stopped (drained)" in worker.log()


def test_sigterm_past_the_drain_time_releases_the_tasks_to_another_worker(
    shared_store: SharedStore,
) -> None:
    servers, disk = _prepared(shared_store, 2)
    ecs, _ = shared_store.clients()
    job_id = _submit_attach(ecs, disk, servers)
    slow = start_worker(
        shared_store.data_dir, shared_store.database_url, "--drain-seconds", "0.5",
        driver_latency=20, lease_seconds=120,
    )  # fmt: skip
    _wait_for(lambda: _status(ecs, job_id) == "RUNNING", 30, "the job starting")
    started = time.monotonic()
    assert stop_worker(slow) == 0
    assert "stopped (released)" in slow.log()
    # With a lease of 120 s, only the release lets another worker take the sub-jobs up now.
    fast = start_worker(shared_store.data_dir, shared_store.database_url)
    try:
        job = sdk.wait_job(ecs, job_id, timeout=60)
        assert job.status == "SUCCESS", job
        assert time.monotonic() - started < 60
        assert all(disk in sdk.attached_volume_ids(ecs, s) for s in servers)
    finally:
        stop_worker(fast)


@pytest.mark.parametrize("own_store", ["postgresql"], indirect=True)
def test_notify_wakes_an_idle_worker_long_before_its_poll(shared_store: SharedStore) -> None:
    servers, disk = _prepared(shared_store, 1)
    ecs, _ = shared_store.clients()
    worker = start_worker(shared_store.data_dir, shared_store.database_url, "--poll-seconds", "120")
    try:
        time.sleep(1)  # let every worker thread fall idle, waiting out its 120 s poll
        for _ in range(3):
            job_id = (
                _submit_detach(ecs, disk, servers)
                if _attached(ecs, servers[0], disk)
                else (_submit_attach(ecs, disk, servers))
            )
            took = _wait_for(lambda job_id=job_id: _status(ecs, job_id) != "INIT", 30, "pick-up")
            assert took < 10, took  # a poll would take 120 s; NOTIFY takes milliseconds
            assert sdk.wait_job(ecs, job_id, timeout=30).status == "SUCCESS"
    finally:
        assert stop_worker(worker) == 0
    assert "woken by NOTIFY" in worker.log()


def _attached(ecs: sdk.EcsClient, server_id: str, disk: str) -> bool:
    return disk in sdk.attached_volume_ids(ecs, server_id)
