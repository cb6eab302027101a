"""Every kind of security group rule renders to text the kernel takes
(``nft --check``: parsed and validated by the kernel, nothing loaded)."""

from __future__ import annotations

import subprocess

from network.dataplane import firewall, nat
from network.dataplane.model import (
    AddressPair,
    ExternalGateway,
    FixedIP,
    FloatingIP,
    Port,
    Router,
    RouterInterface,
    SecurityGroup,
    SecurityGroupRule,
)

RULES = (
    SecurityGroupRule("1", "egress", "IPv4"),
    SecurityGroupRule("2", "egress", "IPv6"),
    SecurityGroupRule("3", "ingress", "IPv4", "tcp", 22, 22, "10.0.0.0/8"),
    SecurityGroupRule("4", "ingress", "IPv6", "udp", 1000, 2000, "2001:db8::/32"),
    SecurityGroupRule("5", "ingress", "IPv4", "icmp", 8, 0),
    SecurityGroupRule("6", "ingress", "IPv6", "ipv6-icmp", 128),
    SecurityGroupRule("7", "ingress", "IPv6", "icmp"),
    SecurityGroupRule("8", "ingress", "IPv4", "47"),
    SecurityGroupRule("9", "ingress", "IPv4", "sctp", 5000, 5001, remote_group_id="g1"),
    SecurityGroupRule("10", "egress", "IPv6", "tcp", 443, 443, remote_group_id="g2"),
    SecurityGroupRule("11", "ingress", "IPv4", "vrrp"),
)


def _check(text: str) -> None:
    result = subprocess.run(["nft", "--check", "-f", "-"], input=text, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_every_rule_kind_loads(datapath_ready: None) -> None:
    ports = [
        Port("p1", "n", "x", "fa:16:3e:00:00:01",
             (FixedIP("s", "10.0.0.5"), FixedIP("s6", "2001:db8::5")), "compute:nova",
             security_group_ids=("g1", "g2"),
             allowed_address_pairs=(AddressPair("10.0.0.0/28"),
                                    AddressPair("10.0.5.5", "fa:16:3e:00:00:aa"),
                                    AddressPair("2001:db8:1::/64"))),
        Port("p2", "n", "x", "fa:16:3e:00:00:02", (FixedIP("s", "10.0.0.6"),), "compute:nova",
             security_group_ids=("g2",), admin_state_up=False),
        Port("p3", "n", "x", "fa:16:3e:00:00:03", (), "compute:nova",
             port_security_enabled=False),
    ]
    groups = [SecurityGroup("g1", "x", RULES), SecurityGroup("g2", "x", RULES[:3], False)]
    members = {"g1": ["10.0.0.5", "10.0.0.0/28", "2001:db8::5"], "g2": ["10.0.0.6"]}
    ruleset = firewall.render("zzzz", {"brqnet1": 11, "brqnet2": 12},
                              [firewall.port_filter(p) for p in ports], groups, members)
    _check(ruleset.text)
    _check(firewall.render("zzzz", {}, [], [], {}).text)  # nothing at all


def test_router_nat_loads(datapath_ready: None) -> None:
    router = Router(
        "r", "p", gateway=ExternalGateway("e", "gw", "fa:16:3e:00:00:09", "172.24.4.10", 24,
                                          "172.24.4.1"),
        interfaces=(RouterInterface("i1", "n", "s", "10.0.0.1", 24, "fa:16:3e:00:00:01"),
                    RouterInterface("i2", "n2", "s2", "10.0.1.1", 24, "fa:16:3e:00:00:02")),
        floating_ips=(FloatingIP("f1", "172.24.4.100", "10.0.0.5", "p", "r"),
                      FloatingIP("f2", "172.24.4.101", "10.0.1.5", "p", "r")))
    text = nat.render(router)
    assert text is not None
    _check(text)
