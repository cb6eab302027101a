"""The operations on versions: Get/PutBucketVersioning, ListObjectVersions, and
GetObject/HeadObject/DeleteObject of one version (``?versionId=``).

How versions are kept (Swift's history mode, aliases, the ``null`` version) is
``versioning``'s: this module answers the requests with it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from common import timestamp as tsmod
from proxy.pipeline import SwiftResponse
from proxy.s3 import objects
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error
from proxy.s3.request import S3Request
from proxy.s3.shared import listing_args, owner, quoted, swift_marker
from proxy.s3.versioning import (
    PAGE,
    Version,
    archive_of,
    bucket_config,
    build_versions,
    config_of,
    delete,
    parse_version_id,
    resolve,
    set_status,
    versions_of,
)

MAX_KEYS = 1000


# -- one version of an object -----------------------------------------------------------

async def get_version(req: S3Request) -> SwiftResponse:
    """GetObject/HeadObject of one version: the object GET, on whichever copy holds it."""
    assert req.bucket is not None and req.key is not None
    container, obj, v = await resolve(req, req.bucket, req.key, req.op.version_id or "")
    if v.marker:
        err = S3Error("MethodNotAllowed", Method=req.method, ResourceType="DeleteMarker")
        err.answer_headers.update({"x-amz-delete-marker": "true", "x-amz-version-id": v.vid,
                            "Last-Modified": tsmod.http_date(v.origin)})
        raise err
    resp = await objects.get_object(replace(req, bucket=container, key=obj))
    resp.headers["x-amz-version-id"] = v.vid
    if not v.current and resp.status != 304:
        resp.headers["Last-Modified"] = tsmod.http_date(v.origin)
    return resp


async def delete_version(req: S3Request) -> SwiftResponse:
    """DeleteObject of one version."""
    assert req.key is not None
    vid = req.op.version_id or ""
    done = await delete(req, req.key, vid)
    headers = {"x-amz-version-id": done.version_id or vid}
    if done.marker:
        headers["x-amz-delete-marker"] = "true"
    return SwiftResponse.of(204, headers)


# -- the bucket's versioning configuration -------------------------------------------------

async def get_versioning(req: S3Request) -> SwiftResponse:
    r = await req.call("HEAD", req.bucket)
    await r.close()
    if not r.ok:
        raise req.bucket_failed(r.status)
    doc = x.root("VersioningConfiguration")
    cfg = config_of(r.headers)
    if cfg.configured:
        x.add(doc, "Status", cfg.status)
    return x.response(doc)


async def put_versioning(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None
    doc = x.parse(await req.body.read_all(64 << 10))
    if doc.tag != "VersioningConfiguration":
        raise S3Error("MalformedXML")
    status = doc.findtext("Status")
    mfa = doc.findtext("MfaDelete")
    if status is not None and status not in ("Enabled", "Suspended"):
        raise S3Error("MalformedXML")
    if mfa is not None and mfa not in ("Enabled", "Disabled"):
        raise S3Error("MalformedXML")
    if mfa == "Enabled":
        raise S3Error("NotImplemented", "MFA Delete is not supported.")
    await set_status(req, status)
    return SwiftResponse.of(200, {"Content-Length": "0"})


# -- ListObjectVersions ---------------------------------------------------------------------

async def _archive_keys(req: S3Request, prefix: str, after: str, want: int) -> tuple[list[str],
                                                                                     bool]:
    """Keys with archived copies, in key order: ``want`` of them after ``after``, and
    whether there may be more. The archive is ordered by key length first, so each
    length present is listed on its own (a probe finds the next length present)."""
    archive = archive_of(req.bucket or "")
    found: list[str] = []
    more = False
    length = max(len(prefix.encode()), 1)
    while length < 0x1000:
        probe = await req.listing(archive, {"marker": f"{length:03x}", "limit": "1"})
        if not probe:
            break
        try:
            length = int(probe[0]["name"][:3], 16)
        except ValueError:
            break
        head = f"{length:03x}"
        marker = head + after
        got = 0
        while True:
            page = await req.listing(archive, {"prefix": head + prefix, "marker": marker,
                                                 "limit": str(PAGE)})
            last = None
            for e in page:
                key = e["name"][3:].rpartition("/")[0]
                if len(key.encode()) != length or key <= after or key == last:
                    continue
                last = key
                found.append(key)
                got += 1
            if len(page) < PAGE or got > want:
                break
            tail = page[-1]["name"][3:].rpartition("/")[0]
            marker = head + tail + "/\U0010ffff"
        if got > want:
            more = True
        length += 1
    found = sorted(set(found))
    if len(found) > want:
        return found[:want], True
    return found, more


def _just_before(name: str) -> str:
    """The greatest name that sorts before ``name`` (near enough: a listing marker)."""
    last = name[-1]
    if last == "\x00":
        return name[:-1]
    return name[:-1] + chr(ord(last) - 1) + "\U0010ffff"


def iso(ts: str) -> str:
    """A timestamp as S3's ``2024-05-01T12:34:56.123Z``."""
    whole, _, frac = ts.partition(".")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(whole))) + \
        f".{(frac + '000')[:3]}Z"


