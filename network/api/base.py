"""What every networking API handler shares: state, the caller, bodies, one
transaction per call, and Neutron's error body."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common import http
from common.config import StrataConfig
from common.db import Database
from common.errors import Conflict, Unauthorized
from common.http import ApiError, ErrorFormat, keystone_auth_headers
from identity.client import TokenValidator
from network.agent import HostAgent
from network.core.base import Ctx
from network.errors import HTTPBadRequest
from network.policy import Caller

T = TypeVar("T")
log = logging.getLogger(__name__)

# Transactions that lost a race on a unique address or MAC (PostgreSQL) are tried
# again after a random pause that grows with each loss: the racers that lost
# together would otherwise all take the next free address again at once, and
# with the database's four workers busy one request could lose eight times in a
# row (seen on a fast machine: 24 ports made by 8 clients at once).
RETRIES = 16
RETRY_PAUSE = 0.005  # seconds; the n-th retry waits up to n times this


@dataclass
class NetState:
    cfg: StrataConfig
    db: Database
    validator: TokenValidator
    session: aiohttp.ClientSession
    host: str  # this host's agent name
    agent: HostAgent | None = None

    def wake(self) -> None:
        if self.agent is not None:
            self.agent.wake()


STATE: web.AppKey[NetState] = web.AppKey("network_state", NetState)
CALLER: web.RequestKey[Caller] = web.RequestKey("network_caller", Caller)

# Neutron names the kind of every error; the API's own refusals are webob's.
DEFAULT_TYPES = {
    400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "HTTPForbidden",
    404: "HTTPNotFound", 405: "HTTPMethodNotAllowed", 409: "HTTPConflict",
    412: "HTTPPreconditionFailed", 413: "HTTPRequestEntityTooLarge",
    415: "HTTPUnsupportedMediaType", 501: "HTTPNotImplemented",
    503: "HTTPServiceUnavailable",
}


def neutron_error_format_for(identity_url: str) -> ErrorFormat:
    """``{"NeutronError": {"type", "message", "detail"}}``, ``type`` naming the error."""
    def render(request: web.Request, err: ApiError) -> web.Response:
        kind = getattr(err.cause, "kind", "") or DEFAULT_TYPES.get(
            err.status, "HTTPInternalServerError")
        body = {"NeutronError": {"type": kind, "message": err.message, "detail": ""}}
        return web.json_response(body, status=err.status,
                                 headers=keystone_auth_headers(err, identity_url))

    return render


def state(request: web.Request) -> NetState:
    return request.app[STATE]


async def caller(request: web.Request) -> Caller:
    """The caller from ``X-Auth-Token``; 401 when missing or not valid."""
    if CALLER in request:
        return request[CALLER]
    token = request.headers.get("X-Auth-Token", "")
    info = await state(request).validator.validate(token) if token else None
    if info is None:
        raise Unauthorized("Authentication required")
    who = Caller(user_id=info.user_id, project_id=info.project_id, roles=info.roles,
                 token=token)
    request[CALLER] = who
    return who


async def run(request: web.Request, fn: Callable[[Ctx], T], *, write: bool = False) -> T:
    """``fn(ctx)`` in one transaction of the database's worker thread. A write that
    lost a race on a unique address or MAC is tried again (after a random pause:
    :data:`RETRIES`); a write wakes the host agent once it committed."""
    st = state(request)
    who = await caller(request)

    def work(s: Session) -> T:
        return fn(Ctx(s, who, st.cfg.network, st.host, instant_active=st.agent is None))

    for attempt in range(RETRIES):
        try:
            result = await st.db.run(work)
            break
        except IntegrityError as exc:
            if attempt == RETRIES - 1:
                log.warning("network: a write kept conflicting: %s", exc)
                raise Conflict("The request conflicted with a concurrent change; try "
                               "again.") from None
            await asyncio.sleep(random.uniform(0, RETRY_PAUSE * (attempt + 1)))
    if write:
        st.wake()
    return result


async def json_body(request: web.Request) -> Any:
    return await http.json_body(request)


def member_body(body: Any, member: str) -> dict[str, Any]:
    """``body[member]`` as a dict; 400 naming it otherwise."""
    if not isinstance(body, dict) or member not in body:
        raise HTTPBadRequest(f"Unable to find '{member}' in request body")
    value = body[member]
    if not isinstance(value, dict):
        raise HTTPBadRequest(f"Invalid input for {member}. Reason: a JSON object is "
                             "required.")
    return value


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def no_content() -> web.Response:
    return web.Response(status=204)


def base_url(request: web.Request) -> str:
    return state(request).cfg.network_url()
