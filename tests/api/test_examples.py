"""The documented examples run as written against a live localecs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import RunningService

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_batch_detach_story_runs(service: RunningService) -> None:
    env = {
        **os.environ,
        "LOCALECS_ENDPOINT": service.endpoint,
        "LOCALECS_ACCESS_KEY": service.access_key,
        "LOCALECS_SECRET_KEY": service.secret_key,
        "LOCALECS_PROJECT_ID": service.project_id,
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "batch_detach_story.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert "batch detach: SUCCESS" in lines
    assert sum(line.startswith("  sub-job") and line.endswith("SUCCESS") for line in lines) == 2
    assert lines[-1].split()[2] == "in-use"


def test_restricted_user_example_runs(service: RunningService) -> None:
    env = {
        **os.environ,
        "LOCALECS_ENDPOINT": service.endpoint,
        "LOCALECS_ACCESS_KEY": service.access_key,
        "LOCALECS_SECRET_KEY": service.secret_key,
        "LOCALECS_PROJECT_ID": service.project_id,
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "restricted_user.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[-2:] == ["detach from team=b: 403 Pdp.0001", "detach from team=a: SUCCESS"]
