"""IAM request bodies in the wire shape of huaweicloudsdkiam 3.1.219's request models.

Fields IAM has but localecs does not keep (e-mail, phone, access mode, ...) are accepted and
ignored, so an SDK user who fills them is not refused; a wrong type is still a 400.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class UserOption(_Body):
    name: StrictStr
    domain_id: StrictStr | None = None
    password: StrictStr | None = None
    enabled: StrictBool = True
    description: StrictStr = ""


class CreateUserBody(_Body):
    user: UserOption


class UpdateUserOption(_Body):
    password: StrictStr | None = None
    enabled: StrictBool | None = None
    description: StrictStr | None = None


class UpdateUserBody(_Body):
    user: UpdateUserOption


class GroupOption(_Body):
    name: StrictStr
    domain_id: StrictStr | None = None
    description: StrictStr = ""


class CreateGroupBody(_Body):
    group: GroupOption


class ProjectOption(_Body):
    name: StrictStr
    parent_id: StrictStr | None = None
    domain_id: StrictStr | None = None
    description: StrictStr = ""


class CreateProjectBody(_Body):
    project: ProjectOption


class CredentialOption(_Body):
    user_id: StrictStr
    description: StrictStr = ""


class CreateCredentialBody(_Body):
    credential: CredentialOption


class UpdateCredentialOption(_Body):
    status: StrictStr | None = None
    description: StrictStr | None = None


class UpdateCredentialBody(_Body):
    credential: UpdateCredentialOption


class RoleOption(_Body):
    display_name: StrictStr
    type: StrictStr
    description: StrictStr = ""
    policy: dict[str, Any]


class CreateRoleBody(_Body):
    role: RoleOption


class _Named(_Body):
    id: StrictStr | None = None
    name: StrictStr | None = None


class PasswordUserDomain(_Body):
    name: StrictStr


class PasswordUser(_Body):
    domain: PasswordUserDomain
    name: StrictStr
    password: StrictStr


class PasswordMethod(_Body):
    user: PasswordUser


class TokenIdentity(_Body):
    methods: list[StrictStr]
    password: PasswordMethod


class TokenScope(_Body):
    project: _Named | None = None
    domain: _Named | None = None


class TokenAuth(_Body):
    identity: TokenIdentity
    scope: TokenScope = Field(default_factory=TokenScope)


class CreateTokenBody(_Body):
    auth: TokenAuth
