"""Volume actions (``POST /volumes/{id}/action``) and the attachments API (3.27+).

Status machine (Cinder's): ``available`` -> ``reserved``/``attaching`` ->
``in-use`` -> ``detaching`` -> ``available``; ``extending`` while it grows.
Exports: the connector given to ``os-initialize_connection`` or to an
attachment is exported to (CHAP, ACL of its initiator) by the manager; the
export goes when the last connection is terminated or attachment deleted.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import views
from blockstore.api.base import (
    caller,
    json_body,
    json_response,
    run,
    section,
    state,
    version,
)
from blockstore.api.volumes import begin_delete, get_volume, parse_size
from blockstore.errors import Forbidden, Invalid, NotFound, Unavailable
from blockstore.manager import ImageTarget
from blockstore.policy import Caller, check_admin, check_visible, check_write
from blockstore.targets import Connector

routes = web.RouteTableDef()
V = "/v3/{project_id}"

VOLUME_STATUSES = ("creating", "available", "reserved", "attaching", "in-use", "detaching",
                   "extending", "deleting", "error", "error_deleting", "error_extending",
                   "awaiting-transfer", "maintenance", "backing-up", "restoring-backup",
                   "error_restoring", "uploading")


def _connector(value: Any) -> Connector:
    if not isinstance(value, dict):
        raise Invalid("Invalid input received: connector must be an object.")
    initiator = value.get("initiator")
    if initiator is not None and not isinstance(initiator, str):
        raise Invalid("Invalid input received: connector initiator must be a string.")
    ip = value.get("ip")
    return Connector(initiator=initiator or None, ip=ip if isinstance(ip, str) else None)


def _need(vol: m.Volume, *statuses: str, action: str) -> None:
    if vol.status not in statuses:
        raise Invalid(f"Invalid volume: Volume {vol.id} status must be "
                      f"{' or '.join(statuses)} to {action}, but current status is: "
                      f"{vol.status}.")


def _live_attachments(s: Session, vid: str) -> int:
    return int(s.scalar(select(func.count(m.Attachment.id)).where(
        m.Attachment.volume_id == vid)) or 0)


@routes.post(V + "/volumes/{volume_id}/action")
async def action(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    vid = request.match_info["volume_id"]
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise Invalid("Invalid input received: one action per request.")
    name, args = next(iter(body.items()))
    handler = ACTIONS.get(name)
    if handler is None:
        raise Invalid(f"Invalid input received: There is no such action: {name}.")
    response: web.Response = await handler(request, who, vid,
                                           args if isinstance(args, dict) else {})
    return response


async def extend(request: web.Request, who: Caller, vid: str,
                 args: dict[str, Any]) -> web.Response:
    new_size = parse_size(args.get("new_size"), "new_size")
    in_use_ok = version(request).at_least(42)
    st = state(request)

    def begin(s: Session) -> str:
        from blockstore import quotas

        vol = get_volume(s, who, vid)
        statuses = ("available", "in-use") if in_use_ok else ("available",)
        _need(vol, *statuses, action="extend")
        if new_size <= vol.size:
            raise Invalid(f"Invalid input received: New size for extend must be greater than "
                          f"current size. (current: {vol.size}, extended: {new_size}).")
        quotas.check(s, st.cfg.blockstore, vol.project_id,
                     quotas.Delta(gigabytes=new_size - vol.size))
        back = vol.status
        vol.status = "extending"
        return back

    back_to = await run(request, begin)
    st.manager.spawn(st.manager.extend_volume(vid, new_size, back_to))
    return web.Response(status=202)


async def set_bootable(request: web.Request, who: Caller, vid: str,
                       args: dict[str, Any]) -> web.Response:
    raw = args.get("bootable")
    if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0", "yes", "no"):
        raw = raw.lower() in ("true", "1", "yes")
    if not isinstance(raw, bool):
        raise Invalid("Invalid input received: bootable must be a boolean.")

    def upd(s: Session) -> None:
        vol = get_volume(s, who, vid)
        vol.bootable = raw
        vol.updated_at = m.utcnow()

    await run(request, upd)
    return web.Response(status=200)


async def reset_status(request: web.Request, who: Caller, vid: str,
                       args: dict[str, Any]) -> web.Response:
    check_admin(who, "volume_extension:volume_admin_actions:reset_status")
    status = args.get("status")
    attach_status = args.get("attach_status")
    if status is not None and status not in VOLUME_STATUSES:
        raise Invalid(f"Invalid input received: Invalid status: {status!r}.")
    if attach_status is not None and attach_status not in ("attached", "detached"):
        raise Invalid(f"Invalid input received: Invalid attach status: {attach_status!r}.")
    if status is None and attach_status is None:
        raise Invalid("Invalid input received: Must specify 'status' or 'attach_status'.")

    def upd(s: Session) -> None:
        vol = get_volume(s, who, vid)
        if status is not None:
            vol.status = status
        if attach_status is not None:
            vol.attach_status = attach_status
        vol.updated_at = m.utcnow()

    await run(request, upd)
    return web.Response(status=202)


async def force_delete(request: web.Request, who: Caller, vid: str,
                       args: dict[str, Any]) -> web.Response:
    check_admin(who, "volume_extension:volume_admin_actions:force_delete")
    st = state(request)

    def begin(s: Session) -> None:
        for att in s.scalars(select(m.Attachment).where(m.Attachment.volume_id == vid)):
            s.delete(att)
        begin_delete(s, who, vid, cascade=True, force=True)

    await run(request, begin)
    st.manager.spawn(st.manager.delete_volume(vid, cascade=True))
    return web.Response(status=202)


def _transition(frm: tuple[str, ...], to: str, action_name: str, *,
                remember: bool = False, restore: bool = False) -> Any:
    async def act(request: web.Request, who: Caller, vid: str,
                  args: dict[str, Any]) -> web.Response:
        def upd(s: Session) -> None:
            vol = get_volume(s, who, vid)
            _need(vol, *frm, action=action_name)
            target = to
            if restore:
                target = vol.previous_status or ("in-use" if _live_attachments(s, vid)
                                                 else "available")
            if remember:
                vol.previous_status = vol.status
            vol.status = target
            vol.updated_at = m.utcnow()

        await run(request, upd)
        return web.Response(status=202)

    return act


async def initialize_connection(request: web.Request, who: Caller, vid: str,
                                args: dict[str, Any]) -> web.Response:
    connector = _connector(args.get("connector"))

    def check(s: Session) -> None:
        vol = get_volume(s, who, vid)
        _need(vol, "available", "reserved", "attaching", "in-use", "detaching",
              action="initialize a connection")

    await run(request, check)
    info = await state(request).manager.export(vid, connector)
    return json_response({"connection_info": info})


async def terminate_connection(request: web.Request, who: Caller, vid: str,
                               args: dict[str, Any]) -> web.Response:
    _connector(args.get("connector", {}))
    await run(request, lambda s: get_volume(s, who, vid))
    await state(request).manager.unexport(vid)
    return web.Response(status=202)


async def attach(request: web.Request, who: Caller, vid: str,
                 args: dict[str, Any]) -> web.Response:
    instance = args.get("instance_uuid")
    host = args.get("host_name")
    if instance is None and host is None:
        raise Invalid("Invalid input received: instance_uuid or host_name is required.")
    mode = args.get("mode", "rw")
    if mode not in ("rw", "ro"):
        raise Invalid(f"Invalid input received: Invalid attaching mode '{mode}'.")

    def upd(s: Session) -> None:
        vol = get_volume(s, who, vid)
        _need(vol, "available", "reserved", "attaching", action="attach")
        now = m.utcnow()
        s.add(m.Attachment(volume_id=vid, project_id=vol.project_id, instance_uuid=instance,
                           attached_host=host, mountpoint=args.get("mountpoint"),
                           attach_status="attached", attach_mode=mode, attach_time=now))
        vol.status, vol.attach_status, vol.previous_status = "in-use", "attached", None
        vol.updated_at = now

    await run(request, upd)
    return web.Response(status=202)


async def detach(request: web.Request, who: Caller, vid: str,
                 args: dict[str, Any]) -> web.Response:
    att_id = args.get("attachment_id")

    def upd(s: Session) -> bool:
        vol = get_volume(s, who, vid)
        _need(vol, "in-use", "detaching", "attaching", "reserved", action="detach")
        stmt = select(m.Attachment).where(m.Attachment.volume_id == vid)
        if att_id is not None:
            stmt = stmt.where(m.Attachment.id == att_id)
        atts = list(s.scalars(stmt))
        if att_id is not None and not atts:
            raise NotFound(f"Attachment {att_id} could not be found.")
        for att in atts[:1] if att_id is None else atts:
            s.delete(att)
        s.flush()
        left = _live_attachments(s, vid)
        if left == 0:
            vol.status, vol.attach_status, vol.previous_status = "available", "detached", None
        else:
            vol.status = "in-use"
        vol.updated_at = m.utcnow()
        return left == 0 and vol.exported

    if await run(request, upd):
        await state(request).manager.unexport(vid)
    return web.Response(status=202)


async def set_readonly(request: web.Request, who: Caller, vid: str,
                       args: dict[str, Any]) -> web.Response:
    if not isinstance(args.get("readonly"), bool):
        raise Invalid("Invalid input received: readonly must be a boolean.")

    def upd(s: Session) -> None:
        vol = get_volume(s, who, vid)
        vol.metadata_ = {**(vol.metadata_ or {}), "readonly": str(args["readonly"])}

    await run(request, upd)
    return web.Response(status=202)


UPLOAD_FORMATS = ("raw", "qcow2")
VISIBILITIES = ("public", "private", "shared", "community")


def _bool_arg(args: dict[str, Any], key: str) -> bool:
    raw = args.get(key, False)
    if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0", "yes", "no"):
        raw = raw.lower() in ("true", "1", "yes")
    if not isinstance(raw, bool):
        raise Invalid(f"Invalid input received: {key} must be a boolean.")
    return raw


async def _create_image(request: web.Request, who: Caller, body: dict[str, Any]) -> str:
    """A queued image made in the image service with the caller's token; its id."""
    st = state(request)
    try:
        async with st.session.post(f"{st.cfg.imagestore_url()}/v2/images", json=body,
                                   headers={"X-Auth-Token": who.token}) as r:
            text = await r.text()
            if r.status == 403:
                raise Forbidden(f"The image service refused to create the image: {text[:300]}")
            if 400 <= r.status < 500:
                raise Invalid(f"Invalid input received: the image service refused the image "
                              f"({r.status}): {text[:300]}")
            if r.status != 201:
                raise Unavailable(f"The image service answered {r.status} to an image "
                                  "create.")
            image_id = json.loads(text)["id"]
    except OSError as exc:
        raise Unavailable(f"The image service is unreachable: {exc}") from None
    return str(image_id)


