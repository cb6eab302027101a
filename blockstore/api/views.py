"""JSON views of volumes, snapshots, attachments, types and transfers, as Cinder shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from blockstore import models as m


def ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def links(base: str, kind: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{base}/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{base}/{kind}/{ident}"}]


def attachment_brief(att: m.Attachment, host: str) -> dict[str, Any]:
    return {"id": att.volume_id, "attachment_id": att.id, "volume_id": att.volume_id,
            "server_id": att.instance_uuid, "host_name": att.attached_host or host,
            "device": att.mountpoint, "attached_at": ts(att.attach_time)}


def volume(vol: m.Volume, base: str, *, vtype: m.VolumeType | None,
           attachments: list[m.Attachment], is_admin: bool, host: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": vol.id, "name": vol.name, "description": vol.description, "size": vol.size,
        "status": vol.status, "availability_zone": vol.availability_zone,
        "created_at": ts(vol.created_at), "updated_at": ts(vol.updated_at),
        "attachments": [attachment_brief(a, host) for a in attachments
                        if a.attach_status == "attached"],
        "bootable": "true" if vol.bootable else "false", "encrypted": False,
        "multiattach": False, "metadata": dict(vol.metadata_ or {}),
        "volume_type": vtype.name if vtype else None, "volume_type_id": vol.volume_type_id,
        "snapshot_id": vol.snapshot_id, "source_volid": vol.source_volid,
        "user_id": vol.user_id, "os-vol-tenant-attr:tenant_id": vol.project_id,
        "replication_status": None, "consistencygroup_id": None, "migration_status": None,
        "group_id": None, "provider_id": None, "service_uuid": None,
        "shared_targets": False, "cluster_name": None, "consumes_quota": True,
        "links": links(base, "volumes", vol.id),
    }
    if vol.image_metadata:
        out["volume_image_metadata"] = dict(vol.image_metadata)
    if is_admin:
        out["os-vol-host-attr:host"] = f"{host}@{'file'}#{'file'}"
        out["os-vol-mig-status-attr:migstat"] = None
        out["os-vol-mig-status-attr:name_id"] = None
    return out


def snapshot(snap: m.Snapshot, base: str) -> dict[str, Any]:
    return {
        "id": snap.id, "name": snap.name, "description": snap.description,
        "volume_id": snap.volume_id, "size": snap.size, "status": snap.status,
        "created_at": ts(snap.created_at), "updated_at": ts(snap.updated_at),
        "metadata": dict(snap.metadata_ or {}),
        "os-extended-snapshot-attributes:progress": snap.progress,
        "os-extended-snapshot-attributes:project_id": snap.project_id,
        "user_id": snap.user_id, "group_snapshot_id": None, "consumes_quota": True,
        "links": links(base, "snapshots", snap.id),
    }


def attachment(att: m.Attachment) -> dict[str, Any]:
    return {
        "id": att.id, "status": att.attach_status, "instance": att.instance_uuid,
        "volume_id": att.volume_id, "attached_at": ts(att.attach_time) or "",
        "detached_at": ts(att.detach_time) or "", "attach_mode": att.attach_mode,
        "connection_info": att.connection_info or {}, "connector": att.connector or {},
    }


def volume_type(vt: m.VolumeType, *, is_admin: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": vt.id, "name": vt.name, "description": vt.description,
        "is_public": vt.is_public, "os-volume-type-access:is_public": vt.is_public,
        "extra_specs": dict(vt.extra_specs or {}), "qos_specs_id": None,
    }
    return out


def transfer(tr: m.Transfer, base: str, *, auth_key: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": tr.id, "name": tr.name, "volume_id": tr.volume_id,
        "created_at": ts(tr.created_at), "no_snapshots": tr.no_snapshots,
        "source_project_id": tr.project_id, "destination_project_id": None,
        "accepted": False, "links": links(base, "os-volume-transfer", tr.id),
    }
    if auth_key is not None:
        out["auth_key"] = auth_key
    return out
