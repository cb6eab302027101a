"""The networking service and its host data path together, through the API (issue 18's
acceptance, as root): what the ``openstack`` client asks for is what guests get.

One private cloud (``datapath_cloud``) serves the module. The demo user makes a
network, a subnet, a router to ``public`` and a security group with the
``openstack`` client; ports bound to the service's agent host get namespaces as
guests, which take their addresses from dnsmasq, reach each other only as the
group's rules say, reach the outside through SNAT and are reached from it through a
floating IP. Then: projects with the same CIDR, the metadata path, bad input that
leaves nothing behind, and a restart of the service that rebuilds the host from the
database.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.functional.network.datapath_cloud import (
    DataPathCloud,
    Guest,
    datapath_cloud,
    eventually,
)
from tests.functional.network.dataplane.guests import (
    connects,
    metadata_get,
    ping,
    reaches,
    run_in,
    tcp_connect,
    tcp_listener,
)

CIDR = "10.20.0.0/24"
PUBLIC_GATEWAY = "172.24.4.1"  # the outside namespace's address on public


@pytest.fixture(scope="module")
def dc(datapath_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPathCloud]:
    with datapath_cloud(tmp_path_factory) as made:
        made.cloud.add_third_user()
        yield made


@dataclass
class World:
    network: dict[str, str]
    subnet: dict[str, str]
    router: dict[str, str]
    group: dict[str, str]
    a: Guest
    b: Guest


@pytest.fixture(scope="module")
def world(dc: DataPathCloud) -> World:
    """The demo project's network with a router to public, and guests ``a`` and ``b``
    in a group of their own that lets nothing in yet."""
    net = dc.osc("demo", "network", "create", "e2e-net")
    sub = dc.osc("demo", "subnet", "create", "--network", "e2e-net", "--subnet-range", CIDR,
                 "e2e-sub")
    router = dc.osc("demo", "router", "create", "e2e-router")
    dc.cli("demo", "router", "set", "--external-gateway", "public", "e2e-router")
    dc.cli("demo", "router", "add", "subnet", "e2e-router", "e2e-sub")
    group = dc.osc("demo", "security", "group", "create", "e2e-sg")
    guests = {}
    for name in ("a", "b"):
        port = dc.osc("demo", "port", "create", "--network", "e2e-net", "--security-group",
                      "e2e-sg", f"e2e-{name}")
        assert port["status"] == "DOWN"  # not bound to a host yet
        guests[name] = dc.guest(port["id"], name)
    return World(net, sub, router, group, guests["a"], guests["b"])


def test_guests_get_their_ports_addresses_from_dnsmasq(dc: DataPathCloud, world: World) -> None:
    for guest in (world.a, world.b):
        lease = guest.lease
        assert (lease["ip"], lease["mask"]) == (guest.ip, "24")
        assert lease["router"] == world.subnet["gateway_ip"] == "10.20.0.1"
        assert lease["mtu"] == str(world.network["mtu"])
        assert (guest.port["binding:host_id"], guest.port["status"]) == (dc.host, "ACTIVE")
    # the subnet got its DHCP port, bound to this host, ACTIVE once applied
    dhcp = dc.cloud.net("admin").get("/ports", params={"network_id": world.network["id"],
                                                       "device_owner": "network:dhcp"})["ports"]
    assert [(p["status"], p["binding:host_id"]) for p in dhcp] == [("ACTIVE", dc.host)]
    assert dc.dhcp_ns(world.network["id"]) in dc.namespaces()
    assert reaches(world.a.netns, "10.20.0.1")  # the router's leg on the subnet


def test_rules_decide_who_reaches_whom(dc: DataPathCloud, world: World) -> None:
    a, b = world.a, world.b
    with tcp_listener(a.netns, 22), tcp_listener(b.netns, 22), tcp_listener(b.netns, 23):
        # the group lets nothing in: neither ICMP nor TCP, either way
        assert not ping(a.netns, b.ip) and not ping(b.netns, a.ip)
        assert tcp_connect(a.netns, b.ip, 22) is None and tcp_connect(b.netns, a.ip, 22) is None
        dc.osc("demo", "security", "group", "rule", "create", "--protocol", "icmp", "e2e-sg")
        dc.settle(a.port["id"])
        assert reaches(a.netns, b.ip) and reaches(b.netns, a.ip)
        assert tcp_connect(a.netns, b.ip, 22) is None  # ICMP only
        assert tcp_connect(b.netns, a.ip, 22) is None
        dc.osc("demo", "security", "group", "rule", "create", "--protocol", "tcp",
               "--dst-port", "22", "e2e-sg")
        dc.settle(a.port["id"])
        assert connects(a.netns, b.ip, 22) == f"hello {a.ip}"
        assert connects(b.netns, a.ip, 22) == f"hello {b.ip}"
        assert tcp_connect(a.netns, b.ip, 23) is None  # not the rule's port


def test_snat_takes_a_guest_to_the_outside(dc: DataPathCloud, world: World) -> None:
    router = dc.osc("demo", "router", "show", "e2e-router")
    gateway_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert reaches(world.a.netns, PUBLIC_GATEWAY)
    with tcp_listener(dc.outside, 8080):
        assert connects(world.a.netns, PUBLIC_GATEWAY, 8080) == f"hello {gateway_ip}"


def _open_group(dc: DataPathCloud) -> None:
    """The rules ``test_rules_decide_who_reaches_whom`` adds (for a test run alone)."""
    rules = dc.osc("demo", "security", "group", "rule", "list", "e2e-sg", "--ingress")
    have = {(r["IP Protocol"], r["Port Range"]) for r in rules}
    if not any(proto == "icmp" for proto, _ in have):
        dc.osc("demo", "security", "group", "rule", "create", "--protocol", "icmp", "e2e-sg")
    if ("tcp", "22:22") not in have:
        dc.osc("demo", "security", "group", "rule", "create", "--protocol", "tcp",
               "--dst-port", "22", "e2e-sg")


def test_floating_ip_reaches_the_port_until_disassociated(dc: DataPathCloud,
                                                          world: World) -> None:
    a = world.a
    _open_group(dc)
    fip = dc.osc("demo", "floating", "ip", "create", "public")["floating_ip_address"]
    assert not ping(dc.outside, fip)
    dc.cli("demo", "floating", "ip", "set", "--port", "e2e-a", fip)
    dc.settle(a.port["id"])
    with tcp_listener(a.netns, 22), tcp_listener(dc.outside, 8080):
        assert reaches(dc.outside, fip)
        assert connects(dc.outside, fip, 22) == f"hello {PUBLIC_GATEWAY}"
        # what the guest starts leaves with the floating IP, not the router's address
        assert connects(a.netns, PUBLIC_GATEWAY, 8080) == f"hello {fip}"
        dc.cli("demo", "floating", "ip", "unset", "--port", fip)
        dc.settle(a.port["id"])
        assert not ping(dc.outside, fip)
        assert tcp_connect(dc.outside, fip, 22) is None
    dc.cli("demo", "floating", "ip", "delete", fip)


def test_projects_with_the_same_cidr_stay_apart(dc: DataPathCloud, world: World) -> None:
    dc.osc("third", "network", "create", "third-net")
    dc.osc("third", "subnet", "create", "--network", "third-net", "--subnet-range", CIDR,
           "third-sub")
    dc.osc("third", "router", "create", "third-router")
    dc.cli("third", "router", "set", "--external-gateway", "public", "third-router")
    dc.cli("third", "router", "add", "subnet", "third-router", "third-sub")
    # the very address demo's guest a has, on third's own network
    port = dc.osc("third", "port", "create", "--network", "third-net", "--fixed-ip",
                  f"subnet=third-sub,ip-address={world.a.ip}", "third-t")
    t = dc.guest(port["id"], "t")
    assert t.lease["ip"] == world.a.ip
    # both reach the outside at once, each through its own router (third's joining
    # the external network leaves its bridge's MAC, which a's router has resolved)
    assert reaches(t.netns, PUBLIC_GATEWAY) and reaches(world.a.netns, PUBLIC_GATEWAY)
    # b's neighbour at that address is a, never t; t finds no b on its network
    ping(world.b.netns, world.a.ip)
    neighbours = run_in(world.b.netns, "ip", "neigh", "show", world.a.ip).stdout
    assert world.a.port["mac_address"] in neighbours
    assert t.port["mac_address"] not in neighbours
    assert not ping(t.netns, world.b.ip)


def _metadata(netns: str, path: str) -> dict[str, str]:
    answer: dict[str, str] = json.loads(metadata_get(netns, path))
    return answer


def test_guests_reach_metadata_with_their_identity(dc: DataPathCloud, world: World) -> None:
    # through the router: the proxy in its namespace says which router
    assert _metadata(world.a.netns, "/latest/meta-data/instance-id")["path"] == \
        "/latest/meta-data/instance-id"
    seen = dc.upstream.requests[-1]
    assert seen["X-Forwarded-For"] == world.a.ip
    assert seen["X-Neutron-Router-ID"] == world.router["id"]
    assert "X-Neutron-Network-ID" not in seen
    # a network no router serves: the proxy in its DHCP namespace, reached by the
    # route dnsmasq gives to the DHCP port
    net = dc.osc("demo", "network", "create", "e2e-iso")
    dc.osc("demo", "subnet", "create", "--network", "e2e-iso", "--subnet-range",
           "10.40.0.0/24", "e2e-iso-sub")
    port = dc.osc("demo", "port", "create", "--network", "e2e-iso", "e2e-c")
    c = dc.guest(port["id"], "c")
    assert "169.254.169.254/32 10.40.0.2" in c.lease["staticroutes"]
    assert _metadata(c.netns, "/openstack/latest/meta_data.json")["path"] == \
        "/openstack/latest/meta_data.json"
    seen = dc.upstream.requests[-1]
    assert seen["X-Forwarded-For"] == c.ip
    assert seen["X-Neutron-Network-ID"] == net["id"]
    assert "X-Neutron-Router-ID" not in seen


def test_bad_input_leaves_nothing_behind(dc: DataPathCloud, world: World) -> None:
    demo = dc.cloud.net("demo")
    net = world.network["id"]
    lone = demo.make("networks", "network", name="e2e-lone")  # no router to public
    demo.make("subnets", "subnet", network_id=lone["id"], cidr="10.50.0.0/24", ip_version=4)
    stray = demo.make("ports", "port", network_id=lone["id"])
    fip = demo.make("floatingips", "floatingip", floating_network_id=dc.osc(
        "demo", "network", "show", "public")["id"])
    group = world.group["id"]
    anchor = world.a.port["id"]
    dc.settle(anchor)
    before = dc.snapshot()

    def subnet(**body: object) -> dict[str, object]:
        return {"json": {"subnet": {"network_id": net, "ip_version": 4, **body}}}

    def rule(**body: object) -> dict[str, object]:
        return {"json": {"security_group_rule": {"security_group_id": group,
                                                 "direction": "ingress", **body}}}

    demo.fails("POST", "/subnets", 409, "SubnetOverlaps", **subnet(cidr="10.20.0.128/25"))
    demo.fails("POST", "/subnets", 400, "InvalidInput",
               **subnet(cidr="10.21.0.0/24", gateway_ip="10.99.0.1"))
    demo.fails("POST", "/subnets", 400, "HTTPBadRequest", **subnet(cidr="10.21.0.0/33"))
    demo.fails("POST", "/ports", 409, "IpAddressAlreadyAllocated", json={"port": {
        "network_id": net, "fixed_ips": [{"ip_address": world.a.ip}]}})
    demo.fails("DELETE", f"/networks/{net}", 409, "NetworkInUse")
    demo.fails("POST", "/security-group-rules", 400, "SecurityGroupRuleInvalidProtocol",
               **rule(protocol="bogus"))
    demo.fails("POST", "/security-group-rules", 400, "SecurityGroupInvalidPortRange",
               **rule(protocol="tcp", port_range_min=30, port_range_max=20))
    demo.fails("PUT", f"/floatingips/{fip['id']}", 404, "ExternalGatewayForFloatingIPNotFound",
               json={"floatingip": {"port_id": stray["id"]}})
    # all or nothing: the second network of a bulk create is refused, so is the first
    demo.fails("POST", "/networks", 400, "InvalidInput", json={"networks": [
        {"name": "e2e-bulk-ok"}, {"name": "e2e-bulk-bad", "mtu": 99999}]})
    assert not demo.ids("networks", name="e2e-bulk-ok")
    dc.settle(anchor)
    after = dc.snapshot()
    assert after.namespaces == before.namespaces
    assert after.devices == before.devices
    assert after.routes == before.routes
    assert after.tables == before.tables
    assert after.helpers == before.helpers  # not even a helper restarted


def test_a_restart_rebuilds_from_the_database(dc: DataPathCloud, world: World) -> None:
    """The service killed outright; meanwhile a namespace is removed by hand and things
    with the instance's marks appear that belong to nothing. The new service puts back
    what the database says and removes the rest; the guests' taps stay."""
    dhcp_ns = dc.dhcp_ns(world.network["id"])
    router_ns = dc.router_ns(world.router["id"])
    stray_ns = dc.router_ns(str(uuid.uuid4()))
    stray_dev = f"brq{uuid.uuid4().hex[:11]}"
    dc.settle(world.a.port["id"])
    before = dc.snapshot()
    subprocess.run(["ip", "netns", "delete", dhcp_ns], check=True)
    subprocess.run(["ip", "netns", "exec", router_ns, "nft", "flush", "ruleset"], check=True)
    subprocess.run(["ip", "netns", "add", stray_ns], check=True)
    subprocess.run(["ip", "link", "add", stray_dev, "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "set", stray_dev, "alias",
                    f"strata:{dc.instance}:net:{uuid.uuid4()}"], check=True)
    dc.kill_service()
    eventually(lambda: dhcp_ns in dc.namespaces() and stray_ns not in dc.namespaces(),
               "the DHCP namespace back and the stray one gone")
    eventually(lambda: subprocess.run(["ip", "link", "show", stray_dev],
                                      capture_output=True).returncode != 0,
               "the stray device gone")
    dc.settle(world.a.port["id"])
    after = dc.snapshot()
    assert after.namespaces == before.namespaces
    assert after.devices == before.devices
    assert after.tables == before.tables and after.routes == before.routes
    assert not set(after.helpers) & set(before.helpers)  # the old helpers were replaced
    # the guests kept their taps: a fresh lease from the new dnsmasq, and the router's NAT
    assert dc.guests.dhcp(world.a.netns) is not None
    assert reaches(world.a.netns, PUBLIC_GATEWAY)
