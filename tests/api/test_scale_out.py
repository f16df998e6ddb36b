"""Scale-out on PostgreSQL: two API-only processes and several worker processes as one service,
through a worker's SIGKILL and through database outages."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from localecs.store.tables import Job
from tests.conftest import RunningService, assert_no_server_errors, stop_service
from tests.support import agreement, postgres, sdk
from tests.support.cluster import Cluster, Load
from tests.support.processes import WorkerProcess
from tests.support.tcp_proxy import TcpProxy

SERVERS = 40
DISKS = 10


@pytest.fixture
def database() -> Iterator[str]:
    with postgres.store("postgresql") as url:
        assert url is not None
        yield url


@pytest.fixture
def cluster(tmp_path: Path, database: str) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, database)
    yield cluster
    cluster.close()


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.05)


def _fleet(cluster: Cluster) -> tuple[list[str], list[str]]:
    ecs, evs = cluster.clients()
    servers = sdk.create_servers(ecs, count=SERVERS, name="fleet")
    disks = [sdk.create_volume(evs, shared=True, name=f"fleet-{n}") for n in range(DISKS)]
    return servers, disks


def _running_tasks_of(database_url: str, worker_identity: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return set(
                conn.scalars(
                    select(Job.id).where(
                        Job.status == "RUNNING", Job.lease_owner.like(f"{worker_identity}-%")
                    )
                )
            )
    finally:
        engine.dispose()


def _attempts(database_url: str, task_ids: set[str]) -> dict[str, tuple[str, int]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Job.id, Job.status, Job.attempts).where(Job.id.in_(task_ids))
            ).all()
    finally:
        engine.dispose()
    return {row.id: (row.status, row.attempts) for row in rows}


def _finish_and_check(cluster: Cluster, load: Load, servers: list[str], disks: list[str]) -> None:
    assert load.unexpected == [], load.unexpected[:5]
    jobs = [
        agreement.final_job(cluster.clients(n)[0], job_id, timeout=120)
        for n, job_id in enumerate(load.accepted)
    ]
    agreement.assert_jobs_recorded(jobs)
    agreement.wait_all_final(cluster.database_url, timeout=120)
    agreement.assert_jobs_whole(cluster.database_url)
    ecs, evs = cluster.clients()
    attached = agreement.assert_state_agrees(ecs, evs, cluster.database_url, servers, disks)
    assert attached > 0, "the run left nothing attached: it proves little"
    for worker in cluster.workers:
        assert "Traceback" not in worker.log(), worker.log()


def test_two_apis_and_three_workers_survive_a_sigkill_and_agree(
    tmp_path: Path, database: str
) -> None:
    started = time.monotonic()
    # All five processes start at once on an empty database: one creates the schema and the
    # credential, the others wait for it or find them, and none fails.
    cluster = Cluster(tmp_path, database, upgrade=False)
    try:
        with ThreadPoolExecutor(5) as pool:
            apis = [pool.submit(cluster.start_api) for _ in range(2)]
            # The victim-to-be is slow, so that it is surely in the middle of sub-jobs when killed.
            workers = [pool.submit(cluster.start_worker, driver_latency=1.0)]
            workers += [pool.submit(cluster.start_worker) for _ in range(2)]
            for api in apis:
                api.result()
            victim = workers[0].result()
            for worker in workers[1:]:
                worker.result()
        _sigkill_run(cluster, victim)
    finally:
        cluster.close()
    print(f"multi-process run took {time.monotonic() - started:.1f}s")


def _sigkill_run(cluster: Cluster, victim: WorkerProcess) -> None:
    servers, disks = _fleet(cluster)

    load = Load(cluster, servers, disks, clients=8)
    load.start()
    try:
        _wait_until(lambda: load.count >= 60, 120, "60 accepted jobs")
        # SIGKILL the victim while it holds sub-jobs, so that their leases must expire.
        _wait_until(
            lambda: bool(_running_tasks_of(cluster.database_url, victim.identity)),
            60,
            "the victim holding a sub-job",
        )
        victim.process.kill()
        victim.process.wait(10)
        held = _running_tasks_of(cluster.database_url, victim.identity)  # orphaned, for sure
        assert held, "the victim finished everything it held just before it was killed"
        cluster.start_worker()
        # And an API process, with requests in flight: each job is whole or absent.
        _wait_until(lambda: load.count >= 120, 120, "120 accepted jobs")
        cluster.apis[1].process.kill()
        cluster.apis[1].process.wait(10)
        cluster.start_api()
        _wait_until(lambda: load.count >= 220, 180, "220 accepted jobs")
    finally:
        load.stop()
    assert load.count >= 200

    _finish_and_check(cluster, load, servers, disks)
    print(f"SIGKILL run: {len(load.accepted)} jobs accepted, answers {dict(load.answers)}")
    # The victim's sub-jobs were taken up again by other workers and finished.
    outcomes = _attempts(cluster.database_url, held)
    assert held and len(outcomes) == len(held)
    for status, attempts in outcomes.values():
        assert status in ("SUCCESS", "FAIL") and attempts >= 2, outcomes
    for api in cluster.live_apis():
        stop_service_cleanly(api)


def stop_service_cleanly(api: RunningService, *, outage: bool = False) -> None:
    stop_service(api)
    assert api.process.returncode == 0
    if not outage:
        assert_no_server_errors(api)
        return
    # While the database was away, 503s; never another 5xx, never an unhandled error.
    log = api.log_path.read_text(errors="replace")
    others = re.findall(r"^.* 5(?!03)\d\d [\d.]+ms \[[0-9a-f]{32}\]$", log, re.MULTILINE)
    assert others == [], others
    assert "unhandled error" not in log


def _terminate_backends(database_url: str, seconds: float) -> None:
    """Ends every connection to this test's database (only its own), again and again."""
    name = make_url(database_url).database
    base = postgres.base_url()
    assert base is not None
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with admin.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            time.sleep(0.2)
    finally:
        admin.dispose()


