"""HTTP byte ranges and conditional requests (RFC 9110), as Swift applies them."""

from __future__ import annotations

import email.utils
import secrets
from collections.abc import Iterator, Mapping
from datetime import UTC


class Unsatisfiable(Exception):
    """Every requested range starts past the end of the content (416)."""


def parse_range(header: str | None, length: int) -> list[tuple[int, int]] | None:
    """``[(start, end_inclusive), ...]`` for a ``Range`` header, or None for "whole body".

    A header that is not valid byte-range syntax is ignored (the whole body is
    sent), as Swift does. Raises :class:`Unsatisfiable` when no range overlaps.
    """
    if not header:
        return None
    header = header.replace(" ", "")  # "bytes = 0 - 9" is "bytes=0-9" to Swift
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    out: list[tuple[int, int]] = []
    specs = [s.strip() for s in spec.split(",")]
    if len(specs) > 100:
        return None
    for s in specs:
        first, dash, last = s.partition("-")
        if not dash:
            return None
        try:
            if first == "":
                if not last.isdigit():
                    return None
                n = int(last)
                if n == 0:
                    continue
                out.append((max(0, length - n), length - 1))
                continue
            if not first.isdigit() or (last and not last.isdigit()):
                return None
            start = int(first)
            end = int(last) if last else length - 1
        except ValueError:
            return None
        if last and end < start:  # "N-" past the end is unsatisfiable, not invalid
            return None
        if start >= length:
            continue
        out.append((start, min(end, length - 1)))
    if not out:
        raise Unsatisfiable()
    return out


def new_boundary() -> str:
    return secrets.token_hex(16)


def multipart_parts(ranges: list[tuple[int, int]], length: int, content_type: str,
                    boundary: str) -> Iterator[tuple[bytes, int, int]]:
    """(part header bytes, start, end) for each range; then the closing boundary."""
    for start, end in ranges:
        head = (f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: bytes {start}-{end}/{length}\r\n\r\n").encode()
        yield head, start, end


def multipart_length(ranges: list[tuple[int, int]], length: int, content_type: str,
                     boundary: str) -> int:
    total = 0
    for head, start, end in multipart_parts(ranges, length, content_type, boundary):
        total += len(head) + (end - start + 1) + 2  # CRLF after each body
    return total + len(closing(boundary))


def closing(boundary: str) -> bytes:
    return f"--{boundary}--".encode()


def _etags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/").strip('"') for t in header.split(",") if t.strip()]


def _http_time(value: str) -> float | None:
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def check_conditions(headers: Mapping[str, str], etag: str,
                     last_modified: float, method: str) -> int | None:
    """The status a conditional request gets instead of 200 (304 or 412), or None.

    ``last_modified`` is whole seconds (what Last-Modified shows). Swift's order
    (swob): a matching If-None-Match, a failing If-Match, then the dates, each
    date checked whatever the ETag headers said.
    """
    get = headers.get
    not_modified = 304 if method in ("GET", "HEAD") else 412
    if_none = get("If-None-Match")
    if if_none is not None:
        tags = _etags(if_none)
        if "*" in tags or etag in tags:
            return not_modified
    if_match = get("If-Match")
    if if_match is not None:
        tags = _etags(if_match)
        if "*" not in tags and etag not in tags:
            return 412
    if get("If-Modified-Since") and method in ("GET", "HEAD"):
        # As Swift: a date in the future is not ignored (RFC 7232 would), so
        # such a GET is 304 like any other date at or after Last-Modified.
        since = _http_time(headers["If-Modified-Since"])
        if since is not None and last_modified <= since:
            return 304
    if get("If-Unmodified-Since"):
        since = _http_time(headers["If-Unmodified-Since"])
        if since is not None and last_modified > since:
            return 412
    return None
