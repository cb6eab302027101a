"""The S3 operations, each carried out by Swift subrequests through the pipeline."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote

from multidict import CIMultiDict

from proxy.pipeline import SwiftResponse
from proxy.s3 import acl, buckets, checksums, conditions, cors, multipart, tagging, versioning
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.request import (
    S3Request,
    check_content_md5,
    content_md5,
    valid_bucket,
    valid_new_bucket,
)

Handler = Callable[[S3Request], Awaitable[SwiftResponse]]
MAX_KEYS = 1000
MAX_DELETE = 1000
# Sub-resources S3 has and we do not: NotImplemented rather than a wrong answer.
UNSUPPORTED = frozenset({
    "accelerate", "analytics", "encryption", "intelligent-tiering",
    "inventory", "legal-hold", "lifecycle", "logging", "metrics", "notification",
    "object-lock", "ownershipControls", "partNumber", "policy", "policyStatus",
    "publicAccessBlock", "replication", "requestPayment", "restore", "retention", "select",
    "torrent", "website", "attributes",
})
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type", "response-content-language": "Content-Language",
    "response-expires": "Expires", "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
OBJECT_HEADERS = ("Content-Type", "Content-Encoding", "Content-Disposition",
                  "Content-Language", "Cache-Control", "Expires")
GET_HEADERS = (*OBJECT_HEADERS, "Content-Length", "Content-Range", "Last-Modified",
               "Accept-Ranges")
CONDITIONAL = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")


def quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def owner(req: S3Request, parent: Any) -> None:
    info = req.caller.info
    el = x.add(parent, "Owner")
    x.add(el, "ID", info.project_id if info else "")
    x.add(el, "DisplayName", (info.project_name or "") if info else "")


def _subresource_handler(req: S3Request) -> Handler | None:
    """The module that answers a bucket's or object's sub-resource request, if any."""
    q = req.query
    if "uploads" in q or "uploadId" in q:
        return multipart.handle
    if "acl" in q:
        return acl.handle
    if "tagging" in q:
        return tagging.handle
    if "cors" in q:
        return cors.handle
    if "versioning" in q or "versions" in q or "versionId" in q:
        return versioning.handle
    return None


async def dispatch(req: S3Request) -> SwiftResponse:
    """The operation, on the account holding the bucket (``buckets.route``)."""
    return await buckets.route(req, _dispatch)


async def _dispatch(req: S3Request) -> SwiftResponse:
    unsupported = sorted(UNSUPPORTED & req.query.keys())
    if unsupported == ["partNumber"] and ("uploadId" in req.query or (
            req.key is not None and req.method in ("GET", "HEAD")
            and "versionId" not in req.query)):
        unsupported = []  # UploadPart, or GetObject/HeadObject of one part
    if unsupported == ["policy"] and req.method == "GET" and req.key is None:
        # Strata has no bucket policies: every bucket is one without a policy.
        await req.head_bucket()
        raise S3Error("NoSuchBucketPolicy", BucketName=req.bucket or "")
    if unsupported:
        raise S3Error("NotImplemented", f"?{unsupported[0]} is not implemented yet.")
    if req.bucket is not None:
        sub = _subresource_handler(req)
        if sub is not None:
            return await sub(req)
    if req.bucket is None:
        if req.method == "GET":
            return await list_buckets(req)
        raise S3Error("MethodNotAllowed", Method=req.method, ResourceType="SERVICE")
    if not valid_bucket(req.bucket):
        raise S3Error("InvalidBucketName", BucketName=req.bucket)
    if req.key is None:
        if req.method == "GET":
            if "location" in req.query:
                return await bucket_location(req)
            if req.query.get("list-type") == "2":
                return await list_objects(req, v2=True)
            return await list_objects(req, v2=False)
        if req.method == "HEAD":
            return await head_bucket(req)
        if req.method == "PUT":
            return await create_bucket(req)
        if req.method == "DELETE":
            return await delete_bucket(req)
        if req.method == "POST" and "delete" in req.query:
            return await delete_objects(req)
        raise S3Error("MethodNotAllowed", Method=req.method, ResourceType="BUCKET")
    if req.method in ("GET", "HEAD"):
        return await get_object(req)
    if req.method == "PUT":
        if "x-amz-copy-source" in req.headers:
            return await copy_object(req)
        return await put_object(req)
    if req.method == "DELETE":
        return await delete_object(req)
    raise S3Error("MethodNotAllowed", Method=req.method, ResourceType="OBJECT")


# -- service and buckets -------------------------------------------------------

async def list_buckets(req: S3Request) -> SwiftResponse:
    entries: list[dict[str, Any]] = []
    marker = ""
    while True:
        r = await req.call("GET", query={"format": "json", "marker": marker})
        if r.status == 204:
            break
        if not r.ok:
            raise from_swift_status(r.status)
        page = json.loads(await r.read() or b"[]")
        if not page:
            break
        entries += page
        marker = page[-1]["name"]
    doc = x.root("ListAllMyBucketsResult")
    owner(req, doc)
    buckets = x.add(doc, "Buckets")
    archives = versioning.hide_archives([e["name"] for e in entries])
    for e in entries:
        if e["name"] in archives or e["name"].endswith(multipart.SEGMENTS_SUFFIX):
            continue  # (multipart parts live in "<bucket>+segments")
        b = x.add(buckets, "Bucket")
        x.add(b, "Name", e["name"])
        x.add(b, "CreationDate", x.iso_from_swift(str(e.get("last_modified", ""))))
    return x.response(doc)


async def create_bucket(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None
    if not valid_new_bucket(req.bucket):
        raise S3Error("InvalidBucketName", BucketName=req.bucket)
    body = await req.body.read_all(64 << 10)
    if body.strip():
        doc = x.parse(body)
        if doc.tag != "CreateBucketConfiguration":
            raise S3Error("MalformedXML")
        where = (doc.findtext("LocationConstraint") or "").strip()
        if where and where not in (req.st.cfg.region, "us-east-1"):
            raise S3Error("InvalidLocationConstraint", LocationConstraint=where)
    acl_headers = acl.bucket_headers(req)
    claimed = await buckets.register(req)  # the global name, or BucketAlreadyExists
    r = await req.call("PUT", req.bucket, headers=acl_headers, content_length=0)
    await r.close()
    if claimed:
        await buckets.settle(req, r.ok)
    if r.status == 202:
        raise S3Error("BucketAlreadyOwnedByYou", BucketName=req.bucket)
    if not r.ok:
        raise from_swift_status(r.status, bucket=True)
    return SwiftResponse.of(200, {"Location": "/" + req.bucket, "Content-Length": "0"})


async def head_bucket(req: S3Request) -> SwiftResponse:
    await req.head_bucket()
    return SwiftResponse.of(200, {"x-amz-bucket-region": req.st.cfg.region,
                                  "Content-Length": "0"})


async def delete_bucket(req: S3Request) -> SwiftResponse:
    archived = await versioning.before_delete_bucket(req)  # BucketNotEmpty if versions
    r = await req.call("DELETE", req.bucket)
    await r.close()
    if r.status == 409:
        raise S3Error("BucketNotEmpty", BucketName=req.bucket or "")
    if not r.ok:
        err = from_swift_status(r.status, bucket=True)
        if err.code == "NoSuchBucket":
            err.extra["BucketName"] = req.bucket or ""
        raise err
    await buckets.release(req)
    if archived:
        await versioning.after_delete_bucket(req)
    return SwiftResponse.of(204)


async def bucket_location(req: S3Request) -> SwiftResponse:
    await req.head_bucket()
    doc = x.root("LocationConstraint")
    region = req.st.cfg.region
    doc.text = "" if region == "us-east-1" else region
    return x.response(doc)


# -- listings -------------------------------------------------------------------

def _int_arg(req: S3Request, name: str, default: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise S3Error("InvalidArgument", "Provided max-keys not an integer or within "
                      "integer range", ArgumentName=name, ArgumentValue=raw) from None
    if value < 0:
        raise S3Error("InvalidArgument", "Argument maxKeys must be an integer between 0 "
                      "and 2147483647", ArgumentName=name, ArgumentValue=raw)
    return value


def swift_marker(marker: str, prefix: str, delimiter: str) -> str:
    """A marker that is a rolled-up prefix (``a/``) skips everything under it."""
    if delimiter and marker.startswith(prefix) and marker.endswith(delimiter) \
            and delimiter in marker[len(prefix):]:
        return marker + "\U0010ffff"
    return marker


async def list_objects(req: S3Request, *, v2: bool) -> SwiftResponse:
    q = req.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    encoding = q.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type", ArgumentValue=encoding)
    max_keys = min(_int_arg(req, "max-keys", MAX_KEYS), MAX_KEYS)
    token = q.get("continuation-token")
    if v2 and token is not None:
        try:
            marker = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                          ArgumentName="continuation-token") from None
    elif v2:
        marker = swift_marker(q.get("start-after", ""), prefix, delimiter)
    else:
        marker = swift_marker(q.get("marker", ""), prefix, delimiter)
    items: list[dict[str, Any]] = []
    if max_keys:
        query = {"format": "json", "limit": str(max_keys + 1), "prefix": prefix,
                 "marker": marker}
        if delimiter:
            query["delimiter"] = delimiter
        r = await req.call("GET", req.bucket, query=query)
        if not r.ok:
            raise from_swift_status(r.status)
        data = await r.read()
        items = json.loads(data) if r.status == 200 and data else []
    else:
        await req.head_bucket()
    truncated = len(items) > max_keys
    items = items[:max_keys]

    enc = x.encoder(encoding)

    doc = x.root("ListBucketResult")
    x.add(doc, "Name", req.bucket)
    x.add(doc, "Prefix", enc(prefix))
    if v2:
        if token is not None:
            x.add(doc, "ContinuationToken", token)
        if "start-after" in q:
            x.add(doc, "StartAfter", enc(q["start-after"]))
        x.add(doc, "KeyCount", str(len(items)))
    else:
        x.add(doc, "Marker", enc(q.get("marker", "")))
    x.add(doc, "MaxKeys", str(max_keys))
    if delimiter:
        x.add(doc, "Delimiter", enc(delimiter))
    if encoding:
        x.add(doc, "EncodingType", encoding)
    x.add(doc, "IsTruncated", "true" if truncated else "false")
    if truncated and items:
        last = items[-1].get("name") or items[-1].get("subdir") or ""
        if v2:
            nxt = swift_marker(last, prefix, delimiter)
            x.add(doc, "NextContinuationToken",
                  base64.urlsafe_b64encode(nxt.encode()).decode())
        elif delimiter:
            x.add(doc, "NextMarker", enc(last))
    with_owner = not v2 or q.get("fetch-owner") == "true"
    for item in items:
        if "subdir" in item:
            continue
        c = x.add(doc, "Contents")
        x.add(c, "Key", enc(item["name"]))
        x.add(c, "LastModified", x.iso_from_swift(item.get("last_modified", "")))
        x.add(c, "ETag", quoted(item.get("hash", "")))
        x.add(c, "Size", str(item.get("bytes", 0)))
        if with_owner:
            owner(req, c)
        x.add(c, "StorageClass", "STANDARD")
    for item in items:
        if "subdir" in item:
            x.add(x.add(doc, "CommonPrefixes"), "Prefix", enc(item["subdir"]))
    return x.response(doc)


# -- objects ----------------------------------------------------------------------

def _meta_headers(req: S3Request) -> dict[str, str]:
    out = {}
    for k, v in req.headers.items():
        if k.lower().startswith("x-amz-meta-"):
            out["X-Object-Meta-" + k[len("x-amz-meta-"):]] = v
    for name in OBJECT_HEADERS:
        if name in req.headers:
            out[name] = req.headers[name]
    return out


def checksum_sysmeta(req: S3Request) -> dict[str, str]:
    """System metadata keeping the body's checked checksum (when its value is known)."""
    c = req.checksum
    return checksums.stored(c.algorithm, c.value) if c is not None and c.value else {}


