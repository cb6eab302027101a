"""Security groups as nftables rules on the ports' taps, in the root namespace.

What the kernel offers decides the shape. nftables' bridge family sees every
frame between two ports of a bridge with the ports' names (``iifname``,
``oifname``: they match by name, so a rule may exist before libvirt creates
the tap), but it cannot track connections unless the kernel has
``nf_conntrack_bridge``, and many (this development machine's among them) do
not. ``br_netfilter`` (the bridge option ``nf_call_iptables``) passes bridged
IP traffic through the inet family's hooks, where connection tracking is, but
those see the bridge, not the port. So the work is split:

1. ``table inet strata_<instance>``: for traffic entering one of our bridges,
   pick the network's conntrack zone (two projects may use the same
   addresses) before conntrack runs, then copy the connection state into the
   packet mark (``MARK_*``) after it ran.
2. ``table bridge strata_<instance>``, by port name:

   * ``guard`` (prerouting, before conntrack): anti-spoofing: a secured
     port may only send from its MACs, and IPv4/IPv6/ARP only from its fixed
     IPs or allowed address pairs (one set lookup each for all ports); never
     DHCP or DHCPv6 server replies, router advertisements or redirects;
     nothing but IPv4, IPv6 and ARP. Ports administratively down pass nothing.
   * ``egress`` (prerouting, after conntrack): the sending port's egress
     rules; ``ingress`` (forward): the receiving port's ingress rules. Both
     first allow what upstream always allows (ARP, DHCP, neighbour
     discovery), then jump through a verdict map, by port name, to the chain
     of the port's set of groups: established/related passes, invalid drops,
     then each group's rules, then drop.
   * ``input``: nothing from a port reaches the host itself.

Ports without port security, and the DHCP and router legs, are in no set and
pass unfiltered. A port costs no rule of its own, only set elements; ports
with the same groups share one chain per direction.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from network.dataplane import names
from network.dataplane.model import (
    OWNER_COMPUTE_PREFIX,
    DesiredState,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    tap_name,
)

# The connection state of a packet on one of our bridges, copied into its mark.
MARK_INVALID = 0x53540001
MARK_ESTABLISHED = 0x53540002  # established or related
MARK_NEW = 0x53540004
MARK_UNTRACKED = 0x53540008

# IANA protocol numbers of the names the Networking API accepts.
PROTOCOLS = {
    "hopopt": 0, "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17,
    "ipv6-encap": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50,
    "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89,
    "pgm": 113, "vrrp": 112, "sctp": 132, "udplite": 136, "dccp": 33,
}
PORT_PROTOCOLS = {6, 17, 33, 132, 136}  # the ones with ports: tcp, udp, dccp, sctp, udplite
ICMP = {4: 1, 6: 58}


def is_guest_port(port: Port) -> bool:
    """A port whose traffic security groups govern (upstream: compute ports and
    any port not owned by the network service itself)."""
    return port.device_owner.startswith(OWNER_COMPUTE_PREFIX) or not (
        port.device_owner.startswith("network:"))


def link_local(mac: str) -> str:
    """The IPv6 link-local address a MAC gives (modified EUI-64)."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    eui = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80, 0, 0, 0, 0, 0, 0, *eui])))


