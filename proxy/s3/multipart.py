"""S3 multipart uploads, stored so that the finished object is a Swift large object.

Everything an upload leaves lives in the container ``<bucket>+segments`` of the
bucket's account (made on the first upload, as Swift's s3api does):

- ``<key>/<uploadId>``: the *upload marker* (Content-Type :data:`MARKER_TYPE`), a
  small JSON document with what the finished object will carry (``x-amz-meta-*``
  as ``X-Object-Meta-*``, Content-Type and the other object headers) and the
  checksum algorithm the upload declared. It exists while the upload is pending.
- ``<key>/<uploadId>/<partNumber>``: each part, an ordinary object (its ETag is
  its MD5; a checked ``x-amz-checksum-*`` is kept in its sysmeta).

CompleteMultipartUpload checks the client's part list against the stored parts,
then PUTs a Static Large Object manifest (``?multipart-manifest=put``, through
the pipeline's SLO feature) at ``<bucket>/<key>`` naming the parts as segments,
with the S3 ETag (``<md5 of the parts' binary MD5s>-<N>``) and the upload id in
object sysmeta; the same ETag is the manifest's container-update override, so
container listings (S3's and Swift's) show it. The marker is removed last, and
parts left out of the list are deleted. More parts than one manifest may hold
(``slo_max_manifest_segments``) go into sub-manifests ``<key>/<uploadId>/m<i>``.

The operations are ``uploads`` (Create, UploadPart, UploadPartCopy, ListParts,
Abort, ListMultipartUploads) and ``complete`` (CompleteMultipartUpload); this
module keeps the layout, and what those and the object operations need of it
(a multipart object's S3 ETag, its parts for ``?partNumber``, its segments when
it is deleted or replaced).

Upload ids are ``<16 hex digits of the creation time in ns>-<16 random hex>``:
uploads of one key list in the order they began, and an id (with its dash) can
never be taken for a part number.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from common.ranges import check_conditions
from objectstore.protocol import EXPECT_PLAIN, REPLACED_VALUE, REPORT_REPLACED
from proxy.pipeline import SwiftResponse
from proxy.request import is_true
from proxy.s3 import versioning
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.request import S3Request

SEGMENTS_SUFFIX = "+segments"
MARKER_TYPE = "application/x-strata-s3-multipart-upload"
PART_TYPE = "application/octet-stream"
SYSMETA_ETAG = "X-Object-Sysmeta-S3-Etag"
SYSMETA_UPLOAD_ID = "X-Object-Sysmeta-S3-Upload-Id"
OVERRIDE_ETAG = "X-Object-Sysmeta-Container-Update-Override-Etag"
MAX_PART_NUMBER = 10000
MAX_LISTED = 1000  # parts / uploads in one listing page
CONCURRENCY = 8
UPLOAD_ID_RE = re.compile(r"[0-9a-f]{16}-[0-9a-f]{16}")
# After every "<key>/<uploadId>" of a key (ids start with a hex digit).
AFTER_IDS = "g"

def new_upload_id() -> str:
    return f"{time.time_ns():016x}-{secrets.token_hex(8)}"


def segments_container(bucket: str) -> str:
    return bucket + SEGMENTS_SUFFIX


def marker_name(key: str, upload_id: str) -> str:
    return f"{key}/{upload_id}"


def part_name(key: str, upload_id: str, number: int) -> str:
    return f"{key}/{upload_id}/{number}"


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error("NoSuchUpload", UploadId=upload_id)


def normalize_etag(value: str) -> str:
    return value.strip().strip('"').lower()


def composite_etag(md5s: Iterable[str]) -> str:
    """S3's ETag of a multipart object: the MD5 of its parts' binary MD5s, ``-<count>``."""
    digests = [bytes.fromhex(m) for m in md5s]
    return hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest() + \
        f"-{len(digests)}"


def s3_etag(headers: Mapping[str, str]) -> str | None:
    """The S3 ETag of a completed multipart object (None for anything else)."""
    if headers.get("X-Static-Large-Object", "").lower() not in ("true", "1", "yes"):
        return None
    return headers.get(SYSMETA_ETAG) or None


# -- the upload and its parts on Swift ----------------------------------------------------

async def missing_upload(req: S3Request, upload_id: str) -> S3Error:
    await req.head_bucket()
    return no_such_upload(upload_id)


def upload_id_of(req: S3Request) -> str:
    """The request's upload id; NoSuchUpload when it is not one of ours."""
    upload_id = req.op.upload_id or ""
    if not UPLOAD_ID_RE.fullmatch(upload_id):
        raise no_such_upload(upload_id)
    return upload_id


