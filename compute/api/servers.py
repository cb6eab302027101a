"""``/servers``: create, list (brief and detail, filters, paging), show, update, delete,
and each server's metadata and tags (2.26+). Rules in :mod:`compute.core.servers` and
:mod:`compute.core.create`; views in :mod:`compute.api.views`."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import StrataError
from common.http import TXN_ID
from compute import models as m
from compute.api import fields, views
from compute.api.base import (
    Routes,
    caller,
    json_body,
    json_response,
    links,
    next_link,
    run,
    state,
    version,
    writer,
)
from compute.core import create, networking, requests, scheduler, servers
from compute.errors import Invalid, ItemNotFound, PolicyNotAuthorized
from compute.policy import Caller

routes = Routes()
log = logging.getLogger("compute.api")


def request_id(request: web.Request) -> str:
    return str(request.get(TXN_ID) or "")


def host_statuses(s: Session, down_after: float) -> dict[str, str]:
    """Nova's ``host_status`` of every compute host: UP, DOWN or MAINTENANCE."""
    out = {}
    for hs in scheduler.host_states(s, down_after=down_after):
        out[hs.host] = "MAINTENANCE" if not hs.enabled else ("UP" if hs.up else "DOWN")
    return out


def extras(request: web.Request, s: Session, insts: Sequence[m.Instance]
           ) -> dict[str, views.Extra]:
    st = state(request)
    status = host_statuses(s, st.cfg.compute.service_down_time)
    uuids = [i.uuid for i in insts]
    groups: dict[str, list[str]] = {}
    if uuids:
        for member in s.scalars(select(m.ServerGroupMember).where(
                m.ServerGroupMember.instance_uuid.in_(uuids))):
            groups.setdefault(member.instance_uuid, []).append(member.group_id)
    prefix = st.cfg.domain_prefix()
    return {i.uuid: views.Extra(
        addresses=views.addresses(i), groups=groups.get(i.uuid, []),
        host_status=(status.get(i.host, "UNKNOWN") if i.host else ""),
        instance_name=f"{prefix}{i.uuid}") for i in insts}


async def live_addresses(request: web.Request, who: Caller, insts: Sequence[m.Instance],
                         more: dict[str, views.Extra]) -> None:
    """Replace the addresses the database remembers with the networking service's, as
    the caller sees them there (floating IPs come and go there); keep the remembered
    ones when it cannot say."""
    st = state(request)
    wanted = [i for i in insts if i.interfaces]
    net = networking.user_client(st, who)
    if not wanted or net is None:
        return
    try:
        ports = await net.list_ports(device_id=[i.uuid for i in wanted])
        fips = await net.list_floating_ips(port_id=[p["id"] for p in ports]) \
            if ports else []
    except StrataError as exc:
        log.info("server addresses from the database: %s", exc.message)
        return
    names = {v.network_id: v.network_name for i in wanted for v in i.interfaces
             if v.network_name}
    floating: dict[str, list[str]] = {}
    for fip in fips:
        if fip.get("fixed_ip_address"):
            floating.setdefault(fip["fixed_ip_address"], []).append(
                fip["floating_ip_address"])
    for inst in wanted:
        mine = [p for p in ports if p.get("device_id") == inst.uuid]
        more[inst.uuid].addresses = views.addresses_from_ports(mine, names, floating)


def show_one(request: web.Request, s: Session, who: Caller, inst: m.Instance, *,
             view: fields.View = fields.SERVER, extend: bool = True,
             admin_pass: str | None = None) -> dict[str, Any]:
    return views.server(request, who, inst, extras(request, s, [inst])[inst.uuid],
                        view=view, extend_addresses=extend, admin_pass=admin_pass)


# -- create --------------------------------------------------------------------------


