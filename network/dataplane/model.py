"""The contract between the networking service and the host data path.

The service's core layer reads its database and builds one
:class:`DesiredState` for a host; the data path converges the host to it
(``DataPlane.apply``). Everything here is plain, immutable data: ids are the
API's UUIDs, addresses are strings as the API shows them. Nothing in this
module touches the kernel, HTTP or SQL, so both sides test against it alone.

Naming on the host is derived from ids, as the real linuxbridge agent does
(interface names are at most 15 characters): the bridge of network ``N`` is
``brq`` + ``N[:11]``, the tap of port ``P`` is ``tap`` + ``P[:11]``, a router's
namespace ``qrouter-<router id>``, a network's DHCP namespace
``qdhcp-<network id>``, both prefixed by the cloud's ``instance`` tag so two
clouds on one machine (a developer's and a test's) never touch each other's
devices. See :func:`bridge_name` and friends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# Device owners, as the API reports them in ``device_owner``.
OWNER_DHCP = "network:dhcp"
OWNER_ROUTER_INTERFACE = "network:router_interface"
OWNER_ROUTER_GATEWAY = "network:router_gateway"
OWNER_FLOATINGIP = "network:floatingip"
OWNER_COMPUTE_PREFIX = "compute:"  # compute:<availability zone>


def bridge_name(network_id: str) -> str:
    return "brq" + network_id[:11]


def tap_name(port_id: str) -> str:
    return "tap" + port_id[:11]


@dataclass(frozen=True)
class FixedIP:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class AddressPair:
    """An allowed address pair: ``ip_address`` may be an address or a CIDR;
    ``mac_address`` None means the port's own MAC."""

    ip_address: str
    mac_address: str | None = None


@dataclass(frozen=True)
class HostRoute:
    destination: str  # CIDR
    nexthop: str


@dataclass(frozen=True)
class AllocationPool:
    start: str
    end: str


@dataclass(frozen=True)
class Subnet:
    id: str
    network_id: str
    cidr: str
    ip_version: int  # 4 or 6
    gateway_ip: str | None
    enable_dhcp: bool
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()
    allocation_pools: tuple[AllocationPool, ...] = ()
    ipv6_address_mode: str | None = None  # None, "slaac", "dhcpv6-stateful", "dhcpv6-stateless"
    ipv6_ra_mode: str | None = None


@dataclass(frozen=True)
class Network:
    id: str
    project_id: str
    mtu: int
    external: bool  # router:external: the cloud's "outside", lives in the external namespace
    admin_state_up: bool = True
    subnets: tuple[Subnet, ...] = ()


@dataclass(frozen=True)
class Port:
    """A port this host carries: a guest NIC (device_owner ``compute:*``), a
    DHCP port, a router interface or gateway (those two become a leg of the
    router's namespace), or an unbound port (no device; nothing plugged).

    ``host`` is ``binding:host_id``; the data path of a host handles the ports
    bound to it, and the DHCP/router ports of networks it serves.
    """

    id: str
    network_id: str
    project_id: str
    mac_address: str
    fixed_ips: tuple[FixedIP, ...]
    device_owner: str = ""
    device_id: str = ""
    host: str = ""
    admin_state_up: bool = True
    port_security_enabled: bool = True
    security_group_ids: tuple[str, ...] = ()
    allowed_address_pairs: tuple[AddressPair, ...] = ()
    mtu: int = 1500


@dataclass(frozen=True)
class SecurityGroupRule:
    id: str
    direction: str  # "ingress" | "egress"
    ethertype: str  # "IPv4" | "IPv6"
    # None = any; a name ("tcp", "udp", "icmp", "ipv6-icmp", ...) or a number as text
    protocol: str | None = None
    port_range_min: int | None = None  # for icmp: the type
    port_range_max: int | None = None  # for icmp: the code
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None


@dataclass(frozen=True)
class SecurityGroup:
    """A group and its rules. Members (the addresses a ``remote_group_id`` rule
    matches) are the fixed IPs and allowed address pairs of every port in
    :attr:`DesiredState.ports` (or :attr:`DesiredState.group_members`) that
    lists the group."""

    id: str
    project_id: str
    rules: tuple[SecurityGroupRule, ...] = ()
    stateful: bool = True


@dataclass(frozen=True)
class RouterInterface:
    port_id: str
    network_id: str
    subnet_id: str
    ip_address: str  # the router's address on that subnet (usually the gateway)
    prefixlen: int
    mac_address: str


@dataclass(frozen=True)
class ExternalGateway:
    network_id: str
    port_id: str
    mac_address: str
    ip_address: str
    prefixlen: int
    gateway_ip: str | None  # the external subnet's gateway: the default route
    enable_snat: bool = True


@dataclass(frozen=True)
class FloatingIP:
    id: str
    floating_ip_address: str
    fixed_ip_address: str  # the internal address it maps to
    port_id: str
    router_id: str


@dataclass(frozen=True)
class Router:
    id: str
    project_id: str
    admin_state_up: bool = True
    gateway: ExternalGateway | None = None
    interfaces: tuple[RouterInterface, ...] = ()
    routes: tuple[HostRoute, ...] = ()  # static routes (extraroute)
    floating_ips: tuple[FloatingIP, ...] = ()


@dataclass(frozen=True)
class MetadataSettings:
    """Where guests' requests to 169.254.169.254:80 go: the data path runs a
    small proxy in each router and DHCP namespace that forwards them, with the
    guest's identity (``X-Forwarded-For``, ``X-Neutron-Network-ID`` or
    ``X-Neutron-Router-ID``), to ``upstream_socket`` (a UNIX socket on the host,
    reachable from every namespace) or, when empty, nowhere (metadata off)."""

    upstream_socket: str = ""


@dataclass(frozen=True)
class DesiredState:
    """Everything one host should carry. Anything of this cloud's ``instance``
    found on the host and not described here is removed by ``apply``."""

    instance: str  # short tag of this cloud (<= 4 chars, [a-z0-9]), in every name it owns
    host: str
    networks: tuple[Network, ...] = ()
    ports: tuple[Port, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    routers: tuple[Router, ...] = ()
    metadata: MetadataSettings = field(default_factory=MetadataSettings)
    # addresses of ports on other hosts that belong to each group (for remote_group_id)
    group_members: tuple[tuple[str, tuple[str, ...]], ...] = ()


class DataPath(Protocol):
    """How the networking service drives its host: ``network.dataplane.DataPlane``.

    The service's host agent makes one as ``DataPlane(instance, run_dir)`` once the
    preflight (``network.dataplane.check``) found nothing missing, and awaits
    :meth:`apply`, one call at a time: after every change through the API
    (coalesced) and every ``resync_interval`` seconds. A port bound to this host
    counts as plugged once ``apply`` returned; :meth:`close` at the service's stop
    leaves the host as it is (a restart adopts it).
    """

    async def apply(self, state: DesiredState) -> None:
        """Converge the host to ``state``; raise when it could not (the agent logs the
        error and tries again)."""

    async def close(self) -> None:
        """Stop watching the helper processes; leave the kernel objects in place."""
