"""Namespaces, bridges and veth legs, through iproute2.

The data path builds three kinds of thing with these: a bridge per network
(``ensure_bridge``), a namespace per router / DHCP server / the outside
(``converge_namespace``), and the veth "legs" that join a namespace to a
bridge: one end (``inner``) inside the namespace with the port's MAC and
addresses, the other (``outer``, the port's tap name) enslaved to the bridge.

Every function reads what is there first and changes only what differs, so
calling it twice changes nothing the second time. What a call creates is
recorded in an :class:`Undo` so that a failed step can take it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import os
import signal
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from network.dataplane.errors import DataPathError
from network.dataplane.run import ip, ip_batch, ip_json, log, log_cleanup_failure, quote, sysctl

__all__ = ["ip", "ip_batch"]  # re-exported for the callers that plug ports

KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL for processes in a namespace


class Undo:
    """Actions that take back what a step made, run newest first on failure."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    def push(self, what: str, action: Callable[[], Awaitable[object]]) -> None:
        self._actions.append((what, action))

    async def rollback(self) -> None:
        while self._actions:
            what, action = self._actions.pop()
            try:
                await action()
            except Exception as exc:  # the original error matters more; log this one
                log_cleanup_failure(f"undo {what}", exc)


@dataclass(frozen=True)
class Link:
    name: str
    kind: str  # "bridge", "veth", "tun", "" (physical), ...
    alias: str
    master: str
    mac: str
    mtu: int
    up: bool
    addrgen_none: bool

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Link:
        info = data.get("linkinfo") or {}
        return cls(
            name=str(data.get("ifname", "")),
            kind=str(info.get("info_kind", "")),
            alias=str(data.get("ifalias") or ""),
            master=str(data.get("master") or ""),
            mac=str(data.get("address", "")).lower(),
            mtu=int(data.get("mtu", 0)),
            up="UP" in (data.get("flags") or []),
            addrgen_none=data.get("inet6_addr_gen_mode") == "none",
        )


async def links(netns: str | None = None) -> dict[str, Link]:
    """Every device of the namespace (root when None), by name."""
    return {link.name: link for link in map(Link.parse, await ip_json("-d", "link", "show",
                                                                          netns=netns))}


async def global_addresses(netns: str | None = None) -> dict[str, set[str]]:
    """Each device's addresses in ``address/prefixlen`` form, link-local ones left out."""
    out: dict[str, set[str]] = {}
    for dev in await ip_json("addr", "show", netns=netns):
        addrs = out.setdefault(str(dev.get("ifname", "")), set())
        for info in dev.get("addr_info") or []:
            if info.get("scope") == "link":
                continue
            addrs.add(f"{info['local']}/{info['prefixlen']}")
    return out


async def namespaces() -> set[str]:
    return {str(entry["name"]) for entry in await ip_json("netns", "list") if "name" in entry}


async def namespace_pids(netns: str) -> list[int]:
    result = await ip("netns", "pids", netns, check=False)
    return [int(word) for word in result.stdout.split() if word.isdigit()]


async def kill_pids(pids: Iterable[int]) -> None:
    """SIGTERM each process, then SIGKILL those still alive after a grace period."""
    pending = list(pids)
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KILL_GRACE
    while pending and loop.time() < deadline:
        await asyncio.sleep(0.05)
        pending = [pid for pid in pending if _alive(pid)]
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] != b"Z"


async def delete_namespace(netns: str) -> None:
    """Stop every process inside ``netns``, delete its devices (and so the
    other ends of its veths) and the namespace.

    The devices go first because the kernel dismantles a deleted namespace
    later, in the background: the root ends of its veths would linger a while.
    """
    await kill_pids(await namespace_pids(netns))
    devices = [name for name, link in (await links(netns)).items() if link.kind != ""]
    with contextlib.suppress(DataPathError):  # best effort: the namespace goes anyway
        await ip_batch([f"link delete dev {name}" for name in devices], netns=netns)
    await ip("netns", "delete", netns)


async def create_namespace(netns: str, undo: Undo) -> None:
    await ip("netns", "add", netns)
    undo.push(f"namespace {netns}", lambda: delete_namespace(netns))
    await ip("link", "set", "lo", "up", netns=netns)


@dataclass(frozen=True)
class BridgeSpec:
    name: str
    alias: str
    mac: str  # fixed (see names.bridge_mac): it must not follow the ports' MACs
    mtu: int
    up: bool = True


BRIDGE_OPTIONS = ("forward_delay", "0", "stp_state", "0", "mcast_snooping", "0",
                  # bridged IP traffic goes through the inet hooks (br_netfilter), where
                  # connection tracking is: the security groups need it (see firewall.py)
                  "nf_call_iptables", "1", "nf_call_ip6tables", "1")


