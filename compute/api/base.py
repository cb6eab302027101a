"""What every compute API handler shares: state, the caller, microversions, errors, routes.

Microversions: ``OpenStack-API-Version: compute 2.x`` (or the older
``X-OpenStack-Nova-API-Version: 2.x``; ``latest`` is the newest) picks the version a
request is served at; none is 2.1, a malformed one 400, one outside
[:data:`MIN_VERSION`, :data:`MAX_VERSION`] 406. Both headers are echoed on every
answer under ``/v2.1``.

Errors are Nova's: ``{"itemNotFound": {"message": ..., "code": 404}}`` and its
siblings (:data:`FAULT_NAMES`).

Every route is served both as ``/v2.1/<path>`` (what the catalog publishes) and as
``/v2.1/{project_id}/<path>`` (older clients); the project in the URL must be the
token's, unless the caller is an admin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from common import http, microversion
from common.http import ApiError, ErrorFormat, Handler, keystone_auth_headers
from common.microversion import HEADER, ApiVersion
from compute.agent.runner import ComputeAgent
from compute.errors import Invalid, PolicyNotAuthorized, Unauthorized
from compute.policy import Caller, check_admin, check_write
from compute.state import ComputeState

T = TypeVar("T")

STATE: web.AppKey[ComputeState] = web.AppKey("compute_state", ComputeState)
AGENT: web.AppKey[ComputeAgent] = web.AppKey("compute_agent", ComputeAgent)  # when local
CALLER: web.RequestKey[Caller] = web.RequestKey("compute_caller", Caller)

PREFIX = "/v2.1"
LEGACY_HEADER = "X-OpenStack-Nova-API-Version"
MIN_VERSION = ApiVersion(2, 1)
MAX_VERSION = ApiVersion(2, 79)
VERSION: web.RequestKey[ApiVersion] = web.RequestKey("compute_version", ApiVersion)


def parse_version(header: str | None, legacy: str | None = None) -> ApiVersion:
    """The microversion asked for (2.1 when none)."""
    return microversion.parse(header, "compute", MIN_VERSION, MAX_VERSION, legacy)


@web.middleware
async def microversion_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(PREFIX + "/") or request.path in (PREFIX + "/",):
        return await handler(request)
    version = parse_version(request.headers.get(HEADER), request.headers.get(LEGACY_HEADER))
    request[VERSION] = version
    response = await handler(request)
    response.headers[HEADER] = f"compute {version}"
    response.headers[LEGACY_HEADER] = str(version)
    response.headers["Vary"] = f"{HEADER}, {LEGACY_HEADER}"
    return response


def version(request: web.Request) -> ApiVersion:
    return request.get(VERSION) or MIN_VERSION


def state(request: web.Request) -> ComputeState:
    return request.app[STATE]


async def run(request: web.Request, fn: Callable[[Session], T]) -> T:
    """``fn(session)`` in the database's worker thread, in one transaction."""
    return await state(request).db.run(fn)


# Nova's fault names: the key of its error bodies, {"badRequest": {"message", "code"}}.
FAULT_NAMES = {
    400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
    405: "badMethod", 406: "notAcceptable", 409: "conflictingRequest", 413: "overLimit",
    415: "badMediaType", 429: "overLimit", 501: "notImplemented",
    503: "serviceUnavailable",
}


def nova_error_format_for(identity_url: str) -> ErrorFormat:
    def render(request: web.Request, err: ApiError) -> web.Response:
        name = FAULT_NAMES.get(err.status, "computeFault")
        body = {name: {"message": err.message, "code": err.status}}
        response = web.json_response(body, status=err.status,
                                     headers=keystone_auth_headers(err, identity_url))
        ver = request.get(VERSION)
        if ver is not None:
            response.headers[HEADER] = f"compute {ver}"
            response.headers[LEGACY_HEADER] = str(ver)
        return response

    return render


