"""The `localecs` command: serve, worker, db upgrade."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from types import FrameType

import click
import uvicorn

from localecs import cli_options as options
from localecs.auth.encryption import EncryptionKeyError
from localecs.bootstrap import Credential
from localecs.cli_iam import iam, identity_options
from localecs.clock import SystemClock
from localecs.config import (
    DEFAULT_PORT,
    BootstrapCredential,
    IdentitySettings,
    Settings,
)
from localecs.control import commands as control_commands
from localecs.drivers.loading import DriverLoadError
from localecs.runtime import build, database_url, identity_service, settle_heap
from localecs.store import schema
from localecs.store.database import make_engine
from localecs.store.uow import Database
from localecs.worker_command import worker

# asyncio's own event loop, not uvloop (uvicorn's choice when it is installed). Once the process is
# saturated, uvloop keeps taking new requests ahead of answering those in hand (MagicStack/uvloop
# issue 123): at 64 connections ShowJob's p99 was 90-180 ms on uvloop and 15-18 ms on asyncio, for
# 2-3 % of its rate (bench/README.md).
EVENT_LOOP = "asyncio"


@click.group()
def main() -> None:
    """localecs: the Huawei Cloud ECS/EVS APIs for servers, disks and attachments."""


@main.command()
@click.option("--host", default="127.0.0.1", envvar="LOCALECS_HOST", show_default=True)
@click.option("--port", default=DEFAULT_PORT, type=int, envvar="LOCALECS_PORT", show_default=True)
@options.data_dir
@options.database_url
@options.driver_latency
@options.latency_profile
@options.driver
@click.option(
    "--workers",
    default=4,
    type=click.IntRange(min=0),
    envvar="LOCALECS_WORKERS",
    show_default=True,
    help="Worker threads in this process (0: API only).",
)
@options.lease_seconds
@options.job_retention
@options.log_level
@options.access_log
@identity_options
def serve(
    host: str,
    port: int,
    data_dir: Path,
    database_url: str | None,
    driver_latency: float,
    latency_profile: str,
    driver: str,
    workers: int,
    lease_seconds: float,
    job_retention: float,
    log_level: str,
    access_log: bool,
    identity: IdentitySettings,
) -> None:
    """Run the API (and, by default, the workers) in this process."""
    _configure_logging(log_level)
    if not access_log:
        # A line per request costs about a tenth of a ShowJob's CPU.
        logging.getLogger("localecs.access").setLevel(logging.WARNING)
    settings = Settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        driver_latency=driver_latency,
        latency_profile=latency_profile,
        driver=driver,
        workers=workers,
        lease_seconds=lease_seconds,
        job_retention_seconds=job_retention,
        bootstrap=BootstrapCredential(
            access_key=os.environ.get("LOCALECS_ACCESS_KEY"),
            secret_key=os.environ.get("LOCALECS_SECRET_KEY"),
            project_id=os.environ.get("LOCALECS_PROJECT_ID"),
            project_name=os.environ.get("LOCALECS_PROJECT_NAME"),
            domain_id=os.environ.get("LOCALECS_DOMAIN_ID"),
            domain_name=os.environ.get("LOCALECS_DOMAIN_NAME"),
        ),
        identity=identity,
    )
    try:
        runtime = build(settings)
    except DriverLoadError as error:
        raise click.BadParameter(str(error), param_hint="--driver") from None
    except EncryptionKeyError as error:
        raise click.ClickException(f"{error} (see docs/identity.md)") from None
    settle_heap()
    runtime.start_workers()
    _print_banner(settings, runtime.credential)
    config = uvicorn.Config(
        runtime.app, host=host, port=port, log_config=None, access_log=False, loop=EVENT_LOOP
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to whatever
    # handler was there before it: make that an orderly exit, so the workers drain below.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    try:
        uvicorn.Server(config).run()
    except SystemExit as stopped:
        # A signal ends the server with 0 (_exit_cleanly). uvicorn exits with 1 when it cannot
        # start (the port is taken): that must reach the shell, not look like a clean stop.
        if stopped.code not in (0, None):
            raise
    finally:
        runtime.stop()


main.add_command(iam)
main.add_command(worker)


@main.group()
def db() -> None:
    """Database schema management."""


@db.command()
@options.data_dir
@options.database_url
def upgrade(data_dir: Path, database_url: str | None) -> None:
    """Bring the schema up to the newest migration."""
    url = _url(data_dir, database_url)
    engine = make_engine(url)
    schema.upgrade(engine)
    settings = Settings(
        data_dir=data_dir,
        identity=IdentitySettings(
            encryption_key=os.environ.get("LOCALECS_ENCRYPTION_KEY") or None,
            encryption_key_file=_env_path("LOCALECS_ENCRYPTION_KEY_FILE"),
        ),
    )
    # Secret keys a store from before encryption holds in plain text are sealed now.
    sealed = identity_service(settings, Database(engine), SystemClock()).seal_plaintext_secrets()
    click.echo(f"schema at revision {schema.current_revision(engine)}")
    if sealed:
        click.echo(f"{sealed} secret key(s) encrypted at rest")
    engine.dispose()


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


main.add_command(control_commands.faults)
main.add_command(control_commands.control)


def _url(data_dir: Path, database_url: str | None) -> str:
    return database_url or database_url_for(data_dir)


def database_url_for(data_dir: Path) -> str:
    return database_url(Settings(data_dir=data_dir))


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


def _print_banner(settings: Settings, credential: Credential) -> None:
    endpoint = f"http://{settings.host}:{settings.port}"
    store = settings.database_url or f"SQLite in {settings.data_dir.resolve()}"
    click.echo(
        f"""
localecs is listening on {endpoint}  (store: {_redacted(store)})

  endpoint     {endpoint}
  account      {credential.domain_name}  (domain id {credential.domain_id})
  access key   {credential.access_key}
  secret key   {credential.secret_key}
  project      {credential.project_name}  (project id {credential.project_id})

Try it with the official SDK (pip install huaweicloudsdkecs):

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkecs.v2 import EcsClient, ListServersDetailsRequest
credentials = BasicCredentials("{credential.access_key}", "{credential.secret_key}", "{credential.project_id}")
client = EcsClient.new_builder().with_credentials(credentials).with_endpoint("{endpoint}").build()
print(client.list_servers_details(ListServersDetailsRequest()))
""",
    )


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (not a URL: a path description)
        return url
