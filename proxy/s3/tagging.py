"""S3 tagging: bucket tags in container system metadata, object tags in object
system metadata (both JSON lists of ``[key, value]``).

Object system metadata is written only with the object's data: our object
server's POST replaces user metadata and keeps the data's system metadata as it
was (``objectstore/diskfile.py: merged_metadata``), as Swift's does. So a new
tag set (or ACL, ``acl.py``) for an existing object is a server-side copy of
the object onto itself (the proxy's ``copy`` feature): its bytes (checked
against the source's ETag), user metadata, object headers and other system
metadata are carried over and only the named system metadata changes. An SLO
or DLO manifest is copied as a manifest. The object gets a new Last-Modified,
and the copy is as large as the object (up to ``max_file_size``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from proxy.pipeline import SwiftResponse
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.request import S3Request, check_content_md5, copy_from

BUCKET_SYSMETA = "X-Container-Sysmeta-S3-Tagging"
OBJECT_SYSMETA = "X-Object-Sysmeta-S3-Tagging"
MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
MAX_BODY = 64 << 10
_ALLOWED = frozenset(" _.:/=+-@")

Tags = list[tuple[str, str]]


def _ok_chars(text: str) -> bool:
    return all(c.isalnum() or c.isspace() or c in _ALLOWED for c in text)


def validate(tags: Tags, limit: int) -> Tags:
    """S3's rules for a tag set; InvalidTag when one is broken."""
    if len(tags) > limit:
        raise S3Error("InvalidTag", f"Object tags cannot be greater than {limit}"
                      if limit == MAX_OBJECT_TAGS else
                      f"Bucket tag count cannot be greater than {limit}")
    seen: set[str] = set()
    for key, value in tags:
        if not key or len(key) > MAX_KEY or not _ok_chars(key):
            raise S3Error("InvalidTag", "The TagKey you have provided is invalid",
                          TagKey=key)
        if len(value) > MAX_VALUE or not _ok_chars(value):
            raise S3Error("InvalidTag", "The TagValue you have provided is invalid",
                          TagKey=key, TagValue=value)
        if key.lower().startswith("aws:"):
            raise S3Error("InvalidTag", "System tags cannot be added/updated by requester",
                          TagKey=key)
        if key in seen:
            raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key",
                          TagKey=key)
        seen.add(key)
    return tags


def from_xml(body: bytes, limit: int) -> Tags:
    doc = x.parse(body)
    tag_set = doc.find("TagSet")
    if doc.tag != "Tagging" or tag_set is None:
        raise S3Error("MalformedXML")
    tags: Tags = []
    for tag in tag_set:
        key, value = tag.findtext("Key"), tag.findtext("Value")
        if tag.tag != "Tag" or key is None or value is None:
            raise S3Error("MalformedXML")
        tags.append((key, value))
    return validate(tags, limit)


def to_xml(tags: Tags) -> ET.Element:
    doc = x.root("Tagging")
    tag_set = x.add(doc, "TagSet")
    for key, value in tags:
        tag = x.add(tag_set, "Tag")
        x.add(tag, "Key", key)
        x.add(tag, "Value", value)
    return doc


def dump(tags: Tags) -> str:
    """As stored: ASCII JSON (it travels in headers), empty for no tags."""
    return json.dumps([list(t) for t in tags], separators=(",", ":")) if tags else ""


def load(raw: str | None) -> Tags:
    if not raw:
        return []
    try:
        return [(str(k), str(v)) for k, v in json.loads(raw)]
    except (ValueError, TypeError):
        return []


def from_header(value: str) -> Tags:
    """``x-amz-tagging``: URL-encoded query form (``k1=v1&k2=v2``)."""
    try:
        pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=bool(value),
                          errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise S3Error("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as "
                      "UTF-8 then URLEncoded URL query parameters without tag name "
                      "duplicates.", ArgumentName="x-amz-tagging",
                      ArgumentValue=value) from None
    return validate(pairs, MAX_OBJECT_TAGS)


def object_headers(req: S3Request) -> dict[str, str]:
    """PutObject's tag system metadata from ``x-amz-tagging`` (none without it)."""
    value = req.headers.get("x-amz-tagging")
    if value is None:
        return {}
    return {OBJECT_SYSMETA: dump(from_header(value))}