async def caller(request: web.Request) -> Caller:
    """The caller from ``X-Auth-Token`` (401 without a valid one); a project in the URL
    must be the token's, unless the caller is an admin (403)."""
    if CALLER in request:
        return request[CALLER]
    token = request.headers.get("X-Auth-Token", "")
    info = await state(request).validator.validate(token) if token else None
    if info is None:
        raise Unauthorized("The request you have made requires authentication.")
    who = Caller(user_id=info.user_id, project_id=info.project_id, roles=info.roles,
                 token=token)
    project = request.match_info.get("project_id")
    if project is not None and not who.owns(project):
        raise PolicyNotAuthorized(f"project {project}")
    request[CALLER] = who
    return who


async def writer(request: web.Request, rule: str) -> Caller:
    who = await caller(request)
    check_write(who, rule)
    return who


async def admin(request: web.Request, rule: str) -> Caller:
    who = await caller(request)
    check_admin(who, rule)
    return who


async def json_body(request: web.Request) -> Any:
    return await http.json_body(request)


def section(body: Any, key: str) -> dict[str, Any]:
    """``body[key]`` as an object, or Nova's 400 naming it."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise Invalid(f"Invalid input for field/attribute {key}. Value: {body}. "
                      f"'{key}' is a required property")
    value: dict[str, Any] = body[key]
    return value


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def base_url(request: web.Request) -> str:
    """The API's URL as clients reach it (the configured public URL, else the request's)."""
    cfg = state(request).cfg
    if cfg.compute.public_url:
        return cfg.compute.public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def links(request: web.Request, kind: str, ident: str) -> list[dict[str, str]]:
    root = base_url(request)
    return [{"rel": "self", "href": f"{root}{PREFIX}/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{root}/{kind}/{ident}"}]


def bookmark(request: web.Request, kind: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "bookmark", "href": f"{base_url(request)}/{kind}/{ident}"}]


def next_link(request: web.Request, kind: str, marker: str) -> list[dict[str, str]]:
    url = request.url.update_query(marker=marker)
    root = base_url(request)
    return [{"rel": "next", "href": f"{root}{url.path_qs}"}]


class Routes:
    """Routes under ``/v2.1`` (and ``/v2.1/{project_id}``); ``min_version`` makes a route
    404 below the microversion that introduced it, as Nova does."""

    def __init__(self) -> None:
        self.table = web.RouteTableDef()

    def _add(self, method: str, path: str, min_version: int) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            async def handler(request: web.Request) -> web.StreamResponse:
                if version(request).minor < min_version:
                    raise ApiError(404, "The resource could not be found.")
                return await fn(request)

            wrapped = handler if min_version > 1 else fn
            for prefix in (PREFIX, PREFIX + "/{project_id}"):
                self.table.route(method, prefix + path)(wrapped)
            return fn

        return deco

    def get(self, path: str, min_version: int = 1) -> Callable[[Handler], Handler]:
        return self._add("GET", path, min_version)

    def post(self, path: str, min_version: int = 1) -> Callable[[Handler], Handler]:
        return self._add("POST", path, min_version)

    def put(self, path: str, min_version: int = 1) -> Callable[[Handler], Handler]:
        return self._add("PUT", path, min_version)

    def delete(self, path: str, min_version: int = 1) -> Callable[[Handler], Handler]:
        return self._add("DELETE", path, min_version)


def query_int(request: web.Request, name: str, *, minimum: int = 0) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"Invalid input for query parameters {name}. Value: {raw}. "
                      f"'{raw}' is not a 'integer'") from None
    if value < minimum:
        raise Invalid(f"Invalid input for query parameters {name}. Value: {raw}. "
                      f"{value} is less than the minimum of {minimum}")
    return value


def query_bool(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    low = raw.strip().lower()
    if low in ("1", "t", "true", "on", "y", "yes"):
        return True
    if low in ("0", "f", "false", "off", "n", "no"):
        return False
    raise Invalid(f"Invalid input for query parameters {name}. Value: {raw}. "
                  f"'{raw}' is not a 'boolean'")


Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]
