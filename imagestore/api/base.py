"""What every image API handler shares: app state, the caller, bodies, Glance errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from common.http import ApiError
from identity.client import IdentityUnavailable
from imagestore.errors import (
    ClientDisconnected,
    Conflict,
    Forbidden,
    Gone,
    ImageError,
    Invalid,
    NotFound,
    RangeNotSatisfiable,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from imagestore.policy import Caller
from imagestore.state import ImageState

T = TypeVar("T")


STATE: web.AppKey[ImageState] = web.AppKey("image_state", ImageState)
CALLER: web.RequestKey[Caller] = web.RequestKey("image_caller", Caller)


def state(request: web.Request) -> ImageState:
    return request.app[STATE]


async def run(request: web.Request, fn: Callable[[Session], T]) -> T:
    """``fn(session)`` in the database's worker thread, in one transaction."""
    return await state(request).db.run(fn)


_STATUS: dict[type[ImageError], int] = {
    Invalid: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409,
    Gone: 410, TooLarge: 413, UnsupportedMediaType: 415, RangeNotSatisfiable: 416,
    Unavailable: 503, ClientDisconnected: 499,
}


def map_error(exc: Exception) -> ApiError | None:
    """Image domain errors -> HTTP (the one place this happens)."""
    if isinstance(exc, ImageError):
        for cls, status in _STATUS.items():
            if isinstance(exc, cls):
                headers = {}
                if isinstance(exc, RangeNotSatisfiable):
                    headers["Content-Range"] = f"bytes */{exc.size}"
                return ApiError(status, exc.message, headers=headers)
    if isinstance(exc, IdentityUnavailable):
        return ApiError(503, "The identity service is unavailable; try again later.")
    return None


def glance_error_format_for(identity_url: str) -> Any:
    """Errors as ``{"error": {"code", "title", "message"}}``.

    glanceclient reads ``message`` from every object in a JSON error body and
    openstacksdk from the body or its values, so both show our message.
    """
    def render(request: web.Request, err: ApiError) -> web.Response:
        body = {"error": {"code": err.status, "title": err.title, "message": err.message}}
        headers = dict(err.headers)
        if err.status == 401:
            headers["WWW-Authenticate"] = f'Keystone uri="{identity_url}"'
        return web.json_response(body, status=err.status, headers=headers)

    return render


async def caller(request: web.Request) -> Caller:
    """The caller from ``X-Auth-Token``; 401 when missing or not valid."""
    if CALLER in request:
        return request[CALLER]
    token = request.headers.get("X-Auth-Token", "")
    info = await state(request).validator.validate(token) if token else None
    if info is None:
        raise Unauthorized("This server could not verify that you are authorized to "
                           "access the document you requested.")
    who = Caller(user_id=info.user_id, project_id=info.project_id, roles=info.roles)
    request[CALLER] = who
    return who


async def json_body(request: web.Request) -> Any:
    """The JSON request body (at most ``max_request_body`` bytes); 400 when malformed."""
    limit = state(request).cfg.imagestore.max_request_body
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"The request body is larger than {limit} bytes.")
    raw = bytearray()
    while len(raw) <= limit:
        chunk = await request.content.read(limit + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    if len(raw) > limit:
        raise TooLarge(f"The request body is larger than {limit} bytes.")
    if not raw:
        raise Invalid("The request body is empty; a JSON document is required.")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"Malformed JSON in request body: {exc}") from None


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def json_response(data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers)
