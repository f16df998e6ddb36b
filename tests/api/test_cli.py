"""The command line: the start banner's snippet, `db upgrade`, and the installed entry point."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import model as ecs_model
from sqlalchemy import create_engine, inspect

from tests.conftest import RunningService
from tests.support import sdk

BIN = Path(sys.executable).parent


def _snippet(banner: str) -> str:
    lines = banner.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("from huaweicloudsdkcore"))
    return "\n".join(lines[start : start + 5])


def test_banner_prints_credentials_and_a_snippet_that_works(service: RunningService) -> None:
    banner = service.stdout_path.read_text()
    assert f"http://127.0.0.1:{service.endpoint.rsplit(':', 1)[1]}" in banner
    assert service.access_key in banner
    assert service.secret_key in banner
    assert service.project_id in banner
    snippet = _snippet(banner)
    assert len(snippet.splitlines()) == 5
    result = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60, check=True
    )
    assert '"count"' in result.stdout or "'count'" in result.stdout


def test_the_log_never_holds_the_secret_key(service: RunningService, ecs: sdk.EcsClient) -> None:
    # Some traffic, including a rejected signature, so the log has something to say.
    ecs.list_servers_details(ecs_model.ListServersDetailsRequest())
    wrong = sdk.ecs_client(
        service.endpoint, service.access_key, "not-the-secret", service.project_id
    )
    with pytest.raises(ClientRequestException):
        wrong.list_servers_details(ecs_model.ListServersDetailsRequest())
    log = service.log_path.read_text()
    assert service.access_key in log  # the rejection names the key it was for...
    assert service.secret_key not in log  # ...and never its secret


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "localecs"), "db", "upgrade", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "schema at revision" in result.stdout
    engine = create_engine(f"sqlite:///{tmp_path / 'localecs.db'}")
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"servers", "volumes", "attachments", "jobs", "alembic_version"} <= tables


def test_python_dash_m_matches_the_entry_point() -> None:
    via_module = subprocess.run(
        [sys.executable, "-m", "localecs", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    via_script = subprocess.run(
        [str(BIN / "localecs"), "serve", "--help"], capture_output=True, text=True, check=True
    )
    assert via_module.stdout == via_script.stdout
    for option in ("--host", "--port", "--data-dir", "--database-url", "--driver-latency"):
        assert option in via_module.stdout


def test_db_upgrade_seals_the_plaintext_secrets_of_a_foundation_store(tmp_path: Path) -> None:
    from localecs.store import schema
    from localecs.store.database import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'localecs.db'}")
    schema.upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO projects (id, name, created_at) VALUES ('p1', 'cn-north-4', '2026-01-01')"
        )
        connection.exec_driver_sql(
            "INSERT INTO access_keys (access_key, secret_key, project_id, created_at)"
            " VALUES ('AKFOUNDATION', 'plain-old-secret', 'p1', '2026-01-01')"
        )
    engine.dispose()
    result = subprocess.run(
        [str(BIN / "localecs"), "db", "upgrade", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "1 secret key(s) encrypted at rest" in result.stdout
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    engine = make_engine(f"sqlite:///{tmp_path / 'localecs.db'}")
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT secret_key FROM access_keys").scalar_one()
    engine.dispose()
    assert "plain-old-secret" not in stored


def test_iam_commands_refuse_bad_input_with_a_message(service: RunningService) -> None:
    def iam(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "localecs"), "iam", "--data-dir", str(service.data_dir),
             "--database-url", service.database_url, *args],
            input="weak\n", capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    for args, expected in [
        (("create-user", "9bad"), "IAM.0007"),
        (("create-user", sdk.unique("ok"), "--password-stdin"), "password"),
        (("create-key", "nobody-" + sdk.unique("x")), "IAM.0004"),
        (("grant", "nogroup", "nopolicy"), "--project"),
    ]:
        result = iam(*args)
        assert result.returncode != 0, result.stdout
        assert expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_no_access_log_leaves_requests_out_of_the_log(tmp_path: Path) -> None:
    from tests.conftest import new_credentials, start_service, stop_service

    access_key, secret_key, project_id = new_credentials()
    running = start_service(
        tmp_path / "data",
        access_key=access_key,
        secret_key=secret_key,
        project_id=project_id,
        extra_args=("--no-access-log",),
    )
    try:
        ecs = sdk.ecs_client(running.endpoint, access_key, secret_key, project_id)
        ecs.list_servers_details(ecs_model.ListServersDetailsRequest())
        with pytest.raises(ClientRequestException):  # errors are left out too
            ecs.show_server(ecs_model.ShowServerRequest(server_id="missing"))
    finally:
        stop_service(running)
    # With the access log on, each of these is a line naming its path (tests/api/test_errors.py).
    assert "/cloudservers" not in running.log_path.read_text()


def test_serve_fails_with_a_non_zero_exit_when_its_port_is_taken(tmp_path: Path) -> None:
    """A supervisor or script must see that the service never started (it exited 0 before)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                *(sys.executable, "-m", "localecs", "serve", "--data-dir", str(tmp_path)),
                *("--port", str(port), "--workers", "0"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode != 0
    assert "address already in use" in result.stderr
