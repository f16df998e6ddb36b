"""The enforcement point: may this principal perform this operation on these resources?

Called by every ECS/EVS route after authentication and the project check, before anything is
looked up for the operation itself, so a denial is the same whether or not a named resource
exists: an id that is not in the caller's project is evaluated as a resource with no tags and no
enterprise project, so a tag- or enterprise-project-conditioned Allow does not match it, and an
unconditioned Allow lets the request go on to its usual 404.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select

from localecs.auth.authenticate import Principal
from localecs.domain import tags as tag_rules
from localecs.domain.actions import Action, ResourceType, resource_urn
from localecs.domain.actions import action as catalogued
from localecs.domain.policies import AccessRequest, context_key, evaluate
from localecs.errors import forbidden
from localecs.services.context import Context
from localecs.store.repository import Repository
from localecs.store.tables import Server, Volume

# condition key -> values, keys in the normal form of policies.context_key
Keys = dict[str, tuple[str, ...]]


def authorize(
    ctx: Context,
    principal: Principal,
    operation: str,
    project_id: str,
    resource_ids: Sequence[str] = (),
    *,
    extra: Mapping[str, str] | None = None,
    request_tags: Mapping[str, str] | None = None,
) -> None:
    """Raises 403 (Pdp.0001 for ECS, EVS.2056 for EVS) naming the action unless every target
    is allowed. ``resource_ids`` are the servers or disks the operation acts on (all of them,
    so a batch is refused before anything changes); resource-less actions ignore them.
    ``extra`` holds request condition keys (e.g. g:EnterpriseProjectId of a create)."""
    if principal.is_root:
        return
    action = catalogued(operation)
    base: Keys = {context_key("g:RequestedRegion"): (ctx.region,)}
    if principal.user_name:
        base[context_key("g:UserName")] = (principal.user_name,)
    for key, value in (extra or {}).items():
        base[context_key(key)] = (value,)
    if request_tags is not None:
        for key, value in request_tags.items():
            base[context_key(f"g:RequestTag/{key}")] = (value,)
        base[context_key("g:TagKeys")] = tuple(request_tags)
    if action.resource_type is None or not resource_ids:
        _check(principal, action, None, base)
        return
    with ctx.db.read() as repo:
        attributes = _attributes(repo, action.resource_type, project_id, resource_ids)
    for resource_id in dict.fromkeys(resource_ids):
        tags, enterprise_project = attributes.get(resource_id, ({}, None))
        context = dict(base)
        for key, value in tags.items():
            context[context_key(f"g:ResourceTag/{key}")] = (value,)
        if enterprise_project is not None:
            context[context_key("g:EnterpriseProjectId")] = (enterprise_project,)
        urn = resource_urn(action, ctx.region, principal.account_id, resource_id)
        _check(principal, action, urn, context)


def _check(principal: Principal, action: Action, urn: str | None, context: Keys) -> None:
    request = AccessRequest(action.name, urn, context, action.aliases)
    if not evaluate(principal.policies, request).allowed:
        raise forbidden(action.service, action.name)


def _attributes(
    repo: Repository, kind: ResourceType, project_id: str, ids: Sequence[str]
) -> dict[str, tuple[dict[str, str], str | None]]:
    """Tags and enterprise project of the named resources that exist in the project (read
    without row locks: a check must not hold up the writers)."""
    if kind is ResourceType.INSTANCE:
        servers = repo.session.scalars(
            select(Server).where(Server.id.in_(list(ids)), Server.project_id == project_id)
        )
        return {s.id: (tag_rules.from_stored(s.tags), s.enterprise_project_id) for s in servers}
    volumes = repo.session.scalars(
        select(Volume).where(Volume.id.in_(list(ids)), Volume.project_id == project_id)
    )
    return {
        v.id: ({str(k): str(t) for k, t in v.tags.items()}, v.enterprise_project_id)
        for v in volumes
    }
