"""How the data path names what it makes on a host, and how it knows its own.

Every name carries the cloud's ``instance`` tag (1-4 characters of
``[a-z0-9]``) so that two clouds on one machine, or a cloud and the machine's
own networking, never touch each other's objects:

* network namespaces: ``<instance>-qrouter-<router id>``,
  ``<instance>-qdhcp-<network id>`` and ``<instance>-ext`` (the outside);
* devices in the root namespace (bridges, the host ends of veths) have the
  15-character names of :mod:`network.dataplane.model` and are marked with the
  interface alias ``strata:<instance>:<kind>:<id>``; a device without our
  mark is never changed or removed;
* nftables tables ``strata_<instance>`` (bridge and inet families) in the root
  namespace, ``strata`` inside our own namespaces.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from network.dataplane.errors import InvalidState

INSTANCE_RE = re.compile(r"[a-z0-9]{1,4}")

# Devices inside our namespaces (the other end of each veth is tap<port id>).
ROUTER_LEG_PREFIX = "qr-"  # a router's leg on an internal network
GATEWAY_LEG_PREFIX = "qg-"  # a router's leg on the external network
DHCP_LEG_PREFIX = "ns-"  # the DHCP namespace's leg on its network

# Kinds in device aliases.
KIND_NETWORK = "net"  # a network's bridge
KIND_PORT = "port"  # the host end of a port's veth (DHCP, router or a test guest)

METADATA_ADDRESS = "169.254.169.254"
METADATA_PORT = 80

NFT_TABLE_NS = "strata"  # our table inside our own namespaces


def check_instance(instance: str) -> str:
    if not INSTANCE_RE.fullmatch(instance):
        raise InvalidState(
            f"instance tag {instance!r} must be 1-4 characters of [a-z0-9]")
    return instance


def router_namespace(instance: str, router_id: str) -> str:
    return f"{instance}-qrouter-{router_id}"


def dhcp_namespace(instance: str, network_id: str) -> str:
    return f"{instance}-qdhcp-{network_id}"


def external_namespace(instance: str) -> str:
    return f"{instance}-ext"


def owns_namespace(instance: str, name: str) -> bool:
    """True for a namespace name this instance creates (whatever the id)."""
    return (name == external_namespace(instance)
            or name.startswith(f"{instance}-qrouter-")
            or name.startswith(f"{instance}-qdhcp-"))


def router_leg(port_id: str) -> str:
    return ROUTER_LEG_PREFIX + port_id[:11]


def gateway_leg(port_id: str) -> str:
    return GATEWAY_LEG_PREFIX + port_id[:11]


def dhcp_leg(port_id: str) -> str:
    return DHCP_LEG_PREFIX + port_id[:11]


def alias(instance: str, kind: str, object_id: str) -> str:
    return f"strata:{instance}:{kind}:{object_id}"


def alias_prefix(instance: str) -> str:
    return f"strata:{instance}:"


def bridge_mac(instance: str, network_id: str) -> str:
    """The fixed MAC of the bridge of ``network_id``: locally administered,
    unicast, stable for a given id.

    A bridge whose MAC was never set takes the lowest MAC of its ports, so it
    changes as ports come and go, and the kernel announces nothing. On the
    outside's bridges, which hold the external gateway addresses, a router that
    had resolved the gateway then sends to a MAC that is no longer the bridge's:
    the bridge hands such a frame up as addressed to another host and IP drops
    it, until the router's neighbour entry expires (tens of seconds).
    """
    digest = hashlib.sha256(f"{instance}/{network_id}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def nft_table(instance: str) -> str:
    """Our tables' name in the root namespace (one bridge, one inet table)."""
    return f"strata_{instance}"


def nft_ident(object_id: str) -> str:
    """An id as it may appear in an nftables chain or set name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", object_id)


def conntrack_zones(instance: str, network_ids: Iterable[str]) -> dict[str, int]:
    """A conntrack zone (1-65535) for each network, stable for a given id.

    Bridged traffic of every network is tracked in the root namespace; two
    projects may use the same addresses, so each network gets its own zone.
    The zone is a hash of the id; a collision moves the later id (in sorted
    order) to the next free zone.
    """
    zones: dict[str, int] = {}
    used: set[int] = set()
    for network_id in sorted(set(network_ids)):
        digest = hashlib.sha256(f"{instance}/{network_id}".encode()).digest()
        zone = 1 + int.from_bytes(digest[:4], "big") % 65535
        while zone in used:
            zone = zone % 65535 + 1
        used.add(zone)
        zones[network_id] = zone
    return zones
