"""proxy.features.slo / dlo / segments: Swift's large-object rules in-process.

The SLO and DLO features run for real; what lies behind them in the pipeline
(the object and container controllers) is a small in-memory store, so that
listings of a few names can stand for Swift's 10,000-name pages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator

import pytest
from multidict import CIMultiDict, MultiDict

from common.http import ApiError
from common.ranges import Unsatisfiable, parse_range
from proxy.features.dlo import DynamicLargeObject, manifest_problem
from proxy.features.segments import (
    Piece,
    Segmented,
    best_match,
    bulk_body,
    strip_swift_bytes,
)
from proxy.features.slo import StaticLargeObject
from proxy.features.slo_manifest import parse_manifest, parse_span
from proxy.pipeline import BytesBody, SwiftRequest, SwiftResponse
from proxy.request import SwiftPath


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Store:
    """Objects and listings, as the controllers behind the features answer them."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = {}
        self.listing_limit = 3
        self.calls: list[tuple[str, str, str]] = []

    def put(self, container: str, name: str, data: bytes, **headers: str) -> None:
        self.objects[(container, name)] = (data, {"Etag": md5(data), **headers})

    async def __call__(self, req: SwiftRequest) -> SwiftResponse:
        path = req.path
        assert path.container is not None
        self.calls.append((req.method, path.container, path.obj or ""))
        if path.obj is None:
            prefix, marker = req.param("prefix"), req.param("marker")
            names = sorted(n for c, n in self.objects if c == path.container
                           and n.startswith(prefix) and n > marker)[:self.listing_limit]
            items = [{"name": n, "bytes": len(self.objects[(path.container, n)][0]),
                      "hash": self.objects[(path.container, n)][1]["Etag"]} for n in names]
            return SwiftResponse.of(200, {"Content-Type": "application/json"},
                                    json.dumps(items).encode())
        key = (path.container, path.obj)
        if req.method == "PUT":
            data = await req.body.read_all(1 << 30)
            self.objects[key] = (data, {"Etag": md5(data), **{
                k: v for k, v in req.headers.items()
                if k.lower().startswith(("x-object-", "x-static", "content-type"))}})
            return SwiftResponse.of(201, {"Etag": md5(data)})
        if key not in self.objects:
            raise ApiError(404, "Not Found")
        if req.method == "DELETE":
            del self.objects[key]
            return SwiftResponse.of(204)
        data, headers = self.objects[key]
        out = {"Content-Length": str(len(data)), "Content-Type": "application/octet-stream",
               "Last-Modified": "Thu, 01 Jan 2026 00:00:00 GMT", **headers}
        try:
            ranges = parse_range(req.headers.get("Range"), len(data))
        except Unsatisfiable:
            return SwiftResponse.of(416, {**headers, "Content-Range": f"bytes */{len(data)}"})
        if ranges:
            start, end = ranges[0]
            out.update({"Content-Range": f"bytes {start}-{end}/{len(data)}",
                        "Content-Length": str(end - start + 1)})
            return SwiftResponse.of(206, out, b"" if req.method == "HEAD"
                                    else data[start:end + 1])
        return SwiftResponse.of(200, out, b"" if req.method == "HEAD" else data)


def request(method: str, container: str, obj: str | None = None, *,
            query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
            body: bytes = b"") -> SwiftRequest:
    return SwiftRequest(method=method, path=SwiftPath("v1", "AUTH_t", container, obj),
                        headers=CIMultiDict(headers or {}), query=MultiDict(query or {}),
                        body=BytesBody(body), content_length=len(body))


# --- DLO ----------------------------------------------------------------------------------


