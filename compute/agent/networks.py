"""A server's ports: made (or bound, when the user gave them) on the networking service
for this host, so its agent plugs a tap ``tap<port[:11]>`` into the network's bridge
``brq<network[:11]>``; unbound or deleted when the server goes.

Until a networking service is reachable only servers without networks are built.
"""

from __future__ import annotations

from typing import Any

from compute import models as m
from compute.agent.context import AgentContext
from compute.errors import VirtError
from compute.virt.driver import Nic


def tap_of(port_id: str) -> str:
    return "tap" + port_id[:11]


def bridge_of(network_id: str) -> str:
    return "brq" + network_id[:11]


def nic_of(vif: m.VirtualInterface) -> Nic:
    return Nic(mac=vif.mac_address, tap=tap_of(vif.port_id), bridge=bridge_of(vif.network_id))


async def allocate(ctx: AgentContext, inst: m.Instance) -> None:
    """Ports for every requested network, bound to this host (rows written as made)."""
    wanted = inst.requested_networks
    if wanted in (None, "none", "auto", []):
        return
    raise VirtError("networking is not available: no networking service to make ports on")


async def release(ctx: AgentContext, inst: m.Instance) -> list[str]:
    """Delete the ports compute made, unbind the ones the user gave; what failed."""
    return []


async def network_data(ctx: AgentContext, inst: m.Instance) -> dict[str, Any]:
    """``network_data.json`` of the server's ports."""
    return {"links": [], "networks": [], "services": []}
