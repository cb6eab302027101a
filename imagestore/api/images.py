"""Handlers: version discovery, schemas, images, tags, actions, members, info."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from imagestore import core, listing, members, patch
from imagestore.api.base import (
    caller,
    json_body,
    json_response,
    media_type,
    run,
    state,
)
from imagestore.api.versions import versions_doc
from imagestore.errors import Invalid, NotFound
from imagestore.imports import discard_data
from imagestore.metadefs.schemas import SCHEMAS as METADEF_SCHEMAS
from imagestore.schemas import SCHEMAS

routes = web.RouteTableDef()

@routes.get("/")
async def versions_300(request: web.Request) -> web.Response:
    """The service root: the versions, as a 300 Multiple Choices."""
    return json_response(versions_doc(state(request).cfg.imagestore_url()), status=300)


@routes.get("/versions")
async def versions(request: web.Request) -> web.Response:
    return json_response(versions_doc(state(request).cfg.imagestore_url()))


@routes.get("/v2/schemas/{name}")
@routes.get("/v2/schemas/metadefs/{name}")
async def schema(request: web.Request) -> web.Response:
    name = request.path.removeprefix("/v2/schemas/")
    make = SCHEMAS.get(name) or METADEF_SCHEMAS.get(name)
    if make is None:
        raise NotFound(f"No schema named {name}.")
    await caller(request)
    return json_response(make())


def _show_locations(request: web.Request, is_admin: bool) -> bool:
    return is_admin and state(request).cfg.imagestore.show_locations


@routes.post("/v2/images")
async def create(request: web.Request) -> web.Response:
    who = await caller(request)
    body = await json_body(request)
    limits = state(request).limits
    show = _show_locations(request, who.is_admin)
    view = await run(request, lambda s: core.view(core.create_image(s, who, body, limits),
                                                  show_locations=show))
    return json_response(view, status=201, headers={
        "Location": view["self"],
        "OpenStack-image-import-methods": ",".join(import_methods(request)),
        "OpenStack-image-store-ids": state(request).store.id})


@routes.get("/v2/images")
async def index(request: web.Request) -> web.Response:
    who = await caller(request)
    params = list(request.query.items())
    q = listing.parse(params)
    show = _show_locations(request, who.is_admin)

    def page(s: Any) -> dict[str, Any]:
        images, more = listing.select_page(s, who, q)
        return {"images": [core.view(i, show_locations=show) for i in images],
                "schema": "/v2/schemas/images", **listing.page_links(params, images, more)}

    return json_response(await run(request, page))


@routes.get("/v2/images/{image_id}")
async def show(request: web.Request) -> web.Response:
    who = await caller(request)
    image_id = request.match_info["image_id"]
    sl = _show_locations(request, who.is_admin)
    return json_response(await run(request, lambda s: core.view(
        core.get_image(s, who, image_id), show_locations=sl)))


@routes.patch("/v2/images/{image_id}")
async def update(request: web.Request) -> web.Response:
    who = await caller(request)
    draft = patch.draft_of(media_type(request))
    ops = patch.parse(await json_body(request), draft)
    image_id = request.match_info["image_id"]
    sl = _show_locations(request, who.is_admin)
    return json_response(await run(request, lambda s: core.view(
        core.apply_patch(s, who, image_id, ops), show_locations=sl)))


@routes.delete("/v2/images/{image_id}")
async def delete(request: web.Request) -> web.Response:
    who = await caller(request)
    image_id = request.match_info["image_id"]
    ref = await run(request, lambda s: core.delete_image(s, who, image_id))
    await discard_data(state(request), ref)
    return web.Response(status=204)


@routes.put("/v2/images/{image_id}/tags/{tag}")
async def add_tag(request: web.Request) -> web.Response:
    who = await caller(request)
    image_id, tag = request.match_info["image_id"], request.match_info["tag"]
    await run(request, lambda s: core.add_tag(s, who, image_id, tag))
    return web.Response(status=204)


@routes.delete("/v2/images/{image_id}/tags/{tag}")
async def delete_tag(request: web.Request) -> web.Response:
    who = await caller(request)
    image_id, tag = request.match_info["image_id"], request.match_info["tag"]
    await run(request, lambda s: core.delete_tag(s, who, image_id, tag))
    return web.Response(status=204)


@routes.post("/v2/images/{image_id}/actions/{action}")
async def action(request: web.Request) -> web.Response:
    who = await caller(request)
    image_id, name = request.match_info["image_id"], request.match_info["action"]
    if name not in ("deactivate", "reactivate"):
        raise NotFound(f"No action named {name}.")
    await run(request, lambda s: core.set_active(s, who, image_id, name == "reactivate"))
    return web.Response(status=204)


# -- members ------------------------------------------------------------------------


@routes.post("/v2/images/{image_id}/members")
async def add_member(request: web.Request) -> web.Response:
    who = await caller(request)
    body = await json_body(request)
    image_id = request.match_info["image_id"]
    return json_response(await run(request, lambda s: members.view(
        members.add(s, who, image_id, body))))


@routes.get("/v2/images/{image_id}/members")
async def list_members(request: web.Request) -> web.Response:
    who = await caller(request)
    image_id = request.match_info["image_id"]
    found = await run(request, lambda s: [members.view(mb) for mb in
                                          members.listing(s, who, image_id)])
    return json_response({"members": found, "schema": "/v2/schemas/members"})


@routes.get("/v2/images/{image_id}/members/{member}")
async def show_member(request: web.Request) -> web.Response:
    who = await caller(request)
    image_id, member = request.match_info["image_id"], request.match_info["member"]
    return json_response(await run(request, lambda s: members.view(
        members.show(s, who, image_id, member))))


@routes.put("/v2/images/{image_id}/members/{member}")
async def update_member(request: web.Request) -> web.Response:
    who = await caller(request)
    body = await json_body(request)
    image_id, member = request.match_info["image_id"], request.match_info["member"]
    return json_response(await run(request, lambda s: members.view(
        members.update(s, who, image_id, member, body))))


@routes.delete("/v2/images/{image_id}/members/{member}")
async def delete_member(request: web.Request) -> web.Response:
    who = await caller(request)
    image_id, member = request.match_info["image_id"], request.match_info["member"]
    await run(request, lambda s: members.remove(s, who, image_id, member))
    return web.Response(status=204)


# -- info -----------------------------------------------------------------------------


def import_methods(request: web.Request) -> list[str]:
    methods = ["glance-direct"]
    if state(request).cfg.imagestore.web_download:
        methods.append("web-download")
    return methods


@routes.get("/v2/info/import")
async def info_import(request: web.Request) -> web.Response:
    await caller(request)
    return json_response({"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": import_methods(request)}})


@routes.get("/v2/info/stores")
async def info_stores(request: web.Request) -> web.Response:
    await caller(request)
    store = state(request).store
    return json_response({"stores": [
        {"id": store.id, "description": store.description, "default": True}]})


@routes.get("/v2/info/usage")
async def info_usage(request: web.Request) -> web.Response:
    who = await caller(request)
    if who.project_id is None:
        raise Invalid("A project-scoped token is needed to see usage.")
    project = who.project_id
    limits = state(request).limits

    def usage(s: Any) -> dict[str, Any]:
        staged, uploading = core.staging_usage(s, project)
        return {"usage": {
            "image_count_total": {"limit": limits.image_count,
                                  "usage": core.count_images(s, project)},
            "image_size_total": {"limit": limits.image_bytes,
                                 "usage": core.used_bytes(s, project)},
            # staged bytes count against image_size_total here: no limit of their own
            "image_stage_total": {"limit": -1, "usage": staged},
            "image_count_uploading": {"limit": -1, "usage": uploading}}}

    return json_response(await run(request, usage))
