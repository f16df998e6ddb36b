"""The action catalogue: which IAM action each ECS/EVS operation checks (contract 6.2).

An action names the resource type its request targets (``instance`` for a server, ``volume`` for
a disk) or none (list and create: the statement's Resource must then be ``*``). Aliases are the
older role/policy names Huawei still honours for the same API (e.g. ``ecs:cloudServers:put`` for
the tag APIs), so a policy written against either name works.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from localecs.errors import Service


class ResourceType(Enum):
    INSTANCE = "instance"
    VOLUME = "volume"


@dataclass(frozen=True)
class Action:
    name: str
    service: Service  # whose error format a denial takes
    resource_type: ResourceType | None = None
    aliases: tuple[str, ...] = ()


def _ecs(name: str, *aliases: str, per_server: bool = True) -> Action:
    resource = ResourceType.INSTANCE if per_server else None
    return Action(f"ecs:cloudServers:{name}", Service.ECS, resource, aliases)


def _evs(name: str, *, per_volume: bool = True) -> Action:
    resource = ResourceType.VOLUME if per_volume else None
    return Action(f"evs:volumes:{name}", Service.EVS, resource)


# SDK operation name -> action. ShowJob is absent on purpose: job polling needs no permission
# beyond belonging to the project (contract 9).
CATALOGUE: dict[str, Action] = {
    # ECS servers
    "create_servers": _ecs("createServers", "ecs:cloudServers:create", per_server=False),
    "create_post_paid_servers": _ecs("createServers", "ecs:cloudServers:create", per_server=False),
    "list_servers_details": _ecs("list", per_server=False),
    "show_server": _ecs("showServer", "ecs:cloudServers:get"),
    "delete_servers": _ecs("deleteServers", "ecs:cloudServers:delete"),
    "batch_start_servers": _ecs("start"),
    "batch_stop_servers": _ecs("stop"),
    # ECS disks
    "attach_server_volume": _ecs("attach"),
    "detach_server_volume": _ecs("detachVolume"),
    "batch_attach_sharable_volumes": _ecs("attachSharedVolume"),
    "batch_detach_volumes": _ecs("detachVolume"),
    "list_server_block_devices": _ecs("listServerBlockDevices"),
    "show_server_block_device": _ecs("showServerBlockDevice"),
    "list_server_volume_attachments": _ecs("listServerVolumeAttachments"),
    # ECS server tags
    "batch_create_server_tags": _ecs(
        "batchCreateServerTags", "ecs:cloudServers:batchSetServerTags", "ecs:cloudServers:put"
    ),
    "batch_delete_server_tags": _ecs(
        "batchDeleteServerTags", "ecs:cloudServers:batchSetServerTags", "ecs:cloudServers:put"
    ),
    "show_server_tags": _ecs("showServerTags", "ecs:cloudServers:get"),
    # EVS
    "create_volume": _evs("create", per_volume=False),
    "list_volumes": _evs("list", per_volume=False),
    "show_volume": _evs("get"),
    "delete_volume": _evs("delete"),
}


def action(operation: str) -> Action:
    return CATALOGUE[operation]


def resource_urn(action_: Action, region: str, account_id: str, resource_id: str) -> str | None:
    """The URN a 5.0 Resource element names this request's target by, e.g.
    ``ecs:cn-north-4:<account>:instance:<server-id>``; None for resource-less actions."""
    if action_.resource_type is None:
        return None
    service = action_.name.split(":", 1)[0]
    return f"{service}:{region}:{account_id}:{action_.resource_type.value}:{resource_id}"
