"""The composition root: builds the engine, the services, the workers and the app from Settings."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import Engine

from localecs.api.app import create_app
from localecs.api.finished_jobs import FinishedJobs
from localecs.auth.authenticate import Authenticator
from localecs.auth.encryption import SecretBox, load_key
from localecs.auth.ratelimit import RateLimiter
from localecs.bootstrap import Credential, ensure_credential
from localecs.clock import Clock, SystemClock
from localecs.config import Settings
from localecs.domain.latency import LatencySetting, parse_profile
from localecs.drivers.loading import load_driver
from localecs.engine.control import StepLatency, TaskControl
from localecs.engine.handlers import TaskContext
from localecs.engine.worker import WorkerPool, WorkerSettings
from localecs.services.context import Context
from localecs.services.identity import IdentityService
from localecs.store import schema
from localecs.store.database import make_engine, sqlite_url
from localecs.store.notify import WorkListener, listens
from localecs.store.outage import wait_until_reachable
from localecs.store.uow import Database

log = logging.getLogger("localecs")


@dataclass
class Workers:
    """A worker pool and, on PostgreSQL, the listener that wakes it when work is submitted."""

    pool: WorkerPool
    listener: WorkListener | None

    def start(self) -> None:
        self.pool.start()
        if self.listener is not None:
            self.listener.start()

    def stop(self, timeout: float) -> bool:
        """Drains the pool; returns whether every task it held finished (see WorkerPool.stop)."""
        if self.listener is not None:
            self.listener.stop(timeout=5)
        return self.pool.stop(timeout)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    db: Database
    credential: Credential
    workers: Workers | None
    app: FastAPI

    def start_workers(self) -> None:
        if self.workers is not None:
            self.workers.start()

    def stop(self) -> None:
        if self.workers is not None:
            self.workers.stop(timeout=self.settings.drain_seconds)
        self.db.close()
        self.engine.dispose()


@dataclass
class WorkerRuntime:
    """A process that only runs workers (`localecs worker`)."""

    settings: Settings
    engine: Engine
    workers: Workers

    def stop(self) -> bool:
        drained = self.workers.stop(timeout=self.settings.drain_seconds)
        self.engine.dispose()
        return drained


def settle_heap() -> None:
    """Puts what start-up allocated (modules, the app, compiled statements) out of the garbage
    collector's reach, once the process is built and before it serves.

    Every full collection otherwise walks all of it, holding the interpreter lock: ~50 ms about
    once a second under load, during which no request moves. That was ShowJob's p99 at 64
    connections (bench/README.md). Nothing frozen is ever freed, which suits objects that live as
    long as the process anyway."""
    gc.collect()
    gc.freeze()


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return sqlite_url(settings.data_dir)


def secret_box(settings: Settings) -> SecretBox:
    key_file = settings.identity.encryption_key_file or settings.data_dir / "secret.key"
    return SecretBox(load_key(settings.identity.encryption_key, key_file))


def identity_service(settings: Settings, db: Database, clock: Clock) -> IdentityService:
    lifetime = timedelta(seconds=settings.identity.token_lifetime_seconds)
    return IdentityService(db, clock, secret_box(settings), lifetime, settings.region)


def build(settings: Settings, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    engine = make_engine(database_url(settings))
    wait_until_reachable(engine, log, "start-up")
    schema.upgrade(engine)
    db = Database(engine)
    identity = identity_service(settings, db, clock)
    credential = ensure_credential(identity, settings.bootstrap, settings.region)
    latency = LatencySetting(parse_profile(settings.latency_profile))
    workers = _workers(settings, engine, db, clock, latency) if settings.workers > 0 else None
    wake = workers.pool.wake if workers is not None else (lambda: None)
    context = Context(db, clock, wake, region=settings.region, latency=latency)
    limiter = RateLimiter(settings.identity.rate_limit, settings.identity.rate_burst)
    authenticator = Authenticator(db, clock, identity.box, limiter)
    # Finished jobs' answers are kept (api/finished_jobs.py). The embedded store has one API
    # process, this one, which sees every reset and import: its kept answers need no check.
    finished_jobs = FinishedJobs(
        enabled=True,
        retention=timedelta(seconds=settings.job_retention_seconds),
        # Several API processes share a server database: each kept answer is checked first.
        verify=not db.inline_reads,
    )
    app = create_app(context, authenticator, settings.max_body_bytes, identity, finished_jobs)
    return Runtime(settings, engine, db, credential, workers, app)


def build_worker(settings: Settings, clock: Clock | None = None) -> WorkerRuntime:
    """Workers without the API. Upgrades the schema like `serve` (a no-op once `localecs db
    upgrade` has run)."""
    engine = make_engine(database_url(settings), pool_size=settings.workers + 2)
    wait_until_reachable(engine, log, "start-up")
    schema.upgrade(engine)
    db = Database(engine)
    latency = LatencySetting(parse_profile(settings.latency_profile))
    workers = _workers(settings, engine, db, clock or SystemClock(), latency)
    return WorkerRuntime(settings, engine, workers)


def _workers(
    settings: Settings, engine: Engine, db: Database, clock: Clock, latency: LatencySetting
) -> Workers:
    steps = StepLatency(settings.driver_latency)
    driver = load_driver(settings.driver, engine, steps)
    pool = WorkerPool(
        db,
        TaskContext(db, driver),
        clock,
        WorkerSettings(
            concurrency=settings.workers,
            lease_seconds=settings.lease_seconds,
            poll_seconds=settings.poll_seconds,
            retention_seconds=settings.job_retention_seconds,
        ),
        TaskControl(db, clock, latency, steps),
    )
    listener = WorkListener(engine, pool.wake) if listens(engine) else None
    return Workers(pool, listener)