async def list_versions(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None
    q = req.query
    args = listing_args(q)
    prefix, delimiter, encoding, enc = args.prefix, args.delimiter, args.encoding, args.enc
    raw_max = q.get("max-keys", str(MAX_KEYS))
    try:
        max_keys = min(int(raw_max), MAX_KEYS)
        if max_keys < 0:
            raise ValueError
    except ValueError:
        raise S3Error("InvalidArgument", "Provided max-keys not an integer or within integer "
                      "range", ArgumentName="max-keys", ArgumentValue=raw_max) from None
    key_marker = q.get("key-marker", "")
    vid_marker = q.get("version-id-marker", "")
    if vid_marker and not key_marker:
        raise S3Error("InvalidArgument", "A version-id marker cannot be specified without a "
                      "key marker.", ArgumentName="version-id-marker", ArgumentValue=vid_marker)
    if vid_marker:
        parse_version_id(vid_marker)
    cfg = await bucket_config(req)
    # A bucket that never had versioning has no archive (and a container of that name
    # is not ours): its versions are its current objects, one listing as ListObjects.
    has_archive = cfg.configured and (
        await req.st.info(req.txn, req.account, archive_of(req.bucket))).exists
    # with a version-id marker the key marker's own remaining versions come first
    after = _just_before(key_marker) if vid_marker \
        else swift_marker(key_marker, prefix, delimiter)
    want = max_keys + 1
    try:
        current_page = await req.listing(req.bucket, {"prefix": prefix, "marker": after,
                                                        "limit": str(want)}, missing_ok=False)
    except S3Error as err:
        if err.code == "NoSuchBucket":
            raise req.bucket_failed(404) from None
        raise
    cur_more = len(current_page) >= want
    archived, arch_more = await _archive_keys(req, prefix, after, want) if has_archive \
        else ([], False)
    currents = {e["name"]: e for e in current_page if "name" in e}
    keys = sorted(set(currents) | set(archived))
    limit_key = None  # keys past the end of a truncated source are not known yet
    if cur_more and current_page:
        limit_key = current_page[-1]["name"]
    if arch_more and archived:
        limit_key = min(limit_key, archived[-1]) if limit_key else archived[-1]
    if limit_key is not None:
        keys = [k for k in keys if k <= limit_key]
    entries: list[tuple[str, Version | None]] = []  # (key or common prefix, version)
    seen_prefixes: set[str] = set()
    for key in keys:
        if delimiter and delimiter in key[len(prefix):]:
            cp = key[:len(prefix) + key[len(prefix):].index(delimiter) + len(delimiter)]
            if cp not in seen_prefixes and cp != key_marker:
                seen_prefixes.add(cp)
                entries.append((cp, None))
            continue
        entries.append((key, None))
    # the versions of the first keys, until max-keys entries
    out: list[tuple[str, Version | None]] = []
    truncated = limit_key is not None
    sem = asyncio.Semaphore(8)

    async def of(key: str) -> list[Version]:
        if not has_archive:
            return build_versions(cfg, key, currents.get(key), [])
        async with sem:
            return await versions_of(req, cfg, key, current=currents.get(key))

    plain = [k for k, _ in entries if k not in seen_prefixes]
    fetched = dict(zip(plain[:want], await asyncio.gather(*(of(k) for k in plain[:want])),
                       strict=True))
    for name, _ in entries:
        if len(out) > max_keys:
            break
        if name in seen_prefixes:
            out.append((name, None))
            continue
        if name not in fetched:
            truncated = True
            break
        versions = fetched[name]
        if vid_marker and name == key_marker:
            ids = [ver.vid for ver in versions]
            versions = versions[ids.index(vid_marker) + 1:] if vid_marker in ids else []
        out += [(name, ver) for ver in versions]
    if len(out) > max_keys:
        truncated = True
        out = out[:max_keys]

    doc = x.root("ListVersionsResult")
    x.add(doc, "Name", req.bucket)
    x.add(doc, "Prefix", enc(prefix))
    x.add(doc, "KeyMarker", enc(key_marker))
    x.add(doc, "VersionIdMarker", vid_marker)
    if truncated and out:
        name, last = out[-1]
        x.add(doc, "NextKeyMarker", enc(name))
        if last is not None:
            x.add(doc, "NextVersionIdMarker", last.vid)
    x.add(doc, "MaxKeys", str(max_keys))
    if delimiter:
        x.add(doc, "Delimiter", enc(delimiter))
    if encoding:
        x.add(doc, "EncodingType", encoding)
    x.add(doc, "IsTruncated", "true" if truncated else "false")
    for name, item in out:
        if item is None:
            continue
        el = x.add(doc, "DeleteMarker" if item.marker else "Version")
        x.add(el, "Key", enc(name))
        x.add(el, "VersionId", item.vid)
        x.add(el, "IsLatest", "true" if fetched[name][0] is item else "false")
        x.add(el, "LastModified", iso(item.origin))
        if not item.marker:
            x.add(el, "ETag", quoted(item.etag))
            x.add(el, "Size", str(item.size))
            x.add(el, "StorageClass", "STANDARD")
        owner(req, el)
    for name, item in out:
        if item is None:
            x.add(x.add(doc, "CommonPrefixes"), "Prefix", enc(name))
    return x.response(doc)

