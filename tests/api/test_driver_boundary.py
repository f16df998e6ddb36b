"""A driver of one's own plugs in with --driver; its failures become sub-job failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningService, new_credentials, start_service, stop_service
from tests.support import sdk
from tests.support.scripted_driver import FAILURE_CODE, FILE_ENV


@pytest.fixture
def scripted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningService, Path]]:
    script = tmp_path / "script.json"
    monkeypatch.setenv(FILE_ENV, str(script))
    access_key, secret_key, project_id = new_credentials()
    running = start_service(
        tmp_path / "data",
        access_key=access_key,
        secret_key=secret_key,
        project_id=project_id,
        extra_args=("--driver", "tests.support.scripted_driver:make"),
    )
    yield running, script
    stop_service(running)


def test_a_failing_sub_job_fails_the_batch_and_the_others_stay_applied(
    scripted: tuple[RunningService, Path],
) -> None:
    service, script = scripted
    args = (service.endpoint, service.access_key, service.secret_key, service.project_id)
    ecs, evs = sdk.ecs_client(*args), sdk.evs_client(*args)
    servers = sdk.create_servers(ecs, count=3, name="scripted")
    volume_id = sdk.create_volume(evs, shared=True)
    assert sdk.batch_attach(ecs, volume_id, servers).status == "SUCCESS"

    script.write_text(json.dumps({"fail": {"detach_volume": [servers[1]]}}))
    job = sdk.batch_detach(ecs, volume_id, servers)

    assert (job.status, job.error_code) == ("FAIL", FAILURE_CODE)
    assert job.fail_reason.startswith("1 of 3 sub-jobs failed")
    by_server = {sub.entities.server_id: sub for sub in job.entities.sub_jobs}
    assert by_server[servers[1]].status == "FAIL"
    assert by_server[servers[1]].error_code == FAILURE_CODE
    assert "scripted failure" in by_server[servers[1]].entities.errorcode_message
    assert {by_server[s].status for s in (servers[0], servers[2])} == {"SUCCESS"}
    # The failed detach leaves its attachment as it was; the others are gone.
    volume = sdk.show_volume(evs, volume_id)
    assert [a.server_id for a in volume.attachments] == [servers[1]]
    assert volume.status == "in-use"
    assert volume_id in sdk.attached_volume_ids(ecs, servers[1])
    assert volume_id not in sdk.attached_volume_ids(ecs, servers[0])


def test_an_unloadable_driver_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "localecs", "serve", "--data-dir", str(tmp_path),
         "--port", "0", "--driver", "no.such.module:make"],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )  # fmt: skip
    assert result.returncode == 2
    assert "--driver" in result.stderr and "no.such.module" in result.stderr
