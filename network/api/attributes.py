"""Request parsing: each resource's attributes, which calls may set them, and how each
value is checked and converted, before anything reaches the core.

A body is parsed into a dict of the attributes it sets, under the core's names
(``router:external`` becomes ``external``, ``binding:host_id`` ``host``). What
does not parse answers Neutron's ``HTTPBadRequest`` 400 naming the attribute:
unknown, read-only, missing, or of the wrong form.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from network.core import ipam
from network.core.ports import Want
from network.errors import HTTPBadRequest

Convert = Callable[[str, Any], Any]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}$")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def bad(name: str, reason: str) -> HTTPBadRequest:
    return HTTPBadRequest(f"Invalid input for {name}. Reason: {reason}.")


@dataclass(frozen=True)
class Attr:
    convert: Convert
    post: bool = True
    put: bool = True
    required: bool = False
    store: str = ""  # the core's name, when not the API's


Spec = dict[str, Attr]


# -- converters ----------------------------------------------------------------------


def string(limit: int = 255) -> Convert:
    def conv(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise bad(name, f"'{value}' is not a valid string")
        if len(value) > limit:
            raise bad(name, f"'{value}' exceeds maximum length of {limit}")
        return value
    return conv


def nullable(inner: Convert) -> Convert:
    def conv(name: str, value: Any) -> Any:
        return None if value is None else inner(name, value)
    return conv


def boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise bad(name, f"'{value}' cannot be converted to boolean")


def integer(lo: int | None = None, hi: int | None = None) -> Convert:
    def conv(name: str, value: Any) -> int:
        if isinstance(value, bool):
            raise bad(name, f"'{value}' is not an integer")
        try:
            number = int(value)
            if isinstance(value, float) and number != value:
                raise ValueError(value)
        except (TypeError, ValueError):
            raise bad(name, f"'{value}' is not an integer") from None
        if lo is not None and number < lo:
            raise bad(name, f"'{number}' is too small - must be at least '{lo}'")
        if hi is not None and number > hi:
            raise bad(name, f"'{number}' is too large - must be no larger than '{hi}'")
        return number
    return conv


def one_of(*values: Any) -> Convert:
    def conv(name: str, value: Any) -> Any:
        for allowed in values:
            if value == allowed or (isinstance(allowed, int) and not isinstance(value, bool)
                                    and str(value) == str(allowed)):
                return allowed
        raise bad(name, f"'{value}' is not in {list(values)}")
    return conv


def uuid(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _UUID.match(value):
        raise bad(name, f"'{value}' is not a valid UUID")
    return value


def ip(name: str, value: Any) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise bad(name, f"'{value}' is not a valid IP address") from None


def cidr(name: str, value: Any) -> str:
    """A network in CIDR form, host bits clear (Neutron's subnet validator)."""
    try:
        if not isinstance(value, str) or "/" not in value:
            raise ValueError(value)
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise bad(name, f"'{value}' is not a valid IP subnet") from None
    if iface.ip != iface.network.network_address:
        raise bad(name, f"'{value}' isn't a recognized IP subnet cidr, '{iface.network}' is "
                        "recommended")
    return str(iface.network)


def prefix(name: str, value: Any) -> str:
    """An address or a network (host bits allowed), as security group rules take it."""
    try:
        ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        raise bad(name, f"'{value}' is not a valid IP subnet") from None
    return str(value)


def mac(name: str, value: Any) -> str:
    found = ipam.normalize_mac(value) if isinstance(value, str) else None
    if found is None:
        raise bad(name, f"'{value}' is not a valid MAC address")
    return found


def items(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise bad(name, f"'{value}' is not a list")
    return value


def list_of(inner: Convert, unique: bool = False) -> Convert:
    def conv(name: str, value: Any) -> list[Any]:
        out = [inner(name, v) for v in items(name, value)]
        if unique and len(set(out)) != len(out):
            dup = next(x for x in out if out.count(x) > 1)
            raise bad(name, f"Duplicate items in the list: '{dup}'")
        return out
    return conv


def mapping(fields: dict[str, Convert], required: Iterable[str] = ()) -> Convert:
    """A dict with only ``fields`` (each converted), ``required`` ones present."""
    def conv(name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise bad(name, f"'{value}' is not a dictionary")
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise bad(name, f"Unexpected keys supplied: {', '.join(unknown)}")
        for key in required:
            if key not in value:
                raise bad(name, f"Validation of dictionary's keys failed. Expected keys: "
                                f"{set(required)} Provided keys: {set(value)}")
        return {k: fields[k](f"{name}:{k}", v) for k, v in value.items()}
    return conv


def plain_dict(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad(name, f"'{value}' is not a dictionary")
    return value


def fixed_ips(name: str, value: Any) -> list[Want]:
    entry = mapping({"subnet_id": uuid, "ip_address": ip})
    out = []
    for raw in items(name, value):
        got = entry(name, raw)
        out.append(Want(got.get("subnet_id"), got.get("ip_address")))
    return out


def address_pair(name: str, value: Any) -> dict[str, str]:
    got = mapping({"ip_address": prefix, "mac_address": mac}, ("ip_address",))(name, value)
    return {k: v for k, v in got.items() if v is not None}


def tag(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 255 or "," in value:
        raise bad(name, f"'{value}' is not a valid tag (1-255 characters, no comma)")
    return value


ROUTE = mapping({"destination": cidr, "nexthop": ip}, ("destination", "nexthop"))
POOL = mapping({"start": ip, "end": ip}, ("start", "end"))
NAME = Attr(string())
DESCRIPTION = Attr(string())
PROJECT = Attr(string(64), put=False)
TAGS = Attr(list_of(tag, unique=True), put=False)


def common(**spec: Attr) -> Spec:
    """The standard attributes every resource takes, plus its own."""
    return {"description": DESCRIPTION, "project_id": PROJECT, "tenant_id": PROJECT,
            "tags": TAGS, **spec}


# -- per resource ------------------------------------------------------------------------

NETWORK = common(
    name=NAME, admin_state_up=Attr(boolean), shared=Attr(boolean),
    mtu=Attr(integer(68)), port_security_enabled=Attr(boolean),
    availability_zone_hints=Attr(list_of(string(255)), put=False),
    **{"router:external": Attr(boolean, store="external")},
)

SUBNET = common(
    name=NAME, network_id=Attr(uuid, put=False, required=True),
    ip_version=Attr(one_of(4, 6), put=False), cidr=Attr(cidr, put=False),
    prefixlen=Attr(integer(0, 128), put=False),
    gateway_ip=Attr(nullable(ip)), enable_dhcp=Attr(boolean),
    dns_nameservers=Attr(list_of(ip, unique=True)),
    host_routes=Attr(list_of(ROUTE)), allocation_pools=Attr(list_of(POOL)),
    ipv6_ra_mode=Attr(nullable(one_of("slaac", "dhcpv6-stateful", "dhcpv6-stateless")),
                      put=False),
    ipv6_address_mode=Attr(nullable(one_of("slaac", "dhcpv6-stateful", "dhcpv6-stateless")),
                           put=False),
    subnetpool_id=Attr(nullable(uuid), put=False),
    use_default_subnetpool=Attr(boolean, put=False),
)

SUBNETPOOL = common(
    name=NAME, prefixes=Attr(list_of(cidr), required=True),
    default_prefixlen=Attr(integer(0, 128)), min_prefixlen=Attr(integer(0, 128)),
    max_prefixlen=Attr(integer(0, 128)), default_quota=Attr(nullable(integer(0))),
    shared=Attr(boolean, put=False), is_default=Attr(boolean),
    address_scope_id=Attr(nullable(one_of(None)), put=False),
)

PORT = common(
    name=NAME, network_id=Attr(uuid, put=False, required=True),
    admin_state_up=Attr(boolean), mac_address=Attr(mac), fixed_ips=Attr(fixed_ips),
    device_id=Attr(string()), device_owner=Attr(string()),
    security_groups=Attr(list_of(uuid)), port_security_enabled=Attr(boolean),
    allowed_address_pairs=Attr(list_of(address_pair)),
    **{"binding:host_id": Attr(string(), store="host"),
       "binding:vnic_type": Attr(one_of("normal", "direct", "macvtap", "baremetal",
                                        "direct-physical", "virtio-forwarder", "smart-nic",
                                        "vdpa", "remote-managed"), store="vnic_type"),
       "binding:profile": Attr(plain_dict, store="binding_profile")},
)

GATEWAY = mapping({"network_id": uuid, "enable_snat": boolean,
                   "external_fixed_ips": list_of(mapping({"subnet_id": uuid,
                                                          "ip_address": ip}))})


def gateway_info(name: str, value: Any) -> dict[str, Any] | None:
    if value is None or value == {}:
        return None
    got: dict[str, Any] = GATEWAY(name, value)
    if "network_id" not in got:
        raise bad(name, "network_id is required to set an external gateway")
    return got


ROUTER = common(
    name=NAME, admin_state_up=Attr(boolean),
    external_gateway_info=Attr(gateway_info), routes=Attr(list_of(ROUTE), post=False),
)

FLOATINGIP = common(
    floating_network_id=Attr(uuid, put=False, required=True),
    floating_ip_address=Attr(nullable(ip), put=False), subnet_id=Attr(nullable(uuid),
                                                                      put=False),
    port_id=Attr(nullable(uuid)), fixed_ip_address=Attr(nullable(ip)),
)

SECURITY_GROUP = common(name=NAME, stateful=Attr(boolean))

SECURITY_GROUP_RULE: Spec = {
    "description": Attr(string(), put=False), "project_id": PROJECT, "tenant_id": PROJECT,
    "security_group_id": Attr(uuid, put=False, required=True),
    "direction": Attr(one_of("ingress", "egress"), put=False, required=True),
    "ethertype": Attr(string(16), put=False),
    "protocol": Attr(lambda n, v: v, put=False),
    "port_range_min": Attr(lambda n, v: v, put=False),
    "port_range_max": Attr(lambda n, v: v, put=False),
    "remote_ip_prefix": Attr(nullable(prefix), put=False),
    "remote_group_id": Attr(nullable(uuid), put=False),
}


def parse(spec: Spec, body: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """The attributes ``body`` sets, converted, under the core's names."""
    unknown = sorted(k for k in body if k not in spec)
    if unknown:
        raise HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    out: dict[str, Any] = {}
    for key, value in body.items():
        attr = spec[key]
        if create and not attr.post:
            raise HTTPBadRequest(f"Attribute '{key}' not allowed in POST")
        if not create and not attr.put:
            raise HTTPBadRequest(f"Cannot update read-only attribute {key}")
        out[attr.store or key] = attr.convert(key, value)
    if create:
        for key, attr in spec.items():
            if attr.required and key not in body:
                raise HTTPBadRequest(f"Failed to parse request. Required attribute '{key}' "
                                     "not specified")
    for key in ("project_id", "tenant_id"):
        if key in out and not out[key]:
            out.pop(key)
    if out.get("project_id") and out.get("tenant_id") and out["project_id"] != out["tenant_id"]:
        raise HTTPBadRequest("'project_id' and 'tenant_id' do not match")
    return out
