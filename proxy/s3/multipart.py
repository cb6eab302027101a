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

Upload ids are ``<16 hex digits of the creation time in ns>-<16 random hex>``:
uploads of one key list in the order they began, and an id (with its dash) can
never be taken for a part number.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree as ET

from common.ranges import check_conditions
from proxy.pipeline import BodyTooLarge, IterBody, SwiftResponse
from proxy.request import is_true
from proxy.s3 import acl, checksums, tagging, versioning
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error, error_xml, from_swift_status
from proxy.s3.request import S3Request, content_md5, valid_bucket

SEGMENTS_SUFFIX = "+segments"
MARKER_TYPE = "application/x-strata-s3-multipart-upload"
PART_TYPE = "application/octet-stream"
SYSMETA_ETAG = "X-Object-Sysmeta-S3-Etag"
SYSMETA_UPLOAD_ID = "X-Object-Sysmeta-S3-Upload-Id"
OVERRIDE_ETAG = "X-Object-Sysmeta-Container-Update-Override-Etag"
MIN_PART_SIZE = 5 << 20
MAX_PART_NUMBER = 10000
MAX_LISTED = 1000  # parts / uploads in one listing page
MAX_COMPLETE_BODY = 4 << 20
FIRST_WAIT = 5.0  # seconds Complete may take before its answer starts as a 200 ...
HEARTBEAT = 10.0  # ... kept alive by a space this often until the result follows
CONCURRENCY = 8
UPLOAD_ID_RE = re.compile(r"[0-9a-f]{16}-[0-9a-f]{16}")
# After every "<key>/<uploadId>" of a key (ids start with a hex digit).
AFTER_IDS = "g"
COPY_RANGE_RE = re.compile(r"bytes=(\d+)-(\d+)")


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


def _people(req: S3Request, parent: ET.Element) -> None:
    info = req.caller.info
    for tag in ("Initiator", "Owner"):
        el = x.add(parent, tag)
        x.add(el, "ID", info.project_id if info else "")
        x.add(el, "DisplayName", (info.project_name or "") if info else "")


# -- dispatch --------------------------------------------------------------------------------

async def handle(req: S3Request) -> SwiftResponse:
    """Any request with ``?uploads`` or ``?uploadId`` on a bucket or an object."""
    assert req.bucket is not None
    if not valid_bucket(req.bucket):
        raise S3Error("InvalidBucketName", BucketName=req.bucket)
    q, method = req.query, req.method
    if req.key is None:
        if method == "GET" and "uploads" in q:
            return await list_uploads(req)
        raise S3Error("MethodNotAllowed", Method=method, ResourceType="BUCKET")
    if "uploadId" in q:
        if method == "PUT":
            if "x-amz-copy-source" in req.headers:
                return await upload_part_copy(req)
            return await upload_part(req)
        if method == "POST":
            return await complete(req)
        if method == "GET":
            return await list_parts(req)
        if method == "DELETE":
            return await abort(req)
    elif method == "POST":
        return await create(req)
    raise S3Error("MethodNotAllowed", Method=method, ResourceType="OBJECT")


# -- helpers on Swift -------------------------------------------------------------------------

async def _missing_upload(req: S3Request, upload_id: str) -> S3Error:
    await req.head_bucket()
    return no_such_upload(upload_id)


def _upload_id(req: S3Request) -> str:
    upload_id = req.query.get("uploadId", "")
    if not UPLOAD_ID_RE.fullmatch(upload_id):
        raise no_such_upload(upload_id)
    return upload_id


@dataclass
class Upload:
    key: str
    upload_id: str
    headers: dict[str, str]
    checksum_algorithm: str | None


async def _load_upload(req: S3Request, upload_id: str) -> Upload:
    """The pending upload's marker; NoSuchUpload (or NoSuchBucket) when there is none."""
    assert req.bucket is not None and req.key is not None
    r = await req.call("GET", segments_container(req.bucket), marker_name(req.key, upload_id))
    if r.status == 404:
        await r.close()
        raise await _missing_upload(req, upload_id)
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