@routes.post("/servers")
async def create_server(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:servers:create")
    st = state(request)
    minor = version(request).minor
    req = requests.parse_create(await json_body(request), minor, is_admin=who.is_admin)
    prepared = await create.prepare(st, who, req)
    insts = await run(request, lambda s: servers.create_rows(
        s, st.cfg.compute, who, prepared, request_id=request_id(request)))
    for inst in insts:
        st.tokens.put(inst.uuid, who.token, who.project_id or "")
    st.nudge(None)
    if req.return_reservation_id:
        return json_response({"reservation_id": insts[0].reservation_id}, status=202)
    inst = insts[0]
    password = req.admin_pass or secrets.token_urlsafe(9)
    values: dict[str, Any] = {
        "id": inst.uuid, "links": links(request, "servers", inst.uuid),
        "OS-DCF:diskConfig": req.disk_config,
        "security_groups": [{"name": g} for g in req.security_groups]}
    if st.cfg.compute.enable_instance_password:
        values["adminPass"] = password
    response = json_response({"server": fields.SERVER_CREATED.render(values, minor)},
                             status=202)
    response.headers["Location"] = links(request, "servers", inst.uuid)[0]["href"]
    return response


# -- list and show -------------------------------------------------------------------


async def _list(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    minor = version(request).minor
    single = {k: request.query.getall(k)[-1] for k in request.query}
    multi = {k: request.query.getall(k) for k in request.query}
    q = servers.parse_list_query(single, multi, minor, who.is_admin)
    if "all_tenants" in single and not who.is_admin and \
            single["all_tenants"].lower() not in ("0", "false", "off", "no"):
        raise PolicyNotAuthorized("os_compute_api:servers:index:get_all_tenants")

    def read(s: Session) -> tuple[list[m.Instance], dict[str, views.Extra]]:
        rows = servers.listing(s, who, q)
        return rows, extras(request, s, rows) if detail else {}

    rows, more = await run(request, read)
    if detail:
        await live_addresses(request, who, rows, more)
        items = [views.server(request, who, i, more[i.uuid]) for i in rows]
    else:
        items = [views.brief(request, i) for i in rows]
    body: dict[str, Any] = {"servers": items}
    if q.limit is not None and items and len(items) >= q.limit:
        body["servers_links"] = next_link(request, "servers", items[-1]["id"])
    return json_response(body)


@routes.get("/servers")
async def list_servers(request: web.Request) -> web.Response:
    return await _list(request, False)


@routes.get("/servers/detail")
async def list_servers_detail(request: web.Request) -> web.Response:
    return await _list(request, True)


@routes.get("/servers/{server_id}")
async def show_server(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid = request.match_info["server_id"]

    def read(s: Session) -> tuple[m.Instance, dict[str, views.Extra]]:
        inst = servers.get(s, who, uuid)
        return inst, extras(request, s, [inst])

    inst, more = await run(request, read)
    await live_addresses(request, who, [inst], more)
    return json_response({"server": views.server(request, who, inst, more[inst.uuid])})


# -- update and delete -----------------------------------------------------------------


@routes.put("/servers/{server_id}")
async def update_server(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:servers:update")
    uuid = request.match_info["server_id"]
    minor = version(request).minor
    values = requests.parse_update(await json_body(request), minor)

    def change(s: Session) -> dict[str, Any]:
        inst = servers.update(s, who, uuid, values)
        if minor >= 75:
            return show_one(request, s, who, inst)
        return show_one(request, s, who, inst, view=fields.SERVER_UPDATE, extend=False)

    return json_response({"server": await run(request, change)})


@routes.delete("/servers/{server_id}")
async def delete_server(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:servers:delete")
    st = state(request)
    uuid = request.match_info["server_id"]
    host = await run(request, lambda s: servers.request_delete(
        s, who, uuid, request_id=request_id(request)))
    if host is not None:
        st.nudge(host)
    else:
        st.tokens.drop(uuid)
    return web.Response(status=204)


# -- metadata ------------------------------------------------------------------------


def _meta_body(body: Any, key: str) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise Invalid(f"Invalid input for field/attribute {key}. Value: {body}. "
                      f"'{key}' is a required property")
    return body[key]


@routes.get("/servers/{server_id}/metadata")
async def show_metadata(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid = request.match_info["server_id"]
    meta = await run(request, lambda s: dict(servers.get(s, who, uuid).metadata_ or {}))
    return json_response({"metadata": meta})


async def _set_metadata(request: web.Request, replace: bool) -> web.Response:
    who = await writer(request, "os_compute_api:server-metadata:update")
    uuid = request.match_info["server_id"]
    items = _meta_body(await json_body(request), "metadata")
    meta = await run(request, lambda s: servers.set_metadata(
        s, state(request).cfg.compute, who, uuid, items, replace=replace))
    return json_response({"metadata": meta})


@routes.post("/servers/{server_id}/metadata")
async def update_metadata(request: web.Request) -> web.Response:
    return await _set_metadata(request, False)


@routes.put("/servers/{server_id}/metadata")
async def replace_metadata(request: web.Request) -> web.Response:
    return await _set_metadata(request, True)


@routes.get("/servers/{server_id}/metadata/{key}")
async def show_metadata_item(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid, key = request.match_info["server_id"], request.match_info["key"]
    meta = await run(request, lambda s: dict(servers.get(s, who, uuid).metadata_ or {}))
    if key not in meta:
        raise ItemNotFound("Metadata item was not found")
    return json_response({"meta": {key: meta[key]}})


@routes.put("/servers/{server_id}/metadata/{key}")
async def set_metadata_item(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:server-metadata:update")
    uuid, key = request.match_info["server_id"], request.match_info["key"]
    item = _meta_body(await json_body(request), "meta")
    if not isinstance(item, dict) or len(item) != 1:
        raise Invalid("Request body contains too many items")
    if key not in item:
        raise Invalid("Request body and URI mismatch")
    await run(request, lambda s: servers.set_metadata(
        s, state(request).cfg.compute, who, uuid, item, replace=False))
    return json_response({"meta": item})


@routes.delete("/servers/{server_id}/metadata/{key}")
async def delete_metadata_item(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:server-metadata:delete")
    uuid, key = request.match_info["server_id"], request.match_info["key"]
    await run(request, lambda s: servers.delete_metadata_item(s, who, uuid, key))
    return web.Response(status=204)


# -- tags (2.26+) ----------------------------------------------------------------------


@routes.get("/servers/{server_id}/tags", min_version=26)
async def list_tags(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid = request.match_info["server_id"]
    tags = await run(request, lambda s: [t.tag for t in servers.get(s, who, uuid).tags])
    return json_response({"tags": tags})


@routes.put("/servers/{server_id}/tags", min_version=26)
async def replace_tags(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-server-tags:update_all")
    uuid = request.match_info["server_id"]
    tags = requests.check_tags(_meta_body(await json_body(request), "tags"))
    return json_response({"tags": await run(request, lambda s: servers.set_tags(
        s, who, uuid, tags))})


@routes.delete("/servers/{server_id}/tags", min_version=26)
async def delete_tags(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-server-tags:delete_all")
    uuid = request.match_info["server_id"]
    await run(request, lambda s: servers.set_tags(s, who, uuid, []))
    return web.Response(status=204)


@routes.get("/servers/{server_id}/tags/{tag}", min_version=26)
async def check_tag(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid, tag = request.match_info["server_id"], request.match_info["tag"]
    tags = await run(request, lambda s: [t.tag for t in servers.get(s, who, uuid).tags])
    if tag not in tags:
        raise ItemNotFound(f"Tag {tag} could not be found.")
    return web.Response(status=204)


@routes.put("/servers/{server_id}/tags/{tag}", min_version=26)
async def add_tag(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-server-tags:update")
    uuid, tag = request.match_info["server_id"], request.match_info["tag"]
    added = await run(request, lambda s: servers.add_tag(s, who, uuid, tag))
    location = links(request, "servers", uuid)[0]["href"] + f"/tags/{tag}"
    return web.Response(status=201 if added else 204, headers={"Location": location})


@routes.delete("/servers/{server_id}/tags/{tag}", min_version=26)
async def delete_tag(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-server-tags:delete")
    uuid, tag = request.match_info["server_id"], request.match_info["tag"]
    await run(request, lambda s: servers.delete_tag(s, who, uuid, tag))
    return web.Response(status=204)
