"""The objects' own operations: Put/Get/Head/Copy/DeleteObject and DeleteObjects.

A write first lets versioning keep what it replaces (``versioning.before_write``);
the multipart object it supersedes, whose parts go once the write succeeded, is
what the object servers say it replaced (``multipart.report_replaced``) for a
PutObject, and found by a HEAD first (``multipart.superseded_upload``) for a
copy, whose bytes may come from that very object; a read answers a multipart object's S3
ETag and reads one part of it for ``?partNumber``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import unquote

from multidict import CIMultiDict

from proxy.pipeline import SwiftResponse
from proxy.s3 import (
    access,
    acl,
    checksums,
    conditions,
    locking,
    multipart,
    preconditions,
    tagging,
    versioning,
)
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.request import S3Request, check_content_md5, content_md5, copy_from
from proxy.s3.shared import (
    OBJECT_HEADERS,
    checksum_echo,
    checksum_sysmeta,
    copy_source,
    meta_headers,
    quoted,
)

MAX_DELETE = 1000
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type", "response-content-language": "Content-Language",
    "response-expires": "Expires", "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
GET_HEADERS = (*OBJECT_HEADERS, "Content-Length", "Content-Range", "Last-Modified",
               "Accept-Ranges")
CONDITIONAL = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
_GET_NAMES = {name.lower(): name for name in (*GET_HEADERS, "ETag")}
_META, _SYSMETA = "x-object-meta-", "x-object-sysmeta-"
_FORWARDED = ("Range", *CONDITIONAL)


async def put_object(req: S3Request) -> SwiftResponse:
    if req.content_length is None:
        raise S3Error("MissingContentLength")
    stored, vcfg = await store(req)
    return SwiftResponse.of(200, {"ETag": quoted(stored.get("ETag", "")),
                                  "Content-Length": "0", **checksum_echo(req),
                                  **versioning.written(vcfg, stored)})


async def store(req: S3Request) -> tuple[Mapping[str, str], versioning.Config]:
    """Write ``req.body`` as ``req.key`` with what its headers ask (PutObject's, and a
    browser upload's made from its form): the Swift PUT's answer headers, and the
    bucket's versioning (for ``versioning.written``). A body of unknown length
    (``req.content_length`` None) is sent chunked."""
    locking.require_digest(req)
    headers = meta_headers(req)
    md5 = content_md5(req.headers)
    if md5 is not None:
        headers["ETag"] = md5
    headers.update(checksum_sysmeta(req))
    headers.update(await acl.object_headers(req), **tagging.object_headers(req))
    headers.update(await locking.write_sysmeta(req))
    expected = await preconditions.expectation(req)
    headers.update(expected)
    if req.content_length is None:
        headers["Transfer-Encoding"] = "chunked"
    vcfg = await versioning.before_write(req, req.key or "")
    headers.update(multipart.report_replaced(vcfg))
    r = await req.call("PUT", req.bucket, req.key, headers=headers, body=req.body,
                       content_length=req.content_length)
    await r.close()
    if r.status == 404:
        raise S3Error("NoSuchBucket", BucketName=req.bucket or "")
    if not r.ok:
        raise preconditions.lost_race(expected, r.status) or from_swift_status(r.status)
    for replaced in multipart.replaced_uploads(r.headers):
        await multipart.drop_superseded(req, req.key or "", replaced)
    return r.headers, vcfg


def forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    """What a GetObject/HeadObject passes on to Swift: its range and conditions."""
    out = {}
    for name in _FORWARDED:
        value = headers.get(name)
        if value is not None:
            out[name] = value
    return out


async def get_object(req: S3Request) -> SwiftResponse:
    headers = forwarded(req.headers)
    part: multipart.PartRange | None = None
    if "partNumber" in req.query:  # a ranged read of one part
        if "Range" in req.headers:
            raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber "
                          "query parameter.")
        part = await multipart.part_range(req, multipart.part_number(req.query.get("partNumber")))
        if part.range is not None:
            headers["Range"] = part.range
    if "If-Match" in headers or "If-None-Match" in headers:
        early = await multipart.etag_conditions(req, headers)  # a multipart ETag's If-*
        if early is not None:
            return early
    r = await req.call(req.method, req.bucket, req.key, headers=headers)
    if (r.ok or r.status == 304) and not access.object_allowed(req, r.headers):
        await r.close()
        raise S3Error("AccessDenied")  # the object's own ACL does not let the caller read
    if r.status == 304:
        await r.close()
        return SwiftResponse.of(304, {k: r.headers[k] for k in ("ETag", "Last-Modified")
                                      if k in r.headers})
    if not r.ok:
        await r.close()
        if r.status == 404:
            if req.memo.get(access.OBJECT_CHECK) and not await access.may_list(req):
                raise S3Error("AccessDenied")  # who may not list may not learn what is not
            err = await req.missing()
            await versioning.annotate_missing(req, err)  # a delete marker says so
            raise err
        if r.status == 416:
            raise S3Error("InvalidRange", RangeRequested=req.headers.get("Range", ""))
        raise from_swift_status(r.status)
    out = answer(r.headers, r.status == 200 and
                 req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED")
    if req.query:
        for param, header in RESPONSE_OVERRIDES.items():
            if param in req.query:
                out[header] = req.query[param]
    out.setdefault("Accept-Ranges", "bytes")
    status = r.status
    if part is not None:
        if part.parts is not None:
            out["x-amz-mp-parts-count"] = str(part.parts)
        if req.method == "HEAD" and part.range is not None:  # a HEAD is not ranged below
            status = 206
            out["Content-Length"] = str(part.last - part.first + 1)
            out["Content-Range"] = part.content_range
    vid = await versioning.current_version_id(req, r.headers.get("X-Timestamp"))
    if vid is not None:
        out["x-amz-version-id"] = vid
    return SwiftResponse(status, out, r.body, r.on_close)


def answer(swift: Mapping[str, str], checksums_asked: bool) -> CIMultiDict[str]:
    """GetObject's and HeadObject's answer headers from Swift's: with what S3 keeps
    beside the object (its S3 ETag, tags, lock; its checksum when ``checksums_asked``),
    without ``Accept-Ranges`` or a version id."""
    out, sysmeta = answer_headers(swift)
    if sysmeta:  # what S3 keeps beside the object: its S3 ETag, checksum, tags, lock
        if "ETag" in swift:
            out["ETag"] = quoted(multipart.s3_etag(swift) or swift["ETag"])
        if checksums_asked:
            out.update(checksums.response_headers(swift))
        out.update(tagging.count_header(swift))
        out.update(locking.response_headers(swift))
    return out


def answer_headers(swift: Mapping[str, str]) -> tuple[CIMultiDict[str], bool]:
    """An object's GET/HEAD answer headers from Swift's, in one pass: those S3 answers
    as they are, the ETag quoted, user metadata as ``x-amz-meta-*``; and whether the
    object has system metadata (which the S3 ETag, checksums, tags and locks are)."""
    out: CIMultiDict[str] = CIMultiDict()
    sysmeta = False
    for k, v in swift.items():
        low = k.lower()
        name = _GET_NAMES.get(low)
        if name is not None:
            out[name] = quoted(v) if name == "ETag" else v
        elif low.startswith(_META):
            out["x-amz-meta-" + low[len(_META):]] = v
        elif low.startswith(_SYSMETA):
            sysmeta = True
    return out, sysmeta


async def remove(req: S3Request, key: str, vid: str | None) -> versioning.Deleted:
    """DeleteObject (and each key of DeleteObjects): on a bucket that never had
    versioning a large object goes with its segments; otherwise versioning decides."""
    if vid is None and not (await versioning.bucket_config(req)).configured:
        status = await multipart.delete(req, key)
        if status == 404:
            await req.head_bucket()
        elif status // 100 != 2:
            raise from_swift_status(status)
        return versioning.Deleted()
    return await versioning.delete(req, key, vid)


async def delete_object(req: S3Request) -> SwiftResponse:
    done = await remove(req, req.key or "", None)  # a marker if versioned
    headers = {}
    if done.version_id is not None:
        headers["x-amz-version-id"] = done.version_id
    if done.marker:
        headers["x-amz-delete-marker"] = "true"
    return SwiftResponse.of(204, headers)


async def delete_objects(req: S3Request) -> SwiftResponse:
    body = await req.body.read_all(2 << 20)
    check_content_md5(req.headers, body)
    doc = x.parse(body)
    if doc.tag != "Delete":
        raise S3Error("MalformedXML")
    quiet = (doc.findtext("Quiet") or "false").strip().lower() == "true"
    keys: list[tuple[str, str | None]] = []
    for obj in doc.findall("Object"):
        key = obj.findtext("Key")
        if key is None or not key:
            raise S3Error("MalformedXML")
        keys.append((key, obj.findtext("VersionId")))
    if not keys or len(keys) > MAX_DELETE:
        raise S3Error("MalformedXML")
    await req.head_bucket()
    sem = asyncio.Semaphore(16)

    async def one(key: str, vid: str | None) -> versioning.Deleted | S3Error:
        async with sem:
            try:
                if not await access.allowed_key(req, key, vid is not None):
                    return S3Error("AccessDenied")
                return await remove(req, key, vid)
            except S3Error as err:
                return err

    results = await asyncio.gather(*(one(k, v) for k, v in keys))
    result = x.root("DeleteResult")
    for (key, vid), done in zip(keys, results, strict=True):
        if isinstance(done, versioning.Deleted):
            if not quiet:
                d = x.add(result, "Deleted")
                x.add(d, "Key", key)
                if vid is not None:
                    x.add(d, "VersionId", vid)
                if done.marker:
                    x.add(d, "DeleteMarker", "true")
                    x.add(d, "DeleteMarkerVersionId", done.version_id or "")
        else:
            e = x.add(result, "Error")
            x.add(e, "Key", key)
            if vid is not None:
                x.add(e, "VersionId", vid)
            x.add(e, "Code", done.code)
            x.add(e, "Message", done.message)
    return x.response(result)


async def copy_object(req: S3Request) -> SwiftResponse:
    src_bucket, src_key, src_vid = copy_source(req)
    directive = req.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.",
                      ArgumentName="x-amz-metadata-directive", ArgumentValue=directive)
    if directive == "COPY" and (src_bucket, src_key) == (req.bucket, req.key) and not src_vid:
        raise S3Error("InvalidRequest", "This copy request is illegal because it is trying "
                      "to copy an object to itself without changing the object's metadata, "
                      "storage class, website redirect location or encryption attributes.")
    await req.head_bucket()
    await access.authorize_source(req, src_bucket, src_key, bool(src_vid))
    src_container, src_obj, version = src_bucket, src_key, None
    if src_vid:  # the current object or its archived copy
        src_container, src_obj, version = await versioning.resolve(
            req, src_bucket, src_key, unquote(src_vid))
        if version.marker:
            raise S3Error("InvalidRequest", "The source of a copy request may not "
                          "specifically refer to a delete marker by version id.")
    await conditions.check_copy_source(req, src_container, src_obj, src_key,
                                       version.origin if version else None)
    headers = {"X-Copy-From": copy_from(src_container, src_obj)}
    if directive == "REPLACE":
        headers.update(meta_headers(req), **{"X-Fresh-Metadata": "true"})
    headers.update(await acl.object_headers(req, copy=True), **tagging.copy_headers(req))
    headers.update(await locking.write_sysmeta(req, copy=True))
    vcfg = await versioning.before_write(req, req.key or "")
    replaced = await multipart.superseded_upload(req, req.key or "", vcfg)
    r = await req.call("PUT", req.bucket, req.key, headers=headers, body=b"")
    await r.close()
    if r.status == 404:
        raise S3Error("NoSuchKey", Key=src_key)
    if not r.ok:
        raise from_swift_status(r.status)
    await multipart.drop_superseded(req, req.key or "", replaced)
    doc = x.root("CopyObjectResult")
    x.add(doc, "LastModified", x.iso_from_http(r.headers.get("Last-Modified", "")))
    x.add(doc, "ETag", quoted(r.headers.get("ETag", "")))
    resp = x.response(doc)
    resp.headers.update(versioning.written(vcfg, r.headers))
    if version is not None:
        resp.headers["x-amz-copy-source-version-id"] = version.vid
    return resp
