"""Every rejection in the contract's format and code, with a request id on every response;
bad bodies, oversize bodies, unknown paths; and never a 500."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from tests.conftest import RunningService
from tests.support import sdk, signed_http
from tests.support.signed_http import REQUEST_ID

MISSING = "00000000-0000-4000-8000-000000000000"
ONE_MIB = 1024 * 1024


def test_request_id_on_success_and_in_sdk_exceptions(service: RunningService) -> None:
    ecs, evs, recorder = sdk.recording_clients(
        service.endpoint, service.access_key, service.secret_key, service.project_id
    )
    ecs.list_servers_details(ecs_model.ListServersDetailsRequest(limit=1))
    status, request_id = recorder.last
    assert status == 200 and REQUEST_ID.match(request_id or "")
    evs.list_volumes(evs_model.ListVolumesRequest(limit=1))
    assert recorder.last[0] == 200 and REQUEST_ID.match(recorder.last[1] or "")
    assert recorder.last[1] != request_id

    calls: list[Callable[[], Any]] = [
        lambda: ecs.show_server(ecs_model.ShowServerRequest(server_id=MISSING)),
        lambda: evs.show_volume(evs_model.ShowVolumeRequest(volume_id=MISSING)),
        lambda: ecs.show_job(ecs_model.ShowJobRequest(job_id=MISSING)),
        lambda: evs.show_job(evs_model.ShowJobRequest(job_id=MISSING)),
        lambda: ecs.batch_detach_volumes(
            ecs_model.BatchDetachVolumesRequest(
                volume_id=MISSING, body=ecs_model.VolumeBatchDetachRequest(serverinfo=[MISSING])
            )
        ),
    ]
    seen = set()
    for call in calls:
        with pytest.raises(ClientRequestException) as caught:
            call()
        status, header = recorder.last
        assert status == caught.value.status_code
        assert header is not None
        assert REQUEST_ID.match(caught.value.request_id)
        assert caught.value.request_id == header
        seen.add(header)
    assert len(seen) == len(calls)
    # The service's access log names each request by the same id.
    deadline = time.monotonic() + 5
    while not all(request_id in service.log_path.read_text() for request_id in seen):
        assert time.monotonic() < deadline, "request ids missing from the service log"
        time.sleep(0.05)


def _batch_detach(p: str) -> str:
    return f"/v1/{p}/batchaction/detachvolumes/{MISSING}"


_VOLUME = {"availability_zone": "cn-north-4a", "volume_type": "SSD", "size": 10}

# (method, path template, body, status, code); "{p}" is the caller's project.
REJECTIONS: list[Any] = [
    pytest.param("GET", "/v1/{p}/cloudservers/" + MISSING, None, 404, "Ecs.0114", id="no-server"),
    pytest.param("GET", "/v2/{p}/cloudvolumes/" + MISSING, None, 404, "EVS.5404", id="no-volume"),
    pytest.param("DELETE", "/v2/{p}/cloudvolumes/" + MISSING, None, 404, "EVS.5404", id="del-vol"),
    pytest.param("GET", "/v1/{p}/jobs/" + "0" * 32, None, 400, "Common.0011", id="no-job"),
    pytest.param(
        "POST", _batch_detach("{p}"), b'{"serverinfo": [', 400, "Ecs.0005", id="detach-bad-json"
    ),
    pytest.param(
        "POST", _batch_detach("{p}"), b"\xff\xfe{}", 400, "Ecs.0005", id="detach-not-utf8"
    ),
    pytest.param("POST", _batch_detach("{p}"), b"null", 400, "Ecs.0005", id="detach-null"),
    pytest.param("POST", _batch_detach("{p}"), b"[]", 400, "Ecs.0005", id="detach-array"),
    pytest.param(
        "POST", _batch_detach("{p}"), {"serverinfo": 5}, 400, "Ecs.0005", id="detach-type"
    ),
    pytest.param(
        "POST",
        _batch_detach("{p}"),
        {"serverinfo": [MISSING], "extra": 1},
        400,
        "Ecs.0005",
        id="detach-unknown-field",
    ),
    pytest.param("POST", _batch_detach("{p}"), b"", 400, "Common.0002", id="detach-empty"),
    pytest.param("POST", _batch_detach("{p}"), b"  \n", 400, "Common.0002", id="detach-blank"),
    pytest.param(
        "POST",
        "/v1/{p}/batchaction/attachvolumes/" + MISSING,
        b"",
        400,
        "Common.0002",
        id="attach-batch-empty",
    ),
    pytest.param(
        "POST",
        f"/v1/{{p}}/cloudservers/{MISSING}/attachvolume",
        b"",
        400,
        "Common.0002",
        id="attach-empty",
    ),
    pytest.param("POST", "/v1.1/{p}/cloudservers", b"", 400, "Common.0002", id="create-empty"),
    pytest.param("POST", "/v1/{p}/cloudservers/delete", b"", 400, "Common.0002", id="delete-empty"),
    pytest.param("POST", "/v1/{p}/cloudservers/action", b"", 400, "Common.0002", id="action-empty"),
    pytest.param(
        "POST",
        "/v1/{p}/cloudservers/delete",
        {"servers": [{"id": MISSING, "name": "x"}]},
        400,
        "Ecs.0005",
        id="delete-unknown-field",
    ),
    pytest.param(
        "POST", "/v1.1/{p}/cloudservers", {"server": {}}, 400, "Ecs.0005", id="create-missing"
    ),
    pytest.param(
        "POST", "/v2.1/{p}/cloudvolumes", b'{"volume": ', 400, "EVS.5400", id="volume-bad-json"
    ),
    pytest.param("POST", "/v2.1/{p}/cloudvolumes", b"", 400, "EVS.5400", id="volume-empty"),
    pytest.param(
        "POST",
        "/v2.1/{p}/cloudvolumes",
        {"volume": {**_VOLUME, "size": "10"}},
        400,
        "EVS.5400",
        id="volume-size-string",
    ),
    pytest.param(
        "POST",
        "/v2.1/{p}/cloudvolumes",
        {"volume": {**_VOLUME, "multiattach": "true"}},
        400,
        "EVS.5400",
        id="volume-bool-string",
    ),
    pytest.param(
        "POST",
        "/v2.1/{p}/cloudvolumes",
        {"volume": {**_VOLUME, "sise": 10}},
        400,
        "EVS.5400",
        id="volume-unknown-field",
    ),
    pytest.param(
        "POST",
        "/v2.1/{p}/cloudvolumes",
        {"volume": _VOLUME, "volumes": []},
        400,
        "EVS.5400",
        id="volume-unknown-top-field",
    ),
    pytest.param(
        "POST",
        "/v2/{p}/cloudvolumes",
        {"volume": {**_VOLUME, "colour": "red"}},
        400,
        "EVS.5400",
        id="legacy-unknown-field",
    ),
    pytest.param(
        "GET", "/v1/{p}/cloudservers/detail?limit=abc", None, 400, "Ecs.0005", id="ecs-query"
    ),
    pytest.param(
        "GET", "/v1/{p}/cloudservers/detail?limit=0", None, 400, "Ecs.0005", id="ecs-limit-0"
    ),
    pytest.param(
        "GET", "/v2/{p}/cloudvolumes/detail?limit=abc", None, 400, "EVS.5400", id="evs-query"
    ),
    pytest.param(
        "GET",
        "/v2/{p}/cloudvolumes/detail?multiattach=maybe",
        None,
        400,
        "EVS.5400",
        id="evs-bool-query",
    ),
    pytest.param(
        "GET", "/v2/{p}/cloudvolumes/detail?marker=" + MISSING, None, 404, "EVS.5404", id="marker"
    ),
]


@pytest.mark.parametrize(("method", "template", "body", "status", "code"), REJECTIONS)
def test_rejections_have_the_contract_format(
    service: RunningService, method: str, template: str, body: Any, status: int, code: str
) -> None:
    path, _, query = template.format(p=service.project_id).partition("?")
    pairs = [tuple(kv.split("=", 1)) for kv in query.split("&")] if query else []
    response = signed_http.request(service, method, path, body=body, query=pairs)  # type: ignore[arg-type]
    signed_http.assert_service_error(response, status, code)


def test_unknown_fields_the_sdk_may_send_are_accepted(
    service: RunningService, evs: sdk.EvsClient
) -> None:
    """Closed bodies must still take every field the SDK's models can send."""
    body = {
        "volume": {
            **_VOLUME,
            "name": sdk.unique("known"),
            "iops": 3000,
            "throughput": 125,
            "tags": {"k": "v"},
            "enterprise_project_id": "0",
        },
        "bssParam": {"chargingMode": "postPaid"},
        "OS-SCH-HNT:scheduler_hints": {"dedicated_storage_id": "ds-1"},
    }
    response = signed_http.request(
        service, "POST", f"/v2.1/{service.project_id}/cloudvolumes", body=body
    )
    assert response.status_code == 202, response.text
    assert sdk.wait_job(evs, response.json()["job_id"]).status == "SUCCESS"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/{p}/nothing-here"),
        ("GET", "/v3/{p}/cloudservers/detail"),
        ("GET", "/"),
        ("PUT", "/v1/{p}/cloudservers/detail"),
        ("PATCH", "/v2/{p}/cloudvolumes/" + MISSING),
        ("GET", "/v1/{p}/batchaction/detachvolumes/" + MISSING),
    ],
)
def test_unknown_path_or_method_is_apig_0101(
    service: RunningService, method: str, path: str
) -> None:
    response = signed_http.request(service, method, path.format(p=service.project_id))
    signed_http.assert_gateway_error(response, 404, "APIG.0101")


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


