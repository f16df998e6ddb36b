"""Request bodies in Huawei's exact wire shape. Types are strict: a string where a number
belongs is a client error, not something to guess at."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class _Closed(BaseModel):
    """A body whose unknown fields are rejected (the volume attachment operations)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Open(BaseModel):
    """A body that accepts and ignores fields localecs does not model (create calls)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def _distinct(values: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value} is listed more than once")
        seen.add(value)
    return values


class BatchDetachVolumesBody(_Closed):
    serverinfo: Annotated[list[Id], Field(min_length=1)]

    @field_validator("serverinfo")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        return _distinct(value, "server")


class ServerInfo(_Closed):
    server_id: Id
    device: StrictStr | None = None


class BatchAttachSharableVolumesBody(_Closed):
    serverinfo: Annotated[list[ServerInfo], Field(min_length=1)]

    @field_validator("serverinfo")
    @classmethod
    def _no_duplicates(cls, value: list[ServerInfo]) -> list[ServerInfo]:
        _distinct([item.server_id for item in value], "server")
        return value


class AttachServerVolumeOption(_Closed):
    volume_id: Id | None = Field(default=None, alias="volumeId")
    device: StrictStr | None = None
    volume_type: StrictStr | None = None
    count: StrictInt | None = None
    passthrough: StrictStr | None = Field(default=None, alias="hw:passthrough")


class AttachServerVolumeBody(_Closed):
    volume_attachment: AttachServerVolumeOption = Field(alias="volumeAttachment")
    dry_run: StrictBool = False


class RootVolume(_Open):
    volumetype: StrictStr
    size: Annotated[StrictInt, Field(ge=1, le=1024)] = 40


class DataVolume(_Open):
    volumetype: StrictStr
    size: Annotated[StrictInt, Field(ge=10, le=32768)]
    multiattach: StrictBool = False
    shareable: StrictBool = False


class Nic(_Open):
    subnet_id: StrictStr | None = None
    port_id: StrictStr | None = None
    ip_address: StrictStr | None = None


MAX_NAME_WITH_SUFFIX = 59


class ServerBody(_Open):
    image_ref: Id = Field(alias="imageRef")
    flavor_ref: Id = Field(alias="flavorRef")
    name: Annotated[
        StrictStr, Field(min_length=1, max_length=64, pattern=r"^[\w\-.\u4e00-\u9fa5]+$")
    ]
    vpcid: Id
    nics: Annotated[list[Nic], Field(min_length=1, max_length=12)]
    root_volume: RootVolume
    # No length limit here: more than 23 data disks has its own code (Ecs.0042), not Ecs.0005.
    data_volumes: list[DataVolume] = []
    count: Annotated[StrictInt, Field(ge=1, le=100)] = 1
    is_auto_rename: StrictBool = Field(default=True, alias="isAutoRename")
    availability_zone: StrictStr | None = None
    key_name: StrictStr | None = None
    description: Annotated[StrictStr, Field(max_length=85)] = ""
    metadata: dict[str, StrictStr] = {}
    server_tags: list[dict[str, StrictStr]] = []
    extendparam: dict[str, Any] = {}

    @model_validator(mode="after")
    def _room_for_the_suffix(self) -> ServerBody:
        # With count > 1 the service appends "-0001"..., so the name itself is limited to 59.
        if self.count > 1 and len(self.name) > MAX_NAME_WITH_SUFFIX:
            raise ValueError(
                f"name may have at most {MAX_NAME_WITH_SUFFIX} characters when count > 1"
            )
        return self


class CreateServersBody(_Open):
    server: ServerBody
    dry_run: StrictBool = False


class ServerRef(_Closed):
    id: Id


class DeleteServersBody(_Open):
    servers: Annotated[list[ServerRef], Field(min_length=1, max_length=1000)]
    delete_publicip: StrictBool = False
    delete_volume: StrictBool = False


class PowerOption(_Closed):
    servers: Annotated[list[ServerRef], Field(min_length=1, max_length=1000)]
    type: Literal["SOFT", "HARD"] = "SOFT"


class StartOption(_Closed):
    servers: Annotated[list[ServerRef], Field(min_length=1, max_length=1000)]


class ServerActionBody(_Closed):
    os_start: StartOption | None = Field(default=None, alias="os-start")
    os_stop: PowerOption | None = Field(default=None, alias="os-stop")


class VolumeBody(_Closed):
    """Closed, but with every field the SDK's CreateVolumeOption can send: a misspelt field is
    a client error (EVS.5400), while a field the SDK may legitimately send is never refused."""

    availability_zone: Id
    volume_type: Literal["SATA", "SAS", "GPSSD", "SSD", "ESSD", "GPSSD2", "ESSD2"]
    # Optional in the API only for a disk made from a backup, which the route refuses first.
    size: Annotated[StrictInt, Field(ge=10, le=32768)] | None = None
    multiattach: StrictBool = False
    name: Annotated[StrictStr, Field(max_length=255)] = ""
    description: Annotated[StrictStr, Field(max_length=255)] = ""
    count: Annotated[StrictInt, Field(ge=1, le=100)] = 1
    image_ref: StrictStr | None = Field(default=None, alias="imageRef")
    snapshot_id: StrictStr | None = None
    backup_id: StrictStr | None = None
    metadata: dict[str, StrictStr] = {}
    tags: Annotated[dict[str, StrictStr], Field(max_length=10)] = {}
    enterprise_project_id: StrictStr = "0"
    # Accepted and ignored: the simulated disks have no performance tiers.
    iops: StrictInt | None = None
    throughput: StrictInt | None = None


class LegacyVolumeBody(VolumeBody):
    # The deprecated v2 API also takes the shared flag as the strings "true" / "false".
    shareable: StrictStr | None = None  # checked by the route: EVS has a code of its own


class CreateVolumeBody(_Closed):
    volume: VolumeBody
    server_id: StrictStr | None = None
    bss_param: dict[str, Any] | None = Field(default=None, alias="bssParam")
    # Accepted and ignored: there is no dedicated storage to schedule onto.
    scheduler_hints: dict[str, Any] | None = Field(default=None, alias="OS-SCH-HNT:scheduler_hints")


class CreateLegacyVolumeBody(_Closed):
    volume: LegacyVolumeBody
    scheduler_hints: dict[str, Any] | None = Field(default=None, alias="OS-SCH-HNT:scheduler_hints")


class ServerTag(_Closed):
    key: StrictStr
    value: StrictStr | None = None


class ServerTagsActionBody(_Closed):
    """BatchCreateServerTags / BatchDeleteServerTags: one path, told apart by ``action``."""

    action: Literal["create", "delete"]
    tags: Annotated[list[ServerTag], Field(min_length=1)]
