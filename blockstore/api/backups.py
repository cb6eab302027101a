"""Backups: create, list, detail, show, update, delete, restore (Cinder's ``/backups``).

A backup belongs to its volume's project (an admin may back up any volume
and sees every project's backups with ``all_tenants``). Statuses:
``creating`` -> ``available``; ``restoring`` -> ``available``; ``deleting``
-> gone; ``error``/``error_deleting``. The volume is ``backing-up`` while it
is read (then back to ``available`` or ``in-use``: an attached volume needs
``force``), and a restore target ``restoring-backup``. The data path is the
volume manager's (``blockstore.backups``).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore import quotas
from blockstore.api import views
from blockstore.api.base import (
    caller,
    json_body,
    json_response,
    limit_param,
    page,
    project_url,
    run,
    section,
    state,
    version,
)
from blockstore.api.volumes import check_metadata, check_text, find_type, get_volume
from blockstore.backups import BackupObjects
from blockstore.errors import Invalid, NotFound, OverQuota, Unavailable
from blockstore.policy import Caller, check_visible, check_write
from identity.client import TokenValidator

routes = web.RouteTableDef()
V = "/v3/{project_id}"
CONTAINER_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")

SORT_KEYS = {"created_at": m.Backup.created_at, "id": m.Backup.id, "name": m.Backup.name,
             "size": m.Backup.size, "status": m.Backup.status,
             "updated_at": m.Backup.updated_at}


def _flag(value: Any, key: str) -> bool:
    if value is None:
        return False
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    if not isinstance(value, bool):
        raise Invalid(f"Invalid input received: {key} must be a boolean.")
    return value


def get_backup(s: Session, who: Caller, backup_id: str) -> m.Backup:
    bk = s.get(m.Backup, backup_id)
    check_visible(who, bk.project_id if bk else None, "Backup", backup_id)
    assert bk is not None
    return bk


def view(s: Session, request: web.Request, who: Caller, bk: m.Backup) -> dict[str, Any]:
    children = int(s.scalar(select(func.count(m.Backup.id)).where(
        m.Backup.parent_id == bk.id)) or 0)
    out: dict[str, Any] = {
        "id": bk.id, "name": bk.name, "description": bk.description, "status": bk.status,
        "availability_zone": bk.availability_zone, "volume_id": bk.volume_id,
        "snapshot_id": None, "size": bk.size, "object_count": bk.object_count,
        "container": bk.container, "fail_reason": bk.fail_reason,
        "created_at": views.ts(bk.created_at), "updated_at": views.ts(bk.updated_at),
        "data_timestamp": views.ts(bk.data_timestamp), "is_incremental": bk.is_incremental,
        "has_dependent_backups": children > 0,
        "links": views.links(project_url(request), "backups", bk.id),
    }
    v = version(request)
    if v.at_least(18) and who.is_admin:
        out["os-backup-project-attr:project_id"] = bk.project_id
    if v.at_least(43):
        out["metadata"] = dict(bk.metadata_ or {})
    if v.at_least(56):
        out["user_id"] = bk.user_id
    if v.at_least(51):
        out["encryption_key_id"] = None
    return out


def _check_quota(s: Session, request: web.Request, project_id: str, size: int) -> None:
    lim = quotas.limits(s, state(request).cfg.blockstore, project_id)
    count, used = quotas.count_and_gigabytes(s, m.Backup, project_id)
    if 0 <= lim["backups"] < count + 1:
        raise OverQuota(f"BackupLimitExceeded: Maximum number of backups allowed "
                        f"({lim['backups']}) exceeded for quota 'backups'.", "backups")
    if 0 <= lim["backup_gigabytes"] < used + size:
        raise OverQuota(
            "VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed Backup "
            f"gigabytes quota 'backup_gigabytes'. Requested {size}G, quota is "
            f"{lim['backup_gigabytes']}G and {used}G has been consumed.",
            "backup_gigabytes")


def _need_store(request: web.Request) -> None:
    if state(request).manager.backups is None:
        raise Unavailable("Service cinder-backup could not be found: the block store has no "
                          "object store to keep backups in.")


@routes.post(V + "/backups")
async def create(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    _need_store(request)
    st = state(request)
    body = section(await json_body(request), "backup")
    vid = body.get("volume_id")
    if not isinstance(vid, str) or not vid:
        raise Invalid("Invalid input received: volume_id is required.")
    if body.get("snapshot_id") is not None:
        raise Invalid("Invalid input received: backups of snapshots are not supported.")
    name = check_text(body, "name")
    description = check_text(body, "description", 255)
    incremental = _flag(body.get("incremental"), "incremental")
    force = _flag(body.get("force"), "force")
    metadata = check_metadata(body.get("metadata"))
    container = body.get("container") or st.cfg.blockstore.backup_container
    if not isinstance(container, str) or len(container) > 255 \
            or not set(container) <= CONTAINER_CHARS or container[0] in "._-":
        raise Invalid("Invalid input received: container must be 1-255 letters, digits, "
                      "'_', '.' or '-', starting with a letter or digit.")

    def make(s: Session) -> dict[str, Any]:
        vol = get_volume(s, who, vid)
        if vol.status == "in-use" and not force:
            raise Invalid(f"Invalid volume: Volume {vid} is in-use; backing it up needs "
                          "force.")
        if vol.status not in ("available", "in-use"):
            raise Invalid(f"Invalid volume: Volume to be backed up must be available or "
                          f"in-use, but the current status is \"{vol.status}\".")
        parent = None
        if incremental:
            parent = s.scalar(select(m.Backup).where(
                m.Backup.volume_id == vid, m.Backup.status == "available").order_by(
                m.Backup.data_timestamp.desc(), m.Backup.created_at.desc()).limit(1))
            if parent is None:
                raise Invalid("Invalid backup: No backups available to do an incremental "
                              "backup.")
        _check_quota(s, request, vol.project_id, vol.size)
        now = m.utcnow()
        bk = m.Backup(id=m.new_id(), project_id=vol.project_id, user_id=who.user_id,
                      volume_id=vid, name=name, description=description, size=vol.size,
                      status="creating", container=container, is_incremental=incremental,
                      parent_id=parent.id if parent else None, volume_back_to=vol.status,
                      availability_zone=vol.availability_zone, metadata_=metadata,
                      object_count=0, created_at=now, updated_at=now, data_timestamp=now)
        s.add(bk)
        vol.status = "backing-up"
        vol.updated_at = now
        s.flush()
        return {"id": bk.id, "name": bk.name,
                "links": views.links(project_url(request), "backups", bk.id)}

    out = await run(request, make)
    st.manager.spawn(st.manager.create_backup(out["id"]))
    return json_response({"backup": out}, status=202)


async def _listing(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    q = request.query
    stmt = select(m.Backup)
    all_tenants = who.is_admin and q.get("all_tenants", "0").lower() in ("1", "true", "yes")
    if who.is_admin and q.get("project_id"):
        stmt = stmt.where(m.Backup.project_id == q["project_id"])
    elif not all_tenants:
        stmt = stmt.where(m.Backup.project_id == (who.project_id or ""))
    if "name" in q:
        stmt = stmt.where(m.Backup.name == q["name"])
    if "status" in q:
        stmt = stmt.where(m.Backup.status == q["status"])
    if "volume_id" in q:
        stmt = stmt.where(m.Backup.volume_id == q["volume_id"])
    sort = q.get("sort") or q.get("sort_key", "created_at")
    for item in sort.split(","):
        key, _, direction = item.strip().partition(":")
        direction = direction or q.get("sort_dir", "desc")
        if key not in SORT_KEYS or direction.lower() not in ("asc", "desc"):
            raise Invalid(f"Invalid input received: Invalid sort {item!r}.")
        col = SORT_KEYS[key]
        stmt = stmt.order_by(col.asc() if direction.lower() == "asc" else col.desc())
    stmt = stmt.order_by(m.Backup.id.desc())
    limit, marker = limit_param(request), q.get("marker")

    def listing(s: Session) -> dict[str, Any]:
        base = project_url(request)
        return page(request, "backups", list(s.scalars(stmt)),
                    lambda b: view(s, request, who, b) if detail else
                    {"id": b.id, "name": b.name, "links": views.links(base, "backups", b.id)},
                    limit=limit, marker=marker)

    return json_response(await run(request, listing))


@routes.get(V + "/backups")
async def index(request: web.Request) -> web.Response:
    return await _listing(request, detail=False)


@routes.get(V + "/backups/detail")
async def detail(request: web.Request) -> web.Response:
    return await _listing(request, detail=True)


@routes.get(V + "/backups/{backup_id}")
async def show(request: web.Request) -> web.Response:
    who = await caller(request)
    bid = request.match_info["backup_id"]
    return json_response({"backup": await run(
        request, lambda s: view(s, request, who, get_backup(s, who, bid)))})


@routes.put(V + "/backups/{backup_id}")
async def update(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    if not version(request).at_least(9):
        raise NotFound("Updating a backup needs microversion 3.9 or later.")
    bid = request.match_info["backup_id"]
    body = section(await json_body(request), "backup")
    allowed = {"name", "description", "metadata"}
    if not body or set(body) - allowed:
        raise Invalid(f"Invalid input received: only {', '.join(sorted(allowed))} may be "
                      "updated.")

    def upd(s: Session) -> dict[str, Any]:
        bk = get_backup(s, who, bid)
        if "name" in body:
            bk.name = check_text(body, "name")
        if "description" in body:
            bk.description = check_text(body, "description", 255)
        if "metadata" in body:
            bk.metadata_ = check_metadata(body["metadata"])
        bk.updated_at = m.utcnow()
        return view(s, request, who, bk)

    return json_response({"backup": await run(request, upd)})


@routes.delete(V + "/backups/{backup_id}")
async def delete(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    bid = request.match_info["backup_id"]
    st = state(request)

    def begin(s: Session) -> None:
        bk = get_backup(s, who, bid)
        if bk.status not in ("available", "error", "error_deleting"):
            raise Invalid(f"Invalid backup: Backup status must be available or error "
                          f"(backup {bid} is {bk.status}).")
        child = s.scalar(select(m.Backup.id).where(m.Backup.parent_id == bid).limit(1))
        if child is not None:
            raise Invalid(f"Invalid backup: Incremental backups exist for this backup "
                          f"(backup {child} depends on {bid}).")
        bk.status = "deleting"
        bk.updated_at = m.utcnow()

    await run(request, begin)
    st.manager.spawn(st.manager.delete_backup(bid))
    return web.Response(status=202)


@routes.post(V + "/backups/{backup_id}/restore")
async def restore(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    _need_store(request)
    st = state(request)
    bid = request.match_info["backup_id"]
    body = section(await json_body(request), "restore")
    target = body.get("volume_id")
    if target is not None and not isinstance(target, str):
        raise Invalid("Invalid input received: volume_id must be a string.")
    name = check_text(body, "name")

    def begin(s: Session) -> tuple[str, str | None, bool]:
        bk = get_backup(s, who, bid)
        if bk.status != "available":
            raise Invalid(f"Invalid backup: Backup status must be available (backup {bid} "
                          f"is {bk.status}).")
        now = m.utcnow()
        if target is None:
            project = who.project_id or bk.project_id
            quotas.check(s, st.cfg.blockstore, project,
                         quotas.Delta(volumes=1, gigabytes=bk.size))
            vtype = find_type(s, None, st.cfg.blockstore.default_volume_type)
            vol = m.Volume(id=m.new_id(), project_id=project, user_id=who.user_id,
                           name=name or f"restore_backup_{bid}", size=bk.size,
                           status="restoring-backup",
                           availability_zone=st.cfg.blockstore.availability_zone,
                           volume_type_id=vtype.id, metadata_={}, image_metadata={},
                           initiators=[], created_at=now, updated_at=now)
            s.add(vol)
            new = True
        else:
            vol = get_volume(s, who, target)
            if vol.status != "available":
                raise Invalid(f"Invalid volume: Volume to be restored to must be available "
                              f"(volume {target} is {vol.status}).")
            if vol.size < bk.size:
                raise Invalid(f"Invalid volume: volume size {vol.size}GB cannot be smaller "
                              f"than the backup size {bk.size}GB. It must be >= backup size.")
            vol.status = "restoring-backup"
            vol.updated_at = now
            new = False
        bk.status = "restoring"
        bk.updated_at = now
        s.flush()
        return vol.id, vol.name, new

    vid, vname, new = await run(request, begin)
    st.manager.spawn(st.manager.restore_backup(bid, vid, new=new))
    return json_response({"restore": {"backup_id": bid, "volume_id": vid,
                                      "volume_name": vname}}, status=202)


def objects_for(proxy_url: str, validator: TokenValidator,
                session: aiohttp.ClientSession) -> BackupObjects:
    """The object store client of backups, in the service user's own account."""

    async def account() -> str:
        info = await validator.validate(await validator.service_token())
        if info is None or info.project_id is None:
            raise RuntimeError("identity does not validate the service user's own token")
        return f"AUTH_{info.project_id}"

    return BackupObjects(proxy_url, validator.service_token, account, session)
