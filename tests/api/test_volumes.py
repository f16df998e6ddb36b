"""EVS disks: create (v2.1 through the SDK and plain HTTP, legacy v2), batch create, show, list
with filters and paging, delete."""

from __future__ import annotations

import re
from typing import Any

from huaweicloudsdkevs.v2 import model as evs_model

from tests.conftest import RunningService
from tests.support import sdk, signed_http
from tests.support.sdk import JOB_ID, JOB_TIME, UUID

VOLUME_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")


def _volume_body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "volume": {
            "availability_zone": "cn-north-4a",
            "volume_type": "SAS",
            "size": 15,
            "name": name,
            **extra,
        }
    }


def test_create_volume_v2_1_answers_202(service: RunningService, evs: sdk.EvsClient) -> None:
    name = sdk.unique("v21")
    response = signed_http.request(
        service, "POST", f"/v2.1/{service.project_id}/cloudvolumes", body=_volume_body(name)
    )
    assert response.status_code == 202, response.text
    signed_http.assert_request_id(response)
    body = response.json()
    assert JOB_ID.match(body["job_id"])
    [volume_id] = body["volume_ids"]
    assert UUID.match(volume_id)

    job = sdk.wait_job(evs, body["job_id"])
    assert (job.status, job.job_type, job.job_id) == ("SUCCESS", "createVolume", body["job_id"])
    assert job.entities.volume_id == volume_id
    assert (job.entities.name, job.entities.size, job.entities.volume_type) == (name, 15, "SAS")
    assert job.entities.sub_jobs in (None, [])
    assert JOB_TIME.match(job.begin_time) and JOB_TIME.match(job.end_time)
    assert job.error_code is None and job.fail_reason is None

    volume = sdk.show_volume(evs, volume_id)
    assert (volume.id, volume.name, volume.status) == (volume_id, name, "available")
    assert (volume.size, volume.volume_type, volume.availability_zone) == (15, "SAS", "cn-north-4a")
    assert (volume.multiattach, volume.shareable, volume.bootable) == (False, "false", "false")
    assert volume.attachments == []
    assert volume.os_vol_tenant_attrtenant_id == service.project_id
    assert VOLUME_TIME.match(volume.created_at) and VOLUME_TIME.match(volume.updated_at)
    assert volume.service_type == "EVS"
    assert {link.rel for link in volume.links} == {"self", "bookmark"}


def test_create_volume_through_the_sdk(evs: sdk.EvsClient) -> None:
    option = evs_model.CreateVolumeOption(
        availability_zone="cn-north-4a",
        volume_type="GPSSD",
        size=25,
        multiattach=True,
        name=sdk.unique("sdk"),
        description="a shared disk",
        metadata={"purpose": "test"},
    )
    response = evs.create_volume(
        evs_model.CreateVolumeRequest(body=evs_model.CreateVolumeRequestBody(volume=option))
    )
    assert sdk.wait_job(evs, response.job_id).status == "SUCCESS"
    volume = sdk.show_volume(evs, response.volume_ids[0])
    assert (volume.multiattach, volume.shareable, volume.size) == (True, "true", 25)
    assert (volume.description, volume.metadata) == ("a shared disk", {"purpose": "test"})


def test_legacy_v2_create_takes_shareable_as_a_string(
    service: RunningService, evs: sdk.EvsClient
) -> None:
    path = f"/v2/{service.project_id}/cloudvolumes"
    shared = signed_http.request(
        service, "POST", path, body=_volume_body(sdk.unique("v2"), shareable="true")
    )
    assert shared.status_code == 200, shared.text
    plain = signed_http.request(
        service, "POST", path, body=_volume_body(sdk.unique("v2"), shareable="false")
    )
    assert plain.status_code == 200, plain.text

    for response, expected in ((shared, True), (plain, False)):
        body = response.json()
        assert sdk.wait_job(evs, body["job_id"]).status == "SUCCESS"
        volume = sdk.show_volume(evs, body["volume_ids"][0])
        assert volume.multiattach is expected
        assert volume.shareable == str(expected).lower()

    # The legacy flag is a string; a JSON boolean there is a type error.
    wrong = signed_http.request(
        service, "POST", path, body=_volume_body(sdk.unique("v2"), shareable=True)
    )
    signed_http.assert_service_error(wrong, 400, "EVS.5400")
    # A string that is neither "true" nor "false" has EVS's own code.
    odd = signed_http.request(
        service, "POST", path, body=_volume_body(sdk.unique("v2"), shareable="yes")
    )
    signed_http.assert_service_error(odd, 400, "EVS.1054")


