"""The data path on real kernel objects, with namespaces standing in for guests.

One topology (see ``topology.py``) is applied once for the module; guests
``a1``, ``a2`` (project a), ``b1`` (project b, the same CIDR and even the
same address as ``a1``) and ``c1`` (project a's isolated network) take their
addresses from dnsmasq. Each test applies the variation it needs and puts
the base state back when done.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from network.dataplane import DataPlane, firewall, names
from network.dataplane.model import AddressPair, DesiredState
from tests.functional.network.dataplane.conftest import Driver, MetadataUpstream, Planes
from tests.functional.network.dataplane.guests import (
    Guests,
    ping,
    run_in,
    tcp_connect,
    tcp_listener,
)
from tests.functional.network.dataplane.topology import (
    EGRESS_ALL,
    FLOATING_IP,
    PUBLIC_GATEWAY,
    Topology,
    rule,
)

ICMP_IN = rule("ingress", "icmp")
TCP_IN = rule("ingress", "tcp", 8000, 8000)


@dataclass
class World:
    driver: Driver
    plane: DataPlane
    topo: Topology
    ns: dict[str, str]  # guest name -> its namespace
    leases: dict[str, dict[str, str]]
    upstream: MetadataUpstream

    def apply(self, state: DesiredState) -> None:
        self.driver.call(self.plane.apply(state))

    @contextlib.contextmanager
    def variant(self, **changes: Any) -> Iterator[None]:
        """The topology with ``changes`` applied for the duration of the block."""
        self.apply(self.topo.state(**changes))
        try:
            yield
        finally:
            self.apply(self.topo.state())

    @property
    def outside(self) -> str:
        return names.external_namespace(self.topo.instance)

    def router_ns(self, project: str) -> str:
        return names.router_namespace(self.topo.instance, self.topo.projects[project].router.id)


@pytest.fixture(scope="module")
def world(planes: Planes, guests: Guests, metadata_upstream: MetadataUpstream) -> World:
    plane = planes.new()
    topo = Topology(plane.instance, str(metadata_upstream.path))
    planes.driver.call(plane.apply(topo.state()))
    ns: dict[str, str] = {}
    leases: dict[str, dict[str, str]] = {}
    for name, port in (("a1", topo.a1), ("a2", topo.a2), ("b1", topo.b1), ("c1", topo.c1)):
        ns[name] = guests.new(name)
        planes.driver.call(plane.plug_namespace_port(port, ns[name]))
        lease = guests.dhcp(ns[name])
        assert lease is not None, f"{name} got no DHCP lease"
        leases[name] = lease
    return World(planes.driver, plane, topo, ns, leases, metadata_upstream)


def test_guests_get_their_fixed_addresses_and_options_from_dnsmasq(world: World) -> None:
    a1 = world.leases["a1"]
    assert (a1["ip"], a1["mask"], a1["router"]) == ("10.10.0.11", "24", "10.10.0.1")
    assert a1["dns"] == "10.10.0.53"
    assert a1["mtu"] == "1450"
    # option 121: the subnet's host route, then the default route (121 overrides option 3)
    assert a1["staticroutes"] == "10.99.0.0/16 10.10.0.254 0.0.0.0/0 10.10.0.1"
    assert world.leases["a2"]["ip"] == "10.10.0.12"
    assert world.leases["b1"]["ip"] == "10.10.0.11"  # b's network, the same CIDR
    # the isolated network's guest is told to reach metadata through the DHCP port
    assert "169.254.169.254/32 10.30.0.2" in world.leases["c1"]["staticroutes"]
    assert world.leases["c1"]["mtu"] == "1450"


def test_dnsmasq_serves_only_the_ports_it_knows(world: World, guests: Guests) -> None:
    stranger = guests.new("stranger")
    try:
        subprocess.run(["ip", "link", "add", "strg0", "type", "veth", "peer", "name", "eth0",
                        "netns", stranger], check=True)
        bridge = f"brq{world.topo.projects['a'].network.id[:11]}"
        subprocess.run(["ip", "link", "set", "strg0", "master", bridge, "up"], check=True)
        run_in(stranger, "ip", "link", "set", "eth0", "up", check=True)
        assert guests.dhcp(stranger, tries=3) is None
    finally:
        subprocess.run(["ip", "link", "delete", "strg0"], capture_output=True)


def test_an_address_leased_to_another_mac_is_offered_to_the_new_one(world: World,
                                                                    guests: Guests) -> None:
    """a2's address was leased to its MAC; the port's MAC changes (as when a deleted
    port's address goes to a new port): the new MAC gets the address at once, and so
    does the old one when it comes back."""
    ns = world.ns["a2"]
    old = world.topo.a2.mac_address
    run_in(ns, "ip", "link", "set", "eth0", "address", "fa:16:3e:0a:0b:0c", check=True)
    try:
        with world.variant(a2_mac="fa:16:3e:0a:0b:0c"):
            lease = guests.dhcp(ns)
            assert lease is not None and lease["ip"] == "10.10.0.12", lease
    finally:
        run_in(ns, "ip", "link", "set", "eth0", "address", old, check=True)
    lease = guests.dhcp(ns)
    assert lease is not None and lease["ip"] == "10.10.0.12", lease


def test_security_groups_decide_who_reaches_whom(world: World) -> None:
    a1, a2 = world.ns["a1"], world.ns["a2"]
    # egress only: nothing comes in, either way, ICMP or TCP
    with tcp_listener(a1, 8000), tcp_listener(a2, 8000):
        assert not ping(a1, "10.10.0.12") and not ping(a2, "10.10.0.11")
        assert tcp_connect(a1, "10.10.0.12", 8000) is None
        assert tcp_connect(a2, "10.10.0.11", 8000) is None
    with world.variant(a_rules=(*EGRESS_ALL, ICMP_IN)):
        with tcp_listener(a1, 8000), tcp_listener(a2, 8000):
            assert ping(a1, "10.10.0.12") and ping(a2, "10.10.0.11")
            assert tcp_connect(a1, "10.10.0.12", 8000) is None  # ICMP only
            assert tcp_connect(a2, "10.10.0.11", 8000) is None
    with world.variant(a_rules=(*EGRESS_ALL, TCP_IN)):
        with tcp_listener(a1, 8000), tcp_listener(a2, 8000), tcp_listener(a2, 8001):
            assert tcp_connect(a1, "10.10.0.12", 8000) == "hello 10.10.0.11"
            assert tcp_connect(a2, "10.10.0.11", 8000) == "hello 10.10.0.12"
            assert tcp_connect(a1, "10.10.0.12", 8001) is None  # outside the port range
            assert not ping(a1, "10.10.0.12")
    # and back to nothing in once the rules are gone
    assert not ping(a1, "10.10.0.12")


def test_removing_a_rule_ends_the_flows_it_allowed(world: World) -> None:
    a1 = world.ns["a1"]
    world.apply(world.topo.state(a_rules=(*EGRESS_ALL, ICMP_IN)))
    try:
        # one ping process: one tracked ICMP flow, established after its first echo
        pinger = subprocess.Popen(["ip", "netns", "exec", a1, "ping", "-n", "-i", "0.2", "-c",
                                   "25", "10.10.0.12"], stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        world.apply(world.topo.state())
        out, _ = pinger.communicate(timeout=30)
    finally:
        world.apply(world.topo.state())
    replies = out.count("bytes from")
    assert 3 <= replies <= 12, out  # answered until the rule went, not after


def test_egress_rules_limit_what_a_guest_starts(world: World) -> None:
    a1, a2 = world.ns["a1"], world.ns["a2"]
    # a1 and a2 accept TCP 8000 from anyone, but may only start connections to 8000
    rules = (TCP_IN, rule("egress", "tcp", 8000, 8000))
    with world.variant(a_rules=rules), tcp_listener(a2, 8000), tcp_listener(a2, 8001):
        assert tcp_connect(a1, "10.10.0.12", 8000) == "hello 10.10.0.11"
        assert tcp_connect(a1, "10.10.0.12", 8001) is None
        assert not ping(a1, "10.10.0.12")


def test_remote_prefix_and_remote_group(world: World) -> None:
    a1, a2, router = world.ns["a1"], world.ns["a2"], world.router_ns("a")
    group = world.topo.projects["a"].group_id
    # ICMP from a2's address only: the router (10.10.0.1) is refused
    with world.variant(a_rules=(*EGRESS_ALL, rule("ingress", "icmp", prefix="10.10.0.12/32"))):
        assert ping(a2, "10.10.0.11")
        assert not ping(router, "10.10.0.11")
    # TCP from members of a's group: a2 is one, the router is not
    with world.variant(a_rules=(*EGRESS_ALL, rule("ingress", "tcp", group=group))):
        with tcp_listener(a1, 8000):
            assert tcp_connect(a2, "10.10.0.11", 8000) == "hello 10.10.0.12"
            assert tcp_connect(router, "10.10.0.11", 8000) is None


def test_icmp_type_rule(world: World) -> None:
    a1, a2 = world.ns["a1"], world.ns["a2"]
    # echo requests (type 8) allowed in; echo replies come back through conntrack
    with world.variant(a_rules=(*EGRESS_ALL, rule("ingress", "icmp", 8, 0))):
        assert ping(a2, "10.10.0.11")
    with world.variant(a_rules=(*EGRESS_ALL, rule("ingress", "icmp", 13))):  # timestamps only
        assert not ping(a1, "10.10.0.12")


def test_ipv6_rules_and_neighbour_discovery(world: World) -> None:
    # link-local addresses (from each port's MAC) are the guests' own; neighbour
    # discovery always passes; ICMPv6 echo only when a rule allows it
    a1, a2 = world.ns["a1"], world.ns["a2"]
    to_a2 = f"{firewall.link_local(world.topo.a2.mac_address)}%eth0"
    to_a1 = f"{firewall.link_local(world.topo.a1.mac_address)}%eth0"
    assert not ping(a1, to_a2)
    with world.variant(a_rules=(*EGRESS_ALL, rule("ingress", "icmp", ethertype="IPv6"))):
        assert ping(a1, to_a2) and ping(a2, to_a1)
        assert not ping(a1, "10.10.0.12")  # and the IPv4 rules are apart


def test_projects_with_the_same_cidr_stay_apart(world: World) -> None:
    b1 = world.ns["b1"]
    # b1 has a1's very address; a's guests accept anything, and still b1 reaches only its own
    open_rules = (*EGRESS_ALL, rule("ingress"))
    with world.variant(a_rules=open_rules), tcp_listener(world.ns["a2"], 8000):
        assert ping(world.ns["a1"], "10.10.0.12")
        assert not ping(b1, "10.10.0.12")
        assert tcp_connect(b1, "10.10.0.12", 8000) is None
        assert ping(b1, "10.10.0.1")  # b's own router
        assert ping(b1, PUBLIC_GATEWAY)  # and the outside, through it


def test_snat_lets_a_guest_reach_the_outside(world: World) -> None:
    with tcp_listener(world.outside, 8080):
        # seen from outside with its router's gateway address
        assert tcp_connect(world.ns["a2"], PUBLIC_GATEWAY, 8080) == "hello 172.24.4.10"
        assert tcp_connect(world.ns["b1"], PUBLIC_GATEWAY, 8080) == "hello 172.24.4.20"
    assert ping(world.ns["a1"], PUBLIC_GATEWAY)
    # the outside cannot reach the guests' private addresses
    assert not ping(world.outside, "10.10.0.11")


def test_without_snat_the_outside_is_not_reached(world: World) -> None:
    with world.variant(enable_snat=False):
        assert not ping(world.ns["a2"], PUBLIC_GATEWAY)


def test_floating_ip_reaches_the_port_until_removed(world: World) -> None:
    a1, outside = world.ns["a1"], world.outside
    rules = (*EGRESS_ALL, ICMP_IN, TCP_IN)
    with world.variant(a_rules=rules, floating=True):
        assert ping(outside, FLOATING_IP)
        with tcp_listener(a1, 8000):
            # the guest sees the real outside address (no SNAT inbound)
            assert tcp_connect(outside, FLOATING_IP, 8000) == f"hello {PUBLIC_GATEWAY}"
        with tcp_listener(outside, 8080):
            # and its own connections leave with the floating IP
            assert tcp_connect(a1, PUBLIC_GATEWAY, 8080) == f"hello {FLOATING_IP}"
            assert tcp_connect(world.ns["a2"], PUBLIC_GATEWAY, 8080) == "hello 172.24.4.10"
        # another guest of the network reaches a1 by its floating IP too (hairpin)
        with tcp_listener(a1, 8000):
            assert tcp_connect(world.ns["a2"], FLOATING_IP, 8000) == "hello 10.10.0.1"
    with world.variant(a_rules=rules):
        assert not ping(outside, FLOATING_IP)
        with tcp_listener(a1, 8000):
            assert tcp_connect(outside, FLOATING_IP, 8000) is None


def test_port_security_off_means_no_filtering(world: World) -> None:
    a1, a2 = world.ns["a1"], world.ns["a2"]
    with world.variant(a2_security=False), tcp_listener(a2, 8000):
        assert ping(a1, "10.10.0.12")
        assert tcp_connect(a1, "10.10.0.12", 8000) == "hello 10.10.0.11"
        # a2 may even send from an address that is not its own
        run_in(a2, "ip", "addr", "add", "10.10.0.77/24", "dev", "eth0", check=True)
        try:
            with world.variant(a2_security=False, a_rules=(*EGRESS_ALL, ICMP_IN)):
                assert ping_from(a2, "10.10.0.77", "10.10.0.11")
        finally:
            run_in(a2, "ip", "addr", "del", "10.10.0.77/24", "dev", "eth0")


def ping_from(netns: str, source: str, address: str) -> bool:
    result = run_in(netns, "ping", "-n", "-c", "1", "-W", "1", "-I", source, address)
    return result.returncode == 0


def test_spoofed_source_addresses_are_dropped(world: World) -> None:
    a1, a2 = world.ns["a1"], world.ns["a2"]
    run_in(a2, "ip", "addr", "add", "10.10.0.77/24", "dev", "eth0", check=True)
    try:
        with world.variant(a_rules=(*EGRESS_ALL, ICMP_IN)):
            assert ping_from(a2, "10.10.0.12", "10.10.0.11")
            assert not ping_from(a2, "10.10.0.77", "10.10.0.11")
        # an allowed address pair makes the second address a2's own
        with world.variant(a_rules=(*EGRESS_ALL, ICMP_IN),
                           a2_pairs=(AddressPair("10.10.0.64/26"),)):
            assert ping_from(a2, "10.10.0.77", "10.10.0.11")
    finally:
        run_in(a2, "ip", "addr", "del", "10.10.0.77/24", "dev", "eth0")
    # a foreign MAC: nothing passes, not even ARP
    mac = world.topo.a1.mac_address
    with world.variant(a_rules=(*EGRESS_ALL, ICMP_IN)):
        run_in(a1, "ip", "link", "set", "eth0", "address", "fa:16:3e:00:00:99", check=True)
        run_in(a1, "ip", "neigh", "flush", "all")
        try:
            assert not ping(a1, "10.10.0.12")
        finally:
            run_in(a1, "ip", "link", "set", "eth0", "address", mac, check=True)
        assert ping(a1, "10.10.0.12")


UDP_RECEIVER = textwrap.dedent("""\
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 68))
    s.settimeout(3)
    print("ready", flush=True)
    try:
        data, peer = s.recvfrom(100)
        print(peer[1], data.decode())
    except socket.timeout:
        print("nothing")