async def _head_upload(req: S3Request, upload_id: str) -> None:
    """NoSuchUpload (or NoSuchBucket) unless the upload is pending."""
    assert req.bucket is not None and req.key is not None
    r = await req.call("HEAD", segments_container(req.bucket),
                       marker_name(req.key, upload_id))
    await r.close()
    if r.status == 404:
        raise await _missing_upload(req, upload_id)
    if not r.ok:
        raise from_swift_status(r.status)


async def _listing(req: S3Request, container: str, prefix: str,
                   marker: str) -> AsyncIterator[dict[str, Any]]:
    """A container's listing rows under ``prefix`` after ``marker``, page by page."""
    limit = req.st.cfg.proxy.container_listing_limit
    while True:
        r = await req.call("GET", container, query={
            "format": "json", "prefix": prefix, "marker": marker, "limit": str(limit)})
        if r.status in (204, 404):
            await r.close()
            return
        if not r.ok:
            await r.close()
            raise from_swift_status(r.status)
        page = json.loads(await r.read() or b"[]")
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


async def _stored_parts(req: S3Request, key: str, upload_id: str) -> dict[int, Part]:
    """The upload's parts as the segments container lists them."""
    assert req.bucket is not None
    prefix = f"{key}/{upload_id}/"
    parts: dict[int, Part] = {}
    async for row in _listing(req, segments_container(req.bucket), prefix, ""):
        rest = row["name"][len(prefix):]
        if rest.isdigit() and 1 <= int(rest) <= MAX_PART_NUMBER:
            n = int(rest)
            parts[n] = Part(n, row["name"], str(row.get("hash", "")),
                            int(row.get("bytes", 0)), str(row.get("last_modified", "")))
    return parts


async def _delete_names(req: S3Request, container: str, names: Iterable[str]) -> None:
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


async def drop_superseded(req: S3Request, key: str, upload_id: str | None) -> None:
    """Delete the parts and sub-manifests of the completed upload ``upload_id`` of
    ``key``, now that another object has replaced it (best effort: what fails stays)."""
    assert req.bucket is not None
    if upload_id is None:
        return
    container = segments_container(req.bucket)
    prefix = f"{key}/{upload_id}/"
    with contextlib.suppress(S3Error):
        rows = [row async for row in _listing(req, container, prefix, "")]
        await _delete_names(req, container, _leftovers(prefix, rows))


# -- Create, UploadPart, UploadPartCopy --------------------------------------------------------

async def create(req: S3Request) -> SwiftResponse:
    from proxy.s3 import handlers  # here: handlers imports this module

    assert req.bucket is not None and req.key is not None
    algorithm = req.headers.get("x-amz-checksum-algorithm", "").upper() or None
    if algorithm is not None and algorithm not in checksums.ALGORITHMS:
        raise S3Error("InvalidRequest", "Checksum algorithm provided is unsupported. Please "
                      "try again with any of the valid types: [CRC32, CRC32C, SHA1, SHA256]")
    await req.head_bucket()
    container = segments_container(req.bucket)
    r = await req.call("HEAD", container)
    await r.close()
    if r.status == 404:
        r = await req.call("PUT", container, content_length=0)
        await r.close()
    if not r.ok:
        raise from_swift_status(r.status)
    upload_id = new_upload_id()
    # The final object's metadata, ACL and tags, as PutObject would set them.
    final = {**handlers._meta_headers(req), **acl.object_headers(req),
             **tagging.object_headers(req)}
    doc = {"headers": final, "checksum_algorithm": algorithm}
    r = await req.call("PUT", container, marker_name(req.key, upload_id),
                       headers={"Content-Type": MARKER_TYPE}, body=json.dumps(doc).encode())
    await r.close()
    if not r.ok:
        raise from_swift_status(r.status)
    result = x.root("InitiateMultipartUploadResult")
    x.add(result, "Bucket", req.bucket)
    x.add(result, "Key", req.key)
    x.add(result, "UploadId", upload_id)
    resp = x.response(result)
    if algorithm:
        resp.headers["x-amz-checksum-algorithm"] = algorithm
    return resp


