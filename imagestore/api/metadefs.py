"""Handlers: metadata definitions under ``/v2/metadefs`` (API 2.2)."""

from __future__ import annotations

from aiohttp import web

from imagestore.api.base import caller, json_body, json_response, run
from imagestore.metadefs import contents, namespaces, resource_types

routes = web.RouteTableDef()
NS = "/v2/metadefs/namespaces/{namespace}"


def _ns(request: web.Request) -> str:
    return request.match_info["namespace"]


def _created(body: dict[str, object], location: str) -> web.Response:
    return json_response(body, status=201, headers={"Location": location})


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "t", "true", "on", "y", "yes")


# -- namespaces ---------------------------------------------------------------------------


@routes.get("/v2/metadefs/namespaces")
async def list_namespaces(request: web.Request) -> web.Response:
    who = await caller(request)
    params = list(request.query.items())
    return json_response(await run(request, lambda s: namespaces.page(s, who, params)))


@routes.post("/v2/metadefs/namespaces")
async def create_namespace(request: web.Request) -> web.Response:
    who = await caller(request)
    body = await json_body(request)
    view = await run(request, lambda s: namespaces.create(s, who, body))
    return _created(view, str(view["self"]))


@routes.get(NS)
async def show_namespace(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    rt = request.query.get("resource_type")
    return json_response(await run(request, lambda s: namespaces.show(s, who, name, rt)))


@routes.put(NS)
async def update_namespace(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    body = await json_body(request)
    return json_response(await run(request, lambda s: namespaces.update(s, who, name, body)))


@routes.delete(NS)
async def delete_namespace(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    await run(request, lambda s: namespaces.delete(s, who, name))
    return web.Response(status=204)


# -- objects ------------------------------------------------------------------------------


@routes.get(NS + "/objects")
async def list_objects(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    return json_response(await run(request, lambda s: contents.objects(s, who, name)))


@routes.post(NS + "/objects")
async def create_object(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    body = await json_body(request)
    view = await run(request, lambda s: contents.create_object(s, who, name, body))
    return _created(view, str(view["self"]))


@routes.get(NS + "/objects/{object}")
async def show_object(request: web.Request) -> web.Response:
    who, name, obj = await caller(request), _ns(request), request.match_info["object"]
    return json_response(await run(request, lambda s: contents.show_object(s, who, name, obj)))


@routes.put(NS + "/objects/{object}")
async def update_object(request: web.Request) -> web.Response:
    who, name, obj = await caller(request), _ns(request), request.match_info["object"]
    body = await json_body(request)
    return json_response(await run(request, lambda s: contents.update_object(
        s, who, name, obj, body)))


# -- properties ---------------------------------------------------------------------------


@routes.get(NS + "/properties")
async def list_properties(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    return json_response(await run(request, lambda s: contents.properties(s, who, name)))


@routes.post(NS + "/properties")
async def create_property(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    body = await json_body(request)
    view = await run(request, lambda s: contents.create_property(s, who, name, body))
    return _created(view, f"/v2/metadefs/namespaces/{name}/properties/{view['name']}")


@routes.get(NS + "/properties/{property}")
async def show_property(request: web.Request) -> web.Response:
    who, name, prop = await caller(request), _ns(request), request.match_info["property"]
    rt = request.query.get("resource_type")
    return json_response(await run(request, lambda s: contents.show_property(
        s, who, name, prop, rt)))


@routes.put(NS + "/properties/{property}")
async def update_property(request: web.Request) -> web.Response:
    who, name, prop = await caller(request), _ns(request), request.match_info["property"]
    body = await json_body(request)
    return json_response(await run(request, lambda s: contents.update_property(
        s, who, name, prop, body)))


# -- tags ---------------------------------------------------------------------------------


@routes.get(NS + "/tags")
async def list_tags(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    q = contents.parse_tag_query(list(request.query.items()))
    return json_response(await run(request, lambda s: contents.tags(s, who, name, q)))


@routes.post(NS + "/tags")
async def create_tags(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    body = await json_body(request)
    append = _true(request.headers.get("X-Openstack-Append"))
    return json_response(await run(request, lambda s: contents.create_tags(
        s, who, name, body, append)), status=201)


@routes.get(NS + "/tags/{tag}")
async def show_tag(request: web.Request) -> web.Response:
    who, name, tag = await caller(request), _ns(request), request.match_info["tag"]
    return json_response(await run(request, lambda s: contents.show_tag(s, who, name, tag)))


@routes.post(NS + "/tags/{tag}")
async def create_tag(request: web.Request) -> web.Response:
    who, name, tag = await caller(request), _ns(request), request.match_info["tag"]
    view = await run(request, lambda s: contents.create_tag(s, who, name, tag))
    return _created(view, f"/v2/metadefs/namespaces/{name}/tags/{tag}")


@routes.put(NS + "/tags/{tag}")
async def update_tag(request: web.Request) -> web.Response:
    who, name, tag = await caller(request), _ns(request), request.match_info["tag"]
    body = await json_body(request)
    return json_response(await run(request, lambda s: contents.update_tag(
        s, who, name, tag, body)))


# -- deleting contents --------------------------------------------------------------------


@routes.delete(NS + "/objects")
@routes.delete(NS + "/properties")
@routes.delete(NS + "/tags")
async def delete_all(request: web.Request) -> web.Response:
    """Every object, property or tag of the namespace (the path's last word)."""
    who, name = await caller(request), _ns(request)
    kind = request.path.rsplit("/", 1)[1]
    await run(request, lambda s: contents.delete_all(s, who, name, kind))
    return web.Response(status=204)


@routes.delete(NS + "/objects/{object}")
@routes.delete(NS + "/properties/{property}")
@routes.delete(NS + "/tags/{tag}")
async def delete_one(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    kind = next(k for k in ("object", "property", "tag") if k in request.match_info)
    item = request.match_info[kind]
    await run(request, lambda s: contents.delete_one(s, who, name, kind, item))
    return web.Response(status=204)


# -- resource types -----------------------------------------------------------------------


@routes.get("/v2/metadefs/resource_types")
async def list_resource_types(request: web.Request) -> web.Response:
    who = await caller(request)
    return json_response(await run(request, lambda s: resource_types.resource_types(s, who)))


@routes.get(NS + "/resource_types")
async def list_associations(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    return json_response(await run(request, lambda s: resource_types.associations(
        s, who, name)))


@routes.post(NS + "/resource_types")
async def associate(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    body = await json_body(request)
    return json_response(await run(request, lambda s: resource_types.associate(
        s, who, name, body)), status=201)


@routes.delete(NS + "/resource_types/{resource_type}")
async def dissociate(request: web.Request) -> web.Response:
    who, name = await caller(request), _ns(request)
    rt = request.match_info["resource_type"]
    await run(request, lambda s: resource_types.dissociate(s, who, name, rt))
    return web.Response(status=204)
