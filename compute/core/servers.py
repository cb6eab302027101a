"""Servers in the database: create the rows of a checked request, find, list, update,
metadata and tags, actions (state checked against the action table, task queued) and
delete. No HTTP and no calls to other services here (:mod:`compute.core.create`
resolves images, volumes and networks first).
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from common.config import ComputeConfig
from compute import models as m
from compute import quotas
from compute.core import actions, states
from compute.core.requests import (
    MAX_TAGS,
    BlockDevice,
    CreateRequest,
    check_metadata,
    check_tag,
)
from compute.errors import (
    InstanceLocked,
    Invalid,
    ItemNotFound,
    PolicyNotAuthorized,
    ServerNotFound,
)
from compute.policy import Caller, check_server
from compute.virt.driver import next_device

MAX_LIMIT = 1000


def get(s: Session, who: Caller, uuid: str, *, deleted_ok: bool = False) -> m.Instance:
    inst = s.get(m.Instance, uuid)
    if inst is None or (inst.deleted and not deleted_ok):
        raise ServerNotFound(uuid)
    check_server(who, inst.project_id, uuid)
    return inst


def touch(inst: m.Instance, **values: Any) -> None:
    for key, value in values.items():
        setattr(inst, key, value)
    inst.updated_at = m.utcnow()


# -- create ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A create request with everything other services said about it."""

    req: CreateRequest
    flavor: dict[str, Any]  # the flavor's snapshot (compute.core.flavors.snapshot)
    image: dict[str, Any]  # the kept subset of the image's fields ({} for a volume root)
    key_data: str | None
    security_groups: list[dict[str, str]]  # [{"name", "id"}]
    networks: Any  # the resolved requests: [{"network_id"|"port_id", ...}], "none"
    devices: tuple[BlockDevice, ...] = ()
    root_gb: int = 0
    zone: str | None = None
    group_id: str | None = None
    hostname: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def _hostname(name: str) -> str:
    """Nova's hostname from a display name: letters, digits and '-', at most 63."""
    text = re.sub(r"[^a-zA-Z0-9-]+", "-", name.strip().lower()).strip("-")[:63].strip("-")
    return text or "server"


def create_rows(s: Session, cfg: ComputeConfig, who: Caller, p: Prepared, *,
                request_id: str) -> list[m.Instance]:
    """The servers of one create request (as many as quota allows between min_count and
    max_count), each with its action record; BUILD/scheduling."""
    req = p.req
    project = who.project_id or ""
    per = quotas.Want(1, int(p.flavor["vcpus"]), int(p.flavor["memory_mb"]))
    count = quotas.check_servers(s, cfg, project, per, req.min_count, req.max_count)
    quotas.check_metadata(s, cfg, project, req.metadata)
    if req.personality:
        quotas.check_personality(s, cfg, project, [
            (path, base64.b64decode(data)) for path, data in req.personality])
    if p.group_id is not None:
        group = s.get(m.ServerGroup, p.group_id)
        if group is None or not who.owns(group.project_id):
            raise Invalid(f"Invalid input received: Group {p.group_id} not found")
        quotas.check_group_members(s, cfg, group.project_id, group.id, count)
    volume_root = any(bd.boot_index == 0 and bd.destination_type == "volume"
                      for bd in p.devices)
    reservation = "r-" + secrets.token_hex(4)
    now = m.utcnow()
    out: list[m.Instance] = []
    for index in range(count):
        name = req.name if count == 1 else f"{req.name}-{index + 1}"
        inst = m.Instance(
            project_id=project, user_id=who.user_id, display_name=name,
            display_description=req.description, hostname=p.hostname or _hostname(name),
            image_ref="" if volume_root else req.image_ref, flavor=dict(p.flavor),
            vcpus=int(p.flavor["vcpus"]),
            memory_mb=int(p.flavor["memory_mb"]), root_gb=p.root_gb,
            ephemeral_gb=int(p.flavor.get("ephemeral_gb") or 0),
            vm_state=states.BUILDING, task_state=states.SCHEDULING,
            power_state=states.NOSTATE, availability_zone=p.zone,
            key_name=req.key_name, key_data=p.key_data, user_data=req.user_data,
            metadata_=dict(req.metadata), config_drive=req.config_drive or cfg.force_config_drive,
            launch_index=index, reservation_id=reservation, requested_host=req.host,
            access_ip_v4=req.access_ip_v4, access_ip_v6=req.access_ip_v6,
            kernel_id=p.image.get("kernel_id"), ramdisk_id=p.image.get("ramdisk_id"),
            root_device_name="/dev/vda", image_meta=dict(p.image),
            security_groups=list(p.security_groups), requested_networks=p.networks,
            personality=[[path, data] for path, data in req.personality],
            created_at=now, updated_at=now)
        inst.tags = [m.InstanceTag(tag=t) for t in req.tags]
        inst.block_devices = _mappings(req, p)
        s.add(inst)
        s.flush()
        if p.group_id is not None:
            s.add(m.ServerGroupMember(group_id=p.group_id, instance_uuid=inst.uuid))
        actions.record(s, inst, "create", request_id=request_id, user_id=who.user_id,
                       project_id=project)
        out.append(inst)
    return out