def part_number(req: S3Request) -> int:
    """``?partNumber``: 1 to 10000, else InvalidArgument."""
    raw = req.query.get("partNumber", "")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and "
                      f"{MAX_PART_NUMBER}, inclusive", ArgumentName="partNumber",
                      ArgumentValue=raw)
    return int(raw)


async def upload_part(req: S3Request) -> SwiftResponse:
    from proxy.s3 import handlers

    assert req.bucket is not None and req.key is not None
    number = part_number(req)
    upload_id = _upload_id(req)
    if req.content_length is None:
        raise S3Error("MissingContentLength")
    headers = {"Content-Type": PART_TYPE}
    md5 = content_md5(req.headers)
    if md5 is not None:
        headers["ETag"] = md5
    await _head_upload(req, upload_id)
    headers.update(handlers.checksum_sysmeta(req))
    r = await req.call("PUT", segments_container(req.bucket),
                       part_name(req.key, upload_id, number), headers=headers,
                       body=req.body, content_length=req.content_length)
    await r.close()
    if r.status == 404:
        raise await _missing_upload(req, upload_id)
    if not r.ok:
        raise from_swift_status(r.status)
    return SwiftResponse.of(200, {"ETag": f'"{r.headers.get("ETag", "")}"',
                                  "Content-Length": "0", **handlers.checksum_echo(req)})


def _copy_source(req: S3Request) -> tuple[str, str]:
    raw = req.headers["x-amz-copy-source"]
    source = unquote(raw.split("?versionId=", 1)[0])
    bucket, _, key = source.lstrip("/").partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: "
                      "sourcebucket/sourcekey", ArgumentName="x-amz-copy-source",
                      ArgumentValue=raw)
    return bucket, key


COPY_CONDITIONS = {
    "x-amz-copy-source-if-match": "If-Match",
    "x-amz-copy-source-if-none-match": "If-None-Match",
    "x-amz-copy-source-if-modified-since": "If-Modified-Since",
    "x-amz-copy-source-if-unmodified-since": "If-Unmodified-Since",
}


async def upload_part_copy(req: S3Request) -> SwiftResponse:
    """A part made of (a range of) another object: read it, write it as the part."""
    assert req.bucket is not None and req.key is not None
    number = part_number(req)
    upload_id = _upload_id(req)
    src_bucket, src_key = _copy_source(req)
    spec = req.headers.get("x-amz-copy-source-range")
    wanted: tuple[int, int] | None = None
    if spec is not None:
        m = COPY_RANGE_RE.fullmatch(spec.strip())
        if m is None or int(m.group(1)) > int(m.group(2)):
            raise S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the "
                          "form bytes=first-last where first and last are the zero-based "
                          "offsets of the first and last bytes to copy",
                          ArgumentName="x-amz-copy-source-range", ArgumentValue=spec)
        wanted = (int(m.group(1)), int(m.group(2)))
    await _head_upload(req, upload_id)
    headers = {swift: req.headers[amz] for amz, swift in COPY_CONDITIONS.items()
               if amz in req.headers}
    if wanted is not None:
        headers["Range"] = f"bytes={wanted[0]}-{wanted[1]}"
    src = await req.call("GET", src_bucket, src_key, headers=headers)
    try:
        if src.status == 404:
            raise S3Error("NoSuchKey", Key=src_key)
        if src.status in (304, 412):
            raise S3Error("PreconditionFailed", Condition="x-amz-copy-source-If-*")
        if src.status == 416 and wanted is not None:
            raise _bad_range(spec or "", None)
        if not src.ok:
            raise from_swift_status(src.status)
        length = int(src.headers.get("Content-Length", "0"))
        if wanted is not None:
            total = src.headers.get("Content-Range", "").rpartition("/")[2]
            size = int(total) if total.isdigit() else length
            if src.status != 206 or wanted[1] >= size:
                raise _bad_range(spec or "", size)
        r = await req.call("PUT", segments_container(req.bucket),
                           part_name(req.key, upload_id, number),
                           headers={"Content-Type": PART_TYPE},
                           body=IterBody(src.iter()), content_length=length)
        await r.close()
    finally:
        await src.close()
    if r.status == 404:
        raise await _missing_upload(req, upload_id)
    if not r.ok:
        raise from_swift_status(r.status)
    doc = x.root("CopyPartResult")
    x.add(doc, "LastModified", x.iso_from_http(r.headers.get("Last-Modified", "")))
    x.add(doc, "ETag", f'"{r.headers.get("ETag", "")}"')
    return x.response(doc)


