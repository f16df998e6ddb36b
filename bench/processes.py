"""The servers under test, each a process of its own on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.signer import Credentials


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}"

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process has used so far, from /proc (Linux)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        """Resident set size from /proc (Linux), in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_localecs(
    name: str,
    workdir: Path,
    credentials: Credentials,
    *,
    database_url: str,
    workers: int,
    extra: Sequence[str] = (),
) -> Server:
    env = {
        **os.environ,
        "LOCALECS_ACCESS_KEY": credentials.access_key,
        "LOCALECS_SECRET_KEY": credentials.secret_key,
        "LOCALECS_PROJECT_ID": credentials.project_id,
    }
    args = [
        "-m",
        "localecs",
        "serve",
        "--database-url",
        database_url,
        "--data-dir",
        str(workdir),
        "--driver-latency",
        "0",
        "--workers",
        str(workers),
        # As the reference app is served (uvicorn --no-access-log): no line per request.
        "--no-access-log",
        # The bench measures capacity with one credential; the default per-credential limit
        # (5,000 requests/s) would measure the limit instead (and answer 429).
        "--rate-limit",
        "0",
        *extra,
    ]
    return _start(name, workdir, [sys.executable, *args], env, "/_localecs/health")


def start_reference(workdir: Path, app: str = "app") -> Server:
    """`app` or `raw_app` of bench/reference_app.py."""
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        f"bench.reference_app:{app}",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return _start(
        f"reference-{app}", workdir, args, dict(os.environ), "/jobs/ready", port_flag="--port"
    )


def start_moto(workdir: Path) -> Server:
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1"]
    env = {**os.environ, "MOTO_CALL_RESET_API": "false"}
    return _start("moto", workdir, args, env, "/moto-api/", port_flag="-p")


def _start(
    name: str,
    workdir: Path,
    args: list[str],
    env: dict[str, str],
    ready_path: str,
    *,
    port_flag: str = "--port",
) -> Server:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}-{port}.log"
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*args, port_flag, str(port)], env=env, stdout=log, stderr=log, cwd=workdir
        )
    server = Server(name, process, port, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited at start; see {log_path}:\n{log_path.read_text()[-2000:]}"
            )
        try:
            httpx.get(f"{server.endpoint}{ready_path}", timeout=1)
            return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} did not start within 60 s; see {log_path}")
