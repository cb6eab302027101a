"""What every volume API handler shares: state, the caller, bodies, microversions, errors."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web
from sqlalchemy import Select
from sqlalchemy.orm import Session

from blockstore.core import volumes
from blockstore.core.validation import check_metadata, check_only_key
from blockstore.errors import Invalid, NotAcceptable, NotFound, Unauthorized
from blockstore.policy import Caller, check_admin, check_project, check_write
from blockstore.state import BlockState
from common import http
from common.http import TXN_ID, ApiError, ErrorFormat, Handler, keystone_auth_headers

T = TypeVar("T")


class HasId(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=HasId)
Sel = TypeVar("Sel", bound=Select[Any])

STATE: web.AppKey[BlockState] = web.AppKey("block_state", BlockState)
CALLER: web.RequestKey[Caller] = web.RequestKey("block_caller", Caller)

MIN_VERSION = (3, 0)
MAX_VERSION = (3, 70)
VERSION_HEADER = "OpenStack-API-Version"


@dataclass(frozen=True, order=True)
class ApiVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, minor: int) -> bool:
        return self.minor >= minor


VERSION: web.RequestKey[ApiVersion] = web.RequestKey("block_version", ApiVersion)
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")


def parse_version(header: str | None) -> ApiVersion:
    """The microversion an ``OpenStack-API-Version`` header asks for (3.0 without one)."""
    lo, hi = ApiVersion(*MIN_VERSION), ApiVersion(*MAX_VERSION)
    if not header:
        return lo
    wanted = None
    for part in header.split(","):
        words = part.strip().split()
        if len(words) == 2 and words[0].lower() == "volume":
            wanted = words[1]
    if wanted is None:
        return lo
    if wanted.lower() == "latest":
        return hi
    match = _VERSION_RE.match(wanted)
    if match is None:
        raise Invalid(f"API Version String {wanted} is of invalid format. Must be of format "
                      "MajorNum.MinorNum.")
    version = ApiVersion(int(match.group(1)), int(match.group(2)))
    if not lo <= version <= hi:
        raise NotAcceptable(f"Version {version} is not supported by the API. Minimum is "
                            f"{lo} and maximum is {hi}.")
    return version


@web.middleware
async def microversion_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Negotiate the microversion of ``/v3/...`` requests and echo it in the answer."""
    if not request.path.startswith("/v3/"):
        return await handler(request)
    version = parse_version(request.headers.get(VERSION_HEADER))
    request[VERSION] = version
    response = await handler(request)
    response.headers[VERSION_HEADER] = f"volume {version}"
    response.headers["Vary"] = VERSION_HEADER
    return response


def version(request: web.Request) -> ApiVersion:
    return request.get(VERSION) or ApiVersion(*MIN_VERSION)


def need_version(request: web.Request, minor: int, what: str) -> None:
    """404 (as Cinder answers a method its microversion lacks) below 3.``minor``."""
    if not version(request).at_least(minor):
        raise NotFound(f"{what} needs microversion 3.{minor} or later.")


def state(request: web.Request) -> BlockState:
    return request.app[STATE]


async def run(request: web.Request, fn: Callable[[Session], T]) -> T:
    """``fn(session)`` in the database's worker thread, in one transaction."""
    return await state(request).db.run(fn)


# Cinder's fault names, the key of its error bodies: {"badRequest": {"message", "code"}}.
FAULT_NAMES = {
    400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
    405: "badMethod", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
    501: "notImplemented", 503: "serviceUnavailable",
}


def cinder_error_format_for(identity_url: str) -> ErrorFormat:
    def render(request: web.Request, err: ApiError) -> web.Response:
        name = FAULT_NAMES.get(err.status, "computeFault")
        body = {name: {"message": err.message, "code": err.status}}
        return web.json_response(body, status=err.status,
                                 headers=keystone_auth_headers(err, identity_url))

    return render


async def caller(request: web.Request) -> Caller:
    """The caller from ``X-Auth-Token``; 401 when missing or not valid; 403 when the
    URL's project is not the token's (unless admin)."""
    if CALLER in request:
        return request[CALLER]
    token = request.headers.get("X-Auth-Token", "")
    info = await state(request).validator.validate(token) if token else None
    if info is None:
        raise Unauthorized("The request you have made requires authentication.")
    who = Caller(user_id=info.user_id, project_id=info.project_id, roles=info.roles,
                 token=token, request_id=request.get(TXN_ID, ""))
    project = request.match_info.get("project_id")
    if project is not None:
        check_project(who, project)
    request[CALLER] = who
    return who


