"""What Static and Dynamic Large Objects share: streaming segments one after another.

A large object's body is a series of :class:`Piece` s, each a byte range of one
segment object (or, for SLO, some inline data). :class:`Segmented` fetches
them one at a time by GET subrequests carrying the client's identity, and
relays each segment's body chunk by chunk: nothing is buffered but the chunk
in hand, so a download of any size needs the same few megabytes of memory.

The first segment is opened before the response headers are sent, so a large
object whose first segment is gone or changed fails cleanly (409 Conflict,
as Swift); a later broken segment can only cut the body short, which the
client sees as a body shorter than its Content-Length.

Also here: Swift's ``Accept`` negotiation and its bulk-style result bodies
(``Number Deleted``, ``Errors``), used by SLO's manifest PUT and DELETE.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from proxy.errors import EXPLANATIONS
from proxy.pipeline import Handler, SwiftRequest, SwiftResponse, call
from proxy.request import SwiftPath

# What a GET/HEAD passes on to the object server that would apply to the
# manifest's own bytes instead of the large object's.
CONDITIONAL = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
ACCEPTABLE_FORMATS = ("text/plain", "application/json", "application/xml", "text/xml")


class SegmentError(Exception):
    """A segment is missing, unreadable or no longer what the manifest says."""


@dataclass
class Piece:
    """Bytes ``start``..``end`` (inclusive) of one segment object, or of inline ``data``."""

    path: SwiftPath | None
    start: int
    end: int
    whole: bool = False  # the piece is the whole object: no Range header needed
    etag: str | None = None  # what the segment's ETag must be (SLO)
    size: int | None = None  # what the segment's size must be (SLO)
    data: bytes = b""
    name: str = ""  # "/container/object", for messages

    @property
    def length(self) -> int:
        return self.end - self.start + 1


# Where Swift's own status names differ from the standard phrases.
SWIFT_TITLES = {413: "Request Entity Too Large", 416: "Requested Range Not Satisfiable",
                422: "Unprocessable Entity", 499: "Client Disconnect", 500: "Internal Error"}


def status_line(status: int) -> str:
    """``404 Not Found``: a status as Swift's bulk bodies spell it."""
    if status in SWIFT_TITLES:
        return f"{status} {SWIFT_TITLES[status]}"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def reason_body(status: int) -> str:
    """The title and explanation of a status, one per line (Swift's RESPONSE_REASONS)."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        return ""
    explanation = EXPLANATIONS.get(status, "")
    return f"{title}\n{explanation}" if explanation else title


def unquote_etag(value: str | None) -> str:
    return (value or "").strip().removeprefix("W/").strip('"')


def http_seconds(value: str | None) -> float:
    """An HTTP date (``Last-Modified``) as epoch seconds; 0 when missing or bad."""
    if not value:
        return 0.0
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0.0


def strip_swift_bytes(content_type: str) -> tuple[str, int | None]:
    """``type;swift_bytes=N`` -> (``type``, N): the size SLO keeps in a manifest's type."""
    base, found = [], None
    for i, part in enumerate(content_type.split(";")):
        key, sep, value = part.strip().partition("=")
        if i and sep and key.lower() == "swift_bytes":
            try:
                found = int(value)
            except ValueError:
                pass
            continue
        base.append(part)
    return ";".join(base), found


def object_path(account: str, version: str, name: str) -> SwiftPath | None:
    """``/container/object`` (as in manifests) in ``account``; None when malformed."""
    container, sep, obj = name.lstrip("/").partition("/")
    if not container or not sep or not obj:
        return None
    return SwiftPath(version, account, container, obj)


def best_match(accept: str | None, options: Iterable[str] = ACCEPTABLE_FORMATS) -> str | None:
    """The option the ``Accept`` header likes best (the first one when there is none).

    Raises ValueError for a header that cannot be parsed.
    """
    offered = list(options)
    if not accept or not accept.strip():
        return offered[0] if offered else None
    wanted: list[tuple[float, int, str]] = []
    for i, item in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in item.split(";")]
        if not media:
            continue
        if "/" not in media:
            raise ValueError(f"bad media type {media!r}")
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                q = float(value)
        wanted.append((-q, i, media.lower()))
    for neg_q, _, media in sorted(wanted):
        if neg_q >= 0:
            break
        kind, _, sub = media.partition("/")
        for option in offered:
            okind, _, osub = option.partition("/")
            if kind == "*" or (kind == okind and sub in ("*", osub)):
                return option
    return None


