"""Dynamic Large Objects, as Swift's ``dlo`` middleware.

An object with ``X-Object-Manifest: <container>/<prefix>`` reads as every
object of ``<container>`` whose name starts with ``<prefix>``, in listing
order, joined: the listing is fetched by container GET subrequests (page
after page of ``container_listing_limit`` names) and the segments are
streamed one after another. When the first page holds the whole listing, the
response has a Content-Length (the sum) and an ETag (the quoted MD5 of the
segments' ETags joined); a single byte range is served by fetching only the
bytes it needs. ``?multipart-manifest=get`` reads the manifest object itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from multidict import CIMultiDict

from common.http import ApiError
from common.ranges import Unsatisfiable, check_conditions, parse_range
from proxy.errors import fail
from proxy.features.segments import Piece, Segmented, SegmentError, http_seconds, unquote_etag
from proxy.pipeline import Handler, SwiftRequest, SwiftResponse, call
from proxy.request import SwiftPath
from proxy.state import ProxyState

FAR = 1 << 62  # "up to the end", when the end is not known


def manifest_problem(value: str) -> bool:
    """True when ``X-Object-Manifest`` is not of the form ``container/prefix``."""
    container, sep, prefix = value.partition("/")
    return (not sep or not container or not prefix or "?" in value or "&" in value
            or prefix.startswith("/"))


class DynamicLargeObject:
    name: str | None = "dlo"

    def __init__(self, listing_limit: int) -> None:
        self.listing_limit = listing_limit

    def info(self) -> dict[str, Any]:
        return {}

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if req.path.kind != "object":
            return await next_handler(req)
        if req.method in ("GET", "HEAD") and req.param("multipart-manifest") != "get":
            return await self.get_or_head(req, next_handler)
        if req.method == "PUT":
            value = req.headers.get("X-Object-Manifest")
            if value is not None and manifest_problem(value):
                raise fail(400, "X-Object-Manifest must be in the format container/prefix")
        return await next_handler(req)

    async def _listing(self, req: SwiftRequest, nxt: Handler, container: str, prefix: str,
                       marker: str = "") -> list[dict[str, Any]]:
        query = {"format": "json", "prefix": prefix}
        if marker:
            query["marker"] = marker
        sub = req.sub("GET", SwiftPath(req.path.version, req.path.account, container),
                      query=query, source="dlo")
        resp = await call(nxt, sub)
        body = await resp.read()
        if resp.status == 204:
            return []
        if not resp.ok:
            raise fail(resp.status)
        try:
            items = json.loads(body)
        except ValueError:
            raise fail(500) from None
        if not isinstance(items, list):
            raise fail(500)
        return [i for i in items if isinstance(i, dict) and "name" in i]

    async def get_or_head(self, req: SwiftRequest, nxt: Handler) -> SwiftResponse:
        resp = await nxt(req)
        value = resp.headers.get("X-Object-Manifest")
        if value is None:
            return resp
        await resp.close()
        container, _, prefix = unquote(value).partition("/")
        segments = await self._listing(req, nxt, container, prefix)
        complete = len(segments) < self.listing_limit
        listed = sum(int(s.get("bytes", 0)) for s in segments)

        headers = CIMultiDict((k, v) for k, v in resp.headers.items()
                              if k.lower() not in ("content-length", "content-range", "etag"))
        etag = ""
        if complete:
            digest = hashlib.md5(usedforsecurity=False)
            for seg in segments:
                digest.update(unquote_etag(str(seg.get("hash", ""))).encode())
            etag = digest.hexdigest()
            headers["Etag"] = f'"{etag}"'
        else:
            etag = unquote_etag(resp.headers.get("Etag"))
            if resp.headers.get("Etag"):
                headers["Etag"] = resp.headers["Etag"]
        status = check_conditions(req.headers, etag, http_seconds(headers.get("Last-Modified")),
                                  req.method)
        if status is not None:
            return SwiftResponse(status, headers)

        first: int | None = None
        last: int | None = None
        code = 200
        header = req.headers.get("Range")
        ranges = None
        if header and req.method == "GET":
            # a range is honoured when the listing shows whether it can be satisfied
            try:
                probe = parse_range(header, FAR)
            except Unsatisfiable:
                probe = None
            if probe is not None and len(probe) == 1 and (complete or probe[0][1] < listed):
                try:
                    ranges = parse_range(header, listed)
                except Unsatisfiable:
                    extra = {"Accept-Ranges": "bytes"}
                    if complete:
                        extra["Content-Range"] = f"bytes */{listed}"
                    raise fail(416, **extra) from None
        if ranges is not None:
            first, last = ranges[0]
            code = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{listed}"
            headers["Content-Length"] = str(last - first + 1)
        elif complete:
            headers["Content-Length"] = str(listed)
        if req.method == "HEAD":
            return SwiftResponse(code, headers)
        pieces = self._pieces(req, nxt, container, prefix, segments, first, last)
        body = Segmented(req, nxt, pieces, "dlo")
        try:
            await body.open_first()
        except ApiError:
            await body.close()
            raise
        except SegmentError:
            await body.close()
            raise fail(409) from None
        return SwiftResponse(code, headers, body.chunks(), on_close=body.close)

    async def _pieces(self, req: SwiftRequest, nxt: Handler, container: str, prefix: str,
                      segments: list[dict[str, Any]], first_byte: int | None,
                      last_byte: int | None) -> AsyncIterator[Piece]:
        first = first_byte or 0
        last = FAR if last_byte is None else last_byte
        while True:
            for seg in segments:
                length = int(seg.get("bytes", 0))
                if first >= length:
                    first = max(first - length, -1)
                    last = max(last - length, -1)
                    continue
                if last < 0:
                    break
                name = str(seg["name"])
                start, end = max(0, first), min(length - 1, last)
                yield Piece(SwiftPath(req.path.version, req.path.account, container, name),
                            start, end, whole=start == 0 and end == length - 1,
                            name=f"/{container}/{name}")
                first = max(first - length, -1)
                last = max(last - length, -1)
            if len(segments) < self.listing_limit or last < 0:
                return
            try:
                segments = await self._listing(req, nxt, container, prefix,
                                               str(segments[-1]["name"]))
            except ApiError as err:
                raise SegmentError(f"Got status {err.status} listing container "
                                   f"/{req.path.account}/{container}") from None


def make(st: ProxyState) -> DynamicLargeObject | None:
    p = st.cfg.proxy
    if not p.dlo:
        return None
    return DynamicLargeObject(p.container_listing_limit)