def checksum_echo(req: S3Request) -> dict[str, str]:
    """``x-amz-checksum-<alg>`` of the stored body, as S3 answers a write."""
    c = req.checksum
    return {checksums.header_name(c.algorithm): c.value} if c is not None and c.value else {}


async def put_object(req: S3Request) -> SwiftResponse:
    if req.content_length is None:
        raise S3Error("MissingContentLength")
    headers = _meta_headers(req)
    md5 = content_md5(req.headers)
    if md5 is not None:
        headers["ETag"] = md5
    headers.update(checksum_sysmeta(req))
    headers.update(acl.object_headers(req), **tagging.object_headers(req))
    vcfg = await versioning.before_write(req, req.key or "")
    replaced = await multipart.superseded_upload(req, req.key or "", vcfg)
    r = await req.call("PUT", req.bucket, req.key, headers=headers, body=req.body,
                       content_length=req.content_length)
    await r.close()
    if r.status == 404:
        raise S3Error("NoSuchBucket", BucketName=req.bucket or "")
    if not r.ok:
        raise from_swift_status(r.status)
    await multipart.drop_superseded(req, req.key or "", replaced)
    return SwiftResponse.of(200, {"ETag": quoted(r.headers.get("ETag", "")),
                                  "Content-Length": "0", **checksum_echo(req),
                                  **versioning.written(vcfg, r.headers)})


