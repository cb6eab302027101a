"""The service's and buckets' own operations: ListBuckets, Create/Head/DeleteBucket,
GetBucketLocation and ListObjects (v1 and v2)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from proxy.pipeline import SwiftResponse
from proxy.s3 import acl, locking, multipart, objectlock, registry, versioning
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.request import S3Request, valid_new_bucket
from proxy.s3.shared import listing_args, owner, quoted, swift_marker

MAX_KEYS = 1000


async def list_buckets(req: S3Request) -> SwiftResponse:
    entries: list[dict[str, Any]] = []
    marker = ""
    while True:
        page = await req.listing(None, {"marker": marker}, missing_ok=False)
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
    acl_headers = await acl.bucket_headers(req)
    lock = req.headers.get(locking.ENABLE_HEADER, "").strip().lower()
    if lock not in ("", "true", "false"):
        raise S3Error("InvalidArgument", ArgumentName=locking.ENABLE_HEADER,
                      ArgumentValue=req.headers[locking.ENABLE_HEADER])
    claimed = await registry.register(req)  # the global name, or BucketAlreadyExists
    r = await req.call("PUT", req.bucket, headers=acl_headers, content_length=0)
    await r.close()
    if claimed:
        await registry.settle(req, r.ok)
    if r.status == 202:
        raise S3Error("BucketAlreadyOwnedByYou", BucketName=req.bucket)
    if not r.ok:
        raise from_swift_status(r.status, bucket=True)
    if lock == "true":  # Object Lock needs versioning, which then stays on
        await versioning.set_status(req, "Enabled")
        await objectlock.enable(req, locking.LockConfig())
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
        raise req.bucket_failed(r.status)
    await registry.release(req)
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

def _max_keys(req: S3Request) -> int:
    raw = req.query.get("max-keys")
    if raw is None:
        return MAX_KEYS
    try:
        value = int(raw)
    except ValueError:
        raise S3Error("InvalidArgument", "Provided max-keys not an integer or within "
                      "integer range", ArgumentName="max-keys", ArgumentValue=raw) from None
    if value < 0:
        raise S3Error("InvalidArgument", "Argument maxKeys must be an integer between 0 "
                      "and 2147483647", ArgumentName="max-keys", ArgumentValue=raw)
    return min(value, MAX_KEYS)


async def list_objects(req: S3Request) -> SwiftResponse:
    return await _list_objects(req, v2=False)


async def list_objects_v2(req: S3Request) -> SwiftResponse:
    return await _list_objects(req, v2=True)


async def _list_objects(req: S3Request, *, v2: bool) -> SwiftResponse:
    q = req.query
    args = listing_args(q)
    prefix, delimiter, enc = args.prefix, args.delimiter, args.enc
    max_keys = _max_keys(req)
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
        query = {"limit": str(max_keys + 1), "prefix": prefix, "marker": marker}
        if delimiter:
            query["delimiter"] = delimiter
        items = await req.listing(req.bucket, query, missing_ok=False)
    else:
        await req.head_bucket()
    truncated = len(items) > max_keys
    items = items[:max_keys]

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
    if args.encoding:
        x.add(doc, "EncodingType", args.encoding)
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
