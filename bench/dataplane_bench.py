#!/usr/bin/env python3
"""The network data path's speed and rule count, on this host's real kernel.

For ``--rounds`` rounds, from nothing: apply a state of one network with a
DHCP subnet, a router (interface plus gateway on an external network, SNAT,
a metadata proxy) and ``--ports`` guest ports bound here (their taps are
veths plugged like a guest's, after the first apply), and time

* the cold apply (bridges, namespaces, legs, dnsmasq, the proxy, nftables),
* an apply of the same state again (what a periodic resync costs),
* an apply that adds one port, and
* the teardown (an empty state).

Then counts the nftables rules of the data path's root tables, per port,
and what one more port costs (rules and set elements). Must run as root.

    .venv/bin/python bench/network_bench.py [--ports 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from network.dataplane import DataPlane, names  # noqa: E402
from network.dataplane.model import (  # noqa: E402
    OWNER_DHCP,
    OWNER_ROUTER_GATEWAY,
    OWNER_ROUTER_INTERFACE,
    DesiredState,
    ExternalGateway,
    FixedIP,
    MetadataSettings,
    Network,
    Port,
    Router,
    RouterInterface,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from network.dataplane.run import run  # noqa: E402


def log(msg: str) -> None:
    print(f"[network-bench] {msg}", file=sys.stderr, flush=True)


def uid() -> str:
    return secrets.token_hex(16)


def mac(i: int) -> str:
    return f"fa:16:3e:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"


def build(instance: str, ports: int) -> tuple[DesiredState, Port]:
    """The state with ``ports`` guests, and one more guest port (not in it)."""
    ext_id, net_id, router_id, group_id = uid(), uid(), uid(), uid()
    ext_subnet = Subnet(uid(), ext_id, "172.24.4.0/24", 4, "172.24.4.1", False)
    subnet = Subnet(uid(), net_id, "10.20.0.0/24", 4, "10.20.0.1", True, ("10.20.0.53",))
    external = Network(ext_id, "admin", 1500, True, subnets=(ext_subnet,))
    network = Network(net_id, "bench", 1450, False, subnets=(subnet,))
    dhcp = Port(uid(), net_id, "bench", mac(1), (FixedIP(subnet.id, "10.20.0.2"),), OWNER_DHCP,
                host="bench")
    iface = Port(uid(), net_id, "bench", mac(2), (FixedIP(subnet.id, "10.20.0.1"),),
                 OWNER_ROUTER_INTERFACE, device_id=router_id, host="bench")
    gw = Port(uid(), ext_id, "", mac(3), (FixedIP(ext_subnet.id, "172.24.4.10"),),
              OWNER_ROUTER_GATEWAY, device_id=router_id, host="bench")
    router = Router(router_id, "bench",
                    gateway=ExternalGateway(ext_id, gw.id, gw.mac_address, "172.24.4.10", 24,
                                            "172.24.4.1"),
                    interfaces=(RouterInterface(iface.id, net_id, subnet.id, "10.20.0.1", 24,
                                                iface.mac_address),))
    rules = (SecurityGroupRule(uid(), "egress", "IPv4"), SecurityGroupRule(uid(), "egress", "IPv6"),
             SecurityGroupRule(uid(), "ingress", "IPv4", remote_group_id=group_id),
             SecurityGroupRule(uid(), "ingress", "IPv4", "tcp", 22, 22),
             SecurityGroupRule(uid(), "ingress", "IPv4", "icmp"))
    guests = [Port(uid(), net_id, "bench", mac(100 + i),
                   (FixedIP(subnet.id, f"10.20.0.{100 + i}"),), "compute:nova", host="bench",
                   security_group_ids=(group_id,)) for i in range(ports + 1)]
    state = DesiredState(
        instance=instance, host="bench", networks=(external, network),
        ports=(dhcp, iface, gw, *guests[:-1]), security_groups=(SecurityGroup(group_id, "bench",
                                                                              rules),),
        routers=(router,), metadata=MetadataSettings("/tmp/bench-metadata.sock"))
    return state, guests[-1]


def nft_counts(instance: str) -> tuple[int, int]:
    """(rules, set and map elements) in the data path's root tables."""
    rules = elements = 0
    for family in ("bridge", "inet"):
        out = subprocess.run(["nft", "-j", "list", "table", family, names.nft_table(instance)],
                             capture_output=True, text=True, check=True).stdout
        for item in json.loads(out)["nftables"]:
            if "rule" in item:
                rules += 1
            for kind in ("set", "map"):
                if kind in item:
                    elements += len(item[kind].get("elem", []))
    return rules, elements


async def plug(plane: DataPlane, ports: list[Port], netns: str) -> None:
    for i, port in enumerate(ports):
        await plane.plug_namespace_port(port, netns, ifname=f"eth{i}")


async def one_round(run_dir: Path, ports: int) -> dict[str, float]:
    instance = "b" + secrets.token_hex(2)[:3]
    plane = DataPlane(instance, run_dir)
    state, extra = build(instance, ports)
    guests_ns = f"bench-{instance}-guests"
    await run(["ip", "netns", "add", guests_ns])
    out: dict[str, float] = {}
    try:
        start = time.perf_counter()
        await plane.apply(state)
        out["cold apply"] = time.perf_counter() - start
        await plug(plane, [p for p in state.ports if p.device_owner == "compute:nova"],
                   guests_ns)
        start = time.perf_counter()
        await plane.apply(state)
        out["same state again"] = time.perf_counter() - start
        rules, elements = await asyncio.to_thread(nft_counts, instance)
        start = time.perf_counter()
        more = DesiredState(**{**state.__dict__, "ports": (*state.ports, extra)})
        await plane.apply(more)
        out["one port more"] = time.perf_counter() - start
        rules_more, elements_more = await asyncio.to_thread(nft_counts, instance)
        out["rules"] = rules
        out["rules per port"] = rules / ports
        out["rules for one port more"] = rules_more - rules
        out["set elements per port"] = (elements_more - elements)
        start = time.perf_counter()
        await plane.teardown()
        out["teardown"] = time.perf_counter() - start
    finally:
        await plane.teardown()
        await plane.close()
        await run(["ip", "netns", "delete", guests_ns], check=False)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    preflight = await DataPlane("bchk", "/tmp").check()
    if not preflight.ok:
        sys.exit(preflight.message())
    with tempfile.TemporaryDirectory(prefix="network-bench-") as tmp:
        results = []
        for n in range(args.rounds):
            result = await one_round(Path(tmp), args.ports)
            log(f"round {n + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in result.items()))
            results.append(result)
    print(f"network data path, {args.ports} ports, {args.rounds} rounds (median, min-max):")
    for key in results[0]:
        values = [r[key] for r in results]
        unit = "s" if key in ("cold apply", "same state again", "one port more",
                              "teardown") else ""
        print(f"  {key:26s} {statistics.median(values):8.3f}{unit}  "
              f"({min(values):.3f}-{max(values):.3f})")


if __name__ == "__main__":
    asyncio.run(main())
