"""Handlers for image data: upload, download (with ranges), stage, import."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.orm import Session

from common.http import TXN_ID
from common.ranges import Unsatisfiable, parse_range
from imagestore import core, imports
from imagestore.api.base import caller, json_body, media_type, run, state
from imagestore.errors import (
    Forbidden,
    NotFound,
    RangeNotSatisfiable,
    Unavailable,
    UnsupportedMediaType,
)
from imagestore.policy import Caller
from imagestore.stores.base import NotFound as StoreNotFound
from imagestore.stores.base import StoreError

routes = web.RouteTableDef()
OCTET = "application/octet-stream"


def _octet_stream(request: web.Request) -> None:
    kind = media_type(request)
    if kind and kind != OCTET:
        raise UnsupportedMediaType(f"Image data must be sent as {OCTET}, not {kind}.")


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_any():
        yield chunk


@routes.put("/v2/images/{image_id}/file")
async def upload(request: web.Request) -> web.Response:
    who = await caller(request)
    _octet_stream(request)
    await imports.upload(state(request), who, request.match_info["image_id"],
                         _body(request), request.content_length)
    return web.Response(status=204)


@routes.put("/v2/images/{image_id}/stage")
async def stage(request: web.Request) -> web.Response:
    who = await caller(request)
    _octet_stream(request)
    await imports.stage(state(request), who, request.match_info["image_id"],
                        _body(request), request.content_length)
    return web.Response(status=204)


@routes.post("/v2/images/{image_id}/import")
async def start_import(request: web.Request) -> web.Response:
    who = await caller(request)
    body = await json_body(request)
    await imports.start_import(state(request), who, request.match_info["image_id"], body,
                               request_id=request.get(TXN_ID))
    return web.Response(status=202)


def _readable(s: Session, who: Caller, image_id: str) -> tuple[str | None, int, str | None]:
    img = core.get_image(s, who, image_id)
    if img.status == "deactivated" and not who.is_admin:
        raise Forbidden("The requested image has been deactivated. Image data download "
                        "is forbidden.")
    if img.status not in ("active", "deactivated") or not img.location:
        return None, 0, None
    return img.location, img.size or 0, img.checksum


@routes.get("/v2/images/{image_id}/file")
async def download(request: web.Request) -> web.StreamResponse:
    who = await caller(request)
    image_id = request.match_info["image_id"]
    location, size, checksum = await run(request, lambda s: _readable(s, who, image_id))
    if location is None:
        return web.Response(status=204)
    try:
        ranges = parse_range(request.headers.get("Range"), size)
    except Unsatisfiable:
        raise RangeNotSatisfiable(f"Requested range is outside the image's {size} bytes.",
                                  size) from None
    if ranges is not None and len(ranges) > 1:
        raise RangeNotSatisfiable("Only one byte range per request is supported.", size)
    start, end = ranges[0] if ranges else (0, size - 1)
    length = end - start + 1 if size else 0
    store = state(request).store
    try:
        stream = await store.get(location, start, length)
    except StoreNotFound:
        raise NotFound(f"The data of image {image_id} is missing from the store.") from None
    except StoreError as exc:
        raise Unavailable(f"The image store failed: {exc}") from None
    async with stream:
        resp = web.StreamResponse(status=206 if ranges else 200)
        resp.content_type = OCTET
        resp.content_length = length
        if ranges:
            resp.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        elif checksum:
            resp.headers["Content-MD5"] = checksum
        await resp.prepare(request)
        async for chunk in stream:
            await resp.write(chunk)
        await resp.write_eof()
    return resp
