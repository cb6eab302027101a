"""A server's ports on the networking service.

At build, for every network asked for a port is made in the server's project (its
security groups, a fixed IP when one was asked for) and bound to this host
(``binding:host_id``, ``device_id``, ``device_owner compute:<zone>``); a port the user
gave is bound the same way. Each is written to the database as soon as it exists, so
a failure or a restart releases exactly those. This host's network agent then plugs
them: the guest's tap ``tap<port[:11]>`` goes on the network's bridge
``brq<network[:11]>`` and its security groups filter it. When the server goes, the
ports compute made are deleted and the user's are unbound. ``os-interface`` plugs a
port into a running server (:func:`attach_port`) and out again (:func:`detach_port`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import NotFound, StrataError
from compute import models as m
from compute.agent.context import AgentContext, log
from compute.errors import DeviceNotFound, InstanceNotFound
from compute.virt.driver import Nic
from network.client import NetworkClient, bridge_name, tap_name

PORT_ACTIVE_WAIT = 60.0


def nic_of(vif: m.VirtualInterface) -> Nic:
    return Nic(mac=vif.mac_address, tap=tap_name(vif.port_id),
               bridge=bridge_name(vif.network_id))


def fixed_ips(port: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"ip_address": a["ip_address"], "subnet_id": a.get("subnet_id"),
             "version": ipaddress.ip_address(a["ip_address"]).version}
            for a in port.get("fixed_ips", [])]


def _client(ctx: AgentContext) -> NetworkClient | None:
    return ctx.st.network() if ctx.st.cfg.network.enabled else None


def _as_user(ctx: AgentContext, token: str) -> NetworkClient:
    async def source() -> str:
        return token

    return ctx.st.network(source)


async def _record(ctx: AgentContext, inst: m.Instance, port: dict[str, Any], *,
                  preexisting: bool, name: str, tag: str | None) -> None:
    def write(s: Session) -> None:
        s.add(m.VirtualInterface(
            instance_uuid=inst.uuid, port_id=port["id"], network_id=port["network_id"],
            network_name=name, mac_address=port["mac_address"], preexisting=preexisting,
            tag=tag, fixed_ips=fixed_ips(port)))

    await ctx.db(write)


async def allocate(ctx: AgentContext, inst: m.Instance) -> None:
    """Ports for every requested network, bound to this host (rows written as made)."""
    wanted = inst.requested_networks
    if not isinstance(wanted, list) or not wanted:
        return
    net = _client(ctx)
    user = ctx.user_token(inst.uuid)
    if net is None:
        raise StrataError("networking is not available: no networking service to make "
                          "ports on")
    owner = f"compute:{inst.availability_zone or ctx.cfg.availability_zone}"
    binding = {"binding:host_id": ctx.host, "device_id": inst.uuid, "device_owner": owner}
    groups = [g["id"] for g in inst.security_groups or [] if g.get("id")]
    made: list[str] = []
    for item in wanted:
        name = str(item.get("network_name") or "")
        if item.get("port_id"):
            port = await net.update_port(str(item["port_id"]), **binding)
            await _record(ctx, inst, port, preexisting=True, name=name, tag=item.get("tag"))
        else:
            # made as the user (their project's security groups, their quota), as Nova
            # makes ports; then bound by the service, which may bind to hosts
            if user is None:
                raise StrataError("the request's token is gone (the agent restarted): "
                                  "ports cannot be made for the server now")
            attrs: dict[str, Any] = {"device_id": inst.uuid, "device_owner": owner}
            if groups:
                attrs["security_groups"] = groups
            if item.get("fixed_ip"):
                attrs["fixed_ips"] = [{"ip_address": item["fixed_ip"]}]
            port = await _as_user(ctx, user[0]).create_port(str(item["network_id"]),
                                                           **attrs)
            await _record(ctx, inst, port, preexisting=False, name=name,
                          tag=item.get("tag"))
            port = await net.update_port(str(port["id"]), **binding)
        made.append(str(port["id"]))
        log.info("server %s: port %s on network %s", inst.uuid, port["id"],
                 port["network_id"])
    await _wait_active(net, made)


async def _wait_active(net: NetworkClient, port_ids: list[str]) -> None:
    """Until this host's network agent has plugged the ports (their bridges exist)."""
    deadline = time.monotonic() + PORT_ACTIVE_WAIT
    pending = list(port_ids)
    while pending and time.monotonic() < deadline:
        ports = await net.list_ports(id=pending)
        pending = [p["id"] for p in ports if p.get("status") != "ACTIVE"]
        if pending:
            await asyncio.sleep(0.5)
    if pending:
        log.warning("ports %s are not ACTIVE after %gs; spawning anyway", pending,
                    PORT_ACTIVE_WAIT)


