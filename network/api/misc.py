"""Version discovery, extensions, quotas and network IP availability."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from yarl import URL

from network import models as m
from network import quotas
from network.api import listing
from network.api.base import base_url, caller, json_body, json_response, no_content, run
from network.core import ipam
from network.core.base import Ctx, get_network
from network.errors import ExtensionNotFound, HTTPBadRequest, NetworkNotFound
from network.policy import Caller, check_admin, deny

routes = web.RouteTableDef()

UPDATED = "2026-12-01T00:00:00-00:00"
# Every extension this service implements: (alias, name, what it adds).
EXTENSIONS = (
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external "
     "application"),
    ("default-subnetpools", "Default Subnetpools", "Provides ability to mark and use a "
     "subnetpool as the default."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the "
     "router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("external-net", "Neutron external network", "Adds external network attribute to "
     "network resource."),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("extraroute-atomic", "Atomically add/remove extra routes", "Edit extra routes of a "
     "router on server side by atomically adding/removing extra routes"),
    ("filter-validation", "Filter parameters validation", "Provides validation on filter "
     "parameters."),
    ("fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute "
     "to Floating IP resource"),
    ("ip-substring-filtering", "IP address substring filtering", "Provides IP address "
     "substring filtering when listing ports"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a "
     "network resource."),
    ("network-ip-availability", "Network IP Availability", "Provides IP availability data "
     "for each network and subnet."),
    ("network_availability_zone", "Network Availability Zone", "Availability zone support "
     "for network."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is "
     "enabled."),
    ("port-security", "Port Security", "Provides port security"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id "
     "field is enabled."),
    ("quota_details", "Quota details management support", "Expose functions for quotas "
     "usage statistics per project"),
    ("quota-check-limit", "Quota engine limit check", "Support for checking the resource "
     "usage before applying a new quota limit"),
    ("quotas", "Quota management support", "Expose functions for quotas management per "
     "project"),
    ("revision-if-match", "If-Match constraints based on revision_number", "Extension "
     "indicating that If-Match based on revision_number is supported."),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 "
     "Neutron networks and access to external networks via a NAT gateway."),
    ("security-group", "security-group", "The security groups extension."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("standard-attr-description", "standard-attr-description", "Extension to add "
     "descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display "
     "the revision number of neutron resources."),
    ("standard-attr-tag", "Tag support for resources with standard attribute", "Enables to "
     "set tag on resources with standard attribute."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at "
     "fields to all Neutron resources that have Neutron standard attributes."),
    ("stateful-security-group", "Stateful security group", "Indicates if the security "
     "group is stateful or not"),
    ("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a "
     "subnet pool"),
)
RESOURCES = (("network", "networks"), ("subnet", "subnets"), ("subnetpool", "subnetpools"),
             ("port", "ports"), ("router", "routers"), ("floatingip", "floatingips"),
             ("security_group", "security-groups"),
             ("security_group_rule", "security-group-rules"))


def extension(alias: str, name: str, description: str) -> dict[str, Any]:
    return {"alias": alias, "name": name, "description": description, "updated": UPDATED,
            "links": []}


@routes.get("/")
async def versions(request: web.Request) -> web.Response:
    return json_response({"versions": [{
        "id": "v2.0", "status": "CURRENT",
        "links": [{"href": f"{base_url(request)}/v2.0/", "rel": "self"}]}]})


@routes.get("/v2.0")
@routes.get("/v2.0/")
async def v2(request: web.Request) -> web.Response:
    await caller(request)
    base = base_url(request)
    return json_response({"resources": [
        {"name": name, "collection": path.replace("-", "_"),
         "links": [{"href": f"{base}/v2.0/{path}", "rel": "self"}]}
        for name, path in RESOURCES]})


@routes.get("/v2.0/extensions")
async def extensions(request: web.Request) -> web.Response:
    await caller(request)
    items = [extension(*e) for e in EXTENSIONS]
    return json_response(listing.respond(
        items, request.query, URL(base_url(request) + request.path), "extensions",
        frozenset(("alias", "name", "description", "updated")), {}, ExtensionNotFound))


@routes.get("/v2.0/extensions/{alias}")
async def show_extension(request: web.Request) -> web.Response:
    await caller(request)
    alias = request.match_info["alias"]
    for entry in EXTENSIONS:
        if entry[0] == alias:
            return json_response({"extension": extension(*entry)})
    raise ExtensionNotFound(alias)


# -- quotas ---------------------------------------------------------------------------------


def _may_read_quota(who: Caller, project_id: str) -> None:
    if not who.owns(project_id):
        raise deny("get_quota")


def _quota_entry(project_id: str, limits: dict[str, int]) -> dict[str, Any]:
    return {"project_id": project_id, "tenant_id": project_id, **limits}


@routes.get("/v2.0/quotas")
async def list_quotas(request: web.Request) -> web.Response:
    who = await caller(request)

    def work(ctx: Ctx) -> list[dict[str, Any]]:
        projects = quotas.projects_with_limits(ctx.s)
        if not who.is_admin:
            projects = [p for p in projects if p == who.project_id]
        return [_quota_entry(p, quotas.limits(ctx.s, ctx.cfg, p)) for p in projects]

    return json_response({"quotas": await run(request, work)})


async def _quota_view(request: web.Request, view: Callable[[Ctx, str], Any]) -> web.Response:
    """A project's quota as ``view`` gives it, to that project or an admin."""
    who = await caller(request)
    project = request.match_info["project_id"]
    _may_read_quota(who, project)
    return json_response({"quota": await run(request, lambda ctx: view(ctx, project))})


