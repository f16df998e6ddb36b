"""State: reset, export and import through the control API; and who may use that API."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.exceptions.exceptions import (
    ClientRequestException,
    ServerResponseException,
)
from huaweicloudsdkecs.v2 import model as ecs_model
from huaweicloudsdkevs.v2 import model as evs_model

from localecs.auth.authenticate import Principal
from localecs.config import Settings
from localecs.runtime import build
from localecs.testing import ControlError
from tests.control.conftest import Controlled
from tests.support import sdk, signed_http


def _listings(c: Controlled) -> dict[str, Any]:
    """What a user sees: servers, disks, each server's block devices, and the jobs."""
    servers = c.ecs.list_servers_details(ecs_model.ListServersDetailsRequest()).servers
    volumes = c.evs.list_volumes(evs_model.ListVolumesRequest()).volumes
    disks = [v.to_dict() for v in volumes]
    for disk in disks:  # the API does not define the order of a disk's attachments
        disk["attachments"].sort(key=lambda a: a["server_id"])
    return {
        "servers": sorted((s.to_dict() for s in servers), key=lambda s: s["id"]),
        "volumes": sorted(disks, key=lambda v: v["id"]),
        "block_devices": {s.id: sdk.block_devices(c.ecs, s.id).to_json_object() for s in servers},
    }


def _scenario(c: Controlled) -> tuple[str, list[str], str]:
    servers = sdk.create_servers(c.ecs, count=3, name=sdk.unique("st"))
    volume_id = sdk.create_volume(c.evs, shared=True, name=sdk.unique("st"))
    sdk.create_volume(c.evs, name=sdk.unique("spare"))
    attach = sdk.batch_attach(c.ecs, volume_id, servers)
    sdk.stop_servers(c.ecs, servers[2:])
    return volume_id, servers, attach.job_id


def test_export_then_import_reproduces_the_same_listings(controlled: Controlled) -> None:
    c = controlled
    volume_id, servers, job_id = _scenario(c)
    before = _listings(c)
    document = c.cloud.export()
    assert document["format"] == "localecs-state/1"
    assert {len(document[k]) for k in ("servers",)} == {3}

    c.cloud.reset()
    assert _listings(c)["servers"] == []
    assert c.cloud.import_(json.loads(json.dumps(document)))["imported"]["servers"] == 3

    assert _listings(c) == before
    job = c.ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id))
    assert (job.status, job.entities.sub_jobs_total) == ("SUCCESS", 3)
    # The imported state works like any other: detach from all three.
    assert sdk.batch_detach(c.ecs, volume_id, servers).status == "SUCCESS"
    assert sdk.show_volume(c.evs, volume_id).status == "available"


def test_import_replaces_what_the_project_had(controlled: Controlled) -> None:
    c = controlled
    empty = c.cloud.export()
    sdk.create_servers(c.ecs, count=2, name=sdk.unique("gone"))
    c.cloud.import_(empty)
    assert _listings(c)["servers"] == []


def _show_job_error(c: Controlled, job_id: str) -> str:
    try:
        c.ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id))
    except ClientRequestException as error:
        return f"{error.status_code} {error.error_code}"
    return "found"


@pytest.mark.parametrize("replace", ["reset", "import"])
def test_a_finished_job_is_gone_after_a_reset_or_an_import(
    controlled: Controlled, replace: str
) -> None:
    """A finished job's answer is kept in memory (api/finished_jobs.py): replacing the state
    must drop it, so the job is then unknown like any other."""
    c = controlled
    empty = c.cloud.export()
    _, _, job_id = _scenario(c)
    for _ in range(2):  # the second answer comes from memory
        assert c.ecs.show_job(ecs_model.ShowJobRequest(job_id=job_id)).status == "SUCCESS"
    if replace == "reset":
        c.cloud.reset()
    else:
        c.cloud.import_(empty)
    assert _show_job_error(c, job_id) == "400 Common.0011"


def _bad(document: dict[str, Any], change: Any) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    change(broken)
    return broken


BAD_DOCUMENTS = {
    "no format": lambda d: d.clear() or d.update({"format": None}),
    "unknown format": lambda d: d.update({"format": "other/9"}),
    "unknown top-level field": lambda d: d.update({"extra": []}),
    "servers not a list": lambda d: d.update({"servers": {}}),
    "unknown column": lambda d: d["servers"][0].update({"colour": "red"}),
    "wrong type": lambda d: d["volumes"][0].update({"size": "ten"}),
    "missing required": lambda d: d["servers"][0].update({"name": None}),
    "naive time": lambda d: d["servers"][0].update({"created_at": "2026-01-01T00:00:00"}),
    "bad time": lambda d: d["servers"][0].update({"created_at": "yesterday"}),
    "dangling attachment": lambda d: d["attachments"][0].update({"server_id": "nope"}),
    "attachment in flight": lambda d: d["attachments"][0].update({"state": "detaching"}),
    "status disagrees": lambda d: [v.update({"status": "available"}) for v in d["volumes"]],
    "server in flight": lambda d: d["servers"][0].update({"task_state": "deleting"}),
    "duplicate id": lambda d: d["servers"].append(copy.deepcopy(d["servers"][0])),
    "job not finished": lambda d: d["jobs"][0].update({"status": "RUNNING"}),
    "orphan sub-job": lambda d: d["jobs"].remove(d["jobs"][0]),
}


