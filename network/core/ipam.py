"""IP address management: the arithmetic of subnets, pools, gateways and addresses.

Pure functions over :mod:`ipaddress` values, no SQL: the subnet and port layers
feed them what the database holds. The rules are Neutron's:

* a subnet's usable addresses exclude its network address and, for IPv4, its
  broadcast address; the default gateway is the first usable address and the
  default allocation pools cover every usable address but the gateway;
* pools lie inside the subnet, do not overlap one another, and do not hold the
  gateway;
* a port is given the lowest free address of its subnet's pools (a fixed IP it
  asks for may lie anywhere usable in the subnet), or on an IPv6 SLAAC subnet
  the EUI-64 address its MAC implies;
* a subnet pool hands out the first free block of the asked prefix length that
  no subnet of the pool covers yet.
"""

from __future__ import annotations

import ipaddress
import itertools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from network.errors import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    InvalidInput,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SLAAC_MODES = ("slaac", "dhcpv6-stateless")


@dataclass(frozen=True, order=True)
class Range:
    """An inclusive range of addresses, as integers."""

    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def network(cidr: str) -> IPNetwork:
    return ipaddress.ip_network(cidr, strict=False)


def address(ip: str) -> IPAddress:
    return ipaddress.ip_address(ip)


def usable(net: IPNetwork) -> Range:
    """The addresses of ``net`` a port may hold: not the network address, nor the IPv4
    broadcast address (a /31 or /32 has none)."""
    first = int(net.network_address) + 1
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    return Range(first, last)


def is_usable(net: IPNetwork, ip: IPAddress) -> bool:
    r = usable(net)
    return ip.version == net.version and r.first <= int(ip) <= r.last


def default_gateway(net: IPNetwork) -> str | None:
    r = usable(net)
    return str(ipaddress.ip_address(r.first)) if r.first <= r.last else None