async def ensure_bridge(spec: BridgeSpec, current: dict[str, Link], undo: Undo,
                        netns: str | None = None) -> None:
    """A bridge with no address of its own (IPv6 address generation off too) and
    the MAC ``spec.mac`` from the start.

    A bridge whose MAC was never set takes the lowest MAC of its ports, so a port
    added or removed may change it, without a word to the neighbours that resolved
    an address on it (see :func:`names.bridge_mac`); a set MAC stays.
    """
    link = current.get(spec.name)
    if link is not None and link.alias != spec.alias:
        raise DataPathError(f"device {spec.name} exists and is not ours (alias {link.alias!r})")
    commands = []
    if link is None:
        await ip("link", "add", "name", spec.name, "address", spec.mac, "type", "bridge",
                 *BRIDGE_OPTIONS, netns=netns)
        undo.push(f"bridge {spec.name}", lambda: ip("link", "delete", spec.name, netns=netns))
        commands.append(f"link set dev {spec.name} addrgenmode none alias {quote(spec.alias)}")
    else:
        if link.mac != spec.mac.lower():  # a bridge made before its MAC was fixed
            commands.append(f"link set dev {spec.name} address {spec.mac}")
        if not link.addrgen_none:
            commands.append(f"link set dev {spec.name} addrgenmode none")
    if link is None or link.mtu != spec.mtu:
        commands.append(f"link set dev {spec.name} mtu {spec.mtu}")
    if link is None or link.up != spec.up:
        commands.append(f"link set dev {spec.name} {'up' if spec.up else 'down'}")
    await ip_batch(commands, netns=netns)


@dataclass(frozen=True)
class Leg:
    """A veth from a namespace (``inner``) to a bridge (``outer`` is the port's tap)."""

    inner: str
    outer: str
    bridge: str
    mac: str
    mtu: int
    alias: str  # ownership mark of the outer end
    addresses: tuple[str, ...] = ()  # "address/prefixlen"
    outer_netns: str | None = None  # where the bridge is: the root, or the outside namespace


@dataclass(frozen=True)
class Route:
    destination: str  # a CIDR, or "default"
    via: str

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.via).version

    def key(self) -> tuple[str, str]:
        return _destination(self.destination, self.version), str(ipaddress.ip_address(self.via))


def _destination(dst: str, version: int) -> str:
    if dst == "default":
        return "0.0.0.0/0" if version == 4 else "::/0"
    return str(ipaddress.ip_network(dst, strict=False))


@dataclass(frozen=True)
class NamespaceSpec:
    name: str
    legs: tuple[Leg, ...] = ()
    leg_prefixes: tuple[str, ...] = ()  # inner devices with these prefixes that are not legs go
    lo_addresses: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    sysctls: dict[str, str] = field(default_factory=dict)


async def converge_namespace(spec: NamespaceSpec, existing: set[str], undo: Undo,
                             outer_links: dict[str | None, dict[str, Link]],
                             configured: set[str]) -> None:
    """Make namespace ``spec.name`` hold exactly ``spec``'s legs, addresses and routes.

    ``existing``: the namespaces there are now; ``outer_links``: the devices of
    the root (None) and of the outside namespace, by name, read once per apply
    (updated here as legs are made); ``configured``: namespaces whose sysctls
    this process has set (the sysctls are set once per namespace and process).
    """
    ns = spec.name
    if ns not in existing:
        await create_namespace(ns, undo)
        existing.add(ns)
        configured.discard(ns)
    if spec.sysctls and ns not in configured:
        await sysctl(spec.sysctls, netns=ns)
        configured.add(ns)
    inner = await links(ns)
    addresses = await global_addresses(ns)
    wanted = {leg.inner for leg in spec.legs}
    for name, link in inner.items():
        if name not in wanted and link.kind == "veth" and name.startswith(spec.leg_prefixes):
            await ip("link", "delete", name, netns=ns)
    for leg in spec.legs:
        await _ensure_leg(ns, leg, inner.get(leg.inner), addresses.get(leg.inner, set()),
                          outer_links.setdefault(leg.outer_netns, {}), undo)
    await ensure_addresses(ns, "lo", set(spec.lo_addresses), addresses.get("lo", set()), undo,
                            keep_loopback=True)
    await _ensure_routes(ns, spec.routes, undo)


