"""Volumes: create, list, detail, show, update, delete, metadata."""

from __future__ import annotations

import ast
import json
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore import quotas
from blockstore.api import views
from blockstore.api.base import (
    caller,
    json_body,
    json_response,
    limit_param,
    offset_param,
    page,
    project_url,
    run,
    section,
    state,
    version,
)
from blockstore.errors import Invalid, NotFound, Unavailable
from blockstore.manager import ImageSource
from blockstore.policy import Caller, check_visible, check_write

routes = web.RouteTableDef()
V = "/v3/{project_id}"
GIB = 1 << 30

SORT_KEYS = {"created_at": m.Volume.created_at, "id": m.Volume.id, "name": m.Volume.name,
             "size": m.Volume.size, "status": m.Volume.status,
             "updated_at": m.Volume.updated_at, "bootable": m.Volume.bootable}


def parse_size(value: Any, what: str = "size") -> int:
    """A whole number of GiB, at least 1 (strings of digits accepted, as Cinder does)."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 1:
        raise Invalid(f"Invalid input received: {what} must be an integer and greater than "
                      f"0 (got {value!r}).")
    if value > 2**31 - 1:
        raise Invalid(f"Invalid input received: {what} {value} is too large.")
    return value


def check_text(body: dict[str, Any], key: str, limit: int = 255) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise Invalid(f"Invalid input received: {key} must be a string of at most {limit} "
                      "characters.")
    return value


def check_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("Invalid input received: metadata must be an object.")
    for k, v in value.items():
        if not isinstance(k, str) or not 0 < len(k) <= 255 or not isinstance(v, str) \
                or len(v) > 255:
            raise Invalid("Invalid input received: metadata keys and values must be strings "
                          "of 1-255 (keys) and 0-255 (values) characters.")
    return dict(value)


def find_type(s: Session, ref: str | None, default_name: str) -> m.VolumeType:
    if ref is None:
        vt = s.scalar(select(m.VolumeType).where(m.VolumeType.name == default_name))
        if vt is None:
            raise NotFound(f"Volume type {default_name} could not be found.")
        return vt
    vt = s.get(m.VolumeType, ref) or s.scalar(select(m.VolumeType).where(
        m.VolumeType.name == ref))
    if vt is None:
        raise NotFound(f"Volume type with name {ref} could not be found.")
    return vt


def get_volume(s: Session, who: Caller, volume_id: str) -> m.Volume:
    vol = s.get(m.Volume, volume_id)
    check_visible(who, vol.project_id if vol else None, "Volume", volume_id)
    assert vol is not None
    return vol


def render(s: Session, request: web.Request, who: Caller, vol: m.Volume) -> dict[str, Any]:
    cfg = state(request).cfg
    vtype = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
    atts = list(s.scalars(select(m.Attachment).where(m.Attachment.volume_id == vol.id)))
    return views.volume(vol, project_url(request), vtype=vtype, attachments=atts,
                        is_admin=who.is_admin, host=cfg.blockstore.host)


async def image_details(request: web.Request, who: Caller, image_id: str) -> dict[str, Any]:
    """The image as the caller sees it in the image service (400 when it cannot be used)."""
    st = state(request)
    url = f"{st.cfg.imagestore_url()}/v2/images/{image_id}"
    try:
        async with st.session.get(url, headers={"X-Auth-Token": who.token}) as r:
            if r.status == 404:
                raise Invalid(f"Invalid image identifier or unable to access requested "
                              f"image {image_id}.")
            if r.status != 200:
                raise Unavailable(f"The image service answered {r.status} for image "
                                  f"{image_id}.")
            image: dict[str, Any] = await r.json()
    except OSError as exc:
        raise Unavailable(f"The image service is unreachable: {exc}") from None
    if image.get("status") != "active":
        raise Invalid(f"Image {image_id} is not active.")
    return image


IMAGE_KEYS = ("checksum", "container_format", "disk_format", "min_disk", "min_ram", "size")
IMAGE_SKIP = {"id", "name", "status", "visibility", "protected", "os_hidden", "owner",
              "tags", "created_at", "updated_at", "self", "file", "schema", "virtual_size",
              "locations", "direct_url", "stores", "os_hash_algo", "os_hash_value",
              *IMAGE_KEYS}


def image_metadata(image: dict[str, Any]) -> dict[str, str]:
    meta = {"image_id": str(image["id"]), "image_name": str(image.get("name") or "")}
    for key in IMAGE_KEYS:
        if image.get(key) is not None:
            meta[key] = str(image[key])
    for key, value in image.items():
        if key not in IMAGE_SKIP and isinstance(value, str | int | float | bool):
            meta[key] = str(value)
    return meta


def _at_least(size: int | None, source_size: int, source: str) -> int:
    """The new volume's size: as asked, else the source's; never smaller than it."""
    size = size or source_size
    if size < source_size:
        raise Invalid(f"Invalid input received: Volume size '{size}'GB cannot be smaller "
                      f"than the {source} size {source_size}GB.")
    return size


@routes.post(V + "/volumes")
async def create(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    st = state(request)
    body = section(await json_body(request), "volume")
    name = check_text(body, "name") or check_text(body, "display_name")
    description = check_text(body, "description", 65535) or check_text(
        body, "display_description", 65535)
    metadata = check_metadata(body.get("metadata"))
    az = body.get("availability_zone")
    if az is not None and az != st.cfg.blockstore.availability_zone:
        raise Invalid(f"Invalid input received: Availability zone '{az}' is invalid.")
    snapshot_id = body.get("snapshot_id")
    source_volid = body.get("source_volid")
    image_ref = body.get("imageRef") or body.get("image_id")
    backup_id = body.get("backup_id")
    if sum(x is not None for x in (snapshot_id, source_volid, image_ref, backup_id)) > 1:
        raise Invalid("Invalid input received: only one of snapshot_id, source_volid, "
                      "imageRef and backup_id may be given.")
    if backup_id is not None:
        if not version(request).at_least(47):
            raise Invalid("Invalid input received: creating a volume from a backup "
                          "(backup_id) needs microversion 3.47 or later.")
        if not isinstance(backup_id, str):
            raise Invalid("Invalid input received: backup_id must be a string.")
        if st.manager.backups is None:
            raise Unavailable("Service cinder-backup could not be found: the block store "
                              "has no object store to keep backups in.")
    size_given = body.get("size")
    image: dict[str, Any] | None = None
    if image_ref is not None:
        if not isinstance(image_ref, str):
            raise Invalid("Invalid input received: imageRef must be a string.")
        image = await image_details(request, who, image_ref)
    bootable = body.get("bootable")

    def make(s: Session) -> dict[str, Any]:
        size = None if size_given is None and (snapshot_id or source_volid or backup_id) \
            else parse_size(size_given)
        vtype_ref = body.get("volume_type")
        snap = src = bk = None
        if backup_id is not None:
            bk = s.get(m.Backup, backup_id)
            check_visible(who, bk.project_id if bk else None, "Backup", backup_id)
            assert bk is not None
            if bk.status != "available":
                raise Invalid(f"Invalid backup: Backup status must be available (backup "
                              f"{backup_id} is {bk.status}).")
            size = _at_least(size, bk.size, "backup")
        if snapshot_id is not None:
            snap = s.get(m.Snapshot, str(snapshot_id))
            check_visible(who, snap.project_id if snap else None, "Snapshot", str(snapshot_id))
            assert snap is not None
            if snap.status != "available":
                raise Invalid(f"Invalid snapshot: Originating snapshot status must be one of "
                              f"'available' values (it is {snap.status}).")
            size = _at_least(size, snap.size, "snapshot")
            origin = s.get(m.Volume, snap.volume_id)
            if vtype_ref is None and origin is not None:
                vtype_ref = origin.volume_type_id
        if source_volid is not None:
            src = get_volume(s, who, str(source_volid))
            if src.status not in ("available", "in-use"):
                raise Invalid(f"Invalid volume: Source volume status must be available or "
                              f"in-use (it is {src.status}).")
            size = _at_least(size, src.size, "source volume")
            if vtype_ref is None:
                vtype_ref = src.volume_type_id
        assert size is not None
        if image is not None:
            need = max(int(image.get("min_disk") or 0),
                       -(-int(image.get("virtual_size") or image.get("size") or 0) // GIB))
            if size < need:
                raise Invalid(f"Invalid input received: Volume size {size}GB cannot be "
                              f"smaller than the image minDisk size {need}GB.")
        vtype = find_type(s, vtype_ref, st.cfg.blockstore.default_volume_type)
        quotas.check(s, st.cfg.blockstore, who.project_id or "",
                     quotas.Delta(volumes=1, gigabytes=size))
        vol = m.Volume(
            id=m.new_id(), project_id=who.project_id or "", user_id=who.user_id, name=name,
            description=description, size=size, status="creating",
            availability_zone=st.cfg.blockstore.availability_zone,
            bootable=bool(image) or bool(snap and (o := s.get(m.Volume, snap.volume_id))
                                         and o.bootable) or bool(src and src.bootable),
            volume_type_id=vtype.id, snapshot_id=snap.id if snap else None,
            source_volid=src.id if src else None, image_id=image["id"] if image else None,
            metadata_=metadata, initiators=[],
            image_metadata=image_metadata(image) if image else (
                dict(src.image_metadata) if src else {}))
        if isinstance(bootable, bool):
            vol.bootable = bootable
        if bk is not None:  # the backup is written into the new volume, as a restore does
            vol.status = "restoring-backup"
            bk.status, bk.updated_at = "restoring", m.utcnow()
        s.add(vol)
        s.flush()
        return render(s, request, who, vol)

    view = await run(request, make)
    if backup_id is not None:
        st.manager.spawn(st.manager.restore_backup(backup_id, view["id"], new=True))
        return json_response({"volume": view}, status=202)
    source = None
    if image is not None:
        source = ImageSource(f"{st.cfg.imagestore_url()}/v2/images/{image['id']}/file",
                             who.token, str(image.get("disk_format") or "raw"))
    st.manager.spawn(st.manager.create_volume(view["id"], source))
    return json_response({"volume": view}, status=202)


def _filters(request: web.Request, who: Caller) -> tuple[Any, dict[str, str], bool]:
    q = request.query
    stmt = select(m.Volume)
    all_tenants = who.is_admin and q.get("all_tenants", "0").lower() in ("1", "true", "yes")
    if who.is_admin and q.get("project_id"):
        stmt = stmt.where(m.Volume.project_id == q["project_id"])
    elif not all_tenants:
        stmt = stmt.where(m.Volume.project_id == (who.project_id or ""))
    if "status" in q:
        stmt = stmt.where(m.Volume.status == q["status"])
    if "name" in q:
        stmt = stmt.where(m.Volume.name == q["name"])
    if "bootable" in q:
        stmt = stmt.where(m.Volume.bootable.is_(q["bootable"].lower() in ("1", "true", "yes")))
    meta: dict[str, str] = {}
    if "metadata" in q:
        try:
            parsed = json.loads(q["metadata"])
        except json.JSONDecodeError:
            try:
                parsed = ast.literal_eval(q["metadata"])
            except (ValueError, SyntaxError):
                raise Invalid("Invalid input received: metadata filter must be a "
                              "dictionary.") from None
        if not isinstance(parsed, dict):
            raise Invalid("Invalid input received: metadata filter must be a dictionary.")
        meta = {str(k): str(v) for k, v in parsed.items()}
    return stmt, meta, all_tenants


def _sorting(request: web.Request) -> list[tuple[str, str]]:
    q = request.query
    out: list[tuple[str, str]] = []
    if "sort" in q:
        for item in q["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            out.append((key, direction or "desc"))
    elif "sort_key" in q:
        keys = q["sort_key"].split(",")
        dirs = q.get("sort_dir", "desc").split(",")
        out = [(k, dirs[i] if i < len(dirs) else dirs[-1]) for i, k in enumerate(keys)]
    for key, direction in out:
        if key not in SORT_KEYS:
            raise Invalid(f"Invalid input received: Invalid sort key {key}.")
        if direction.lower() not in ("asc", "desc"):
            raise Invalid(f"Invalid input received: Invalid sort direction {direction}.")
    return out or [("created_at", "desc")]


async def _listing(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    stmt, meta, _ = _filters(request, who)
    order = _sorting(request)
    for key, direction in order:
        col = SORT_KEYS[key]
        stmt = stmt.order_by(col.asc() if direction.lower() == "asc" else col.desc())
    stmt = stmt.order_by(m.Volume.id.desc())
    limit = limit_param(request)
    marker = request.query.get("marker")
    offset = offset_param(request)

    def listing(s: Session) -> dict[str, Any]:
        rows = [v for v in s.scalars(stmt)
                if all((v.metadata_ or {}).get(k) == val for k, val in meta.items())]
        base = project_url(request)
        return page(request, "volumes", rows, lambda v: render(s, request, who, v) if detail
                    else {"id": v.id, "name": v.name,
                          "links": views.links(base, "volumes", v.id)},
                    limit=limit, marker=marker, offset=offset)

    return json_response(await run(request, listing))


@routes.get(V + "/volumes")
async def index(request: web.Request) -> web.Response:
    return await _listing(request, detail=False)


@routes.get(V + "/volumes/detail")
async def detail(request: web.Request) -> web.Response:
    return await _listing(request, detail=True)


@routes.get(V + "/volumes/{volume_id}")
async def show(request: web.Request) -> web.Response:
    who = await caller(request)
    vid = request.match_info["volume_id"]
    return json_response({"volume": await run(
        request, lambda s: render(s, request, who, get_volume(s, who, vid)))})


@routes.put(V + "/volumes/{volume_id}")
async def update(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    vid = request.match_info["volume_id"]
    body = section(await json_body(request), "volume")
    allowed = {"name", "description", "metadata", "display_name", "display_description"}
    if not body or set(body) - allowed:
        raise Invalid(f"Invalid input received: only {', '.join(sorted(allowed))} may be "
                      "updated.")

    def upd(s: Session) -> dict[str, Any]:
        vol = get_volume(s, who, vid)
        if "name" in body or "display_name" in body:
            vol.name = check_text(body, "name" if "name" in body else "display_name")
        if "description" in body or "display_description" in body:
            vol.description = check_text(
                body, "description" if "description" in body else "display_description", 65535)
        if "metadata" in body:
            vol.metadata_ = check_metadata(body["metadata"])
        vol.updated_at = m.utcnow()
        return render(s, request, who, vol)

    return json_response({"volume": await run(request, upd)})


@routes.delete(V + "/volumes/{volume_id}")
async def delete(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    vid = request.match_info["volume_id"]
    cascade = request.query.get("cascade", "").lower() in ("1", "true", "yes")
    force = request.query.get("force", "").lower() in ("1", "true", "yes")
    if force and not who.is_admin:
        raise Invalid("Invalid input received: force delete is for admins only.")
    await run(request, lambda s: begin_delete(s, who, vid, cascade=cascade, force=force))
    st = state(request)
    st.manager.spawn(st.manager.delete_volume(vid, cascade=cascade or force))
    return web.Response(status=202)


DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")


def begin_delete(s: Session, who: Caller, vid: str, *, cascade: bool, force: bool) -> None:
    vol = get_volume(s, who, vid)
    if not force:
        if vol.status not in DELETABLE:
            raise Invalid(f"Invalid volume: Volume status must be available or error or "
                          f"error_restoring or error_extending or error_managing and must "
                          f"not be migrating, attached, belong to a group, have snapshots, "
                          f"awaiting a transfer, or be disassociated from snapshots after "
                          f"volume transfer (volume {vid} is {vol.status}).")
        live = s.scalar(select(m.Attachment.id).where(m.Attachment.volume_id == vid))
        if live is not None:
            raise Invalid(f"Invalid volume: Volume {vid} is attached.")
        snaps = list(s.scalars(select(m.Snapshot).where(m.Snapshot.volume_id == vid)))
        if snaps and not cascade:
            raise Invalid(f"Invalid volume: Volume {vid} still has dependent snapshots.")
        if any(sn.status not in ("available", "error") for sn in snaps):
            raise Invalid(f"Invalid volume: Volume {vid} has snapshots that are busy.")
        for sn in snaps:
            sn.status = "deleting"
    vol.status = "deleting"
    vol.updated_at = m.utcnow()


@routes.get(V + "/volumes/{volume_id}/metadata")
async def show_metadata(request: web.Request) -> web.Response:
    who = await caller(request)
    vid = request.match_info["volume_id"]
    return json_response({"metadata": await run(
        request, lambda s: dict(get_volume(s, who, vid).metadata_ or {}))})


@routes.post(V + "/volumes/{volume_id}/metadata")
@routes.put(V + "/volumes/{volume_id}/metadata")
async def set_metadata(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    vid = request.match_info["volume_id"]
    meta = check_metadata(section(await json_body(request), "metadata"))
    replace = request.method == "PUT"

    def upd(s: Session) -> dict[str, str]:
        vol = get_volume(s, who, vid)
        vol.metadata_ = meta if replace else {**(vol.metadata_ or {}), **meta}
        return dict(vol.metadata_)

    return json_response({"metadata": await run(request, upd)})


@routes.delete(V + "/volumes/{volume_id}/metadata/{key}")
async def delete_metadata(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    vid, key = request.match_info["volume_id"], request.match_info["key"]

    def upd(s: Session) -> None:
        vol = get_volume(s, who, vid)
        meta = dict(vol.metadata_ or {})
        if key not in meta:
            raise NotFound(f"Volume {vid} has no metadata with key {key}.")
        del meta[key]
        vol.metadata_ = meta

    await run(request, upd)
    return web.Response(status=200)
