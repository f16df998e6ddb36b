"""Identifier formats used on the wire."""

from __future__ import annotations

import secrets
import uuid


def new_resource_id() -> str:
    """Servers, volumes and projects are UUIDs in the real cloud."""
    return str(uuid.uuid4())


def new_job_id() -> str:
    """Current Huawei job ids are 32 lowercase hex characters."""
    return secrets.token_hex(16)


def new_request_id() -> str:
    return secrets.token_hex(16)