@pytest.mark.parametrize("case", list(BAD_DOCUMENTS))
def test_a_bad_import_is_refused_and_changes_nothing(controlled: Controlled, case: str) -> None:
    c = controlled
    _scenario(c)
    document = c.cloud.export()
    before = _listings(c)
    with pytest.raises(ControlError) as raised:
        c.cloud.import_(_bad(document, BAD_DOCUMENTS[case]))
    assert (raised.value.status, raised.value.code) == (400, "LocalEcs.0005"), raised.value
    assert raised.value.request_id
    assert _listings(c) == before


def test_import_and_export_of_an_unknown_project_are_404(controlled: Controlled) -> None:
    c = controlled
    calls: list[Callable[[], object]] = [
        lambda: c.cloud.export("0" * 32),
        lambda: c.cloud.import_(c.cloud.export(), "0" * 32),
    ]
    for call in calls:
        with pytest.raises(ControlError) as raised:
            call()
        assert (raised.value.status, raised.value.code) == (404, "LocalEcs.0404")


def test_reset_keeps_the_credentials_and_clears_faults(controlled: Controlled) -> None:
    c = controlled
    sdk.create_servers(c.ecs, count=1, name=sdk.unique("r"))
    c.cloud.faults.add(action="http", operation="showServer", status=500)
    c.cloud.reset()
    assert c.cloud.faults.list() == []
    assert _listings(c)["servers"] == []  # still signed in with the same key


BAD_FAULTS: list[Any] = [
    {},
    {"action": "explode"},
    {"action": "fail", "operation": "teleportServer"},
    {"action": "fail", "operation": "showServer"},  # not something that runs as a job
    {"action": "fail", "probability": 1.5},
    {"action": "fail", "times": 0},
    {"action": "fail", "seed": -1},
    {"action": "fail", "status": 503},
    {"action": "delay"},
    {"action": "delay", "delay": {"distribution": "normal", "mean": 1}},
    {"action": "delay", "delay": {"seconds": 7200}},
    {"action": "http"},
    {"action": "http", "status": 200},
    {"action": "http", "status": "503"},
    {"action": "hang", "server_id": ""},
    {"action": "hang", "id": "has space"},
    {"action": "hang", "colour": "red"},
    [],
]


@pytest.mark.parametrize("body", BAD_FAULTS, ids=[json.dumps(b) for b in BAD_FAULTS])
def test_a_bad_fault_is_refused(controlled: Controlled, body: Any) -> None:
    response = signed_http.request(controlled.service, "POST", "/_localecs/faults", body=body)
    message = signed_http.assert_service_error(response, 400, "LocalEcs.0005")
    assert message.startswith(("Invalid parameter", "The request body"))
    assert controlled.cloud.faults.list() == []


def test_other_bad_control_calls(controlled: Controlled) -> None:
    service = controlled.service
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/_localecs/faults", b"{not json", 400, "LocalEcs.0005"),
        ("GET", "/_localecs/faults/nope", None, 404, "LocalEcs.0404"),
        ("DELETE", "/_localecs/faults/nope", None, 404, "LocalEcs.0404"),
        ("POST", "/_localecs/release", {"limit": 0}, 400, "LocalEcs.0005"),
        ("POST", "/_localecs/release", {"server": "x"}, 400, "LocalEcs.0005"),
        ("PUT", f"/_localecs/projects/{service.project_id}/state", [], 400, "LocalEcs.0005"),
    ]
    for method, path, body, status, code in cases:
        response = signed_http.request(service, method, path, body=body)
        signed_http.assert_service_error(response, status, code)
    controlled.cloud.faults.add(action="hang", id="twice")
    response = signed_http.request(
        service, "POST", "/_localecs/faults", body={"action": "hang", "id": "twice"}
    )
    signed_http.assert_service_error(response, 409, "LocalEcs.0409")


def test_the_control_api_needs_a_valid_signature(controlled: Controlled) -> None:
    service = controlled.service
    unsigned = signed_http.request(service, "POST", "/_localecs/reset", sign=False)
    signed_http.assert_gateway_error(unsigned, 401, "APIG.0301")
    forged = signed_http.request(
        service, "GET", "/_localecs/faults", secret_key="not-the-secret-key-at-all"
    )
    signed_http.assert_gateway_error(forged, 401, "APIG.0301")


