"""A server's networks: what a create request asks for, resolved with the networking
service before anything is made, as Nova's API does: networks the caller may use,
ports that exist and are free, security group names (or ids) that name one group.

``networks`` is ``none`` (no NIC), ``auto`` (the project's one usable network: its
own or a shared one, not external; 409 when there are several, as Nova says), or a
list of network and port requests. Before 2.37 a request without ``networks`` is
``auto``, except that no usable network then means no NIC. Where the cloud runs no
networking service, only ``none`` can be served (``auto`` means none).
"""

from __future__ import annotations

from typing import Any

from common.errors import NotFound, StrataError
from compute.core.requests import CreateRequest, is_uuid
from compute.errors import Conflict, Invalid
from compute.policy import Caller
from compute.state import ComputeState
from network.client import NetworkClient


def user_client(st: ComputeState, who: Caller) -> NetworkClient | None:
    """The networking service as the caller sees it (None: the cloud runs none)."""
    async def token() -> str:
        return who.token

    return st.network(token) if st.cfg.network.enabled else None


async def security_groups(net: NetworkClient, who: Caller,
                          names: tuple[str, ...]) -> list[dict[str, str]]:
    """[{"name", "id"}] of the named (or id'd) groups of the caller's project."""
    out = []
    for name in names:
        if is_uuid(name):
            found = await net.list_security_groups(id=name)
        else:
            found = await net.list_security_groups(name=name, project_id=who.project_id)
        if not found:
            raise Invalid(f"Security group {name} not found.")
        if len(found) > 1:
            raise Conflict(f"Multiple security groups found matching '{name}'. Use an ID "
                           "to be more specific.")
        out.append({"name": str(found[0]["name"]), "id": str(found[0]["id"])})
    return out


async def _usable(net: NetworkClient, who: Caller) -> list[dict[str, Any]]:
    nets = await net.list_networks()
    return [n for n in nets if not n.get("router:external")
            and (n.get("project_id") == who.project_id or n.get("shared"))]


async def usable_network(net: NetworkClient, network_id: str, *,
                         missing: type[StrataError] = Invalid) -> dict[str, Any]:
    """The network a server may have a port on (``missing``: the error when there is no
    such network: 400 for a create, 404 for ``os-interface``)."""
    try:
        found = await net.show_network(network_id)
    except NotFound:
        raise missing(f"Network {network_id} could not be found.") from None
    if found.get("router:external"):
        raise Invalid(f"Network {network_id} is an external network: servers get "
                      "addresses on it through floating IPs, not ports.")
    return found


async def free_port(net: NetworkClient, port_id: str, *,
                    missing: type[StrataError] = Invalid) -> dict[str, Any]:
    """The port, when no server has it (409 when one does)."""
    try:
        port = await net.show_port(port_id)
    except NotFound:
        raise missing(f"Port {port_id} could not be found.") from None
    if port.get("device_id"):
        raise Conflict(f"Port {port_id} is still in use.")
    return port


async def resolve(st: ComputeState, who: Caller, req: CreateRequest
                  ) -> tuple[Any, list[dict[str, str]]]:
    """(the networks to give the server, its security groups as [{"name", "id"}])."""
    net = user_client(st, who)
    if net is None:
        if req.networks in (None, "none", "auto") or req.networks == []:
            return "none", [{"name": name, "id": ""} for name in req.security_groups]
        raise Invalid("Networking is not available: this cloud runs no networking "
                      "service, so servers can only be created with networks 'none'.")
    if req.networks == "none" or req.networks == []:
        return "none", [{"name": name, "id": ""} for name in req.security_groups]
    groups = await security_groups(net, who, req.security_groups)
    if req.networks in (None, "auto"):
        usable = await _usable(net, who)
        if len(usable) > 1:
            raise Conflict("Multiple possible networks found, use a Network ID to be more "
                           "specific.")
        if not usable:
            if req.networks == "auto":
                raise Invalid(f"Unable to automatically allocate a network for project "
                              f"{who.project_id}")
            return "none", groups
        return [{"network_id": usable[0]["id"], "network_name": usable[0].get("name", "")}
                ], groups
    assert isinstance(req.networks, list)
    out: list[dict[str, Any]] = []
    for wanted in req.networks:
        if wanted.port_id:
            port = await free_port(net, wanted.port_id)
            found = await usable_network(net, str(port["network_id"]))
            out.append({"port_id": wanted.port_id, "network_id": port["network_id"],
                        "network_name": found.get("name", ""), "tag": wanted.tag})
        else:
            assert wanted.network_id is not None
            found = await usable_network(net, wanted.network_id)
            out.append({"network_id": wanted.network_id, "fixed_ip": wanted.fixed_ip,
                        "network_name": found.get("name", ""), "tag": wanted.tag})
    return out, groups
