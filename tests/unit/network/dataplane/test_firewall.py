"""Security groups as nftables text (no kernel here; the functional tests load it)."""

from __future__ import annotations

import pytest

from network.dataplane import firewall
from network.dataplane.model import (
    AddressPair,
    DesiredState,
    FixedIP,
    Port,
    SecurityGroup,
    SecurityGroupRule,
)


def r(direction: str = "ingress", ethertype: str = "IPv4", protocol: str | None = None,
      low: int | None = None, high: int | None = None, prefix: str | None = None,
      group: str | None = None) -> SecurityGroupRule:
    return SecurityGroupRule("r", direction, ethertype, protocol, low, high, prefix, group)


@pytest.mark.parametrize(("rule", "expected"), [
    (r(), "meta protocol ip accept"),
    (r("egress", "IPv6"), "meta protocol ip6 accept"),
    (r(protocol="tcp", low=22, high=22), "meta protocol ip meta l4proto 6 th dport 22 accept"),
    (r(protocol="udp", low=1000, high=2000),
     "meta protocol ip meta l4proto 17 th dport 1000-2000 accept"),
    (r(protocol="6"), "meta protocol ip meta l4proto 6 accept"),
    (r(protocol="icmp"), "meta protocol ip meta l4proto 1 accept"),
    (r(protocol="icmp", low=8, high=0),
     "meta protocol ip meta l4proto 1 icmp type 8 icmp code 0 accept"),
    # "icmp" on an IPv6 rule is ICMPv6, as upstream reads it
    (r(ethertype="IPv6", protocol="icmp", low=128),
     "meta protocol ip6 meta l4proto 58 icmpv6 type 128 accept"),
    (r(ethertype="IPv6", protocol="ipv6-icmp"), "meta protocol ip6 meta l4proto 58 accept"),
    (r(protocol="gre"), "meta protocol ip meta l4proto 47 accept"),
    (r(protocol="any"), "meta protocol ip accept"),
    (r(protocol="0"), "meta protocol ip accept"),
    (r(prefix="10.0.0.0/8"), "meta protocol ip ip saddr 10.0.0.0/8 accept"),
    (r("egress", prefix="10.1.2.3/32", protocol="tcp"),
     "meta protocol ip ip daddr 10.1.2.3/32 meta l4proto 6 accept"),
    (r(prefix="0.0.0.0/0"), "meta protocol ip accept"),
    (r(group="g-1"), "meta protocol ip ip saddr @rg4_g_1 accept"),
    (r("egress", "IPv6", group="g-1"), "meta protocol ip6 ip6 daddr @rg6_g_1 accept"),
])
def test_rule_statements(rule: SecurityGroupRule, expected: str) -> None:
    assert firewall.rule_statement(rule) == expected


def test_a_prefix_of_the_other_ip_version_never_matches() -> None:
    assert firewall.rule_statement(r(ethertype="IPv6", prefix="10.0.0.0/8")) is None


def test_port_filter_allows_own_and_paired_sources() -> None:
    port = Port("p1", "n", "proj", "FA:16:3E:00:00:01", (FixedIP("s", "10.0.0.5"),),
                "compute:nova", security_group_ids=("g2", "g1", "g1"),
                allowed_address_pairs=(AddressPair("10.0.1.0/24"),
                                       AddressPair("10.0.2.7", "fa:16:3e:00:00:02")))
    f = firewall.port_filter(port)
    assert f.secured and f.tap == "tapp1"
    assert f.macs == ("fa:16:3e:00:00:01", "fa:16:3e:00:00:02")
    assert f.groups == ("g1", "g2")
    assert ("fa:16:3e:00:00:01", "10.0.0.5") in f.sources
    assert ("fa:16:3e:00:00:01", "10.0.1.0/24") in f.sources
    assert ("fa:16:3e:00:00:02", "10.0.2.7") in f.sources
    assert ("fa:16:3e:00:00:01", "fe80::f816:3eff:fe00:1") in f.sources


def test_network_ports_and_ports_without_security_are_not_filtered() -> None:
    dhcp = Port("d", "n", "p", "fa:16:3e:00:00:03", (), "network:dhcp")
    off = Port("o", "n", "p", "fa:16:3e:00:00:04", (), "compute:nova",
               port_security_enabled=False)
    assert not firewall.port_filter(dhcp).secured
    assert not firewall.port_filter(off).secured


def test_link_local_address_of_a_mac() -> None:
    assert firewall.link_local("fa:16:3e:12:34:56") == "fe80::f816:3eff:fe12:3456"


def test_collapse_merges_overlaps_for_interval_sets() -> None:
    assert firewall.collapse(["10.0.0.5", "10.0.0.0/24", "10.0.1.0/24", "fe80::1"], 4) == [
        "10.0.0.0/23"]
    assert firewall.collapse(["10.0.0.5", "fe80::1", "fe80::1"], 6) == ["fe80::1"]


def test_group_members_come_from_ports_and_other_hosts() -> None:
    state = DesiredState(
        "t", "h",
        ports=(Port("p", "n", "x", "fa:16:3e:00:00:01", (FixedIP("s", "10.0.0.5"),),
                    security_group_ids=("g",),
                    allowed_address_pairs=(AddressPair("10.0.9.0/24"),)),),
        group_members=(("g", ("10.0.0.77",)),))
    assert firewall.group_members(state) == {"g": ["10.0.0.5", "10.0.9.0/24", "10.0.0.77"]}


def _ports(count: int, groups: tuple[str, ...]) -> list[firewall.PortFilter]:
    return [firewall.port_filter(Port(f"port{i:04d}", "n", "p", f"fa:16:3e:00:{i // 256:02x}:"
                                      f"{i % 256:02x}", (FixedIP("s", f"10.0.{i // 256}."
                                                                      f"{i % 256}"),),
                                      "compute:nova", security_group_ids=groups))
            for i in range(count)]


def _rule_lines(text: str) -> int:
    lines = [line.strip() for line in text.splitlines()]
    return sum(1 for line in lines if line and not line.startswith(
        ("table", "delete", "set", "map", "chain", "type", "flags", "elements", "}", '"',
         "typeof")))


def test_ports_cost_set_elements_not_rules() -> None:
    groups = [SecurityGroup("g", "p", (r("egress"), r(protocol="tcp", low=22, high=22),
                                       r(group="g")))]
    zones = {"brqnet": 7}
    one = firewall.render("t", zones, _ports(1, ("g",)), groups, {"g": ["10.0.0.0"]})
    many = firewall.render("t", zones, _ports(200, ("g",)), groups, {"g": ["10.0.0.0"]})
    assert _rule_lines(one.text) == _rule_lines(many.text)
    assert many.tables == ("inet strata_t", "bridge strata_t")
    assert '"brqnet" : 7' in many.text
    assert '"tapport0199" : jump ports_' in many.text


def test_stateless_groups_skip_connection_tracking() -> None:
    ports = _ports(1, ("g",))
    stateful = firewall.render("t", {}, ports, [SecurityGroup("g", "p", ())], {})
    stateless = firewall.render("t", {}, ports, [SecurityGroup("g", "p", (), stateful=False)], {})
    mark = f"meta mark {firewall.MARK_ESTABLISHED:#x} accept"
    assert mark in stateful.text and mark not in stateless.text


def test_removal_names_both_tables() -> None:
    text = firewall.removal("t").text
    assert "delete table inet strata_t" in text and "delete table bridge strata_t" in text
