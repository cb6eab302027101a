"""DHCP for a network: what its dnsmasq is told.

One dnsmasq per network runs in the network's DHCP namespace, bound to the
DHCP port's leg. It serves only the static host entries written here (one
per fixed IP of each port, by MAC: no dynamic range), with each subnet's
gateway, DNS servers, host routes (options 121 and 249), the network's MTU,
and, on a subnet no router serves, a route to the metadata address through
the DHCP port (the metadata proxy of that namespace answers there).

What may change while it runs (hosts, options) is in two files dnsmasq
re-reads on SIGHUP; the rest (subnets, interface) is on its command line, and
a change there restarts it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from network.dataplane import names
from network.dataplane.model import OWNER_DHCP, Network, Port, Subnet

LEASE_SECONDS = 86400


@dataclass(frozen=True)
class DhcpConfig:
    argv: tuple[str, ...]  # dnsmasq's command line
    hosts: str  # --dhcp-hostsfile content
    opts: str  # --dhcp-optsfile content


def served_subnets(network: Network) -> list[Subnet]:
    """The subnets dnsmasq answers for: IPv4 with DHCP on, and IPv6 with DHCP on
    in a DHCPv6 mode (SLAAC subnets need router advertisements, not DHCP)."""
    return [s for s in network.subnets if s.enable_dhcp and (
        s.ip_version == 4 or s.ipv6_address_mode in ("dhcpv6-stateful", "dhcpv6-stateless"))]


def dhcp_port(network: Network, ports: Sequence[Port]) -> Port | None:
    for port in sorted(ports, key=lambda p: p.id):
        if port.network_id == network.id and port.device_owner == OWNER_DHCP and port.fixed_ips:
            return port
    return None


def _tag(subnet: Subnet) -> str:
    return f"subnet-{subnet.id}"


def _hostname(address: str) -> str:
    return "host-" + address.replace(".", "-").replace(":", "-")


def render(network: Network, port: Port, ports: Sequence[Port], isolated: set[str],
           metadata: bool, directory: Path) -> DhcpConfig:
    """Configuration of the network's dnsmasq.

    ``port``: the network's DHCP port; ``isolated``: ids of subnets no router
    serves (they get the metadata route when ``metadata``); ``directory``: where
    the hosts and options files and the pid file live (their paths on the
    command line also mark the process as this data path's).
    """
    subnets = served_subnets(network)
    by_id = {s.id: s for s in subnets}
    argv = [
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-hosts", "--no-resolv",
        "--port=0",  # DHCP only: guests get the subnet's DNS servers
        "--user=root",  # so that a reload can read the hosts files from a private directory
        f"--pid-file={directory / 'pid'}",
        f"--dhcp-hostsfile={directory / 'hosts'}",
        f"--dhcp-optsfile={directory / 'opts'}",
        "--leasefile-ro", "--dhcp-authoritative", "--log-dhcp", "--log-facility=-",
        "--bind-interfaces", f"--interface={names.dhcp_leg(port.id)}", "--except-interface=lo",
        f"--dhcp-lease-max={max(16, 4 * len(ports))}",
    ]
    for subnet in subnets:
        net = ipaddress.ip_network(subnet.cidr, strict=False)
        if net.version == 4:
            argv.append(f"--dhcp-range=set:{_tag(subnet)},{net.network_address},static,"
                        f"{net.netmask},{LEASE_SECONDS}s")
        else:
            argv.append(f"--dhcp-range=set:{_tag(subnet)},{net.network_address},static,"
                        f"{net.prefixlen},{LEASE_SECONDS}s")

    hosts = []
    for other in sorted(ports, key=lambda p: p.id):
        if other.network_id != network.id or other.device_owner == OWNER_DHCP:
            continue
        for fixed in other.fixed_ips:
            if fixed.subnet_id not in by_id:
                continue
            address = fixed.ip_address
            shown = f"[{address}]" if ":" in address else address
            hosts.append(f"{other.mac_address.lower()},{shown},{_hostname(address)},"
                         f"{LEASE_SECONDS}s")

    dhcp_ips = {f.subnet_id: f.ip_address for f in port.fixed_ips}
    opts = []
    for subnet in subnets:
        tag = f"tag:{_tag(subnet)}"
        if subnet.ip_version == 6:
            if subnet.dns_nameservers:
                servers = ",".join(f"[{a}]" for a in subnet.dns_nameservers)
                opts.append(f"{tag},option6:dns-server,{servers}")
            continue
        opts.append(f"{tag},option:router" + (f",{subnet.gateway_ip}" if subnet.gateway_ip
                                               else ""))
        if subnet.dns_nameservers:
            opts.append(f"{tag},option:dns-server,{','.join(subnet.dns_nameservers)}")
        routes = [(str(ipaddress.ip_network(r.destination, strict=False)), r.nexthop)
                  for r in subnet.host_routes]
        if metadata and subnet.id in isolated and subnet.id in dhcp_ips:
            routes.append((f"{names.METADATA_ADDRESS}/32", dhcp_ips[subnet.id]))
        for peer in subnets:  # the network's other IPv4 subnets are on the same link
            if peer.id != subnet.id and peer.ip_version == 4:
                routes.append((str(ipaddress.ip_network(peer.cidr, strict=False)), "0.0.0.0"))
        if routes:
            if subnet.gateway_ip and not any(d == "0.0.0.0/0" for d, _ in routes):
                # a client that gets option 121 ignores the router option
                routes.append(("0.0.0.0/0", subnet.gateway_ip))
            listed = ",".join(f"{d},{h}" for d, h in routes)
            opts.append(f"{tag},option:classless-static-route,{listed}")
            opts.append(f"{tag},249,{listed}")
        opts.append(f"{tag},option:mtu,{network.mtu}")
    return DhcpConfig(tuple(argv), "".join(f"{h}\n" for h in hosts),
                      "".join(f"{o}\n" for o in opts))
