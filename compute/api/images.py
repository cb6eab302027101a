"""Server actions that make images: ``createImage`` and ``shelve`` (with
``shelveOffload`` and ``unshelve``).

The image is made here, queued, with the caller's token (so their project owns it);
the agent of the server's host fills it (:mod:`compute.agent.images`). From 2.45
``createImage`` answers ``{"image_id"}``; before, a ``Location`` header naming the
image, as Nova does.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from common.httpclient import RemoteError
from compute import models as m
from compute import quotas
from compute.api.base import json_response, run, state, version
from compute.api.servers import request_id
from compute.core import requests, servers, snapshots
from compute.errors import Invalid
from compute.policy import Caller


async def _with_image(request: web.Request, who: Caller, uuid: str, key: str,
                      fields_of: Any) -> tuple[m.Instance, str | None]:
    """Check the server may take ``key`` now, make its image (None for a volume-backed
    shelve) and queue the agent's work with it; (server, image id)."""
    st = state(request)
    inst = await run(request, lambda s: servers.checked(s, who, uuid, key))
    fields = fields_of(inst)
    image_id: str | None = None
    client = st.images(who.token)
    if fields is not None:
        image_id = str((await client.create(fields))["id"])
    st.tokens.put(uuid, who.token, who.project_id or "")
    try:
        inst = await run(request, lambda s: servers.start_action(
            s, who, uuid, key, request_id=request_id(request),
            args={"image_id": image_id} if image_id else {}))
    except BaseException:
        if image_id is not None:
            with contextlib.suppress(RemoteError):
                await client.delete(image_id)
        raise
    if inst.host:
        st.nudge(inst.host)
    return inst, image_id


async def create_image(request: web.Request, who: Caller, uuid: str,
                       args: Any) -> web.Response:
    if not isinstance(args, dict):
        raise Invalid("Invalid input for field/attribute createImage.")
    requests.check_keys(args, {"name", "metadata"})
    name = snapshots.check_name(args.get("name"))
    metadata = requests.check_metadata(args.get("metadata", {}))
    st = state(request)
    await run(request, lambda s: quotas.check_metadata(s, st.cfg.compute,
                                                       who.project_id or "", metadata))
    _, image_id = await _with_image(
        request, who, uuid, "create_image",
        lambda inst: snapshots.image_fields(inst, name, metadata))
    if version(request).at_least(45):
        return json_response({"image_id": image_id}, status=202)
    response = web.Response(status=202)
    response.headers["Location"] = f"{st.cfg.imagestore_url().rstrip('/')}/v2/images/{image_id}"
    return response


async def shelve(request: web.Request, who: Caller, uuid: str, args: Any) -> web.Response:
    def fields_of(inst: m.Instance) -> dict[str, Any] | None:
        if snapshots.volume_backed(inst):
            return None
        return snapshots.image_fields(inst, f"{inst.display_name}-shelved", {},
                                      image_type="snapshot")

    await _with_image(request, who, uuid, "shelve", fields_of)
    return web.Response(status=202)


async def shelve_offload(request: web.Request, who: Caller, uuid: str,
                         args: Any) -> web.Response:
    inst = await run(request, lambda s: servers.start_action(
        s, who, uuid, "shelve_offload", request_id=request_id(request)))
    if inst.host:
        state(request).nudge(inst.host)
    return web.Response(status=202)


async def unshelve(request: web.Request, who: Caller, uuid: str, args: Any) -> web.Response:
    if args is not None:
        if not isinstance(args, dict) or version(request).minor < 77:
            raise Invalid("Invalid input for field/attribute unshelve. Value: "
                          f"{args}. {args!r} is not of type 'null'")
        requests.check_keys(args, {"availability_zone"})
        zone = args.get("availability_zone")
        if zone is not None and zone != state(request).cfg.compute.availability_zone:
            raise Invalid("The requested availability zone is not available")
    st = state(request)
    st.tokens.put(uuid, who.token, who.project_id or "")
    inst = await run(request, lambda s: servers.start_action(
        s, who, uuid, "unshelve", request_id=request_id(request)))
    if inst.host:
        st.nudge(inst.host)
    return web.Response(status=202)

