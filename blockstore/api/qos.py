"""QoS specs (admins): ``/qos-specs`` create, list, show, set keys (PUT), unset keys
(``delete_keys``), associations, associate / disassociate with a volume type,
disassociate from all, delete (``force`` when associated); rules in
``blockstore.core.qos``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import shapes, views
from blockstore.api.base import (
    admin,
    json_body,
    json_response,
    limit_param,
    offset_param,
    page,
    query_flag,
    run,
    section,
    sort_order,
)
from blockstore.core import qos
from blockstore.policy import Caller

routes = web.RouteTableDef()
Q = "/v3/{project_id}/qos-specs"
ONE = Q + "/{qos_id}"
SORT_KEYS = {"name": m.QosSpecs.name, "id": m.QosSpecs.id,
             "created_at": m.QosSpecs.created_at, "consumer": m.QosSpecs.consumer}


def _one(request: web.Request, who: Caller, spec: m.QosSpecs) -> dict[str, Any]:
    """Cinder's answer for one QoS spec: the spec, and its links beside it."""
    v = views.view(request, who)
    return {"qos_specs": views.qos_specs(v, spec, shapes.SHOW),
            "links": views.links(v.base, "qos-specs", spec.id)}


@routes.post(Q)
async def create(request: web.Request) -> web.Response:
    who = await admin(request, "volume_extension:qos_specs_manage:create")
    name, consumer, specs = qos.check_new(section(await json_body(request), "qos_specs"))
    return json_response(await run(request, lambda s: _one(
        request, who, qos.create(s, name, consumer, specs))))


@routes.get(Q)
async def listing(request: web.Request) -> web.Response:
    who = await admin(request, "volume_extension:qos_specs_manage:get_all")
    order = sort_order(request, SORT_KEYS)
    limit, offset, marker = limit_param(request), offset_param(request), \
        request.query.get("marker")
    v = views.view(request, who)
    return json_response(await run(request, lambda s: page(
        request, "qos_specs", qos.listing(s, order),
        lambda spec: views.qos_specs(v, spec, shapes.LIST),
        limit=limit, marker=marker, offset=offset)))


@routes.get(ONE)
async def show(request: web.Request) -> web.Response:
    who = await admin(request, "volume_extension:qos_specs_manage:get")
    qid = request.match_info["qos_id"]
    return json_response(await run(request, lambda s: _one(request, who, qos.get(s, qid))))


@routes.put(ONE)
async def set_keys(request: web.Request) -> web.Response:
    """Set specs; the answer is the request's own ``qos_specs``, as Cinder's is."""
    await admin(request, "volume_extension:qos_specs_manage:update")
    qid = request.match_info["qos_id"]
    body = section(await json_body(request), "qos_specs")
    await run(request, lambda s: qos.set_keys(s, qid, body))
    return json_response({"qos_specs": body})


@routes.put(ONE + "/delete_keys")
async def delete_keys(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:qos_specs_manage:delete")
    qid = request.match_info["qos_id"]
    body = await json_body(request)
    keys = body.get("keys") if isinstance(body, dict) else None
    await run(request, lambda s: qos.delete_keys(s, qid, keys))
    return web.Response(status=202)


@routes.delete(ONE)
async def delete(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:qos_specs_manage:delete")
    qid = request.match_info["qos_id"]
    force = query_flag(request, "force")
    await run(request, lambda s: qos.delete(s, qid, force=force))
    return web.Response(status=202)


@routes.get(ONE + "/associations")
async def associations(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:qos_specs_manage:get_all")
    qid = request.match_info["qos_id"]
    return json_response({"qos_associations": await run(
        request, lambda s: qos.associations(s, qid))})


def _association(change: Callable[[Session, str, str | None], None]) -> Any:
    """``GET .../associate`` or ``.../disassociate`` with ``vol_type_id``: 202."""
    async def handler(request: web.Request) -> web.Response:
        await admin(request, "volume_extension:qos_specs_manage:update")
        qid, type_id = request.match_info["qos_id"], request.query.get("vol_type_id")
        await run(request, lambda s: change(s, qid, type_id))
        return web.Response(status=202)

    return handler


routes.get(ONE + "/associate")(_association(qos.associate))
routes.get(ONE + "/disassociate")(_association(qos.disassociate))


@routes.get(ONE + "/disassociate_all")
async def disassociate_all(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:qos_specs_manage:update")
    qid = request.match_info["qos_id"]
    await run(request, lambda s: qos.disassociate_all(s, qid))
    return web.Response(status=202)