def _text(version: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


def default_pools(net: IPNetwork, gateway: str | None) -> list[dict[str, str]]:
    """Every usable address of ``net`` but the gateway, as pools."""
    r = usable(net)
    if r.first > r.last:
        return []
    ranges = [r]
    if gateway is not None:
        gw = int(address(gateway))
        if r.first <= gw <= r.last:
            ranges = [x for x in (Range(r.first, gw - 1), Range(gw + 1, r.last))
                      if x.first <= x.last]
    return [{"start": _text(net.version, x.first), "end": _text(net.version, x.last)}
            for x in ranges]


def pool_ranges(pools: Iterable[dict[str, str]]) -> list[Range]:
    return sorted(Range(int(address(p["start"])), int(address(p["end"]))) for p in pools)


def _pool_text(pool: dict[str, str]) -> str:
    return f"{pool['start']}-{pool['end']}"


def validate_pools(net: IPNetwork, pools: Sequence[dict[str, str]],
                   gateway: str | None) -> None:
    """Pools must be ordered ranges of ``net``'s version inside its usable addresses,
    apart from one another and from the gateway."""
    bounds = usable(net)
    ranges: list[tuple[Range, dict[str, str]]] = []
    for pool in pools:
        try:
            start, end = address(pool["start"]), address(pool["end"])
        except (KeyError, ValueError):
            raise InvalidAllocationPool(str(pool)) from None
        if start.version != net.version or end.version != net.version or \
                int(start) > int(end):
            raise InvalidAllocationPool(_pool_text(pool))
        if int(start) < bounds.first or int(end) > bounds.last:
            raise OutOfBoundsAllocationPool(_pool_text(pool), str(net))
        ranges.append((Range(int(start), int(end)), pool))
    ranges.sort(key=lambda x: x[0])
    for (a, pa), (b, pb) in itertools.pairwise(ranges):
        if b.first <= a.last:
            raise OverlappingAllocationPools(_pool_text(pa), _pool_text(pb), str(net))
    if gateway is not None:
        gw = int(address(gateway))
        for r, pool in ranges:
            if r.first <= gw <= r.last:
                raise GatewayConflictWithAllocationPools(gateway, _pool_text(pool))


def validate_gateway(net: IPNetwork, gateway: str) -> None:
    """The gateway is a usable address of the subnet: inside its CIDR (as Neutron with
    ``force_gateway_on_subnet``), never its network or broadcast address."""
    ip = address(gateway)
    if ip.version != net.version or not is_usable(net, ip):
        raise InvalidInput(f"Gateway IP {gateway} is not valid on subnet {net}")


def pool_size(pools: Iterable[dict[str, str]]) -> int:
    return sum(r.size for r in pool_ranges(pools))


def first_free(pools: Iterable[dict[str, str]], used: set[int], version: int) -> str | None:
    """The lowest address of ``pools`` not in ``used`` (None when they are full)."""
    for r in pool_ranges(pools):
        value = r.first
        while value <= r.last:
            if value not in used:
                return _text(version, value)
            value += 1
    return None


def eui64(net: IPNetwork, mac: str) -> str:
    """The SLAAC address a MAC takes in an IPv6 /64 (modified EUI-64)."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = bytes([*octets[:3], 0xFF, 0xFE, *octets[3:]])
    return str(ipaddress.IPv6Address(int(net.network_address) | int.from_bytes(iid, "big")))


def random_mac(base_mac: str) -> str:
    """A MAC with the first three bytes of ``base_mac`` and three random ones."""
    head = base_mac.lower().split(":")[:3]
    return ":".join(head + [f"{b:02x}" for b in secrets.token_bytes(3)])


def normalize_mac(mac: str) -> str | None:
    """``mac`` in lower-case colon form, or None when it is not a unicast MAC address."""
    parts = mac.replace("-", ":").lower().split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        return None
    try:
        octets = [int(p, 16) for p in parts]
    except ValueError:
        return None
    if octets[0] & 1 or not any(octets):
        return None
    return ":".join(f"{o:02x}" for o in octets)


def overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version and int(a.network_address) <= int(b.broadcast_address) \
        and int(b.network_address) <= int(a.broadcast_address)


def subnet_of(a: IPNetwork, b: IPNetwork) -> bool:
    """``a`` lies inside ``b``."""
    return a.version == b.version and int(b.network_address) <= int(a.network_address) \
        and int(a.broadcast_address) <= int(b.broadcast_address)


def collapse(prefixes: Iterable[IPNetwork]) -> list[IPNetwork]:
    """Merge adjacent and nested prefixes (a subnet pool's prefix list)."""
    items = list(prefixes)
    v4 = [p for p in items if isinstance(p, ipaddress.IPv4Network)]
    v6 = [p for p in items if isinstance(p, ipaddress.IPv6Network)]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def _exclude(block: IPNetwork, taken: IPNetwork) -> list[IPNetwork]:
    if isinstance(block, ipaddress.IPv4Network) and isinstance(taken, ipaddress.IPv4Network):
        return list(block.address_exclude(taken))
    if isinstance(block, ipaddress.IPv6Network) and isinstance(taken, ipaddress.IPv6Network):
        return list(block.address_exclude(taken))
    return [block]


def free_blocks(prefixes: Sequence[IPNetwork], used: Iterable[IPNetwork]) -> list[IPNetwork]:
    """What of ``prefixes`` no ``used`` network covers, as CIDR blocks in address order."""
    free = list(prefixes)
    for taken in used:
        rest: list[IPNetwork] = []
        for block in free:
            if not overlaps(block, taken):
                rest.append(block)
            elif not subnet_of(block, taken):  # the block holds it: keep what is around
                rest.extend(_exclude(block, taken))
        free = rest
    return sorted(free, key=lambda n: (n.version, int(n.network_address)))


def allocate_prefix(prefixes: Sequence[IPNetwork], used: Iterable[IPNetwork],
                    prefixlen: int) -> IPNetwork | None:
    """The first free block of ``prefixlen`` inside ``prefixes`` (None when none is)."""
    for block in free_blocks(prefixes, used):
        if block.prefixlen <= prefixlen:
            return ipaddress.ip_network((block.network_address, prefixlen))
    return None