async def get_object(req: S3Request) -> SwiftResponse:
    headers = {k: req.headers[k] for k in ("Range", *CONDITIONAL) if k in req.headers}
    part: multipart.PartRange | None = None
    if "partNumber" in req.query:  # a ranged read of one part
        if "Range" in req.headers:
            raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber "
                          "query parameter.")
        part = await multipart.part_range(req, multipart.part_number(req))
        if part.range is not None:
            headers["Range"] = part.range
    early = await multipart.etag_conditions(req, headers)  # a multipart ETag's If-*
    if early is not None:
        return early
    r = await req.call(req.method, req.bucket, req.key, headers=headers)
    if r.status == 304:
        await r.close()
        return SwiftResponse.of(304, {k: r.headers[k] for k in ("ETag", "Last-Modified")
                                      if k in r.headers})
    if not r.ok:
        await r.close()
        if r.status == 404:
            err = await req.missing()
            await versioning.annotate_missing(req, err)  # a delete marker says so
            raise err
        if r.status == 416:
            raise S3Error("InvalidRange", RangeRequested=req.headers.get("Range", ""))
        raise from_swift_status(r.status)
    out: CIMultiDict[str] = CIMultiDict()
    for name in GET_HEADERS:
        if name in r.headers:
            out[name] = r.headers[name]
    if "ETag" in r.headers:
        out["ETag"] = quoted(multipart.s3_etag(r.headers) or r.headers["ETag"])
    for k, v in r.headers.items():
        if k.lower().startswith("x-object-meta-"):
            out["x-amz-meta-" + k[len("x-object-meta-"):].lower()] = v
    if r.status == 200 and req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        out.update(checksums.response_headers(r.headers))
    for param, header in RESPONSE_OVERRIDES.items():
        if param in req.query:
            out[header] = req.query[param]
    out.setdefault("Accept-Ranges", "bytes")
    out.update(tagging.count_header(r.headers))
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


