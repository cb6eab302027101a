"""Static Large Object manifests: the form a client PUTs, the form stored, the ETag.

The rules of the manifest itself, apart from the feature that serves it
(:mod:`proxy.features.slo`); nothing here makes a request:

* :func:`parse_manifest` checks a ``?multipart-manifest=put`` body
  (``{"path", "etag", "size_bytes", "range"}`` or ``{"data": <base64>}``) with
  Swift's ``Index <i>: <problem>`` messages; :func:`check_segment` turns a
  segment's HEAD answer into its stored entry (``name``, ``bytes``, ``hash``,
  ``content_type``, ``last_modified``[, ``range``, ``sub_slo``]);
* :func:`annotate` / :func:`load_segments` read a stored manifest back,
  :func:`raw_form` gives it in the form a PUT takes;
* :func:`etag_and_size` is the large object's ETag and size.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import json
import string
from datetime import UTC, datetime
from typing import Any

from multidict import CIMultiDict

from objectstore import protocol
from proxy.errors import fail
from proxy.features.segments import object_path, quote_name, status_line, unquote_etag
from proxy.pipeline import SwiftRequest, SwiftResponse
from proxy.request import is_true

OVERRIDE_ETAG = protocol.OVERRIDE_ETAG
SYSMETA_SLO_ETAG = "X-Object-Sysmeta-Slo-Etag"
SYSMETA_SLO_SIZE = "X-Object-Sysmeta-Slo-Size"
B64_CHARS = frozenset(string.ascii_letters + string.digits + "+/")
SEGMENT_KEYS = {"data": frozenset[str](), "path": frozenset({"range", "etag", "size_bytes"})}


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
        raise fail(400, "".join(e + "\n" for e in errors), **{"Content-Type": "text/plain"})
    return parsed


def last_modified(value: str | None) -> str:
    try:
        when = email.utils.parsedate_to_datetime(value or "")
    except (TypeError, ValueError, IndexError):
        when = datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")


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


def etag_and_size(segments: list[dict[str, Any]]) -> tuple[str, int]:
    """The large object's ETag and size, from its segments (as :func:`annotate` gives
    them): the MD5 of the segments' ETags (``etag:range;`` for a ranged one, the MD5
    of inline data) and the sum of their lengths. A manifest PUT stores both in
    sysmeta; one stored without them has them counted on every read."""
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
                  problems: list[list[str]]) -> dict[str, Any]:
    """A segment's stored entry, as its HEAD answered.

    Problems go to ``problems`` as ``[quoted path, reason]``, as Swift reports them.
    """
    name = seg["path"]
    quoted = quote_name(name)
    if not resp.ok:
        problems.append([quoted, status_line(resp.status)])
        return {}
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
        "last_modified": last_modified(resp.headers.get("Last-Modified")),
    }
    if seg_range is not None:
        entry["range"] = seg_range
    if is_slo(resp.headers):
        entry["sub_slo"] = True
    return entry