async def _ensure_leg(ns: str, leg: Leg, inner: Link | None, addresses: set[str],
                      outer_links: dict[str, Link], undo: Undo) -> None:
    outer = outer_links.get(leg.outer)
    if inner is None:
        if outer is not None:
            if outer.alias != leg.alias:
                raise DataPathError(f"device {leg.outer} exists and is not ours")
            try:
                await ip("link", "delete", leg.outer, netns=leg.outer_netns)  # a stale end
            except DataPathError as exc:
                # the other end's namespace was deleted: the kernel removes this end
                # too, in the background, maybe between our listing and now
                if "Cannot find device" not in str(exc):
                    raise
        await ip("link", "add", leg.outer, "type", "veth", "peer", "name", leg.inner,
                 "netns", ns, netns=leg.outer_netns)
        undo.push(f"leg {leg.inner} of {ns}", lambda: ip("link", "delete", leg.inner, netns=ns))
        outer = None
    commands = []
    if inner is None or inner.mac != leg.mac.lower():
        commands.append(f"link set dev {leg.inner} address {leg.mac}")
    if inner is None or inner.mtu != leg.mtu:
        commands.append(f"link set dev {leg.inner} mtu {leg.mtu}")
    if inner is None or not inner.up:
        commands.append(f"link set dev {leg.inner} up")
    await ip_batch(commands, netns=ns)
    await ensure_addresses(ns, leg.inner, set(leg.addresses), addresses, undo)
    await attach_outer(leg.outer, leg.bridge, leg.mtu, leg.alias, outer, leg.outer_netns)
    outer_links[leg.outer] = Link(leg.outer, "veth", leg.alias, leg.bridge, "", leg.mtu, True,
                                  True)


async def attach_outer(name: str, bridge: str, mtu: int, alias: str | None,
                       link: Link | None, netns: str | None = None) -> None:
    """The bridge side of a port: marked ours (when ``alias``), no IPv6 address
    of its own, on ``bridge``, with the network's MTU, up."""
    commands = []
    if alias is not None and (link is None or link.alias != alias):
        commands.append(f"link set dev {name} alias {quote(alias)}")
    if link is None or not link.addrgen_none:
        commands.append(f"link set dev {name} addrgenmode none")
    if link is None or link.mtu != mtu:
        commands.append(f"link set dev {name} mtu {mtu}")
    if link is None or link.master != bridge:
        commands.append(f"link set dev {name} master {bridge}")
    if link is None or not link.up:
        commands.append(f"link set dev {name} up")
    await ip_batch(commands, netns=netns)


async def ensure_addresses(ns: str, device: str, wanted: set[str], have: set[str], undo: Undo,
                            keep_loopback: bool = False) -> None:
    def norm(cidr: str) -> str:
        return str(ipaddress.ip_interface(cidr))

    wanted_n = {norm(a) for a in wanted}
    have_n = {norm(a) for a in have}
    extra = sorted(have_n - wanted_n)
    if keep_loopback:
        extra = [a for a in extra if not ipaddress.ip_interface(a).ip.is_loopback]
    await ip_batch([f"address delete {a} dev {device}" for a in extra], netns=ns)
    for a in sorted(wanted_n - have_n):
        nodad = ["nodad"] if ipaddress.ip_interface(a).version == 6 else []
        await ip("address", "add", a, "dev", device, *nodad, netns=ns)
        undo.push(f"address {a} on {device} in {ns}",
                  functools.partial(ip, "address", "delete", a, "dev", device, netns=ns))


async def _ensure_routes(ns: str, routes: tuple[Route, ...], undo: Undo) -> None:
    """The namespace's routes other than those the kernel makes for its addresses."""
    want = {route.key() for route in routes}
    have: set[tuple[str, str]] = set()
    for version in (4, 6):
        for r in await ip_json(f"-{version}", "route", "show", netns=ns):
            if (r.get("protocol") in ("kernel", "ra") or r.get("type", "unicast") != "unicast"
                    or not r.get("gateway")):
                continue
            have.add((_destination(str(r.get("dst", "")), version),
                      str(ipaddress.ip_address(r["gateway"]))))
    await ip_batch([f"route delete {dst} via {via}" for dst, via in sorted(have - want)],
                   netns=ns)
    for dst, via in sorted(want - have):
        await ip("route", "replace", dst, "via", via, netns=ns)
        undo.push(f"route {dst} in {ns}",
                  functools.partial(ip, "route", "delete", dst, "via", via, netns=ns))


async def remove_devices(names: Iterable[str], netns: str | None = None) -> None:
    for name in names:
        try:
            await ip("link", "delete", name, netns=netns)
        except DataPathError as exc:
            if "Cannot find device" not in str(exc):  # gone meanwhile (its peer was deleted)
                log_cleanup_failure(f"delete device {name}", exc)
        else:
            log.info("data path: removed device %s", name)