@routes.get("/v2.0/quotas/{project_id}")
async def show_quota(request: web.Request) -> web.Response:
    return await _quota_view(request, lambda ctx, p: quotas.limits(ctx.s, ctx.cfg, p))


@routes.get("/v2.0/quotas/{project_id}/default")
async def default_quota(request: web.Request) -> web.Response:
    return await _quota_view(request, lambda ctx, p: quotas.defaults(ctx.cfg))


def _details(ctx: Ctx, project: str) -> dict[str, Any]:
    limits = quotas.limits(ctx.s, ctx.cfg, project)
    used = quotas.usage(ctx.s, project)
    return {name: {"limit": limits[name], "used": used[name], "reserved": 0}
            for name in quotas.RESOURCES}


@routes.get("/v2.0/quotas/{project_id}/details")
async def quota_details(request: web.Request) -> web.Response:
    return await _quota_view(request, _details)


@routes.put("/v2.0/quotas/{project_id}")
async def update_quota(request: web.Request) -> web.Response:
    who = await caller(request)
    check_admin(who, "update_quota")
    project = request.match_info["project_id"]
    body = await json_body(request)
    if not isinstance(body, dict) or "quota" not in body:
        raise HTTPBadRequest("Unable to find 'quota' in request body")
    values, check_limit = quotas.parse_limits(body["quota"])

    def work(ctx: Ctx) -> dict[str, int]:
        quotas.update(ctx.s, project, values, check_limit)
        ctx.s.flush()
        return quotas.limits(ctx.s, ctx.cfg, project)

    return json_response({"quota": await run(request, work)})


@routes.delete("/v2.0/quotas/{project_id}")
async def reset_quota(request: web.Request) -> web.Response:
    who = await caller(request)
    check_admin(who, "delete_quota")
    project = request.match_info["project_id"]
    await run(request, lambda ctx: quotas.reset(ctx.s, project))
    return no_content()


# -- network IP availability (admins) -------------------------------------------------------


def _availability(ctx: Ctx, nets: list[m.Network]) -> list[dict[str, Any]]:
    counts = {sid: int(n) for sid, n in ctx.s.execute(
        select(m.IPAllocation.subnet_id, func.count()).group_by(m.IPAllocation.subnet_id))}
    out = []
    for net in nets:
        subs = [{"subnet_id": s.id, "subnet_name": s.name, "cidr": s.cidr,
                 "ip_version": s.ip_version, "total_ips": ipam.pool_size(s.allocation_pools),
                 "used_ips": int(counts.get(s.id, 0))} for s in net.subnets]
        out.append({"network_id": net.id, "network_name": net.name,
                    "project_id": net.project_id, "tenant_id": net.project_id,
                    "total_ips": sum(int(str(s["total_ips"])) for s in subs),
                    "used_ips": sum(int(str(s["used_ips"])) for s in subs),
                    "subnet_ip_availability": subs})
    return out


def _ip_version(item: dict[str, Any], values: list[str]) -> bool:
    return any(str(s["ip_version"]) in values for s in item["subnet_ip_availability"])


@routes.get("/v2.0/network-ip-availabilities")
async def list_availability(request: web.Request) -> web.Response:
    check_admin(await caller(request), "get_network_ip_availability")
    items = await run(request, lambda ctx: _availability(ctx, list(ctx.s.scalars(
        select(m.Network).options(selectinload(m.Network.subnets))
        .order_by(m.Network.created_at, m.Network.id)))))
    known = frozenset(("network_id", "network_name", "project_id", "tenant_id", "total_ips",
                       "used_ips"))
    return json_response(listing.respond(
        items, request.query, URL(base_url(request) + request.path),
        "network_ip_availabilities", known, {"ip_version": _ip_version}, NetworkNotFound))


@routes.get("/v2.0/network-ip-availabilities/{id}")
async def show_availability(request: web.Request) -> web.Response:
    check_admin(await caller(request), "get_network_ip_availability")
    ident = request.match_info["id"]
    item = await run(request, lambda ctx: _availability(ctx, [get_network(ctx, ident)])[0])
    return json_response({"network_ip_availability": item})
