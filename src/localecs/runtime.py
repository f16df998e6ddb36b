"""The composition root: builds the engine, the services, the workers and the app from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import Engine

from localecs.api.app import create_app
from localecs.auth.authenticate import Authenticator
from localecs.bootstrap import Credential, ensure_credential
from localecs.clock import Clock, SystemClock
from localecs.config import Settings
from localecs.domain.latency import LatencySetting, parse_profile
from localecs.drivers.loading import load_driver
from localecs.engine.control import StepLatency, TaskControl
from localecs.engine.handlers import TaskContext
from localecs.engine.worker import WorkerPool, WorkerSettings
from localecs.services.context import Context
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


def build(settings: Settings, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    engine = make_engine(database_url(settings))
    schema.upgrade(engine)
    db = Database(engine)
    credential = ensure_credential(db, clock, settings.bootstrap, settings.region)
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
    context = Context(db, clock, wake, latency)
    app = create_app(context, Authenticator(db, clock), settings.max_body_bytes)
    return Runtime(settings, engine, db, credential, workers, app)
