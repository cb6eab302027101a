"""The data path's life on a host: removal of what the state drops, rollback of
a failed step, rebuilding after a restart, helpers restarted when they die,
and two clouds (or a cloud and the machine) side by side untouched.

Each test looks at the host itself (``ip netns``, ``ip link``, ``nft list``,
the process table), not at what the data path says it did.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time

import pytest

from network.dataplane import ApplyError, InvalidState, names
from network.dataplane.model import DesiredState, HostRoute, Port
from tests.functional.network.dataplane.conftest import Planes, leftovers, pids_naming
from tests.functional.network.dataplane.guests import Guests, reaches
from tests.functional.network.dataplane.topology import PUBLIC_GATEWAY, Topology


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _links(netns: str | None = None) -> str:
    argv = ["ip", "-n", netns, "-d", "link"] if netns else ["ip", "-d", "link"]
    return subprocess.run(argv, capture_output=True, text=True).stdout


def _ruleset() -> str:
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout


def _helpers(plane_home: object) -> list[str]:
    out = []
    for pid in pids_naming(plane_home):  # type: ignore[arg-type]
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                out.append(fh.read().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return out


def test_what_the_state_drops_is_removed(planes: Planes) -> None:
    plane = planes.new()
    topo = Topology(plane.instance, "/tmp/no-such-metadata.sock")
    planes.driver.call(plane.apply(topo.state(floating=True)))
    b = topo.projects["b"]
    b_router = names.router_namespace(plane.instance, b.router.id)
    b_dhcp = names.dhcp_namespace(plane.instance, b.network.id)
    assert {b_router, b_dhcp} <= _netns()
    b_taps = ["tap" + p.id[:11] for p in (b.dhcp, b.router_port, topo.b1)]
    assert "brq" + b.network.id[:11] in _links()
    assert all(tap in _ruleset() for tap in b_taps[2:])  # b1's tap is in the sets

    # project b goes, and so do a's floating IP and isolated network
    planes.driver.call(plane.apply(topo.state(projects=("a",), isolated=False)))
    assert not {b_router, b_dhcp, names.dhcp_namespace(plane.instance, topo.isolated.id)} \
        & _netns()
    links = _links()
    assert "brq" + b.network.id[:11] not in links
    assert not any(tap in links for tap in b_taps)
    ruleset = _ruleset()
    assert not any(tap in ruleset for tap in b_taps)
    assert "tap" + topo.c1.id[:11] not in ruleset
    helpers = _helpers(plane.home)
    assert sum("dnsmasq" in h for h in helpers) == 1
    assert not any(b.network.id in h or b.router.id in h for h in helpers)
    a_router = names.router_namespace(plane.instance, topo.projects["a"].router.id)
    nat = subprocess.run(["ip", "netns", "exec", a_router, "nft", "list", "ruleset"],
                         capture_output=True, text=True).stdout
    assert "172.24.4.100" not in nat and "snat" in nat
    addrs = subprocess.run(["ip", "-n", a_router, "addr"], capture_output=True, text=True).stdout
    assert "172.24.4.100" not in addrs

    # and an empty state leaves nothing of this instance on the host
    planes.driver.call(plane.teardown())
    assert leftovers(plane.instance, plane.home) == []


def test_a_failed_step_leaves_nothing_half_made(planes: Planes, guests: Guests) -> None:
    plane = planes.new()
    topo = Topology(plane.instance)
    a = topo.projects["a"]
    a_router = names.router_namespace(plane.instance, a.router.id)
    a_dhcp = names.dhcp_namespace(plane.instance, a.network.id)
    # Two steps fail midway, after their namespace, legs and addresses were made:
    # a static route through a next hop on no attached network, and a DHCP port
    # whose MAC the kernel refuses (multicast).
    bad_route = topo.state(router_routes=(HostRoute("10.77.0.0/24", "192.0.2.1"),))
    bad_dhcp = Port(**{**a.dhcp.__dict__, "mac_address": "01:00:5e:00:00:42"})
    ports = tuple(bad_dhcp if p.id == a.dhcp.id else p for p in bad_route.ports)
    with pytest.raises(ApplyError) as failed:
        planes.driver.call(plane.apply(DesiredState(**{**bad_route.__dict__, "ports": ports})))
    assert sorted(failed.value.failures) == sorted([f"router {a.router.id}",
                                                    f"dhcp {a.network.id}"])
    message = str(failed.value)
    assert "route replace 10.77.0.0/24 via 192.0.2.1" in message
    assert "01:00:5e:00:00:42" in message
    assert not {a_router, a_dhcp} & _netns()
    links = _links()
    assert "tap" + a.router_port.id[:11] not in links
    assert "tap" + a.dhcp.id[:11] not in links
    outside = _links(names.external_namespace(plane.instance))
    assert "tap" + a.gateway_port.id[:11] not in outside
    assert not any(a.network.id in h or a.router.id in h for h in _helpers(plane.home))
    # the other steps were carried out
    assert names.router_namespace(plane.instance, topo.projects["b"].router.id) in _netns()
    assert names.dhcp_namespace(plane.instance, topo.projects["b"].network.id) in _netns()

    # the good state builds them; a bad change to the router then leaves it as it was
    planes.driver.call(plane.apply(topo.state()))
    guest = guests.new("fail-a1")
    planes.driver.call(plane.plug_namespace_port(topo.a1, guest))
    assert guests.dhcp(guest) is not None
    assert reaches(guest, PUBLIC_GATEWAY)
    routes_before = subprocess.run(["ip", "-n", a_router, "route"], capture_output=True,
                                   text=True).stdout
    with pytest.raises(ApplyError):
        planes.driver.call(plane.apply(bad_route))
    assert a_router in _netns()
    assert subprocess.run(["ip", "-n", a_router, "route"], capture_output=True,
                          text=True).stdout == routes_before
    assert reaches(guest, PUBLIC_GATEWAY)
    planes.driver.call(plane.teardown())
    assert leftovers(plane.instance, plane.home) == []


def test_invalid_state_changes_nothing(planes: Planes) -> None:
    plane = planes.new()
    topo = Topology(plane.instance)
    state = topo.state()
    stray = Port(**{**topo.a1.__dict__, "id": "stray", "network_id": "no-such-network"})
    with pytest.raises(InvalidState, match="unknown network"):
        planes.driver.call(plane.apply(DesiredState(**{**state.__dict__,
                                                       "ports": (*state.ports, stray)})))
    with pytest.raises(InvalidState, match="instance"):
        planes.driver.call(plane.apply(DesiredState(instance="other", host="x")))
    assert leftovers(plane.instance, plane.home) == []


def test_a_restarted_data_path_rebuilds_from_the_state(planes: Planes, guests: Guests) -> None:
    first = planes.new()
    topo = Topology(first.instance, "/tmp/no-such-metadata.sock")
    planes.driver.call(first.apply(topo.state()))
    guest = guests.new("restart-a1")
    planes.driver.call(first.plug_namespace_port(topo.a1, guest))
    assert guests.dhcp(guest) is not None
    old_helpers = set(pids_naming(first.home))
    planes.driver.call(first.close())

    # meanwhile a router namespace and a bridge disappear
    a = topo.projects["a"]
    subprocess.run(["ip", "netns", "delete",
                    names.router_namespace(first.instance, a.router.id)], check=True)
    subprocess.run(["ip", "link", "delete", "brq" + topo.isolated.id[:11]], check=True)

    second = planes.new(first.instance, first.home.parent)
    planes.driver.call(second.apply(topo.state()))
    helpers = set(pids_naming(second.home))
    assert not helpers & old_helpers  # the old helpers were replaced, not duplicated
    cmdlines = _helpers(second.home)
    assert sum("dnsmasq" in c for c in cmdlines) == 3
    assert sum("metadata_proxy" in c for c in cmdlines) == 3
    assert names.router_namespace(first.instance, a.router.id) in _netns()
    assert "brq" + topo.isolated.id[:11] in _links()
    assert guests.dhcp(guest) is not None  # the guest's tap was adopted, not recreated
    assert reaches(guest, PUBLIC_GATEWAY)


def test_a_dead_helper_is_restarted(planes: Planes) -> None:
    plane = planes.new()
    topo = Topology(plane.instance)
    planes.driver.call(plane.apply(topo.state(projects=("a",), isolated=False)))
    (pid,) = [p for p in pids_naming(plane.home)]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        now = [p for p in pids_naming(plane.home) if p != pid]
        if now:
            break
        time.sleep(0.2)
    assert now, "dnsmasq was not restarted"
    assert "dnsmasq" in _helpers(plane.home)[0]
    planes.driver.call(plane.teardown())


def _netns_of(pid: int) -> str:
    """The name of the namespace ``pid`` runs in ('' when it has none any more)."""
    out = subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True,
                         text=True).stdout
    return out.strip()


def test_a_namespace_removed_under_its_helper(planes: Planes, guests: Guests,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """The DHCP namespace deleted by hand while dnsmasq runs on in what is left of it:
    the next pass makes the namespace again with a new dnsmasq in it, which serves.
    Deleted again and dnsmasq killed: its watcher does not respawn it into a namespace
    that is gone (``ip netns exec`` could only exit 255, again and again); the next
    pass brings both back."""
    plane = planes.new()
    topo = Topology(plane.instance)
    state = topo.state(projects=("a",), isolated=False)
    planes.driver.call(plane.apply(state))
    dhcp_ns = names.dhcp_namespace(plane.instance, topo.projects["a"].network.id)
    (first,) = pids_naming(plane.home)
    subprocess.run(["ip", "netns", "delete", dhcp_ns], check=True)
    assert _netns_of(first) == ""  # running on, in a namespace without a name
    planes.driver.call(plane.apply(state))
    (second,) = pids_naming(plane.home)
    assert second != first and _netns_of(second) == dhcp_ns
    guest = guests.new("gone-a1")
    planes.driver.call(plane.plug_namespace_port(topo.a1, guest))
    assert guests.dhcp(guest) is not None

    subprocess.run(["ip", "netns", "delete", dhcp_ns], check=True)
    with caplog.at_level(logging.WARNING, logger="network.dataplane"):
        os.kill(second, signal.SIGKILL)
        time.sleep(3)  # the watcher's first backoff is 0.5 s
    assert pids_naming(plane.home) == [], "dnsmasq was respawned into no namespace"
    assert f"its namespace {dhcp_ns} is gone, so it is not restarted" in caplog.text
    planes.driver.call(plane.apply(state))
    (third,) = pids_naming(plane.home)
    assert _netns_of(third) == dhcp_ns
    assert guests.dhcp(guest) is not None
    planes.driver.call(plane.teardown())


def test_two_clouds_on_one_host_leave_each_other_alone(planes: Planes, guests: Guests) -> None:
    one, two = planes.new(), planes.new()
    topo_one, topo_two = Topology(one.instance), Topology(two.instance)
    planes.driver.call(one.apply(topo_one.state()))
    planes.driver.call(two.apply(topo_two.state()))
    guest = guests.new("two-a1")
    planes.driver.call(two.plug_namespace_port(topo_two.a1, guest))
    planes.driver.call(one.apply(topo_one.state(projects=("b",))))
    planes.driver.call(one.teardown())
    assert leftovers(one.instance, one.home) == []
    # the other cloud has all it had: namespaces, bridges, tables, DHCP, routing
    two_ns = {ns for ns in _netns() if ns.startswith(two.instance + "-")}
    assert len(two_ns) == 6  # 2 routers, 3 DHCP, the outside
    assert f"strata_{two.instance}" in _ruleset()
    assert sum("dnsmasq" in h for h in _helpers(two.home)) == 3
    assert guests.dhcp(guest) is not None
    assert reaches(guest, PUBLIC_GATEWAY)
    planes.driver.call(two.teardown())
    assert leftovers(two.instance, two.home) == []


def _mac(netns: str, device: str) -> str:
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show", "dev", device],
                         capture_output=True, text=True, check=True).stdout
    return str(json.loads(out)[0]["address"])


def test_routers_keep_the_outside_as_others_leave_and_join(planes: Planes,
                                                           guests: Guests) -> None:
    """A router that has resolved the external gateway keeps reaching it while other
    routers' gateway legs leave and join the external network: the bridge there keeps
    its MAC. (One whose MAC was never set takes its ports' lowest: with that port gone
    it changes, unannounced, and a router still sending to the old MAC is cut off from
    the outside until its neighbour entry expires, tens of seconds later.)"""
    plane = planes.new()
    topo = Topology(plane.instance)
    planes.driver.call(plane.apply(topo.state()))
    outside = names.external_namespace(plane.instance)
    bridge = "brq" + topo.public.id[:11]
    mac = _mac(outside, bridge)
    legs = {name: _mac(outside, "tap" + p.gateway_port.id[:11])
            for name, p in topo.projects.items()}
    # the router whose leg has the lowest MAC leaves (a bridge following its ports'
    # MACs has that one); a guest behind the other has reached the outside just before
    leaving = min(legs, key=lambda name: legs[name])
    (staying,) = set(legs) - {leaving}
    guest = guests.new(f"stay-{staying}")
    first = next(iter(topo.projects[staying].guests.values()))
    planes.driver.call(plane.plug_namespace_port(first, guest))
    assert guests.dhcp(guest) is not None
    assert reaches(guest, PUBLIC_GATEWAY)
    planes.driver.call(plane.apply(topo.state(projects=(staying,))))
    assert reaches(guest, PUBLIC_GATEWAY, tries=2)
    assert _mac(outside, bridge) == mac
    planes.driver.call(plane.apply(topo.state()))  # and it joins again
    assert reaches(guest, PUBLIC_GATEWAY, tries=2)
    assert _mac(outside, bridge) == mac
    planes.driver.call(plane.teardown())
    assert leftovers(plane.instance, plane.home) == []


def test_a_bridge_made_before_its_mac_was_fixed_announces_the_change(
        planes: Planes, guests: Guests) -> None:
    """The outside's bridge of an earlier data path, with another MAC, which the
    routers have resolved: a new data path sets the fixed MAC, and the outside says so
    (a gratuitous ARP), so that the routers go on reaching the gateway."""
    first = planes.new()
    topo = Topology(first.instance)
    state = topo.state(projects=("a",), isolated=False)
    planes.driver.call(first.apply(state))
    outside = names.external_namespace(first.instance)
    bridge = "brq" + topo.public.id[:11]
    router = names.router_namespace(first.instance, topo.projects["a"].router.id)
    mac = _mac(outside, bridge)
    guest = guests.new("before-a1")
    planes.driver.call(first.plug_namespace_port(topo.a1, guest))
    assert guests.dhcp(guest) is not None
    planes.driver.call(first.close())
    # as an earlier data path left it: another MAC, nothing announced, the router's
    # neighbour entry for the gateway on that MAC
    for argv in (["sysctl", "-q", "-w", "net.ipv4.conf.all.arp_notify=0"],
                 ["ip", "link", "set", "dev", bridge, "address", "02:00:00:00:00:01"]):
        subprocess.run(["ip", "netns", "exec", outside, *argv], check=True)
    subprocess.run(["ip", "-n", router, "neigh", "flush", "dev",
                    names.gateway_leg(topo.projects["a"].gateway_port.id)], check=True)
    assert reaches(guest, PUBLIC_GATEWAY)
    second = planes.new(first.instance, first.home.parent)
    planes.driver.call(second.apply(state))
    assert _mac(outside, bridge) == mac
    assert reaches(guest, PUBLIC_GATEWAY, tries=2)
    planes.driver.call(second.teardown())
    assert leftovers(first.instance, first.home) == []


def test_objects_not_ours_are_never_touched(planes: Planes) -> None:
    plane = planes.new()
    other = "zz" + plane.instance[-2:]
    foreign_ns = f"{other}-qrouter-x"
    made = []
    try:
        for argv in (["ip", "link", "add", "brqforeign0", "type", "bridge"],
                     ["ip", "link", "add", "brqforeign1", "type", "bridge"],
                     ["ip", "link", "set", "brqforeign1", "alias", f"strata:{other}:net:x"],
                     ["ip", "netns", "add", foreign_ns],
                     ["nft", "add", "table", "bridge", f"strata_{other}"]):
            subprocess.run(argv, check=True)
            made.append(argv)
        topo = Topology(plane.instance)
        planes.driver.call(plane.apply(topo.state()))
        planes.driver.call(plane.teardown())
        links = _links()
        assert "brqforeign0" in links and "brqforeign1" in links
        assert foreign_ns in _netns()
        assert f"strata_{other}" in _ruleset()
    finally:
        for argv in (["ip", "link", "delete", "brqforeign0"],
                     ["ip", "link", "delete", "brqforeign1"],
                     ["ip", "netns", "delete", foreign_ns],
                     ["nft", "delete", "table", "bridge", f"strata_{other}"]):
            subprocess.run(argv, capture_output=True)
