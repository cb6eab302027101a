"""A server's ports (``os-interface``): list, show, attach (a port, or a new one on a
network) and detach, on a running or stopped server.

As Nova's, attaching answers once the port is in the guest: the port is checked (and,
for ``net_id``, made in the caller's project with the server's security groups) here
with the caller's token, the agent of the server's host binds it, waits for that
host's network agent to plug it and hot-plugs the NIC (:mod:`compute.agent.networks`),
and this request waits for that task. Detaching is queued (202). The views come from
the networking service's ports as the caller sees them (status, fixed IPs).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from common.errors import StrataError
from compute import models as m
from compute.api import fields
from compute.api.base import (
    Routes,
    caller,
    json_body,
    json_response,
    run,
    section,
    state,
    version,
    writer,
)
from compute.api.servers import request_id
from compute.core import actions, networking, requests, servers
from compute.errors import Conflict, Invalid, ItemNotFound
from compute.policy import Caller
from network.client import NetworkClient

routes = Routes()
ATTACH_WAIT = 180.0  # the agent binds, waits for the plug (up to 60 s) and hot-plugs


def _view(request: web.Request, vif: m.VirtualInterface,
          port: dict[str, Any] | None) -> dict[str, Any]:
    ips = port.get("fixed_ips", []) if port else vif.fixed_ips
    return fields.INTERFACE_ATTACHMENT.render({
        "port_state": (port or {}).get("status", "DOWN"),
        "fixed_ips": [{"subnet_id": a.get("subnet_id"), "ip_address": a["ip_address"]}
                      for a in ips],
        "port_id": vif.port_id, "net_id": vif.network_id, "mac_addr": vif.mac_address,
        "tag": vif.tag}, version(request).minor)


def _net(request: web.Request, who: Caller) -> NetworkClient:
    net = networking.user_client(state(request), who)
    if net is None:
        raise Invalid("Networking is not available: this cloud runs no networking service.")
    return net


async def _ports(net: NetworkClient, vifs: list[m.VirtualInterface]
                 ) -> dict[str, dict[str, Any]]:
    if not vifs:
        return {}
    try:
        return {p["id"]: p for p in await net.list_ports(id=[v.port_id for v in vifs])}
    except StrataError:
        return {}  # the views fall back to what the database remembers


@routes.get("/servers/{server_id}/os-interface")
async def list_interfaces(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid = request.match_info["server_id"]
    vifs = await run(request, lambda s: list(servers.get(s, who, uuid).interfaces))
    ports = await _ports(_net(request, who), vifs)
    return json_response({"interfaceAttachments": [
        _view(request, v, ports.get(v.port_id)) for v in vifs]})


def _find(s: Session, who: Caller, uuid: str, port_id: str) -> m.VirtualInterface:
    for vif in servers.get(s, who, uuid).interfaces:
        if vif.port_id == port_id:
            return vif
    raise ItemNotFound(f"Port {port_id} is not attached")


@routes.get("/servers/{server_id}/os-interface/{port_id}")
async def show_interface(request: web.Request) -> web.Response:
    who = await caller(request)
    uuid, port_id = request.match_info["server_id"], request.match_info["port_id"]
    vif = await run(request, lambda s: _find(s, who, uuid, port_id))
    ports = await _ports(_net(request, who), [vif])
    return json_response({"interfaceAttachment": _view(request, vif, ports.get(port_id))})


def _parse(body: Any, minor: int) -> tuple[str | None, str | None, str | None, str | None]:
    """(port_id, net_id, fixed IP, tag) of an attach request."""
    item = section(body, "interfaceAttachment")
    requests.check_keys(item, {"port_id", "net_id", "fixed_ips"} |
                        ({"tag"} if minor >= 49 else set()))
    port_id, net_id = item.get("port_id"), item.get("net_id")
    for name, value in (("port_id", port_id), ("net_id", net_id)):
        if value is not None and not requests.is_uuid(value):
            raise Invalid(f"Invalid input for field/attribute {name}. Value: {value}. "
                          f"'{value}' is not a 'uuid'")
    if port_id and net_id:
        raise Invalid("Must not input both network_id and port_id")
    if not port_id and not net_id:
        raise Invalid("Invalid input for field/attribute interfaceAttachment: one of "
                      "port_id or net_id is required")
    fixed = item.get("fixed_ips")
    ip = None
    if fixed is not None:
        if port_id or not isinstance(fixed, list) or len(fixed) != 1 or \
                not isinstance(fixed[0], dict) or set(fixed[0]) != {"ip_address"}:
            raise Invalid("Invalid input for field/attribute fixed_ips: one "
                          "{'ip_address'} on the network given by net_id")
        ip = str(fixed[0]["ip_address"])
    tag = requests.check_tag(item["tag"]) if item.get("tag") is not None else None
    return port_id, net_id, ip, tag


async def _port_to_attach(net: NetworkClient, inst: m.Instance, port_id: str | None,
                          net_id: str | None, ip: str | None) -> tuple[str, bool]:
    """The port to plug (checked, or made now on ``net_id``); whether it was made."""
    if port_id:
        await networking.free_port(net, port_id, missing=ItemNotFound)
        return port_id, False
    assert net_id is not None
    await networking.usable_network(net, net_id, missing=ItemNotFound)
    attrs: dict[str, Any] = {"device_id": inst.uuid,
                             "device_owner": f"compute:{inst.availability_zone or 'nova'}"}
    groups = [g["id"] for g in inst.security_groups or [] if g.get("id")]
    if groups:
        attrs["security_groups"] = groups
    if ip:
        attrs["fixed_ips"] = [{"ip_address": ip}]
    port = await net.create_port(net_id, **attrs)
    return str(port["id"]), True


@routes.post("/servers/{server_id}/os-interface")
async def attach_interface(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-attach-interfaces:create")
    uuid = request.match_info["server_id"]
    port_id, net_id, ip, tag = _parse(await json_body(request), version(request).minor)
    inst = await run(request, lambda s: servers.checked(s, who, uuid, "attach_interface"))
    net = _net(request, who)
    port, made = await _port_to_attach(net, inst, port_id, net_id, ip)

    def queue(s: Session) -> tuple[int, str | None]:
        row = servers.checked(s, who, uuid, "attach_interface")
        record = actions.record(s, row, "attach_interface", request_id=request_id(request),
                                user_id=who.user_id,
                                project_id=who.project_id or row.project_id)
        task = actions.queue(s, row, "attach_interface", action=record,
                             args={"port_id": port, "made": made, "tag": tag})
        servers.touch(row)
        return task.id, row.host

    try:
        task_id, host = await run(request, queue)
    except BaseException:
        if made:
            with contextlib.suppress(StrataError):
                await net.delete_port(port)
        raise
    st = state(request)
    st.tokens.put(uuid, who.token, who.project_id or "")
    if host:
        st.nudge(host)
    vif = await _attached(request, who, uuid, task_id, port)
    ports = await _ports(net, [vif])
    return json_response({"interfaceAttachment": _view(request, vif, ports.get(port))})


async def _attached(request: web.Request, who: Caller, uuid: str, task_id: int,
                    port_id: str) -> m.VirtualInterface:
    """The server's new interface once the agent's task is done; Nova's 500 when the
    attach failed."""
    deadline = time.monotonic() + ATTACH_WAIT
    while await run(request, lambda s: s.get(m.Task, task_id) is not None):
        if time.monotonic() > deadline:
            raise Conflict(f"The interface {port_id} of server {uuid} is still being "
                           "attached.")
        await asyncio.sleep(0.2)

    def found(s: Session) -> m.VirtualInterface | str:
        inst = servers.get(s, who, uuid)
        vif = next((v for v in inst.interfaces if v.port_id == port_id), None)
        return vif if vif is not None else str((inst.fault or {}).get("message", ""))

    result = await run(request, found)
    if isinstance(result, str):
        raise StrataError(f"Failed to attach network adapter device to {uuid}: {result}")
    return result


@routes.delete("/servers/{server_id}/os-interface/{port_id}")
async def detach_interface(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-attach-interfaces:delete")
    uuid, port_id = request.match_info["server_id"], request.match_info["port_id"]

    def start(s: Session) -> str | None:
        vif = _find(s, who, uuid, port_id)
        inst = servers.checked(s, who, uuid, "detach_interface")
        del vif
        record = actions.record(s, inst, "detach_interface", request_id=request_id(request),
                                user_id=who.user_id,
                                project_id=who.project_id or inst.project_id)
        actions.queue(s, inst, "detach_interface", action=record, args={"port_id": port_id})
        servers.touch(inst)
        return inst.host

    host = await run(request, start)
    st = state(request)
    st.tokens.put(uuid, who.token, who.project_id or "")
    if host:
        st.nudge(host)
    return web.Response(status=202)
