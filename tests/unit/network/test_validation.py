"""Request parsing alone: attributes, security group rules, list parameters, errors."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import MultiDict
from yarl import URL

from common.errors import StrataError
from common.http import ApiError, map_domain_error
from network.api import attributes, listing
from network.api.base import neutron_error_format_for
from network.core.ports import Want
from network.core.secgroups import parse_rule
from network.errors import (
    HTTPBadRequest,
    NetworkNotFound,
    SecurityGroupEthertypeConflictWithProtocol,
    SecurityGroupInvalidIcmpValue,
    SecurityGroupInvalidPortRange,
    SecurityGroupInvalidPortValue,
    SecurityGroupInvalidProtocolForPortRange,
    SecurityGroupMissingIcmpType,
    SecurityGroupProtocolRequiredWithPorts,
    SecurityGroupRemoteGroupAndRemoteIpPrefix,
    SecurityGroupRuleInvalidEtherType,
    SecurityGroupRuleInvalidProtocol,
    SecurityGroupRuleParameterConflict,
)

UUID = "8a2f6bd5-3c8e-4c4e-9b43-4a1c5f5a6b7c"


def test_network_body_maps_api_names_to_core_names() -> None:
    got = attributes.parse(attributes.NETWORK, {"name": "n", "router:external": "True",
                                                "shared": False, "mtu": 1400,
                                                "tenant_id": "p"}, create=True)
    assert got == {"name": "n", "external": True, "shared": False, "mtu": 1400,
                   "tenant_id": "p"}


@pytest.mark.parametrize(("body", "create", "words"), [
    ({"name": "n", "colour": "red"}, True, "Unrecognized attribute(s) 'colour'"),
    ({"availability_zone_hints": []}, False, "Cannot update read-only attribute"),
    ({"name": 5}, True, "Invalid input for name"),
    ({"admin_state_up": "maybe"}, True, "cannot be converted to boolean"),
    ({"mtu": 10}, True, "too small"),
    ({"name": "x" * 256}, True, "exceeds maximum length of 255"),
])
def test_bad_network_bodies(body: dict[str, Any], create: bool, words: str) -> None:
    with pytest.raises(HTTPBadRequest) as err:
        attributes.parse(attributes.NETWORK, body, create=create)
    assert words in err.value.message and err.value.kind == "HTTPBadRequest"


@pytest.mark.parametrize(("value", "words"), [
    ("10.0.0.0/33", "is not a valid IP subnet"),
    ("10.0.0.0", "is not a valid IP subnet"),
    ("nonsense/24", "is not a valid IP subnet"),
    ("10.0.0.5/24", "'10.0.0.0/24' is recommended"),
    (24, "is not a valid IP subnet"),
])
def test_bad_cidrs(value: Any, words: str) -> None:
    with pytest.raises(HTTPBadRequest) as err:
        attributes.parse(attributes.SUBNET, {"network_id": UUID, "cidr": value,
                                             "ip_version": 4}, create=True)
    assert words in err.value.message and "cidr" in err.value.message


def test_subnet_body() -> None:
    got = attributes.parse(attributes.SUBNET, {
        "network_id": UUID, "cidr": "2001:db8::/64", "ip_version": "6", "gateway_ip": None,
        "allocation_pools": [{"start": "2001:db8::10", "end": "2001:db8::20"}],
        "host_routes": [{"destination": "10.1.0.0/16", "nexthop": "10.0.0.5"}],
        "dns_nameservers": ["2001:db8::53"], "ipv6_address_mode": "slaac"}, create=True)
    assert got["ip_version"] == 6 and got["gateway_ip"] is None
    with pytest.raises(HTTPBadRequest, match="Required attribute 'network_id'"):
        attributes.parse(attributes.SUBNET, {"cidr": "10.0.0.0/24"}, create=True)
    with pytest.raises(HTTPBadRequest, match="Duplicate"):
        attributes.parse(attributes.SUBNET, {"dns_nameservers": ["1.1.1.1", "1.1.1.1"]},
                         create=False)
    with pytest.raises(HTTPBadRequest, match="read-only attribute cidr"):
        attributes.parse(attributes.SUBNET, {"cidr": "10.0.0.0/24"}, create=False)
    with pytest.raises(HTTPBadRequest, match="not in"):
        attributes.parse(attributes.SUBNET, {"network_id": UUID, "ip_version": 5},
                         create=True)


def test_port_body() -> None:
    got = attributes.parse(attributes.PORT, {
        "network_id": UUID, "mac_address": "FA:16:3E:00:00:01",
        "fixed_ips": [{"subnet_id": UUID}, {"ip_address": "10.0.0.5"}],
        "binding:host_id": "hv1", "allowed_address_pairs": [{"ip_address": "10.0.0.0/24"}]},
        create=True)
    assert got["mac_address"] == "fa:16:3e:00:00:01" and got["host"] == "hv1"
    assert got["fixed_ips"] == [Want(UUID, None), Want(None, "10.0.0.5")]
    for bad in ({"fixed_ips": [{"ip_address": "10.0.0.300"}]},
                {"fixed_ips": [{"subnet": UUID}]}, {"mac_address": "01:00:5e:00:00:01"},
                {"network_id": "not-a-uuid"}, {"allowed_address_pairs": [{"mac_address":
                                                                          "fa:16:3e:0:0:1"}]}):
        with pytest.raises(HTTPBadRequest):
            attributes.parse(attributes.PORT, {"network_id": UUID, **bad}, create=True)


def test_router_gateway_info() -> None:
    got = attributes.parse(attributes.ROUTER, {"external_gateway_info": {
        "network_id": UUID, "enable_snat": False}}, create=True)
    assert got["external_gateway_info"] == {"network_id": UUID, "enable_snat": False}
    assert attributes.parse(attributes.ROUTER, {"external_gateway_info": {}},
                            create=False)["external_gateway_info"] is None
    with pytest.raises(HTTPBadRequest, match="Unexpected keys"):
        attributes.parse(attributes.ROUTER, {"external_gateway_info": {"net": UUID}},
                         create=True)
    with pytest.raises(HTTPBadRequest, match="not allowed in POST"):
        attributes.parse(attributes.ROUTER, {"routes": []}, create=True)


def rule(**kw: Any) -> dict[str, Any]:
    return parse_rule({"direction": "ingress", **kw})


def test_rules_are_normalized() -> None:
    assert rule(protocol="ICMP")["protocol"] == "icmp"
    assert rule(protocol=6, port_range_min=22, port_range_max=22)["protocol"] == "6"
    assert rule(protocol="any")["protocol"] is None
    assert rule(ethertype="ipv6", protocol="ipv6-icmp")["ethertype"] == "IPv6"
    got = rule(protocol="icmp", port_range_min=8, port_range_max=0,
               remote_ip_prefix="0.0.0.0/0")
    assert (got["port_range_min"], got["port_range_max"]) == (8, 0)
    assert rule(protocol="udp", port_range_min="53", port_range_max="53")["port_range_max"] == 53


@pytest.mark.parametrize(("kw", "error"), [
    ({"protocol": "bogus"}, SecurityGroupRuleInvalidProtocol),
    ({"protocol": 256}, SecurityGroupRuleInvalidProtocol),
    ({"protocol": "tcp", "port_range_min": 80, "port_range_max": 22},
     SecurityGroupInvalidPortRange),
    ({"protocol": "tcp", "port_range_min": 22}, SecurityGroupInvalidPortRange),
    ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 22},
     SecurityGroupInvalidPortValue),
    ({"protocol": "tcp", "port_range_min": 1, "port_range_max": 70000},
     SecurityGroupInvalidPortValue),
    ({"protocol": "tcp", "port_range_min": "abc", "port_range_max": 22},
     SecurityGroupInvalidPortValue),
    ({"port_range_min": 22, "port_range_max": 22}, SecurityGroupProtocolRequiredWithPorts),
    ({"protocol": "icmp", "port_range_min": 300}, SecurityGroupInvalidIcmpValue),
    ({"protocol": "icmp", "port_range_max": 0}, SecurityGroupMissingIcmpType),
    ({"protocol": "gre", "port_range_min": 1, "port_range_max": 2},
     SecurityGroupInvalidProtocolForPortRange),
    ({"ethertype": "IPv5"}, SecurityGroupRuleInvalidEtherType),
    ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": UUID},
     SecurityGroupRemoteGroupAndRemoteIpPrefix),
    ({"remote_ip_prefix": "::/0"}, SecurityGroupRuleParameterConflict),
    ({"protocol": "ipv6-icmp"}, SecurityGroupEthertypeConflictWithProtocol),
])
def test_bad_rules_are_400(kw: dict[str, Any], error: type[StrataError]) -> None:
    with pytest.raises(error) as err:
        rule(**kw)
    assert err.value.status == 400


ITEMS = [
    {"id": "a", "name": "one", "shared": True, "mtu": 1500, "tags": ["x", "y"],
     "subnets": ["s1"], "gateway": None},
    {"id": "b", "name": "two", "shared": False, "mtu": 1400, "tags": ["y"], "subnets": [],
     "gateway": None},
    {"id": "c", "name": "three", "shared": False, "mtu": 1500, "tags": [], "subnets": ["s2"],
     "gateway": None},
]
KNOWN = frozenset(("id", "name", "shared", "mtu", "tags", "subnets", "gateway"))


def respond(query: list[tuple[str, str]]) -> dict[str, Any]:
    return listing.respond([dict(i) for i in ITEMS], MultiDict(query),
                           URL("http://h/v2.0/networks"), "networks", KNOWN, {},
                           NetworkNotFound)


def ids(body: dict[str, Any]) -> list[str]:
    return [i["id"] for i in body["networks"]]


def test_filters_tags_fields_and_sorting() -> None:
    assert ids(respond([("shared", "false")])) == ["b", "c"]
    assert ids(respond([("name", "one"), ("name", "three")])) == ["a", "c"]
    assert ids(respond([("mtu", "1500"), ("shared", "False")])) == ["c"]
    assert ids(respond([("subnets", "s2")])) == ["c"]
    assert ids(respond([("tags", "x,y")])) == ["a"]
    assert ids(respond([("tags-any", "x,y")])) == ["a", "b"]
    assert ids(respond([("not-tags", "y")])) == ["c"]
    assert ids(respond([("not-tags-any", "x")])) == ["b", "c"]
    assert respond([("fields", "id"), ("fields", "name")])["networks"][0] == {
        "id": "a", "name": "one"}
    assert ids(respond([("sort_key", "mtu"), ("sort_key", "name"), ("sort_dir", "asc"),
                        ("sort_dir", "desc")])) == ["b", "c", "a"]
    for bad in ([("colour", "red")], [("sort_key", "tags")], [("sort_key", "nope")],
                [("sort_key", "name"), ("sort_dir", "up")], [("shared", "maybe")],
                [("sort_key", "name"), ("sort_dir", "asc"), ("sort_dir", "desc")],
                [("limit", "-1")]):
        with pytest.raises(HTTPBadRequest):
            respond(bad)


def test_pages_and_links() -> None:
    first = respond([("limit", "2")])
    assert ids(first) == ["a", "b"]
    (nxt,) = first["networks_links"]
    assert nxt["rel"] == "next" and "marker=b" in nxt["href"] and "limit=2" in nxt["href"]
    second = respond([("limit", "2"), ("marker", "b")])
    assert ids(second) == ["c"]
    assert [link["rel"] for link in second["networks_links"]] == ["previous"]
    back = respond([("limit", "1"), ("marker", "c"), ("page_reverse", "True")])
    assert ids(back) == ["b"]
    assert {link["rel"] for link in back["networks_links"]} == {"next", "previous"}
    assert "networks_links" not in respond([])
    with pytest.raises(NetworkNotFound):
        respond([("marker", "zzz")])


def test_error_body_names_the_neutron_type() -> None:
    render = neutron_error_format_for("http://id")
    mapped = map_domain_error(NetworkNotFound("n1"))
    assert mapped is not None
    body = render(None, mapped)  # type: ignore[arg-type]
    assert body.status == 404
    assert body.text is not None and '"type": "NetworkNotFound"' in body.text
    assert '"detail": ""' in body.text
    plain = render(None, ApiError(404, "no such route"))  # type: ignore[arg-type]
    assert plain.text is not None and '"type": "HTTPNotFound"' in plain.text
    unauth = render(None, ApiError(401, "no"))  # type: ignore[arg-type]
    assert unauth.headers["WWW-Authenticate"] == 'Keystone uri="http://id"'
