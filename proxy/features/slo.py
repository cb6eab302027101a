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
manifest, answering like Swift's bulk delete.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import email.utils
import hashlib
import json
import mimetypes
import string
from collections.abc import AsyncIterator
from datetime import UTC, datetime
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
from proxy.pipeline import BodyTooLarge, BytesBody, Handler, SwiftRequest, SwiftResponse, call
from proxy.state import ProxyState

SYSMETA_SLO_ETAG = "X-Object-Sysmeta-Slo-Etag"
SYSMETA_SLO_SIZE = "X-Object-Sysmeta-Slo-Size"
MAX_RECURSION = 10  # nested manifests followed on GET
HEAD_CONCURRENCY = 4  # segment HEADs in flight during a manifest PUT
DELETE_CONCURRENCY = 4
SUB_MANIFEST_CACHE = 20
TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
B64_CHARS = frozenset(string.ascii_letters + string.digits + "+/")
SEGMENT_KEYS = {"data": frozenset[str](), "path": frozenset({"range", "etag", "size_bytes"})}


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE


def is_slo(headers: CIMultiDict[str]) -> bool:
    return is_true(headers.get("X-Static-Large-Object"))


# --- the manifest a client PUTs -------------------------------------------------------------


Span = tuple[int | None, int | None]  # one "M-N", "M-" or "-N" of a segment's range


def parse_span(spec: str) -> list[Span]:
    """The ranges of ``spec`` (the part after ``bytes=``); ValueError when invalid."""
    out: list[Span] = []
    for item in spec.split(","):
        first, dash, last = item.strip().partition("-")
        if not dash or (first and not first.isdigit()) or (last and not last.isdigit()):
            raise ValueError(spec)
        start = int(first) if first else None
        end = int(last) if last else None
        if start is None and end is None:
            raise ValueError(spec)
        if start is None and end == 0:
            raise ValueError(spec)
        if start is not None and end is not None and end < start:
            raise ValueError(spec)
        out.append((start, end))
    return out


def spans_for_length(spans: list[Span], length: int) -> list[tuple[int, int]]:
    """``[(start, end_exclusive)]`` of ``spans`` that an object of ``length`` satisfies."""
    out = []
    for start, end in spans:
        if start is None:
            assert end is not None
            out.append((max(0, length - end), length))
        elif end is None:
            if start < length:
                out.append((start, length))
        elif start < length:
            out.append((start, min(end + 1, length)))
    return out


def strict_b64decode(value: Any) -> bytes:
    if not isinstance(value, str) or any(c not in B64_CHARS for c in value.strip("=")):
        raise ValueError("not base64")
    try:
        return base64.b64decode(value)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


