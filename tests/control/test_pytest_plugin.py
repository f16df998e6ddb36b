"""The pytest plugin, as a user meets it: a separate test suite (the documented example) run
by pytester in a subprocess, with nothing but the installed package's entry point."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.control.conftest import Controlled
from tests.support import sdk

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pytest_plugin" / "test_retry_loop.py"
GUIDE = ROOT / "docs" / "testing-with-localecs.md"


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    [entry] = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "localecs"]
    assert entry.value == "localecs.pytest_plugin"


def test_importing_the_plugin_starts_nothing_and_imports_little() -> None:
    code = (
        "import sys; import localecs.pytest_plugin; "
        "heavy = {'sqlalchemy', 'fastapi', 'uvicorn', 'localecs.testing', 'huaweicloudsdkecs'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_documented_example_suite_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_retry_loop=EXAMPLE.read_text())

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=300)

    result.assert_outcomes(passed=4)


def test_the_guide_s_complete_example_passes(pytester: pytest.Pytester) -> None:
    [example] = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.DOTALL)[:1]
    pytester.makepyfile(test_guide=example)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=300)

    result.assert_outcomes(passed=3)


def test_a_failing_user_test_is_reported_as_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from huaweicloudsdkecs.v2 import model

        def test_expects_a_server(localecs_ecs):
            listing = localecs_ecs.list_servers_details(model.ListServersDetailsRequest())
            assert listing.servers, "no servers"
        """
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=300)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no servers*"])


def test_the_plugin_can_drive_a_service_you_run_yourself(
    pytester: pytest.Pytester, controlled: Controlled, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = controlled.service
    sdk.create_servers(controlled.ecs, count=1, name="before-the-suite")
    monkeypatch.setenv("LOCALECS_ACCESS_KEY", service.access_key)
    monkeypatch.setenv("LOCALECS_SECRET_KEY", service.secret_key)
    monkeypatch.setenv("LOCALECS_PROJECT_ID", service.project_id)
    pytester.makepyfile(
        """
        from huaweicloudsdkecs.v2 import model

        def test_starts_empty_and_leaves_a_fault(localecs, localecs_ecs):
            listing = localecs_ecs.list_servers_details(model.ListServersDetailsRequest())
            assert listing.servers == []
            localecs.faults.add(action="hang", id="left-by-the-suite")
        """
    )

    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-q", "--localecs-endpoint", service.endpoint, timeout=300
    )

    result.assert_outcomes(passed=1)
    assert [f["id"] for f in controlled.cloud.faults.list()] == ["left-by-the-suite"]
