"""The benchmark: localecs (SQLite and PostgreSQL) beside a bare ASGI app and moto, one table.

    python -m bench [--quick] [--postgres-url URL] [--json PATH]

Every figure is measured in the same run as the references it is compared with, so the ratios
hold on a busy machine even when the absolute figures do not.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import latency, moto_peer, processes, seed, workers, wrk
from bench.report import render
from bench.signer import Credentials, raw_request

POSTGRES_ENV = ("LOCALECS_BENCH_POSTGRES_URL", "LOCALECS_TEST_POSTGRES_URL")


@dataclass(frozen=True)
class Sizes:
    seconds: float  # each wrk run
    connections: int
    batch_pool_per_second: int  # batch requests signed per second of load (each used once)
    moto_volumes: int
    e2e_rounds: int
    drain_seconds: float
    latency_seconds: float
    fleet_servers: int
    fleet_volumes: int
    fleet_jobs: int
    scale_out_jobs: int  # batch jobs of 8 sub-jobs per worker-process count (PostgreSQL)


FULL = Sizes(10, 64, 1500, 300, 50, 10, 5, 100_000, 100_000, 1_000_000, 100)
QUICK = Sizes(1, 16, 400, 20, 3, 1, 1, 200, 200, 2_000, 10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in seconds")
    parser.add_argument(
        "--postgres-url",
        help="PostgreSQL server for the PostgreSQL figures (a database is created and dropped); "
        f"default from {' or '.join(POSTGRES_ENV)}",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL figures")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--workdir", type=Path, help="keep stores and logs here")
    args = parser.parse_args(argv)
    try:
        wrk.require_wrk()
    except wrk.WrkMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    sizes = QUICK if args.quick else FULL
    postgres_url = None if args.no_postgres else args.postgres_url or _postgres_from_env()
    with _workdir(args.workdir) as workdir:
        figures = Bench(sizes, workdir, postgres_url).run()
    print(render(figures, sizes.connections))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True))
    return 0


class Bench:
    def __init__(self, sizes: Sizes, workdir: Path, postgres_url: str | None) -> None:
        self.sizes = sizes
        self.workdir = workdir
        self.postgres_url = postgres_url
        self.figures: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        self._log("reference app")
        self.reference()
        self._log("moto")
        self.moto()
        self._log("localecs on SQLite: load")
        url = seed_sqlite_url(self.workdir / "sqlite-load")
        self.localecs_load("sqlite", url, self.workdir / "sqlite-load")
        if self.postgres_url:
            self._log("localecs on PostgreSQL: load")
            with postgres_database(self.postgres_url) as pg_url:
                self.localecs_load("postgresql", pg_url, self.workdir / "pg-load")
            with postgres_database(self.postgres_url) as pg_url:
                self.figures["pg_scale_out"] = {
                    str(k): v
                    for k, v in workers.postgres_scale_out(
                        pg_url, self.sizes.scale_out_jobs
                    ).items()
                }
        self._log("end-to-end latency")
        self.end_to_end("sqlite", seed_sqlite_url(self.workdir / "sqlite-e2e"), "sqlite-e2e")
        if self.postgres_url:
            with postgres_database(self.postgres_url) as pg_url:
                self.end_to_end("postgresql", pg_url, "pg-e2e")
        self._log("growth")
        self.growth()
        return self.figures

    # 1: rates against the reference and the peer

    def reference(self) -> None:
        # "reference": the bare Starlette app the targets are set against; "reference_raw": a
        # bare ASGI callable, the floor of the server stack itself.
        for name, app in (("reference", "app"), ("reference_raw", "raw_app")):
            server = processes.start_reference(self.workdir / "reference", app)
            try:
                body = {"serverinfo": [secrets.token_hex(16) for _ in range(seed.BATCH)]}
                post = [raw_request(server.host, "POST", "/jobs", body=body)]
                get = [raw_request(server.host, "GET", f"/jobs/{secrets.token_hex(16)}")]
                self.figures[name] = {
                    "post": self._load(server, post),
                    "get": self._load(server, get),
                    "rss_mib": server.rss_mib(),
                }
            finally:
                server.stop()

    def moto(self) -> None:
        server = processes.start_moto(self.workdir / "moto")
        try:
            pools = moto_peer.prepare(server.endpoint, server.host, self.sizes.moto_volumes)
            self.figures["moto"] = {
                "detach": self._load(server, pools.attach_detach),
                "describe": self._load(server, pools.describe),
                "rss_mib": server.rss_mib(),
            }
        finally:
            server.stop()

    def localecs_load(self, store: str, url: str, workdir: Path) -> None:
        credentials = seed.new_credentials()
        engine = seed.open_store(url, credentials, workdir)
        try:
            probe = seed.seed_probe(engine, credentials.project_id)
            batch_requests = max(2, int(self.sizes.batch_pool_per_second * self.sizes.seconds))
            pool = seed.seed_batch_pool(engine, credentials.project_id, batch_requests)
            seed.analyze(engine)
            # API only: the submissions are measured without workers competing for the CPU;
            # the queue they leave is then drained by a worker process (figure 3).
            server = processes.start_localecs(
                "api", workdir, credentials, database_url=url, workers=0
            )
            try:
                host = server.host
                project = credentials.project_id
                show = [
                    raw_request(
                        host, "GET", f"/v1/{project}/jobs/{probe.job_id}", credentials=credentials
                    )
                ]
                show_job = self._load(server, show)
                # The same with wrk on one thread: on two cores, two wrk threads take CPU from
                # the server, and its tail latency shows that sharing as much as the server.
                show_job_one = self._load(server, show, threads=1)
                batches = []
                for request in pool:
                    path, body = latency.batch_path(project, request)
                    batches.append(
                        raw_request(host, "POST", path, body=body, credentials=credentials)
                    )
                batch = self._load(server, batches)
            finally:
                server.stop()
            result: dict[str, Any] = {
                "show_job": show_job,
                "show_job_one_thread": show_job_one,
                "batch": {**batch, "pool": len(pool)},
            }
            if store == "sqlite":
                result["workers"] = workers.drain_rate(
                    engine, workdir, credentials, url, seconds=self.sizes.drain_seconds
                )
            self.figures[f"localecs_{store}"] = result
        finally:
            engine.dispose()

    def _load(
        self, server: processes.Server, pool: list[bytes], threads: int = 2
    ) -> dict[str, Any]:
        """wrk's figures, with the server's CPU time per answered request: unlike the rate,
        it hardly moves with what else the machine is doing."""
        before = server.cpu_seconds()
        result = wrk.run(
            server.endpoint,
            pool,
            seconds=self.sizes.seconds,
            connections=self.sizes.connections,
            threads=threads,
        )
        used = server.cpu_seconds() - before
        return {**result.as_dict(), "cpu_us": 1e6 * used / max(result.requests, 1)}

    # 2: end to end, and the idle size (5)

    def end_to_end(self, store: str, url: str, name: str) -> None:
        credentials = seed.new_credentials()
        engine = seed.open_store(url, credentials, self.workdir / name)
        cycles = seed.seed_e2e(engine, credentials.project_id, [1, seed.BATCH])
        seed.analyze(engine)
        engine.dispose()
        server = processes.start_localecs(
            "e2e", self.workdir / name, credentials, database_url=url, workers=4
        )
        try:
            time.sleep(0.5)
            idle = server.rss_mib()
            found = {}
            for cycle in cycles:
                result = latency.end_to_end(
                    server.endpoint, credentials, cycle, self.sizes.e2e_rounds
                )
                found[str(len(cycle.server_ids))] = asdict(result)
        finally:
            server.stop()
        self.figures[f"e2e_{store}"] = found
        if store == "sqlite":
            self.figures["rss_idle_mib"] = idle

    # 4: growth, and the size of a full server (5)

    def growth(self) -> None:
        figures: dict[str, Any] = {}
        for label, fleet in (("empty", False), ("full", True)):
            workdir = self.workdir / f"growth-{label}"
            url = seed_sqlite_url(workdir)
            credentials = seed.new_credentials()
            engine = seed.open_store(url, credentials, workdir)
            probe = seed.seed_probe(engine, credentials.project_id)
            if fleet:
                started = time.perf_counter()
                seed.seed_fleet(
                    engine,
                    credentials.project_id,
                    self.sizes.fleet_servers,
                    self.sizes.fleet_volumes,
                    self.sizes.fleet_jobs,
                )
                figures["seed_seconds"] = time.perf_counter() - started
            engine.dispose()
            server = processes.start_localecs(
                "growth", workdir, credentials, database_url=url, workers=4
            )
            try:
                figures[label] = self._probe_latencies(server, credentials, probe)
                figures[f"rss_{label}_mib"] = server.rss_mib()
            finally:
                server.stop()
        self.figures["growth"] = figures

    def _probe_latencies(
        self, server: processes.Server, credentials: Credentials, probe: seed.Probe
    ) -> dict[str, float]:
        project = credentials.project_id
        calls = {
            "show_job": (f"/v1/{project}/jobs/{probe.job_id}", None),
            "block_devices": (f"/v1/{project}/cloudservers/{probe.server_id}/block_device", None),
            "list_volumes": (f"/v2/{project}/cloudvolumes/detail", [("limit", "100")]),
        }
        found = {}
        for name, (path, query) in calls.items():
            request = raw_request(server.host, "GET", path, query=query, credentials=credentials)
            result = wrk.run(
                server.endpoint,
                [request],
                seconds=self.sizes.latency_seconds,
                connections=1,
                threads=1,
            )
            if result.non_2xx:
                raise RuntimeError(f"{name} answered {result.non_2xx} errors")
            found[name] = result.p50_ms
        return found

    def _log(self, phase: str) -> None:
        print(f"[bench] {time.strftime('%H:%M:%S')} {phase}", file=sys.stderr, flush=True)


def seed_sqlite_url(workdir: Path) -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{workdir / 'localecs.db'}"


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    name = f"localecs_bench_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="localecs-bench-") as tmp:
        yield Path(tmp)


def _postgres_from_env() -> str | None:
    import os

    for name in POSTGRES_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None