def parse_manifest(raw: bytes, req: SwiftRequest) -> list[dict[str, Any]]:
    """The client's manifest, checked as far as it can be without looking at segments.

    Raises 400 with Swift's messages: one ``Index <i>: <problem>`` line per bad entry.
    """
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise fail(400, "Manifest must be valid JSON.\n") from None
    if not isinstance(parsed, list):
        raise fail(400, "Manifest must be a list.\n")
    errors: list[str] = []
    last = len(parsed) - 1
    for i, seg in enumerate(parsed):
        if not isinstance(seg, dict):
            errors.append(f"Index {i}: not a JSON object")
            continue
        kind = next((k for k in SEGMENT_KEYS if k in seg), None)
        if kind is None:
            errors.append(f"Index {i}: expected keys to include one of "
                          + " or ".join(repr(k) for k in SEGMENT_KEYS))
            continue
        extra = sorted(k for k in seg if k != kind and k not in SEGMENT_KEYS[kind])
        if extra:
            errors.append(f"Index {i}: extraneous keys " + ", ".join(json.dumps(k) for k in extra))
            continue
        if kind == "data":
            try:
                data = strict_b64decode(seg["data"])
            except ValueError:
                errors.append(f"Index {i}: data must be valid base64")
                continue
            if not data:
                errors.append(f"Index {i}: too small; each segment must be at least 1 byte.")
                continue
            seg["data"] = base64.b64encode(data).decode("ascii")
            continue
        if not isinstance(seg["path"], str):
            errors.append(f'Index {i}: "path" must be a string')
            continue
        if not (seg.get("etag") is None or isinstance(seg["etag"], str)):
            errors.append(f'Index {i}: "etag" must be a string or null (if provided)')
            continue
        if "/" not in seg["path"].strip("/"):
            errors.append(f"Index {i}: path does not refer to an object. Path must be of the "
                          "form /container/object.")
            continue
        size = seg.get("size_bytes")
        if size is not None:
            try:
                size = seg["size_bytes"] = int(size)
            except (TypeError, ValueError):
                errors.append(f"Index {i}: invalid size_bytes")
                continue
            if size < 1 and i != last:
                errors.append(f"Index {i}: too small; each segment must be at least 1 byte.")
                continue
        target = object_path(req.path.account, req.path.version, seg["path"])
        if target is not None and (target.container, target.obj) == (
                req.path.container, req.path.obj):
            errors.append(f"Index {i}: manifest must not include itself as a segment")
            continue
        if seg.get("range"):
            try:
                if not isinstance(seg["range"], str):
                    raise ValueError("not a string")
                spans = parse_span(seg["range"])
            except ValueError:
                errors.append(f"Index {i}: invalid range")
                continue
            if len(spans) > 1:
                errors.append(f"Index {i}: multiple ranges (only one allowed)")
                continue
            if size is not None and len(spans_for_length(spans, size)) != 1:
                errors.append(f"Index {i}: unsatisfiable range")
                continue
            seg["range"] = spans
    if parsed and all(isinstance(d, dict) and "data" in d for d in parsed):
        errors.append("Inline data segments require at least one object-backed segment.")
    if errors:
        raise ApiError(400, "".join(e + "\n" for e in errors),
                       headers={"Content-Type": "text/plain"})
    return parsed


def _last_modified(value: str | None) -> str:
    try:
        when = email.utils.parsedate_to_datetime(value or "")
    except (TypeError, ValueError, IndexError):
        when = datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")


def slo_etag(stored: list[dict[str, Any]]) -> str:
    """MD5 of the segments' ETags (``etag:range;`` for ranged ones, MD5 of inline data)."""
    digest = hashlib.md5(usedforsecurity=False)
    for seg in stored:
        if "data" in seg:
            part = hashlib.md5(base64.b64decode(seg["data"]), usedforsecurity=False).hexdigest()
        elif seg.get("range"):
            part = f"{seg['hash']}:{seg['range']};"
        else:
            part = seg["hash"]
        digest.update(part.encode("ascii"))
    return digest.hexdigest()


# --- the manifest as stored -----------------------------------------------------------------


def annotate(stored: Any) -> list[dict[str, Any]]:
    """Stored segments with ``segment_length`` (and inline data decoded as ``raw_data``)."""
    if not isinstance(stored, list):
        raise ValueError("a manifest is a list")
    out = []
    for entry in stored:
        if not isinstance(entry, dict):
            raise ValueError("a segment is an object")
        seg = dict(entry)
        if "data" in seg:
            seg["raw_data"] = base64.b64decode(seg.pop("data"))
            seg["segment_length"] = len(seg["raw_data"])
        else:
            if seg.get("range"):
                first, last = (int(x) for x in str(seg["range"]).split("-"))
                seg["segment_length"] = last - first + 1
            else:
                seg["segment_length"] = int(seg["bytes"])
            str(seg["name"])
        out.append(seg)
    return out


def load_segments(body: bytes) -> list[dict[str, Any]]:
    try:
        return annotate(json.loads(body))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise fail(500, "Unable to load SLO manifest") from None


