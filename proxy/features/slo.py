"""Static Large Objects, as Swift's ``slo`` middleware.

``PUT ...?multipart-manifest=put`` takes a JSON list of segments
(``{"path": "/cont/obj", "etag": ..., "size_bytes": ..., "range": ...}`` or
``{"data": <base64>}``), checks each object-backed one with a HEAD
subrequest, and stores the manifest: a JSON list in Swift's stored form
(``name``, ``bytes``, ``hash``, ``content_type``, ``last_modified``[,
``range``, ``sub_slo``]) with ``X-Static-Large-Object: True``, the large
object's ETag and size in sysmeta, and ``;swift_bytes=<size>`` appended to its
Content-Type (the container server lists that size, as Swift's does).

A GET or HEAD of a manifest answers for the large object: Content-Length is
the total, ETag the quoted MD5 of the segments' ETags, and a GET streams the
segments (nested manifests included, up to 10 deep), fetching only the byte
ranges a ``Range`` request needs. ``?multipart-manifest=get`` returns the
stored manifest (``&format=raw``: in the form a PUT takes), and
``DELETE ...?multipart-manifest=delete`` deletes the segments, then the
manifest, answering like Swift's bulk delete. The manifest's own rules (its
forms, checks and ETag) are in :mod:`proxy.features.slo_manifest`.
"""

from __future__ import annotations

import asyncio
import binascii
import dataclasses
import hashlib
import json
import mimetypes
from collections.abc import AsyncIterator
from typing import Any

from multidict import CIMultiDict

from common.http import ApiError
from common.ranges import (
    Unsatisfiable,
    check_conditions,
    closing,
    multipart_parts,
    new_boundary,
    parse_range,
)
from proxy.errors import fail
from proxy.features.segments import (
    ACCEPTABLE_FORMATS,
    CONDITIONAL,
    Piece,
    Segmented,
    SegmentError,
    best_match,
    bulk_body,
    content_type_for,
    http_seconds,
    object_path,
    quote_name,
    reason_body,
    status_line,
    strip_swift_bytes,
    unquote_etag,
)
from proxy.features.slo_manifest import (
    OVERRIDE_ETAG,
    SYSMETA_SLO_ETAG,
    SYSMETA_SLO_SIZE,
    annotate,
    check_segment,
    etag_and_size,
    is_slo,
    load_segments,
    parse_manifest,
    raw_form,
)
from proxy.pipeline import BodyTooLarge, BytesBody, Handler, SwiftRequest, SwiftResponse, call
from proxy.request import is_true
from proxy.state import ProxyState

MAX_RECURSION = 10  # nested manifests followed on GET
HEAD_CONCURRENCY = 4  # segment HEADs in flight during a manifest PUT
DELETE_CONCURRENCY = 4
SUB_MANIFEST_CACHE = 20


@dataclasses.dataclass
class _PutOutcome:
    """What a manifest PUT came to, before it is formatted for the client."""

    status: int
    problems: list[list[str]] = dataclasses.field(default_factory=list)
    response: SwiftResponse | None = None
    error: ApiError | None = None


