"""Identity records as IAM's response JSON (huaweicloudsdkiam 3.1.219 response models).

No view ever includes a password hash or a secret key; the one secret a response carries,
a new key's SK, is added by the create-key route itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from localecs.services.identity import IssuedToken
from localecs.store.tables import AccessKey, Account, Group, Project, Role, User


def _iso_micro(moment: datetime) -> str:
    """IAM's timestamps, e.g. 2019-02-13T06:52:13.855000Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _link(base: str, path: str) -> dict[str, Any]:
    return {"self": f"{base}{path}"}


def domain(account: Account, base: str) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "enabled": True,
        "description": "",
        "links": _link(base, f"/v3/domains/{account.id}"),
    }


def project(record: Project, base: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "domain_id": record.account_id,
        "parent_id": record.account_id,
        "is_domain": False,
        "enabled": True,
        "description": "",
        "links": {"self": f"{base}/v3/projects/{record.id}", "previous": None, "next": None},
    }


def user(record: User, base: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "domain_id": record.account_id,
        "enabled": record.enabled,
        "description": record.description,
        "pwd_status": record.password_hash is not None,
        "password_expires_at": None,
        "is_domain_owner": record.is_root,
        "access_mode": "default",
        "create_time": record.created_at.strftime("%Y-%m-%d %H:%M:%S.0"),
        "links": _link(base, f"/v3/users/{record.id}"),
    }


def group(record: Group, base: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "domain_id": record.account_id,
        "description": record.description,
        "create_time": int(record.created_at.timestamp() * 1000),
        "links": _link(base, f"/v3/groups/{record.id}"),
    }


def credential(record: AccessKey) -> dict[str, Any]:
    """An access key as listings show it: never its secret."""
    return {
        "access": record.access_key,
        "user_id": record.user_id,
        "status": record.status,
        "description": record.description,
        "create_time": _iso_micro(record.created_at),
    }


def role(record: Role, base: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "display_name": record.display_name,
        "type": record.type,
        "catalog": "CUSTOMED",
        "description": record.description,
        "description_cn": None,
        "domain_id": record.account_id,
        "policy": record.document,
        "created_time": str(int(record.created_at.timestamp() * 1000)),
        "updated_time": str(int(record.updated_at.timestamp() * 1000)),
        "links": _link(base, f"/v3/roles/{record.id}"),
    }


def token(issued: IssuedToken, base: str, region: str, catalog: bool) -> dict[str, Any]:
    account = {"id": issued.account.id, "name": issued.account.name}
    body: dict[str, Any] = {
        "methods": ["password"],
        "issued_at": _iso_micro(issued.record.issued_at),
        "expires_at": _iso_micro(issued.record.expires_at),
        "user": {
            "id": issued.user.id,
            "name": issued.user.name,
            "domain": account,
            "password_expires_at": "",
        },
        "roles": [{"id": r.id, "name": r.name} for r in issued.roles],
    }
    if issued.project is not None:
        body["project"] = {"id": issued.project.id, "name": issued.project.name, "domain": account}
    else:
        body["domain"] = account
    if catalog:
        body["catalog"] = [
            {
                "type": service,
                "id": service,
                "name": service,
                "endpoints": [
                    {
                        "id": f"{service}-{region}",
                        "interface": "public",
                        "region": region,
                        "region_id": region,
                        "url": url,
                    }
                ],
            }
            for service, url in (
                ("ecs", f"{base}/v1/$(tenant_id)s"),
                ("evs", f"{base}/v2/$(tenant_id)s"),
                ("iam", f"{base}/v3"),
            )
        ]
    return {"token": body}
