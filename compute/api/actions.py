"""Server actions (``POST /servers/{id}/action``), instance action records
(``os-instance-actions``) and volume attachments (``os-volume_attachments``).

Every action goes through the one table of :mod:`compute.core.states` (Nova's 409 for
a server in the wrong state, or locked), is recorded, and queues its operation for
the agent of the server's host. Actions the table does not know yet answer 501.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from common.errors import NotImplementedYet
from common.httpclient import RemoteError
from compute import models as m
from compute import quotas
from compute.api import consoles as consoles_api
from compute.api import fields, images
from compute.api.base import (
    AGENT,
    Routes,
    caller,
    json_body,
    json_response,
    next_link,
    query_int,
    run,
    section,
    state,
    version,
    writer,
)
from compute.api.servers import request_id, show_one
from compute.api.views import host_id, iso_micro
from compute.core import (
    actions,
    create,
    keypairs,
    networking,
    requests,
    resize,
    servers,
    states,
)
from compute.core.consoles import LEGACY_ACTIONS
from compute.errors import Conflict, Invalid, ItemNotFound
from compute.policy import Caller, check_admin
from compute.virt.driver import next_device

routes = Routes()
ActionHandler = Callable[[web.Request, Caller, str, Any], Awaitable[web.Response]]


def _queued(request: web.Request, host: str | None) -> None:
    if host:
        state(request).nudge(host)


def _simple(key: str, args_of: Callable[[Any], dict[str, Any]] | None = None
            ) -> ActionHandler:
    async def handler(request: web.Request, who: Caller, uuid: str,
                      args: Any) -> web.Response:
        extra = args_of(args) if args_of else None
        inst = await run(request, lambda s: servers.start_action(
            s, who, uuid, key, request_id=request_id(request), args=extra))
        _queued(request, inst.host)
        return web.Response(status=202)

    return handler


async def _reboot(request: web.Request, who: Caller, uuid: str, args: Any) -> web.Response:
    kind = args.get("type") if isinstance(args, dict) else None
    if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
        raise Invalid(f"Invalid input for field/attribute type. Value: {kind}. "
                      f"{kind!r} is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', "
                      "'soft']")
    key = "reboot_hard" if kind.upper() == "HARD" else "reboot"
    return await _simple(key, lambda a: {"type": kind.upper()})(request, who, uuid, args)


async def _lock(request: web.Request, who: Caller, uuid: str, args: Any) -> web.Response:
    reason = None
    if isinstance(args, dict) and args:
        if version(request).minor < 73 or set(args) - {"locked_reason"}:
            raise requests.unexpected([k for k in args if k != "locked_reason"] or
                                      ["locked_reason"])
        reason = args.get("locked_reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 255):
            raise Invalid(f"Invalid input for field/attribute locked_reason. Value: {reason}.")
    await run(request, lambda s: servers.lock(s, who, uuid, reason,
                                              request_id=request_id(request)))
    return web.Response(status=202)


async def _unlock(request: web.Request, who: Caller, uuid: str, args: Any) -> web.Response:
    await run(request, lambda s: servers.unlock(s, who, uuid, request_id=request_id(request)))
    return web.Response(status=202)


async def _reset_state(request: web.Request, who: Caller, uuid: str,
                       args: Any) -> web.Response:
    check_admin(who, "os_compute_api:os-admin-actions:reset_state")
    wanted = args.get("state") if isinstance(args, dict) else None
    await run(request, lambda s: servers.reset_state(s, who, uuid, wanted,
                                                     request_id=request_id(request)))
    return web.Response(status=202)


async def _console(request: web.Request, who: Caller, uuid: str, args: Any) -> web.Response:
    length = args.get("length") if isinstance(args, dict) else None
    if isinstance(length, str) and length.lstrip("-").isdigit():
        length = int(length)
    if length is not None and (isinstance(length, bool) or not isinstance(length, int)
                               or length < -1):
        raise Invalid(f"Invalid input for field/attribute length. Value: {length}.")
    inst = await run(request, lambda s: servers.get(s, who, uuid))
    states.check("get_console_output", uuid, inst.vm_state, inst.task_state, host=inst.host)
    agent = request.app.get(AGENT)
    if agent is None or agent.host != inst.host:
        raise Conflict(f"The console of instance {uuid} is on host {inst.host}, which this "
                       "API cannot read.")
    lines = None if length in (None, -1) else int(length)
    try:
        text = await agent.console_output(uuid, lines)
    except ItemNotFound:
        text = ""
    return json_response({"output": text})


async def _security_group(request: web.Request, who: Caller, uuid: str, args: Any,
                          add: bool) -> web.Response:
    """Add a group to (or remove it from) the server and every port it has."""
    name = args.get("name") if isinstance(args, dict) else None
    if not isinstance(name, str) or not name:
        raise Invalid("Security group name cannot be empty")
    st = state(request)
    net = networking.user_client(st, who)
    group = {"name": name, "id": ""}
    if net is not None:
        group = (await networking.security_groups(net, who, (name,)))[0]

    def change(s: Session) -> list[str]:
        inst = servers.get(s, who, uuid)
        key = "add_security_group" if add else "remove_security_group"
        states.check(key, uuid, inst.vm_state, inst.task_state, locked=inst.locked,
                     admin=who.is_admin)
        groups = [dict(g) for g in inst.security_groups or []]
        names = [g["name"] for g in groups]
        if add and group["name"] in names:
            raise Invalid(f"Security group {name} is already associated with the instance "
                          f"{uuid}")
        if not add and group["name"] not in names:
            raise Invalid(f"Security group {name} not associated with the instance {uuid}")
        groups = [*groups, group] if add else [g for g in groups
                                               if g["name"] != group["name"]]
        actions.record(s, inst, "addSecurityGroup" if add else "removeSecurityGroup",
                       request_id=request_id(request), user_id=who.user_id,
                       project_id=who.project_id or inst.project_id)
        servers.touch(inst, security_groups=groups)
        return [v.port_id for v in inst.interfaces]

    ports = await run(request, change)
    if ports and group["id"] and net is not None:
        for port_id in ports:  # the user's ports: changed with the user's own token
            port = await net.show_port(port_id)
            ids = [g for g in port.get("security_groups", []) if g != group["id"]]
            if add:
                ids.append(group["id"])
            await net.update_port(port_id, security_groups=ids)
    return web.Response(status=202)


async def _add_group(request: web.Request, who: Caller, uuid: str, args: Any) -> web.Response:
    return await _security_group(request, who, uuid, args, True)


async def _remove_group(request: web.Request, who: Caller, uuid: str,
                        args: Any) -> web.Response:
    return await _security_group(request, who, uuid, args, False)


async def _resize(request: web.Request, who: Caller, uuid: str, args: Any) -> web.Response:
    ref = resize.parse(args)
    cfg = state(request).cfg.compute
    inst = await run(request, lambda s: resize.start(s, cfg, who, uuid, ref,
                                                      request_id=request_id(request)))
    _queued(request, inst.host)
    return web.Response(status=202)


async def _rebuild(request: web.Request, who: Caller, uuid: str, args: Any) -> web.Response:
    st = state(request)
    minor = version(request).minor
    req = requests.parse_rebuild(args, minor)
    image = await create.show_image(st, who, req.image_ref)

    def change(s: Session) -> tuple[m.Instance, dict[str, Any]]:
        inst = servers.get(s, who, uuid)
        act = states.check("rebuild", uuid, inst.vm_state, inst.task_state,
                           locked=inst.locked, admin=who.is_admin, host=inst.host)
        if not inst.image_ref:
            raise Invalid("Unable to rebuild with a different image for a volume-backed "
                          "server.")
        root_gb = create.check_image_fits(image, inst.flavor)
        values: dict[str, Any] = {
            "image_ref": req.image_ref, "image_meta": create.image_subset(image),
            "kernel_id": image.get("kernel_id"), "ramdisk_id": image.get("ramdisk_id"),
            "root_gb": root_gb, "task_state": act.task_state, "fault": None}
        if req.name is not None:
            values["display_name"] = req.name
        if req.metadata is not None:
            quotas.check_metadata(s, st.cfg.compute, inst.project_id, req.metadata)
            values["metadata_"] = dict(req.metadata)
        if req.personality is not None:
            values["personality"] = [[p, d] for p, d in req.personality]
        if req.has_description:
            values["display_description"] = req.description
        if req.has_user_data:
            values["user_data"] = req.user_data
        if req.has_key_name:
            if req.key_name is None:
                values.update(key_name=None, key_data=None)
            else:
                try:
                    pair = keypairs.get(s, who.user_id, req.key_name)
                except keypairs.KeypairNotFound:
                    raise Invalid("Invalid key_name provided.") from None
                values.update(key_name=pair.name, key_data=pair.public_key)
        if req.access_ip_v4 is not None:
            values["access_ip_v4"] = req.access_ip_v4
        if req.access_ip_v6 is not None:
            values["access_ip_v6"] = req.access_ip_v6
        was_stopped = inst.vm_state == states.STOPPED
        record = actions.record(s, inst, "rebuild", request_id=request_id(request),
                                user_id=who.user_id,
                                project_id=who.project_id or inst.project_id)
        servers.touch(inst, **values)
        actions.queue(s, inst, "rebuild", args={"was_stopped": was_stopped}, action=record)
        password = req.admin_pass or secrets.token_urlsafe(9)
        view = fields.SERVER_REBUILD_FULL if minor >= 75 else fields.SERVER_REBUILD
        shown = show_one(request, s, who, inst, view=view, extend=minor >= 75,
                         admin_pass=password if st.cfg.compute.enable_instance_password
                         else None)
        return inst, shown

    st.tokens.put(uuid, who.token, who.project_id or "")
    inst, shown = await run(request, change)
    _queued(request, inst.host)
    return json_response({"server": shown}, status=202)


ACTIONS: dict[str, ActionHandler] = {
    "os-stop": _simple("stop"),
    "os-start": _simple("start"),
    "pause": _simple("pause"),
    "unpause": _simple("unpause"),
    "suspend": _simple("suspend"),
    "resume": _simple("resume"),
    "reboot": _reboot,
    "lock": _lock,
    "unlock": _unlock,
    "rebuild": _rebuild,
    "os-getConsoleOutput": _console,
    "addSecurityGroup": _add_group,
    "removeSecurityGroup": _remove_group,
    "os-resetState": _reset_state,
    "createImage": images.create_image,
    "resize": _resize,
    "confirmResize": _simple("confirm_resize"),
    "revertResize": _simple("revert_resize"),
    "shelve": images.shelve,
    "shelveOffload": images.shelve_offload,
    "unshelve": images.unshelve,
    **{name: consoles_api.legacy_action(name) for name in LEGACY_ACTIONS},
}
# Nova's actions this cloud does not take yet (501, not "no such action")
NOT_YET = ("createBackup", "os-migrateLive", "migrate", "rescue", "unrescue",
           "changePassword", "trigger_crash_dump", "evacuate", "forceDelete",
           "restore", "injectNetworkInfo", "resetNetwork", "addFixedIp", "removeFixedIp",
           "addFloatingIp", "removeFloatingIp")


@routes.post("/servers/{server_id}/action")
async def server_action(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:servers:action")
    uuid = request.match_info["server_id"]
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise Invalid("Malformed request body: one action per request")
    name, args = next(iter(body.items()))
    handler = ACTIONS.get(name)
    if handler is None:
        await run(request, lambda s: servers.get(s, who, uuid))
        if name in NOT_YET:
            raise NotImplementedYet(f"The action {name} is not implemented by this cloud "
                                    "yet.")
        raise Invalid(f"There is no such action: {name}")
    return await handler(request, who, uuid, args)


# -- os-instance-actions ----------------------------------------------------------------


def _action_view(request: web.Request, who: Caller, row: m.InstanceAction,
                 with_events: bool) -> dict[str, Any]:
    minor = version(request).minor
    values: dict[str, Any] = {
        "action": row.action, "instance_uuid": row.instance_uuid, "message": row.message,
        "project_id": row.project_id, "request_id": row.request_id,
        "start_time": iso_micro(row.start_time), "user_id": row.user_id,
        "updated_at": iso_micro(row.updated_at)}
    out = fields.INSTANCE_ACTION.render(values, minor, who.is_admin)
    if with_events and (who.is_admin or minor >= 51):
        out["events"] = [fields.INSTANCE_ACTION_EVENT.render({
            "event": e.event, "start_time": iso_micro(e.start_time),
            "finish_time": iso_micro(e.finish_time), "result": e.result,
            "traceback": e.traceback, "host": e.host,
            "hostId": host_id(row.project_id, e.host)}, minor, who.is_admin)
            for e in row.events]
    return out


def _visible_server(s: Session, who: Caller, uuid: str) -> m.Instance:
    return servers.get(s, who, uuid, deleted_ok=True)


@routes.get("/servers/{server_id}/os-instance-actions")
async def list_actions(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid = request.match_info["server_id"]
    minor = version(request).minor
    limit = query_int(request, "limit") if minor >= 58 else None
    marker = request.query.get("marker") if minor >= 58 else None

    def read(s: Session) -> list[dict[str, Any]]:
        _visible_server(s, who, uuid)
        rows = actions.listing(s, uuid)
        if marker is not None:
            ids = [r.request_id for r in rows]
            if marker not in ids:
                raise Invalid(f"Marker {marker} could not be found.")
            rows = rows[ids.index(marker) + 1:]
        if limit is not None:
            rows = rows[:limit]
        return [_action_view(request, who, r, False) for r in rows]

    items = await run(request, read)
    body: dict[str, Any] = {"instanceActions": items}
    if limit is not None and items and len(items) >= limit:
        body["links"] = next_link(request, f"servers/{uuid}/os-instance-actions",
                                  items[-1]["request_id"])
    return json_response(body)


@routes.get("/servers/{server_id}/os-instance-actions/{request_id}")
async def show_action(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid, req_id = request.match_info["server_id"], request.match_info["request_id"]

    def read(s: Session) -> dict[str, Any]:
        _visible_server(s, who, uuid)
        return _action_view(request, who, actions.by_request(s, uuid, req_id), True)

    return json_response({"instanceAction": await run(request, read)})


# -- os-volume_attachments ------------------------------------------------------------------


def _attachment_view(request: web.Request, bdm: m.BlockDeviceMapping) -> dict[str, Any]:
    return fields.VOLUME_ATTACHMENT.render({
        "id": bdm.volume_id, "serverId": bdm.instance_uuid, "volumeId": bdm.volume_id,
        "device": bdm.device_name, "tag": bdm.tag,
        "delete_on_termination": bdm.delete_on_termination}, version(request).minor)


def _attached(inst: m.Instance) -> list[m.BlockDeviceMapping]:
    return [b for b in inst.block_devices if b.destination_type == "volume" and b.volume_id]


@routes.get("/servers/{server_id}/os-volume_attachments")
async def list_attachments(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid = request.match_info["server_id"]
    items = await run(request, lambda s: [_attachment_view(request, b) for b in _attached(
        servers.get(s, who, uuid))])
    return json_response({"volumeAttachments": items})


def _find_attachment(inst: m.Instance, volume_id: str) -> m.BlockDeviceMapping:
    for bdm in _attached(inst):
        if bdm.volume_id == volume_id:
            return bdm
    raise ItemNotFound(f"Volume {volume_id} is not attached to server {inst.uuid}")


@routes.get("/servers/{server_id}/os-volume_attachments/{volume_id}")
async def show_attachment(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid, vid = request.match_info["server_id"], request.match_info["volume_id"]
    return json_response({"volumeAttachment": await run(request, lambda s: _attachment_view(
        request, _find_attachment(servers.get(s, who, uuid), vid)))})


@routes.post("/servers/{server_id}/os-volume_attachments")
async def attach_volume(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-volumes-attachments:create")
    st = state(request)
    uuid = request.match_info["server_id"]
    minor = version(request).minor
    body = section(await json_body(request), "volumeAttachment")
    allowed = {"volumeId", "device"} | ({"tag"} if minor >= 49 else set()) | \
        ({"delete_on_termination"} if minor >= 79 else set())
    requests.check_keys(body, allowed)
    vid = body.get("volumeId")
    if not requests.is_uuid(vid):
        raise Invalid(f"Invalid input for field/attribute volumeId. Value: {vid}. "
                      f"'{vid}' is not a 'uuid'")
    tag = requests.check_tag(body["tag"]) if body.get("tag") is not None else None
    delete_on = requests.check_bool(body.get("delete_on_termination", False),
                                    "delete_on_termination")

    def check(s: Session) -> m.Instance:
        inst = servers.get(s, who, uuid)
        states.check("attach_volume", uuid, inst.vm_state, inst.task_state,
                     locked=inst.locked, admin=who.is_admin, host=inst.host)
        if any(b.volume_id == vid for b in inst.block_devices):
            raise Invalid(f"Invalid volume: volume {vid} is already attached to server "
                          f"{uuid}")
        return inst

    inst = await run(request, check)
    volumes = st.volumes(who.token, who.project_id or "")
    try:
        volume = await volumes.show_volume(str(vid))
    except RemoteError as exc:
        if exc.answered == 404:
            raise ItemNotFound(f"Volume {vid} could not be found.") from None
        raise
    if volume.get("status") != "available":
        raise Invalid(f"Invalid volume: volume '{vid}' status must be 'available'. "
                      f"Currently in '{volume.get('status')}'")
    attachment = await volumes.create_attachment(str(vid), uuid)

    def record(s: Session) -> dict[str, Any]:
        inst = check(s)
        bdm = m.BlockDeviceMapping(source_type="volume", destination_type="volume",
                                   volume_id=vid, attachment_id=attachment["id"], tag=tag,
                                   delete_on_termination=delete_on, status="attaching")
        bdm.device_name = "/dev/" + next_device(servers.used_devices(inst))
        inst.block_devices.append(bdm)
        s.flush()
        act = actions.record(s, inst, "attach_volume", request_id=request_id(request),
                             user_id=who.user_id, project_id=who.project_id or inst.project_id)
        actions.queue(s, inst, "attach_volume", args={"bdm_id": bdm.id}, action=act)
        servers.touch(inst)
        return _attachment_view(request, bdm)

    try:
        view = await run(request, record)
    except BaseException:
        with contextlib.suppress(RemoteError):
            await volumes.delete_attachment(str(attachment["id"]))
        raise
    st.tokens.put(uuid, who.token, who.project_id or "")
    _queued(request, inst.host)
    return json_response({"volumeAttachment": view})


@routes.put("/servers/{server_id}/os-volume_attachments/{volume_id}")
async def swap_volume(request: web.Request) -> web.Response:
    await writer(request, "os_compute_api:os-volumes-attachments:swap")
    raise NotImplementedYet("Swapping a server's volume is not implemented by this cloud "
                            "yet.")


@routes.delete("/servers/{server_id}/os-volume_attachments/{volume_id}")
async def detach_volume(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-volumes-attachments:delete")
    uuid, vid = request.match_info["server_id"], request.match_info["volume_id"]

    def start(s: Session) -> str | None:
        inst = servers.get(s, who, uuid)
        bdm = _find_attachment(inst, vid)
        states.check("detach_volume", uuid, inst.vm_state, inst.task_state,
                     locked=inst.locked, admin=who.is_admin, host=inst.host)
        if bdm.boot_index == 0:
            raise Invalid("Can't detach root device volume")
        if bdm.status == "detaching":
            raise Conflict(f"Volume {vid} is already being detached")
        bdm.status = "detaching"
        act = actions.record(s, inst, "detach_volume", request_id=request_id(request),
                             user_id=who.user_id, project_id=who.project_id or inst.project_id)
        actions.queue(s, inst, "detach_volume", args={"bdm_id": bdm.id}, action=act)
        servers.touch(inst)
        return inst.host

    host = await run(request, start)
    state(request).tokens.put(uuid, who.token, who.project_id or "")
    _queued(request, host)
    return web.Response(status=202)

