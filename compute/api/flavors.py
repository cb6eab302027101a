"""``/flavors``: list (brief, detail), show, admin create/update/delete, extra specs and
private access lists. Rules in :mod:`compute.core.flavors`."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from compute import models as m
from compute.api import fields
from compute.api.base import (
    Routes,
    admin,
    caller,
    json_body,
    json_response,
    links,
    next_link,
    query_int,
    run,
    section,
    version,
)
from compute.core import flavors
from compute.errors import Invalid, ItemNotFound
from compute.policy import Caller

routes = Routes()


def view(request: web.Request, flavor: m.Flavor, detail: bool = True) -> dict[str, Any]:
    minor = version(request).minor
    values: dict[str, Any] = {
        "id": flavor.flavorid, "name": flavor.name, "ram": flavor.memory_mb,
        "disk": flavor.root_gb, "vcpus": flavor.vcpus,
        "links": links(request, "flavors", flavor.flavorid),
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
        "OS-FLV-DISABLED:disabled": flavor.disabled,
        "swap": flavor.swap if flavor.swap or minor >= 75 else "",
        "rxtx_factor": flavor.rxtx_factor, "os-flavor-access:is_public": flavor.is_public,
        "description": flavor.description, "extra_specs": dict(flavor.extra_specs or {})}
    return (fields.FLAVOR if detail else fields.FLAVOR_BRIEF).render(values, minor)


def _list_query(request: web.Request, who: Caller) -> flavors.ListQuery:
    q = request.query
    raw = q.get("is_public", "true").strip().lower()
    if raw in ("none",):
        is_public: bool | None = None
    elif raw in ("1", "t", "true", "on", "y", "yes"):
        is_public = True
    elif raw in ("0", "f", "false", "off", "n", "no"):
        is_public = False
    else:
        raise Invalid(f"Invalid is_public filter [{q.get('is_public')}]")
    if not who.is_admin and is_public is None:
        is_public = True if "is_public" not in q else None
    sort_key = q.get("sort_key", "flavorid")
    if sort_key not in flavors.SORT_KEYS:
        raise Invalid(f"Invalid input for query parameters sort_key. Value: {sort_key}.")
    sort_dir = q.get("sort_dir", "asc")
    if sort_dir not in ("asc", "desc"):
        raise Invalid(f"Invalid input for query parameters sort_dir. Value: {sort_dir}.")
    return flavors.ListQuery(is_public=is_public, min_ram=query_int(request, "minRam") or 0,
                             min_disk=query_int(request, "minDisk") or 0, sort_key=sort_key,
                             sort_dir=sort_dir, limit=query_int(request, "limit"),
                             marker=q.get("marker"))


async def _list(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    q = _list_query(request, who)
    rows, more = await run(request, lambda s: flavors.listing(s, who, q))
    body: dict[str, Any] = {"flavors": [view(request, f, detail) for f in rows]}
    if more and rows:
        body["flavors_links"] = next_link(request, "flavors", rows[-1].flavorid)
    return json_response(body)


@routes.get("/flavors")
async def list_flavors(request: web.Request) -> web.Response:
    return await _list(request, False)


@routes.get("/flavors/detail")
async def list_flavors_detail(request: web.Request) -> web.Response:
    return await _list(request, True)


@routes.get("/flavors/{flavor_id}")
async def show_flavor(request: web.Request) -> web.Response:
    who = await caller(request)
    fid = request.match_info["flavor_id"]
    return json_response({"flavor": await run(request, lambda s: view(
        request, flavors.get(s, who, fid)))})


@routes.post("/flavors")
async def create_flavor(request: web.Request) -> web.Response:
    await admin(request, "os_compute_api:os-flavor-manage:create")
    body = section(await json_body(request), "flavor")
    minor = version(request).minor
    return json_response({"flavor": await run(request, lambda s: view(
        request, flavors.create(s, body, with_description=minor >= 55)))})


@routes.put("/flavors/{flavor_id}", min_version=55)
async def update_flavor(request: web.Request) -> web.Response:
    await admin(request, "os_compute_api:os-flavor-manage:update")
    body = section(await json_body(request), "flavor")
    if set(body) != {"description"}:
        raise Invalid("Only a flavor's description can be updated: {'flavor': "
                      "{'description': ...}}")
    fid = request.match_info["flavor_id"]
    return json_response({"flavor": await run(request, lambda s: view(
        request, flavors.update_description(s, fid, body["description"])))})


@routes.delete("/flavors/{flavor_id}")
async def delete_flavor(request: web.Request) -> web.Response:
    await admin(request, "os_compute_api:os-flavor-manage:delete")
    fid = request.match_info["flavor_id"]
    await run(request, lambda s: flavors.delete(s, fid))
    return web.Response(status=202)


# -- extra specs --------------------------------------------------------------------------


def _flavor(s: Session, who: Caller, fid: str) -> m.Flavor:
    return flavors.get(s, who, fid)


@routes.get("/flavors/{flavor_id}/os-extra_specs")
async def list_extra_specs(request: web.Request) -> web.Response:
    who = await caller(request)
    fid = request.match_info["flavor_id"]
    specs = await run(request, lambda s: dict(_flavor(s, who, fid).extra_specs or {}))
    return json_response({"extra_specs": specs})


@routes.post("/flavors/{flavor_id}/os-extra_specs")
async def create_extra_specs(request: web.Request) -> web.Response:
    who = await admin(request, "os_compute_api:os-flavor-extra-specs:create")
    fid = request.match_info["flavor_id"]
    body = await json_body(request)
    if not isinstance(body, dict) or "extra_specs" not in body:
        raise Invalid("Invalid input for field/attribute extra_specs. 'extra_specs' is a "
                      "required property")
    specs = await run(request, lambda s: flavors.set_extra_specs(
        s, _flavor(s, who, fid), body["extra_specs"]))
    return json_response({"extra_specs": specs})


@routes.get("/flavors/{flavor_id}/os-extra_specs/{key}")
async def show_extra_spec(request: web.Request) -> web.Response:
    who = await caller(request)
    fid, key = request.match_info["flavor_id"], request.match_info["key"]
    specs = await run(request, lambda s: dict(_flavor(s, who, fid).extra_specs or {}))
    if key not in specs:
        raise ItemNotFound(f"Flavor {fid} has no extra specs with key {key}.")
    return json_response({key: specs[key]})


@routes.put("/flavors/{flavor_id}/os-extra_specs/{key}")
async def update_extra_spec(request: web.Request) -> web.Response:
    who = await admin(request, "os_compute_api:os-flavor-extra-specs:update")
    fid, key = request.match_info["flavor_id"], request.match_info["key"]
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise Invalid("Request body contains too many items")
    if key not in body:
        raise Invalid("Request body and URI mismatch")
    specs = await run(request, lambda s: flavors.set_extra_specs(
        s, _flavor(s, who, fid), body))
    return json_response(specs)


@routes.delete("/flavors/{flavor_id}/os-extra_specs/{key}")
async def delete_extra_spec(request: web.Request) -> web.Response:
    who = await admin(request, "os_compute_api:os-flavor-extra-specs:delete")
    fid, key = request.match_info["flavor_id"], request.match_info["key"]
    await run(request, lambda s: flavors.delete_extra_spec(_flavor(s, who, fid), key))
    return web.Response(status=200)


# -- access lists -------------------------------------------------------------------------


def _access(s: Session, who: Caller, fid: str) -> list[dict[str, str]]:
    flavor = _flavor(s, who, fid)
    return [{"flavor_id": flavor.flavorid, "tenant_id": p}
            for p in flavors.access_list(s, flavor)]


@routes.get("/flavors/{flavor_id}/os-flavor-access")
async def list_access(request: web.Request) -> web.Response:
    who = await admin(request, "os_compute_api:os-flavor-access")
    fid = request.match_info["flavor_id"]
    return json_response({"flavor_access": await run(request, lambda s: _access(s, who, fid))})


@routes.post("/flavors/{flavor_id}/action")
async def flavor_action(request: web.Request) -> web.Response:
    who = await caller(request)
    fid = request.match_info["flavor_id"]
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise Invalid("Malformed request body: one action per request")
    name, args = next(iter(body.items()))
    if name not in ("addTenantAccess", "removeTenantAccess"):
        raise Invalid(f"There is no such action: {name}")
    await admin(request, f"os_compute_api:os-flavor-access:{name.replace('TenantAccess', '')}"
                         "_tenant_access")
    tenant = args.get("tenant") if isinstance(args, dict) else None

    def change(s: Session) -> list[dict[str, str]]:
        flavor = flavors.by_flavorid(s, fid)
        if name == "addTenantAccess":
            flavors.add_access(s, flavor, tenant)
        else:
            flavors.remove_access(s, flavor, tenant)
        s.flush()
        return _access(s, who, fid)

    return json_response({"flavor_access": await run(request, change)})
