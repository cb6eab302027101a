"""Server-side copy, as Swift's ``copy`` middleware.

``COPY /v1/a/c/o`` with ``Destination: c2/o2`` (and ``Destination-Account``),
or ``PUT /v1/a/c2/o2`` with ``X-Copy-From: c/o`` (and ``X-Copy-From-Account``),
reads the source with a GET subrequest and writes the destination with a PUT
subrequest fed by the GET's body as it arrives: nothing is held whole. Both
go through the rest of the pipeline, so both are authorized as the caller
(reading the source, writing the destination), a large object is read joined
(the copy sits before SLO/DLO) and a versioned destination keeps its old
version.

Metadata, as Swift: the source's user metadata, system metadata and object
headers (``Content-Disposition``, ``X-Delete-At``, ...) are copied, then the
request's own headers override them; ``X-Fresh-Metadata: true`` keeps only
the source's system metadata. ``?multipart-manifest=get`` copies a manifest
itself instead of the object it describes.

The small helpers here (names from headers, Swift's plain-bodied errors) are
shared by the symlink, versioning and bulk features.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote, unquote

from multidict import CIMultiDict, MultiDict

from objectstore.protocol import OVERRIDE_SYSMETA
from proxy.errors import fail
from proxy.pipeline import BytesBody, Handler, IterBody, SwiftRequest, SwiftResponse
from proxy.request import SwiftPath, is_true, parse_path
from proxy.state import ProxyState

HTML = "text/html; charset=UTF-8"
TEXT = "text/plain"
COPY_FROM_FORM = "X-Copy-From header must be of the form <container name>/<object name>"
DESTINATION_FORM = "Destination header must be of the form <container name>/<object name>"
# Source headers that describe the source itself, not what a copy inherits.
NOT_INHERITED = frozenset({
    "x-static-large-object", "x-object-manifest", "etag", "content-type", "x-timestamp",
    "x-backend-timestamp", "content-length", "content-range", "transfer-encoding",
})


class Reply(Exception):
    """Answer at once with ``response``: Swift's errors whose body is a bare message."""

    def __init__(self, response: SwiftResponse) -> None:
        super().__init__(response.status)
        self.response = response


def reply(status: int, body: str, content_type: str = HTML, **headers: str) -> Reply:
    """``status`` with ``body`` as it is (Swift's ``HTTPxxx(body=...)``)."""
    return Reply(SwiftResponse.of(status, {"Content-Type": content_type, **headers},
                                  body.encode()))


def split_header_path(value: str, error: str) -> tuple[str, str]:
    """``(container, object)`` from a %-encoded ``container/object`` header value
    (a leading ``/`` allowed), or 412 with ``error``."""
    text = unquote(value)
    if not text.startswith("/"):
        text = "/" + text
    _, container, obj = [*text.split("/", 2), "", ""][:3]
    if not container or not obj:
        raise reply(412, error)
    return container, obj


def check_account(value: str) -> str:
    """An account name from a header (%-encoded), as Swift's check_account_format."""
    account = unquote(value)
    if not account:
        raise reply(412, "Account name cannot be empty")
    if "/" in account:
        raise reply(412, "Account name cannot contain slashes")
    return account


def object_path(version: str, account: str, container: str, obj: str) -> SwiftPath:
    """The path of an object named by a feature, with Swift's name rules applied."""
    return parse_path("/" + "/".join(quote(p, safe="") for p in
                                     (version, account, container, obj)))


def is_object_meta(key: str) -> bool:
    return key.lower().startswith(("x-object-meta-", "x-object-sysmeta-",
                                   "x-object-transient-sysmeta-"))


def is_object_sysmeta(key: str) -> bool:
    return key.lower().startswith("x-object-sysmeta-")