def raw_form(body: bytes) -> bytes:
    """The stored manifest in the form ``?multipart-manifest=put`` takes."""
    try:
        segments = json.loads(body)
        if not isinstance(segments, list):
            raise ValueError("not a list")
        for seg in segments:
            if "data" in seg:
                continue
            seg.pop("content_type", None)
            seg.pop("last_modified", None)
            seg.pop("sub_slo", None)
            seg["path"] = seg.pop("name", None)
            seg["size_bytes"] = seg.pop("bytes", None)
            seg["etag"] = seg.pop("hash", None)
    except (ValueError, TypeError, AttributeError):
        raise fail(500, "Unable to load SLO manifest") from None
    return json.dumps(segments, sort_keys=True).encode()


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
        segments: list[dict[str, Any]] = []
        if req.method == "GET" or not etag or size < 0:
            if req.method == "HEAD":  # a manifest from before the sysmeta: count it
                await resp.close()
                resp = await self._fetch_manifest(req, nxt)
            segments = load_segments(await resp.read())
            if not etag or size < 0:
                etag, size = legacy_etag_and_size(segments)
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
        if req.method == "HEAD":
            return SwiftResponse(200, headers)
        try:
            ranges = parse_range(req.headers.get("Range"), size)
        except Unsatisfiable:
            raise fail(416, **{"Content-Range": f"bytes */{size}"}) from None
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
        stored: list[dict[str, Any]] = [{} for _ in parsed]
        total = 0
        for i, seg in enumerate(parsed):
            if "data" in seg:
                stored[i] = {"data": seg["data"]}
                total += len(base64.b64decode(seg["data"]))
        for (_name, where), resp in zip(indices.items(), answers, strict=True):
            for i in where:
                length, entry = check_segment(parsed[i], resp, i == len(parsed) - 1, problems)
                stored[i] = entry
                total += length
        if problems:
            return _PutOutcome(400, problems)
        etag = slo_etag(stored)
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


def inline(data: bytes) -> Piece:
    return Piece(None, 0, len(data) - 1, data=data)


def legacy_etag_and_size(segments: list[dict[str, Any]]) -> tuple[str, int]:
    """ETag and size of a manifest stored without them (counted from its segments)."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    for seg in segments:
        size += seg["segment_length"]
        if "raw_data" in seg:
            part = hashlib.md5(seg["raw_data"], usedforsecurity=False).hexdigest()
        elif seg.get("range"):
            part = f"{seg['hash']}:{seg['range']};"
        else:
            part = str(seg["hash"])
        digest.update(part.encode("ascii"))
    return digest.hexdigest(), size


def check_segment(seg: dict[str, Any], resp: SwiftResponse, allow_empty: bool,
                  problems: list[list[str]]) -> tuple[int, dict[str, Any]]:
    """A segment as its HEAD answered: (its length in the large object, its stored entry).

    Problems go to ``problems`` as ``[quoted path, reason]``, as Swift reports them.
    """
    name = seg["path"]
    quoted = quote_name(name)
    if not resp.ok:
        problems.append([quoted, status_line(resp.status)])
        return 0, {}
    try:
        size = int(resp.headers.get("Content-Length", "0"))
    except ValueError:
        size = 0
    length = size
    seg_range: str | None = None
    if seg.get("range"):
        got = spans_for_length(seg["range"], size)
        if not got:
            problems.append([quoted, "Unsatisfiable Range"])
        elif got != [(0, size)]:
            seg_range = f"{got[0][0]}-{got[0][1] - 1}"
            length = got[0][1] - got[0][0]
    if length < 1 and not allow_empty:
        problems.append([quoted, "Too small; each segment must be at least 1 byte."])
    if seg.get("size_bytes") is not None and seg["size_bytes"] != size:
        problems.append([quoted, "Size Mismatch"])
    etag = unquote_etag(resp.headers.get("Etag"))
    if seg.get("etag") is not None and seg["etag"] != etag:
        problems.append([quoted, "Etag Mismatch"])
    entry: dict[str, Any] = {
        "name": "/" + name.lstrip("/"), "bytes": size, "hash": etag,
        "content_type": resp.headers.get("Content-Type", ""),
        "last_modified": _last_modified(resp.headers.get("Last-Modified")),
    }
    if seg_range is not None:
        entry["range"] = seg_range
    if is_slo(resp.headers):
        entry["sub_slo"] = True
    return length, entry


def make(st: ProxyState) -> StaticLargeObject | None:
    p = st.cfg.proxy
    if not p.slo:
        return None
    return StaticLargeObject(p.slo_max_manifest_segments, p.slo_max_manifest_size,
                             p.slo_yield_frequency)