async def test_dlo_pages_past_the_listing_limit() -> None:
    store = Store()
    parts = [bytes([65 + i]) * (i + 1) for i in range(8)]  # 8 segments, 3 per page
    for i, data in enumerate(parts):
        store.put("segs", f"p/{i:02d}", data)
    store.put("c", "m", b"", **{"X-Object-Manifest": "segs/p/"})
    dlo = DynamicLargeObject(store.listing_limit)

    resp = await dlo(request("GET", "c", "m"), store)
    assert resp.status == 200
    assert await resp.read() == b"".join(parts)
    # a first page that is full: neither length nor ETag can be known up front
    assert "Content-Length" not in resp.headers
    assert resp.headers.get("Etag") == md5(b"")  # the manifest's own
    assert [c for c in store.calls if c[2] == ""] == [("GET", "segs", "")] * 3

    store.listing_limit = dlo.listing_limit = 10
    resp = await dlo(request("GET", "c", "m"), store)
    assert resp.headers["Content-Length"] == str(sum(map(len, parts)))
    assert resp.headers["Etag"] == f'"{md5("".join(md5(p) for p in parts).encode())}"'
    await resp.close()


async def test_dlo_range_in_a_full_first_page_and_beyond() -> None:
    store = Store()
    parts = [bytes([65 + i]) * 4 for i in range(7)]
    whole = b"".join(parts)
    for i, data in enumerate(parts):
        store.put("segs", f"p/{i}", data)
    store.put("c", "m", b"", **{"X-Object-Manifest": "segs/p/"})
    dlo = DynamicLargeObject(store.listing_limit)
    # within the first page (12 bytes listed): honoured, only the bytes needed fetched
    store.calls.clear()
    resp = await dlo(request("GET", "c", "m", headers={"Range": "bytes=5-9"}), store)
    assert resp.status == 206
    assert resp.headers["Content-Range"] == "bytes 5-9/12"
    assert await resp.read() == whole[5:10]
    assert ("GET", "segs", "p/0") not in store.calls
    # past the first page: Swift ignores the range and sends everything
    resp = await dlo(request("GET", "c", "m", headers={"Range": "bytes=20-25"}), store)
    assert resp.status == 200
    assert await resp.read() == whole


def test_dlo_manifest_header_rules() -> None:
    assert not manifest_problem("c/p")
    assert not manifest_problem("c/p/q")
    for bad in ("c", "c/", "/p", "c//p", "c/p?", "c/p&x"):
        assert manifest_problem(bad), bad


# --- SLO ----------------------------------------------------------------------------------


def test_parse_span() -> None:
    assert parse_span("1-2") == [(1, 2)]
    assert parse_span("5-") == [(5, None)]
    assert parse_span("-5") == [(None, 5)]
    assert parse_span("1-2,4-5") == [(1, 2), (4, 5)]
    for bad in ("", "-", "x-1", "5-2", "-0", "1"):
        with pytest.raises(ValueError):
            parse_span(bad)


def test_parse_manifest_keeps_and_normalizes() -> None:
    req = request("PUT", "c", "o")
    parsed = parse_manifest(json.dumps([
        {"path": "/s/a", "size_bytes": "12", "range": "1-2"},
        {"data": "YWJj"},
        {"path": "s/b", "etag": None}]).encode(), req)
    assert parsed[0]["size_bytes"] == 12
    assert parsed[0]["range"] == [(1, 2)]
    assert parsed[1] == {"data": "YWJj"}
    with pytest.raises(ApiError) as err:
        parse_manifest(b"[]]", req)
    assert (err.value.status, err.value.message) == (400, "Manifest must be valid JSON.\n")


async def test_slo_recursion_stops_at_ten() -> None:
    store = Store()
    store.put("s", "leaf", b"x")
    slo = StaticLargeObject(1000, 1 << 23, 10)
    previous = "/s/leaf"
    for depth in range(11):  # m0 holds the leaf, m<n> holds m<n-1>
        resp = await slo(request("PUT", "s", f"m{depth}", query={"multipart-manifest": "put"},
                                 body=json.dumps([{"path": previous}]).encode()), store)
        assert resp.status == 201
        previous = f"/s/m{depth}"
    ok = await slo(request("GET", "s", "m9"), store)
    assert await ok.read() == b"x"
    with pytest.raises(ApiError) as err:
        await slo(request("GET", "s", "m10"), store)
    assert err.value.status == 409