def test_body_over_one_mib_is_413(service: RunningService) -> None:
    url = f"{service.endpoint}{_batch_detach(service.project_id)}"
    headers = {"Content-Type": "application/json"}
    declared = httpx.post(url, content=b" " * (ONE_MIB + 1), headers=headers, timeout=30)
    assert declared.status_code == 413, declared.text
    signed_http.assert_request_id(declared)
    assert declared.json()["request_id"] == declared.headers["x-request-id"]

    # Without a Content-Length (chunked), the limit holds while the body streams in.
    streamed = httpx.post(url, content=_chunks(ONE_MIB + 1), headers=headers, timeout=30)
    assert streamed.status_code == 413, streamed.text
    signed_http.assert_request_id(streamed)

    # Exactly 1 MiB is within the limit: it reaches the service (and fails its signature).
    at_limit = httpx.post(url, content=b" " * ONE_MIB, headers=headers, timeout=30)
    signed_http.assert_gateway_error(at_limit, 401, "APIG.0301")

    # A signed oversize body is refused the same way.
    signed = signed_http.request(
        service, "POST", _batch_detach(service.project_id), body=b" " * (ONE_MIB + 1)
    )
    assert signed.status_code == 413, signed.text


def test_no_request_was_answered_with_a_500(service: RunningService) -> None:
    """The access log of the session's service: no 5xx for anything the suite sent so far."""
    log = service.log_path.read_text(errors="replace")
    five_hundreds = re.findall(r"^.* 5\d\d [\d.]+ms \[[0-9a-f]{32}\]$", log, re.MULTILINE)
    assert five_hundreds == []
    assert "unhandled error" not in log