class StaticLargeObject:
    name: str | None = "slo"

    def __init__(self, max_segments: int, max_size: int, yield_frequency: int) -> None:
        self.max_segments = max_segments
        self.max_size = max_size
        self.yield_frequency = yield_frequency

    def info(self) -> dict[str, Any]:
        return {"max_manifest_segments": self.max_segments,
                "max_manifest_size": self.max_size,
                "yield_frequency": self.yield_frequency,
                "min_segment_size": 1,
                "allow_async_delete": False}

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if req.path.kind != "object":
            return await next_handler(req)
        manifest = req.param("multipart-manifest")
        if req.method == "PUT" and manifest == "put":
            return await self.put_manifest(req, next_handler)
        if req.method == "DELETE" and manifest == "delete":
            return await self.delete_manifest(req, next_handler)
        if req.method in ("GET", "HEAD"):
            return await self.get_or_head(req, next_handler)
        if "X-Static-Large-Object" in req.headers and not req.is_sub:
            raise fail(400, "X-Static-Large-Object is a reserved header. To create a static "
                            "large object add query param multipart-manifest=put.")
        return await next_handler(req)

    # -- GET / HEAD ---------------------------------------------------------------------------

    async def get_or_head(self, req: SwiftRequest, nxt: Handler) -> SwiftResponse:
        resp = await nxt(req)
        if not is_slo(resp.headers):
            return resp
        if req.param("multipart-manifest") == "get":
            return await self._manifest_itself(req, nxt, resp)
        asked = {k.lower() for k in req.headers}
        if resp.status != 200 or "range" in asked or asked.intersection(CONDITIONAL):
            # that answer was about the manifest's own bytes: ask again for all of them
            await resp.close()
            plain = CIMultiDict((k, v) for k, v in req.headers.items()
                                if k.lower() not in CONDITIONAL and k.lower() != "range")
            resp = await nxt(dataclasses.replace(req, headers=plain))
            if not resp.ok or not is_slo(resp.headers):
                return resp
        return await self._large_object(req, nxt, resp)

    async def _fetch_manifest(self, req: SwiftRequest, nxt: Handler) -> SwiftResponse:
        sub = req.sub("GET", req.path, query={"multipart-manifest": "get"}, source="slo")
        resp = await call(nxt, sub)
        if not resp.ok:
            await resp.close()
            raise fail(resp.status if resp.status in (401, 403, 404) else 503)
        return resp

    async def _manifest_itself(self, req: SwiftRequest, nxt: Handler,
                               resp: SwiftResponse) -> SwiftResponse:
        headers = resp.headers
        if req.param("format") != "raw":
            headers["Content-Type"] = "application/json; charset=utf-8"
            return resp
        if req.method == "HEAD":
            await resp.close()
            resp = await self._fetch_manifest(req, nxt)
        body = raw_form(await resp.read())
        headers["Content-Length"] = str(len(body))
        headers["Etag"] = hashlib.md5(body, usedforsecurity=False).hexdigest()
        headers["Content-Type"] = strip_swift_bytes(headers.get("Content-Type", ""))[0]
        return SwiftResponse(resp.status, headers, body if req.method == "GET" else b"")

    async def _large_object(self, req: SwiftRequest, nxt: Handler,
                            resp: SwiftResponse) -> SwiftResponse:
        headers = CIMultiDict(resp.headers)
        etag = headers.get(SYSMETA_SLO_ETAG, "")
        try:
            size = int(headers.get(SYSMETA_SLO_SIZE, ""))
        except ValueError:
            size = -1
        try:
            part = part_number(req)
        except ApiError:
            await resp.close()
            raise
        segments: list[dict[str, Any]] = []
        if req.method == "GET" or not etag or size < 0 or part is not None:
            if req.method == "HEAD":  # the segments' lengths are in the manifest
                await resp.close()
                resp = await self._fetch_manifest(req, nxt)
            segments = load_segments(await resp.read())
            if not etag or size < 0:
                etag, size = etag_and_size(segments)
        else:
            await resp.close()
        headers.popall("Content-Range", None)
        headers["X-Manifest-Etag"] = unquote_etag(headers.get("Etag"))
        headers["Etag"] = f'"{etag}"'
        headers["Content-Length"] = str(size)
        headers["Content-Type"] = strip_swift_bytes(headers.get("Content-Type", ""))[0]
        status = check_conditions(req.headers, etag, http_seconds(headers.get("Last-Modified")),
                                  req.method)
        if status is not None:
            headers.popall("Content-Length", None)
            return SwiftResponse(status, headers)
        if part is not None:
            return await self._part(req, nxt, headers, segments, part, size)
        if req.method == "HEAD":
            return SwiftResponse(200, headers)
        try:
            ranges = parse_range(req.headers.get("Range"), size)
        except Unsatisfiable:
            raise fail(416, **{"Content-Range": f"bytes */{size}"}) from None
        return await self._serve(req, nxt, headers, segments, size, ranges)

    async def _part(self, req: SwiftRequest, nxt: Handler, headers: CIMultiDict[str],
                    segments: list[dict[str, Any]], part: int,
                    size: int) -> SwiftResponse:
        """``?part-number=N``: the manifest's Nth segment, as a range of the object
        (206 with its Content-Range, ``X-Parts-Count``; 416 past the last part)."""
        headers["X-Parts-Count"] = str(len(segments))
        if part > len(segments):
            body = b"" if req.method == "HEAD" else PART_UNSATISFIABLE.encode()
            headers["Content-Range"] = f"bytes */{size}"
            headers["Content-Length"] = str(len(body))
            return SwiftResponse(416, headers, body)
        start = sum(int(seg["segment_length"]) for seg in segments[:part - 1])
        end = start + int(segments[part - 1]["segment_length"]) - 1
        if req.method == "HEAD":
            headers["Content-Length"] = str(end - start + 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return SwiftResponse(206, headers)
        return await self._serve(req, nxt, headers, segments, size, [(start, end)])

    async def _serve(self, req: SwiftRequest, nxt: Handler, headers: CIMultiDict[str],
                     segments: list[dict[str, Any]], size: int,
                     ranges: list[tuple[int, int]] | None) -> SwiftResponse:
        """The GET of the large object, whole or ``ranges`` of it."""
        parts: list[bytes] | None = None
        tail = b""
        if ranges is None:
            code, spans = 200, [(0, size - 1)]
        elif len(ranges) == 1:
            code, spans = 206, ranges
            start, end = ranges[0]
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            headers["Content-Length"] = str(end - start + 1)
        else:
            code, spans = 206, ranges
            boundary = new_boundary()
            parts = [head for head, _, _ in
                     multipart_parts(ranges, size, headers["Content-Type"], boundary)]
            tail = closing(boundary)
            headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
            headers["Content-Length"] = str(
                sum(len(p) + (e - s + 1) + 2 for p, (s, e) in zip(parts, ranges, strict=True))
                + len(tail))
        body = Segmented(req, nxt, self._pieces(req, nxt, segments, spans, parts, tail), "slo")
        try:
            await body.open_first()
        except (SegmentError, ApiError):
            await body.close()
            raise fail(409) from None
        return SwiftResponse(code, headers, body.chunks(), on_close=body.close)

    async def _pieces(self, req: SwiftRequest, nxt: Handler, segments: list[dict[str, Any]],
                      spans: list[tuple[int, int]], parts: list[bytes] | None,
                      tail: bytes) -> AsyncIterator[Piece]:
        cache: dict[str, list[dict[str, Any]]] = {}
        for i, (first, last) in enumerate(spans):
            if parts is not None:
                yield inline(parts[i])
            async for piece in self._walk(req, nxt, segments, first, last, 1, cache):
                yield piece
            if parts is not None:
                yield inline(b"\r\n")
        if tail:
            yield inline(tail)

    async def _walk(self, req: SwiftRequest, nxt: Handler, segments: list[dict[str, Any]],
                    first: int, last: int, depth: int,
                    cache: dict[str, list[dict[str, Any]]]) -> AsyncIterator[Piece]:
        """The pieces holding bytes ``first``..``last`` of the object ``segments`` make."""
        for seg in segments:
            length = seg["segment_length"]
            if first >= length:
                first -= length
                last -= length
                continue
            if last < 0:
                return
            if "raw_data" in seg:
                yield Piece(None, max(0, first), min(length - 1, last), data=seg["raw_data"],
                            name="inline data")
            else:
                name = str(seg["name"])
                if seg.get("range"):
                    range_start, range_end = (int(x) for x in str(seg["range"]).split("-"))
                else:
                    range_start, range_end = 0, length - 1
                if is_true(str(seg.get("sub_slo", ""))):
                    if depth >= MAX_RECURSION:
                        raise SegmentError(f"While processing manifest {req.path.obj!r}, "
                                           "max recursion depth was exceeded")
                    sub = cache.get(name)
                    if sub is None:
                        sub = await self._sub_manifest(req, nxt, name)
                        if len(cache) >= SUB_MANIFEST_CACHE:
                            cache.pop(next(iter(cache)))
                        cache[name] = sub
                    async for piece in self._walk(
                            req, nxt, sub, range_start + max(0, first),
                            min(range_end, range_start + last), depth + 1, cache):
                        yield piece
                else:
                    path = object_path(req.path.account, req.path.version, name)
                    if path is None:
                        raise SegmentError(f"Bad segment name {name!r}")
                    size = int(seg["bytes"])
                    start = range_start + max(0, first)
                    end = min(range_end, range_start + last)
                    yield Piece(path, start, end, whole=start == 0 and end == size - 1,
                                etag=seg.get("hash"), size=size, name=name)
            first -= length
            last -= length

    async def _sub_manifest(self, req: SwiftRequest, nxt: Handler,
                            name: str) -> list[dict[str, Any]]:
        path = object_path(req.path.account, req.path.version, name)
        if path is None:
            raise SegmentError(f"Bad sub-manifest name {name!r}")
        resp = await call(nxt, req.sub("GET", path, query={"multipart-manifest": "get"},
                                       source="slo"))
        body = await resp.read()
        if not resp.ok:
            text = body.decode("utf-8", "replace")
            raise SegmentError(
                f"while fetching {req.path.obj}, GET of submanifest {name} failed with "
                f"status {resp.status} ({text if len(text) <= 60 else text[:57] + '...'})")
        try:
            return annotate(json.loads(body))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise SegmentError(f"while fetching {req.path.obj}, JSON-decoding of "
                               f"submanifest {name} failed with {exc}") from None

    # -- PUT ----------------------------------------------------------------------------------

    async def put_manifest(self, req: SwiftRequest, nxt: Handler) -> SwiftResponse:
        if req.headers.get("X-Copy-From"):
            raise fail(405, "Multipart Manifest PUTs cannot be COPY requests")
        if req.content_length is None:
            if req.headers.get("Transfer-Encoding", "").lower() != "chunked":
                raise fail(411)
        elif req.content_length > self.max_size:
            raise fail(413, f"Manifest File > {self.max_size} bytes")
        try:
            raw = await req.body.read_all(self.max_size)
        except BodyTooLarge:
            raise fail(413, f"Manifest File > {self.max_size} bytes") from None
        parsed = parse_manifest(raw, req)
        if sum(1 for seg in parsed if "path" in seg) > self.max_segments:
            raise fail(413, "Number of object-backed segments must be <= "
                            f"{self.max_segments}")
        try:
            fmt = best_match(req.headers.get("Accept")) or "text/plain"
        except ValueError:
            fmt = "text/plain"
        if not is_true(req.param("heartbeat")):
            outcome = await self._store(req, nxt, parsed)
            if outcome.problems:
                return SwiftResponse.of(400, {"Content-Type": fmt},
                                        bulk_body(fmt, {}, outcome.problems, "upload"))
            if outcome.error is not None:
                raise outcome.error
            assert outcome.response is not None
            return outcome.response
        return SwiftResponse.of(202, {"Content-Type": fmt},
                                self._heartbeat(req, nxt, parsed, fmt))

    async def _heartbeat(self, req: SwiftRequest, nxt: Handler, parsed: list[dict[str, Any]],
                         fmt: str) -> AsyncIterator[bytes]:
        """Spaces while the segments are checked, then the outcome in the body."""
        yield b" "
        task = asyncio.ensure_future(self._store(req, nxt, parsed))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=self.yield_frequency)
                if not task.done():
                    yield b" "
            outcome = task.result()
        finally:
            if not task.done():
                task.cancel()
        data: dict[str, Any] = {"Response Status": status_line(outcome.status)}
        if outcome.error is not None:
            data["Response Body"] = outcome.error.message or reason_body(outcome.status)
        elif outcome.response is not None:
            resp = outcome.response
            if resp.ok:
                data["Etag"] = resp.headers.get("Etag", "")
                data["Last Modified"] = resp.headers.get("Last-Modified", "")
            data["Response Body"] = (await resp.read()).decode("utf-8", "replace")
        else:
            data["Response Body"] = reason_body(outcome.status)
        yield b"\r\n\r\n" + bulk_body(fmt, data, outcome.problems, "upload")

    async def _store(self, req: SwiftRequest, nxt: Handler,
                     parsed: list[dict[str, Any]]) -> _PutOutcome:
        """HEAD every segment, then (if all is well) write the manifest."""
        indices: dict[str, list[int]] = {}
        for i, seg in enumerate(parsed):
            if "path" in seg:
                indices.setdefault(seg["path"], []).append(i)
        limit = asyncio.Semaphore(HEAD_CONCURRENCY)

        async def through_slo(sub: SwiftRequest) -> SwiftResponse:
            return await self(sub, nxt)

        async def head(name: str) -> SwiftResponse:
            path = object_path(req.path.account, req.path.version, name)
            if path is None:
                return SwiftResponse.of(404)
            async with limit:
                resp = await call(through_slo, req.sub("HEAD", path, source="slo"))
            await resp.close()
            return resp

        answers = await asyncio.gather(*(head(name) for name in indices))
        problems: list[list[str]] = []
        stored: list[dict[str, Any]] = [
            {"data": seg["data"]} if "data" in seg else {} for seg in parsed]
        for (_name, where), resp in zip(indices.items(), answers, strict=True):
            for i in where:
                stored[i] = check_segment(parsed[i], resp, i == len(parsed) - 1, problems)
        if problems:
            return _PutOutcome(400, problems)
        etag, total = etag_and_size(annotate(stored))
        client_etag = unquote_etag(req.headers.get("Etag"))
        if client_etag and client_etag != etag:
            return _PutOutcome(422, error=fail(422))
        body = json.dumps(stored).encode()
        headers = CIMultiDict((k, v) for k, v in req.headers.items()
                              if k.lower() not in ("transfer-encoding", "content-length", "etag"))
        ctype = headers.get("Content-Type") or \
            mimetypes.guess_type(req.path.obj or "")[0] or "application/octet-stream"
        headers["Content-Type"] = f"{ctype};swift_bytes={total}"
        headers[SYSMETA_SLO_ETAG] = etag
        headers[SYSMETA_SLO_SIZE] = str(total)
        headers["X-Static-Large-Object"] = "True"
        headers["Etag"] = hashlib.md5(body, usedforsecurity=False).hexdigest()
        # listings show both ETags: the manifest's (or what a feature before us, e.g.
        # the S3 front, set) as the hash, the large object's as slo_etag
        base, *params = headers.get(OVERRIDE_ETAG, "").split(";")
        kept = "".join(f";{p}" for p in params if p.split("=")[0].strip() != "slo_etag")
        headers[OVERRIDE_ETAG] = f"{base.strip() or headers['Etag']}{kept}; slo_etag={etag}"
        put = dataclasses.replace(req, headers=headers, body=BytesBody(body),
                                  content_length=len(body))
        try:
            resp = await nxt(put)
        except ApiError as err:
            return _PutOutcome(err.status, error=err)
        if resp.ok:
            resp.headers["Etag"] = f'"{etag}"'
        return _PutOutcome(resp.status, response=resp)

    # -- DELETE ?multipart-manifest=delete ------------------------------------------------------

    async def delete_manifest(self, req: SwiftRequest, nxt: Handler) -> SwiftResponse:
        try:
            fmt = best_match(req.headers.get("Accept"), ACCEPTABLE_FORMATS)
        except ValueError:
            fmt = None
        data: dict[str, Any] = {"Response Status": status_line(200), "Response Body": "",
                                "Number Deleted": 0, "Number Not Found": 0}
        failed: list[list[str]] = []
        if fmt is None:
            data["Response Status"] = status_line(406)
        else:
            try:
                doomed = await self._to_delete(req, nxt)
            except ApiError as err:
                data["Response Status"] = status_line(err.status)
                data["Response Body"] = err.message
            else:
                await self._delete_all(req, nxt, doomed, data, failed)
        ctype = content_type_for(fmt) if fmt else "text/html; charset=UTF-8"
        return SwiftResponse.of(200, {"Content-Type": ctype},
                                bulk_body(fmt, data, failed, "delete"))

    async def _to_delete(self, req: SwiftRequest, nxt: Handler) -> list[dict[str, Any]]:
        """Every segment (nested manifests' too) then the manifests, in Swift's order."""
        queue: list[dict[str, Any]] = [
            {"sub_slo": True, "name": f"/{req.path.container}/{req.path.obj}"}]
        out: list[dict[str, Any]] = []
        while queue:
            if len(queue) > self.max_segments * 10:
                raise fail(400, "Too many buffered slo segments to delete.")
            seg = queue.pop(0)
            if "data" in seg:
                continue
            if seg.get("sub_slo"):
                try:
                    queue.extend(await self._segments_of(req, nxt, str(seg["name"])))
                except ApiError as err:
                    seg["error"] = (err.status, err.message)
                queue.append({**seg, "sub_slo": False})
            else:
                out.append(seg)
        return out

    async def _segments_of(self, req: SwiftRequest, nxt: Handler,
                           name: str) -> list[dict[str, Any]]:
        path = object_path(req.path.account, req.path.version, name)
        if path is None:
            raise fail(404, "SLO manifest not found")
        resp = await call(nxt, req.sub("GET", path, query={"multipart-manifest": "get"},
                                       source="slo"))
        try:
            if resp.ok:
                if not is_slo(resp.headers):
                    raise fail(400, "Not an SLO manifest")
                try:
                    segments = json.loads(await resp.read())
                    if not isinstance(segments, list) or \
                            not all(isinstance(s, dict) for s in segments):
                        raise ValueError("not a list of objects")
                except ValueError:
                    raise fail(500, "Unable to load SLO manifest") from None
                return segments
            if resp.status == 404:
                raise fail(404, "SLO manifest not found")
            if resp.status == 401:
                raise fail(401, "401 Unauthorized")
            raise fail(500, "Unable to load SLO manifest or segment.")
        finally:
            await resp.close()

    async def _delete_all(self, req: SwiftRequest, nxt: Handler, doomed: list[dict[str, Any]],
                          data: dict[str, Any], failed: list[list[str]]) -> None:
        limit = asyncio.Semaphore(DELETE_CONCURRENCY)
        server_error = False

        async def delete(seg: dict[str, Any]) -> None:
            nonlocal server_error
            name = str(seg.get("name") or "")
            if not name:
                return
            if "error" in seg:
                code, message = seg["error"]
                if code == 404:
                    data["Number Not Found"] += 1
                else:
                    failed.append([quote_name(name), message])
                return
            path = object_path(req.path.account, req.path.version, name)
            if path is None:
                failed.append([quote_name(name), status_line(400)])
                return
            async with limit:
                resp = await call(nxt, req.sub("DELETE", path, source="slo"))
                await resp.close()
            if resp.ok:
                data["Number Deleted"] += 1
            elif resp.status == 404:
                data["Number Not Found"] += 1
            else:
                server_error = server_error or resp.status >= 500
                failed.append([quote_name(name), status_line(resp.status)])

        own = f"/{req.path.container}/{req.path.obj}"
        # the manifest goes last, once its segments are gone
        await asyncio.gather(*(delete(s) for s in doomed if s.get("name") != own))
        for seg in doomed:
            if seg.get("name") == own:
                await delete(seg)
        if failed:
            data["Response Status"] = status_line(502 if server_error else 400)
        elif not (data["Number Deleted"] or data["Number Not Found"]):
            data["Response Status"] = status_line(400)
            data["Response Body"] = "Invalid bulk delete."


PART_UNSATISFIABLE = "The requested part number is not satisfiable"


def part_number(req: SwiftRequest) -> int | None:
    """``?part-number=N`` of a large object's GET/HEAD (also through COPY): a whole
    number from 1, and no Range with it (400 with Swift's words otherwise)."""
    raw = req.param("part-number", "")
    if "part-number" not in req.query:
        return None
    try:
        number = int(raw)
        if number <= 0:
            raise ValueError(raw)
    except ValueError:
        raise fail(400, "Part number must be an integer greater than 0") from None
    if req.headers.get("Range"):
        raise fail(400, "Range requests are not supported with part number queries")
    return number


def inline(data: bytes) -> Piece:
    return Piece(None, 0, len(data) - 1, data=data)


def make(st: ProxyState) -> StaticLargeObject | None:
    p = st.cfg.proxy
    if not p.slo:
        return None
    return StaticLargeObject(p.slo_max_manifest_segments, p.slo_max_manifest_size,
                             p.slo_yield_frequency)
