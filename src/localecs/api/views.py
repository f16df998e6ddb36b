"""Records to wire JSON, in the exact shapes the SDK response models read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from localecs.api.timefmt import job_time, server_time, usage_time, volume_time
from localecs.domain import flavors
from localecs.domain import servers as server_rules
from localecs.domain import volumes as volume_rules
from localecs.services.attachments import BlockDevice, BlockDevices
from localecs.services.jobs import JobRecord, JobView
from localecs.services.servers import ServerDetail
from localecs.services.volumes import SERVICE_TYPE, VolumeDetail
from localecs.store.tables import Attachment

# Hosts in the simulated data plane; EVS reports one per attachment.
_HOST_NAME = "localecs-host-1"


def job(view: JobView) -> dict[str, Any]:
    body = _job_fields(view.job)
    body["entities"] = {
        **view.job.entities,
        "sub_jobs_total": view.job.sub_jobs_total,
        "sub_jobs": [_job_fields(sub) for sub in view.sub_jobs],
    }
    return body


def _job_fields(record: JobRecord) -> dict[str, Any]:
    return {
        "status": record.status,
        "entities": dict(record.entities),
        "job_id": record.id,
        "job_type": record.job_type,
        "begin_time": job_time(record.begin_time),
        "end_time": job_time(record.end_time),
        "error_code": record.error_code,
        "fail_reason": record.fail_reason,
    }


def block_devices(listing: BlockDevices) -> dict[str, Any]:
    free = max(0, server_rules.MAX_DEVICES - listing.used_slots)
    return {
        "attachableQuantity": {"free_scsi": free, "free_blk": free, "free_disk": free},
        "volumeAttachments": [block_device(device) for device in listing.devices],
    }


def block_device(device: BlockDevice) -> dict[str, Any]:
    attachment = device.attachment
    return {
        "bootIndex": attachment.boot_index if attachment.boot_index is not None else -1,
        "pciAddress": _pci_address(attachment.device),
        "volumeId": attachment.volume_id,
        "device": attachment.device,
        "serverId": attachment.server_id,
        "id": attachment.volume_id,
        "size": device.volume.size,
        "bus": "virtio",
    }


def _pci_address(device: str) -> str:
    slot = 4 + ord(device[-1]) - ord("a")
    return f"0000:02:{slot:02x}.0"


def volume_attachments(listing: BlockDevices) -> dict[str, Any]:
    return {
        "volumeAttachments": [
            {
                "device": d.attachment.device,
                "id": d.attachment.volume_id,
                "serverId": d.attachment.server_id,
                "volumeId": d.attachment.volume_id,
            }
            for d in listing.devices
        ]
    }


def server(detail: ServerDetail) -> dict[str, Any]:
    record = detail.server
    return {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "tenant_id": record.project_id,
        "user_id": record.project_id,
        "status": record.status,
        "OS-EXT-STS:vm_state": server_rules.vm_state(record.status),
        "OS-EXT-STS:task_state": record.task_state,
        "OS-EXT-STS:power_state": server_rules.power_state(record.status),
        "OS-EXT-AZ:availability_zone": record.availability_zone,
        "OS-EXT-SRV-ATTR:host": _HOST_NAME,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": _HOST_NAME,
        "OS-EXT-SRV-ATTR:instance_name": f"instance-{record.id[:8]}",
        "OS-EXT-SRV-ATTR:hostname": record.name,
        "OS-EXT-SRV-ATTR:root_device_name": server_rules.SYSTEM_DEVICE,
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-SRV-ATTR:reservation_id": record.reservation_id,
        "OS-SRV-USG:launched_at": usage_time(record.launched_at),
        "OS-SRV-USG:terminated_at": "",
        "os-extended-volumes:volumes_attached": [
            _volume_attached(a) for a in detail.attachments if a.state != "attaching"
        ],
        "flavor": _flavor(record.flavor_id),
        "image": {"id": record.image_id},
        "addresses": _addresses(record.vpc_id, record.nics),
        "metadata": {**record.metadata_, "vpc_id": record.vpc_id},
        "tags": list(record.tags),
        "key_name": record.key_name,
        "created": server_time(record.created_at),
        "updated": server_time(record.updated_at),
        "locked": record.locked,
        "hostId": "",
        "host_status": "UP",
        "security_groups": [{"name": "default"}],
        "config_drive": "",
        "accessIPv4": "",
        "accessIPv6": "",
        "progress": 100 if record.status == server_rules.ACTIVE else 0,
        "enterprise_project_id": record.enterprise_project_id,
    }


def _flavor(flavor_id: str) -> dict[str, Any]:
    size = flavors.size_of(flavor_id)
    return {
        "id": flavor_id,
        "name": flavor_id,
        "disk": "0",
        "vcpus": str(size.vcpus) if size else "",
        "ram": str(size.ram_mib) if size else "",
    }


def _volume_attached(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.volume_id,
        "delete_on_termination": "true" if attachment.delete_on_termination else "false",
        "bootIndex": "0" if attachment.boot_index == 0 else "-1",
        "device": attachment.device,
    }


def _addresses(vpc_id: str, nics: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        vpc_id: [
            {
                # A string, as Huawei's ECS sends it (the Go SDK's model is a string too).
                "version": "4",
                "addr": nic.get("ip_address", ""),
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": nic.get("mac_address", ""),
                "OS-EXT-IPS:port_id": nic.get("port_id", ""),
                "primary": nic.get("primary", False),
            }
            for nic in nics
        ]
    }


def volume(detail: VolumeDetail, links_base: str) -> dict[str, Any]:
    record = detail.volume
    attached = [a for a in detail.attachments if a.state != volume_rules.ATTACHMENT_ATTACHING]
    return {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "status": record.status,
        "size": record.size,
        "volume_type": record.volume_type,
        "availability_zone": record.availability_zone,
        "multiattach": record.multiattach,
        "shareable": "true" if record.multiattach else "false",
        "bootable": "true" if record.bootable else "false",
        "encrypted": record.metadata_.get("__system__encrypted") == "1",
        "attachments": [_evs_attachment(a) for a in attached],
        "created_at": volume_time(record.created_at),
        "updated_at": volume_time(record.updated_at),
        "os-vol-tenant-attr:tenant_id": record.project_id,
        "os-vol-host-attr:host": f"{_HOST_NAME}#{record.volume_type}",
        "metadata": dict(record.metadata_),
        "volume_image_metadata": {"image_id": record.image_id} if record.image_id else {},
        "tags": dict(record.tags),
        "links": [
            {"href": f"{links_base}/{record.id}", "rel": "self"},
            {"href": f"{links_base}/{record.id}", "rel": "bookmark"},
        ],
        "service_type": SERVICE_TYPE,
        "enterprise_project_id": record.enterprise_project_id,
        "replication_status": "disabled",
        "user_id": record.project_id,
        "snapshot_id": None,
        "source_volid": None,
        "consistencygroup_id": None,
        "os-volume-replication:extended_status": None,
        "os-vol-mig-status-attr:migstat": None,
        "os-vol-mig-status-attr:name_id": None,
        "wwn": "",
        "serial_number": record.id[:20],
    }


def _evs_attachment(attachment: Attachment) -> dict[str, Any]:
    return {
        "attached_at": volume_time(attachment.attached_at),
        "attachment_id": attachment.id,
        "device": attachment.device,
        "host_name": _HOST_NAME,
        "id": attachment.volume_id,
        "server_id": attachment.server_id,
        "volume_id": attachment.volume_id,
    }
