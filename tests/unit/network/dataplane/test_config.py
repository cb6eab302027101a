"""What dnsmasq is told, a router's NAT table, and the checks on a state."""

from __future__ import annotations

from pathlib import Path

import pytest

from network.dataplane import dhcp, names, nat
from network.dataplane.errors import InvalidState
from network.dataplane.model import (
    OWNER_DHCP,
    DesiredState,
    ExternalGateway,
    FixedIP,
    FloatingIP,
    HostRoute,
    Network,
    Port,
    Router,
    RouterInterface,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from network.dataplane.plan import make_plan

V4 = Subnet("s4", "n", "10.0.0.0/24", 4, "10.0.0.1", True, ("10.0.0.53", "10.0.0.54"),
            (HostRoute("10.9.0.0/16", "10.0.0.254"),))
V4B = Subnet("s4b", "n", "10.0.1.0/24", 4, None, True)
V6 = Subnet("s6", "n", "2001:db8::/64", 6, "2001:db8::1", True, ("2001:db8::53",),
            ipv6_address_mode="dhcpv6-stateful")
SLAAC = Subnet("s6s", "n", "2001:db8:1::/64", 6, "2001:db8:1::1", True,
               ipv6_address_mode="slaac")
NET = Network("n", "p", 1450, False, subnets=(V4, V4B, V6, SLAAC))
DHCP_PORT = Port("dhcpport0001x", "n", "p", "fa:16:3e:00:00:02",
                 (FixedIP("s4", "10.0.0.2"), FixedIP("s6", "2001:db8::2")), OWNER_DHCP)
GUEST = Port("g", "n", "p", "FA:16:3E:00:00:05",
             (FixedIP("s4", "10.0.0.5"), FixedIP("s6", "2001:db8::5"),
              FixedIP("s6s", "2001:db8:1::5")), "compute:nova")


def test_dnsmasq_serves_static_entries_with_subnet_options(tmp_path: Path) -> None:
    config = dhcp.render(NET, DHCP_PORT, [DHCP_PORT, GUEST], {"s4", "s4b"}, True, tmp_path)
    argv = " ".join(config.argv)
    assert "--dhcp-range=set:subnet-s4,10.0.0.0,static,255.255.255.0,86400s" in argv
    assert "--dhcp-range=set:subnet-s6,2001:db8::,static,64,86400s" in argv
    assert "s6s" not in argv  # SLAAC is the routers' business
    assert "--interface=ns-dhcpport000" in argv
    assert f"--dhcp-hostsfile={tmp_path / 'hosts'}" in argv
    assert config.hosts.splitlines() == [
        "fa:16:3e:00:00:05,10.0.0.5,host-10-0-0-5,86400s",
        "fa:16:3e:00:00:05,[2001:db8::5],host-2001-db8--5,86400s",
    ]
    opts = config.opts.splitlines()
    assert "tag:subnet-s4,option:router,10.0.0.1" in opts
    assert "tag:subnet-s4,option:dns-server,10.0.0.53,10.0.0.54" in opts
    # host route, metadata through the DHCP port (isolated), the other subnet on link,
    # and the default route last
    routes = "10.9.0.0/16,10.0.0.254,169.254.169.254/32,10.0.0.2,10.0.1.0/24,0.0.0.0," \
             "0.0.0.0/0,10.0.0.1"
    assert f"tag:subnet-s4,option:classless-static-route,{routes}" in opts
    assert f"tag:subnet-s4,249,{routes}" in opts
    assert "tag:subnet-s4,option:mtu,1450" in opts
    assert "tag:subnet-s4b,option:router" in opts  # no gateway: no router
    assert "tag:subnet-s6,option6:dns-server,[2001:db8::53]" in opts


def test_no_metadata_route_when_a_router_serves_the_subnet(tmp_path: Path) -> None:
    config = dhcp.render(NET, DHCP_PORT, [DHCP_PORT, GUEST], set(), True, tmp_path)
    assert "169.254.169.254" not in config.opts


def _router(**kw: object) -> Router:
    base: dict[str, object] = dict(
        id="r", project_id="p",
        gateway=ExternalGateway("ext", "gwport00001x", "fa:16:3e:00:00:09", "172.24.4.10", 24,
                                "172.24.4.1"),
        interfaces=(RouterInterface("ifport", "n", "s4", "10.0.0.1", 24, "fa:16:3e:00:00:01"),),
        floating_ips=(FloatingIP("f", "172.24.4.100", "10.0.0.5", "g", "r"),))
    base.update(kw)
    return Router(**base)  # type: ignore[arg-type]


def test_router_nat() -> None:
    text = nat.render(_router())
    assert text is not None
    assert "ip daddr 172.24.4.100 dnat to 10.0.0.5" in text
    assert 'oifname "qg-gwport00001" ip saddr 10.0.0.5 snat to 172.24.4.100' in text
    assert 'oifname "qg-gwport00001" snat to 172.24.4.10' in text
    assert text.index("snat to 172.24.4.100") < text.index("snat to 172.24.4.10\n")
    assert "ct status dnat" in text and "10.0.0.0/24" in text


def test_router_without_snat_or_gateway() -> None:
    gw = ExternalGateway("ext", "gwport00001x", "fa:16:3e:00:00:09", "172.24.4.10", 24,
                         "172.24.4.1", enable_snat=False)
    text = nat.render(_router(gateway=gw, floating_ips=()))
    assert text is not None and "snat to" not in text
    assert nat.render(_router(gateway=None)) is None


def _state(**kw: object) -> DesiredState:
    ext = Network("ext", "admin", 1500, True,
                  subnets=(Subnet("se", "ext", "172.24.4.0/24", 4, "172.24.4.1", False),))
    base: dict[str, object] = dict(instance="t1", host="h", networks=(NET, ext),
                                   ports=(DHCP_PORT, GUEST), routers=(_router(),))
    base.update(kw)
    return DesiredState(**base)  # type: ignore[arg-type]


def test_plan_names_everything_after_ids() -> None:
    plan = make_plan(_state())
    assert [b.name for b in plan.bridges] == ["brqn"]
    assert plan.bridges[0].alias == "strata:t1:net:n"
    assert plan.namespaces() == {"t1-qdhcp-n", "t1-qrouter-r", "t1-ext"}
    (router,) = plan.routers
    legs = {leg.inner: leg for leg in router.namespace.legs}
    assert legs["qr-ifport"].addresses == ("10.0.0.1/24",)
    assert legs["qr-ifport"].outer == "tapifport" and legs["qr-ifport"].outer_netns is None
    assert legs["qg-gwport00001"].addresses == ("172.24.4.10/24", "172.24.4.100/32")
    assert legs["qg-gwport00001"].outer_netns == "t1-ext"
    assert plan.externals[0].addresses == ("172.24.4.1/24",)
    # s4 is routed; s4b is isolated but metadata is off in this state
    (dhcp_plan,) = plan.dhcp
    assert dhcp_plan.isolated == {"s4b", "s6", "s6s"} and not dhcp_plan.metadata


@pytest.mark.parametrize(("change", "message"), [
    (dict(instance="TOO-LONG"), "instance tag"),
    (dict(ports=(Port("x", "nope", "p", "fa:16:3e:00:00:01", ()),)), "unknown network"),
    (dict(ports=(Port("x", "n", "p", "fa:16:3e:00:00", ()),)), "bad MAC"),
    (dict(ports=(GUEST, GUEST)), "repeated"),
    (dict(ports=(Port("x", "n", "p", "fa:16:3e:00:00:01", (FixedIP("s4", "10.0.0.300"),)),)),
     "not an IP address"),
    (dict(security_groups=(SecurityGroup("g", "p", (SecurityGroupRule("r", "in", "IPv4"),)),)),
     "bad direction"),
    (dict(security_groups=(SecurityGroup("g", "p", (
        SecurityGroupRule("r", "ingress", "IPv4", "bogus"),)),)), "unknown protocol"),
    (dict(security_groups=(SecurityGroup("g", "p", (
        SecurityGroupRule("r", "ingress", "IPv4", "tcp", 1, 70000),)),)), "out of range"),
    (dict(routers=(_router(gateway=ExternalGateway("n", "x", "fa:16:3e:00:00:09",
                                                   "10.0.0.9", 24, None)),)),
     "gateway on unknown or internal network"),
])
def test_a_contradictory_state_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidState, match=message):
        make_plan(_state(**change))


def test_conntrack_zones_are_stable_and_distinct() -> None:
    ids = [f"net-{i}" for i in range(500)]
    zones = names.conntrack_zones("t1", ids)
    assert len(set(zones.values())) == 500
    assert all(1 <= z <= 65535 for z in zones.values())
    assert names.conntrack_zones("t1", ids[:10]) == {i: zones[i] for i in ids[:10]}


def test_namespace_ownership() -> None:
    assert names.owns_namespace("t1", "t1-qrouter-x")
    assert names.owns_namespace("t1", "t1-ext")
    assert not names.owns_namespace("t1", "t12-qrouter-x")
    assert not names.owns_namespace("t1", "t1-other")
