"""Rows of the servers and volumes tables, for tests that seed a store with bulk inserts
(the service's own create paths would run the jobs and the driver)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def server_row(
    project_id: str, server_id: str, at: datetime, *, availability_zone: str = "az1"
) -> dict[str, Any]:
    """An ACTIVE server."""
    return {
        "id": server_id,
        "project_id": project_id,
        "name": f"s-{server_id[:8]}",
        "status": "ACTIVE",
        "task_state": None,
        "flavor_id": "s6.large.2",
        "image_id": "image",
        "vpc_id": "vpc",
        "availability_zone": availability_zone,
        "reservation_id": "r-1",
        "enterprise_project_id": "0",
        "key_name": None,
        "description": "",
        "locked": False,
        "nics": [],
        "metadata": {},
        "tags": [],
        "created_at": at,
        "updated_at": at,
        "launched_at": at,
    }


def volume_row(
    project_id: str,
    volume_id: str,
    at: datetime,
    *,
    status: str = "available",
    multiattach: bool = True,
    availability_zone: str = "az1",
) -> dict[str, Any]:
    """A 10 GB SSD disk."""
    return {
        "id": volume_id,
        "project_id": project_id,
        "name": f"v-{volume_id[:8]}",
        "description": "",
        "size": 10,
        "volume_type": "SSD",
        "availability_zone": availability_zone,
        "multiattach": multiattach,
        "bootable": False,
        "status": status,
        "image_id": None,
        "enterprise_project_id": "0",
        "metadata": {},
        "tags": {},
        "created_at": at,
        "updated_at": at,
    }
