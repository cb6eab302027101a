"""The networking core's rules on a real SQLite database: IPAM through ports, subnets,
routers, floating IPs, security groups, quotas, visibility, the bootstrap and the
data path's desired state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from common.config import NetworkConfig, StrataConfig
from common.db import Database, migrate
from common.errors import StrataError
from network import bootstrap
from network import models as m
from network.core import desired, floatingips, networks, ports, routers, secgroups, subnets
from network.core.base import Ctx, get_network, get_port
from network.core.ports import Want
from network.errors import (
    ExternalGatewayForFloatingIPNotFound,
    FloatingIPPortAlreadyAssociated,
    InvalidInput,
    InvalidIpForNetwork,
    InvalidIpForSubnet,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
    L3PortInUse,
    MacAddressInUse,
    NetworkInUse,
    NetworkNotFound,
    OverQuota,
    PolicyNotAuthorized,
    PortNotFound,
    PortSecurityAndIPRequiredForSecurityGroups,
    RouterInterfaceInUseByFloatingIP,
    RouterInUse,
    SecurityGroupCannotRemoveDefault,
    SecurityGroupInUse,
    SecurityGroupRuleExists,
    SubnetAllocationError,
    SubnetInUse,
    SubnetOverlaps,
)
from network.policy import Caller

T = TypeVar("T")
MIGRATIONS = Path(__file__).resolve().parents[3] / "network" / "migrations"
ADMIN = Caller("u-admin", "p-admin", frozenset({"admin", "member", "reader"}))
ALICE = Caller("u-alice", "p-alice", frozenset({"member", "reader"}))
BOB = Caller("u-bob", "p-bob", frozenset({"member", "reader"}))
READER = Caller("u-read", "p-alice", frozenset({"reader"}))


class Cloud:
    def __init__(self, db: Database, cfg: NetworkConfig) -> None:
        self.db = db
        self.cfg = cfg

    def do(self, who: Caller, fn: Callable[[Ctx], T]) -> T:
        return self.db.run_sync(lambda s: fn(Ctx(s, who, self.cfg, "hv1", instant_active=True)))

    def fails(self, who: Caller, fn: Callable[[Ctx], Any], error: type[StrataError],
              status: int) -> StrataError:
        with pytest.raises(error) as err:
            self.do(who, fn)
        assert err.value.status == status
        return err.value

    def count(self, model: Any) -> int:
        return int(self.db.run_sync(lambda s: s.scalar(select(func.count()).select_from(model))))

    def net(self, who: Caller, cidr: str | None = "10.0.0.0/24", **kw: Any) -> tuple[str, str]:
        net = self.do(who, lambda c: networks.create_network(c, {"name": "n", **kw}).id)
        sub = ""
        if cidr:
            sub = self.do(who, lambda c: subnets.create_subnet(c, {
                "network_id": net, "cidr": cidr, "ip_version": 6 if ":" in cidr else 4}).id)
        return net, sub

    def port(self, who: Caller, net: str, **kw: Any) -> dict[str, Any]:
        def make(c: Ctx) -> dict[str, Any]:
            p = ports.create_port(c, {"network_id": net, **kw})
            return {"id": p.id, "ips": [a.ip_address for a in p.fixed_ips],
                    "groups": [g.id for g in p.security_groups], "mac": p.mac_address}
        return self.do(who, make)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    url = f"sqlite:///{tmp_path / 'network.db'}"
    migrate(url, MIGRATIONS)
    db = Database(url)
    cfg = NetworkConfig(quota_network=5, quota_port=12)
    yield Cloud(db, cfg)
    db.close()


def test_subnet_defaults_and_the_dhcp_port(cloud: Cloud) -> None:
    net, sub = cloud.net(ALICE, "10.0.0.0/26")
    view = cloud.do(ALICE, lambda c: (lambda s: (s.gateway_ip, s.allocation_pools))(
        c.s.get(m.Subnet, sub)))
    assert view == ("10.0.0.1", [{"start": "10.0.0.2", "end": "10.0.0.62"}])
    dhcp = cloud.do(ALICE, lambda c: [(p.device_owner, [a.ip_address for a in p.fixed_ips],
                                       p.project_id) for p in c.s.scalars(select(m.Port))])
    assert dhcp == [("network:dhcp", ["10.0.0.2"], "p-alice")]
    assert cloud.port(ALICE, net)["ips"] == ["10.0.0.3"]
    # turning DHCP off drops the DHCP port; its address is free again
    cloud.do(ALICE, lambda c: subnets.update_subnet(c, c.s.get(m.Subnet, sub),
                                                    {"enable_dhcp": False}))
    assert cloud.port(ALICE, net)["ips"] == ["10.0.0.2"]


def test_subnet_checks(cloud: Cloud) -> None:
    net, _ = cloud.net(ALICE, "10.0.0.0/24")

    def add(cidr: str, **kw: Any) -> Callable[[Ctx], Any]:
        return lambda c: subnets.create_subnet(c, {"network_id": net, "cidr": cidr,
                                                   "ip_version": 4, **kw})

    err = cloud.fails(ALICE, add("10.0.0.128/25"), SubnetOverlaps, 409)
    assert "overlaps with another subnet" in err.message
    cloud.fails(ALICE, add("10.1.0.0/24", gateway_ip="10.2.0.1"), InvalidInput, 400)
    cloud.fails(ALICE, add("2001:db8::/64"), InvalidInput, 400)
    cloud.fails(BOB, add("10.3.0.0/24"), NetworkNotFound, 404)
    cloud.fails(READER, add("10.3.0.0/24"), PolicyNotAuthorized, 403)
    # the same CIDR on another network (another project's, too) is fine
    cloud.net(BOB, "10.0.0.0/24")
    # no gateway at all: the pools take the whole subnet
    sub = cloud.do(ALICE, lambda c: add("10.9.0.0/29", gateway_ip=None)(c).allocation_pools)
    assert sub == [{"start": "10.9.0.1", "end": "10.9.0.6"}]


def test_fixed_ips(cloud: Cloud) -> None:
    net, sub = cloud.net(ALICE, "10.0.0.0/29")  # .1 gateway, .2 DHCP, .3-.6 free
    port = cloud.port(ALICE, net, fixed_ips=[Want(sub, "10.0.0.5")])
    assert port["ips"] == ["10.0.0.5"]
    err = cloud.fails(ALICE, lambda c: ports.create_port(c, {
        "network_id": net, "fixed_ips": [Want(None, "10.0.0.5")]}),
        IpAddressAlreadyAllocated, 409)
    assert "10.0.0.5" in err.message
    cloud.fails(ALICE, lambda c: ports.create_port(c, {
        "network_id": net, "fixed_ips": [Want(sub, "10.0.0.7")]}), InvalidIpForSubnet, 400)
    cloud.fails(ALICE, lambda c: ports.create_port(c, {
        "network_id": net, "fixed_ips": [Want(None, "10.9.0.7")]}), InvalidIpForNetwork, 400)
    assert [cloud.port(ALICE, net)["ips"] for _ in range(3)] == [
        ["10.0.0.3"], ["10.0.0.4"], ["10.0.0.6"]]
    before = cloud.count(m.Port)
    cloud.fails(ALICE, lambda c: ports.create_port(c, {"network_id": net}),
                IpAddressGenerationFailure, 409)
    assert cloud.count(m.Port) == before  # nothing half made
    cloud.fails(ALICE, lambda c: ports.create_port(c, {
        "network_id": net, "mac_address": port["mac"], "fixed_ips": []}), MacAddressInUse, 409)
    # updating fixed IPs keeps an address the port holds and frees the rest
    cloud.do(ALICE, lambda c: ports.update_port(c, get_port(c, port["id"]), {
        "fixed_ips": [Want(sub, "10.0.0.5")]}))
    cloud.do(ALICE, lambda c: ports.delete_port(c, get_port(c, port["id"])))
    assert cloud.port(ALICE, net)["ips"] == ["10.0.0.5"]


def test_slaac_ports_take_their_eui64_address(cloud: Cloud) -> None:
    net, _ = cloud.net(ALICE, "10.0.0.0/24")
    cloud.do(ALICE, lambda c: subnets.create_subnet(c, {
        "network_id": net, "cidr": "2001:db8::/64", "ip_version": 6,
        "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}))
    port = cloud.port(ALICE, net, mac_address="fa:16:3e:12:34:56")
    assert port["ips"] == ["10.0.0.3", "2001:db8::f816:3eff:fe12:3456"]


def test_security_groups_of_ports(cloud: Cloud) -> None:
    net, _ = cloud.net(ALICE)
    port = cloud.port(ALICE, net)
    default = cloud.do(ALICE, lambda c: secgroups.ensure_default(c, "p-alice"))
    assert port["groups"] == [default.id]
    rules = cloud.do(ALICE, lambda c: sorted(
        (r.direction, r.ethertype, r.remote_group_id == default.id)
        for r in c.s.get(m.SecurityGroup, default.id).rules))
    assert rules == [("egress", "IPv4", False), ("egress", "IPv6", False),
                     ("ingress", "IPv4", True), ("ingress", "IPv6", True)]
    cloud.fails(ALICE, lambda c: ports.create_port(c, {
        "network_id": net, "port_security_enabled": False, "security_groups": [default.id]}),
        PortSecurityAndIPRequiredForSecurityGroups, 400)
    open_port = cloud.port(ALICE, net, port_security_enabled=False)
    assert open_port["groups"] == []
    cloud.fails(ALICE, lambda c: secgroups.delete_group(c, c.s.get(m.SecurityGroup,
                                                                   default.id)),
                SecurityGroupCannotRemoveDefault, 409)
    web = cloud.do(ALICE, lambda c: secgroups.create_group(c, {"name": "web"}).id)
    cloud.do(ALICE, lambda c: secgroups.create_rule(c, {
        "security_group_id": web, "direction": "ingress", "protocol": "tcp",
        "port_range_min": 22, "port_range_max": 22}))
    cloud.fails(ALICE, lambda c: secgroups.create_rule(c, {
        "security_group_id": web, "direction": "ingress", "protocol": "tcp",
        "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}),
        SecurityGroupRuleExists, 409)
    cloud.do(ALICE, lambda c: ports.update_port(c, get_port(c, port["id"]),
                                                {"security_groups": [web]}))
    cloud.fails(ALICE, lambda c: secgroups.delete_group(c, c.s.get(m.SecurityGroup, web)),
                SecurityGroupInUse, 409)
    # another project's group is not found, let alone joined
    cloud.fails(BOB, lambda c: secgroups.create_rule(c, {
        "security_group_id": web, "direction": "ingress"}), StrataError, 404)


def test_visibility_and_network_deletion(cloud: Cloud) -> None:
    net, sub = cloud.net(ALICE)
    shared, _ = cloud.net(ADMIN, "10.5.0.0/24", shared=True)
    ext, _ = cloud.net(ADMIN, "172.24.4.0/24", external=True)
    cloud.fails(BOB, lambda c: get_network(c, net), NetworkNotFound, 404)
    assert cloud.do(BOB, lambda c: get_network(c, shared).id) == shared
    assert cloud.do(BOB, lambda c: get_network(c, ext).id) == ext
    cloud.fails(BOB, lambda c: networks.update_network(c, get_network(c, ext),
                                                      {"name": "mine"}),
                PolicyNotAuthorized, 403)
    cloud.fails(ALICE, lambda c: networks.create_network(c, {"shared": True}),
                PolicyNotAuthorized, 403)
    bobs = cloud.port(BOB, shared)
    cloud.fails(ALICE, lambda c: get_port(c, bobs["id"]), PortNotFound, 404)
    port = cloud.port(ALICE, net)
    cloud.fails(ALICE, lambda c: networks.delete_network(c, get_network(c, net)),
                NetworkInUse, 409)
    cloud.fails(ALICE, lambda c: subnets.delete_subnet(c, c.s.get(m.Subnet, sub)),
                SubnetInUse, 409)
    cloud.do(ALICE, lambda c: ports.delete_port(c, get_port(c, port["id"])))
    cloud.do(ALICE, lambda c: networks.delete_network(c, get_network(c, net)))
    assert cloud.do(ADMIN, lambda c: c.s.scalar(select(func.count(m.IPAllocation.id)).where(
        m.IPAllocation.network_id == net))) == 0
    assert cloud.do(ADMIN, lambda c: c.s.scalar(select(m.Port).where(
        m.Port.network_id == net))) is None


def test_quota(cloud: Cloud) -> None:
    for _ in range(5):
        cloud.net(BOB, None)
    err = cloud.fails(BOB, lambda c: networks.create_network(c, {}), OverQuota, 409)
    assert "network" in err.message


def test_routers_and_floating_ips(cloud: Cloud) -> None:
    ext, ext_sub = cloud.net(ADMIN, "172.24.4.0/24", external=True)
    net, sub = cloud.net(ALICE, "10.0.0.0/24")
    port = cloud.port(ALICE, net)
    fip = cloud.do(ALICE, lambda c: floatingips.create_floatingip(
        c, {"floating_network_id": ext}).id)
    err = cloud.fails(ALICE, lambda c: floatingips.update_floatingip(
        c, c.s.get(m.FloatingIP, fip), {"port_id": port["id"]}),
        ExternalGatewayForFloatingIPNotFound, 404)
    assert ext in err.message
    router = cloud.do(ALICE, lambda c: routers.create_router(c, {
        "name": "r", "external_gateway_info": {"network_id": ext}}).id)
    cloud.fails(ALICE, lambda c: floatingips.update_floatingip(
        c, c.s.get(m.FloatingIP, fip), {"port_id": port["id"]}),
        ExternalGatewayForFloatingIPNotFound, 404)
    info = cloud.do(ALICE, lambda c: routers.add_interface(
        c, c.s.get(m.Router, router), {"subnet_id": sub}))
    assert info["subnet_ids"] == [sub] and info["id"] == router
    cloud.do(ALICE, lambda c: floatingips.update_floatingip(
        c, c.s.get(m.FloatingIP, fip), {"port_id": port["id"]}))
    other = cloud.do(ALICE, lambda c: floatingips.create_floatingip(
        c, {"floating_network_id": ext}).id)
    cloud.fails(ALICE, lambda c: floatingips.update_floatingip(
        c, c.s.get(m.FloatingIP, other), {"port_id": port["id"]}),
        FloatingIPPortAlreadyAssociated, 409)
    cloud.fails(ALICE, lambda c: routers.remove_interface(
        c, c.s.get(m.Router, router), {"subnet_id": sub}), RouterInterfaceInUseByFloatingIP,
        409)
    cloud.fails(ALICE, lambda c: routers.delete_router(c, c.s.get(m.Router, router)),
                RouterInUse, 409)
    gw_port = cloud.do(ALICE, lambda c: c.s.get(m.Router, router).gw_port_id)
    cloud.fails(ADMIN, lambda c: ports.delete_port(c, get_port(c, gw_port)), L3PortInUse, 409)

    state = cloud.do(ADMIN, lambda c: desired.build(c.s, instance="t1", host="hv1"))
    (r,) = [x for x in state.routers if x.id == router]
    assert r.gateway is not None and r.gateway.network_id == ext
    assert r.gateway.gateway_ip == "172.24.4.1" and r.gateway.enable_snat
    assert [(i.subnet_id, i.ip_address, i.prefixlen) for i in r.interfaces] == [
        (sub, "10.0.0.1", 24)]
    assert [(f.fixed_ip_address, f.port_id) for f in r.floating_ips] == [
        (port["ips"][0], port["id"])]
    assert {n.id: n.external for n in state.networks} == {ext: True, net: False}
    owners = sorted(p.device_owner for p in state.ports)  # no floating IP's port
    assert owners == ["", "network:dhcp", "network:dhcp", "network:router_gateway",
                      "network:router_interface"]
    assert {g.id for g in state.security_groups} == set(port["groups"])
    assert ext_sub in {s.id for n in state.networks for s in n.subnets}

    # deleting the port disassociates its floating IP; then the interface may go
    cloud.do(ALICE, lambda c: ports.delete_port(c, get_port(c, port["id"])))
    assert cloud.do(ALICE, lambda c: c.s.get(m.FloatingIP, fip).fixed_port_id) is None
    cloud.do(ALICE, lambda c: routers.remove_interface(
        c, c.s.get(m.Router, router), {"subnet_id": sub}))
    cloud.do(ALICE, lambda c: routers.delete_router(c, c.s.get(m.Router, router)))
    for f in (fip, other):
        cloud.do(ALICE, lambda c, f=f: floatingips.delete_floatingip(  # type: ignore[misc]
            c, c.s.get(m.FloatingIP, f)))
    # only the DHCP ports of the two networks are left
    assert cloud.count(m.Port) == 2 and cloud.count(m.FloatingIP) == 0


def test_subnet_pools_hand_out_free_prefixes(cloud: Cloud) -> None:
    pool = cloud.do(ADMIN, lambda c: subnets.create_subnetpool(c, {
        "prefixes": ["10.100.0.0/16"], "default_prefixlen": 24, "shared": True}).id)
    a, _ = cloud.net(ALICE, None)
    b, _ = cloud.net(BOB, None)

    def take(net: str, **kw: Any) -> Callable[[Ctx], str]:
        return lambda c: subnets.create_subnet(c, {"network_id": net, "subnetpool_id": pool,
                                                   **kw}).cidr

    assert cloud.do(ALICE, take(a)) == "10.100.0.0/24"
    assert cloud.do(BOB, take(b)) == "10.100.1.0/24"
    assert cloud.do(BOB, take(b, prefixlen=26)) == "10.100.2.0/26"
    cloud.fails(ALICE, take(a, cidr="10.100.1.0/24"), SubnetAllocationError, 409)
    cloud.fails(ALICE, take(a, cidr="10.200.0.0/24"), SubnetAllocationError, 409)


def test_bootstrap_runs_once(cloud: Cloud) -> None:
    cfg = StrataConfig()
    cfg.network = cloud.cfg
    projects = bootstrap.Projects(admin="p-admin", demo="p-demo")
    made = cloud.db.run_sync(lambda s: bootstrap.ensure(s, cfg, "hv1", projects, True))
    assert made == ["network public", "subnet public-subnet (172.24.4.0/24)",
                    "network private", "subnet private-subnet (10.0.0.0/26)", "router router1"]
    demo = Caller("u-demo", "p-demo", frozenset({"member", "reader"}))
    state = cloud.do(ADMIN, lambda c: desired.build(c.s, instance="t1", host="hv1"))
    (r,) = state.routers
    assert r.gateway is not None and r.gateway.ip_address == "172.24.4.2"
    assert [i.ip_address for i in r.interfaces] == ["10.0.0.1"]
    cloud.do(demo, lambda c: routers.remove_interface(
        c, c.s.scalar(select(m.Router)), {"subnet_id": r.interfaces[0].subnet_id}))
    cloud.do(demo, lambda c: routers.delete_router(c, c.s.scalar(select(m.Router))))
    assert cloud.db.run_sync(lambda s: bootstrap.ensure(s, cfg, "hv1", projects, True)) == []
    assert cloud.count(m.Router) == 0