def test_the_control_api_is_refused_to_a_credential_that_is_not_root(tmp_path: Path) -> None:
    runtime = build(Settings(data_dir=tmp_path, workers=0))

    class NotRoot:
        def authenticate(self, _request: Any) -> Principal:
            return Principal("AKUSER", runtime.credential.project_id, is_root=False)

    runtime.app.state.authenticator = NotRoot()

    async def call(method: str, path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localecs") as client:
            return await client.request(method, path)

    try:
        for method, path in (("GET", "/_localecs/faults"), ("POST", "/_localecs/reset")):
            response = asyncio.run(call(method, path))
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "Pdp.0001"
            assert response.headers["x-request-id"]
    finally:
        runtime.stop()


def test_the_faults_command_adds_lists_and_clears(controlled: Controlled) -> None:
    service = controlled.service
    env = {
        **os.environ,
        "LOCALECS_ENDPOINT": service.endpoint,
        "LOCALECS_ACCESS_KEY": service.access_key,
        "LOCALECS_SECRET_KEY": service.secret_key,
    }

    def localecs(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "localecs", *args],
            env=env, capture_output=True, text=True, timeout=60, check=check,
        )  # fmt: skip

    added = json.loads(
        localecs(
            "faults", "add", "--action", "fail", "--operation", "detachVolume",
            "--error-code", "Ecs.1000", "--probability", "0.25", "--seed", "9",
        ).stdout
    )  # fmt: skip
    assert (added["id"], added["probability"], added["seed"]) == ("fault-1", 0.25, 9)
    delayed = json.loads(localecs("faults", "add", "--action", "delay", "--delay", "2.5").stdout)
    assert delayed["delay"] == {"distribution": "fixed", "seconds": 2.5}
    listed = json.loads(localecs("faults", "list").stdout)["faults"]
    assert [f["id"] for f in listed] == ["fault-1", "fault-2"]
    assert json.loads(localecs("faults", "clear", "fault-1").stdout) == {"deleted": 1}
    assert json.loads(localecs("faults", "clear").stdout) == {"deleted": 1}
    refused = localecs("faults", "add", "--action", "http", "--status", "200", check=False)
    assert refused.returncode == 1
    assert "400 LocalEcs.0005" in refused.stderr
    assert service.secret_key not in refused.stderr


def test_the_control_command_exports_resets_imports_and_releases(
    controlled: Controlled, tmp_path: Path
) -> None:
    c = controlled
    service = c.service
    env = {
        **os.environ,
        "LOCALECS_ENDPOINT": service.endpoint,
        "LOCALECS_ACCESS_KEY": service.access_key,
        "LOCALECS_SECRET_KEY": service.secret_key,
    }

    def localecs(*args: str) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "localecs", "control", *args],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return json.loads(result.stdout)

    [server] = sdk.create_servers(c.ecs, count=1, name=sdk.unique("cli"))
    saved = tmp_path / "state.json"
    saved.write_text(json.dumps(localecs("export", service.project_id)))
    assert localecs("reset") == {"status": "reset"}
    assert _listings(c)["servers"] == []
    assert localecs("import", service.project_id, str(saved))["imported"]["servers"] == 1
    assert sdk.show_server(c.ecs, server).status == "ACTIVE"

    assert localecs("latency", "manual")["profile"] == "manual"
    job_id = c.ecs.batch_stop_servers(
        ecs_model.BatchStopServersRequest(
            body=ecs_model.BatchStopServersRequestBody(
                ecs_model.BatchStopServersOption(servers=[ecs_model.ServerId(id=server)])
            )
        )
    ).job_id
    [held] = localecs("holds")["held"]
    assert (held["job_id"], held["hold"], held["job_type"]) == (job_id, "start", "stopServer")
    assert len(localecs("release", "--job-id", job_id)["released"]) == 1
    c.cloud.wait_held(job_id=job_id, hold="run")
    assert len(localecs("release", "--operation", "batchStopServers")["released"]) == 1
    assert sdk.wait_job(c.ecs, job_id).status == "SUCCESS"
    assert sdk.show_server(c.ecs, server).status == "SHUTOFF"


def test_http_faults_tell_start_from_stop_on_their_shared_path(controlled: Controlled) -> None:
    c = controlled
    [server] = sdk.create_servers(c.ecs, count=1, name=sdk.unique("pw"))
    c.cloud.faults.add(action="http", operation="batchStartServers", status=503)
    assert sdk.stop_servers(c.ecs, [server]).status == "SUCCESS"
    with pytest.raises(ServerResponseException) as raised:
        sdk.start_servers(c.ecs, [server])
    assert raised.value.error_code == "Common.1503"
    assert sdk.show_server(c.ecs, server).status == "SHUTOFF"
