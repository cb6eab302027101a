"""The helpers under :mod:`objectstore.db_server` (container and account servers).

* :func:`parse_db_request` -- device, partition, names and DB path of a request;
* :func:`parse_listing` -- a listing query (``limit``, ``marker``,
  ``end_marker``, ``prefix``, ``delimiter``, ``reverse``) as Swift checks it;
* :func:`metadata_updates` / :func:`metadata_headers` -- stored metadata
  headers in and out;
* :func:`db_resources` -- the app's :class:`BrokerCache` and
  :class:`GroupCommitter`, created once per application and closed with it;
* :func:`db_handler` -- the one place where the lower layers' errors become
  ``common.errors`` classes (bad device 507, bad timestamp 400, missing DB 404).

Handlers raise ``common.errors`` classes; error bodies are plain text lines
(:func:`objectstore.server.text_error`): these are internal servers, the proxy
owns the client-facing format.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from common import timestamp as tsmod
from common.errors import BadRequest, InsufficientStorage, NotFound, PreconditionFailed, Unavailable
from objectstore.db import BrokerCache, DatabaseNotFound, GroupCommitter, InvalidMetadata, Metadata
from objectstore.db.base import UnsupportedSchema
from objectstore.node import NODE, DeviceError, NodeContext
from objectstore.protocol import is_true as truthy
from rings.hashing import hash_path

LISTING_LIMIT = 10000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- application resources ----------------------------------------------------


class DbResources:
    """One app's open brokers and group committer (made on first use)."""

    def __init__(self) -> None:
        self._brokers: BrokerCache | None = None
        self._committer: GroupCommitter | None = None

    def brokers(self, node: NodeContext) -> BrokerCache:
        if self._brokers is None:
            self._brokers = BrokerCache(node)
        return self._brokers

    def committer(self, node: NodeContext) -> GroupCommitter:
        if self._committer is None:
            self._committer = GroupCommitter(node.run)
        return self._committer

    async def close(self, node: NodeContext | None) -> None:
        if self._committer is not None:
            await self._committer.close()
        if self._brokers is not None:
            try:
                if node is None:
                    raise RuntimeError("no node")
                await node.run(self._brokers.close_all)
            except RuntimeError:  # the node's pool is already shut down
                self._brokers.close_all()


DB_RESOURCES: web.AppKey[DbResources] = web.AppKey("db_resources", DbResources)


def setup_db_resources(app: web.Application) -> None:
    """Give ``app`` its :class:`DbResources` once, closed at cleanup (idempotent)."""
    if DB_RESOURCES in app:
        return
    app[DB_RESOURCES] = DbResources()

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[DB_RESOURCES].close(app.get(NODE))

    app.cleanup_ctx.append(ctx)


# -- requests -------------------------------------------------------------------


@dataclass
class DbRequest:
    """A parsed ``/containers/...`` or ``/accounts/...`` request."""

    node: NodeContext
    resources: DbResources
    device: str
    device_path: Path
    partition: str
    account: str
    container: str | None
    db_path: Path
    headers: Mapping[str, str]

    @property
    def brokers(self) -> BrokerCache:
        return self.resources.brokers(self.node)

    @property
    def committer(self) -> GroupCommitter:
        return self.resources.committer(self.node)


def db_path(node: NodeContext, device_path: Path, kind: str, partition: str,
            account: str, container: str | None = None) -> Path:
    """``<device>/<kind>/<part>/<hash[-3:]>/<hash>/<hash>.db`` (kind: containers|accounts)."""
    h = hash_path(account, container, hash_prefix=node.hash_prefix,
                  hash_suffix=node.hash_suffix)
    return device_path / kind / partition / h[-3:] / h / f"{h}.db"


def parse_db_request(request: web.Request, kind: str) -> DbRequest:
    """Device (507 when not served), partition (digits), names; BadRequest (400)."""
    node = request.app[NODE]
    mi = request.match_info
    device_path = node.device_path(mi["device"])  # DeviceError -> 507 in db_handler
    part = mi["part"]
    if not part.isdigit():
        raise BadRequest(f"bad partition {part!r}")
    account = mi["account"]
    container = mi.get("container") if kind == "containers" else None
    for name in (account, container):
        if name is not None and (not name or "\x00" in name):
            raise BadRequest("bad name")
    path = db_path(node, device_path, kind, part, account, container)
    return DbRequest(node, request.app[DB_RESOURCES], mi["device"], device_path, part,
                     account, container, path, request.headers)


