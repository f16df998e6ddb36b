"""Authentication (AK/SK signatures) and the project boundary."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from tests.conftest import RunningService, new_credentials, start_service, stop_service
from tests.support import sdk, signed_http
from tests.support.signed_http import REQUEST_ID

MISSING = "00000000-0000-4000-8000-000000000000"


def _servers_path(service: RunningService) -> str:
    return f"/v1/{service.project_id}/cloudservers/detail"


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [
        ("GET", "/v1/{p}/cloudservers/detail", None),
        ("GET", "/v2/{p}/cloudvolumes/detail", None),
        ("GET", "/v1/{p}/jobs/" + "0" * 32, None),
        # Authentication comes before the body: a bad body unsigned is still a 401.
        ("POST", "/v1/{p}/batchaction/detachvolumes/" + MISSING, b"{not json"),
        ("POST", "/v2.1/{p}/cloudvolumes", b""),
    ],
)
def test_unsigned_is_apig_0301(
    service: RunningService, method: str, template: str, body: Any
) -> None:
    path = template.format(p=service.project_id)
    response = signed_http.request(service, method, path, body=body, sign=False)
    signed_http.assert_gateway_error(response, 401, "APIG.0301")


def test_wrong_secret_through_the_sdk(service: RunningService) -> None:
    ecs, evs, recorder = sdk.recording_clients(
        service.endpoint, service.access_key, "not-the-secret", service.project_id
    )
    calls: list[Callable[[], Any]] = [
        lambda: ecs.list_servers_details(ecs_model.ListServersDetailsRequest()),
        lambda: evs.show_job(evs_model.ShowJobRequest(job_id="0" * 32)),
    ]
    for call in calls:
        with pytest.raises(ClientRequestException) as caught:
            call()
        assert (caught.value.status_code, caught.value.error_code) == (401, "APIG.0301")
        assert REQUEST_ID.match(caught.value.request_id)
        assert caught.value.request_id == recorder.last[1]
    # The right secret still works: failures do not lock out a key that then signs correctly.
    good = sdk.ecs_client(
        service.endpoint, service.access_key, service.secret_key, service.project_id
    )
    good.list_servers_details(ecs_model.ListServersDetailsRequest(limit=1))


def test_unknown_key_and_wrong_secret_answer_alike(service: RunningService) -> None:
    path = _servers_path(service)
    wrong_secret = signed_http.request(service, "GET", path, secret_key="x" * 40)
    unknown_key = signed_http.request(service, "GET", path, access_key="AK" + "0" * 18)
    assert signed_http.assert_gateway_error(
        wrong_secret, 401, "APIG.0301"
    ) == signed_http.assert_gateway_error(unknown_key, 401, "APIG.0301")


@pytest.mark.parametrize("minutes", [-16, 16, -24 * 60])
def test_sdk_date_more_than_15_minutes_off_is_refused(
    service: RunningService, minutes: int
) -> None:
    date = signed_http.sdk_date(timedelta(minutes=minutes))
    response = signed_http.request(service, "GET", _servers_path(service), date=date)
    signed_http.assert_gateway_error(response, 401, "APIG.0301")


@pytest.mark.parametrize("minutes", [-14, 14])
def test_sdk_date_within_15_minutes_is_accepted(service: RunningService, minutes: int) -> None:
    date = signed_http.sdk_date(timedelta(minutes=minutes))
    response = signed_http.request(service, "GET", _servers_path(service), date=date)
    assert response.status_code == 200, response.text
    signed_http.assert_request_id(response)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic"),
        pytest.param({"Authorization": "SDK-HMAC-SHA256 Access=AK, Signature=00"}, id="partial"),
        pytest.param({"X-Auth-Token": "MIIFake"}, id="token"),
    ],
)
def test_malformed_credentials_are_refused(
    service: RunningService, headers: dict[str, str]
) -> None:
    response = signed_http.request(
        service,
        "GET",
        _servers_path(service),
        headers={**headers, "X-Sdk-Date": signed_http.sdk_date()},
        sign=False,
    )
    signed_http.assert_gateway_error(response, 401, "APIG.0301")


@pytest.mark.parametrize("date", ["2024-01-01T00:00:00Z", "", "yesterday"])
def test_bad_sdk_date_format_is_refused(service: RunningService, date: str) -> None:
    response = signed_http.request(
        service, "GET", _servers_path(service), tamper_headers={"X-Sdk-Date": date}
    )
    signed_http.assert_gateway_error(response, 401, "APIG.0301")


def test_the_signature_covers_the_signed_headers(service: RunningService) -> None:
    response = signed_http.request(
        service, "GET", _servers_path(service), tamper_headers={"User-Agent": "curl/8.0"}
    )
    signed_http.assert_gateway_error(response, 401, "APIG.0301")


def test_the_signature_covers_the_body(service: RunningService, evs: sdk.EvsClient) -> None:
    volume_id = sdk.create_volume(evs, shared=True, name=sdk.unique("tamper"))
    path = f"/v1/{service.project_id}/batchaction/detachvolumes/{volume_id}"
    signed = {"serverinfo": [MISSING]}
    response = signed_http.request(
        service, "POST", path, body=signed, tamper_body=b'{"serverinfo": ["other"]}'
    )
    signed_http.assert_gateway_error(response, 401, "APIG.0301")
    # The same request untampered passes authentication (and fails on the unknown server).
    response = signed_http.request(service, "POST", path, body=signed)
    signed_http.assert_service_error(response, 404, "Ecs.0114")


# --- The project boundary ---------------------------------------------------------------------


class OtherProject:
    """A project of another account in the same store, created by a second (API-only)
    process that bootstraps that account (and shares the store's encryption key)."""

    def __init__(self, service: RunningService, data_dir: Path) -> None:
        access_key, secret_key, project_id = new_credentials()
        key_file = str(service.data_dir / "secret.key")
        self.process = start_service(
            data_dir,
            access_key=access_key,
            secret_key=secret_key,
            project_id=project_id,
            database_url=service.database_url,
            extra_args=("--workers", "0", "--encryption-key-file", key_file),
            extra_env={"LOCALECS_DOMAIN_NAME": f"other_{secrets.token_hex(4)}"},
        )
        args = (self.process.endpoint, access_key, secret_key, project_id)
        self.project_id = project_id
        self.ecs = sdk.ecs_client(*args)
        self.evs = sdk.evs_client(*args)
        option = evs_model.CreateVolumeOption(
            availability_zone="cn-north-4a", volume_type="SSD", size=10, name="theirs"
        )
        created = self.evs.create_volume(
            evs_model.CreateVolumeRequest(body=evs_model.CreateVolumeRequestBody(volume=option))
        )
        self.volume_id: str = created.volume_ids[0]
        self.job_id: str = created.job_id


@pytest.fixture(scope="module")
def other_project(
    service: RunningService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OtherProject]:
    other = OtherProject(service, tmp_path_factory.mktemp("other-project"))
    yield other
    stop_service(other.process)


# (method, path template, body, code); {p} is the project in the URL, {v} a volume id, {j} a job.
FOREIGN: list[Any] = [
    ("GET", "/v1/{p}/cloudservers/detail", None, "Ecs.0023"),
    ("GET", "/v1/{p}/cloudservers/{v}", None, "Ecs.0023"),
    ("GET", "/v1/{p}/cloudservers/{v}/block_device", None, "Ecs.0023"),
    ("GET", "/v1/{p}/cloudservers/{v}/os-volume_attachments", None, "Ecs.0023"),
    ("POST", "/v1/{p}/batchaction/detachvolumes/{v}", {"serverinfo": [MISSING]}, "Ecs.0023"),
    ("POST", "/v1/{p}/batchaction/detachvolumes/{v}", b"{broken", "Ecs.0023"),
    ("POST", "/v1/{p}/batchaction/attachvolumes/{v}", {"serverinfo": []}, "Ecs.0023"),
    ("DELETE", "/v1/{p}/cloudservers/{v}/detachvolume/{v}", None, "Ecs.0023"),
    ("POST", "/v1/{p}/cloudservers/delete", {"servers": [{"id": MISSING}]}, "Ecs.0023"),
    ("POST", "/v1.1/{p}/cloudservers", b"", "Ecs.0023"),
    ("GET", "/v2/{p}/cloudvolumes/{v}", None, "Common.0018"),
    ("GET", "/v2/{p}/cloudvolumes/detail", None, "Common.0018"),
    ("DELETE", "/v2/{p}/cloudvolumes/{v}", None, "Common.0018"),
    ("POST", "/v2.1/{p}/cloudvolumes", {"volume": {}}, "Common.0018"),
    ("POST", "/v2/{p}/cloudvolumes", b"", "Common.0018"),
    ("GET", "/v1/{p}/jobs/{j}", None, "Common.0018"),
]


@pytest.mark.parametrize(("method", "template", "body", "code"), FOREIGN)
def test_another_project_in_the_url_reveals_nothing(
    service: RunningService,
    other_project: OtherProject,
    method: str,
    template: str,
    body: Any,
    code: str,
) -> None:
    """The same answer whether the project (and the resource in it) exists or not."""
    existing = template.format(
        p=other_project.project_id, v=other_project.volume_id, j=other_project.job_id
    )
    invented = template.format(p=secrets.token_hex(16), v=MISSING, j=secrets.token_hex(16))
    answers = []
    for path in (existing, invented):
        for project_header in (service.project_id, other_project.project_id):
            response = signed_http.request(
                service, method, path, body=body, project_header=project_header
            )
            signed_http.assert_service_error(response, 400, code)
            answers.append(response.json())
    assert all(answer == answers[0] for answer in answers), answers


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v1/{p}/cloudservers/detail", "Ecs.0023"),
        ("/v2/{p}/cloudvolumes/detail", "Common.0018"),
    ],
)
def test_an_x_project_id_that_disagrees_with_the_url_is_refused(
    service: RunningService, path: str, code: str
) -> None:
    """The SDK signs the project as X-Project-Id too; a request whose two disagree is refused
    like any other foreign project, even when the URL names the caller's own."""
    response = signed_http.request(
        service, "GET", path.format(p=service.project_id), project_header=secrets.token_hex(16)
    )
    signed_http.assert_service_error(response, 400, code)


