"""The benchmark suite runs end to end (quick mode), so it cannot rot between the runs that
matter. Its figures are not judged here: speed targets live in bench/, not in tests."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_quick_run_prints_every_figure(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    if importlib.util.find_spec("moto") is None:
        pytest.skip("moto is not installed (pip install -e '.[dev]')")
    figures_path = tmp_path / "figures.json"
    result = _bench("--quick", "--no-postgres", "--json", str(figures_path))
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(figures_path.read_text())
    for name in ("reference", "reference_raw", "moto", "localecs_sqlite", "e2e_sqlite", "growth"):
        assert name in figures, sorted(figures)
    localecs = figures["localecs_sqlite"]
    # Every request of the pool is valid when it arrives: no error answers, unless the load
    # outran the pool (each batch request is valid once). Each wrk thread replays its own share,
    # so one may start again while the other has not finished: wrk counts what was sent again.
    batch = localecs["batch"]
    assert batch["non_2xx"] <= batch["repeated"], batch
    assert localecs["batch"]["requests"] > 0 and localecs["show_job"]["requests"] > 0
    assert localecs["show_job"]["non_2xx"] == 0, localecs["show_job"]
    assert localecs["workers"]["failed"] == 0 and localecs["workers"]["rate"] > 0
    assert set(figures["e2e_sqlite"]) == {"1", "16"}
    assert figures["rss_idle_mib"] > 0 and figures["growth"]["rss_full_mib"] > 0
    for row in ("batch-detach submissions /s", "show_job /s", "end to end", "growth", "memory"):
        assert row in result.stdout, result.stdout


def test_without_wrk_it_says_how_to_get_it(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = _bench("--quick", env={**os.environ, "PATH": str(empty)})
    assert result.returncode == 2
    assert "apt-get install -y wrk" in result.stderr