def _mappings(req: CreateRequest, p: Prepared) -> list[m.BlockDeviceMapping]:
    rows = []
    boots = any(bd.boot_index == 0 for bd in p.devices)
    if req.image_ref and not boots:  # the image's root disk, unless a mapping says it
        rows.append(m.BlockDeviceMapping(
            source_type="image", destination_type="local", boot_index=0,
            image_id=req.image_ref, device_name="/dev/vda", status="attached",
            delete_on_termination=True))
    for bd in sorted(p.devices, key=lambda d: (d.boot_index is None, d.boot_index or 0)):
        rows.append(m.BlockDeviceMapping(
            source_type=bd.source_type, destination_type=bd.destination_type,
            boot_index=bd.boot_index,
            volume_id=bd.uuid if bd.source_type == "volume" else None,
            snapshot_id=bd.uuid if bd.source_type == "snapshot" else None,
            image_id=bd.uuid if bd.source_type == "image" else None,
            device_name="/dev/vda" if bd.boot_index == 0 else None,
            volume_size=bd.volume_size, volume_type=bd.volume_type,
            delete_on_termination=bd.delete_on_termination
            if bd.destination_type == "volume" else True,
            tag=bd.tag, status="attaching"))
    _assign_devices(rows)
    return rows


def _assign_devices(rows: Sequence[m.BlockDeviceMapping]) -> None:
    used = [r.device_name.removeprefix("/dev/") for r in rows if r.device_name]
    for row in rows:
        if not row.device_name:
            name = next_device(used)
            used.append(name)
            row.device_name = f"/dev/{name}"


def used_devices(inst: m.Instance) -> list[str]:
    """Device names the server's disks and config drive take (``vda``, ...)."""
    names = [b.device_name.removeprefix("/dev/") for b in inst.block_devices
             if b.device_name]
    if inst.config_drive:
        boot_time = [b.device_name.removeprefix("/dev/") for b in inst.block_devices
                     if b.device_name and b.boot_index is not None]
        names.append(next_device(boot_time or ["vda"]))
    return names


# -- listing --------------------------------------------------------------------------

SORT_KEYS = {
    "access_ip_v4": m.Instance.access_ip_v4, "access_ip_v6": m.Instance.access_ip_v6,
    "availability_zone": m.Instance.availability_zone,
    "config_drive": m.Instance.config_drive, "created_at": m.Instance.created_at,
    "display_description": m.Instance.display_description,
    "display_name": m.Instance.display_name, "host": m.Instance.host,
    "hostname": m.Instance.hostname, "image_ref": m.Instance.image_ref,
    "kernel_id": m.Instance.kernel_id, "key_name": m.Instance.key_name,
    "launch_index": m.Instance.launch_index, "launched_at": m.Instance.launched_at,
    "locked_by": m.Instance.locked_by, "node": m.Instance.node,
    "power_state": m.Instance.power_state, "progress": m.Instance.progress,
    "project_id": m.Instance.project_id, "ramdisk_id": m.Instance.ramdisk_id,
    "root_device_name": m.Instance.root_device_name, "task_state": m.Instance.task_state,
    "terminated_at": m.Instance.terminated_at, "updated_at": m.Instance.updated_at,
    "user_id": m.Instance.user_id, "uuid": m.Instance.uuid, "vm_state": m.Instance.vm_state,
    "instance_type_id": m.Instance.memory_mb, "auto_disk_config": m.Instance.uuid,
}
_ADMIN_SORT_KEYS = {"host", "node"}

