"""What every image API handler shares: app state, the caller, bodies, Glance errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from common import http
from common.http import ErrorFormat, openstack_error_format_for
from imagestore.errors import Unauthorized
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


def glance_error_format_for(identity_url: str) -> ErrorFormat:
    """Glance's errors: ``{"error": {"code", "title", "message"}}``, as Keystone's."""
    return openstack_error_format_for(identity_url)


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
    return await http.json_body(request, state(request).cfg.imagestore.max_request_body)


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def json_response(data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers)