async def upload_image(request: web.Request, who: Caller, vid: str,
                       args: dict[str, Any]) -> web.Response:
    """``os-volume_upload_image``: a new image in the caller's project with the volume's
    bytes (raw or qcow2); the volume is ``uploading`` meanwhile."""
    st = state(request)
    image_name = args.get("image_name")
    if not isinstance(image_name, str) or not 0 < len(image_name) <= 255:
        raise Invalid("Invalid input received: image_name must be a string of 1-255 "
                      "characters.")
    disk_format = args.get("disk_format", "raw")
    if disk_format not in UPLOAD_FORMATS:
        raise Invalid(f"Invalid input received: disk_format {disk_format!r} is not supported "
                      f"(one of {', '.join(UPLOAD_FORMATS)}).")
    container_format = args.get("container_format", "bare")
    if container_format != "bare":
        raise Invalid(f"Invalid input received: container_format {container_format!r} is not "
                      "supported (bare).")
    force = _bool_arg(args, "force")
    image: dict[str, Any] = {"name": image_name, "disk_format": disk_format,
                             "container_format": container_format}
    if version(request).at_least(1):
        visibility = args.get("visibility")
        if visibility is not None:
            if visibility not in VISIBILITIES:
                raise Invalid(f"Invalid input received: Invalid visibility {visibility!r}.")
            image["visibility"] = visibility
        if args.get("protected") is not None:
            image["protected"] = _bool_arg(args, "protected")

    def begin(s: Session) -> str:
        vol = get_volume(s, who, vid)
        if vol.status == "in-use" and not force:
            raise Invalid(f"Invalid volume: Volume {vid} status must be available to upload "
                          "to an image (in-use needs force).")
        _need(vol, "available", "in-use", action="upload to an image")
        back = vol.status
        vol.status = "uploading"
        vol.updated_at = m.utcnow()
        return back

    back_to = await run(request, begin)

    def undo(s: Session) -> None:
        vol = s.get(m.Volume, vid)
        if vol is not None and vol.status == "uploading":
            vol.status = back_to

    try:
        image_id = await _create_image(request, who, image)
    except BaseException:
        await run(request, undo)
        raise

    def render(s: Session) -> dict[str, Any]:
        vol = get_volume(s, who, vid)
        vt = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
        return {"id": vol.id, "updated_at": views.ts(vol.updated_at), "status": vol.status,
                "display_description": vol.description, "size": vol.size,
                "volume_type": views.volume_type(vt, is_admin=who.is_admin) if vt else None,
                "image_id": image_id, "image_name": image_name, "disk_format": disk_format,
                "container_format": container_format,
                "visibility": image.get("visibility", "private"),
                "protected": image.get("protected", False)}

    out = await run(request, render)
    url = f"{st.cfg.imagestore_url()}/v2/images/{image_id}"
    st.manager.spawn(st.manager.upload_to_image(
        vid, ImageTarget(url, who.token, disk_format), back_to))
    return json_response({"os-volume_upload_image": out}, status=202)