def test_count_above_one_is_a_batch_with_sub_jobs(evs: sdk.EvsClient) -> None:
    name = sdk.unique("bulk")
    option = evs_model.CreateVolumeOption(
        availability_zone="cn-north-4a", volume_type="SSD", size=10, name=name, count=3
    )
    response = evs.create_volume(
        evs_model.CreateVolumeRequest(body=evs_model.CreateVolumeRequestBody(volume=option))
    )
    assert len(response.volume_ids) == 3
    job = sdk.wait_job(evs, response.job_id)
    assert (job.status, job.job_type) == ("SUCCESS", "batchCreateVolume")
    subs = job.entities.sub_jobs
    assert len(subs) == 3
    assert {s.job_type for s in subs} == {"createVolume"}
    assert {s.status for s in subs} == {"SUCCESS"}
    assert [s.entities.volume_id for s in subs] == response.volume_ids
    assert len({s.job_id for s in subs} | {job.job_id}) == 4
    assert all(JOB_ID.match(s.job_id) for s in subs)

    names = {sdk.show_volume(evs, v).name for v in response.volume_ids}
    assert names == {f"{name}-0001", f"{name}-0002", f"{name}-0003"}
    assert {s.entities.name for s in subs} == names


def test_list_volumes_filters_and_paging(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, service: RunningService
) -> None:
    prefix = sdk.unique("lv")
    shared = sdk.create_volume(evs, shared=True, name=f"{prefix}-shared")
    plain = sdk.create_volume(evs, name=f"{prefix}-plain")
    other = sdk.create_volume(evs, name=f"{prefix}-other")
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("lvsrv"))
    assert sdk.attach(ecs, server_id, other).status == "SUCCESS"

    def listing(**query: Any) -> Any:
        return evs.list_volumes(evs_model.ListVolumesRequest(**query))

    def ids(result: Any) -> set[str]:
        return {v.id for v in result.volumes}

    everything = listing(name=prefix)
    assert everything.count == 3 and ids(everything) == {shared, plain, other}
    assert ids(listing(name=prefix, multiattach=True)) == {shared}
    assert ids(listing(name=prefix, multiattach=False)) == {plain, other}
    assert ids(listing(name=prefix, status="available")) == {shared, plain}
    in_use = listing(name=prefix, status="in-use")
    assert ids(in_use) == {other}
    [attachment] = in_use.volumes[0].attachments
    assert (attachment.server_id, attachment.volume_id) == (server_id, other)

    assert ids(listing(ids=f"['{shared}','{plain}']")) == {shared, plain}
    assert ids(listing(ids=f"{shared},{other}")) == {shared, other}
    assert ids(listing(id=plain)) == {plain}
    on_server = listing(server_id=server_id)
    assert ids(on_server) == {other, sdk.system_disk_id(ecs, server_id)}

    # Paging: offset counts disks; marker continues after a disk, in the same order.
    order = [v.id for v in listing(name=prefix, sort_key="id", sort_dir="asc").volumes]
    assert order == sorted([shared, plain, other])
    first = listing(name=prefix, sort_key="id", sort_dir="asc", limit=2)
    assert [v.id for v in first.volumes] == order[:2]
    assert first.count == 3
    [next_link] = first.volumes_links
    assert next_link.rel == "next" and f"marker={order[1]}" in next_link.href
    rest = listing(name=prefix, sort_key="id", sort_dir="asc", limit=2, offset=2)
    assert [v.id for v in rest.volumes] == order[2:]
    assert rest.volumes_links == []
    after = listing(name=prefix, sort_key="id", sort_dir="asc", limit=2, marker=order[1])
    assert [v.id for v in after.volumes] == order[2:]
    newest_first = [v.id for v in listing(name=prefix).volumes]
    assert newest_first[0] == other

    # ids takes at most 60.
    many = ",".join(f"id-{n}" for n in range(61))
    response = signed_http.request(
        service,
        "GET",
        f"/v2/{service.project_id}/cloudvolumes/detail",
        query=[("ids", many)],
    )
    signed_http.assert_service_error(response, 400, "EVS.5400")


def test_delete_volume(evs: sdk.EvsClient) -> None:
    volume_id = sdk.create_volume(evs, name=sdk.unique("gone"))
    response = evs.delete_volume(evs_model.DeleteVolumeRequest(volume_id=volume_id))
    assert JOB_ID.match(response.job_id)
    job = sdk.wait_job(evs, response.job_id)
    assert (job.status, job.job_type) == ("SUCCESS", "deleteVolume")
    assert job.entities.volume_id == volume_id

    error = sdk.expect_error(lambda: sdk.show_volume(evs, volume_id), 404, "EVS.5404")
    assert volume_id in error.error_msg
    assert evs.list_volumes(evs_model.ListVolumesRequest(id=volume_id)).count == 0
    sdk.expect_error(
        lambda: evs.delete_volume(evs_model.DeleteVolumeRequest(volume_id=volume_id)),
        404,
        "EVS.5404",
    )


