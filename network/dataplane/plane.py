"""The data path of one cloud on one host: :class:`DataPlane`.

``apply(state)`` converges the host to the state in steps: remove what the
state no longer describes, load the security group tables, then one step per
network bridge, the outside namespace, each DHCP server and each router.
A step that fails is rolled back (whatever it created is removed) and the
others still run; ``apply`` then raises :class:`ApplyError` naming each failed
step. Nothing is remembered between processes but what is in the kernel and
in files under the run directory: a new ``DataPlane`` given the same state
rebuilds (and adopts) everything, restarting the helper processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from network.dataplane import dhcp, firewall, links, names, nat
from network.dataplane.errors import ApplyError, DataPathError, InvalidState
from network.dataplane.links import Leg, Undo, attach_outer
from network.dataplane.model import DesiredState, Port, bridge_name, tap_name
from network.dataplane.plan import DhcpPlan, Plan, RouterPlan, make_plan
from network.dataplane.preflight import Preflight, check
from network.dataplane.procs import Processes, ProcSpec, python_argv
from network.dataplane.run import log_cleanup_failure, run, sysctl
from network.dataplane.tables import Tables

log = logging.getLogger("network.dataplane")

# where ``python -m network.dataplane.metadata_proxy`` finds the package
SOURCE_ROOT = str(Path(__file__).resolve().parents[2])
NAT_TABLE = (f"ip {names.NFT_TABLE_NS}",)
DNAT_RE = re.compile(r"ip daddr (\S+) dnat (?:ip )?to (\S+)")
# A bridge of the outside whose MAC changes says so (a gratuitous ARP for each of
# its addresses): the routers behind it would send to the old MAC for tens of
# seconds otherwise. Bridges keep a fixed MAC (names.bridge_mac); this covers
# one made before, whose MAC ensure_bridge sets once.
OUTSIDE_SYSCTLS = {"net.ipv4.conf.all.arp_notify": "1"}


class DataPlane:
    """The data path of cloud ``instance`` on this host; its files live in
    ``run_dir / instance``. Must run as root."""

    def __init__(self, instance: str, run_dir: Path | str) -> None:
        self.instance = names.check_instance(instance)
        self.home = Path(run_dir) / instance
        self._lock = asyncio.Lock()
        self._procs = Processes(self.home)
        self._tables = Tables()
        self._configured: set[str] = set()  # namespaces whose sysctls this object set
        self._adopted = False  # helpers of a previous run stopped
        # per guest tap: what its filtering granted when last loaded (to end the
        # flows of a grant taken away)
        self._granted: dict[str, Grants] = {}
        self._networks: set[str] = set()  # internal networks when last loaded

    async def check(self) -> Preflight:
        """What this host lacks for the data path (see :mod:`preflight`)."""
        return await check()

    async def apply(self, state: DesiredState) -> None:
        if state.instance != self.instance:
            raise InvalidState(f"state of instance {state.instance!r} given to the data "
                               f"path of {self.instance!r}")
        plan = make_plan(state)
        async with self._lock:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            failures: dict[str, Exception] = {}
            step = functools.partial(self._step, failures)
            await step("cleanup", functools.partial(self._remove_stale, plan))
            await step("security groups", functools.partial(self._firewall, plan))
            for bridge in plan.bridges:
                await step(f"network {bridge.name}", functools.partial(self._bridge, plan, bridge))
            if plan.needs_outside:
                await step("outside", functools.partial(self._outside, plan))
            # each DHCP server and router has its own namespace: they converge side
            # by side (a metadata proxy's start-up then overlaps the rest)
            await asyncio.gather(
                *(step(f"dhcp {d.network.id}", functools.partial(self._dhcp, plan, d))
                  for d in plan.dhcp),
                *(step(f"router {r.router.id}", functools.partial(self._router, plan, r))
                  for r in plan.routers))
            if failures:
                raise ApplyError(failures)

    async def teardown(self) -> None:
        """Remove everything of this instance from the host."""
        await self.apply(DesiredState(instance=self.instance, host=""))

    async def close(self) -> None:
        """Stop watching the helpers; they and the kernel objects stay (a new
        DataPlane takes them over)."""
        await self._procs.detach()

    async def _step(self, failures: dict[str, Exception], name: str,
                    body: Callable[[Undo], Awaitable[None]]) -> None:
        undo = Undo()
        try:
            await body(undo)
        except asyncio.CancelledError:
            await undo.rollback()
            raise
        except Exception as exc:
            log.error("data path: %s failed, rolled back: %s", name, exc)
            await undo.rollback()
            failures[name] = exc

    # -- removal of what the state no longer describes

    async def _remove_stale(self, plan: Plan, undo: Undo) -> None:
        wanted_ns = plan.namespaces()
        existing = {ns for ns in await links.namespaces()
                    if names.owns_namespace(self.instance, ns)}
        keep_keys = {_dhcp_key(d) for d in plan.dhcp} | {_meta_key(d) for d in plan.dhcp
                                                          if d.metadata}
        keep_keys |= {_meta_key(r) for r in plan.routers if r.metadata}
        await self._procs.stop_all_except(keep_keys)
        if not self._adopted:
            # helpers a previous data path left: stopped, started afresh below
            await self._procs.stop_strays()
            for ns in sorted(existing & wanted_ns):
                if ns != names.external_namespace(self.instance):
                    await links.kill_pids(await links.namespace_pids(ns))
            self._adopted = True
        for ns in sorted(existing - wanted_ns):
            log.info("data path: removing namespace %s", ns)
            await links.delete_namespace(ns)
            self._tables.forget(ns)
            self._configured.discard(ns)
        wanted_roots = {b.name for b in plan.bridges}
        leg_ports = {leg.outer for spec in plan.namespace_specs() for leg in spec.legs}
        await links.remove_devices(self._stale_devices(
            await links.links(), wanted_roots,
            plan.root_taps | leg_ports))
        outside = names.external_namespace(self.instance)
        if outside in existing and outside in wanted_ns:
            await links.remove_devices(self._stale_devices(
                await links.links(outside), {e.bridge.name for e in plan.externals},
                plan.outside_taps | leg_ports),
                netns=outside)
        if not plan.internal:
            await self._tables.ensure_absent("firewall", firewall.removal(self.instance).text,
                                             _firewall_tables(self.instance))
        for directory in (self.home / "dhcp").glob("*"):
            if directory.name not in {d.network.id for d in plan.dhcp}:
                _remove_tree(directory)

    def _stale_devices(self, current: dict[str, links.Link], bridges: AbstractSet[str],
                       taps: AbstractSet[str]) -> list[str]:
        prefix = names.alias_prefix(self.instance)
        stale = []
        for link in current.values():
            if not link.alias.startswith(prefix):
                continue  # not ours: never touched
            kind = link.alias[len(prefix):].split(":", 1)[0]
            if (kind == names.KIND_NETWORK and link.name not in bridges) or (
                    kind == names.KIND_PORT and link.name not in taps):
                stale.append(link.name)
        return sorted(stale, key=lambda n: n.startswith("brq"))  # ports before bridges

    # -- the steps

    async def _firewall(self, plan: Plan, undo: Undo) -> None:
        granted = _grants(plan)
        if plan.internal:
            ruleset = firewall.render(self.instance, plan.zones, plan.filters,
                                      plan.state.security_groups,
                                      firewall.group_members(plan.state))
            await self._tables.ensure("firewall", ruleset.text, ruleset.tables)
        # A port that lost a grant (a rule, a remote group member, an address, its
        # port security off...) or went loses its tracked connections, as upstream
        # does: what is still allowed is picked up again as new.
        zones: set[int] = set()
        addresses: set[tuple[int, str]] = set()
        gone = {bridge_name(n) for n in self._networks} - set(plan.zones)
        for tap, old in self._granted.items():
            new = granted.get(tap)
            if new is None and old.bridge in gone:
                zones.add(old.zone)  # the whole network went: one sweep of its zone
            elif new is None or old.grants - new.grants:
                addresses |= {(old.zone, a) for a in old.addresses}
        commands = [["conntrack", "-D", "--zone", str(z)] for z in sorted(zones)]
        commands += [["conntrack", "-D", "--zone", str(z), flag, a]
                     for z, a in sorted(addresses) if z not in zones
                     for flag in ("--orig-src", "--orig-dst")]
        limit = asyncio.Semaphore(4)

        async def delete(argv: list[str]) -> None:
            async with limit:
                await run(argv, check=False)  # status 1: nothing to delete

        await asyncio.gather(*(delete(argv) for argv in commands))
        self._granted = granted
        self._networks = set(plan.internal)

    async def _bridge(self, plan: Plan, bridge: links.BridgeSpec, undo: Undo) -> None:
        current = await links.links()
        await links.ensure_bridge(bridge, current, undo)
        ours = {b.name for b in plan.bridges}
        for port in plan.guest_ports:
            if bridge_name(port.network_id) != bridge.name:
                continue
            tap = current.get(tap_name(port.id))
            if tap is None or tap.master == bridge.name:
                continue  # libvirt plugs it later (rules already match its name)
            if tap.master and tap.master not in ours:
                log.warning("data path: %s is on %s, not ours; left alone", tap.name, tap.master)
                continue
            await links.ip("link", "set", "dev", tap.name, "master", bridge.name, "up")

    async def _outside(self, plan: Plan, undo: Undo) -> None:
        ns = names.external_namespace(self.instance)
        if ns not in await links.namespaces():
            await links.create_namespace(ns, undo)
            self._configured.discard(ns)
        if ns not in self._configured:
            await sysctl(OUTSIDE_SYSCTLS, netns=ns)
            self._configured.add(ns)
        current = await links.links(ns)
        addresses = await links.global_addresses(ns)
        for ext in plan.externals:
            await links.ensure_bridge(ext.bridge, current, undo, netns=ns)
            await links.ensure_addresses(ns, ext.bridge.name, set(ext.addresses),
                                         addresses.get(ext.bridge.name, set()), undo)

    async def _outer_links(self, namespace: links.NamespaceSpec) -> dict[str | None,
                                                                          dict[str, links.Link]]:
        wanted = {leg.outer_netns for leg in namespace.legs}
        return {ns: await links.links(ns) for ns in wanted}

    async def _converge(self, spec: links.NamespaceSpec, undo: Undo,
                        helpers: tuple[str, ...]) -> None:
        """Converge the namespace; when it has to be made (new, or removed by hand
        while its ``helpers`` ran on in what is left of the old one), those helpers
        are stopped first so that they start again in the new one."""
        existing = await links.namespaces()
        if spec.name not in existing:
            for key in helpers:
                await self._procs.stop(key)
        await links.converge_namespace(spec, existing, undo, await self._outer_links(spec),
                                       self._configured)

    async def _dhcp(self, plan: Plan, item: DhcpPlan, undo: Undo) -> None:
        await self._converge(item.namespace, undo, (_dhcp_key(item), _meta_key(item)))
        directory = self.home / "dhcp" / item.network.id
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        ports = [p for p in plan.state.ports if p.network_id == item.network.id]
        config = dhcp.render(item.network, item.port, ports, set(item.isolated),
                             item.metadata, directory)
        hosts = directory / "hosts"
        gone = _lines(hosts) - set(config.hosts.splitlines())
        changed = _write(hosts, config.hosts)
        changed = _write(directory / "opts", config.opts) or changed
        key = _dhcp_key(item)
        if gone:
            # dnsmasq keeps (in memory) the lease of a host entry it no longer has, and
            # offers that address to no other MAC until the lease ends: a deleted port's
            # address given to a new port, or a port's new MAC, would get no answer. A
            # fresh dnsmasq has no leases; guests renew theirs from the static entries.
            await self._procs.stop(key)
        if await self._procs.ensure(ProcSpec(key, item.namespace.name, config.argv,
                                             directory / "dnsmasq.log",
                                             pid_file=directory / "pid")):
            undo.push(f"dnsmasq of {item.network.id}", lambda: self._procs.stop(key))
        elif changed:
            self._procs.reload(key)
        await self._metadata(plan, item.metadata, _meta_key(item), item.namespace.name,
                             ("--network-id", item.network.id), undo)

    async def _router(self, plan: Plan, item: RouterPlan, undo: Undo) -> None:
        ns = item.namespace.name
        before: dict[str, str] = {}
        if ns in await links.namespaces():
            before = dict(DNAT_RE.findall(await self._tables.listing(NAT_TABLE, ns)))
        await self._converge(item.namespace, undo, (_meta_key(item),))
        text = nat.render(item.router)
        if text is None:
            await self._tables.ensure_absent("nat", nat.removal(), NAT_TABLE, ns)
        else:
            await self._tables.ensure("nat", text, NAT_TABLE, ns)
        after = {f.floating_ip_address: f.fixed_ip_address for f in item.router.floating_ips}
        for address in sorted(a for a, fixed in before.items() if after.get(a) != fixed):
            # connections through a floating IP that is gone (or moved) end here
            for flag in ("--orig-dst", "--reply-dst"):
                await run(["ip", "netns", "exec", ns, "conntrack", "-D", flag, address],
                          check=False)
        await self._metadata(plan, item.metadata, _meta_key(item), ns,
                             ("--router-id", item.router.id), undo)

    async def _metadata(self, plan: Plan, wanted: bool, key: str, ns: str,
                        who: tuple[str, str], undo: Undo) -> None:
        socket = plan.state.metadata.upstream_socket
        if not wanted or not socket:
            await self._procs.stop(key)
            return
        directory = self.home / "metadata"
        argv = python_argv("network.dataplane.metadata_proxy", "--listen",
                           names.METADATA_ADDRESS, "--port", str(names.METADATA_PORT),
                           "--upstream", socket, *who, "--owner", str(directory / key))
        spec = ProcSpec(key, ns, argv, directory / f"{key}.log",
                        env=(("PYTHONPATH", SOURCE_ROOT),), ready_fd=True)
        if await self._procs.ensure(spec):
            undo.push(f"metadata proxy {key}", lambda: self._procs.stop(key))

    # -- guests stood in for by namespaces

    async def plug_namespace_port(self, port: Port, netns: str, ifname: str = "eth0") -> None:
        """Plug ``port`` into a namespace as a guest would be: a veth whose host
        end is the port's tap on its network's bridge and whose other end,
        ``ifname`` in ``netns``, has the port's MAC.

        The network's bridge must be on the host, made by this or any other data
        path of the instance (a test plugs guests beside the networking service's
        own data path): it is looked up there, with its MTU. The tap carries the
        port's mark, so every data path of the instance keeps it while the port
        is in its state and removes it once the port is gone."""
        async with self._lock:
            outer_ns, mtu = await self._find_bridge(port.network_id)
            leg = Leg(ifname, tap_name(port.id), bridge_name(port.network_id),
                      port.mac_address, mtu, names.alias(self.instance, names.KIND_PORT, port.id),
                      outer_netns=outer_ns)
            undo = Undo()
            try:
                await links.ip("link", "add", leg.outer, "type", "veth", "peer", "name",
                               leg.inner, "netns", netns, netns=outer_ns)
                undo.push(f"veth {leg.outer}", lambda: links.ip("link", "delete", leg.outer,
                                                                netns=outer_ns))
                await links.ip_batch([f"link set dev {ifname} address {port.mac_address}",
                                      f"link set dev {ifname} mtu {mtu}",
                                      f"link set dev {ifname} up"], netns=netns)
                await attach_outer(leg.outer, leg.bridge, leg.mtu, leg.alias, None, outer_ns)
            except BaseException:
                await undo.rollback()
                raise

    async def _find_bridge(self, network_id: str) -> tuple[str | None, int]:
        """Where the bridge of ``network_id`` is (None: the root namespace, or the
        outside's) and its MTU; DataPathError when no bridge of ours is there."""
        wanted = names.alias(self.instance, names.KIND_NETWORK, network_id)
        outside = names.external_namespace(self.instance)
        for ns in (None, outside):
            if ns is not None and ns not in await links.namespaces():
                continue
            link = (await links.links(ns)).get(bridge_name(network_id))
            if link is not None and link.alias == wanted:
                return ns, link.mtu
        raise DataPathError(f"network {network_id} is not applied here (no bridge of ours)")

    async def unplug_namespace_port(self, port_id: str) -> None:
        """Remove a port plugged by :meth:`plug_namespace_port` (if it is there)."""
        outside = names.external_namespace(self.instance)
        async with self._lock:
            for ns in (None, outside):
                current = await links.links(ns) if ns is None or ns in await links.namespaces() \
                    else {}
                link = current.get(tap_name(port_id))
                if link is not None and link.alias == names.alias(
                        self.instance, names.KIND_PORT, port_id):
                    await links.ip("link", "delete", link.name, netns=ns)


@dataclass(frozen=True)
class Grants:
    grants: frozenset[object]  # what the port's filtering lets through, piece by piece
    bridge: str
    zone: int
    addresses: tuple[str, ...]


def _grants(plan: Plan) -> dict[str, Grants]:
    """For each guest port: what its filtering grants, its zone and its addresses."""
    groups = {g.id: g for g in plan.state.security_groups}
    members = firewall.group_members(plan.state)
    out: dict[str, Grants] = {}
    for port in plan.guest_ports:
        port_filter = firewall.port_filter(port)
        grants: set[object] = {("enabled", port_filter.enabled)}
        if not port_filter.secured:
            grants.add(("unfiltered",))
        grants |= {("source", *source) for source in port_filter.sources}
        used = [groups[g] for g in port_filter.groups if g in groups]
        grants |= {("rule", g.id, g.stateful, r) for g in used for r in g.rules}
        for remote in {r.remote_group_id for g in used for r in g.rules if r.remote_group_id}:
            grants |= {("member", remote, a) for a in members.get(remote, [])}
        bridge = bridge_name(port.network_id)
        out[port_filter.tap] = Grants(frozenset(grants), bridge, plan.zones[bridge],
                                      tuple(ip.ip_address for ip in port.fixed_ips))
    return out


def _dhcp_key(item: DhcpPlan) -> str:
    return f"dhcp-{item.network.id}"


def _meta_key(item: DhcpPlan | RouterPlan) -> str:
    if isinstance(item, DhcpPlan):
        return f"meta-network-{item.network.id}"
    return f"meta-router-{item.router.id}"


def _firewall_tables(instance: str) -> tuple[str, ...]:
    table = names.nft_table(instance)
    return (f"inet {table}", f"bridge {table}")


def _lines(path: Path) -> set[str]:
    """The lines of ``path`` (none when it does not exist)."""
    try:
        return set(path.read_text().splitlines())
    except OSError:
        return set()


def _write(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` (atomically) unless it holds it; True when written."""
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def _remove_tree(directory: Path) -> None:
    try:
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()
    except OSError as exc:
        log_cleanup_failure(f"remove {directory}", exc)