""")
UDP_SENDER = textwrap.dedent("""\
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(sys.argv[2])))
    for _ in range(3):
        s.sendto(b"offer", (sys.argv[1], 68))
""")


def _udp_to_port_68(world: World, source_port: int) -> str:
    receiver = subprocess.Popen(["ip", "netns", "exec", world.ns["a2"], sys.executable, "-c",
                                 UDP_RECEIVER], stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None
    assert receiver.stdout.readline().strip() == "ready"
    run_in(world.ns["a1"], sys.executable, "-c", UDP_SENDER, "10.10.0.12", str(source_port),
           check=True)
    out, _ = receiver.communicate(timeout=10)
    return out.strip()


def test_a_guest_cannot_pose_as_a_dhcp_server(world: World) -> None:
    with world.variant(a_rules=(*EGRESS_ALL, rule("ingress", "udp"))):
        assert _udp_to_port_68(world, 1067) == "1067 offer"  # an ordinary datagram passes
        assert _udp_to_port_68(world, 67) == "nothing"  # a DHCP server's reply does not


FETCH = textwrap.dedent("""\
    import sys, urllib.request, urllib.error
    req = urllib.request.Request("http://169.254.169.254" + sys.argv[1],
                                 headers={"X-Forwarded-For": "6.6.6.6",
                                          "X-Neutron-Router-ID": "forged"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            print(resp.status, resp.read().decode())
    except urllib.error.HTTPError as exc:
        print(exc.code, exc.read().decode())
""")


def _fetch(netns: str, path: str) -> str:
    return run_in(netns, sys.executable, "-c", FETCH, path, check=True).stdout.strip()


def test_metadata_proxy_forwards_with_the_guests_identity(world: World) -> None:
    upstream = world.upstream
    upstream.requests.clear()
    out = _fetch(world.ns["a1"], "/openstack/latest/meta_data.json?x=1")
    assert out.startswith("200 ")
    assert json.loads(out[4:]) == {"path": "/openstack/latest/meta_data.json?x=1",
                                   "instance": "i-1"}
    seen = upstream.requests[-1]
    assert seen["X-Forwarded-For"] == "10.10.0.11"
    assert seen["X-Neutron-Router-ID"] == world.topo.projects["a"].router.id
    assert "X-Neutron-Network-ID" not in seen
    # the upstream's status comes back as it was
    assert _fetch(world.ns["b1"], "/missing").startswith("404 no such thing")
    assert upstream.requests[-1]["X-Neutron-Router-ID"] == world.topo.projects["b"].router.id
    assert upstream.requests[-1]["X-Forwarded-For"] == "10.10.0.11"
    # the isolated network's guest goes through its DHCP namespace
    assert _fetch(world.ns["c1"], "/latest/meta-data/").startswith("200 ")
    seen = upstream.requests[-1]
    assert seen["X-Forwarded-For"] == "10.30.0.11"
    assert seen["X-Neutron-Network-ID"] == world.topo.isolated.id
    assert "X-Neutron-Router-ID" not in seen


def _snapshot(world: World) -> dict[str, Any]:
    """What a second apply must leave alone: devices (by index), rules (by
    handle), helper processes (by pid)."""
    instance = world.topo.instance
    netns = sorted(line.split()[0] for line in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
        if line.startswith(instance + "-"))
    snap: dict[str, Any] = {"netns": netns}
    for ns in [None, *netns]:
        prefix = ["ip", "-n", ns] if ns else ["ip"]
        snap[f"links {ns}"] = subprocess.run([*prefix, "-o", "link"], capture_output=True,
                                             text=True).stdout
        snap[f"addrs {ns}"] = subprocess.run([*prefix, "-o", "addr"], capture_output=True,
                                             text=True).stdout
        snap[f"routes {ns}"] = subprocess.run([*prefix, "route"], capture_output=True,
                                              text=True).stdout
        nft = ["ip", "netns", "exec", ns, "nft"] if ns else ["nft"]
        snap[f"nft {ns}"] = subprocess.run([*nft, "-a", "list", "ruleset"], capture_output=True,
                                           text=True).stdout
    snap["pids"] = subprocess.run(["pgrep", "-af", str(world.plane.home)], capture_output=True,
                                  text=True).stdout
    return snap


def test_apply_is_idempotent(world: World) -> None:
    before = _snapshot(world)
    world.apply(world.topo.state())
    world.apply(world.topo.state())
    after = _snapshot(world)
    assert before.keys() == after.keys()
    for key in before:
        assert before[key] == after[key], key
    assert before["pids"].count("dnsmasq") == 3  # a, b and the isolated network
    assert before["pids"].count("metadata_proxy") == 3  # two routers, one DHCP namespace


def test_rules_per_port_stay_constant(world: World) -> None:
    table = names.nft_table(world.topo.instance)
    listing = subprocess.run(["nft", "-j", "list", "table", "bridge", table],
                             capture_output=True, text=True, check=True).stdout
    rules = [item for item in json.loads(listing)["nftables"] if "rule" in item]
    # 4 guests, 2 groups: the fixed chains plus 2 chains per group and per group set
    assert len(rules) < 60
    ports = {"tap" + p.id[:11] for p in (world.topo.a1, world.topo.a2, world.topo.b1,
                                         world.topo.c1)}
    for item in rules:
        text = json.dumps(item)
        assert not any(port in text for port in ports), "a rule names a port"
