"""The Networking API v2.0 of a real Strata (``strata up -d``: identity and the
networking service), driven with raw HTTP: exact response shapes, bad input and its
error bodies, isolation of projects, policy per role, the common list behaviour,
quotas, IP availability, and the client other services use."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import requests

from network.client import NetworkClient
from tests.functional.network.network_server import Net, NetworkCloud, network_cloud

# -- the response shapes: the API reference's fields for the extensions we list -------------
STANDARD = {"id", "project_id", "tenant_id", "description", "revision_number", "created_at",
            "updated_at"}
TAGGED = STANDARD | {"tags"}
# without: dns_domain (dns-integration), l2_adjacency, provider:*, qos_policy_id, segments,
# vlan_transparent, is_default (auto-allocated-topology): extensions not built
NETWORK = TAGGED | {"name", "admin_state_up", "status", "shared", "router:external", "mtu",
                    "port_security_enabled", "subnets", "availability_zone_hints",
                    "availability_zones"}
# without: segment_id (segment), service_types (subnet-service-types), dns_publish_fixed_ip
SUBNET = TAGGED | {"name", "network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp",
                   "dns_nameservers", "host_routes", "allocation_pools", "ipv6_ra_mode",
                   "ipv6_address_mode", "subnetpool_id"}
SUBNETPOOL = TAGGED | {"name", "ip_version", "prefixes", "default_prefixlen", "min_prefixlen",
                       "max_prefixlen", "default_quota", "shared", "is_default",
                       "address_scope_id"}
# without: data_plane_status, dns_*, extra_dhcp_opts, ip_allocation, qos_*, resource_request,
# uplink_status_propagation, mac_learning_enabled: extensions not built
PORT = TAGGED | {"name", "network_id", "mac_address", "admin_state_up", "status", "device_id",
                 "device_owner", "fixed_ips", "allowed_address_pairs", "security_groups",
                 "port_security_enabled"}
BINDING = {"binding:host_id", "binding:vnic_type", "binding:profile", "binding:vif_type",
           "binding:vif_details"}
# without: distributed, ha, availability zones (dvr, l3-ha, router_availability_zone)
ROUTER = TAGGED | {"name", "admin_state_up", "status", "external_gateway_info", "routes"}
INTERFACE = {"id", "subnet_id", "subnet_ids", "project_id", "tenant_id", "port_id",
             "network_id"}
# without: dns_domain, dns_name, port_forwardings, qos_policy_id
FLOATINGIP = TAGGED | {"floating_network_id", "floating_ip_address", "port_id",
                       "fixed_ip_address", "router_id", "status", "port_details"}
PORT_DETAILS = {"name", "network_id", "mac_address", "admin_state_up", "status", "device_id",
                "device_owner"}
# without: shared (security-groups-shared-filtering)
SECURITY_GROUP = TAGGED | {"name", "stateful", "security_group_rules"}
# without: remote_address_group_id, normalized_cidr, belongs_to_default_sg
RULE = STANDARD | {"security_group_id", "direction", "ethertype", "protocol",
                   "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id"}
# without: rbac_policy (rbac-policies is not built)
QUOTA = {"network", "subnet", "subnetpool", "port", "router", "floatingip", "security_group",
         "security_group_rule"}
AVAILABILITY = {"network_id", "network_name", "project_id", "tenant_id", "total_ips",
                "used_ips", "subnet_ip_availability"}
SUBNET_AVAILABILITY = {"subnet_id", "subnet_name", "cidr", "ip_version", "total_ips",
                       "used_ips"}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkCloud]:
    with network_cloud(tmp_path_factory) as c:
        c.add_third_user()
        c.add_reader()
        yield c


@pytest.fixture(scope="module")
def demo(cloud: NetworkCloud) -> Net:
    return cloud.net("demo")


@pytest.fixture(scope="module")
def admin(cloud: NetworkCloud) -> Net:
    return cloud.net("admin")


@pytest.fixture(scope="module")
def third(cloud: NetworkCloud) -> Net:
    return cloud.net("third")


def by_name(api: Net, collection: str, name: str) -> dict[str, Any]:
    (item,) = api.get(f"/{collection}", params={"name": name})[collection.replace("-", "_")]
    found: dict[str, Any] = item
    return found


def counts(api: Net) -> dict[str, int]:
    return {c: len(api.get(f"/{c}")[c.replace("-", "_")]) for c in (
        "networks", "subnets", "ports", "routers", "floatingips", "security-groups",
        "security-group-rules")}


# -- discovery -------------------------------------------------------------------------------


def test_version_discovery_and_extensions(cloud: NetworkCloud, demo: Net) -> None:
    root = requests.get(cloud.network_url + "/", timeout=10)
    assert root.status_code == 200
    assert root.json() == {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"href": f"{cloud.network_url}/v2.0/", "rel": "self"}]}]}
    resources = demo.get("")["resources"]
    assert {r["collection"] for r in resources} >= {"networks", "subnets", "ports"}
    assert requests.get(cloud.network_url + "/v2.0", timeout=10).status_code == 401
    exts = demo.get("/extensions")["extensions"]
    aliases = {e["alias"] for e in exts}
    assert {"router", "external-net", "security-group", "quotas", "binding", "extraroute",
            "allowed-address-pairs", "port-security", "standard-attr-tag",
            "network-ip-availability", "subnet_allocation", "pagination", "sorting"} <= aliases
    for e in exts:
        assert set(e) == {"alias", "name", "description", "updated", "links"}
    assert demo.get("/extensions/router")["extension"]["alias"] == "router"
    demo.fails("GET", "/extensions/dvr", 404, "ExtensionNotFound")
    demo.fails("GET", "/networks", 401, "HTTPUnauthorized", token="not-a-token")
    demo.fails("GET", "/no-such-things", 404, "HTTPNotFound")


# -- the devstack-like start and the response shapes -------------------------------------------


def test_bootstrap_networks_and_exact_shapes(cloud: NetworkCloud, demo: Net,
                                             admin: Net) -> None:
    public = by_name(demo, "networks", "public")
    assert public["router:external"] is True and public["shared"] is False
    assert set(public) == NETWORK
    private = by_name(demo, "networks", "private")
    assert private["project_id"] == demo.project_id and private["status"] == "ACTIVE"
    assert private["mtu"] == 1500 and private["availability_zones"] == ["nova"]
    for stamp in (private["created_at"], private["updated_at"]):
        assert STAMP.match(stamp), stamp
    sub = demo.get(f"/subnets/{private['subnets'][0]}")["subnet"]
    assert set(sub) == SUBNET
    assert (sub["cidr"], sub["gateway_ip"], sub["enable_dhcp"]) == ("10.0.0.0/26", "10.0.0.1",
                                                                     True)
    pub_sub = admin.get(f"/subnets/{public['subnets'][0]}")["subnet"]
    assert (pub_sub["cidr"], pub_sub["enable_dhcp"]) == ("172.24.4.0/24", False)
    assert pub_sub["allocation_pools"] == [{"start": "172.24.4.2", "end": "172.24.4.254"}]
    # the external network's subnet belongs to admin and is not shared: not the demo's
    demo.fails("GET", f"/subnets/{public['subnets'][0]}", 404, "SubnetNotFound")
    router = by_name(demo, "routers", "router1")
    assert set(router) == ROUTER
    gw = router["external_gateway_info"]
    assert set(gw) == {"network_id", "enable_snat", "external_fixed_ips"}
    assert gw["network_id"] == public["id"] and gw["enable_snat"] is True
    ports = demo.get("/ports", params={"network_id": private["id"]})["ports"]
    assert sorted((p["device_owner"], p["fixed_ips"][0]["ip_address"]) for p in ports) == [
        ("network:dhcp", "10.0.0.2"), ("network:router_interface", "10.0.0.1")]
    for p in ports:
        assert set(p) == PORT  # a member does not see binding attributes
    for p in admin.get("/ports", params={"network_id": private["id"]})["ports"]:
        assert set(p) == PORT | BINDING
        assert p["binding:vif_type"] == "bridge" and p["binding:host_id"]
    groups = demo.get("/security-groups")["security_groups"]
    (default,) = [g for g in groups if g["name"] == "default"]
    assert set(default) == SECURITY_GROUP
    for rule in default["security_group_rules"]:
        assert set(rule) == RULE
    assert sorted((r["direction"], r["ethertype"], r["remote_group_id"] == default["id"])
                  for r in default["security_group_rules"]) == [
        ("egress", "IPv4", False), ("egress", "IPv6", False), ("ingress", "IPv4", True),
        ("ingress", "IPv6", True)]
    quota = demo.get(f"/quotas/{demo.project_id}")["quota"]
    assert set(quota) == QUOTA
    pool = admin.make("subnetpools", "subnetpool", name="pool-shape",
                      prefixes=["10.250.0.0/16"], default_prefixlen=24)
    assert set(pool) == SUBNETPOOL and pool["min_prefixlen"] == 16
    admin.delete(f"/subnetpools/{pool['id']}")
    avail = admin.get(f"/network-ip-availabilities/{private['id']}")["network_ip_availability"]
    assert set(avail) == AVAILABILITY
    (sub_avail,) = avail["subnet_ip_availability"]
    assert set(sub_avail) == SUBNET_AVAILABILITY
    assert (sub_avail["total_ips"], sub_avail["used_ips"]) == (61, 2)


def test_router_interface_and_floating_ip_shapes(demo: Net) -> None:
    net = demo.make("networks", "network", name="shape-net")
    sub = demo.make("subnets", "subnet", network_id=net["id"], cidr="192.168.50.0/24",
                    ip_version=4)
    router = demo.make("routers", "router", name="shape-router",
                       external_gateway_info={"network_id": by_name(demo, "networks",
                                                                    "public")["id"]})
    info = demo.put(f"/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert set(info) == INTERFACE and info["subnet_ids"] == [sub["id"]]
    port = demo.make("ports", "port", network_id=net["id"], name="shape-port")
    fip = demo.make("floatingips", "floatingip",
                    floating_network_id=router["external_gateway_info"]["network_id"],
                    port_id=port["id"])
    assert set(fip) == FLOATINGIP and set(fip["port_details"]) == PORT_DETAILS
    assert fip["router_id"] == router["id"] and fip["status"] == "ACTIVE"
    assert fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    demo.delete(f"/floatingips/{fip['id']}")
    demo.delete(f"/ports/{port['id']}")
    out = demo.put(f"/routers/{router['id']}/remove_router_interface",
                   {"subnet_id": sub["id"]})
    assert set(out) == INTERFACE
    # an interface by port: the port's own address, and the port becomes the router's
    leg = demo.make("ports", "port", network_id=net["id"],
                    fixed_ips=[{"subnet_id": sub["id"], "ip_address": "192.168.50.254"}])
    info = demo.put(f"/routers/{router['id']}/add_router_interface", {"port_id": leg["id"]})
    assert info["port_id"] == leg["id"] and info["subnet_ids"] == [sub["id"]]
    leg = demo.get(f"/ports/{leg['id']}")["port"]
    assert (leg["device_owner"], leg["device_id"]) == ("network:router_interface",
                                                       router["id"])
    demo.fails("PUT", f"/routers/{router['id']}/add_router_interface", 400, "BadRequest",
               json={"subnet_id": sub["id"]})  # already has a port on it
    demo.fails("DELETE", f"/ports/{leg['id']}", 409, "L3PortInUse")
    demo.fails("DELETE", f"/routers/{router['id']}", 409, "RouterInUse")
    demo.put(f"/routers/{router['id']}/remove_router_interface", {"port_id": leg["id"]})
    demo.fails("GET", f"/ports/{leg['id']}", 404, "PortNotFound")
    demo.fails("PUT", f"/routers/{router['id']}/remove_router_interface", 404,
               "RouterInterfaceNotFoundForSubnet", json={"subnet_id": sub["id"]})
    demo.delete(f"/routers/{router['id']}")
    demo.delete(f"/networks/{net['id']}")


def test_gateway_details_need_an_admin(demo: Net, admin: Net) -> None:
    public = by_name(admin, "networks", "public")
    pub_sub = public["subnets"][0]
    demo.fails("POST", "/routers", 403, "PolicyNotAuthorized", json={"router": {
        "external_gateway_info": {"network_id": public["id"], "enable_snat": False}}})
    router = admin.make("routers", "router", name="gw-admin", external_gateway_info={
        "network_id": public["id"], "enable_snat": False,
        "external_fixed_ips": [{"subnet_id": pub_sub, "ip_address": "172.24.4.240"}]})
    gw = router["external_gateway_info"]
    assert gw["enable_snat"] is False
    assert gw["external_fixed_ips"] == [{"subnet_id": pub_sub, "ip_address": "172.24.4.240"}]
    private = by_name(demo, "networks", "private")
    demo.fails("PUT", f"/routers/{router['id']}", 404, "RouterNotFound",
               json={"router": {"name": "x"}})
    admin.fails("PUT", f"/routers/{router['id']}", 400, "BadRequest", json={"router": {
        "external_gateway_info": {"network_id": private["id"]}}})  # not external
    cleared = admin.put(f"/routers/{router['id']}", {"router": {"external_gateway_info": {}}})
    assert cleared["router"]["external_gateway_info"] is None
    admin.delete(f"/routers/{router['id']}")


# -- bad input: Neutron's statuses and types, nothing half made --------------------------------


@pytest.fixture
def scratch(demo: Net) -> Iterator[dict[str, Any]]:
    """A network with one subnet (10.20.0.0/24) of the demo project, gone afterwards."""
    net = demo.make("networks", "network", name=f"scratch-{uuid.uuid4().hex[:6]}")
    sub = demo.make("subnets", "subnet", network_id=net["id"], cidr="10.20.0.0/24",
                    ip_version=4)
    yield {"net": net, "sub": sub}
    for port in demo.get("/ports", params={"network_id": net["id"]})["ports"]:
        if port["device_owner"] != "network:dhcp":
            demo.delete(f"/ports/{port['id']}")
    demo.delete(f"/networks/{net['id']}")


def test_bad_input_answers_neutron_errors(demo: Net, scratch: dict[str, Any]) -> None:
    net, sub = scratch["net"]["id"], scratch["sub"]["id"]
    before = counts(demo)
    # an overlapping subnet on one network: a conflict (upstream says 400 InvalidInput)
    err = demo.fails("POST", "/subnets", 409, "SubnetOverlaps", json={"subnet": {
        "network_id": net, "cidr": "10.20.0.128/25", "ip_version": 4}})
    assert "overlaps with another subnet" in err["message"]
    demo.fails("POST", "/subnets", 400, "InvalidInput", json={"subnet": {
        "network_id": net, "cidr": "10.21.0.0/24", "ip_version": 4,
        "gateway_ip": "10.99.0.1"}})
    for cidr in ("10.22.0.0/33", "not-a-cidr", "10.22.0.1/24"):
        err = demo.fails("POST", "/subnets", 400, "HTTPBadRequest", json={"subnet": {
            "network_id": net, "cidr": cidr, "ip_version": 4}})
        assert "cidr" in err["message"]
    demo.fails("POST", "/subnets", 400, "InvalidInput", json={"subnet": {
        "network_id": net, "cidr": "2001:db8::/64", "ip_version": 4}})
    demo.fails("POST", "/subnets", 409, "GatewayConflictWithAllocationPools", json={
        "subnet": {"network_id": net, "cidr": "10.23.0.0/24", "ip_version": 4,
                   "allocation_pools": [{"start": "10.23.0.1", "end": "10.23.0.9"}]}})
    demo.fails("POST", "/subnets", 400, "OutOfBoundsAllocationPool", json={"subnet": {
        "network_id": net, "cidr": "10.23.0.0/24", "ip_version": 4,
        "allocation_pools": [{"start": "10.23.1.1", "end": "10.23.1.9"}]}})
    taken = demo.make("ports", "port", network_id=net,
                      fixed_ips=[{"subnet_id": sub, "ip_address": "10.20.0.50"}])
    demo.fails("POST", "/ports", 409, "IpAddressAlreadyAllocated", json={"port": {
        "network_id": net, "fixed_ips": [{"ip_address": "10.20.0.50"}]}})
    demo.fails("POST", "/ports", 400, "InvalidIpForSubnet", json={"port": {
        "network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": "10.20.0.255"}]}})
    demo.fails("POST", "/ports", 409, "MacAddressInUse", json={"port": {
        "network_id": net, "mac_address": taken["mac_address"]}})
    demo.fails("POST", "/ports", 404, "NetworkNotFound", json={"port": {
        "network_id": str(uuid.uuid4())}})
    demo.fails("DELETE", f"/networks/{net}", 409, "NetworkInUse")
    demo.fails("DELETE", f"/subnets/{sub}", 409, "SubnetInUse")
    sg = demo.make("security-groups", "security_group", name="bad-input")
    for body, kind in (
            ({"protocol": "bogus"}, "SecurityGroupRuleInvalidProtocol"),
            ({"protocol": 300}, "SecurityGroupRuleInvalidProtocol"),
            ({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
             "SecurityGroupInvalidPortRange"),
            ({"protocol": "udp", "port_range_min": 0, "port_range_max": 80},
             "SecurityGroupInvalidPortValue"),
            ({"protocol": "icmp", "port_range_min": 256}, "SecurityGroupInvalidIcmpValue"),
            ({"port_range_min": 22, "port_range_max": 22},
             "SecurityGroupProtocolRequiredWithPorts"),
            ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": sg["id"]},
             "SecurityGroupRemoteGroupAndRemoteIpPrefix"),
            ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"},
             "SecurityGroupRuleParameterConflict"),
            ({"remote_ip_prefix": "10.0.0.0/40"}, "HTTPBadRequest"),
            ({"direction": "sideways"}, "HTTPBadRequest")):
        demo.fails("POST", "/security-group-rules", 400, kind, json={"security_group_rule": {
            "security_group_id": sg["id"], "direction": "ingress", **body}})
    demo.fails("POST", "/networks", 400, "HTTPBadRequest", data=b"{not json")
    demo.fails("POST", "/networks", 400, "HTTPBadRequest",
               json={"network": {"name": "x", "colour": "red"}})
    demo.fails("PUT", f"/subnets/{sub}", 400, "HTTPBadRequest",
               json={"subnet": {"cidr": "10.30.0.0/24"}})
    demo.fails("GET", f"/networks/{uuid.uuid4()}", 404, "NetworkNotFound")
    demo.fails("GET", "/networks", 400, "HTTPBadRequest", params={"colour": "red"})
    demo.delete(f"/security-groups/{sg['id']}")
    demo.delete(f"/ports/{taken['id']}")
    assert counts(demo) == before  # nothing half made by any refused call


def test_floating_ip_without_a_route_is_404(demo: Net, scratch: dict[str, Any]) -> None:
    public = by_name(demo, "networks", "public")["id"]
    port = demo.make("ports", "port", network_id=scratch["net"]["id"])
    fip = demo.make("floatingips", "floatingip", floating_network_id=public)
    err = demo.fails("PUT", f"/floatingips/{fip['id']}", 404,
                     "ExternalGatewayForFloatingIPNotFound",
                     json={"floatingip": {"port_id": port["id"]}})
    assert public in err["message"] and port["id"] in err["message"]
    assert demo.get(f"/floatingips/{fip['id']}")["floatingip"]["port_id"] is None
    demo.fails("POST", "/floatingips", 404, "ExternalGatewayForFloatingIPNotFound",
               json={"floatingip": {"floating_network_id": public, "port_id": port["id"]}})
    demo.fails("POST", "/floatingips", 400, "BadRequest", json={"floatingip": {
        "floating_network_id": scratch["net"]["id"]}})
    # a floating IP may come only from the admin when it names its address
    demo.fails("POST", "/floatingips", 403, "PolicyNotAuthorized", json={"floatingip": {
        "floating_network_id": public, "floating_ip_address": "172.24.4.200"}})
    assert len(demo.get("/floatingips")["floatingips"]) == 1
    demo.delete(f"/floatingips/{fip['id']}")


# -- projects apart, and policy per role ----------------------------------------------------------


def test_a_project_never_sees_anothers(demo: Net, third: Net, admin: Net) -> None:
    router = by_name(demo, "routers", "router1")
    port = demo.make("ports", "port", network_id=by_name(demo, "networks", "private")["id"],
                     name="private-port")
    mine = {c: demo.ids(c) for c in ("networks", "ports", "routers", "security-groups")}
    theirs = {c: third.ids(c) for c in ("networks", "ports", "routers", "security-groups",
                                        "subnets", "floatingips")}
    assert theirs["networks"] == [by_name(third, "networks", "public")["id"]]
    assert not set(mine["ports"]) & set(theirs["ports"])
    assert not set(mine["routers"]) & set(theirs["routers"])
    assert not set(mine["security-groups"]) & set(theirs["security-groups"])
    for path, kind in ((f"/ports/{port['id']}", "PortNotFound"),
                       (f"/routers/{router['id']}", "RouterNotFound"),
                       (f"/networks/{port['network_id']}", "NetworkNotFound"),
                       (f"/security-groups/{demo.ids('security-groups')[0]}",
                        "SecurityGroupNotFound")):
        third.fails("GET", path, 404, kind)
        third.fails("DELETE", path, 404, kind)
    third.fails("PUT", f"/ports/{port['id']}", 404, "PortNotFound",
                json={"port": {"name": "mine"}})
    third.fails("POST", "/ports", 404, "NetworkNotFound",
                json={"port": {"network_id": port["network_id"]}})
    # the external network is seen by everyone, and changed by its owner only
    public = by_name(third, "networks", "public")
    third.fails("PUT", f"/networks/{public['id']}", 403, "PolicyNotAuthorized",
                json={"network": {"name": "mine"}})
    # the same CIDR in two projects
    net = third.make("networks", "network", name="third-net")
    third.make("subnets", "subnet", network_id=net["id"], cidr="10.0.0.0/26", ip_version=4)
    assert port["id"] in admin.ids("ports")
    demo.delete(f"/ports/{port['id']}")
    third.delete(f"/networks/{net['id']}")


def test_policy_per_role(cloud: NetworkCloud, demo: Net, admin: Net) -> None:
    reader = cloud.net("reader")
    assert reader.ids("networks") == demo.ids("networks")
    assert by_name(reader, "routers", "router1")["id"]
    reader.fails("POST", "/networks", 403, "PolicyNotAuthorized", json={"network": {}})
    router = by_name(reader, "routers", "router1")
    reader.fails("PUT", f"/routers/{router['id']}", 403, "PolicyNotAuthorized",
                 json={"router": {"name": "mine"}})
    reader.fails("PUT", f"/routers/{router['id']}/tags/x", 403, "PolicyNotAuthorized")
    demo.fails("POST", "/networks", 403, "PolicyNotAuthorized",
               json={"network": {"shared": True}})
    demo.fails("POST", "/networks", 403, "PolicyNotAuthorized",
               json={"network": {"router:external": True}})
    demo.fails("POST", "/networks", 403, "PolicyNotAuthorized",
               json={"network": {"project_id": admin.project_id}})
    private = by_name(demo, "networks", "private")
    demo.fails("POST", "/ports", 403, "PolicyNotAuthorized", json={"port": {
        "network_id": private["id"], "binding:host_id": "hv9"}})
    demo.fails("GET", "/network-ip-availabilities", 403, "PolicyNotAuthorized")
    demo.fails("PUT", f"/quotas/{demo.project_id}", 403, "PolicyNotAuthorized",
               json={"quota": {"network": 1}})
    demo.fails("GET", f"/quotas/{admin.project_id}", 403, "PolicyNotAuthorized")
    # the admin acts for any project: a shared network the demo project then uses
    shared = admin.make("networks", "network", name="shared-net", shared=True)
    admin.make("subnets", "subnet", network_id=shared["id"], cidr="10.77.0.0/24",
               ip_version=4)
    assert shared["id"] in demo.ids("networks")
    demo.fails("POST", "/subnets", 403, "PolicyNotAuthorized", json={"subnet": {
        "network_id": shared["id"], "cidr": "10.78.0.0/24", "ip_version": 4}})
    port = demo.make("ports", "port", network_id=shared["id"])
    bound = admin.put(f"/ports/{port['id']}", {"port": {"binding:host_id": "hv1",
                                                        "device_owner": "compute:nova"}})
    assert bound["port"]["binding:vif_type"] == "bridge"
    assert bound["port"]["binding:vif_details"]["bridge_name"] == "brq" + shared["id"][:11]
    demo.delete(f"/ports/{port['id']}")
    admin.delete(f"/networks/{shared['id']}")


# -- what every list and resource share ------------------------------------------------------------


def test_lists_tags_revisions(demo: Net) -> None:
    made = [demo.make("networks", "network", name=f"list-{n}", mtu=1400 + n)
            for n in range(5)]
    ids = [n["id"] for n in made]
    got = demo.get("/networks", params={"name": ["list-1", "list-3"]})["networks"]
    assert sorted(n["id"] for n in got) == sorted([ids[1], ids[3]])
    assert demo.ids("networks", mtu=1402) == [ids[2]]
    assert demo.get("/networks", params={"id": ids[0], "fields": ["id", "mtu"]})[
        "networks"] == [{"id": ids[0], "mtu": 1400}]
    assert demo.get(f"/networks/{ids[0]}", params={"fields": "name"})["network"] == {
        "name": "list-0"}
    desc = demo.ids("networks", sort_key="mtu", sort_dir="desc", mtu=[1400, 1401, 1402])
    assert desc == [ids[2], ids[1], ids[0]]
    # pages: limit, marker and the links Neutron gives
    seen, params = [], {"sort_key": "name", "sort_dir": "asc", "limit": 2, "name": [
        f"list-{n}" for n in range(5)]}
    page = demo.get("/networks", params=params)
    while True:
        seen += [n["id"] for n in page["networks"]]
        nxt = [link for link in page.get("networks_links", []) if link["rel"] == "next"]
        if not nxt:
            break
        r = requests.get(nxt[0]["href"], headers={"X-Auth-Token": demo.token}, timeout=30)
        page = r.json()
    assert seen == ids
    demo.fails("GET", "/networks", 404, "NetworkNotFound",
               params={"marker": str(uuid.uuid4()), "limit": 1})
    # tags: add, replace, remove, filter
    a, b = ids[0], ids[1]
    assert demo.put(f"/networks/{a}/tags/red", None, status=201) is None
    assert demo.put(f"/networks/{a}/tags", {"tags": ["red", "blue"]}) == {
        "tags": ["red", "blue"]}
    demo.put(f"/networks/{b}/tags/blue", None, status=201)
    assert demo.get(f"/networks/{a}/tags") == {"tags": ["red", "blue"]}
    assert demo.request("GET", f"/v2.0/networks/{a}/tags/red").status_code == 204
    demo.fails("GET", f"/networks/{a}/tags/green", 404, "TagNotFound")
    assert demo.ids("networks", tags="red,blue") == [a]
    assert sorted(demo.ids("networks", **{"tags-any": "red,blue"})) == sorted([a, b])
    assert a not in demo.ids("networks", **{"not-tags": "red"})
    assert b in demo.ids("networks", **{"not-tags-any": "red"})
    demo.delete(f"/networks/{a}/tags/red")
    demo.fails("DELETE", f"/networks/{a}/tags/red", 404, "TagNotFound")
    demo.delete(f"/networks/{a}/tags")
    assert demo.get(f"/networks/{a}")["network"]["tags"] == []
    # revisions count updates; If-Match holds a change to one revision
    rev = demo.get(f"/networks/{a}")["network"]["revision_number"]
    changed = demo.put(f"/networks/{a}", {"network": {"name": "renamed"}})["network"]
    assert changed["revision_number"] == rev + 1
    r = demo.request("PUT", f"/v2.0/networks/{a}", json={"network": {"name": "x"}},
                     headers={"If-Match": f"revision_number={rev}"})
    assert r.status_code == 412, r.text
    assert r.json()["NeutronError"]["type"] == "RevisionNumberConstraintFailed"
    r = demo.request("PUT", f"/v2.0/networks/{a}", json={"network": {"name": "x"}},
                     headers={"If-Match": f"revision_number={rev + 1}"})
    assert r.status_code == 200, r.text
    # several at once: all or none
    r = demo.request("POST", "/v2.0/networks", json={"networks": [{"name": "bulk-1"},
                                                                  {"name": "bulk-2"}]})
    assert r.status_code == 201 and len(r.json()["networks"]) == 2
    ids += [n["id"] for n in r.json()["networks"]]
    demo.fails("POST", "/networks", 403, "PolicyNotAuthorized", json={"networks": [
        {"name": "bulk-3"}, {"name": "bulk-4", "shared": True}]})
    assert not demo.ids("networks", name="bulk-3")
    for ident in ids:
        demo.delete(f"/networks/{ident}")


def test_quotas(admin: Net, third: Net) -> None:
    project = third.project_id
    defaults = admin.get(f"/quotas/{project}/default")["quota"]
    assert defaults["network"] == 100 and defaults["port"] == 500
    assert admin.put(f"/quotas/{project}", {"quota": {"network": 1, "router": 3}})["quota"][
        "network"] == 1
    assert project in [q["project_id"] for q in admin.get("/quotas")["quotas"]]
    assert [q["project_id"] for q in third.get("/quotas")["quotas"]] == [project]
    net = third.make("networks", "network", name="only-one")
    err = third.fails("POST", "/networks", 409, "OverQuota", json={"network": {}})
    assert "network" in err["message"]
    admin.fails("PUT", f"/quotas/{project}", 409, "InvalidQuotaValue",
                json={"quota": {"network": 0, "check_limit": True}})
    details = third.get(f"/quotas/{project}/details")["quota"]
    assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
    admin.fails("PUT", f"/quotas/{project}", 400, "HTTPBadRequest",
                json={"quota": {"network": -2}})
    admin.fails("PUT", f"/quotas/{project}", 400, "HTTPBadRequest",
                json={"quota": {"widgets": 2}})
    admin.delete(f"/quotas/{project}")
    assert third.get(f"/quotas/{project}")["quota"]["network"] == 100
    third.delete(f"/networks/{net['id']}")


def test_ip_availability(admin: Net, demo: Net) -> None:
    listed = admin.get("/network-ip-availabilities")["network_ip_availabilities"]
    assert {a["network_name"] for a in listed} >= {"public", "private"}
    public = admin.get("/network-ip-availabilities", params={"network_name": "public"})[
        "network_ip_availabilities"]
    assert public[0]["total_ips"] == 253 and public[0]["used_ips"] >= 1


def test_subnet_pools(demo: Net, admin: Net) -> None:
    pool = admin.make("subnetpools", "subnetpool", name="shared-pool", shared=True,
                      prefixes=["10.123.0.0/16"], default_prefixlen=26)
    net = demo.make("networks", "network", name="pooled")
    first = demo.make("subnets", "subnet", network_id=net["id"], subnetpool_id=pool["id"],
                      ip_version=4)
    second = demo.make("subnets", "subnet", network_id=net["id"], subnetpool_id=pool["id"],
                       prefixlen=24, ip_version=4)
    assert (first["cidr"], second["cidr"]) == ("10.123.0.0/26", "10.123.1.0/24")
    assert first["subnetpool_id"] == pool["id"]
    admin.fails("DELETE", f"/subnetpools/{pool['id']}", 409, "SubnetPoolInUse")
    demo.delete(f"/networks/{net['id']}")
    admin.delete(f"/subnetpools/{pool['id']}")


# -- the client compute uses -----------------------------------------------------------------------


async def test_network_client(cloud: NetworkCloud, admin: Net, demo: Net) -> None:
    """``network.client.NetworkClient`` as compute uses it, with the service user's
    token: ports made, bound, read for ``network_data.json``, found by address."""
    token, _ = cloud.login("strata-service", str(cloud.secrets["service_password"]),
                           "service")

    async def service_token() -> str:
        return token

    private = by_name(demo, "networks", "private")
    router = by_name(demo, "routers", "router1")
    async with aiohttp.ClientSession() as session:
        client = NetworkClient(session, cloud.network_url, service_token)
        nets = await client.list_networks(name="private")
        assert [n["id"] for n in nets] == [private["id"]]
        port = await client.create_port(private["id"], project_id=demo.project_id,
                                        name="vm-nic")
        bound = await client.bind_port(port["id"], "hv1", device_id="instance-1")
        assert bound["binding:host_id"] == "hv1" and bound["device_owner"] == "compute:nova"
        assert bound["status"] == "ACTIVE"  # no data path here: plugged at once
        ip = port["fixed_ips"][0]["ip_address"]
        found = await client.find_port_by_ip(ip, router_id=router["id"])
        assert found is not None and found["id"] == port["id"]
        assert (await client.find_port_by_ip(ip, network_id=private["id"]))["id"] == port["id"]
        assert await client.find_port_by_ip("10.0.0.60", network_id=private["id"]) is None
        data = await client.network_data([port["id"]])
        (link,) = data["links"]
        assert link == {"id": "tap" + port["id"][:11], "vif_id": port["id"],
                        "type": "bridge", "mtu": 1500,
                        "ethernet_mac_address": port["mac_address"]}
        assert data["networks"] == [{"id": "network0", "link": link["id"],
                                     "network_id": private["id"], "type": "ipv4_dhcp"}]
        unbound = await client.unbind_port(port["id"])
        assert unbound["binding:vif_type"] == "unbound"
        await client.delete_port(port["id"])
        with pytest.raises(Exception) as err:
            await client.show_port(port["id"])
        assert getattr(err.value, "status", None) == 404
