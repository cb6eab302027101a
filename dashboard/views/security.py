"""Project → Network → Security Groups (and their rules) and Floating IPs."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from common.errors import BadRequest
from dashboard.apis import q
from dashboard.views.networks import listing
from dashboard.web import act, apis, attempt, field, form, render

routes = web.RouteTableDef()
GROUPS, FIPS = "/project/security_groups/", "/project/floating_ips/"

# Rule templates, as a person picks them: (protocol, port range) or None for custom.
RULES: dict[str, tuple[str, str]] = {
    "custom_tcp": ("tcp", ""), "custom_udp": ("udp", ""), "custom_icmp": ("icmp", ""),
    "all_icmp": ("icmp", "any"), "all_tcp": ("tcp", "1-65535"), "all_udp": ("udp", "1-65535"),
    "ssh": ("tcp", "22"), "http": ("tcp", "80"), "https": ("tcp", "443"),
    "dns": ("udp", "53"), "rdp": ("tcp", "3389"), "mysql": ("tcp", "3306"),
    "any": ("", "any"),
}
RULE_LABELS = (("all_icmp", "ALL ICMP"), ("ssh", "SSH"), ("http", "HTTP"),
               ("https", "HTTPS"), ("dns", "DNS"), ("rdp", "RDP"), ("mysql", "MYSQL"),
               ("all_tcp", "ALL TCP"), ("all_udp", "ALL UDP"), ("custom_tcp", "Custom TCP"),
               ("custom_udp", "Custom UDP"), ("custom_icmp", "Custom ICMP"),
               ("any", "Any protocol"))


def _ports(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        a, b = int(low), int(high or low)
    except ValueError:
        raise BadRequest(f"Port {text!r} is not a port or a range such as 8000-8080.") \
            from None
    return a, b


def rule_body(data: Any, group_id: str) -> dict[str, Any]:
    """A Neutron security group rule from the form (template, direction, remote)."""
    kind = field(data, "rule", label="Rule")
    if kind not in RULES:
        raise BadRequest(f"Rule {kind} is not one of the choices.")
    protocol, ports = RULES[kind]
    body: dict[str, Any] = {
        "security_group_id": group_id,
        "direction": field(data, "direction", default="ingress", required=False),
        "ethertype": field(data, "ethertype", default="IPv4", required=False),
    }
    if protocol:
        body["protocol"] = protocol
    if protocol == "icmp" and ports != "any":
        icmp_type = field(data, "icmp_type", required=False)
        icmp_code = field(data, "icmp_code", required=False)
        if icmp_type:
            body["port_range_min"] = int(_ports(icmp_type)[0])
        if icmp_code:
            body["port_range_max"] = int(_ports(icmp_code)[0])
    elif protocol in ("tcp", "udp"):
        text = ports or field(data, "port", label="Port or port range")
        body["port_range_min"], body["port_range_max"] = _ports(text)
    remote_group = field(data, "remote_group_id", required=False)
    if remote_group:
        body["remote_group_id"] = remote_group
    else:
        body["remote_ip_prefix"] = field(data, "cidr", default="0.0.0.0/0" if
                                         body["ethertype"] == "IPv4" else "::/0",
                                         required=False)
    return body


@routes.get(GROUPS)
async def groups(request: web.Request) -> web.Response:
    items, error = await attempt(listing(apis(request), "security-groups"), [])
    return render(request, "network/security_groups.html", title="Security Groups",
                  groups=items, error=error)


@routes.post(GROUPS + "create")
async def create_group(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)

    async def work() -> None:
        await api.network.post("/security-groups", {"security_group": {
            "name": field(data, "name", label="Security group name"),
            "description": field(data, "description", required=False)}})

    return await act(request, GROUPS, "The security group was created.", work)


@routes.get(GROUPS + "{group_id}")
async def group_detail(request: web.Request) -> web.Response:
    api = apis(request)
    gid = request.match_info["group_id"]
    doc, all_groups = await asyncio.gather(
        api.network.get(f"/security-groups/{q(gid)}"),
        attempt(listing(api, "security-groups"), []))
    group = doc["security_group"]
    names = {g["id"]: g.get("name") or g["id"] for g in all_groups[0]}
    return render(request, "network/security_group.html",
                  title=f"Security Group {group.get('name') or gid}", group=group,
                  groups=all_groups[0], names=names, rule_labels=RULE_LABELS)


@routes.post(GROUPS + "{group_id}/rules")
async def add_rule(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    gid = request.match_info["group_id"]

    async def work() -> None:
        await api.network.post("/security-group-rules",
                               {"security_group_rule": rule_body(data, gid)})

    return await act(request, GROUPS + gid, "The rule was added.", work)


@routes.post(GROUPS + "{group_id}/rules/{rule_id}/delete")
async def delete_rule(request: web.Request) -> web.Response:
    api = apis(request)
    gid, rid = request.match_info["group_id"], request.match_info["rule_id"]

    async def work() -> None:
        await api.network.delete(f"/security-group-rules/{q(rid)}")

    return await act(request, GROUPS + gid, "The rule was deleted.", work)


@routes.post(GROUPS + "{group_id}/delete")
async def delete_group(request: web.Request) -> web.Response:
    api = apis(request)
    gid = request.match_info["group_id"]

    async def work() -> None:
        await api.network.delete(f"/security-groups/{q(gid)}")

    return await act(request, GROUPS, "The security group was deleted.", work)


# -- floating IPs -----------------------------------------------------------------------


@routes.get(FIPS)
async def floating_ips(request: web.Request) -> web.Response:
    api = apis(request)
    (items, error), (pools, _), (ports, _) = await asyncio.gather(
        attempt(listing(api, "floatingips"), []),
        attempt(listing(api, "networks", **{"router:external": "true"}), []),
        attempt(listing(api, "ports"), []))
    names = {n["id"]: n.get("name") or n["id"] for n in pools}
    # Ports a floating IP may go to: the project's own, not routers' or DHCP's.
    targets = [p for p in ports if not str(p.get("device_owner", "")).startswith("network:")]
    return render(request, "network/floating_ips.html", title="Floating IPs", fips=items,
                  pools=pools, names=names, error=error, targets=targets)


@routes.post(FIPS + "allocate")
async def allocate(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)

    async def work() -> None:
        body = {"floating_network_id": field(data, "pool", label="Pool")}
        description = field(data, "description", required=False)
        if description:
            body["description"] = description
        await api.network.post("/floatingips", {"floatingip": body})

    return await act(request, FIPS, "A floating IP was allocated.", work)


@routes.post(FIPS + "{fip_id}/associate")
async def associate(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    fid = request.match_info["fip_id"]

    async def work() -> None:
        port = field(data, "port_id", required=False) or None
        await api.network.put(f"/floatingips/{q(fid)}", {"floatingip": {"port_id": port}})

    done = "The floating IP was associated." if data.get("port_id") else \
        "The floating IP was disassociated."
    return await act(request, FIPS, done, work)


@routes.post(FIPS + "{fip_id}/release")
async def release(request: web.Request) -> web.Response:
    api = apis(request)
    fid = request.match_info["fip_id"]

    async def work() -> None:
        await api.network.delete(f"/floatingips/{q(fid)}")

    return await act(request, FIPS, "The floating IP was released.", work)