def test_another_projects_resources_look_missing_from_ones_own(
    ecs: sdk.EcsClient, evs: sdk.EvsClient, other_project: OtherProject
) -> None:
    theirs, job_id = other_project.volume_id, other_project.job_id
    seen = sdk.expect_error(lambda: sdk.show_volume(evs, theirs), 404, "EVS.5404")
    unseen = sdk.expect_error(lambda: sdk.show_volume(evs, MISSING), 404, "EVS.5404")
    assert seen.error_msg == unseen.error_msg.replace(MISSING, theirs)
    sdk.expect_error(
        lambda: evs.delete_volume(evs_model.DeleteVolumeRequest(volume_id=theirs)),
        404,
        "EVS.5404",
    )
    sdk.expect_error(
        lambda: ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id)), 400, "Common.0011"
    )
    listing = evs.list_volumes(evs_model.ListVolumesRequest(id=theirs))
    assert (listing.count, listing.volumes) == (0, [])
    [server_id] = sdk.create_servers(ecs, name=sdk.unique("mine"))
    sdk.expect_error(lambda: sdk.attach(ecs, server_id, theirs), 404, "EVS.5404")

    # Their disk is untouched and still theirs.
    volume = sdk.show_volume(other_project.evs, theirs)
    assert volume.os_vol_tenant_attrtenant_id == other_project.project_id
    assert volume.attachments == []
    assert volume.status in ("creating", "available")
