"""Object requests: quorum writes with handoffs, failover reads streamed to the client."""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import time
from collections.abc import AsyncIterator
from typing import Any

from common.timestamp import http_date
from objectstore.protocol import (
    CONTAINER_DEVICE,
    CONTAINER_HOST,
    CONTAINER_PARTITION,
    OBJECT_BACKEND_HEADERS,
    OBJECTS,
    OPEN_EXPIRED,
    POLICY_INDEX,
    REPLACED_VALUE,
    SMALL_BODY,
    is_stored,
    object_ring,
)
from proxy.auth import authorize_object, deny
from proxy.backend import QuorumLost, node_addr, node_path, open_read
from proxy.errors import fail
from proxy.pipeline import StreamBody, SwiftRequest, SwiftResponse
from proxy.quorum import Answer, decide, read_failure, write_quorum
from proxy.request import (
    SwiftPath,
    check_delete_headers,
    check_object_post,
    check_object_put,
    is_true,
)
from proxy.state import Info, ProxyState, answers_only, new_timestamp, policy_of
from rings.ring import Node

CHUNK = 1 << 20
# Headers passed back to clients from an object server's GET/HEAD, besides the
# ones the object stores (objectstore.protocol.is_stored).
RESPONSE_HEADERS = frozenset({
    "content-type", "content-length", "etag", "last-modified", "x-timestamp",
    "accept-ranges", "content-range",
})


# Request headers an object write passes on, besides the ones the object stores.
FORWARDED = frozenset({"content-type", "etag", "x-if-delete-at", "if-none-match"})


