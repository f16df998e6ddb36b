"""Faults, holds and the latency profile live in the store: a worker process obeys what a test
set through another process (an API-only one), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from localecs.testing import LocalEcs
from tests.support import postgres, sdk
from tests.support.processes import SharedStore


@pytest.fixture(params=postgres.STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedStore]:
    with postgres.store(request.param) as url:
        shared = SharedStore(tmp_path / "data", url)
        yield shared
        shared.close()


def _controls(store: SharedStore) -> LocalEcs:
    api = store.api
    return LocalEcs(
        endpoint=api.endpoint,
        access_key=api.access_key,
        secret_key=api.secret_key,
        project_id=api.project_id,
    )


def test_a_worker_process_obeys_faults_and_holds_set_through_the_api_process(
    store: SharedStore,
) -> None:
    ecs, evs = store.clients()  # the API-only process
    cloud = _controls(store)
    store.start()  # a second process, with the workers
    servers = sdk.create_servers(ecs, count=2, name=sdk.unique("xp"))
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("xp"))
    assert sdk.batch_attach(ecs, volume_id, servers).status == "SUCCESS"

    cloud.faults.add(action="fail", operation="detachVolume", server_id=servers[0])
    cloud.latency("manual")
    job_id = ecs.batch_detach_volumes(
        ecs_model.BatchDetachVolumesRequest(
            volume_id=volume_id, body=ecs_model.VolumeBatchDetachRequest(serverinfo=servers)
        )
    ).job_id
    assert ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id)).status == "INIT"
    cloud.release(job_id=job_id)
    held = cloud.wait_held(count=2, hold="run")
    assert {h["server_id"] for h in held} == set(servers)
    cloud.release(job_id=job_id)

    job = sdk.wait_job(ecs, job_id)
    assert (job.status, job.error_code) == ("FAIL", "Ecs.1000")
    by_server = {sub.entities.server_id: sub.status for sub in job.entities.sub_jobs}
    assert by_server == {servers[0]: "FAIL", servers[1]: "SUCCESS"}
    assert [a.server_id for a in sdk.show_volume(evs, volume_id).attachments] == [servers[0]]


def test_a_job_reset_through_another_api_process_is_unknown_in_every_one(
    store: SharedStore,
) -> None:
    """A finished job's answer is kept in memory (api/finished_jobs.py). With several API
    processes on one database, a reset through one must not leave another answering for the
    job: there a kept answer is given only once the store confirms the job."""
    if store.database_url is None:
        pytest.skip("the embedded SQLite store has one API process, which sees every reset")
    ecs, evs = store.clients()  # the API-only process
    other = store.start()  # a second API process, with the workers
    volume_id = sdk.create_volume(evs, name=sdk.unique("xp"))
    job_id = evs.delete_volume(evs_model.DeleteVolumeRequest(volume_id=volume_id)).job_id
    assert sdk.wait_job(evs, job_id).status == "SUCCESS"
    for _ in range(3):  # answered, then kept and answered from memory
        assert ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id)).status == "SUCCESS"

    LocalEcs(
        endpoint=other.endpoint,
        access_key=other.access_key,
        secret_key=other.secret_key,
        project_id=other.project_id,
    ).reset()

    with pytest.raises(ClientRequestException) as gone:
        ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id))
    assert (gone.value.status_code, gone.value.error_code) == (400, "Common.0011")