@dataclass
class Upload:
    key: str
    upload_id: str
    headers: dict[str, str]
    checksum_algorithm: str | None


async def load_upload(req: S3Request, upload_id: str) -> Upload:
    """The pending upload's marker; NoSuchUpload (or NoSuchBucket) when there is none."""
    assert req.bucket is not None and req.key is not None
    r = await req.call("GET", segments_container(req.bucket), marker_name(req.key, upload_id))
    if r.status == 404:
        await r.close()
        raise await missing_upload(req, upload_id)
    if not r.ok:
        await r.close()
        raise from_swift_status(r.status)
    body = await r.read()
    if r.headers.get("Content-Type", "").split(";")[0] != MARKER_TYPE:
        raise no_such_upload(upload_id)
    try:
        data = json.loads(body)
        headers = {str(k): str(v) for k, v in dict(data.get("headers", {})).items()}
        algorithm = data.get("checksum_algorithm")
    except (ValueError, TypeError, AttributeError):
        raise S3Error("InternalError") from None
    return Upload(req.key, upload_id, headers, str(algorithm) if algorithm else None)


async def head_upload(req: S3Request, upload_id: str) -> None:
    """NoSuchUpload (or NoSuchBucket) unless the upload is pending."""
    assert req.bucket is not None and req.key is not None
    r = await req.call("HEAD", segments_container(req.bucket),
                       marker_name(req.key, upload_id))
    await r.close()
    if r.status == 404:
        raise await missing_upload(req, upload_id)
    if not r.ok:
        raise from_swift_status(r.status)


async def listing_rows(req: S3Request, container: str, prefix: str,
                       marker: str) -> AsyncIterator[dict[str, Any]]:
    """A container's listing rows under ``prefix`` after ``marker``, page by page."""
    limit = req.st.cfg.proxy.container_listing_limit
    while True:
        page = await req.listing(container, {"prefix": prefix, "marker": marker,
                                             "limit": str(limit)})
        for row in page:
            yield row
        if len(page) < limit:
            return
        marker = page[-1]["name"]


@dataclass
class Part:
    number: int
    name: str
    etag: str
    size: int
    last_modified: str


async def stored_parts(req: S3Request, key: str, upload_id: str) -> dict[int, Part]:
    """The upload's parts as the segments container lists them."""
    assert req.bucket is not None
    prefix = f"{key}/{upload_id}/"
    parts: dict[int, Part] = {}
    async for row in listing_rows(req, segments_container(req.bucket), prefix, ""):
        rest = row["name"][len(prefix):]
        if rest.isdigit() and 1 <= int(rest) <= MAX_PART_NUMBER:
            n = int(rest)
            parts[n] = Part(n, row["name"], str(row.get("hash", "")),
                            int(row.get("bytes", 0)), str(row.get("last_modified", "")))
    return parts