ACTIONS: dict[str, Any] = {
    "os-extend": extend,
    "os-set_bootable": set_bootable,
    "os-reset_status": reset_status,
    "os-force_delete": force_delete,
    "os-reserve": _transition(("available",), "attaching", "reserve", remember=True),
    "os-unreserve": _transition(("attaching", "reserved"), "available", "unreserve"),
    "os-begin_detaching": _transition(("in-use",), "detaching", "begin detaching"),
    "os-roll_detaching": _transition(("detaching",), "in-use", "roll detaching",
                                     restore=False),
    "os-initialize_connection": initialize_connection,
    "os-terminate_connection": terminate_connection,
    "os-attach": attach,
    "os-detach": detach,
    "os-update_readonly_flag": set_readonly,
    "os-volume_upload_image": upload_image,
}


# -- attachments (3.27+) ------------------------------------------------------------


def _get_attachment(s: Session, who: Caller, att_id: str) -> m.Attachment:
    att = s.get(m.Attachment, att_id)
    check_visible(who, att.project_id if att else None, "Attachment", att_id)
    assert att is not None
    return att


def _need_attachments_version(request: web.Request) -> None:
    if not version(request).at_least(27):
        raise NotFound("The attachments API needs microversion 3.27 or later.")


@routes.post(V + "/attachments")
async def create_attachment(request: web.Request) -> web.Response:
    _need_attachments_version(request)
    who = await caller(request)
    check_write(who)
    body = section(await json_body(request), "attachment")
    vid = body.get("volume_uuid")
    if not isinstance(vid, str):
        raise Invalid("Invalid input received: volume_uuid is required.")
    instance = body.get("instance_uuid")
    connector = _connector(body["connector"]) if body.get("connector") else None
    mode = body.get("mode", "rw")
    if mode not in ("rw", "ro"):
        raise Invalid(f"Invalid input received: Invalid attaching mode '{mode}'.")

    def make(s: Session) -> str:
        vol = get_volume(s, who, vid)
        _need(vol, "available", "reserved", action="create an attachment")
        att = m.Attachment(volume_id=vid, project_id=vol.project_id, instance_uuid=instance,
                           attach_status="reserved", attach_mode=mode,
                           connector=body.get("connector") or None)
        s.add(att)
        vol.status = "attaching" if connector else "reserved"
        vol.updated_at = m.utcnow()
        s.flush()
        return att.id

    att_id = await run(request, make)
    if connector is not None:
        await _connect(request, who, att_id, vid, connector, body["connector"])
    view = await run(request, lambda s: views.attachment(_get_attachment(s, who, att_id)))
    return json_response({"attachment": view})