def content_length(resp: SwiftResponse) -> int | None:
    try:
        return int(resp.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


class Copy:
    name: str | None = None  # Swift's copy middleware has no /info entry

    def __init__(self, st: ProxyState) -> None:
        self.st = st

    def info(self) -> dict[str, Any]:
        return {}

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if req.path.kind != "object":
            return await next_handler(req)
        try:
            if req.method == "PUT" and req.headers.get("X-Copy-From"):
                return await self.copy(req, next_handler)
            if req.method == "COPY":
                return await self.copy(self.as_put(req), next_handler)
        except Reply as r:
            return r.response
        return await next_handler(req)

    def as_put(self, req: SwiftRequest) -> SwiftRequest:
        """``COPY`` is a ``PUT`` of the destination with ``X-Copy-From`` the source."""
        if not req.headers.get("Destination"):
            raise reply(412, "Destination header required")
        headers = CIMultiDict(req.headers)
        path = req.path
        account = path.account
        if "Destination-Account" in headers:
            account = check_account(headers.popall("Destination-Account")[0])
            headers["X-Copy-From-Account"] = quote(path.account)
        container, obj = split_header_path(headers["Destination"], DESTINATION_FORM)
        headers.popall("Destination")
        headers["X-Copy-From"] = quote(f"/{path.container}/{path.obj}")
        headers.popall("Content-Length", None)
        headers.popall("Transfer-Encoding", None)
        return replace(req, method="PUT", headers=headers, content_length=0, body=BytesBody(),
                       path=object_path(path.version, account, container, obj))

    async def copy(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if req.content_length:
            raise reply(400, "Copy requests require a zero byte body", TEXT)
        src_account = req.path.account
        if req.headers.get("X-Copy-From-Account"):
            src_account = check_account(req.headers["X-Copy-From-Account"])
        container, obj = split_header_path(req.headers["X-Copy-From"], COPY_FROM_FORM)
        src_path = object_path(req.path.version, src_account, container, obj)
        manifest_get = req.query.get("multipart-manifest") == "get"

        get_query = dict(req.query)
        if manifest_get:
            get_query["format"] = "raw"
        get_headers = {k: v for k, v in req.headers.items()
                       if k.lower() not in ("content-length", "transfer-encoding")}
        src = await next_handler(req.sub("GET", src_path, headers=get_headers, query=get_query,
                                         source="copy"))
        if src.status >= 300:
            return src
        try:
            length = content_length(src)
            if length is None or length > self.st.cfg.proxy.max_file_size:
                raise fail(413)
            sink_headers, sink_query = self.sink(req, src, manifest_get)
            resp = await next_handler(req.sub(
                "PUT", req.path, headers=dict(sink_headers), query=dict(sink_query),
                body=IterBody(src.iter()), content_length=length, source="copy"))
        finally:
            await src.close()
        if resp.ok:
            for k, v in self.response_headers(src_account, container, obj, src,
                                              sink_headers).items():
                resp.headers[k] = v
        return resp

    @staticmethod
    def sink(req: SwiftRequest, src: SwiftResponse,
             manifest_get: bool) -> tuple[CIMultiDict[str], MultiDict[str]]:
        """The destination PUT's headers and query."""
        sink: CIMultiDict[str] = CIMultiDict()
        if is_true(req.headers.get("X-Fresh-Metadata")):
            sink.update(req.headers)
            for k, v in src.headers.items():
                if is_object_sysmeta(k):
                    sink[k] = v
        else:
            for k, v in src.headers.items():
                if k.lower() not in NOT_INHERITED:
                    sink.add(k, v)
            sink.update(req.headers)
        query = MultiDict(req.query)
        is_slo = "X-Static-Large-Object" in src.headers
        is_dlo = "X-Object-Manifest" in src.headers
        if manifest_get:
            if is_slo:
                query["multipart-manifest"] = "put"
            if is_dlo:
                query.popall("multipart-manifest", None)
                sink["X-Object-Manifest"] = src.headers["X-Object-Manifest"]
        if src.status == 200 and not is_slo and (not is_dlo or manifest_get):
            # the copy is checked against the source's ETag (not for a range, nor
            # for a manifest whose ETag is not that of the bytes read)
            sink["Etag"] = src.headers.get("Etag", "").strip('"')
        else:
            sink.popall("Etag", None)
        for k in ("X-Copy-From", "X-Copy-From-Account", "Content-Length", "Transfer-Encoding"):
            sink.popall(k, None)
        if not manifest_get:  # the copy lists as its own bytes, not as its source did
            for k in [k for k in sink if k.lower().startswith(OVERRIDE_SYSMETA)]:
                sink.popall(k, None)
        if not req.headers.get("Content-Type"):
            sink["Content-Type"] = src.headers.get("Content-Type", "application/octet-stream")
        return sink, query

    @staticmethod
    def response_headers(account: str, container: str, obj: str, src: SwiftResponse,
                         sink: CIMultiDict[str]) -> dict[str, str]:
        out = {"X-Copied-From-Account": quote(account),
               "X-Copied-From": quote(f"{container}/{obj}")}
        if "Last-Modified" in src.headers:
            out["X-Copied-From-Last-Modified"] = src.headers["Last-Modified"]
        for k, v in sink.items():
            if is_object_meta(k) or k.lower() == "x-delete-at":
                out[k] = v
        return out


def make(st: ProxyState) -> Copy | None:
    return Copy(st) if st.cfg.proxy.copy else None
