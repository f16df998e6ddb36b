"""A user's own test suite, as docs/testing-with-localecs.md shows it: the code under test
retries a batch detach through gateway errors and reports per-server failures.

Run it with `pytest examples/pytest_plugin` once localecs is installed with its `testing`
extra: the `localecs_*` fixtures come from localecs's pytest plugin.
"""

from __future__ import annotations

import time
from typing import Any

from huaweicloudsdkcore.exceptions.exceptions import ServerResponseException
from huaweicloudsdkecs.v2 import model as ecs
from huaweicloudsdkevs.v2 import model as evs

# --- The code under test: what a user's own application would contain -------------------------


def detach_everywhere(client: Any, volume_id: str, server_ids: list[str], attempts: int = 5) -> Any:
    """Detaches a shared disk from servers: retries the call on 5xx, then waits for the job.
    Returns the finished job (its sub-jobs say which servers failed)."""
    request = ecs.BatchDetachVolumesRequest(
        volume_id=volume_id, body=ecs.VolumeBatchDetachRequest(serverinfo=server_ids)
    )
    for attempt in range(1, attempts + 1):
        try:
            job_id = client.batch_detach_volumes(request).job_id
            break
        except ServerResponseException:
            if attempt == attempts:
                raise
            time.sleep(0.01 * 2**attempt)  # back off: the gateway asked us to
    while True:
        job = client.show_job(ecs.ShowJobRequest(job_id=job_id))
        if job.status in ("SUCCESS", "FAIL"):
            return job
        time.sleep(0.05)


# --- Helpers to build a scenario --------------------------------------------------------------


def wait(client: Any, job_id: str, request: Any) -> Any:
    while True:
        job = client.show_job(request(job_id=job_id))
        if job.status in ("SUCCESS", "FAIL"):
            return job
        time.sleep(0.05)


def servers_with_shared_disk(ecs_client: Any, evs_client: Any, count: int) -> tuple[str, list[str]]:
    server = ecs.PrePaidServer(
        image_ref="img-ubuntu-22.04",
        flavor_ref="s6.small.1",
        name="web",
        vpcid="vpc-1",
        nics=[ecs.PrePaidServerNic(subnet_id="subnet-1")],
        root_volume=ecs.PrePaidServerRootVolume(volumetype="SSD", size=40),
        count=count,
    )
    created = ecs_client.create_servers(
        ecs.CreateServersRequest(body=ecs.CreateServersRequestBody(server=server))
    )
    assert wait(ecs_client, created.job_id, ecs.ShowJobRequest).status == "SUCCESS"
    option = evs.CreateVolumeOption(
        availability_zone="cn-north-4a", volume_type="SSD", size=10, multiattach=True
    )
    disk = evs_client.create_volume(
        evs.CreateVolumeRequest(body=evs.CreateVolumeRequestBody(volume=option))
    )
    assert wait(evs_client, disk.job_id, evs.ShowJobRequest).status == "SUCCESS"
    volume_id = disk.volume_ids[0]
    body = ecs.BatchAttachSharableVolumesRequestBody(
        serverinfo=[ecs.BatchAttachSharableVolumesOption(server_id=s) for s in created.server_ids]
    )
    attached = ecs_client.batch_attach_sharable_volumes(
        ecs.BatchAttachSharableVolumesRequest(volume_id=volume_id, body=body)
    )
    assert wait(ecs_client, attached.job_id, ecs.ShowJobRequest).status == "SUCCESS"
    return volume_id, list(created.server_ids)


# --- The tests --------------------------------------------------------------------------------


def test_the_detach_survives_two_gateway_errors(
    localecs: Any, localecs_ecs: Any, localecs_evs: Any
) -> None:
    volume_id, servers = servers_with_shared_disk(localecs_ecs, localecs_evs, 3)
    localecs.faults.add(action="http", operation="batchDetachVolumes", status=503, times=2)

    job = detach_everywhere(localecs_ecs, volume_id, servers)

    assert job.status == "SUCCESS"
    [fault] = localecs.faults.list()
    assert fault["applied"] == 2  # two 503s were answered, the third call went through


def test_a_failing_server_is_reported_and_the_others_are_detached(
    localecs: Any, localecs_ecs: Any, localecs_evs: Any
) -> None:
    volume_id, servers = servers_with_shared_disk(localecs_ecs, localecs_evs, 3)
    localecs.faults.add(
        action="fail", operation="detachVolume", server_id=servers[1], error_code="Ecs.1000"
    )

    job = detach_everywhere(localecs_ecs, volume_id, servers)

    assert (job.status, job.error_code) == ("FAIL", "Ecs.1000")
    failed = [s.entities.server_id for s in job.entities.sub_jobs if s.status == "FAIL"]
    assert failed == [servers[1]]
    disk = localecs_evs.show_volume(evs.ShowVolumeRequest(volume_id=volume_id)).volume
    assert [a.server_id for a in disk.attachments] == [servers[1]]


def test_each_test_starts_from_an_empty_cloud(localecs: Any, localecs_ecs: Any) -> None:
    # The tests above created servers and faults; the plugin reset everything before this one.
    listing = localecs_ecs.list_servers_details(ecs.ListServersDetailsRequest())
    assert listing.servers == []
    assert localecs.faults.list() == []


def test_manual_mode_shows_every_state(localecs: Any, localecs_ecs: Any, localecs_evs: Any) -> None:
    volume_id, servers = servers_with_shared_disk(localecs_ecs, localecs_evs, 1)
    localecs.latency("manual")
    job_id = localecs_ecs.batch_detach_volumes(
        ecs.BatchDetachVolumesRequest(
            volume_id=volume_id, body=ecs.VolumeBatchDetachRequest(serverinfo=servers)
        )
    ).job_id

    def status() -> str:
        return str(localecs_ecs.show_job(ecs.ShowJobRequest(job_id=job_id)).status)

    assert status() == "INIT"
    localecs.release(job_id=job_id)  # may start
    localecs.wait_held(hold="run")  # it is RUNNING, stopped before the data plane
    assert status() == "RUNNING"
    disk = localecs_evs.show_volume(evs.ShowVolumeRequest(volume_id=volume_id)).volume
    assert disk.status == "detaching"
    localecs.release(job_id=job_id)  # may finish
    while status() != "SUCCESS":
        time.sleep(0.05)