async def writer(request: web.Request) -> Caller:
    """The caller (see :func:`caller`), who must hold a role that may write."""
    who = await caller(request)
    check_write(who)
    return who


async def admin(request: web.Request, action: str) -> Caller:
    """The caller, who must be an admin (403 naming the policy ``action`` otherwise)."""
    who = await caller(request)
    check_admin(who, action)
    return who


async def json_body(request: web.Request) -> Any:
    """The JSON request body; 400 when empty or malformed."""
    return await http.json_body(request)


Listing = Callable[[web.Request, bool], Awaitable[web.Response]]


M = TypeVar("M", bound=HasId)


def read_routes(routes: web.RouteTableDef, path: str, key: str, listing: Listing,
                get: Callable[[Session, Caller, str], M],
                render: Callable[[web.Request, Session, Caller, M], dict[str, Any]], *,
                since: tuple[int, str] | None = None) -> None:
    """A resource's reads: ``GET path`` (brief listing), ``path/detail`` (detailed) and
    ``path/{<key>_id}`` (one, as ``{key: render(...)}``); ``since`` (3.x, what): the
    resource's first microversion (the listing checks it itself)."""
    one = path + "/{" + key + "_id}"

    async def index(request: web.Request) -> web.Response:
        return await listing(request, False)

    async def detail(request: web.Request) -> web.Response:
        return await listing(request, True)

    async def show(request: web.Request) -> web.Response:
        if since is not None:
            need_version(request, *since)
        who = await caller(request)
        ident = request.match_info[f"{key}_id"]
        return json_response({key: await run(request, lambda s: render(
            request, s, who, get(s, who, ident)))})

    routes.get(path)(index)
    routes.get(path + "/detail")(detail)
    routes.get(one)(show)


def metadata_routes(routes: web.RouteTableDef, path: str, key: str,
                    get: Callable[[Session, Caller, str], Any]) -> None:
    """A volume's or snapshot's metadata: ``path/{<key>_id}/metadata`` (show; POST
    merges, PUT replaces) and ``.../metadata/{key}`` (show, set, delete)."""
    one = path + "/{" + key + "_id}/metadata"

    def ident(request: web.Request) -> str:
        return request.match_info[f"{key}_id"]

    async def show(request: web.Request) -> web.Response:
        who = await caller(request)
        return json_response({"metadata": await run(
            request, lambda s: dict(get(s, who, ident(request)).metadata_ or {}))})

    async def change(request: web.Request) -> web.Response:
        who = await writer(request)
        meta = check_metadata(section(await json_body(request), "metadata"))
        replace = request.method == "PUT"
        return json_response({"metadata": await run(request, lambda s: volumes.set_metadata(
            get(s, who, ident(request)), meta, replace=replace))})

    async def show_item(request: web.Request) -> web.Response:
        who = await caller(request)
        name = request.match_info["key"]
        return json_response({"meta": await run(request, lambda s: volumes.metadata_item(
            get(s, who, ident(request)), name))})

    async def set_item(request: web.Request) -> web.Response:
        who = await writer(request)
        name = request.match_info["key"]
        meta = check_metadata(section(await json_body(request), "meta"))
        check_only_key(meta, name)
        await run(request, lambda s: volumes.set_metadata(get(s, who, ident(request)), meta,
                                                          replace=False))
        return json_response({"meta": meta})

    async def delete_item(request: web.Request) -> web.Response:
        who = await writer(request)
        name = request.match_info["key"]
        await run(request, lambda s: volumes.delete_metadata(get(s, who, ident(request)),
                                                             name))
        return web.Response(status=200)

    routes.get(one)(show)
    routes.post(one)(change)
    routes.put(one)(change)
    routes.get(one + "/{key}")(show_item)
    routes.put(one + "/{key}")(set_item)
    routes.delete(one + "/{key}")(delete_item)


def one_action(body: Any) -> tuple[str, Any]:
    """The one action of an ``.../action`` body: (name, arguments); 400 otherwise."""
    if not isinstance(body, dict) or len(body) != 1:
        raise Invalid("Invalid input received: one action per request.")
    name, args = next(iter(body.items()))
    return str(name), args