async def release(ctx: AgentContext, inst: m.Instance) -> list[str]:
    """Delete the ports compute made, unbind the ones the user gave; what failed."""
    if not inst.interfaces:
        return []
    net = _client(ctx)
    if net is None:
        return [f"port {v.port_id}: no networking service" for v in inst.interfaces]
    problems = []
    for vif in inst.interfaces:
        try:
            if vif.preexisting:
                await net.unbind_port(vif.port_id)
            else:
                await net.delete_port(vif.port_id)
        except NotFound:
            pass
        except StrataError as exc:
            problems.append(f"port {vif.port_id}: {exc.message}")
            continue
    return problems


async def network_data(ctx: AgentContext, inst: m.Instance) -> dict[str, Any]:
    """``network_data.json`` of the server's ports (empty without any)."""
    net = _client(ctx)
    if net is None or not inst.interfaces:
        return {"links": [], "networks": [], "services": []}
    return await net.network_data([v.port_id for v in inst.interfaces])


# -- os-interface: a port hot-plugged into (or out of) a running server --------------------


async def _release_port(net: NetworkClient, port_id: str, made: bool) -> None:
    try:
        if made:
            await net.delete_port(port_id)
        else:
            await net.unbind_port(port_id)
    except NotFound:
        pass


async def _drop_vif(ctx: AgentContext, uuid: str, port_id: str) -> None:
    def drop(s: Session) -> None:
        for vif in s.scalars(select(m.VirtualInterface).where(
                m.VirtualInterface.instance_uuid == uuid,
                m.VirtualInterface.port_id == port_id)):
            s.delete(vif)

    await ctx.db(drop)


async def attach_port(ctx: AgentContext, uuid: str, port_id: str, *, made: bool,
                      tag: str | None) -> None:
    """Bind the port to this host, record it, wait for this host's network agent to
    plug it, then add the NIC to the guest (live and in its definition). A port the API
    made for the request (``made``) is deleted again on failure, a user's unbound."""
    inst = await ctx.load(uuid)
    net = _client(ctx)
    if net is None:
        raise StrataError("networking is not available: no networking service")
    owner = f"compute:{inst.availability_zone or ctx.cfg.availability_zone}"
    try:
        port = await net.bind_port(port_id, ctx.host, device_id=uuid, device_owner=owner)
        network = await net.show_network(str(port["network_id"]))
        await _record(ctx, inst, port, preexisting=not made,
                      name=str(network.get("name") or ""), tag=tag)
        await _wait_active(net, [port_id])
        with contextlib.suppress(InstanceNotFound):  # no domain: the next start has it
            await ctx.driver.attach_interface(uuid, Nic(
                mac=port["mac_address"], tap=tap_name(port_id),
                bridge=bridge_name(str(port["network_id"]))))
    except BaseException:
        await asyncio.shield(_drop_vif(ctx, uuid, port_id))
        await asyncio.shield(_release_port(net, port_id, made))
        raise
    log.info("server %s: port %s attached", uuid, port_id)


async def detach_port(ctx: AgentContext, uuid: str, port_id: str) -> None:
    """Take the NIC out of the guest, then delete the port (compute's) or unbind it
    (the user's), and forget it."""
    inst = await ctx.load(uuid)
    vif = next((v for v in inst.interfaces if v.port_id == port_id), None)
    if vif is None:
        return
    with contextlib.suppress(DeviceNotFound, InstanceNotFound):
        await ctx.driver.detach_interface(uuid, vif.mac_address)
    net = _client(ctx)
    if net is not None:
        await _release_port(net, port_id, not vif.preexisting)
    await _drop_vif(ctx, uuid, port_id)
    log.info("server %s: port %s detached", uuid, port_id)