async def _connect(request: web.Request, who: Caller, att_id: str, vid: str,
                   connector: Connector, raw: dict[str, Any]) -> None:
    info = await state(request).manager.export(vid, connector)
    data = info.get("data")
    if isinstance(data, dict):
        data["attachment_id"] = att_id
        info["data"] = data

    def save(s: Session) -> None:
        att = _get_attachment(s, who, att_id)
        att.connector, att.connection_info = raw, info
        att.attach_status = "attaching"
        att.attached_host = raw.get("host") if isinstance(raw.get("host"), str) else None
        att.mountpoint = raw.get("mountpoint") if isinstance(raw.get("mountpoint"), str) \
            else None
        vol = s.get(m.Volume, vid)
        if vol is not None and vol.status in ("reserved", "available"):
            vol.status = "attaching"

    await run(request, save)


@routes.put(V + "/attachments/{attachment_id}")
async def update_attachment(request: web.Request) -> web.Response:
    _need_attachments_version(request)
    who = await caller(request)
    check_write(who)
    att_id = request.match_info["attachment_id"]
    body = section(await json_body(request), "attachment")
    raw = body.get("connector")
    connector = _connector(raw)
    assert isinstance(raw, dict)
    vid = await run(request, lambda s: _get_attachment(s, who, att_id).volume_id)
    await _connect(request, who, att_id, vid, connector, raw)
    view = await run(request, lambda s: views.attachment(_get_attachment(s, who, att_id)))
    return json_response({"attachment": view})