def delete_route(routes: web.RouteTableDef, path: str, key: str,
                 delete: Callable[[BlockState, Caller, str], Awaitable[None]]) -> None:
    """``DELETE path/{<key>_id}``: ``delete`` starts it, the answer is 202."""
    async def handler(request: web.Request) -> web.Response:
        who = await writer(request)
        await delete(state(request), who, request.match_info[f"{key}_id"])
        return web.Response(status=202)

    routes.delete(path + "/{" + key + "_id}")(handler)


def section(body: Any, key: str) -> dict[str, Any]:
    """``body[key]`` as a dict, or 400 naming the key."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise Invalid(f"Missing required element '{key}' in request body.")
    value: dict[str, Any] = body[key]
    return value


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def project_url(request: web.Request, *parts: str) -> str:
    base = state(request).cfg.blockstore_url()
    return "/".join([f"{base}/v3/{request.match_info.get('project_id', '')}", *parts])


def query_flag(request: web.Request, name: str,
               words: tuple[str, ...] = ("1", "true", "yes")) -> bool:
    """A query flag (``?cascade=true``): true when its value is one of ``words``."""
    return request.query.get(name, "").lower() in words


def project_scope(request: web.Request, who: Caller, stmt: Sel, column: Any) -> Sel:
    """A listing's rows limited to the caller's project; an admin may ask for another
    project's (``project_id``) or every project's (``all_tenants``)."""
    if who.is_admin and request.query.get("project_id"):
        return stmt.where(column == request.query["project_id"])
    if who.is_admin and query_flag(request, "all_tenants"):
        return stmt
    return stmt.where(column == (who.project_id or ""))


def sort_order(request: web.Request, keys: dict[str, Any], default: str = "created_at",
               since: dict[str, int] | None = None) -> list[Any]:
    """The ORDER BY of a listing: ``sort=key[:dir],...`` or ``sort_key``/``sort_dir``
    (lists, each direction ``desc`` unless given); 400 for an unknown key or direction,
    or a key ``since`` names that the request's microversion (3.x) does not have yet."""
    q = request.query
    if since:
        keys = {k: col for k, col in keys.items()
                if version(request).at_least(since.get(k, 0))}
    items = (q.get("sort") or q.get("sort_key") or default).split(",")
    dirs = q.get("sort_dir", "desc").split(",") if "sort" not in q else ["desc"]
    out = []
    for i, item in enumerate(items):
        key, _, direction = item.strip().partition(":")
        direction = direction or (dirs[i] if i < len(dirs) else dirs[-1])
        if key not in keys:
            raise Invalid(f"Invalid input received: Invalid sort key {key}.")
        if direction.lower() not in ("asc", "desc"):
            raise Invalid(f"Invalid input received: Invalid sort direction {direction}.")
        col = keys[key]
        out.append(col.asc() if direction.lower() == "asc" else col.desc())
    return out


def limit_param(request: web.Request) -> int | None:
    """The ``limit`` query parameter: None when absent, 400 when not a count."""
    raw = request.query.get("limit")
    if raw is None:
        return None
    if not raw.isdigit():
        raise Invalid(f"Invalid input received: limit must be a non-negative integer "
                      f"(got {raw!r}).")
    return int(raw)


def offset_param(request: web.Request) -> int:
    """The ``offset`` query parameter: 0 when absent, 400 when not a count."""
    raw = request.query.get("offset", "0")
    if not raw.isdigit():
        raise Invalid("Invalid input received: offset must be a non-negative integer.")
    return int(raw)


def page(request: web.Request, kind: str, rows: list[R], render: Callable[[R], Any], *,
         limit: int | None, marker: str | None, offset: int = 0) -> dict[str, Any]:
    """One page of a listing, as Cinder answers it: the rows after ``marker`` (404 when
    it is not among them) and ``offset``, at most ``limit`` of them, a ``<kind>_links``
    next link when more follow, and ``count`` when ``with_count`` is asked for."""
    if marker is not None:
        ids = [r.id for r in rows]
        if marker not in ids:
            raise NotFound(f"Marker {marker} could not be found.")
        rows = rows[ids.index(marker) + 1:]
    rows = rows[offset:]
    more = limit is not None and len(rows) > limit
    if limit is not None:
        rows = rows[:limit]
    items = [render(r) for r in rows]
    out: dict[str, Any] = {kind: items}
    if more and rows:
        out[f"{kind}_links"] = [{"rel": "next", "href": str(request.url.update_query(
            marker=rows[-1].id))}]
    if request.query.get("with_count", "").lower() in ("1", "true"):
        out["count"] = len(items)
    return out
