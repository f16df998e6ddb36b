"""`localecs faults|release|reset|state|latency`: the control API from a shell.

These commands talk to a running service over signed HTTP (never to its database), so they
see and change exactly what the service's own processes do, whatever the store.
"""

from __future__ import annotations

import json
from typing import Any

import click

from localecs.control.client import ControlClient, ControlError

_FAULT_OPTIONS = ("operation", "project_id", "server_id", "volume_id")


def _client(ctx: click.Context) -> ControlClient:
    obj: ControlClient = ctx.obj
    return obj


def _connection(function: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--endpoint",
                envvar="LOCALECS_ENDPOINT",
                default="http://127.0.0.1:8080",
                show_default=True,
                help="The running localecs.",
            ),
            click.option(
                "--access-key", envvar="LOCALECS_ACCESS_KEY", required=True, help="Root AK."
            ),
            click.option(
                "--secret-key", envvar="LOCALECS_SECRET_KEY", required=True, help="Root SK."
            ),
        ]
    ):
        function = option(function)
    return function


def _connect(ctx: click.Context, endpoint: str, access_key: str, secret_key: str) -> None:
    ctx.obj = ControlClient(endpoint, access_key, secret_key)


def _run(ctx: click.Context, method: str, path: str, body: Any = None) -> Any:
    try:
        return _client(ctx).call(method, path, body)
    except ControlError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot reach {_client(ctx).endpoint}: {error}") from None


def _print(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


@click.group()
@_connection
@click.pass_context
def faults(ctx: click.Context, endpoint: str, access_key: str, secret_key: str) -> None:
    """Inject faults into a running localecs (docs/faults-and-time.md)."""
    _connect(ctx, endpoint, access_key, secret_key)


@faults.command("add")
@click.option("--action", type=click.Choice(["fail", "delay", "hang", "http"]), required=True)
@click.option("--id", "fault_id", help="An id of your choice (default: fault-N).")
@click.option("--operation", help="e.g. batchDetachVolumes, detachVolume, attachServerVolume.")
@click.option("--project-id")
@click.option("--server-id")
@click.option("--volume-id")
@click.option("--error-code", help="fail: the sub-job's error_code; http: the body's code.")
@click.option("--fail-reason", help="fail: the sub-job's fail_reason.")
@click.option("--status", type=int, help="http: the HTTP status (e.g. 503, 429, 500).")
@click.option("--error-msg", help="http: the body's message.")
@click.option(
    "--delay",
    help='delay: seconds, or JSON such as \'{"distribution": "uniform", "low": 1, "high": 3}\'.',
)
@click.option("--times", type=int, help="Fire at most this many times.")
@click.option("--probability", type=float, help="Fire with this probability (0-1).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.pass_context
def add(ctx: click.Context, /, **options: Any) -> None:
    """Add a fault; prints it as JSON."""
    body = {key: value for key, value in options.items() if value is not None}
    if "fault_id" in body:
        body["id"] = body.pop("fault_id")
    if "delay" in body:
        body["delay"] = _delay(body["delay"])
    _print(_run(ctx, "POST", "/_localecs/faults", body))


def _delay(text: str) -> Any:
    try:
        return {"distribution": "fixed", "seconds": float(text)}
    except ValueError:
        pass
    try:
        return json.loads(text)
    except ValueError:
        raise click.BadParameter("seconds or a JSON object", param_hint="--delay") from None


@faults.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """List the faults with how often each matched and fired."""
    _print(_run(ctx, "GET", "/_localecs/faults"))


@faults.command("clear")
@click.argument("fault_id", required=False)
@click.pass_context
def clear(ctx: click.Context, fault_id: str | None) -> None:
    """Remove one fault, or all of them."""
    if fault_id is None:
        _print(_run(ctx, "DELETE", "/_localecs/faults"))
    else:
        _run(ctx, "DELETE", f"/_localecs/faults/{fault_id}")
        _print({"deleted": 1})


@click.group()
@_connection
@click.pass_context
def control(ctx: click.Context, endpoint: str, access_key: str, secret_key: str) -> None:
    """Time and state of a running localecs: latency, holds, releases, reset, export, import."""
    _connect(ctx, endpoint, access_key, secret_key)


@control.command()
@click.argument(
    "profile", required=False, type=click.Choice(["instant", "default", "realistic", "manual"])
)
@click.pass_context
def latency(ctx: click.Context, profile: str | None) -> None:
    """Show the latency profile, or set it."""
    if profile is None:
        _print(_run(ctx, "GET", "/_localecs/latency"))
    else:
        _print(_run(ctx, "PUT", "/_localecs/latency", {"profile": profile}))


@control.command()
@click.pass_context
def holds(ctx: click.Context) -> None:
    """List the tasks waiting for a release."""
    _print(_run(ctx, "GET", "/_localecs/holds"))


@control.command()
@click.option("--job-id")
@click.option("--operation")
@click.option("--project-id")
@click.option("--server-id")
@click.option("--volume-id")
@click.option("--limit", type=int, help="Release only the oldest N held tasks.")
@click.pass_context
def release(ctx: click.Context, /, **options: Any) -> None:
    """Let held tasks pass their current hold."""
    body = {key: value for key, value in options.items() if value is not None}
    _print(_run(ctx, "POST", "/_localecs/release", body))


@control.command()
@click.pass_context
def reset(ctx: click.Context) -> None:
    """Empty every project (credentials stay) and clear faults, holds and the profile."""
    _print(_run(ctx, "POST", "/_localecs/reset"))


@control.command("export")
@click.argument("project_id")
@click.pass_context
def export_(ctx: click.Context, project_id: str) -> None:
    """Print a project's state as JSON."""
    _print(_run(ctx, "GET", f"/_localecs/projects/{project_id}/state"))


@control.command("import")
@click.argument("project_id")
@click.argument("document", type=click.File("r"), default="-")
@click.pass_context
def import_(ctx: click.Context, project_id: str, document: Any) -> None:
    """Replace a project's state with a document (a file, or - for stdin)."""
    try:
        data = json.load(document)
    except ValueError:
        raise click.BadParameter("not JSON", param_hint="DOCUMENT") from None
    _print(_run(ctx, "PUT", f"/_localecs/projects/{project_id}/state", data))


__all__ = ["control", "faults"]
