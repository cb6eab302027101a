"""Volume actions (``POST /volumes/{id}/action``) and the attachments API (3.27+).

Rules in ``blockstore.core.volumes`` (extend, flags, statuses, upload to an
image) and ``blockstore.core.attachments`` (the attach flow, its status
machine and exports).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import shapes, views
from blockstore.api.base import (
    caller,
    json_body,
    json_response,
    limit_param,
    need_version,
    offset_param,
    one_action,
    page,
    run,
    section,
    sort_order,
    state,
    version,
    writer,
)
from blockstore.core import attachments, manage, volumes
from blockstore.core.validation import check_flag, check_id, check_mode, parse_size
from blockstore.errors import Invalid
from blockstore.policy import Caller, check_admin

routes = web.RouteTableDef()
V = "/v3/{project_id}"

Action = Callable[[web.Request, Caller, str, dict[str, Any]], Awaitable[web.Response]]


@routes.post(V + "/volumes/{volume_id}/action")
async def action(request: web.Request) -> web.Response:
    who = await writer(request)
    vid = request.match_info["volume_id"]
    name, args = one_action(await json_body(request))
    handler = ACTIONS.get(name)
    if handler is None:
        raise Invalid(f"Invalid input received: There is no such action: {name}.")
    return await handler(request, who, vid, args if isinstance(args, dict) else {})


def _in_transaction(status: int, change: Callable[[Session, Caller, str, dict[str, Any]], None]
                    ) -> Action:
    """An action that is one change in one transaction, answered with ``status``."""
    async def act(request: web.Request, who: Caller, vid: str,
                  args: dict[str, Any]) -> web.Response:
        await run(request, lambda s: change(s, who, vid, args))
        return web.Response(status=status)

    return act


def _transition(name: str) -> Action:
    return _in_transaction(202, lambda s, who, vid, args: attachments.TRANSITIONS[name].apply(
        s, who, vid))


async def extend(request: web.Request, who: Caller, vid: str,
                 args: dict[str, Any]) -> web.Response:
    await volumes.extend(state(request), who, vid, parse_size(args.get("new_size"), "new_size"),
                         in_use_ok=version(request).at_least(42))
    return web.Response(status=202)


async def set_bootable(request: web.Request, who: Caller, vid: str,
                       args: dict[str, Any]) -> web.Response:
    bootable = check_flag(args.get("bootable"), "bootable", default=None)
    await run(request, lambda s: volumes.set_bootable(s, who, vid, bootable))
    return web.Response(status=200)


async def reset_status(request: web.Request, who: Caller, vid: str,
                       args: dict[str, Any]) -> web.Response:
    check_admin(who, "volume_extension:volume_admin_actions:reset_status")
    status, attach_status = args.get("status"), args.get("attach_status")
    volumes.check_reset(status, attach_status)
    await run(request, lambda s: volumes.reset_status(s, who, vid, status, attach_status))
    return web.Response(status=202)


async def force_delete(request: web.Request, who: Caller, vid: str,
                       args: dict[str, Any]) -> web.Response:
    check_admin(who, "volume_extension:volume_admin_actions:force_delete")
    await volumes.force_delete(state(request), who, vid)
    return web.Response(status=202)


async def initialize_connection(request: web.Request, who: Caller, vid: str,
                                args: dict[str, Any]) -> web.Response:
    connector = attachments.parse_connector(args.get("connector"))
    info = await attachments.initialize_connection(state(request), who, vid, connector)
    return json_response({"connection_info": info})


async def terminate_connection(request: web.Request, who: Caller, vid: str,
                               args: dict[str, Any]) -> web.Response:
    attachments.parse_connector(args.get("connector", {}))
    await attachments.terminate_connection(state(request), who, vid)
    return web.Response(status=202)


async def attach(request: web.Request, who: Caller, vid: str,
                 args: dict[str, Any]) -> web.Response:
    instance, host = args.get("instance_uuid"), args.get("host_name")
    if instance is None and host is None:
        raise Invalid("Invalid input received: instance_uuid or host_name is required.")
    mode = check_mode(args.get("mode", "rw"))
    await run(request, lambda s: attachments.attach(
        s, who, vid, instance=instance, host=host, mountpoint=args.get("mountpoint"),
        mode=mode))
    return web.Response(status=202)


async def detach(request: web.Request, who: Caller, vid: str,
                 args: dict[str, Any]) -> web.Response:
    await attachments.detach(state(request), who, vid, args.get("attachment_id"))
    return web.Response(status=202)


async def set_readonly(request: web.Request, who: Caller, vid: str,
                       args: dict[str, Any]) -> web.Response:
    if not isinstance(args.get("readonly"), bool):
        raise Invalid("Invalid input received: readonly must be a boolean.")
    await run(request, lambda s: volumes.set_readonly(s, who, vid, args["readonly"]))
    return web.Response(status=202)


async def upload_image(request: web.Request, who: Caller, vid: str,
                       args: dict[str, Any]) -> web.Response:
    """``os-volume_upload_image``: a new image in the caller's project with the volume's
    bytes (raw or qcow2); the volume is ``uploading`` meanwhile."""
    req = volumes.new_image(args, with_visibility=version(request).at_least(1))
    image = req.fields

    def render(s: Session, vol: m.Volume, image_id: str) -> dict[str, Any]:
        vt = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
        return views.volume_upload(views.view(request, who), vol, vt, image_id, image)

    out = await volumes.upload_to_image(state(request), who, vid, req, render)
    return json_response({"os-volume_upload_image": out}, status=202)


async def unmanage(request: web.Request, who: Caller, vid: str,
                   args: dict[str, Any]) -> web.Response:
    check_admin(who, "volume_extension:volume_unmanage")
    await manage.unmanage_volume(state(request), who, vid)
    return web.Response(status=202)


ACTIONS: dict[str, Action] = {
    "os-extend": extend,
    "os-set_bootable": set_bootable,
    "os-reset_status": reset_status,
    "os-force_delete": force_delete,
    **{name: _transition(name) for name in attachments.TRANSITIONS},
    "os-initialize_connection": initialize_connection,
    "os-terminate_connection": terminate_connection,
    "os-attach": attach,
    "os-detach": detach,
    "os-update_readonly_flag": set_readonly,
    "os-volume_upload_image": upload_image,
    "os-unmanage": unmanage,
}


# -- attachments (3.27+; completion 3.44+, mode 3.54+) ---------------------------------


async def _attachment_caller(request: web.Request, *, write: bool = True) -> Caller:
    need_version(request, 27, "The attachments API")
    return await (writer(request) if write else caller(request))


def _render(request: web.Request, who: Caller, att: m.Attachment, call: str
            ) -> dict[str, Any]:
    return views.attachment(views.view(request, who), att, call)


async def _attachment_view(request: web.Request, who: Caller, att_id: str,
                           call: str) -> web.Response:
    return json_response({"attachment": await run(request, lambda s: _render(
        request, who, attachments.get_attachment(s, who, att_id), call))})


def _mode(request: web.Request, body: dict[str, Any], connector: Any) -> str:
    """The attach mode: ``mode`` from 3.54 (``null``: the connector's, else rw), the
    connector's ``mode`` before."""
    wanted = body.get("mode", "null") if version(request).at_least(54) else "null"
    if wanted == "null":
        wanted = connector.get("mode") if isinstance(connector, dict) else None
        return check_mode(wanted) if wanted in ("rw", "ro") else "rw"
    return check_mode(wanted)


@routes.post(V + "/attachments")
async def create_attachment(request: web.Request) -> web.Response:
    who = await _attachment_caller(request)
    body = section(await json_body(request), "attachment")
    vid = check_id(body, "volume_uuid")
    raw = body.get("connector") or None
    connector = attachments.parse_connector(raw) if raw else None
    att_id = await attachments.create_attachment(
        state(request), who, vid, instance=body.get("instance_uuid"),
        mode=_mode(request, body, raw), connector=raw, parsed=connector)
    return await _attachment_view(request, who, att_id, shapes.CREATE)


@routes.put(V + "/attachments/{attachment_id}")
async def update_attachment(request: web.Request) -> web.Response:
    who = await _attachment_caller(request)
    att_id = request.match_info["attachment_id"]
    body = section(await json_body(request), "attachment")
    await attachments.connect_attachment(state(request), who, att_id, body.get("connector"))
    return await _attachment_view(request, who, att_id, shapes.UPDATE)


@routes.post(V + "/attachments/{attachment_id}/action")
async def attachment_action(request: web.Request) -> web.Response:
    who = await _attachment_caller(request)
    need_version(request, 44, "Completing an attachment (os-complete)")
    att_id = request.match_info["attachment_id"]
    body = await json_body(request)
    if not isinstance(body, dict) or "os-complete" not in body:
        raise Invalid("Invalid input received: the only attachment action is os-complete.")
    await run(request, lambda s: attachments.complete_attachment(s, who, att_id))
    return web.Response(status=204)


@routes.delete(V + "/attachments/{attachment_id}")
async def delete_attachment(request: web.Request) -> web.Response:
    """Remove the attachment; the answer lists the volume's attachments left."""
    who = await _attachment_caller(request)
    left = await attachments.delete_attachment(state(request), who,
                                               request.match_info["attachment_id"])
    return json_response({"attachments": [_render(request, who, a, shapes.LIST)
                                          for a in left]})


ATTACHMENT_SORT = {"created_at": m.Attachment.created_at, "id": m.Attachment.id,
                   "status": m.Attachment.attach_status,
                   "volume_id": m.Attachment.volume_id,
                   "instance_id": m.Attachment.instance_uuid}


async def _list_attachments(request: web.Request, detail: bool) -> web.Response:
    who = await _attachment_caller(request, write=False)
    q = request.query
    order = sort_order(request, ATTACHMENT_SORT)
    limit, offset, marker = limit_param(request), offset_param(request), q.get("marker")
    call = shapes.DETAIL if detail else shapes.LIST

    def listing(s: Session) -> dict[str, Any]:
        rows = attachments.list_attachments(
            s, who, all_tenants=bool(q.get("all_tenants")), volume_id=q.get("volume_id"),
            instance_id=q.get("instance_id"), status=q.get("status") or q.get("attach_status"),
            order=order)
        return page(request, "attachments", rows, lambda a: _render(request, who, a, call),
                    limit=limit, marker=marker, offset=offset)

    return json_response(await run(request, listing))


@routes.get(V + "/attachments")
async def list_attachments(request: web.Request) -> web.Response:
    return await _list_attachments(request, detail=False)


@routes.get(V + "/attachments/detail")
async def list_attachments_detail(request: web.Request) -> web.Response:
    return await _list_attachments(request, detail=True)


@routes.get(V + "/attachments/{attachment_id}")
async def show_attachment(request: web.Request) -> web.Response:
    who = await _attachment_caller(request, write=False)
    return await _attachment_view(request, who, request.match_info["attachment_id"],
                                  shapes.SHOW)