def test_best_match_and_bulk_bodies() -> None:
    assert best_match(None) == "text/plain"
    assert best_match("application/json") == "application/json"
    assert best_match("text/*;q=0.5, application/xml") == "application/xml"
    assert best_match("*/*") == "text/plain"
    assert best_match("image/png") is None
    with pytest.raises(ValueError):
        best_match("garbage")
    data = {"Number Deleted": 1, "Response Status": "200 OK"}
    assert bulk_body("application/xml", data, [["/c/o", "Not <found>"]], "delete") == (
        b"<delete>\n<number_deleted>1</number_deleted>\n"
        b"<response_status>200 OK</response_status>\n<errors>\n"
        b"<object><name>/c/o</name><status>Not &lt;found&gt;</status></object>\n"
        b"</errors>\n</delete>\n")
    assert bulk_body("text/plain", {}, [["/c/o", "404 Not Found"]], "upload") == (
        b"Errors:\n/c/o, 404 Not Found\n")
    assert json.loads(bulk_body("application/json", data, [], "delete")) == {
        **data, "Errors": []}


def test_strip_swift_bytes() -> None:
    assert strip_swift_bytes("text/plain;swift_bytes=12") == ("text/plain", 12)
    assert strip_swift_bytes("text/plain; charset=utf-8;swift_bytes=3") == (
        "text/plain; charset=utf-8", 3)
    assert strip_swift_bytes("application/json") == ("application/json", None)


def test_raw_manifest_parse_errors_are_per_index() -> None:
    with pytest.raises(ApiError) as err:
        parse_manifest(json.dumps([{"path": "/a/b", "range": "9-1"}, {"data": 5}]).encode(),
                       request("PUT", "c", "o"))
    assert err.value.message == ("Index 0: invalid range\n"
                                 "Index 1: data must be valid base64\n")
    assert err.value.headers == {"Content-Type": "text/plain"}


class Opened:
    """Segment GETs that count their opens and closes and stream in small chunks."""

    def __init__(self, segments: dict[str, bytes]) -> None:
        self.segments = segments
        self.log: list[str] = []

    async def __call__(self, req: SwiftRequest) -> SwiftResponse:
        name = req.path.obj or ""
        data = self.segments[name]
        self.log.append(f"open {name}")

        async def body() -> AsyncIterator[bytes]:
            for i in range(0, len(data), 4):
                yield data[i:i + 4]

        async def closed() -> None:
            self.log.append(f"close {name}")

        return SwiftResponse.of(200, {"Etag": md5(data), "Content-Length": str(len(data))},
                                body(), on_close=closed)


def pieces_of(names: list[str], segments: dict[str, bytes]) -> AsyncIterator[Piece]:
    async def gen() -> AsyncIterator[Piece]:
        for n in names:
            size = len(segments[n])
            yield Piece(SwiftPath("v1", "AUTH_a", "c", n), 0, size - 1, whole=True,
                        etag=md5(segments[n]), size=size, name=f"/c/{n}")
    return gen()


async def test_the_next_segment_is_asked_for_while_one_streams() -> None:
    segments = {"s1": b"aaaaaaaa", "s2": b"bbbbbbbb", "s3": b"cccc"}
    store = Opened(segments)
    body = Segmented(request("GET", "c", "m"), store, pieces_of(["s1", "s2", "s3"], segments),
                     "slo")
    await body.open_first()
    out = b""
    async for chunk in body.chunks():
        if not out:  # the first piece's first bytes: the second is on its way already
            await asyncio.sleep(0)
            assert store.log == ["open s1", "open s2"]
        out += chunk
    assert out == b"aaaaaaaabbbbbbbbcccc"
    assert sorted(store.log) == sorted(f"{what} s{i}" for what in ("open", "close")
                                       for i in (1, 2, 3))


async def test_a_client_gone_mid_object_closes_the_segment_asked_for_ahead() -> None:
    segments = {"s1": b"aaaaaaaa", "s2": b"bbbbbbbb", "s3": b"cccc"}
    store = Opened(segments)
    body = Segmented(request("GET", "c", "m"), store, pieces_of(["s1", "s2", "s3"], segments),
                     "slo")
    await body.open_first()
    chunks = body.chunks()
    assert await anext(chunks) == b"aaaa"
    await asyncio.sleep(0)  # the second segment's GET is answered meanwhile
    await chunks.aclose()  # the client went away
    assert "open s2" in store.log and "open s3" not in store.log
    assert sorted(store.log) == ["close s1", "close s2", "open s1", "open s2"]
