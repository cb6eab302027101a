"""The multipart upload operations but Complete: CreateMultipartUpload, UploadPart,
UploadPartCopy, ListParts, AbortMultipartUpload and ListMultipartUploads (how an
upload is stored: ``multipart``)."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree as ET

from proxy.pipeline import IterBody, SwiftResponse
from proxy.s3 import access, acl, checksums, locking, tagging
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.multipart import (
    AFTER_IDS,
    MARKER_TYPE,
    MAX_LISTED,
    PART_TYPE,
    UPLOAD_ID_RE,
    delete_parts,
    head_upload,
    listing_rows,
    load_upload,
    marker_name,
    missing_upload,
    new_upload_id,
    no_such_upload,
    part_name,
    part_number,
    segments_container,
    stored_parts,
    upload_id_of,
)
from proxy.s3.request import S3Request, content_md5
from proxy.s3.shared import (
    checksum_echo,
    checksum_sysmeta,
    copy_source,
    listing_args,
    meta_headers,
    owner,
)

COPY_RANGE_RE = re.compile(r"bytes=(\d+)-(\d+)")


def _people(req: S3Request, parent: ET.Element) -> None:
    for tag in ("Initiator", "Owner"):
        owner(req, parent, tag)


# -- Create, UploadPart, UploadPartCopy --------------------------------------------------------

async def create(req: S3Request) -> SwiftResponse:
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
    final = {**meta_headers(req), **await acl.object_headers(req),
             **tagging.object_headers(req), **await locking.write_sysmeta(req)}
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


async def upload_part(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None and req.key is not None
    number = part_number(req.op.part_number)
    upload_id = upload_id_of(req)
    if req.content_length is None:
        raise S3Error("MissingContentLength")
    headers = {"Content-Type": PART_TYPE}
    md5 = content_md5(req.headers)
    if md5 is not None:
        headers["ETag"] = md5
    await head_upload(req, upload_id)
    headers.update(checksum_sysmeta(req))
    r = await req.call("PUT", segments_container(req.bucket),
                       part_name(req.key, upload_id, number), headers=headers,
                       body=req.body, content_length=req.content_length)
    await r.close()
    if r.status == 404:
        raise await missing_upload(req, upload_id)
    if not r.ok:
        raise from_swift_status(r.status)
    return SwiftResponse.of(200, {"ETag": f'"{r.headers.get("ETag", "")}"',
                                  "Content-Length": "0", **checksum_echo(req)})


COPY_CONDITIONS = {
    "x-amz-copy-source-if-match": "If-Match",
    "x-amz-copy-source-if-none-match": "If-None-Match",
    "x-amz-copy-source-if-modified-since": "If-Modified-Since",
    "x-amz-copy-source-if-unmodified-since": "If-Unmodified-Since",
}


async def upload_part_copy(req: S3Request) -> SwiftResponse:
    """A part made of (a range of) another object: read it, write it as the part."""
    assert req.bucket is not None and req.key is not None
    number = part_number(req.op.part_number)
    upload_id = upload_id_of(req)
    src_bucket, src_key, src_vid = copy_source(req)
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
    await head_upload(req, upload_id)
    await access.authorize_source(req, src_bucket, src_key, bool(src_vid))
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
        raise await missing_upload(req, upload_id)
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


def _int_arg(req: S3Request, name: str, default: int, least: int = 0) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or int(raw) < least:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer "
                      "range", ArgumentName=name, ArgumentValue=raw)
    return int(raw)


# -- ListParts, Abort --------------------------------------------------------------------------

async def list_parts(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None and req.key is not None
    upload_id = upload_id_of(req)
    max_parts = min(_int_arg(req, "max-parts", MAX_LISTED), MAX_LISTED)
    after = _int_arg(req, "part-number-marker", 0)
    upload = await load_upload(req, upload_id)
    parts = sorted((p for p in (await stored_parts(req, req.key, upload_id)).values()
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


async def abort(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None and req.key is not None
    upload_id = upload_id_of(req)
    await head_upload(req, upload_id)
    container = segments_container(req.bucket)
    await delete_parts(req, req.key, upload_id)
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
    args = listing_args(q)
    prefix, delimiter, encoding, enc = args.prefix, args.delimiter, args.encoding, args.enc
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
        async for row in listing_rows(req, segments_container(req.bucket), prefix, marker):
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

