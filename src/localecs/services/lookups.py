"""Loading what a request names, or answering the documented not-found error."""

from __future__ import annotations

from collections.abc import Sequence

from localecs.errors import server_not_found, volume_not_found
from localecs.store.repository import Repository
from localecs.store.tables import Server, Volume


def require_volume(
    repo: Repository, project_id: str, volume_id: str, *, lock: bool = False
) -> Volume:
    volume = repo.volume(project_id, volume_id, lock=lock)
    if volume is None:
        raise volume_not_found(volume_id)
    return volume


def require_server(repo: Repository, project_id: str, server_id: str) -> Server:
    server = repo.server(project_id, server_id)
    if server is None:
        raise server_not_found(server_id)
    return server


def require_servers(
    repo: Repository, project_id: str, server_ids: Sequence[str]
) -> dict[str, Server]:
    """Every named server, locked for the admission that follows; 404 for the first missing."""
    servers = repo.servers(project_id, server_ids)
    for server_id in server_ids:
        if server_id not in servers:
            raise server_not_found(server_id)
    return servers