async def delete_names(req: S3Request, container: str, names: Iterable[str]) -> None:
    """Best-effort DELETEs, a few at a time."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> None:
        async with limit:
            r = await req.call("DELETE", container, name)
            await r.close()

    await asyncio.gather(*(one(n) for n in names))


async def superseded_upload(req: S3Request, key: str, cfg: versioning.Config) -> str | None:
    """Before a write to ``key`` in a bucket that never had versioning: the upload id of
    the multipart object it will replace (its segments go once the write succeeded;
    ``drop_superseded``), or None. A bucket whose segments container does not exist
    (the cached HEAD says so) never had an upload: no HEAD of the key then."""
    assert req.bucket is not None
    if cfg.configured:  # the replaced object may live on as a version: keep its segments
        return None
    info = await req.st.info(req.txn, req.account, segments_container(req.bucket))
    if info.status == 404:
        return None
    head = await req.call("HEAD", req.bucket, key)
    await head.close()
    if not head.ok or s3_etag(head.headers) is None:
        return None
    return head.headers.get(SYSMETA_UPLOAD_ID) or None


def report_replaced(cfg: versioning.Config) -> dict[str, str]:
    """Headers for a PUT of a key: in a bucket that never had versioning, the object
    servers are asked for the upload id of the multipart object the write replaces
    (``replaced_uploads`` reads their answer), so an overwrite needs no HEAD first."""
    return {} if cfg.configured else {REPORT_REPLACED: SYSMETA_UPLOAD_ID}


def replaced_uploads(headers: Mapping[str, str]) -> list[str]:
    """The upload ids the replicas said a PUT asked with :func:`report_replaced`
    replaced (more than one only when replicas held different objects)."""
    return [u for u in headers.get(REPLACED_VALUE, "").split(",") if u]


async def drop_superseded(req: S3Request, key: str, upload_id: str | None) -> None:
    """Delete the parts and sub-manifests of the completed upload ``upload_id`` of
    ``key``, now that another object has replaced it (best effort: what fails stays)."""
    assert req.bucket is not None
    if upload_id is None:
        return
    with contextlib.suppress(S3Error):
        await delete_parts(req, key, upload_id)


async def delete_parts(req: S3Request, key: str, upload_id: str) -> None:
    """Delete the parts and sub-manifests of upload ``upload_id`` of ``key``."""
    assert req.bucket is not None
    container = segments_container(req.bucket)
    prefix = f"{key}/{upload_id}/"
    rows = [row async for row in listing_rows(req, container, prefix, "")]
    await delete_names(req, container, _leftovers(prefix, rows))


def part_number(raw: str | None) -> int:
    """``?partNumber``: 1 to 10000, else InvalidArgument."""
    raw = raw or ""
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and "
                      f"{MAX_PART_NUMBER}, inclusive", ArgumentName="partNumber",
                      ArgumentValue=raw)
    return int(raw)


def _leftovers(prefix: str, rows: Iterable[dict[str, Any]]) -> list[str]:
    """Names of an upload's parts and sub-manifests among listing ``rows``."""
    out = []
    for row in rows:
        rest = row["name"][len(prefix):]
        if rest.isdigit() or (rest[:1] == "m" and rest[1:].isdigit()):
            out.append(row["name"])
    return out


# -- what the object operations need -------------------------------------------------------

async def delete(req: S3Request, key: str) -> int:
    """DELETE of an S3 object (Swift's status): a large object's segments go with it.

    The DELETE asks the object servers to refuse a Static Large Object manifest
    (``X-Backend-Expect-Plain``), so a plain object, the common case, goes in one
    request with no HEAD first; a refused one is HEADed and deleted with its
    segments (``?multipart-manifest=delete``), as s3api deletes large objects."""
    r = await req.call("DELETE", req.bucket, key, headers={EXPECT_PLAIN: "true"})
    await r.close()
    if r.status != 412:
        return r.status
    head = await req.call("HEAD", req.bucket, key)
    await head.close()
    if head.status == 404:
        return 404
    if not (head.ok and head.headers.get("X-Static-Large-Object", "").lower() == "true"):
        r = await req.call("DELETE", req.bucket, key)
        await r.close()
        return r.status
    r = await req.call("DELETE", req.bucket, key, query={"multipart-manifest": "delete"},
                       headers={"Accept": "application/json"})
    answer = await r.read()
    if not r.ok:
        return r.status
    try:
        result = json.loads(answer)
        status = int(str(result["Response Status"]).split()[0])
    except (ValueError, KeyError, TypeError, IndexError):
        return 500
    if status == 200:
        return 204 if result.get("Number Deleted") else 404
    return status


@dataclass(frozen=True)
class PartRange:
    """What GetObject/HeadObject ``?partNumber=N`` reads: bytes ``first``-``last`` (both
    included) of the object's ``total``, and its part count (None when no multipart
    upload made it: its one part, 1, is all of it)."""

    first: int
    last: int  # first - 1 for the one part of an empty object
    total: int
    parts: int | None

    @property
    def range(self) -> str | None:
        """The Range header that reads the part (None: nothing to read)."""
        return f"bytes={self.first}-{self.last}" if self.last >= self.first else None

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.total}"