# the query parameters Nova's list schema names (2.75 refuses any other)
KNOWN_PARAMS = {
    "user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image",
    "kernel_id", "ramdisk_id", "hostname", "key_name", "power_state", "vm_state",
    "task_state", "host", "node", "flavor", "reservation_id", "launched_at",
    "terminated_at", "availability_zone", "name", "display_name", "description",
    "display_description", "locked_by", "uuid", "root_device_name", "config_drive",
    "access_ip_v4", "access_ip_v6", "auto_disk_config", "progress", "sort_key",
    "sort_dir", "all_tenants", "soft_deleted", "deleted", "status", "changes-since", "ip",
    "ip6", "created_at", "block_device_mapping", "services", "metadata", "tags",
    "tags-any", "not-tags", "not-tags-any", "changes-before", "locked", "limit", "marker",
    "pinned_availability_zone",
}
# what a non-admin may filter on (others are ignored for them, as in Nova)
USER_PARAMS = {"reservation_id", "name", "status", "image", "flavor", "ip",
               "changes-since", "changes-before", "ip6", "tags", "tags-any", "not-tags",
               "not-tags-any", "locked", "limit", "marker", "sort_key", "sort_dir"}


@dataclass
class ListQuery:
    all_projects: bool = False
    project_id: str | None = None
    filters: dict[str, str] = field(default_factory=dict)
    changes_since: datetime | None = None
    changes_before: datetime | None = None
    deleted: bool | None = None
    tags: list[str] = field(default_factory=list)
    tags_any: list[str] = field(default_factory=list)
    not_tags: list[str] = field(default_factory=list)
    not_tags_any: list[str] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=list)


def _timestamp(value: str, name: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace(" ", "+"))
    except ValueError:
        raise Invalid(f"Invalid input for query parameters {name}. Value: {value}. "
                      f"'{value}' is not a 'date-time'") from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def parse_list_query(query: Mapping[str, str], multi: Mapping[str, list[str]], minor: int,
                     is_admin: bool) -> ListQuery:
    unknown = [k for k in query if k not in KNOWN_PARAMS]
    if minor >= 75 and unknown:
        raise Invalid(f"Invalid input for query parameters {unknown[0]}. Additional "
                      f"properties are not allowed ('{unknown[0]}' was unexpected)")
    q = ListQuery()
    usable = {k: v for k, v in query.items()
              if k in KNOWN_PARAMS and (is_admin or k in USER_PARAMS)}
    if is_admin:
        flag = query.get("all_tenants")
        q.all_projects = flag is not None and flag.lower() not in ("0", "false", "off", "no")
        q.project_id = query.get("project_id") or query.get("tenant_id")
        if q.project_id:
            q.all_projects = True
        deleted = query.get("deleted")
        if deleted is not None:
            q.deleted = deleted.lower() in ("1", "true", "yes", "on")
    if "changes-since" in usable:
        q.changes_since = _timestamp(usable["changes-since"], "changes-since")
    if minor >= 66 and "changes-before" in usable:
        q.changes_before = _timestamp(usable["changes-before"], "changes-before")
        if q.changes_since and q.changes_since > q.changes_before:
            raise Invalid(f"The value of changes-since ({usable['changes-since']}) cannot be "
                          f"greater than changes-before ({usable['changes-before']}).")
    if minor >= 26:
        for key, target in (("tags", q.tags), ("tags-any", q.tags_any),
                            ("not-tags", q.not_tags), ("not-tags-any", q.not_tags_any)):
            for raw in multi.get(key, []):
                target.extend(t for t in raw.split(",") if t)
    for key in ("name", "status", "image", "flavor", "ip", "ip6", "reservation_id", "host",
                "node", "user_id", "availability_zone", "key_name", "vm_state",
                "task_state", "uuid", "hostname", "launch_index", "power_state",
                "locked_by", "config_drive"):
        if key in usable:
            q.filters[key] = usable[key]
    if minor >= 73 and "locked" in usable:
        q.filters["locked"] = usable["locked"]
    raw_limit = query.get("limit")
    if raw_limit is not None:
        if not raw_limit.isdigit():
            raise Invalid(f"Invalid input for query parameters limit. Value: {raw_limit}. "
                          f"'{raw_limit}' does not match '^[0-9]*$'")
        q.limit = min(int(raw_limit), MAX_LIMIT)
    q.marker = query.get("marker")
    keys = multi.get("sort_key", [])
    dirs = multi.get("sort_dir", [])
    for i, key in enumerate(keys):
        if key not in SORT_KEYS:
            raise Invalid(f"Invalid input for query parameters sort_key. Value: {key}.")
        direction = dirs[i] if i < len(dirs) else (dirs[-1] if dirs else "desc")
        if direction not in ("asc", "desc"):
            raise Invalid(f"Invalid input for query parameters sort_dir. Value: "
                          f"{direction}.")
        if key in _ADMIN_SORT_KEYS and not is_admin:
            continue
        q.sort.append((key, direction))
    return q