async def delete_object(req: S3Request) -> SwiftResponse:
    done = await multipart.delete_object(req, req.key or "", None)  # a marker if versioned
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
                return await multipart.delete_object(req, key, vid)
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
    copy_source, _, src_vid = req.headers["x-amz-copy-source"].partition("?versionId=")
    source = unquote(copy_source)
    src_bucket, _, src_key = source.lstrip("/").partition("/")
    if not src_bucket or not src_key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and "
                      "key: sourcebucket/sourcekey", ArgumentName="x-amz-copy-source",
                      ArgumentValue=req.headers["x-amz-copy-source"])
    directive = req.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.",
                      ArgumentName="x-amz-metadata-directive", ArgumentValue=directive)
    if directive == "COPY" and (src_bucket, src_key) == (req.bucket, req.key) and not src_vid:
        raise S3Error("InvalidRequest", "This copy request is illegal because it is trying "
                      "to copy an object to itself without changing the object's metadata, "
                      "storage class, website redirect location or encryption attributes.")
    await req.head_bucket()
    src_container, src_obj, version = src_bucket, src_key, None
    if src_vid:  # the current object or its archived copy
        src_container, src_obj, version = await versioning.resolve(
            req, src_bucket, src_key, unquote(src_vid))
        if version.marker:
            raise S3Error("InvalidRequest", "The source of a copy request may not "
                          "specifically refer to a delete marker by version id.")
    await conditions.check_copy_source(req, src_container, src_obj, src_key,
                                       version.origin if version else None)
    headers = {"X-Copy-From": "/" + quote(src_container, safe="") + "/" + quote(src_obj)}
    if directive == "REPLACE":
        headers.update(_meta_headers(req), **{"X-Fresh-Metadata": "true"})
    headers.update(acl.object_headers(req), **tagging.copy_headers(req))
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