@dataclass(frozen=True)
class PortFilter:
    tap: str
    secured: bool  # security groups and anti-spoofing apply
    enabled: bool  # admin_state_up
    macs: tuple[str, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()  # (mac, address or CIDR) it may send from
    groups: tuple[str, ...] = ()


def port_filter(port: Port) -> PortFilter:
    tap = tap_name(port.id)
    if not (port.port_security_enabled and is_guest_port(port)):
        return PortFilter(tap, False, port.admin_state_up)
    mac = port.mac_address.lower()
    sources = {(mac, ip.ip_address) for ip in port.fixed_ips}
    macs = {mac}
    for pair in port.allowed_address_pairs:
        pair_mac = (pair.mac_address or mac).lower()
        macs.add(pair_mac)
        sources.add((pair_mac, pair.ip_address))
    for each in macs:
        sources.add((each, link_local(each)))
    return PortFilter(tap, True, port.admin_state_up, tuple(sorted(macs)),
                      tuple(sorted(sources)), tuple(sorted(set(port.security_group_ids))))


def group_members(state: DesiredState) -> dict[str, list[str]]:
    """The addresses of each group's member ports (all hosts), for remote_group_id."""
    members: dict[str, list[str]] = {}
    for port in state.ports:
        addresses = [ip.ip_address for ip in port.fixed_ips]
        addresses += [pair.ip_address for pair in port.allowed_address_pairs]
        for group in port.security_group_ids:
            members.setdefault(group, []).extend(addresses)
    for group_id, listed in state.group_members:
        members.setdefault(group_id, []).extend(listed)
    return members


def collapse(addresses: Iterable[str], version: int) -> list[str]:
    """Addresses and CIDRs of one IP version merged into non-overlapping
    ranges, as nftables interval sets need them."""
    nets = [ipaddress.ip_network(a, strict=False) for a in addresses]
    same = [n for n in nets if n.version == version]
    return [str(n) if n.prefixlen != n.max_prefixlen else str(n.network_address)
            for n in ipaddress.collapse_addresses(same)]  # type: ignore[type-var]


def _protocol_number(name: str | None) -> int | None:
    if name is None or name in ("", "any"):
        return None
    number = int(name) if name.isdigit() else PROTOCOLS.get(name.lower())
    if number is None:
        raise ValueError(f"unknown protocol {name!r}")
    return number


def rule_statement(rule: SecurityGroupRule) -> str | None:
    """One security group rule as an nftables rule (ending in ``accept``), or
    None when it can never match (an address of the other IP version)."""
    version = 4 if rule.ethertype == "IPv4" else 6
    fam = "ip" if version == 4 else "ip6"
    parts = [f"meta protocol {fam}"]
    addr = "saddr" if rule.direction == "ingress" else "daddr"
    if rule.remote_ip_prefix:
        net = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if net.version != version:
            return None
        if net.prefixlen:
            parts.append(f"{fam} {addr} {net}")
    elif rule.remote_group_id:
        parts.append(f"{fam} {addr} @{remote_set(rule.remote_group_id, version)}")
    number = _protocol_number(rule.protocol)
    if number is not None and number in (1, 58):
        number = ICMP[version]  # "icmp" on an IPv6 rule means ICMPv6, as upstream reads it
    if number is not None and number != 0:
        parts.append(f"meta l4proto {number}")
        low, high = rule.port_range_min, rule.port_range_max
        if number == ICMP[version]:
            kind = "icmp" if version == 4 else "icmpv6"
            if low is not None:
                parts.append(f"{kind} type {low}")
                if high is not None:
                    parts.append(f"{kind} code {high}")
        elif number in PORT_PROTOCOLS and (low is not None or high is not None):
            low = low if low is not None else high
            high = high if high is not None else low
            parts.append(f"th dport {low}" if low == high else f"th dport {low}-{high}")
    parts.append("accept")
    return " ".join(parts)


def remote_set(group_id: str, version: int) -> str:
    return f"rg{version}_{names.nft_ident(group_id)}"


def group_chain(group_id: str, direction: str) -> str:
    return f"sg_{names.nft_ident(group_id)}_{'in' if direction == 'ingress' else 'out'}"


def groupset_chain(groups: Sequence[str], direction: str) -> str:
    digest = hashlib.sha256(",".join(groups).encode()).hexdigest()[:12]
    return f"ports_{digest}_{'in' if direction == 'ingress' else 'out'}"


def _elements(items: Iterable[str]) -> str:
    items = list(items)
    return f"\n\t\telements = {{ {', '.join(items)} }}" if items else ""


def _set(name: str, type_: str, items: Iterable[str], interval: bool = False) -> str:
    flags = "\n\t\tflags interval" if interval else ""
    return f"\tset {name} {{\n\t\ttype {type_}{flags}{_elements(items)}\n\t}}\n"


def _chain(name: str, rules: Iterable[str], hook: str = "") -> str:
    body = "".join(f"\t\t{rule}\n" for rule in rules)
    head = f"\t\t{hook}\n" if hook else ""
    return f"\tchain {name} {{\n{head}{body}\t}}\n"


def _q(ifname: str) -> str:
    return f'"{ifname}"'


STATE_MAP = (f"{{ invalid : {MARK_INVALID:#x}, established : {MARK_ESTABLISHED:#x}, "
             f"related : {MARK_ESTABLISHED:#x}, new : {MARK_NEW:#x}, "
             f"untracked : {MARK_UNTRACKED:#x} }}")

# What upstream lets through whatever the rules say (DHCP, DHCPv6, neighbour
# discovery and multicast listener messages), by direction.
ALWAYS_EGRESS = (
    "udp sport 68 udp dport 67 accept",
    "udp sport 546 udp dport 547 accept",
    "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, "
    "mld-listener-report, mld2-listener-report } accept",
)
ALWAYS_INGRESS = (
    "udp sport 67 udp dport 68 accept",
    "udp sport 547 udp dport 546 accept",
    "icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, "
    "mld-listener-query } accept",
)


@dataclass(frozen=True)
class Ruleset:
    text: str  # for ``nft -f``: replaces both tables in one transaction
    tables: tuple[str, ...]  # "family name" of each table it makes


def render(instance: str, zones: dict[str, int], ports: Sequence[PortFilter],
           groups: Sequence[SecurityGroup], members: dict[str, list[str]]) -> Ruleset:
    """Both tables for the bridges ``zones`` names (bridge name -> conntrack zone)."""
    table = names.nft_table(instance)
    bridges = sorted(zones)
    secured = [p for p in ports if p.secured]
    by_id = {g.id: g for g in groups}
    used_sets = sorted({p.groups for p in secured})
    used_groups = sorted({g for s in used_sets for g in s})
    remote_groups = sorted({r.remote_group_id for g in used_groups if g in by_id
                            for r in by_id[g].rules if r.remote_group_id})

    inet = [
        _set("bridges", "ifname", map(_q, bridges)),
        f"\tmap zones {{\n\t\ttypeof iifname : ct zone"
        f"{_elements(f'{_q(b)} : {zones[b]}' for b in bridges)}\n\t}}\n",
        _chain("zone", ["ct zone set iifname map @zones"],
               "type filter hook prerouting priority raw; policy accept;"),
        _chain("state", [f"iifname @bridges meta mark set ct state map {STATE_MAP}"],
               "type filter hook prerouting priority -150; policy accept;"),
    ]

    src4 = [f"{_q(p.tap)} . {mac} . {a}" for p in secured
            for mac in p.macs for a in collapse((s for m, s in p.sources if m == mac), 4)]
    src6 = [f"{_q(p.tap)} . {mac} . {a}" for p in secured
            for mac in p.macs for a in collapse((s for m, s in p.sources if m == mac), 6)]
    bridge = [
        _set("ports", "ifname", sorted(_q(p.tap) for p in ports)),
        _set("secured", "ifname", sorted(_q(p.tap) for p in secured)),
        _set("down", "ifname", sorted(_q(p.tap) for p in ports if not p.enabled)),
        _set("macs", "ifname . ether_addr",
             sorted(f"{_q(p.tap)} . {mac}" for p in secured for mac in p.macs)),
        _set("src4", "ifname . ether_addr . ipv4_addr", src4, interval=True),
        _set("src6", "ifname . ether_addr . ipv6_addr", src6, interval=True),
    ]
    for group in remote_groups:
        for version in (4, 6):
            bridge.append(_set(remote_set(group, version), f"ipv{version}_addr",
                               collapse(members.get(group, []), version), interval=True))
    for direction, key in (("egress", "out"), ("ingress", "in")):
        entries = sorted(f"{_q(p.tap)} : jump {groupset_chain(p.groups, direction)}"
                         for p in secured)
        bridge.append(f"\tmap {key} {{\n\t\ttype ifname : verdict{_elements(entries)}\n\t}}\n")
    bridge.append(_chain("guard", [
        "iifname @down drop",
        "iifname != @secured accept",
        "ether type != { ip, ip6, arp } drop",
        "iifname . ether saddr != @macs drop",
        "ether type arp iifname . arp saddr ether . arp saddr ip @src4 accept",
        "ether type arp arp saddr ip 0.0.0.0 accept",  # address probes (RFC 5227)
        "ether type arp drop",
        "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept",
        "iifname . ether saddr . ip saddr != @src4 drop",
        "udp sport 67 udp dport 68 drop",  # no DHCP server on a guest
        "ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld-listener-report, "
        "mld2-listener-report } accept",  # duplicate address detection
        "iifname . ether saddr . ip6 saddr != @src6 drop",
        "udp sport 547 udp dport 546 drop",
        "icmpv6 type { nd-router-advert, nd-redirect } drop",
    ], "type filter hook prerouting priority -300; policy accept;"))
    bridge.append(_chain("egress", [
        "iifname != @secured accept",
        "ether type arp accept",
        *ALWAYS_EGRESS,
        "iifname vmap @out",
    ], "type filter hook prerouting priority 100; policy accept;"))
    bridge.append(_chain("ingress", [
        "oifname @down drop",
        "oifname != @secured accept",
        "ether type arp accept",
        *ALWAYS_INGRESS,
        "oifname vmap @in",
    ], "type filter hook forward priority 0; policy accept;"))
    bridge.append(_chain("input", ["iifname @ports drop"],
                         "type filter hook input priority 0; policy accept;"))
    for gset in used_sets:
        stateful = any(by_id[g].stateful for g in gset if g in by_id) or not gset
        for direction in ("egress", "ingress"):
            rules = [f"meta mark {MARK_ESTABLISHED:#x} accept",
                     f"meta mark {MARK_INVALID:#x} drop"] if stateful else []
            rules += [f"jump {group_chain(g, direction)}" for g in gset if g in by_id]
            rules.append("drop")
            bridge.append(_chain(groupset_chain(gset, direction), rules))
    for group_id in used_groups:
        if group_id not in by_id:
            continue
        for direction in ("egress", "ingress"):
            statements = [rule_statement(r) for r in by_id[group_id].rules
                          if r.direction == direction]
            bridge.append(_chain(group_chain(group_id, direction),
                                 [s for s in statements if s is not None]))

    text = (_replace("inet", table, "".join(inet)) + _replace("bridge", table, "".join(bridge)))
    return Ruleset(text, (f"inet {table}", f"bridge {table}"))


def _replace(family: str, table: str, body: str) -> str:
    # "add, delete, add" in one file is one transaction: the new table replaces the
    # old one atomically, whether it existed or not.
    return (f"table {family} {table} {{}}\ndelete table {family} {table}\n"
            f"table {family} {table} {{\n{body}}}\n")


def removal(instance: str) -> Ruleset:
    """Text that removes both tables (whether they exist or not)."""
    table = names.nft_table(instance)
    text = "".join(f"table {fam} {table} {{}}\ndelete table {fam} {table}\n"
                   for fam in ("inet", "bridge"))
    return Ruleset(text, ())
