"""From a :class:`DesiredState` to what the host must hold: checked, derived,
and nothing touched yet.

:func:`make_plan` rejects a state that contradicts itself
(:class:`InvalidState`) before anything on the host changes, and works out
every bridge, namespace (with its legs, addresses and routes), DHCP server,
metadata proxy and port filter the state implies.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from network.dataplane import dhcp, firewall, names
from network.dataplane.errors import InvalidState
from network.dataplane.links import BridgeSpec, Leg, NamespaceSpec, Route
from network.dataplane.model import (
    DesiredState,
    Network,
    Port,
    Router,
    SecurityGroupRule,
    bridge_name,
    tap_name,
)

MAC_RE = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")
ROUTER_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}


@dataclass(frozen=True)
class DhcpPlan:
    network: Network
    port: Port
    namespace: NamespaceSpec
    isolated: frozenset[str]  # subnets no router serves
    metadata: bool  # a metadata proxy runs here (an isolated IPv4 subnet, metadata on)


@dataclass(frozen=True)
class RouterPlan:
    router: Router
    namespace: NamespaceSpec
    metadata: bool


@dataclass(frozen=True)
class ExternalPlan:
    bridge: BridgeSpec
    addresses: tuple[str, ...]  # the external subnets' gateways, on the bridge


@dataclass(frozen=True)
class Plan:
    state: DesiredState
    internal: dict[str, Network]
    external: dict[str, Network]
    bridges: tuple[BridgeSpec, ...]
    externals: tuple[ExternalPlan, ...]
    dhcp: tuple[DhcpPlan, ...]
    routers: tuple[RouterPlan, ...]
    guest_ports: tuple[Port, ...]  # bound here, on an internal network (libvirt's taps)
    root_taps: frozenset[str]  # taps of the ports on internal networks (a plugged guest's)
    outside_taps: frozenset[str]  # taps of the ports on external networks
    filters: tuple[firewall.PortFilter, ...]
    zones: dict[str, int]  # bridge name -> conntrack zone

    @property
    def needs_outside(self) -> bool:
        return bool(self.external)

    def namespace_specs(self) -> list[NamespaceSpec]:
        return [p.namespace for p in self.dhcp] + [r.namespace for r in self.routers]

    def namespaces(self) -> set[str]:
        out = {p.namespace.name for p in self.dhcp} | {r.namespace.name for r in self.routers}
        if self.needs_outside:
            out.add(names.external_namespace(self.state.instance))
        return out


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidState(message)


def _unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for object_id in ids:
        _check(bool(object_id) and object_id not in seen,
               f"{what} id {object_id!r} repeated or empty")
        seen.add(object_id)


def _address(text: str, what: str) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise InvalidState(f"{what}: {text!r} is not an IP address") from None


def _network(text: str, what: str) -> None:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidState(f"{what}: {text!r} is not a CIDR") from None


def _check_rule(rule: SecurityGroupRule) -> None:
    what = f"security group rule {rule.id}"
    _check(rule.direction in ("ingress", "egress"), f"{what}: bad direction {rule.direction!r}")
    _check(rule.ethertype in ("IPv4", "IPv6"), f"{what}: bad ethertype {rule.ethertype!r}")
    try:
        number = firewall._protocol_number(rule.protocol)
    except ValueError as exc:
        raise InvalidState(f"{what}: {exc}") from None
    limit = 255 if number in (1, 58) else 65535
    for value in (rule.port_range_min, rule.port_range_max):
        _check(value is None or 0 <= value <= limit, f"{what}: {value} is out of range")
    if rule.remote_ip_prefix:
        _network(rule.remote_ip_prefix, what)


def validate(state: DesiredState) -> None:
    names.check_instance(state.instance)
    _unique((n.id for n in state.networks), "network")
    _unique((p.id for p in state.ports), "port")
    _unique((r.id for r in state.routers), "router")
    _unique((g.id for g in state.security_groups), "security group")
    networks = {n.id: n for n in state.networks}
    for network in state.networks:
        _check(68 <= network.mtu <= 65535, f"network {network.id}: bad MTU {network.mtu}")
        for subnet in network.subnets:
            _network(subnet.cidr, f"subnet {subnet.id}")
            if subnet.gateway_ip:
                _address(subnet.gateway_ip, f"subnet {subnet.id}")
            for server in subnet.dns_nameservers:
                _address(server, f"subnet {subnet.id} DNS server")
            for route in subnet.host_routes:
                _network(route.destination, f"subnet {subnet.id} host route")
                _address(route.nexthop, f"subnet {subnet.id} host route")
    for port in state.ports:
        _check(port.network_id in networks, f"port {port.id}: unknown network {port.network_id}")
        _check(bool(MAC_RE.fullmatch(port.mac_address)),
               f"port {port.id}: bad MAC address {port.mac_address!r}")
        for fixed in port.fixed_ips:
            _address(fixed.ip_address, f"port {port.id}")
        for pair in port.allowed_address_pairs:
            _network(pair.ip_address, f"port {port.id} allowed address pair")
            _check(pair.mac_address is None or bool(MAC_RE.fullmatch(pair.mac_address)),
                   f"port {port.id}: bad allowed address pair MAC {pair.mac_address!r}")
    for group in state.security_groups:
        for rule in group.rules:
            _check_rule(rule)
    for _group, addresses in state.group_members:
        for text in addresses:
            _network(text, "group member")
    for router in state.routers:
        for iface in router.interfaces:
            net = networks.get(iface.network_id)
            _check(net is not None and not net.external,
                   f"router {router.id}: interface on unknown or external network "
                   f"{iface.network_id}")
            _address(iface.ip_address, f"router {router.id} interface")
            _check(bool(MAC_RE.fullmatch(iface.mac_address)),
                   f"router {router.id}: bad interface MAC {iface.mac_address!r}")
        if router.gateway is not None:
            net = networks.get(router.gateway.network_id)
            _check(net is not None and net.external,
                   f"router {router.id}: gateway on unknown or internal network "
                   f"{router.gateway.network_id}")
            _address(router.gateway.ip_address, f"router {router.id} gateway")
            _check(bool(MAC_RE.fullmatch(router.gateway.mac_address)),
                   f"router {router.id}: bad gateway MAC {router.gateway.mac_address!r}")
        for route in router.routes:
            _network(route.destination, f"router {router.id} route")
            _address(route.nexthop, f"router {router.id} route")
        for fip in router.floating_ips:
            _address(fip.floating_ip_address, f"floating IP {fip.id}")
            _address(fip.fixed_ip_address, f"floating IP {fip.id}")


def make_plan(state: DesiredState) -> Plan:
    validate(state)
    inst = state.instance
    internal = {n.id: n for n in state.networks if not n.external}
    external = {n.id: n for n in state.networks if n.external}
    outside = names.external_namespace(inst)
    ports = sorted(state.ports, key=lambda p: p.id)

    def bridge(n: Network) -> BridgeSpec:
        return BridgeSpec(bridge_name(n.id), names.alias(inst, names.KIND_NETWORK, n.id),
                          names.bridge_mac(inst, n.id), n.mtu, n.admin_state_up)

    bridges = tuple(bridge(n) for n in internal.values())
    externals = tuple(ExternalPlan(
        bridge(n),
        tuple(f"{s.gateway_ip}/{ipaddress.ip_network(s.cidr, strict=False).prefixlen}"
              for s in n.subnets if s.gateway_ip)) for n in external.values())

    metadata_on = bool(state.metadata.upstream_socket)
    routed = {i.subnet_id for r in state.routers if r.admin_state_up for i in r.interfaces}
    dhcp_plans = []
    for network in state.networks:
        served = dhcp.served_subnets(network)
        port = dhcp.dhcp_port(network, ports) if served else None
        if port is None:
            continue
        isolated = frozenset(s.id for s in network.subnets if s.id not in routed)
        prefixes = {s.id: ipaddress.ip_network(s.cidr, strict=False).prefixlen
                    for s in network.subnets}
        metadata = metadata_on and any(s.ip_version == 4 and s.id in isolated for s in served)
        leg = Leg(names.dhcp_leg(port.id), tap_name(port.id), bridge_name(network.id),
                  port.mac_address, network.mtu, names.alias(inst, names.KIND_PORT, port.id),
                  tuple(f"{f.ip_address}/{prefixes[f.subnet_id]}" for f in port.fixed_ips
                        if f.subnet_id in prefixes),
                  outside if network.external else None)
        spec = NamespaceSpec(
            names.dhcp_namespace(inst, network.id), (leg,), (names.DHCP_LEG_PREFIX,),
            (f"{names.METADATA_ADDRESS}/32",) if metadata else ())
        dhcp_plans.append(DhcpPlan(network, port, spec, isolated, metadata))

    router_plans = []
    for router in state.routers:
        if not router.admin_state_up:
            continue
        legs: dict[str, Leg] = {}
        for iface in sorted(router.interfaces, key=lambda i: (i.port_id, i.subnet_id)):
            network = internal[iface.network_id]
            address = f"{iface.ip_address}/{iface.prefixlen}"
            old = legs.get(iface.port_id)
            legs[iface.port_id] = Leg(
                names.router_leg(iface.port_id), tap_name(iface.port_id),
                bridge_name(network.id), iface.mac_address, network.mtu,
                names.alias(inst, names.KIND_PORT, iface.port_id),
                (*(old.addresses if old else ()), address))
        routes = [Route(r.destination, r.nexthop) for r in router.routes]
        gw = router.gateway
        if gw is not None:
            ext = external[gw.network_id]
            fips = tuple(f"{f.floating_ip_address}/32" for f in router.floating_ips
                         if ipaddress.ip_address(f.floating_ip_address).version == 4)
            legs[gw.port_id] = Leg(
                names.gateway_leg(gw.port_id), tap_name(gw.port_id), bridge_name(ext.id),
                gw.mac_address, ext.mtu, names.alias(inst, names.KIND_PORT, gw.port_id),
                (f"{gw.ip_address}/{gw.prefixlen}", *fips), outside)
            if gw.gateway_ip:
                routes.insert(0, Route("default", gw.gateway_ip))
        metadata = metadata_on and bool(router.interfaces)
        spec = NamespaceSpec(
            names.router_namespace(inst, router.id), tuple(legs.values()),
            (names.ROUTER_LEG_PREFIX, names.GATEWAY_LEG_PREFIX),
            (f"{names.METADATA_ADDRESS}/32",) if metadata else (), tuple(routes),
            dict(ROUTER_SYSCTLS))
        router_plans.append(RouterPlan(router, spec, metadata))

    guest_ports = tuple(p for p in ports if p.network_id in internal and p.host == state.host
                        and firewall.is_guest_port(p))
    specs = [p.namespace for p in dhcp_plans] + [r.namespace for r in router_plans]
    legs_here = [leg for spec in specs for leg in spec.legs if leg.outer_netns is None]
    filters = [firewall.port_filter(p) for p in guest_ports]
    filters += [firewall.PortFilter(leg.outer, False, True) for leg in legs_here]
    zones_by_net = names.conntrack_zones(inst, internal)
    return Plan(
        state=state, internal=internal, external=external, bridges=bridges,
        externals=externals, dhcp=tuple(dhcp_plans), routers=tuple(router_plans),
        guest_ports=guest_ports,
        root_taps=frozenset(tap_name(p.id) for p in ports if p.network_id in internal),
        outside_taps=frozenset(tap_name(p.id) for p in ports if p.network_id in external),
        filters=tuple(sorted({f.tap: f for f in filters}.values(), key=lambda f: f.tap)),
        zones={bridge_name(n): z for n, z in zones_by_net.items()})