def _ips(inst: m.Instance, version: int) -> list[str]:
    return [a["ip_address"] for vif in inst.interfaces for a in vif.fixed_ips
            if int(a.get("version", 4)) == version]


def _regex(pattern: str, name: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error:
        raise Invalid(f"Invalid filter value {pattern} for {name}") from None


def _matches(inst: m.Instance, q: ListQuery) -> bool:
    f = q.filters
    if "name" in f and not _regex(f["name"], "name").search(inst.display_name):
        return False
    if "ip" in f and not any(_regex(f["ip"], "ip").search(a) for a in _ips(inst, 4)):
        return False
    if "ip6" in f and not any(_regex(f["ip6"], "ip6").search(a) for a in _ips(inst, 6)):
        return False
    if "flavor" in f and (inst.flavor or {}).get("flavorid") != f["flavor"]:
        return False
    if "status" in f and states.status(inst.vm_state, inst.task_state) != \
            f["status"].upper() and inst.vm_state not in states.vm_states_of(f["status"]):
        return False
    tags = {t.tag for t in inst.tags}
    if q.tags and not set(q.tags) <= tags:
        return False
    if q.tags_any and not set(q.tags_any) & tags:
        return False
    if q.not_tags and set(q.not_tags) <= tags:
        return False
    return not (q.not_tags_any and set(q.not_tags_any) & tags)


_COLUMN_FILTERS = {"image": m.Instance.image_ref, "reservation_id": m.Instance.reservation_id,
                   "host": m.Instance.host, "node": m.Instance.node,
                   "user_id": m.Instance.user_id,
                   "availability_zone": m.Instance.availability_zone,
                   "key_name": m.Instance.key_name, "vm_state": m.Instance.vm_state,
                   "task_state": m.Instance.task_state, "uuid": m.Instance.uuid,
                   "hostname": m.Instance.hostname, "locked_by": m.Instance.locked_by}


def listing(s: Session, who: Caller, q: ListQuery) -> list[m.Instance]:
    stmt = select(m.Instance)
    if not (who.is_admin and q.all_projects):
        stmt = stmt.where(m.Instance.project_id == (who.project_id or ""))
    elif q.project_id:
        stmt = stmt.where(m.Instance.project_id == q.project_id)
    if q.deleted is not None:
        stmt = stmt.where(m.Instance.deleted.is_(q.deleted))
    elif q.changes_since is None and q.changes_before is None:
        stmt = stmt.where(m.Instance.deleted.is_(False))
    if q.changes_since is not None:
        stmt = stmt.where(m.Instance.updated_at >= q.changes_since)
    if q.changes_before is not None:
        stmt = stmt.where(m.Instance.updated_at <= q.changes_before)
    for key, column in _COLUMN_FILTERS.items():
        if key in q.filters:
            value = q.filters[key]
            if key == "image":
                value = value.rstrip("/").rsplit("/", 1)[-1]
            stmt = stmt.where(column == value)
    if "locked" in q.filters:
        stmt = stmt.where(m.Instance.locked.is_(
            q.filters["locked"].lower() in ("1", "true", "yes", "on", "t")))
    if "status" in q.filters:
        vms = states.vm_states_of(q.filters["status"])
        if not vms:
            return []
        stmt = stmt.where(m.Instance.vm_state.in_(vms))
    order: list[Any] = [(SORT_KEYS[k].asc() if d == "asc" else SORT_KEYS[k].desc())
                        for k, d in q.sort]
    if not order:
        order = [m.Instance.created_at.desc()]
    stmt = stmt.order_by(*order, m.Instance.uuid.desc())
    rows = [inst for inst in s.scalars(stmt) if _matches(inst, q)]
    if q.marker is not None:
        ids = [r.uuid for r in rows]
        if q.marker not in ids:
            raise Invalid(f"marker [{q.marker}] not found")
        rows = rows[ids.index(q.marker) + 1:]
    if q.limit is not None:
        rows = rows[:q.limit]
    return rows


# -- update, metadata, tags -----------------------------------------------------------


def update(s: Session, who: Caller, uuid: str, values: Mapping[str, Any]) -> m.Instance:
    inst = get(s, who, uuid)
    states.check("update", uuid, inst.vm_state, inst.task_state, locked=inst.locked,
                 admin=who.is_admin)
    if "display_name" in values and not inst.hostname:
        inst.hostname = _hostname(values["display_name"])
    touch(inst, **values)
    return inst


def set_metadata(s: Session, cfg: ComputeConfig, who: Caller, uuid: str, items: Any, *,
                 replace: bool) -> dict[str, str]:
    inst = get(s, who, uuid)
    states.check("update", uuid, inst.vm_state, inst.task_state, locked=inst.locked,
                 admin=who.is_admin)
    new = check_metadata(items)
    merged = new if replace else {**(inst.metadata_ or {}), **new}
    quotas.check_metadata(s, cfg, inst.project_id, merged)
    touch(inst, metadata_=merged)
    return dict(merged)


def delete_metadata_item(s: Session, who: Caller, uuid: str, key: str) -> None:
    inst = get(s, who, uuid)
    states.check("update", uuid, inst.vm_state, inst.task_state, locked=inst.locked,
                 admin=who.is_admin)
    meta = dict(inst.metadata_ or {})
    if key not in meta:
        raise ItemNotFound("Metadata item was not found")
    del meta[key]
    touch(inst, metadata_=meta)


def set_tags(s: Session, who: Caller, uuid: str, tags: list[str]) -> list[str]:
    inst = get(s, who, uuid)
    if len(tags) > MAX_TAGS:
        raise Invalid(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
    inst.tags = [m.InstanceTag(tag=t) for t in dict.fromkeys(tags)]
    touch(inst)
    return [t.tag for t in inst.tags]


def add_tag(s: Session, who: Caller, uuid: str, tag: str) -> bool:
    """Add ``tag``; False when the server had it already."""
    inst = get(s, who, uuid)
    check_tag(tag)
    if any(t.tag == tag for t in inst.tags):
        return False
    if len(inst.tags) >= MAX_TAGS:
        raise Invalid(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
    inst.tags.append(m.InstanceTag(tag=tag))
    touch(inst)
    return True


def delete_tag(s: Session, who: Caller, uuid: str, tag: str) -> None:
    inst = get(s, who, uuid)
    found = [t for t in inst.tags if t.tag == tag]
    if not found:
        raise ItemNotFound(f"Tag {tag} could not be found.")
    inst.tags.remove(found[0])
    touch(inst)


# -- actions --------------------------------------------------------------------------


def checked(s: Session, who: Caller, uuid: str, key: str) -> m.Instance:
    """The server, when it may take action ``key`` now (Nova's 409 when not)."""
    inst = get(s, who, uuid)
    states.check(key, uuid, inst.vm_state, inst.task_state, locked=inst.locked,
                 admin=who.is_admin, host=inst.host)
    return inst


def start_action(s: Session, who: Caller, uuid: str, key: str, *, request_id: str,
                 args: Mapping[str, Any] | None = None) -> m.Instance:
    """Check the server may take action ``key`` now (409 if not), set its task state,
    record the action and queue the agent's operation."""
    inst = get(s, who, uuid)
    act = states.check(key, uuid, inst.vm_state, inst.task_state, locked=inst.locked,
                       admin=who.is_admin, host=inst.host)
    record = actions.record(s, inst, act.name, request_id=request_id, user_id=who.user_id,
                            project_id=who.project_id or inst.project_id)
    if act.task_state is not None:
        touch(inst, task_state=act.task_state)
    else:
        touch(inst)
    if act.op is not None:
        actions.queue(s, inst, act.op, args=args, action=record)
    return inst


def lock(s: Session, who: Caller, uuid: str, reason: str | None, *,
         request_id: str) -> None:
    inst = get(s, who, uuid)
    states.check("lock", uuid, inst.vm_state, inst.task_state)
    actions.record(s, inst, "lock", request_id=request_id, user_id=who.user_id,
                   project_id=who.project_id or inst.project_id)
    if not inst.locked:
        touch(inst, locked=True, locked_by="owner" if who.owns(inst.project_id) and
              who.project_id == inst.project_id else "admin", locked_reason=reason)


def unlock(s: Session, who: Caller, uuid: str, *, request_id: str) -> None:
    inst = get(s, who, uuid)
    states.check("unlock", uuid, inst.vm_state, inst.task_state)
    if inst.locked and inst.locked_by == "admin" and not who.is_admin:
        raise PolicyNotAuthorized("os_compute_api:os-lock-server:unlock:unlock_override")
    actions.record(s, inst, "unlock", request_id=request_id, user_id=who.user_id,
                   project_id=who.project_id or inst.project_id)
    touch(inst, locked=False, locked_by=None, locked_reason=None)


def reset_state(s: Session, who: Caller, uuid: str, wanted: Any, *,
                request_id: str) -> None:
    if wanted not in ("active", "error"):
        raise Invalid(f"Invalid input for field/attribute state. Value: {wanted}. "
                      f"{wanted!r} is not one of ['active', 'error']")
    inst = get(s, who, uuid)
    actions.record(s, inst, "resetState", request_id=request_id, user_id=who.user_id,
                   project_id=who.project_id or inst.project_id)
    touch(inst, vm_state=wanted, task_state=None)


# -- delete ---------------------------------------------------------------------------


def request_delete(s: Session, who: Caller, uuid: str, *, request_id: str) -> str | None:
    """Start deleting a server: queue the agent's delete and answer its host, or, for a
    server no host has (never scheduled), delete it here and answer None."""
    inst = get(s, who, uuid)
    if inst.locked and not who.is_admin:
        raise InstanceLocked(uuid)
    if inst.task_state == states.DELETING:
        return inst.host  # already under way: deleting is idempotent
    record = actions.record(s, inst, "delete", request_id=request_id, user_id=who.user_id,
                            project_id=who.project_id or inst.project_id)
    if not inst.host:
        mark_deleted(s, inst)
        return None
    touch(inst, task_state=states.DELETING)
    s.execute(delete(m.Task).where(m.Task.instance_uuid == uuid, m.Task.started.is_(False)))
    actions.queue(s, inst, "delete", action=record)
    return inst.host


def mark_deleted(s: Session, inst: m.Instance) -> None:
    """The server is gone: keep its row (usage, changes-since), drop what hangs on it."""
    now = m.utcnow()
    touch(inst, vm_state=states.DELETED, task_state=None, power_state=states.NOSTATE,
          deleted=True, deleted_at=now, terminated_at=now)
    s.execute(delete(m.ServerGroupMember).where(m.ServerGroupMember.instance_uuid ==
                                                inst.uuid))
    s.execute(delete(m.Task).where(m.Task.instance_uuid == inst.uuid))
    inst.block_devices = []
    inst.interfaces = []


def set_fault(inst: m.Instance, message: str, code: int = 500, details: str = "") -> None:
    inst.fault = {"message": message[:255], "code": code, "details": details,
                  "created": m.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}


def by_reservation(s: Session, who: Caller, reservation_id: str) -> list[m.Instance]:
    stmt = select(m.Instance).where(m.Instance.reservation_id == reservation_id)
    if not who.is_admin:
        stmt = stmt.where(m.Instance.project_id == (who.project_id or ""))
    return list(s.scalars(stmt))