def bulk_body(fmt: str | None, data: dict[str, Any], errors: list[list[str]],
              root_tag: str) -> bytes:
    """A bulk-operation result (Swift's ``get_response_body``): json, xml or plain text."""
    if fmt == "application/json":
        return json.dumps({**data, "Errors": errors}).encode("ascii")
    if fmt and fmt.endswith("/xml"):
        out = [f"<{root_tag}>\n"]
        for key in sorted(data):
            tag = key.replace(" ", "_").lower()
            out.append(f"<{tag}>{escape(str(data[key]))}</{tag}>\n")
        out.append("<errors>\n")
        for name, status in errors:
            out.append(f"<object><name>{escape(name)}</name>"
                       f"<status>{escape(status)}</status></object>\n")
        out.append(f"</errors>\n</{root_tag}>\n")
        return "".join(out).encode()
    lines = [f"{key}: {data[key]}\n" for key in sorted(data)]
    lines.append("Errors:\n")
    lines.extend(f"{name}, {status}\n" for name, status in errors)
    return "".join(lines).encode()


def quote_name(name: str) -> str:
    return quote(name, safe="/")


def content_type_for(fmt: str) -> str:
    return f"{fmt}; charset=utf-8"


class Segmented:
    """The body of a large object: ``pieces`` fetched through ``handler`` in order."""

    def __init__(self, req: SwiftRequest, handler: Handler, pieces: AsyncIterator[Piece],
                 source: str) -> None:
        self.req = req
        self.handler = handler
        self.pieces = pieces
        self.source = source
        self._first: tuple[Piece, SwiftResponse] | None = None
        self._open: SwiftResponse | None = None
        self._ahead: asyncio.Future[SwiftResponse] | None = None  # the next piece's GET

    async def open_first(self) -> None:
        """Fetch the first piece now (raises :class:`SegmentError`, ListingError)."""
        piece = await anext(self.pieces, None)
        if piece is not None:
            self._first = (piece, await self._fetch(piece))

    async def _fetch(self, piece: Piece) -> SwiftResponse:
        if piece.path is None:
            return SwiftResponse.of(200, body=piece.data[piece.start:piece.end + 1])
        headers = {} if piece.whole else {"Range": f"bytes={piece.start}-{piece.end}"}
        sub = self.req.sub("GET", piece.path, headers=headers,
                           query={"multipart-manifest": "get"}, source=self.source)
        resp = await call(self.handler, sub)
        try:
            if not resp.ok:
                raise SegmentError(
                    f"While processing manifest /{self.req.path.account}/"
                    f"{self.req.path.container}/{self.req.path.obj}, got {resp.status} "
                    f"while retrieving {piece.name}")
            etag = unquote_etag(resp.headers.get("Etag"))
            length = resp.headers.get("Content-Length")
            if (piece.etag is not None and etag != piece.etag) or (
                    piece.whole and piece.size is not None and length is not None
                    and int(length) != piece.size):
                raise SegmentError(
                    f"Object segment no longer valid: {piece.name} etag: {etag} != "
                    f"{piece.etag} or {length} != {piece.size}.")
        except BaseException:
            await resp.close()
            raise
        return resp

    async def _relay(self, piece: Piece, resp: SwiftResponse) -> AsyncIterator[bytes]:
        """The piece's bytes out of ``resp`` (a 200 to a ranged request is cut to size)."""
        self._open = resp
        skip = piece.start if (not piece.whole and resp.status == 200
                               and piece.path is not None) else 0
        left = piece.length
        body = resp.iter()
        try:
            async for chunk in body:
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                if len(chunk) > left:
                    chunk = chunk[:left]
                if chunk:
                    left -= len(chunk)
                    yield chunk
                if not left:
                    break
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()
            await resp.close()
            self._open = None
        if left:
            raise SegmentError(f"Segment {piece.name} ended {left} bytes short.")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The pieces' bytes in order. While one piece streams, the next is already
        asked for, so a segment's round trip to its node is hidden behind the last
        one's bytes (a large object read segment after segment would otherwise wait
        for each)."""
        try:
            current = self._first
            self._first = None
            if current is None:
                piece = await anext(self.pieces, None)
                current = None if piece is None else (piece, await self._fetch(piece))
            while current is not None:
                piece = await anext(self.pieces, None)
                if piece is not None:
                    self._ahead = asyncio.ensure_future(self._fetch(piece))
                async for chunk in self._relay(*current):
                    yield chunk
                if piece is None:
                    break
                ahead, self._ahead = self._ahead, None
                assert ahead is not None
                current = (piece, await ahead)
        finally:
            await self.close()

    async def close(self) -> None:
        first, self._first = self._first, None
        if first is not None:
            await first[1].close()
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            if not ahead.done():
                ahead.cancel()
                await asyncio.wait([ahead])  # its outcome is read below, never raised
            if not ahead.cancelled() and ahead.exception() is None:
                await ahead.result().close()
        current, self._open = self._open, None
        if current is not None:
            await current.close()
        aclose = getattr(self.pieces, "aclose", None)
        if aclose is not None:
            await aclose()