def client_headers(node_headers: dict[str, str] | Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in node_headers.items():
        lk = k.lower()
        if lk in RESPONSE_HEADERS or is_stored(lk):
            out[k] = v
    return out


def _object_write_headers(request: SwiftRequest, ts: str, path: SwiftPath,
                          policy: int) -> dict[str, str]:
    h: dict[str, str] = {"X-Timestamp": ts, "X-Trans-Id": request.txn,
                         POLICY_INDEX: str(policy)}
    for k, v in request.headers.items():
        lk = k.lower()
        # (backend headers only come from the proxy's own features: a client's are dropped)
        if is_stored(lk) or lk in FORWARDED or lk in OBJECT_BACKEND_HEADERS:
            h[k] = v
    # The length the body is checked against (a request made inside the proxy, e.g.
    # by the S3 front, has no Content-Length header): with it a small object reaches
    # the nodes in one piece and takes their one-trip write, not the chunked stream.
    if request.content_length is not None:
        h["Content-Length"] = str(request.content_length)
    if "Content-Type" not in h and request.method == "PUT":
        guessed = mimetypes.guess_type(path.obj or "")[0]
        h["Content-Type"] = guessed or "application/octet-stream"
    return h


async def authorize_object_request(st: ProxyState, request: SwiftRequest,
                                   container: Info) -> None:
    """Raise the 401/403 the caller gets for this object request, if any. The
    account's HEAD (its ACL) is only needed for callers who do not own it."""
    if request.pre_authorized:
        return
    path = request.path
    owner = request.caller.owns(path.account)
    account = None if owner else await st.info(request.txn, path.account)
    authorize_object(request, container, account)


async def container_or_deny(st: ProxyState, request: SwiftRequest) -> Info:
    """The object's container, once the caller is known to be allowed this request."""
    path = request.path
    assert path.container is not None
    info = await st.info(request.txn, path.account, path.container, recheck_missing=True)
    await authorize_object_request(st, request, info)
    if not info.exists:
        raise fail(info.status if info.status in (404, 503) else 404)
    return info


async def handle(st: ProxyState, request: SwiftRequest) -> SwiftResponse:
    method = request.method
    path = request.path
    if method in ("GET", "HEAD"):
        policy = policy_of(await container_or_deny(st, request))
        return await get_object(st, request, path, policy)
    if method == "PUT":
        check_object_put(request.headers, request.content_length, st.cfg.proxy)
        check_delete_headers(request.headers, time.time())
        only_new = create_only(request)
        policy = policy_of(await container_or_deny(st, request))
        if only_new and await exists(st, request, path, policy):
            raise fail(412)
        return await put_object(st, request, path, policy)
    if method == "POST":
        check_object_post(request.headers, st.cfg.proxy)
        check_delete_headers(request.headers, time.time())
        policy = policy_of(await container_or_deny(st, request))
        return await post_or_delete(st, request, path, policy)
    if method == "DELETE":
        policy = policy_of(await container_or_deny(st, request))
        return await post_or_delete(st, request, path, policy)
    if request.caller.anonymous:
        raise deny(request.caller)
    raise fail(405)


def opens_expired(st: ProxyState, request: SwiftRequest) -> bool:
    """Swift's ``allow_open_expired``: with it on, ``X-Open-Expired: true`` reaches an
    object past its X-Delete-At that the expirer has not deleted yet."""
    return st.cfg.proxy.allow_open_expired and is_true(request.headers.get("X-Open-Expired"))


def create_only(request: SwiftRequest) -> bool:
    """``If-None-Match: *`` on a PUT: create the object only if it is not there.
    Swift supports no other value (400)."""
    value = request.headers.get("If-None-Match")
    if value is None:
        return False
    if "*" not in (t.strip() for t in value.split(",")):
        raise fail(400, "If-None-Match only supports *")
    return True


async def exists(st: ProxyState, request: SwiftRequest, path: SwiftPath,
                 policy: int) -> bool:
    """Whether any replica holds the object (read before an ``If-None-Match: *``
    PUT sends a byte; the object servers check again as they write)."""
    pl = st.place(object_ring(policy), path.account, path.container, path.obj)
    async with open_read(
            st.backend, pl, "HEAD",
            lambda n: node_path(OBJECTS, n, pl.part, path.account, path.container, path.obj),
            {"X-Trans-Id": request.txn, POLICY_INDEX: str(policy)},
            lambda s: s == 200) as (r, _seen):
        return r is not None


def _per_replica_headers(st: ProxyState, path: SwiftPath, base: dict[str, str],
                         replicas: int) -> list[dict[str, str]]:
    """``base`` plus, for object replica i, the container replicas it must update: i,
    i + replicas, ... (as Swift's proxy deals them), so that a policy with fewer
    replicas than the container ring still updates every container replica (one
    container ring lookup per request, not one per replica)."""
    cpl = st.place("container", path.account, path.container)
    out = []
    for i in range(replicas):
        mine = cpl.primaries[i::replicas] or [cpl.primaries[i % len(cpl.primaries)]]
        out.append({**base, CONTAINER_HOST: ",".join(node_addr(c) for c in mine),
                    CONTAINER_DEVICE: ",".join(c["device"] for c in mine),
                    CONTAINER_PARTITION: str(cpl.part)})
    return out


async def put_object(st: ProxyState, request: SwiftRequest, path: SwiftPath,
                     policy: int) -> SwiftResponse:
    ts = new_timestamp()
    base = _object_write_headers(request, ts, path, policy)
    pl = st.place(object_ring(policy), path.account, path.container, path.obj)
    replicas = len(pl.primaries)

    def path_for(node: Node) -> str:
        return node_path(OBJECTS, node, pl.part, path.account, path.container, path.obj)

    per_replica = _per_replica_headers(st, path, base, replicas)

    def headers_for(i: int, node: Node) -> dict[str, str]:
        return per_replica[i]

    length = request.content_length
    received = 0

    async def client_body() -> AsyncIterator[bytes]:
        nonlocal received
        body = request.body
        if length is not None and length <= SMALL_BODY and isinstance(body, StreamBody):
            try:
                data = await body.read_exactly(length) if length else b""
            except asyncio.IncompleteReadError:
                raise fail(499) from None
            received = length
            if data:
                yield data
            return
        async for chunk in body.chunks(CHUNK):
            received += len(chunk)
            if length is not None and received > length:
                raise fail(400, "The body is longer than its Content-Length.")
            yield chunk
        if length is not None and received != length:
            raise fail(499)

    # Every replica is connected before the body is read: when fewer than a
    # quorum can be reached, no node receives a byte and nothing is stored.
    try:
        answers = await st.backend.stream_to_all(pl, path_for, headers_for, client_body(),
                                                 write_quorum(replicas))
    except QuorumLost:
        raise fail(503, "Too few storage nodes took the upload.") from None
    if create_only(request) and any(a.status == 412 for a in answers):
        raise fail(412)  # a replica already held it (written meanwhile)
    status, agreeing = decide(answers, replicas)
    if status == 201:
        etags = {a.headers.get("Etag") or a.headers.get("ETag") for a in agreeing}
        if len(etags) != 1:
            raise fail(503, "The replicas disagree about what was written.")
        headers = {"ETag": etags.pop() or "", "Last-Modified": http_date(ts),
                   "Content-Type": "text/html; charset=UTF-8", "X-Timestamp": ts}
        # what the replicas replaced, when a feature asked (replicas may differ)
        replaced = sorted({v for a in agreeing if (v := a.headers.get(REPLACED_VALUE))})
        if replaced:
            headers[REPLACED_VALUE] = ",".join(replaced)
        return SwiftResponse.of(201, headers)
    if status == 409:
        return SwiftResponse.of(202, {"Content-Type": "text/html; charset=UTF-8"})
    raise fail(status, node_words(status, agreeing))


async def get_object(st: ProxyState, request: SwiftRequest, path: SwiftPath,
                     policy: int) -> SwiftResponse:
    """The object from the first replica that has it; large bodies stream."""
    pl = st.place(object_ring(policy), path.account, path.container, path.obj)
    fwd = {k: v for k, v in request.headers.items()
           if k.lower() in ("range", "if-match", "if-none-match", "if-modified-since",
                            "if-unmodified-since")}
    fwd["X-Trans-Id"] = request.txn
    fwd[POLICY_INDEX] = str(policy)
    if opens_expired(st, request):
        fwd[OPEN_EXPIRED] = "true"

    def good(status: int) -> bool:
        return status in (200, 206, 304, 412, 416)

    stack = contextlib.AsyncExitStack()
    try:
        r, seen = await stack.enter_async_context(open_read(
            st.backend, pl, request.method,
            lambda n: node_path(OBJECTS, n, pl.part, path.account, path.container, path.obj),
            fwd, good))
        if r is None:
            raise fail(read_failure(seen, len(pl.primaries)))
        headers = client_headers(r.headers)
        if r.status in (304, 412, 416):
            body = await r.read()
            headers.pop("Content-Length", None)
            return SwiftResponse.of(r.status, headers, body if r.status == 416 else b"")
        if request.method == "HEAD":
            return SwiftResponse.of(r.status, headers)
        if r.content_length is not None and r.content_length <= SMALL_BODY:
            body = await r.read()  # small: one buffered write to the client
            return SwiftResponse.of(r.status, headers, body)
    except BaseException:
        await stack.aclose()
        raise
    response = r

    # Each piece as the node's socket gave it (iter_chunks), not iter_any's join of
    # whatever is buffered: a stream that waited (a large object's next segment,
    # read ahead while the current one streams) holds up to two read buffers, and
    # joining them copied every byte once more into fresh memory. Dropping that copy
    # cut the proxy's CPU per MB of a 64 MiB multipart GET through S3 by a quarter.
    async def stream() -> AsyncIterator[bytes]:
        async for chunk, _ in response.content.iter_chunks():
            if chunk:
                yield chunk

    return SwiftResponse.of(r.status, headers, stream(), on_close=stack.aclose)


async def post_or_delete(st: ProxyState, request: SwiftRequest, path: SwiftPath,
                         policy: int) -> SwiftResponse:
    ts = new_timestamp()
    base = _object_write_headers(request, ts, path, policy)
    for k in ("Content-Length", "Transfer-Encoding", "ETag"):
        base.pop(k, None)
    if request.method == "POST" and opens_expired(st, request):
        base[OPEN_EXPIRED] = "true"
    pl = st.place(object_ring(policy), path.account, path.container, path.obj)
    per_replica = _per_replica_headers(st, path, base, len(pl.primaries))
    results = await st.backend.fan_out(
        pl, request.method,
        lambda n: node_path(OBJECTS, n, pl.part, path.account, path.container, path.obj),
        lambda i, n: per_replica[i])
    status, agreeing = decide(answers_only(results), len(pl.primaries))
    if request.method == "DELETE" and status in (204, 404):
        if status == 404:
            raise fail(404)
        return SwiftResponse.of(status, {"Content-Type": "text/html; charset=UTF-8"})
    if request.method == "POST" and status == 202:
        return SwiftResponse.of(202, {"Content-Type": "text/html; charset=UTF-8"})
    raise fail(status, node_words(status, agreeing))


def node_words(status: int, agreeing: list[Answer]) -> str:
    """What the nodes said of a refused write, for the 400s and 412s Swift words."""
    return agreeing[0].reason.strip() if status in (400, 412) and agreeing else ""