async def part_range(req: S3Request, number: int) -> PartRange:
    """The byte range of part ``number`` of the object (S3: a part number beyond the
    object's parts is InvalidPartNumber, 416). One GET ``?multipart-manifest=get``
    tells both: a completed upload answers its manifest, any other object itself
    (its headers are all that is needed: the body is left unread)."""
    r = await req.call("GET", req.bucket, req.key, query={"multipart-manifest": "get"})
    if r.status == 404:
        await r.close()
        raise await req.missing()
    if not r.ok or s3_etag(r.headers) is None:
        await r.close()
        if not r.ok:
            raise from_swift_status(r.status)
        if number != 1:
            raise S3Error("InvalidPartNumber")
        if "X-Object-Manifest" in r.headers:  # a Swift DLO answered its manifest: HEAD it
            r = await req.call("HEAD", req.bucket, req.key)
            await r.close()
            if not r.ok:
                raise from_swift_status(r.status)
        total = int(r.headers.get("Content-Length") or 0)
        return PartRange(0, total - 1, total, None)
    parts = await _manifest_parts(req, _manifest_entries(await r.read()))
    total = sum(size for _, size in parts)
    offset = 0
    for n, size in parts:
        if n == number:
            if not size:
                raise S3Error("InvalidPartNumber")  # an empty last part: no range reads it
            return PartRange(offset, offset + size - 1, total, len(parts))
        offset += size
    raise S3Error("InvalidPartNumber")


def _manifest_entries(body: bytes) -> list[dict[str, Any]]:
    try:
        entries = json.loads(body)
    except ValueError:
        entries = None
    if not isinstance(entries, list):
        raise S3Error("InternalError")
    return entries


async def _manifest_parts(req: S3Request, entries: list[dict[str, Any]],
                          depth: int = 0) -> list[tuple[int, int]]:
    """(part number, size) of each part of a completed upload, in order, from its
    manifest's ``entries`` (the sub-manifests of an upload with many parts read too)."""
    parts: list[tuple[int, int]] = []
    for entry in entries:
        name = str(entry.get("name", "")).lstrip("/")
        if is_true(str(entry.get("sub_slo", ""))) and depth < 2:
            sub_container, _, sub_obj = unquote(name).partition("/")
            r = await req.call("GET", sub_container, sub_obj,
                               query={"multipart-manifest": "get"})
            body = await r.read()
            if not r.ok:
                raise from_swift_status(r.status)
            parts += await _manifest_parts(req, _manifest_entries(body), depth + 1)
            continue
        tail = name.rsplit("/", 1)[-1]  # <key>/<uploadId>/<part number>
        parts.append((int(tail) if tail.isdigit() else len(parts) + 1,
                      int(entry.get("bytes") or 0)))
    return parts


async def etag_conditions(req: S3Request, headers: dict[str, str]) -> SwiftResponse | None:
    """If-Match/If-None-Match naming a multipart ETag (``...-N``), decided here against
    the object's S3 ETag (the large object beneath has its own) and taken out of
    ``headers``: 304 is answered, 412 raised, None lets the GET go on."""
    tags = [headers[h] for h in ("If-Match", "If-None-Match") if h in headers]
    if not any("-" in t for t in tags):
        return None
    r = await req.call("HEAD", req.bucket, req.key)
    await r.close()
    etag = s3_etag(r.headers) if r.ok else None
    if etag is None:
        return None
    status = check_conditions({h: headers[h] for h in ("If-Match", "If-None-Match")
                               if h in headers}, etag, 0.0, req.method)
    if status == 412:
        raise S3Error("PreconditionFailed", Condition="If-Match")
    if status == 304:
        return SwiftResponse.of(304, {"ETag": f'"{etag}"', **{
            k: r.headers[k] for k in ("Last-Modified",) if k in r.headers}})
    if headers.pop("If-Match", None) is not None:
        headers.pop("If-Unmodified-Since", None)
    if headers.pop("If-None-Match", None) is not None:
        headers.pop("If-Modified-Since", None)
    return None

