"""Version discovery: ``/`` lists the API versions, ``/v2.1`` describes this one (its
minimum and maximum microversions). Both answer without a token, as Nova's do."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from compute.api.base import MAX_VERSION, MIN_VERSION, PREFIX, base_url, json_response

UPDATED = "2013-07-23T11:33:21Z"
routes = web.RouteTableDef()


def describe(request: web.Request) -> dict[str, Any]:
    return {"id": "v2.1", "status": "CURRENT", "version": str(MAX_VERSION),
            "min_version": str(MIN_VERSION), "updated": UPDATED,
            "links": [{"rel": "self", "href": f"{base_url(request)}{PREFIX}/"},
                      {"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


@routes.get("/")
async def versions(request: web.Request) -> web.Response:
    version = describe(request)
    return json_response({"versions": [{k: version[k] for k in (
        "id", "status", "version", "min_version", "updated")} | {
        "links": [version["links"][0]]}]})


@routes.get(PREFIX)
@routes.get(PREFIX + "/")
async def this_version(request: web.Request) -> web.Response:
    return json_response({"version": describe(request)})