def _bad_range(spec: str, size: int | None) -> S3Error:
    message = "The requested range is not satisfiable" if size is None else \
        f"Range specified is not valid for source object of size: {size}"
    return S3Error("InvalidArgument", message, ArgumentName="x-amz-copy-source-range",
                   ArgumentValue=spec)


# -- ListParts, Abort --------------------------------------------------------------------------

def _int_arg(req: S3Request, name: str, default: int, least: int = 0) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or int(raw) < least:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer "
                      "range", ArgumentName=name, ArgumentValue=raw)
    return int(raw)


async def list_parts(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None and req.key is not None
    upload_id = _upload_id(req)
    max_parts = min(_int_arg(req, "max-parts", MAX_LISTED), MAX_LISTED)
    after = _int_arg(req, "part-number-marker", 0)
    upload = await _load_upload(req, upload_id)
    parts = sorted((p for p in (await _stored_parts(req, req.key, upload_id)).values()
                    if p.number > after), key=lambda p: p.number)
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    doc = x.root("ListPartsResult")
    x.add(doc, "Bucket", req.bucket)
    x.add(doc, "Key", req.key)
    x.add(doc, "UploadId", upload_id)
    _people(req, doc)
    x.add(doc, "StorageClass", "STANDARD")
    x.add(doc, "PartNumberMarker", str(after))
    x.add(doc, "NextPartNumberMarker", str(parts[-1].number if parts else after))
    x.add(doc, "MaxParts", str(max_parts))
    x.add(doc, "IsTruncated", "true" if truncated else "false")
    if upload.checksum_algorithm:
        x.add(doc, "ChecksumAlgorithm", upload.checksum_algorithm)
    for p in parts:
        el = x.add(doc, "Part")
        x.add(el, "PartNumber", str(p.number))
        x.add(el, "LastModified", x.iso_from_swift(p.last_modified))
        x.add(el, "ETag", f'"{p.etag}"')
        x.add(el, "Size", str(p.size))
    return x.response(doc)


def _leftovers(prefix: str, rows: Iterable[dict[str, Any]]) -> list[str]:
    """Names of an upload's parts and sub-manifests among listing ``rows``."""
    out = []
    for row in rows:
        rest = row["name"][len(prefix):]
        if rest.isdigit() or (rest[:1] == "m" and rest[1:].isdigit()):
            out.append(row["name"])
    return out


async def abort(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None and req.key is not None
    upload_id = _upload_id(req)
    await _head_upload(req, upload_id)
    container = segments_container(req.bucket)
    prefix = f"{req.key}/{upload_id}/"
    rows = [row async for row in _listing(req, container, prefix, "")]
    await _delete_names(req, container, _leftovers(prefix, rows))
    r = await req.call("DELETE", container, marker_name(req.key, upload_id))
    await r.close()
    if r.status == 404:
        raise no_such_upload(upload_id)
    if not r.ok:
        raise from_swift_status(r.status)
    return SwiftResponse.of(204)


# -- ListMultipartUploads ----------------------------------------------------------------------

async def list_uploads(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None
    q = req.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    encoding = q.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type", ArgumentValue=encoding)
    max_uploads = min(_int_arg(req, "max-uploads", MAX_LISTED), MAX_LISTED)
    key_marker = q.get("key-marker", "")
    id_marker = q.get("upload-id-marker", "") if key_marker else ""
    if not key_marker:
        marker = ""
    elif id_marker:
        marker = marker_name(key_marker, id_marker)
    elif delimiter and key_marker.endswith(delimiter) and key_marker.startswith(prefix):
        marker = key_marker + "\U0010ffff"  # a rolled-up prefix: skip all of it
    else:
        marker = marker_name(key_marker, AFTER_IDS)
    await req.head_bucket()
    # (key, upload id, initiated) for an upload, (prefix, None, "") for a common prefix
    found: list[tuple[str, str | None, str]] = []
    seen: set[str] = set()
    if max_uploads:
        async for row in _listing(req, segments_container(req.bucket), prefix, marker):
            if str(row.get("content_type", "")).split(";")[0] != MARKER_TYPE:
                continue
            key, _, upload_id = row["name"].rpartition("/")
            if not key.startswith(prefix) or not UPLOAD_ID_RE.fullmatch(upload_id):
                continue
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = key[:cut + len(delimiter)]
                if common in seen:
                    continue
                seen.add(common)
                found.append((common, None, ""))
            else:
                found.append((key, upload_id, str(row.get("last_modified", ""))))
            if len(found) > max_uploads:
                break
    truncated = len(found) > max_uploads
    found = found[:max_uploads]

    enc = x.encoder(encoding)

    doc = x.root("ListMultipartUploadsResult")
    x.add(doc, "Bucket", req.bucket)
    x.add(doc, "KeyMarker", enc(key_marker))
    x.add(doc, "UploadIdMarker", id_marker)
    if found:
        x.add(doc, "NextKeyMarker", enc(found[-1][0]))
        x.add(doc, "NextUploadIdMarker", found[-1][1] or "")
    if delimiter:
        x.add(doc, "Delimiter", enc(delimiter))
    x.add(doc, "Prefix", enc(prefix))
    x.add(doc, "MaxUploads", str(max_uploads))
    if encoding:
        x.add(doc, "EncodingType", encoding)
    x.add(doc, "IsTruncated", "true" if truncated else "false")
    for key, upload_id, initiated in found:
        if upload_id is None:
            continue
        el = x.add(doc, "Upload")
        x.add(el, "Key", enc(key))
        x.add(el, "UploadId", upload_id)
        _people(req, el)
        x.add(el, "StorageClass", "STANDARD")
        x.add(el, "Initiated", x.iso_from_swift(initiated))
    for key, upload_id, _ in found:
        if upload_id is None:
            x.add(x.add(doc, "CommonPrefixes"), "Prefix", enc(key))
    return x.response(doc)


# -- CompleteMultipartUpload -------------------------------------------------------------------

@dataclass
class Chosen:
    number: int
    etag: str
    checksums: dict[str, str]


def parse_complete(body: bytes) -> list[Chosen]:
    """The client's part list: MalformedXML, or InvalidPartOrder when not ascending."""
    doc = x.parse(body)
    if doc.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    out: list[Chosen] = []
    for el in doc:
        if el.tag != "Part":
            continue
        number, etag = (el.findtext("PartNumber") or "").strip(), el.findtext("ETag")
        if not number.isdigit() or etag is None:
            raise S3Error("MalformedXML")
        sums = {alg: (el.findtext("Checksum" + alg) or "").strip()
                for alg in checksums.ALGORITHMS if el.find("Checksum" + alg) is not None}
        out.append(Chosen(int(number), normalize_etag(etag), sums))
    if not out:
        raise S3Error("MalformedXML")
    for before, after in itertools.pairwise(out):
        if after.number <= before.number:
            raise S3Error("InvalidPartOrder")
    return out


async def _check_checksums(req: S3Request, container: str, chosen: list[Chosen],
                           parts: dict[int, Part], upload: Upload) -> tuple[str, str] | None:
    """Checksums the client lists must be those the parts were stored with (if any).

    When every part was stored with the upload's algorithm and the client listed
    each, the object's composite checksum (of the parts' checksums, ``-<N>``)."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(c: Chosen) -> str | None:
        """The part's checked checksum in the upload's algorithm, if any."""
        async with limit:
            r = await req.call("HEAD", container, parts[c.number].name)
            await r.close()
        if not r.ok:
            raise S3Error("InvalidPart", UploadId=upload.upload_id)
        stored = checksums.response_headers(r.headers)
        if not stored:
            return None
        (header, value), = stored.items()
        algorithm = header[len(checksums.HEADER_PREFIX):].upper()
        if any(alg != algorithm or got != value for alg, got in c.checksums.items()):
            raise S3Error("InvalidPart", UploadId=upload.upload_id, PartNumber=str(c.number))
        return value if algorithm == upload.checksum_algorithm else None

    listed = [c for c in chosen if c.checksums]
    values = await asyncio.gather(*(one(c) for c in listed))
    algorithm = upload.checksum_algorithm
    if algorithm is None or len(listed) != len(chosen) or any(v is None for v in values):
        return None
    digest = checksums.new_hasher(algorithm)
    for v in values:
        digest.update(base64.b64decode(v or ""))
    return algorithm, f"{checksums.encode(digest.digest())}-{len(values)}"


async def complete(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None and req.key is not None
    upload_id = _upload_id(req)
    try:
        body = await req.body.read_all(MAX_COMPLETE_BODY)
    except BodyTooLarge:
        raise S3Error("MalformedXML") from None
    chosen = parse_complete(body)
    try:
        upload = await _load_upload(req, upload_id)
    except S3Error as err:
        if err.code == "NoSuchUpload":
            again = await _already_completed(req, upload_id)
            if again is not None:
                return again
        raise
    container = segments_container(req.bucket)
    parts = await _stored_parts(req, req.key, upload_id)
    for c in chosen:
        p = parts.get(c.number)
        if p is None or normalize_etag(p.etag) != c.etag:
            raise S3Error("InvalidPart", UploadId=upload_id, PartNumber=str(c.number),
                          ETag=c.etag)
    for c in chosen[:-1]:
        p = parts[c.number]
        if p.size < MIN_PART_SIZE:
            raise S3Error("EntityTooSmall", ProposedSize=str(p.size),
                          MinSizeAllowed=str(MIN_PART_SIZE), PartNumber=str(c.number),
                          ETag=c.etag)
    checksum = await _check_checksums(req, container, chosen, parts, upload)
    etag = composite_etag(parts[c.number].etag for c in chosen)
    task = asyncio.ensure_future(_finish(req, upload, [parts[c.number] for c in chosen],
                                         parts, etag, checksum))
    task.add_done_callback(_retrieve)
    done, _ = await asyncio.wait({task}, timeout=FIRST_WAIT)
    if done:
        doc, version = task.result()
        resp = x.response(doc)
        resp.headers.update(version)
        return resp
    # taking long (many segments to check): answer 200 now, the outcome follows
    return SwiftResponse.of(200, {"Content-Type": x.CONTENT_TYPE}, _late(req, task))


Finished = tuple[ET.Element, dict[str, str]]  # the result document, version headers


def _retrieve(task: asyncio.Future[Finished]) -> None:
    if not task.cancelled():
        task.exception()


async def _late(req: S3Request, task: asyncio.Future[Finished]) -> AsyncIterator[bytes]:
    """The answer of a Complete that took long: spaces, then its result or its error."""
    yield x.DECLARATION
    while not task.done():
        await asyncio.wait({task}, timeout=HEARTBEAT)
        if not task.done():
            yield b" "
    try:
        doc, _ = task.result()  # too late for headers: the version id is not sent
    except S3Error as err:
        yield error_xml(err, req.resource, req.txn)[len(x.DECLARATION):]
        return
    yield bytes(ET.tostring(doc, encoding="utf-8"))


def _result(req: S3Request, etag: str, checksum: tuple[str, str] | None) -> ET.Element:
    assert req.bucket is not None and req.key is not None
    doc = x.root("CompleteMultipartUploadResult")
    host = req.headers.get("Host", "")
    path = "/" + quote(req.bucket, safe="") + "/" + quote(req.key)
    x.add(doc, "Location", f"http://{host}{path}" if host else path)
    x.add(doc, "Bucket", req.bucket)
    x.add(doc, "Key", req.key)
    x.add(doc, "ETag", f'"{etag}"')
    if checksum is not None:
        x.add(doc, "Checksum" + checksum[0], checksum[1])
    return doc


async def _already_completed(req: S3Request, upload_id: str) -> SwiftResponse | None:
    """A Complete retried after it succeeded gets the same answer again."""
    r = await req.call("HEAD", req.bucket, req.key)
    await r.close()
    etag = s3_etag(r.headers) if r.ok else None
    if etag is None or r.headers.get(SYSMETA_UPLOAD_ID) != upload_id:
        return None
    stored = checksums.response_headers(r.headers)
    checksum = next(((k[len(checksums.HEADER_PREFIX):].upper(), v)
                     for k, v in stored.items()), None)
    return x.response(_result(req, etag, checksum))


async def _put_manifest(req: S3Request, container: str | None, obj: str,
                        segments: list[dict[str, Any]], headers: dict[str, str],
                        upload_id: str) -> Mapping[str, str]:
    """PUT an SLO manifest; the answer's headers. InvalidPart when a segment is not as
    listed."""
    r = await req.call("PUT", container, obj, headers={**headers, "Accept": "application/json"},
                       query={"multipart-manifest": "put"}, body=json.dumps(segments).encode())
    await r.read()
    if r.status == 400 and r.headers.get("Content-Type", "").startswith("application/json"):
        raise S3Error("InvalidPart", UploadId=upload_id)
    if r.status == 404:
        raise S3Error("NoSuchBucket", BucketName=req.bucket or "")
    if not r.ok:
        raise from_swift_status(r.status)
    return r.headers


async def _finish(req: S3Request, upload: Upload, chosen: list[Part], stored: dict[int, Part],
                  etag: str, checksum: tuple[str, str] | None) -> Finished:
    """Write the manifest (sub-manifests first when there are many parts), then clean up."""
    assert req.bucket is not None and req.key is not None
    container = segments_container(req.bucket)
    segments = [{"path": f"/{container}/{p.name}", "etag": p.etag, "size_bytes": p.size}
                for p in chosen]
    per = max(1, req.st.cfg.proxy.slo_max_manifest_segments)
    if len(segments) > per:
        subs: list[dict[str, Any]] = []
        for i in range(0, len(segments), per):
            name = f"{upload.key}/{upload.upload_id}/m{i // per}"
            await _put_manifest(req, container, name, segments[i:i + per],
                                {"Content-Type": PART_TYPE}, upload.upload_id)
            subs.append({"path": f"/{container}/{name}", "etag": None, "size_bytes": None})
        segments = subs
    headers = {**upload.headers, SYSMETA_ETAG: etag, SYSMETA_UPLOAD_ID: upload.upload_id,
               OVERRIDE_ETAG: etag, **(checksums.stored(*checksum) if checksum else {})}
    cfg = await versioning.before_write(req, req.key)
    replaced = await superseded_upload(req, req.key, cfg)
    written = await _put_manifest(req, req.bucket, req.key, segments, headers,
                                  upload.upload_id)
    if replaced != upload.upload_id:
        await drop_superseded(req, req.key, replaced)
    r = await req.call("DELETE", container, marker_name(upload.key, upload.upload_id))
    await r.close()
    used = {p.number for p in chosen}
    with contextlib.suppress(S3Error):
        await _delete_names(req, container,
                            [p.name for n, p in stored.items() if n not in used])
    return _result(req, etag, checksum), versioning.written(cfg, written)


# -- what other operations need ----------------------------------------------------------------

async def delete_object(req: S3Request, key: str, vid: str | None) -> versioning.Deleted:
    """DeleteObject (and each key of DeleteObjects): on a bucket that never had
    versioning a large object goes with its segments; otherwise versioning decides."""
    if vid is None and not (await versioning.bucket_config(req)).configured:
        status = await delete(req, key)
        if status == 404:
            await req.head_bucket()
        elif status // 100 != 2:
            raise from_swift_status(status)
        return versioning.Deleted()
    return await versioning.delete(req, key, vid)


async def delete(req: S3Request, key: str) -> int:
    """DELETE of an S3 object (Swift's status): a large object's segments go with it."""
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

