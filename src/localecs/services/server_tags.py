"""ECS server tags: show, batch create and batch delete (ecs_02_1002 and neighbours)."""

from __future__ import annotations

from collections.abc import Sequence

from localecs.domain import tags as tag_rules
from localecs.errors import server_not_found
from localecs.services.context import Context
from localecs.services.lookups import require_server
from localecs.store.repository import Repository
from localecs.store.tables import Server

Pairs = Sequence[tuple[str, str | None]]


def show_server_tags(ctx: Context, project_id: str, server_id: str) -> dict[str, str]:
    with ctx.db.read() as repo:
        return tag_rules.from_stored(require_server(repo, project_id, server_id).tags)


def batch_create_server_tags(
    ctx: Context, project_id: str, server_id: str, pairs: Sequence[tuple[str, str]]
) -> None:
    tag_rules.check_request(pairs)
    with ctx.db.write() as repo:
        server = _locked(repo, project_id, server_id)
        current = tag_rules.from_stored(server.tags)
        server.tags = tag_rules.as_stored(tag_rules.added(current, dict(pairs)))
        server.updated_at = ctx.clock.now()


def batch_delete_server_tags(ctx: Context, project_id: str, server_id: str, pairs: Pairs) -> None:
    tag_rules.check_request(pairs)
    with ctx.db.write() as repo:
        server = _locked(repo, project_id, server_id)
        current = tag_rules.from_stored(server.tags)
        server.tags = tag_rules.as_stored(tag_rules.removed(current, pairs))
        server.updated_at = ctx.clock.now()


def _locked(repo: Repository, project_id: str, server_id: str) -> Server:
    server = repo.server(project_id, server_id, lock=True)
    if server is None:
        raise server_not_found(server_id)
    return server