def copy_headers(req: S3Request) -> dict[str, str]:
    """CopyObject's: ``x-amz-tagging-directive`` COPY (the source's, inherited by the
    copy) or REPLACE (``x-amz-tagging``, or none)."""
    directive = req.headers.get("x-amz-tagging-directive", "COPY").upper()
    if directive == "COPY":
        return {}
    if directive != "REPLACE":
        raise S3Error("InvalidArgument", "Unknown tagging directive.",
                      ArgumentName="x-amz-tagging-directive", ArgumentValue=directive)
    return {OBJECT_SYSMETA: dump(from_header(req.headers.get("x-amz-tagging", "")))}


def count_header(headers: Mapping[str, str]) -> dict[str, str]:
    """``x-amz-tagging-count`` for an object's GET/HEAD answer, when it has tags."""
    n = len(load(headers.get(OBJECT_SYSMETA)))
    return {"x-amz-tagging-count": str(n)} if n else {}


async def rewrite_object_sysmeta(req: S3Request, sysmeta: dict[str, str], *,
                                 authorized: bool = False) -> None:
    """Set the object's system metadata ``sysmeta``, keeping all else (see the module's
    doc). ``authorized``: as a pre-authorized request (an ACL grant said yes)."""
    assert req.bucket is not None and req.key is not None
    if not req.st.cfg.proxy.copy:  # without the copy feature a PUT would empty the object
        raise S3Error("NotImplemented", "Changing an object's tags or ACL needs the "
                      "proxy's copy feature.")
    saved = req.env
    if authorized:
        req.env = {**req.env, "authorized": True, "auth_scope": (req.account, req.bucket)}
    try:
        head = await req.head_object()
        manifest = "X-Static-Large-Object" in head.headers or \
            "X-Object-Manifest" in head.headers
        headers = {"X-Copy-From": copy_from(req.bucket, req.key), **sysmeta}
        if not manifest and "ETag" in head.headers:
            # the source read fails (412) if the object changed since the HEAD
            headers["If-Match"] = head.headers["ETag"]
        r = await req.call("PUT", req.bucket, req.key, headers=headers, body=b"",
                           query={"multipart-manifest": "get"} if manifest else None)
        await r.close()
    finally:
        req.env = saved
    if r.status == 412:
        raise S3Error("OperationAborted", "A conflicting conditional operation is currently "
                      "in progress against this resource. Please try again.")
    if not r.ok:
        raise from_swift_status(r.status, key=True)


async def get_bucket_tagging(req: S3Request) -> SwiftResponse:
    r = await req.call("HEAD", req.bucket)
    await r.close()
    if not r.ok:
        raise from_swift_status(r.status)
    if not req.caller.owns(req.account):
        raise S3Error("AccessDenied")
    tags = load(r.headers.get(BUCKET_SYSMETA))
    if not tags:
        raise S3Error("NoSuchTagSet", BucketName=req.bucket or "")
    return x.response(to_xml(tags))


async def put_bucket_tagging(req: S3Request) -> SwiftResponse:
    body = await req.body.read_all(MAX_BODY)
    check_content_md5(req.headers, body)
    return await set_bucket_tagging(req, from_xml(body, MAX_BUCKET_TAGS))


async def delete_bucket_tagging(req: S3Request) -> SwiftResponse:
    return await set_bucket_tagging(req, [])


async def set_bucket_tagging(req: S3Request, tags: Tags) -> SwiftResponse:
    r = await req.call("POST", req.bucket, headers={BUCKET_SYSMETA: dump(tags)})
    await r.close()
    if not r.ok:
        raise from_swift_status(r.status)
    return SwiftResponse.of(204)


async def get_object_tagging(req: S3Request) -> SwiftResponse:
    r = await req.head_object()
    return x.response(to_xml(load(r.headers.get(OBJECT_SYSMETA))))


async def put_object_tagging(req: S3Request) -> SwiftResponse:
    body = await req.body.read_all(MAX_BODY)
    check_content_md5(req.headers, body)
    tags = from_xml(body, MAX_OBJECT_TAGS)
    await rewrite_object_sysmeta(req, {OBJECT_SYSMETA: dump(tags)})
    return SwiftResponse.of(200, {"Content-Length": "0"})


async def delete_object_tagging(req: S3Request) -> SwiftResponse:
    await rewrite_object_sysmeta(req, {OBJECT_SYSMETA: ""})
    return SwiftResponse.of(204)
