"""Cinder's JSON views of the block store's resources, at the request's microversion.

Each function computes every value a resource's view may hold and renders
it through its table in ``shapes`` (which fields, from which microversion,
for which call and caller). Nothing here reads the database: the handlers
pass the rows a view needs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from blockstore import models as m
from blockstore.api import shapes
from blockstore.api.base import ApiVersion, project_url, state, version
from blockstore.core.admin import volume_host
from blockstore.policy import Caller

# the extra specs a non-admin sees of a volume type (Cinder's user-visible ones)
USER_VISIBLE_SPECS = ("RESKEY:availability_zones", "multiattach", "replication_enabled")


@dataclass(frozen=True)
class View:
    """What every view of one request depends on: its microversion, the caller, the
    project URL links point into, and this storage host's names."""

    version: ApiVersion
    who: Caller
    base: str
    host: str  # the volume service's host, ``<host>@<backend>``
    pool: str  # ``<host>@<backend>#<pool>``

    @property
    def is_admin(self) -> bool:
        return self.who.is_admin

    def render(self, shape: shapes.Shape, values: dict[str, Any], call: str) -> dict[str, Any]:
        return shape.render(values, call, self.version, self.is_admin)


def view(request: web.Request, who: Caller) -> View:
    st = state(request)
    host = volume_host(st.cfg.blockstore.host, st.manager.backend.name)
    return View(version(request), who, project_url(request), host,
                f"{host}#{st.manager.backend.name}")


def ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def links(base: str, kind: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{base}/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{base}/{kind}/{ident}"}]


def service_uuid(host: str) -> str:
    """The volume service's id (stable for its host), as volumes show it (3.48+)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"strata-volume-service:{host}"))


# -- volumes --------------------------------------------------------------------------


def attachment_brief(v: View, att: m.Attachment) -> dict[str, Any]:
    """An attachment as a volume lists it; its host only to admins and services."""
    sees_host = v.is_admin or "service" in v.who.roles
    return {"id": att.volume_id, "attachment_id": att.id, "volume_id": att.volume_id,
            "server_id": att.instance_uuid,
            "host_name": att.attached_host if sees_host else None,
            "device": att.mountpoint, "attached_at": ts(att.attach_time)}


STATUS_SHOWN = {"managing": "creating", "error_managing": "error"}


def volume(v: View, vol: m.Volume, call: str, *, vtype: m.VolumeType | None,
           attachments: list[m.Attachment]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": vol.id, "name": vol.name, "links": links(v.base, "volumes", vol.id),
        "status": STATUS_SHOWN.get(vol.status, vol.status), "size": vol.size,
        "availability_zone": vol.availability_zone, "created_at": ts(vol.created_at),
        "updated_at": ts(vol.updated_at), "description": vol.description,
        "volume_type": vtype.name if vtype else vol.volume_type_id,
        "volume_type_id": vol.volume_type_id, "snapshot_id": vol.snapshot_id,
        "source_volid": vol.source_volid, "metadata": dict(vol.metadata_ or {}),
        "user_id": vol.user_id, "bootable": "true" if vol.bootable else "false",
        "encrypted": False, "replication_status": None, "consistencygroup_id": None,
        "multiattach": False, "migration_status": None, "group_id": vol.group_id,
        "provider_id": vol.provider_id, "shared_targets": False,
        "service_uuid": service_uuid(v.host), "cluster_name": None, "consumes_quota": True,
        "attachments": [attachment_brief(v, a) for a in attachments
                        if a.attach_status == "attached"],
        "os-vol-tenant-attr:tenant_id": vol.project_id, "os-vol-host-attr:host": v.pool,
        "os-vol-mig-status-attr:migstat": None, "os-vol-mig-status-attr:name_id": None,
        "volume_image_metadata": dict(vol.image_metadata) if vol.image_metadata else None,
    }
    return v.render(shapes.VOLUME, values, call)


def volume_upload(v: View, vol: m.Volume, vtype: m.VolumeType | None, image_id: str,
                  image: dict[str, Any]) -> dict[str, Any]:
    """The answer of ``os-volume_upload_image``."""
    values = {"id": vol.id, "updated_at": ts(vol.updated_at), "status": vol.status,
              "display_description": vol.description, "size": vol.size,
              "volume_type": volume_type(v, vtype, shapes.SHOW) if vtype else None,
              "image_id": image_id, "image_name": image["name"],
              "disk_format": image["disk_format"],
              "container_format": image["container_format"],
              "visibility": image.get("visibility", "private"),
              "protected": image.get("protected", False)}
    return v.render(shapes.VOLUME_UPLOAD, values, shapes.CREATE)


def snapshot(v: View, snap: m.Snapshot, call: str) -> dict[str, Any]:
    values = {
        "id": snap.id, "name": snap.name, "description": snap.description,
        "volume_id": snap.volume_id, "size": snap.size, "status": snap.status,
        "created_at": ts(snap.created_at), "updated_at": ts(snap.updated_at),
        "metadata": dict(snap.metadata_ or {}),
        "os-extended-snapshot-attributes:progress": snap.progress,
        "os-extended-snapshot-attributes:project_id": snap.project_id,
        "group_snapshot_id": snap.group_snapshot_id, "user_id": snap.user_id,
        "consumes_quota": True,
    }
    return v.render(shapes.SNAPSHOT, values, call)


def attachment(v: View, att: m.Attachment, call: str) -> dict[str, Any]:
    values = {
        "id": att.id, "status": att.attach_status, "instance": att.instance_uuid,
        "volume_id": att.volume_id, "attached_at": ts(att.attach_time) or "",
        "detached_at": ts(att.detach_time) or "", "attach_mode": att.attach_mode,
        "connection_info": att.connection_info or {},
    }
    return v.render(shapes.ATTACHMENT, values, call)


def backup(v: View, bk: m.Backup, call: str, *, dependents: int = 0) -> dict[str, Any]:
    values = {
        "id": bk.id, "name": bk.name, "links": links(v.base, "backups", bk.id),
        "description": bk.description, "status": bk.status,
        "availability_zone": bk.availability_zone, "volume_id": bk.volume_id,
        "snapshot_id": None, "size": bk.size, "object_count": bk.object_count,
        "container": bk.container, "fail_reason": bk.fail_reason,
        "created_at": ts(bk.created_at), "updated_at": ts(bk.updated_at),
        "data_timestamp": ts(bk.data_timestamp), "is_incremental": bk.is_incremental,
        "has_dependent_backups": dependents > 0,
        "os-backup-project-attr:project_id": bk.project_id,
        "metadata": dict(bk.metadata_ or {}), "user_id": bk.user_id,
    }
    return v.render(shapes.BACKUP, values, call)


# -- types, QoS specs ----------------------------------------------------------------------


def volume_type(v: View, vt: m.VolumeType, call: str) -> dict[str, Any]:
    specs = dict(vt.extra_specs or {})
    if not v.is_admin:
        specs = {k: val for k, val in specs.items() if k in USER_VISIBLE_SPECS}
    values = {"id": vt.id, "name": vt.name, "description": vt.description,
              "is_public": vt.is_public, "os-volume-type-access:is_public": vt.is_public,
              "extra_specs": specs, "qos_specs_id": vt.qos_specs_id}
    return v.render(shapes.VOLUME_TYPE, values, call)


def qos_specs(v: View, qos: m.QosSpecs, call: str) -> dict[str, Any]:
    values = {"id": qos.id, "name": qos.name, "consumer": qos.consumer,
              "specs": dict(qos.specs or {})}
    return v.render(shapes.QOS_SPECS, values, call)


# -- transfers -------------------------------------------------------------------------------


def transfer(v: View, tr: m.Transfer, call: str, *, auth_key: str | None = None,
             volume_id: str | None = None) -> dict[str, Any]:
    values = {
        "id": tr.id, "name": tr.name, "volume_id": volume_id or tr.volume_id,
        "created_at": ts(tr.created_at), "no_snapshots": tr.no_snapshots,
        "source_project_id": tr.project_id, "destination_project_id": None,
        "accepted": False, "links": links(v.base, "os-volume-transfer", tr.id),
        "auth_key": auth_key,
    }
    return v.render(shapes.TRANSFER, values, call)


# -- groups ------------------------------------------------------------------------------------


def group_type(v: View, gt: m.GroupType, call: str) -> dict[str, Any]:
    values = {"id": gt.id, "name": gt.name, "description": gt.description,
              "is_public": gt.is_public, "group_specs": dict(gt.group_specs or {})}
    return v.render(shapes.GROUP_TYPE, values, call)


def group(v: View, grp: m.Group, call: str, *, volume_ids: list[str] | None = None
          ) -> dict[str, Any]:
    """A group; ``volume_ids`` (3.25+, when the request asks ``list_volume``) its volumes."""
    values = {
        "id": grp.id, "name": grp.name, "status": grp.status,
        "availability_zone": grp.availability_zone, "created_at": ts(grp.created_at),
        "description": grp.description, "group_type": grp.group_type_id,
        "volume_types": list(grp.volume_type_ids or []),
        "group_snapshot_id": grp.group_snapshot_id, "source_group_id": grp.source_group_id,
        "volumes": volume_ids, "_list_volume": volume_ids is not None,
        "replication_status": "disabled", "project_id": grp.project_id,
    }
    return v.render(shapes.GROUP, values, call)


def group_snapshot(v: View, gs: m.GroupSnapshot, call: str) -> dict[str, Any]:
    values = {"id": gs.id, "name": gs.name, "group_type_id": gs.group_type_id,
              "group_id": gs.group_id, "status": gs.status,
              "created_at": ts(gs.created_at), "description": gs.description,
              "project_id": gs.project_id}
    return v.render(shapes.GROUP_SNAPSHOT, values, call)


# -- messages ------------------------------------------------------------------------------------


def message(v: View, msg: m.Message, text: str, call: str) -> dict[str, Any]:
    values = {"id": msg.id, "event_id": msg.event_id, "user_message": text,
              "message_level": msg.message_level, "created_at": ts(msg.created_at),
              "guaranteed_until": ts(msg.expires_at), "request_id": msg.request_id,
              "links": links(v.base, "messages", msg.id),
              "resource_type": msg.resource_type, "resource_uuid": msg.resource_uuid}
    return v.render(shapes.MESSAGE, values, call)


# -- services and hosts ------------------------------------------------------------------------


def service(v: View, binary: str, host: str, zone: str, updated: datetime) -> dict[str, Any]:
    volume_service = binary == "cinder-volume"
    values = {"binary": binary, "host": host, "zone": zone, "status": "enabled",
              "state": "up", "updated_at": ts(updated), "disabled_reason": None,
              "replication_status": "disabled", "active_backend_id": None, "frozen": False,
              "cluster": None, "backend_state": "up", "_volume_service": volume_service}
    return v.render(shapes.SERVICE, values, shapes.LIST)


def host_entry(v: View, host: str, topic: str, zone: str, updated: datetime
               ) -> dict[str, Any]:
    values = {"host_name": host, "service": topic, "zone": zone,
              "service-status": "available", "service-state": "enabled",
              "last-update": ts(updated)}
    return v.render(shapes.HOST, values, shapes.LIST)


def pool(v: View, capabilities: dict[str, Any], call: str) -> dict[str, Any]:
    return v.render(shapes.POOL, {"name": v.pool, "capabilities": capabilities}, call)