@pytest.mark.parametrize("outage", ["network-cut", "connections-terminated"])
def test_a_database_outage_answers_503_loses_nothing_and_recovers(
    cluster: Cluster, database: str, outage: str
) -> None:
    url = make_url(database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        cluster.start_api(via_proxy)
        for _ in range(2):
            cluster.start_worker(database_url=via_proxy)
        servers, disks = _fleet(cluster)
        load = Load(cluster, servers, disks, clients=4)
        load.start()
        try:
            _wait_until(lambda: load.count >= 30, 120, "30 accepted jobs")
            if outage == "network-cut":
                proxy.cut()
                _wait_until(lambda: load.answers[503] >= 5, 30, "503s while the database is away")
                time.sleep(2)  # stay down a little longer: workers back off, nothing spins
                proxy.restore()
            else:
                _terminate_backends(database, 4)
            before = load.count
            _wait_until(lambda: load.count >= before + 30, 120, "30 more accepted jobs")
        finally:
            load.stop()
        _finish_and_check(cluster, load, servers, disks)
        print(f"{outage}: answers {dict(load.answers)}")
        assert set(load.answers) <= {200, 400, 503}, load.answers
        if outage == "network-cut":
            for api in cluster.apis:
                assert "database unavailable" in api.log_path.read_text()
            for worker in cluster.workers:
                log = worker.log()
                # One clear error per outage from the workers and one from the listener (a
                # stray failure racing the recovery may open a second), each with its recovery
                # line; not one per attempt.
                errors = log.count("the database is unavailable")
                assert 2 <= errors <= 4, log
                assert log.count("the database is reachable again") == errors, log
        for api in cluster.apis:
            stop_service_cleanly(api, outage=True)
    finally:
        proxy.close()


def test_processes_started_while_the_database_is_away_wait_for_it(
    tmp_path: Path, database: str
) -> None:
    url = make_url(database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.cut()
    cluster = Cluster(tmp_path, database)
    try:
        with ThreadPoolExecutor(1) as pool:
            starting = pool.submit(cluster.start_worker, database_url=via_proxy)
            logs = tmp_path / "workers"
            _wait_until(
                lambda: any(
                    "start-up: the database is unavailable" in log.read_text()
                    for log in logs.glob("worker-*.log")
                ),
                30,
                "the worker saying it waits for the database",
            )
            assert not starting.done()  # waiting, not exited (a supervisor would loop it)
            proxy.restore()
            worker = starting.result()
        assert "start-up: the database is reachable again" in worker.log()
        cluster.start_api()
        ecs, _ = cluster.clients()
        assert sdk.create_servers(ecs, count=2, name="late")  # the worker runs the job
    finally:
        cluster.close()
        proxy.close()
