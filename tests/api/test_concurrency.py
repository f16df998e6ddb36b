"""Many clients at once on the same disks and servers: no lost update, no overlap per server."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model
from sqlalchemy import create_engine

from localecs.drivers.simulated import SimulatedDriver
from tests.conftest import RunningService
from tests.support import sdk

# What admission may answer when another client got there first; anything else is a bug.
RACE_CODES = {"Ecs.0057", "Ecs.0111", "Ecs.0118", "Ecs.0103"}


def _client_run(
    service: RunningService, seed: int, servers: list[str], disks: list[str]
) -> list[str]:
    ecs = sdk.ecs_client(
        service.endpoint, service.access_key, service.secret_key, service.project_id
    )
    rng = random.Random(seed)
    accepted = []
    for _ in range(12):
        disk = rng.choice(disks)
        chosen = rng.sample(servers, rng.randint(1, 4))
        try:
            if rng.random() < 0.5:
                body = ecs_model.BatchAttachSharableVolumesRequestBody(
                    serverinfo=[
                        ecs_model.BatchAttachSharableVolumesOption(server_id=s) for s in chosen
                    ]
                )
                response = ecs.batch_attach_sharable_volumes(
                    ecs_model.BatchAttachSharableVolumesRequest(volume_id=disk, body=body)
                )
            else:
                response = ecs.batch_detach_volumes(
                    ecs_model.BatchDetachVolumesRequest(
                        volume_id=disk, body=ecs_model.VolumeBatchDetachRequest(serverinfo=chosen)
                    )
                )
        except ClientRequestException as error:
            assert error.status_code == 400 and error.error_code in RACE_CODES, error
            continue
        accepted.append(str(response.job_id))
    return accepted


def test_concurrent_batches_keep_disks_servers_and_jobs_in_agreement(
    service: RunningService, ecs: sdk.EcsClient, evs: sdk.EvsClient
) -> None:
    servers = sdk.create_servers(ecs, count=8, name="race")
    disks = [sdk.create_volume(evs, shared=True, name=f"race-{n}") for n in range(3)]

    with ThreadPoolExecutor(6) as pool:
        runs = pool.map(lambda seed: _client_run(service, seed, servers, disks), range(6))
        job_ids = [job_id for run in runs for job_id in run]
    # Random subsets make many requests invalid by design (racing clients); enough must still
    # be accepted for the agreement checks below to mean something.
    assert len(job_ids) >= 5, "too few batches were accepted to exercise concurrency"

    jobs = [sdk.wait_job(ecs, job_id, timeout=60) for job_id in job_ids]
    intervals: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for job in jobs:
        assert job.status in ("SUCCESS", "FAIL")
        for sub in job.entities.sub_jobs:
            if sub.status == "FAIL":
                assert sub.error_code and sub.fail_reason
            intervals[sub.entities.server_id].append((sub.begin_time, sub.end_time))

    # Sub-jobs on one server never overlapped (times are UTC strings of one fixed format).
    for spans in intervals.values():
        spans.sort()
        for (_, end), (begin, _) in itertools.pairwise(spans):
            assert begin >= end, spans

    engine = create_engine(service.database_url)
    driver = SimulatedDriver(engine, latency=0)
    try:
        for disk in disks:
            volume = evs.show_volume(evs_model.ShowVolumeRequest(volume_id=disk)).volume
            holders = {a.server_id for a in volume.attachments}
            assert volume.status == ("in-use" if holders else "available")
            for server_id in servers:
                devices = ecs.list_server_block_devices(
                    ecs_model.ListServerBlockDevicesRequest(server_id=server_id)
                ).volume_attachments
                listed = disk in {d.volume_id for d in devices}
                assert listed == (server_id in holders)
                assert (disk in driver.attached_volumes(server_id)) == (server_id in holders)
    finally:
        engine.dispose()