@routes.post(V + "/attachments/{attachment_id}/action")
async def attachment_action(request: web.Request) -> web.Response:
    _need_attachments_version(request)
    who = await caller(request)
    check_write(who)
    att_id = request.match_info["attachment_id"]
    body = await json_body(request)
    if not isinstance(body, dict) or "os-complete" not in body:
        raise Invalid("Invalid input received: the only attachment action is os-complete.")

    def complete(s: Session) -> None:
        att = _get_attachment(s, who, att_id)
        now = m.utcnow()
        att.attach_status, att.attach_time = "attached", now
        vol = s.get(m.Volume, att.volume_id)
        if vol is not None:
            vol.status, vol.attach_status, vol.previous_status = "in-use", "attached", None
            vol.updated_at = now

    await run(request, complete)
    return web.Response(status=204)


@routes.delete(V + "/attachments/{attachment_id}")
async def delete_attachment(request: web.Request) -> web.Response:
    _need_attachments_version(request)
    who = await caller(request)
    check_write(who)
    att_id = request.match_info["attachment_id"]

    def drop(s: Session) -> tuple[str, bool]:
        att = _get_attachment(s, who, att_id)
        vid = att.volume_id
        s.delete(att)
        s.flush()
        vol = s.get(m.Volume, vid)
        last = _live_attachments(s, vid) == 0
        if vol is not None and last:
            vol.status, vol.attach_status, vol.previous_status = "available", "detached", None
            vol.updated_at = m.utcnow()
        return vid, last and vol is not None and vol.exported

    vid, unexport = await run(request, drop)
    if unexport:
        await state(request).manager.unexport(vid)
    return json_response({"attachments": []})


@routes.get(V + "/attachments")
@routes.get(V + "/attachments/detail")
async def list_attachments(request: web.Request) -> web.Response:
    _need_attachments_version(request)
    who = await caller(request)
    q = request.query

    def listing(s: Session) -> list[dict[str, Any]]:
        stmt = select(m.Attachment).order_by(m.Attachment.created_at)
        if not (who.is_admin and q.get("all_tenants")):
            stmt = stmt.where(m.Attachment.project_id == (who.project_id or ""))
        if "volume_id" in q:
            stmt = stmt.where(m.Attachment.volume_id == q["volume_id"])
        if "instance_id" in q:
            stmt = stmt.where(m.Attachment.instance_uuid == q["instance_id"])
        return [views.attachment(a) for a in s.scalars(stmt)]

    return json_response({"attachments": await run(request, listing)})


@routes.get(V + "/attachments/{attachment_id}")
async def show_attachment(request: web.Request) -> web.Response:
    _need_attachments_version(request)
    who = await caller(request)
    att_id = request.match_info["attachment_id"]
    return json_response({"attachment": await run(
        request, lambda s: views.attachment(_get_attachment(s, who, att_id)))})