def test_deleting_an_in_use_disk_is_refused(ecs: sdk.EcsClient, evs: sdk.EvsClient) -> None:
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("busy"))
    servers = sdk.create_servers(ecs, count=2, name=sdk.unique("busy"))
    assert sdk.batch_attach(ecs, volume_id, servers).status == "SUCCESS"

    sdk.expect_error(
        lambda: evs.delete_volume(evs_model.DeleteVolumeRequest(volume_id=volume_id)),
        400,
        "EVS.1046",
    )
    volume = sdk.show_volume(evs, volume_id)
    assert volume.status == "in-use"
    assert {a.server_id for a in volume.attachments} == set(servers)

    # Still refused while any one server holds it; accepted once it is free.
    assert sdk.batch_detach(ecs, volume_id, servers[:1]).status == "SUCCESS"
    sdk.expect_error(
        lambda: evs.delete_volume(evs_model.DeleteVolumeRequest(volume_id=volume_id)),
        400,
        "EVS.1046",
    )
    assert sdk.batch_detach(ecs, volume_id, servers[1:]).status == "SUCCESS"
    response = evs.delete_volume(evs_model.DeleteVolumeRequest(volume_id=volume_id))
    assert sdk.wait_job(evs, response.job_id).status == "SUCCESS"


def test_delete_accepts_terraforms_cascade_flag(
    service: RunningService, evs: sdk.EvsClient
) -> None:
    volume_id = sdk.create_volume(evs, name=sdk.unique("cascade"))
    response = signed_http.request(
        service,
        "DELETE",
        f"/v2/{service.project_id}/cloudvolumes/{volume_id}",
        query=[("cascade", "true")],
    )
    assert response.status_code == 200, response.text
    assert sdk.wait_job(evs, response.json()["job_id"]).status == "SUCCESS"
    sdk.expect_error(lambda: sdk.show_volume(evs, volume_id), 404, "EVS.5404")


def test_create_volume_validation(service: RunningService) -> None:
    path = f"/v2.1/{service.project_id}/cloudvolumes"
    cases: list[Any] = [
        _volume_body("x", size=5),
        _volume_body("x", size=40000),
        _volume_body("x", volume_type="FLOPPY"),
        _volume_body("x", count=0),
        {"volume": {"volume_type": "SSD", "size": 10}},
        {"volume": {"availability_zone": "cn-north-4a", "volume_type": "SSD"}},
        {"volume": "SSD"},
        {},
    ]
    for body in cases:
        response = signed_http.request(service, "POST", path, body=body)
        signed_http.assert_service_error(response, 400, "EVS.5400")
    # A shared disk cannot come from an image: EVS has its own code for that.
    from_image = _volume_body("x", multiattach=True, imageRef="img-1")
    response = signed_http.request(service, "POST", path, body=from_image)
    signed_http.assert_service_error(response, 400, "EVS.2094")


def test_metadata_and_service_type_filters(evs: sdk.EvsClient) -> None:
    name = sdk.unique("meta")

    def create(metadata: dict[str, str]) -> str:
        option = evs_model.CreateVolumeOption(
            availability_zone="cn-north-4a", volume_type="SSD", size=10, name=name,
            metadata=metadata,
        )  # fmt: skip
        created = evs.create_volume(
            evs_model.CreateVolumeRequest(body=evs_model.CreateVolumeRequestBody(volume=option))
        )
        assert sdk.wait_job(evs, created.job_id).status == "SUCCESS"
        return str(created.volume_ids[0])

    encrypted = create({"__system__encrypted": "1", "team": "a"})
    plain = create({"team": "a"})

    def listed(**query: str) -> set[str]:
        volumes = evs.list_volumes(evs_model.ListVolumesRequest(name=name, **query)).volumes
        return {v.id for v in volumes}

    assert listed(metadata='{"__system__encrypted": "1"}') == {encrypted}
    assert listed(not_metadata='{"__system__encrypted": "1"}') == {plain}
    assert listed(metadata='{"team": "a"}') == {encrypted, plain}
    assert listed(service_type="EVS") == {encrypted, plain}
    assert listed(service_type="DSS") == set()
    assert listed(dedicated_storage_id="ds-1") == set()
    assert sdk.show_volume(evs, encrypted).encrypted is True
    assert sdk.show_volume(evs, plain).encrypted is False
    sdk.expect_error(
        lambda: evs.list_volumes(evs_model.ListVolumesRequest(metadata="team=a")), 400, "EVS.5400"
    )
