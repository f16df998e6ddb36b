"""`localecs iam ...`: identity management on the database directly, through the same service
code as the IAM API, acting as the root of an account (the first one unless --account)."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from localecs.auth.authenticate import Principal
from localecs.auth.encryption import EncryptionKeyError
from localecs.clock import SystemClock
from localecs.config import DEFAULT_DATA_DIR, IdentitySettings, Settings
from localecs.domain.identity import check_user_name
from localecs.errors import ApiError
from localecs.runtime import database_url, identity_service
from localecs.services.identity import IdentityService, Lookup, account_root
from localecs.store import schema
from localecs.store.database import make_engine
from localecs.store.uow import Database

F = TypeVar("F", bound=Callable[..., Any])


def identity_options(command: F) -> F:
    """The identity settings `serve` takes, gathered into one ``identity`` argument."""

    @click.option(
        "--token-lifetime",
        default=86400.0,
        type=click.FloatRange(min=1),
        envvar="LOCALECS_TOKEN_LIFETIME",
        show_default=True,
        help="Seconds an IAM token stays valid.",
    )
    @click.option(
        "--rate-limit",
        default=5000.0,
        type=click.FloatRange(min=0),
        envvar="LOCALECS_RATE_LIMIT",
        show_default=True,
        help="Requests per second per credential and process (0: no limit).",
    )
    @click.option(
        "--rate-burst",
        default=10000.0,
        type=click.FloatRange(min=1),
        envvar="LOCALECS_RATE_BURST",
        show_default=True,
        help="Requests a credential may send at once above its rate.",
    )
    @_key_file
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        token_lifetime: float,
        rate_limit: float,
        rate_burst: float,
        encryption_key_file: Path | None,
        **kwargs: Any,
    ) -> Any:
        kwargs["identity"] = IdentitySettings(
            token_lifetime_seconds=token_lifetime,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
            # Only from the environment: a key on the command line shows in `ps`.
            encryption_key=os.environ.get("LOCALECS_ENCRYPTION_KEY") or None,
            encryption_key_file=encryption_key_file,
        )
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


_key_file = click.option(
    "--encryption-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="LOCALECS_ENCRYPTION_KEY_FILE",
    help="Key that seals secret keys at rest (default: <data-dir>/secret.key; "
    "LOCALECS_ENCRYPTION_KEY, if set, wins).",
)


class _Session:
    def __init__(self, service: IdentityService, account: str | None) -> None:
        self.service = service
        self._account = account

    @functools.cached_property
    def root(self) -> Principal:
        return account_root(self.service, self._account)

    @property
    def lookup(self) -> Lookup:
        return Lookup(self.service, self.root)


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    envvar="LOCALECS_DATA_DIR",
    show_default=True,
)
@click.option("--database-url", envvar="LOCALECS_DATABASE_URL")
@_key_file
@click.option("--account", help="The account (name or id) to act in; default: the first one.")
@click.pass_context
def iam(
    ctx: click.Context,
    data_dir: Path,
    database_url: str | None,
    encryption_key_file: Path | None,
    account: str | None,
) -> None:
    """Accounts, projects, users, groups, access keys and policies, on the store directly."""
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        identity=IdentitySettings(
            encryption_key=os.environ.get("LOCALECS_ENCRYPTION_KEY") or None,
            encryption_key_file=encryption_key_file,
        ),
    )
    ctx.obj = _open(ctx, settings, account)


def _open(ctx: click.Context, settings: Settings, account: str | None) -> _Session:
    engine = make_engine(database_url(settings))
    ctx.call_on_close(engine.dispose)
    schema.upgrade(engine)
    try:
        service = identity_service(settings, Database(engine), SystemClock())
    except EncryptionKeyError as error:
        raise click.ClickException(str(error)) from None
    return _Session(service, account)


pass_session = click.make_pass_decorator(_Session)


@contextmanager
def _answers() -> Iterator[None]:
    """Service refusals as a one-line error and exit status 1, not a traceback."""
    try:
        yield
    except ApiError as error:
        raise click.ClickException(f"{error.message} ({error.code})") from None
    except EncryptionKeyError as error:
        raise click.ClickException(str(error)) from None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


# Accounts and projects


@iam.command("create-account")
@click.argument("name")
@click.option("--domain-id", help="The account id (default: generated).")
@click.option("--project", "project_name", required=True, help="Name of its first project.")
@pass_session
def create_account(session: _Session, name: str, domain_id: str | None, project_name: str) -> None:
    """A new account with its root, a first project and a root access key (printed once)."""
    with _answers():
        account, root = session.service.create_account(name, domain_id)
        caller = Principal("", "", True, (), account.id, root.name, root.id)
        project = session.service.create_project(caller, project_name)
        created = session.service.create_access_key(caller, root.id, "root key")
    click.echo(f"domain id    {account.id}\ndomain name  {account.name}")
    click.echo(f"project id   {project.id}\nproject name {project.name}")
    click.echo(f"access key   {created.key.access_key}\nsecret key   {created.secret}")
    click.echo("The secret key is shown only now: keep it.")


@iam.command("create-project")
@click.argument("name")
@pass_session
def create_project(session: _Session, name: str) -> None:
    """A project of the account (names are unique in the store)."""
    with _answers():
        project = session.service.create_project(session.root, name)
    click.echo(project.id)


@iam.command("list-projects")
@pass_session
def list_projects(session: _Session) -> None:
    with _answers():
        for project in session.service.list_projects(session.root):
            click.echo(f"{project.id}\t{project.name}")


# Users


@iam.command("create-user")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--no-password", is_flag=True, help="A user for access keys only.")
@click.option("--description", default="")
@pass_session
def create_user(
    session: _Session, name: str, password_stdin: bool, no_password: bool, description: str
) -> None:
    """An IAM user of the account; prints its id."""
    with _answers():
        check_user_name(name)  # before asking for a password for a user that cannot exist
    password = None if no_password else _read_password(password_stdin)
    with _answers():
        user = session.service.create_user(session.root, name, password, description=description)
    click.echo(user.id)


@iam.command("set-password")
@click.argument("user")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_session
def set_password(session: _Session, user: str, password_stdin: bool) -> None:
    """A new password for a user (its tokens stop working)."""
    with _answers():
        user_id = session.lookup.user(user).id
        session.service.update_user(session.root, user_id, password=_read_password(password_stdin))
    click.echo("password changed")


@iam.command("list-users")
@pass_session
def list_users(session: _Session) -> None:
    with _answers():
        for user in session.service.list_users(session.root):
            kind = "root" if user.is_root else "user"
            state = "enabled" if user.enabled else "disabled"
            click.echo(f"{user.id}\t{user.name}\t{kind}\t{state}")


# Access keys


@iam.command("create-key")
@click.argument("user")
@click.option("--description", default="")
@pass_session
def create_key(session: _Session, user: str, description: str) -> None:
    """A permanent access key for a user (name or id); the secret is printed only now."""
    with _answers():
        user_id = session.lookup.user(user).id
        created = session.service.create_access_key(session.root, user_id, description)
    click.echo(f"access key  {created.key.access_key}\nsecret key  {created.secret}")


@iam.command("list-keys")
@click.argument("user", required=False)
@pass_session
def list_keys(session: _Session, user: str | None) -> None:
    """Access keys of a user (default: the root), never their secrets."""
    with _answers():
        user_id = session.lookup.user(user).id if user else None
        for key in session.service.list_access_keys(session.root, user_id):
            click.echo(f"{key.access_key}\t{key.status}\t{key.created_at.isoformat()}")


@iam.command("delete-key")
@click.argument("access_key")
@pass_session
def delete_key(session: _Session, access_key: str) -> None:
    with _answers():
        session.service.delete_access_key(session.root, access_key)
    click.echo("deleted")


# Groups, policies, grants


@iam.command("create-group")
@click.argument("name")
@click.option("--description", default="")
@pass_session
def create_group(session: _Session, name: str, description: str) -> None:
    with _answers():
        group = session.service.create_group(session.root, name, description)
    click.echo(group.id)


@iam.command("list-groups")
@pass_session
def list_groups(session: _Session) -> None:
    with _answers():
        for group in session.service.list_groups(session.root):
            click.echo(f"{group.id}\t{group.name}")


@iam.command("add-to-group")
@click.argument("group")
@click.argument("user")
@pass_session
def add_to_group(session: _Session, group: str, user: str) -> None:
    with _answers():
        lookup = session.lookup
        session.service.add_user_to_group(
            session.root, lookup.group(group).id, lookup.user(user).id
        )
    click.echo("added")


@iam.command("create-policy")
@click.argument("name")
@click.argument("document", type=click.File("r"))
@click.option("--type", "role_type", default="XA", type=click.Choice(["XA", "AX"]))
@click.option("--description", default="")
@pass_session
def create_policy(
    session: _Session, name: str, document: Any, role_type: str, description: str
) -> None:
    """A custom policy from a JSON file ("-" for standard input); prints its id."""
    try:
        parsed = json.load(document)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="DOCUMENT") from None
    with _answers():
        role = session.service.create_policy(
            session.root, name, parsed, role_type=role_type, description=description
        )
    click.echo(role.id)


@iam.command("list-policies")
@pass_session
def list_policies(session: _Session) -> None:
    with _answers():
        for role in session.service.list_policies(session.root):
            click.echo(f"{role.id}\t{role.display_name}\t{role.type}")


def _grant_target(project: str | None, all_projects: bool) -> None:
    if (project is None) == (not all_projects):
        raise click.UsageError("give exactly one of --project and --all-projects")


@iam.command("grant")
@click.argument("group")
@click.argument("policy")
@click.option("--project", help="The project (name or id) the grant is for.")
@click.option("--all-projects", is_flag=True, help="Every project of the account.")
@pass_session
def grant(
    session: _Session, group: str, policy: str, project: str | None, all_projects: bool
) -> None:
    """Give a group a policy on a project (takes effect on the next request)."""
    _grant_target(project, all_projects)
    with _answers():
        lookup = session.lookup
        project_id = lookup.project(project).id if project else None
        session.service.grant(
            session.root, lookup.group(group).id, lookup.policy(policy).id, project_id
        )
    click.echo("granted")


@iam.command("revoke")
@click.argument("group")
@click.argument("policy")
@click.option("--project", help="The project (name or id) the grant was for.")
@click.option("--all-projects", is_flag=True, help="The grant on every project.")
@pass_session
def revoke(
    session: _Session, group: str, policy: str, project: str | None, all_projects: bool
) -> None:
    _grant_target(project, all_projects)
    with _answers():
        lookup = session.lookup
        project_id = lookup.project(project).id if project else None
        session.service.revoke(
            session.root, lookup.group(group).id, lookup.policy(policy).id, project_id
        )
    click.echo("revoked")