def require_timestamp(headers: Mapping[str, str], name: str = "X-Timestamp") -> str:
    """The normalized timestamp in header ``name``; BadTimestamp (400) when missing/bad."""
    value = headers.get(name)
    if value is None:
        raise tsmod.BadTimestamp(f"missing {name}")
    return tsmod.normalize(value)


def header_int(headers: Mapping[str, str], name: str, default: int | None = None) -> int:
    """A non-negative integer header; 400 when malformed or (without default) missing."""
    value = headers.get(name)
    if value is None:
        if default is None:
            raise BadRequest(f"missing {name}")
        return default
    try:
        n = int(value)
    except ValueError:
        raise BadRequest(f"bad {name}: {value!r}") from None
    if n < 0:
        raise BadRequest(f"bad {name}: {value!r}")
    return n


def db_handler(handler: Handler) -> Handler:
    """Turn the lower layers' errors in a container/account handler into
    ``common.errors`` classes, in one place."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DeviceError as exc:
            raise InsufficientStorage(f"{exc}\n") from None
        except tsmod.BadTimestamp as exc:
            raise BadRequest(f"{exc}\n") from None
        except DatabaseNotFound:
            raise NotFound("Not Found\n") from None
        except InvalidMetadata as exc:
            raise BadRequest(str(exc)) from None
        except UnsupportedSchema as exc:
            raise Unavailable(f"{exc}\n") from None

    return wrapped


# -- metadata -----------------------------------------------------------------------


def canonical_header(name: str) -> str:
    """``x-container-meta-color`` -> ``X-Container-Meta-Color``."""
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def metadata_updates(headers: Mapping[str, str], prefixes: tuple[str, ...],
                     exact: frozenset[str], timestamp: str) -> dict[str, tuple[str, str]]:
    """The stored headers of a request as ``{Header-Name: (value, timestamp)}``.

    ``prefixes`` and ``exact`` are lower case. An empty value is kept: it
    deletes the key (newer timestamp wins per key).
    """
    out: dict[str, tuple[str, str]] = {}
    for key, value in headers.items():
        low = key.lower()
        if low in exact or any(low.startswith(p) and len(low) > len(p) for p in prefixes):
            out[canonical_header(key)] = (value.strip(), timestamp)
    return out


def metadata_headers(metadata: Metadata) -> dict[str, str]:
    """The stored headers to return: every key with a non-empty value."""
    return {k: v for k, (v, _ts) in metadata.items() if v != ""}


# -- listings -------------------------------------------------------------------------


@dataclass(frozen=True)
class ListingParams:
    limit: int = LISTING_LIMIT
    marker: str = ""
    end_marker: str = ""
    prefix: str = ""
    delimiter: str = ""
    reverse: bool = False
    path: str | None = None  # container listings: the pseudo-directory to list


def parse_listing(query: Mapping[str, str]) -> ListingParams:
    """A listing query, checked as Swift does: a limit over 10000 is 412 and a
    non-numeric one is ignored; a delimiter may be any length (one ending with
    U+10FFFF, past which nothing sorts, is 412)."""
    limit = LISTING_LIMIT
    raw = query.get("limit")
    if raw and raw.isdigit():
        limit = int(raw)
        if limit > LISTING_LIMIT:
            raise PreconditionFailed(f"Maximum limit is {LISTING_LIMIT}\n")
    values = {k: query.get(k, "") for k in ("marker", "end_marker", "prefix", "delimiter")}
    delimiter = values["delimiter"]
    if delimiter and ord(delimiter[-1]) >= 0x10FFFF:
        raise PreconditionFailed("Bad delimiter\n")
    return ListingParams(limit, values["marker"], values["end_marker"], values["prefix"],
                         delimiter, truthy(query.get("reverse")), query.get("path"))


def json_listing(body: bytes) -> web.Response:
    return web.Response(body=body, status=200,
                        headers={"Content-Type": "application/json; charset=utf-8"})
