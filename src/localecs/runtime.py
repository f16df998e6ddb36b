"""The composition root: builds the engine, the services, the workers and the app from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import Engine

from localecs.api.app import create_app
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
from localecs.store.uow import Database


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    db: Database
    credential: Credential
    workers: WorkerPool | None
    app: FastAPI

    def start_workers(self) -> None:
        if self.workers is not None:
            self.workers.start()

    def stop(self) -> None:
        if self.workers is not None:
            self.workers.stop(timeout=30)
        self.engine.dispose()


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
    schema.upgrade(engine)
    db = Database(engine)
    identity = identity_service(settings, db, clock)
    credential = ensure_credential(identity, settings.bootstrap, settings.region)
    latency = LatencySetting(parse_profile(settings.latency_profile))
    workers = None
    if settings.workers > 0:
        steps = StepLatency(settings.driver_latency)
        driver = load_driver(settings.driver, engine, steps)
        workers = WorkerPool(
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
    wake = workers.wake if workers is not None else (lambda: None)
    context = Context(db, clock, wake, region=settings.region, latency=latency)
    limiter = RateLimiter(settings.identity.rate_limit, settings.identity.rate_burst)
    authenticator = Authenticator(db, clock, identity.box, limiter)
    app = create_app(context, authenticator, settings.max_body_bytes, identity)
    return Runtime(settings, engine, db, credential, workers, app)
