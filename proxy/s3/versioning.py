"""S3 bucket versioning, built on Swift's history-mode versioned writes.

Enabling versioning on bucket ``b`` makes the container ``b+versions`` (same
account) and sets ``X-History-Location: b+versions`` on ``b``; the
``versioned_writes`` feature then copies the current object there before every
overwrite or delete, as ``<3 hex digits of the key's UTF-8 length><key>/<ts>``
where ``<ts>`` is the archived object's own X-Timestamp, and a DELETE adds a
delete marker there (an empty object of type ``DELETE_MARKER`` named with the
time of the delete). Suspending removes the history location and keeps the
archive. The S3 state (``Enabled``/``Suspended``) and the times it changed are
container sysmeta of ``b``.

* A version id is the timestamp a copy was first written with: the current
  object's X-Timestamp, an archived copy's (or marker's) name.
* A copy that was written while versioning was not enabled (before it was first
  enabled, or while suspended) has the id ``null``: the transition log tells.
* Restoring a version as the current object (deleting the newest version or a
  delete marker) writes a new copy, with a new timestamp ``C``; an alias
  ``<3hex><key>/<C>-<original ts>`` (an empty object in the archive, found by
  the same prefix listing as the versions) keeps its id stable, wherever the
  copy later goes.
* While suspended, S3's rules are kept by this layer: a write first moves a
  non-null current version into the archive and drops the key's null version;
  a delete adds a ``null`` delete marker.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from common import timestamp as tsmod
from proxy.features.versioned_writes import DELETE_MARKER, versions_prefix
from proxy.pipeline import SwiftResponse
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.request import S3Request

ARCHIVE_SUFFIX = "+versions"
SYS_STATUS = "X-Container-Sysmeta-S3-Versioning"
SYS_LOG = "X-Container-Sysmeta-S3-Versioning-Log"
ALIAS_TYPE = "application/x-s3-version-alias"
NULL = "null"
MAX_KEYS = 1000
PAGE = 1000


def archive_of(bucket: str) -> str:
    return bucket + ARCHIVE_SUFFIX


def parse_version_id(raw: str) -> str:
    """``null`` or a normalized timestamp; InvalidArgument for anything else."""
    if raw == NULL:
        return raw
    try:
        ok = tsmod.normalize(raw) == raw
    except tsmod.BadTimestamp:
        ok = False
    if not ok:
        raise S3Error("InvalidArgument", "Invalid version id specified",
                      ArgumentName="versionId", ArgumentValue=raw)
    return raw


def ts_from_iso(value: str) -> str:
    """A listing's ``last_modified`` (``2024-05-01T12:34:56.123450``) as a timestamp."""
    whole, _, frac = value.partition(".")
    secs = calendar.timegm(time.strptime(whole[:19], "%Y-%m-%dT%H:%M:%S"))
    return tsmod.normalize(f"{secs}.{(frac + '00000')[:5]}")


# -- the bucket's state ----------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    status: str = ""  # "", "Enabled" or "Suspended"
    log: tuple[tuple[str, str], ...] = ()  # ("E" | "S", timestamp), oldest first

    @property
    def enabled(self) -> bool:
        return self.status == "Enabled"

    @property
    def configured(self) -> bool:
        return bool(self.status)

    def is_null(self, ts: str) -> bool:
        """Was a copy written at ``ts`` written while versioning was not enabled?"""
        state = "S"
        for kind, when in self.log:
            if when > ts:
                break
            state = kind
        return state != "E"

    def version_id(self, ts: str) -> str:
        return NULL if self.is_null(ts) else ts


def config_of(headers: Mapping[str, str]) -> Config:
    lowered = {k.lower(): v for k, v in headers.items()}
    status = lowered.get(SYS_STATUS.lower(), "")
    log = []
    for item in lowered.get(SYS_LOG.lower(), "").split():
        if len(item) > 1 and item[0] in "ES":
            log.append((item[0], item[1:]))
    return Config(status if status in ("Enabled", "Suspended") else "", tuple(log))


async def bucket_config(req: S3Request, bucket: str | None = None) -> Config:
    """The bucket's versioning state (from the cached container HEAD)."""
    name = bucket if bucket is not None else req.bucket
    if name is None:
        return Config()
    info = await req.st.info(req.txn, req.account, name)
    return config_of(info.headers) if info.exists else Config()


# -- a key's versions -----------------------------------------------------------------

@dataclass
class Version:
    key: str
    vid: str
    stored: str  # the timestamp that orders it: the copy's own
    origin: str  # the timestamp its id and LastModified come from
    marker: bool = False
    etag: str = ""
    size: int = 0
    archived: str | None = None  # its name in the archive; None for the current object
    alias: str | None = None  # the name of its alias in the archive, if any

    @property
    def current(self) -> bool:
        return self.archived is None


class _Unknown:
    pass


UNKNOWN = _Unknown()


async def _listing(req: S3Request, container: str, query: dict[str, str]) -> list[Any]:
    r = await req.call("GET", container, query={"format": "json", **query})
    data = await r.read()
    if r.status in (204, 404):
        return []
    if not r.ok:
        raise from_swift_status(r.status)
    return list(json.loads(data or b"[]"))


async def _archive_entries(req: S3Request, bucket: str, key: str,
                           limit: int | None = None) -> list[dict[str, Any]]:
    """The key's entries in the archive, newest first."""
    out: list[dict[str, Any]] = []
    marker = ""
    while True:
        page = await _listing(req, archive_of(bucket), {
            "prefix": versions_prefix(key), "reverse": "on", "marker": marker,
            "limit": str(min(limit or PAGE, PAGE))})
        out += page
        if not page or len(page) < PAGE or (limit and len(out) >= limit):
            return out
        marker = page[-1]["name"]


async def _current(req: S3Request, bucket: str, key: str) -> dict[str, Any] | None:
    r = await req.call("HEAD", bucket, key)
    await r.close()
    if r.status == 404:
        return None
    if not r.ok:
        raise from_swift_status(r.status, key=True)
    ts = r.headers.get("X-Timestamp") or tsmod.now()
    return {"name": key, "ts": tsmod.normalize(ts), "hash": r.headers.get("ETag", ""),
            "bytes": int(r.headers.get("Content-Length", "0") or 0)}


def build_versions(cfg: Config, key: str, current: dict[str, Any] | None,
                   entries: list[dict[str, Any]]) -> list[Version]:
    """The key's versions, newest first, from its current object and archive entries."""
    prefix = versions_prefix(key)
    aliases: dict[str, tuple[str, str]] = {}
    copies: list[tuple[str, dict[str, Any]]] = []
    for e in entries:
        suffix = e["name"][len(prefix):]
        if "-" in suffix:
            stored, _, origin = suffix.partition("-")
            aliases[stored] = (origin, e["name"])
        else:
            copies.append((suffix, e))
    out: list[Version] = []

    def make(stored: str, e: dict[str, Any], archived: str | None, marker: bool) -> Version:
        origin, alias = aliases.get(stored, (stored, None))
        return Version(key, cfg.version_id(origin), stored, origin, marker,
                       str(e.get("hash", "")).strip('"'), int(e.get("bytes", 0) or 0),
                       archived, alias)

    if current is not None:
        stored = current.get("ts") or ts_from_iso(str(current.get("last_modified", "")))
        out.append(make(stored, current, None, False))
    for stored, e in copies:
        out.append(make(stored, e, e["name"], e.get("content_type") == DELETE_MARKER))
    out.sort(key=lambda v: v.stored, reverse=True)
    return out


async def versions_of(req: S3Request, cfg: Config, key: str, bucket: str | None = None,
                      current: dict[str, Any] | _Unknown | None = UNKNOWN) -> list[Version]:
    name = bucket or req.bucket
    assert name is not None
    if isinstance(current, _Unknown):
        cur, entries = await asyncio.gather(_current(req, name, key),
                                            _archive_entries(req, name, key))
    else:
        cur, entries = current, await _archive_entries(req, name, key)
    return build_versions(cfg, key, cur, entries)


def _find(versions: list[Version], vid: str) -> Version | None:
    return next((v for v in versions if v.vid == vid), None)


def no_such_version(key: str, vid: str) -> S3Error:
    return S3Error("NoSuchVersion", "The specified version does not exist.", status=404,
                   Key=key, VersionId=vid)


# -- writes on the archive ------------------------------------------------------------

async def _checked(req: S3Request, method: str, container: str, obj: str,
                   ok404: bool = False, **kw: Any) -> SwiftResponse:
    r = await req.call(method, container, obj, **kw)
    await r.close()
    if not r.ok and not (ok404 and r.status == 404):
        raise from_swift_status(r.status)
    return r


async def _drop_archived(req: S3Request, bucket: str, v: Version) -> None:
    """Remove an archived copy (or marker) and its alias for good."""
    assert v.archived is not None
    await _checked(req, "DELETE", archive_of(bucket), v.archived, ok404=True)
    if v.alias:
        await _checked(req, "DELETE", archive_of(bucket), v.alias, ok404=True)


async def _put_alias(req: S3Request, bucket: str, key: str, stored: str,
                     origin: str) -> None:
    await _checked(req, "PUT", archive_of(bucket), f"{versions_prefix(key)}{stored}-{origin}",
                   headers={"Content-Type": ALIAS_TYPE}, body=b"")


def _copy_from(container: str, obj: str) -> str:
    return "/" + quote(container, safe="") + "/" + quote(obj)


async def _restore(req: S3Request, bucket: str, v: Version) -> None:
    """Make archived version ``v`` the current object again, keeping its id."""
    assert v.archived is not None
    r = await _checked(req, "PUT", bucket, v.key, body=b"", query={"multipart-manifest": "get"},
                       headers={"X-Copy-From": _copy_from(archive_of(bucket), v.archived)})
    stored = tsmod.normalize(r.headers.get("X-Timestamp") or tsmod.now())
    await _put_alias(req, bucket, v.key, stored, v.origin)
    await _drop_archived(req, bucket, v)


async def _remove_current(req: S3Request, cfg: Config, bucket: str, v: Version) -> None:
    """Delete the current object for good: nothing of it stays in the archive."""
    await _checked(req, "DELETE", bucket, v.key, ok404=True)
    if v.alias:
        await _checked(req, "DELETE", archive_of(bucket), v.alias, ok404=True)
    if not cfg.enabled:
        return
    # history mode archived it and added a marker: take both back
    prefix = versions_prefix(v.key)
    await _checked(req, "DELETE", archive_of(bucket), prefix + v.stored, ok404=True)
    for e in await _archive_entries(req, bucket, v.key, limit=10):
        suffix = e["name"][len(prefix):]
        if e.get("content_type") == DELETE_MARKER and suffix > v.stored:
            await _checked(req, "DELETE", archive_of(bucket), e["name"], ok404=True)
            break


async def _prepare_suspended(req: S3Request, cfg: Config, key: str) -> None:
    """Before a write or delete while suspended: a non-null current version moves to
    the archive, and the key's null version (the one this write replaces) goes."""
    assert req.bucket is not None
    versions = await versions_of(req, cfg, key)
    cur = versions[0] if versions and versions[0].current else None
    if cur is not None and cur.vid != NULL:
        await _checked(req, "PUT", archive_of(req.bucket), versions_prefix(key) + cur.stored,
                       body=b"", query={"multipart-manifest": "get"},
                       headers={"X-Copy-From": _copy_from(req.bucket, key)})
    elif cur is not None and cur.alias:
        await _checked(req, "DELETE", archive_of(req.bucket), cur.alias, ok404=True)
    for v in versions:
        if v.archived is not None and v.vid == NULL:
            await _drop_archived(req, req.bucket, v)


# -- hooks for the object handlers -------------------------------------------------------

async def before_write(req: S3Request, key: str) -> Config:
    """Called before an object write (PUT, copy, multipart completion)."""
    cfg = await bucket_config(req)
    if cfg.status == "Suspended":
        await _prepare_suspended(req, cfg, key)
    return cfg


def written(cfg: Config, headers: Mapping[str, str]) -> dict[str, str]:
    """The answer's version headers once the write (with ``headers``) succeeded."""
    if cfg.enabled:
        ts = headers.get("X-Timestamp")
        return {"x-amz-version-id": tsmod.normalize(ts)} if ts else {}
    if cfg.configured:
        return {"x-amz-version-id": NULL}
    return {}


async def current_version_id(req: S3Request, ts: str | None) -> str | None:
    """The version id of the object just read (``ts``: its X-Timestamp), if versioned."""
    if "versionId" in req.query or not ts or req.bucket is None or req.key is None:
        return None
    cfg = await bucket_config(req)
    if not cfg.configured:
        return None
    stored = tsmod.normalize(ts)
    aliases = await _listing(req, archive_of(req.bucket), {
        "prefix": f"{versions_prefix(req.key)}{stored}-", "limit": "1"})
    origin = aliases[0]["name"].rpartition("-")[2] if aliases else stored
    return cfg.version_id(origin)


async def annotate_missing(req: S3Request, err: S3Error) -> None:
    """A key whose latest version is a delete marker says so on its 404."""
    if err.code != "NoSuchKey" or req.bucket is None or req.key is None:
        return
    cfg = await bucket_config(req)
    if not cfg.configured:
        return
    versions = build_versions(cfg, req.key, None,
                              await _archive_entries(req, req.bucket, req.key, limit=3))
    if versions and versions[0].marker:
        err.headers["x-amz-delete-marker"] = "true"
        err.headers["x-amz-version-id"] = versions[0].vid


@dataclass
class Deleted:
    version_id: str | None = None
    marker: bool = False


async def delete(req: S3Request, key: str, vid: str | None) -> Deleted:
    """DeleteObject (and each key of DeleteObjects) on a bucket with versioning or
    with a version id."""
    assert req.bucket is not None
    cfg = await bucket_config(req)
    if vid is not None:
        return await _delete_version(req, cfg, key, vid)
    if cfg.enabled:  # history mode archives the object and adds the marker
        r = await req.call("DELETE", req.bucket, key)
        await r.close()
        if r.status == 404:
            await req.head_bucket()
        elif not r.ok:
            raise from_swift_status(r.status)
        entries = await _archive_entries(req, req.bucket, key, limit=3)
        newest = build_versions(cfg, key, None, entries)
        marker = next((v for v in newest if v.marker), None)
        return Deleted(marker.vid if marker else None, True)
    if cfg.configured:  # suspended: a null delete marker
        await req.head_bucket()
        await _prepare_suspended(req, cfg, key)
        await _checked(req, "PUT", archive_of(req.bucket), versions_prefix(key) + tsmod.now(),
                       headers={"Content-Type": DELETE_MARKER}, body=b"")
        await _checked(req, "DELETE", req.bucket, key, ok404=True)
        return Deleted(NULL, True)
    r = await req.call("DELETE", req.bucket, key)
    await r.close()
    if r.status == 404:
        await req.head_bucket()
    elif not r.ok:
        raise from_swift_status(r.status)
    return Deleted()


async def _delete_version(req: S3Request, cfg: Config, key: str, vid: str) -> Deleted:
    assert req.bucket is not None
    vid = parse_version_id(vid)
    versions = await versions_of(req, cfg, key)
    v = _find(versions, vid)
    if v is None:
        await req.head_bucket()
        return Deleted(vid)  # as S3: deleting a version that is not there succeeds
    latest = versions[0] is v
    if v.current:
        await _remove_current(req, cfg, req.bucket, v)
    else:
        await _drop_archived(req, req.bucket, v)
    if latest and len(versions) > 1 and not versions[1].marker:
        await _restore(req, req.bucket, versions[1])
    return Deleted(vid, v.marker)


# -- reading a version, and a copy's source version -------------------------------------

async def resolve(req: S3Request, bucket: str, key: str, vid: str) -> tuple[str, str, Version]:
    """(container, object) holding version ``vid`` of ``bucket/key``."""
    vid = parse_version_id(vid)
    cfg = await bucket_config(req, bucket)
    v = _find(await versions_of(req, cfg, key, bucket), vid)
    if v is None:
        await req.head_bucket(bucket)
        raise no_such_version(key, vid)
    if v.current:
        return bucket, key, v
    assert v.archived is not None
    return archive_of(bucket), v.archived, v


async def get_version(req: S3Request) -> SwiftResponse:
    from proxy.s3 import handlers  # the object GET, on whichever copy holds the version

    assert req.bucket is not None and req.key is not None
    container, obj, v = await resolve(req, req.bucket, req.key, req.query["versionId"])
    if v.marker:
        err = S3Error("MethodNotAllowed", Method=req.method, ResourceType="DeleteMarker")
        err.headers.update({"x-amz-delete-marker": "true", "x-amz-version-id": v.vid,
                            "Last-Modified": tsmod.http_date(v.origin)})
        raise err
    resp = await handlers.get_object(replace(req, bucket=container, key=obj))
    resp.headers["x-amz-version-id"] = v.vid
    if not v.current and resp.status != 304:
        resp.headers["Last-Modified"] = tsmod.http_date(v.origin)
    return resp


# -- the bucket's versioning configuration -------------------------------------------------

async def get_versioning(req: S3Request) -> SwiftResponse:
    r = await req.call("HEAD", req.bucket)
    await r.close()
    if not r.ok:
        err = from_swift_status(r.status, bucket=True)
        if err.code == "NoSuchBucket":
            err.extra["BucketName"] = req.bucket or ""
        raise err
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
    if not req.st.cfg.proxy.allow_versioned_writes:
        raise S3Error("NotImplemented", "Versioning is turned off on this proxy.")
    r = await req.call("HEAD", req.bucket)
    await r.close()
    if not r.ok:
        err = from_swift_status(r.status, bucket=True)
        if err.code == "NoSuchBucket":
            err.extra["BucketName"] = req.bucket
        raise err
    cfg = config_of(r.headers)
    if status is None or status == cfg.status:
        return SwiftResponse.of(200, {"Content-Length": "0"})
    log = r.headers.get(SYS_LOG, "")
    headers = {SYS_STATUS: status, SYS_LOG: f"{log} {status[0]}{tsmod.now()}".strip()}
    if status == "Enabled":
        if len(archive_of(req.bucket).encode()) > 256:
            raise S3Error("InvalidBucketName", "The bucket name is too long for versioning.",
                          BucketName=req.bucket)
        made = await req.call("PUT", archive_of(req.bucket), content_length=0)
        await made.close()
        if not made.ok:
            raise from_swift_status(made.status)
        headers["X-History-Location"] = quote(archive_of(req.bucket))
    else:
        headers["X-Remove-History-Location"] = "x"
    done = await req.call("POST", req.bucket, headers=headers)
    await done.close()
    if not done.ok:
        raise from_swift_status(done.status, bucket=True)
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
        probe = await _listing(req, archive, {"marker": f"{length:03x}", "limit": "1"})
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
            page = await _listing(req, archive, {"prefix": head + prefix, "marker": marker,
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


def _key_after(req: S3Request, prefix: str, delimiter: str) -> str:
    from proxy.s3.handlers import swift_marker

    return swift_marker(req.query.get("key-marker", ""), prefix, delimiter)


async def list_versions(req: S3Request) -> SwiftResponse:
    from proxy.s3.handlers import owner, quoted

    assert req.bucket is not None
    q = req.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    encoding = q.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type", ArgumentValue=encoding)
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
    await req.head_bucket()
    cfg = await bucket_config(req)
    # with a version-id marker the key marker's own remaining versions come first
    after = _just_before(key_marker) if vid_marker else _key_after(req, prefix, delimiter)
    want = max_keys + 1
    current_page = await _listing(req, req.bucket, {"prefix": prefix, "marker": after,
                                                    "limit": str(want)})
    cur_more = len(current_page) >= want
    archived, arch_more = await _archive_keys(req, prefix, after, want)
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

    enc = x.encoder(encoding)

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


# -- buckets ------------------------------------------------------------------------------

def hide_archives(names: list[str]) -> set[str]:
    """The archive containers among a listing's names (not shown as buckets)."""
    present = set(names)
    return {n for n in names
            if n.endswith(ARCHIVE_SUFFIX) and n[:-len(ARCHIVE_SUFFIX)] in present}


async def before_delete_bucket(req: S3Request) -> bool:
    """BucketNotEmpty while the archive holds versions; True if there is an archive."""
    assert req.bucket is not None
    r = await req.call("GET", archive_of(req.bucket), query={"format": "json", "limit": "1"})
    data = await r.read()
    if r.status == 404 or not r.ok:
        return False
    cfg = await bucket_config(req)
    if not cfg.configured:
        return False  # a container of that name that is not ours
    if r.status == 200 and json.loads(data or b"[]"):
        raise S3Error("BucketNotEmpty", BucketName=req.bucket)
    return True


async def after_delete_bucket(req: S3Request) -> None:
    assert req.bucket is not None
    r = await req.call("DELETE", archive_of(req.bucket))
    await r.close()


# -- dispatch -----------------------------------------------------------------------------

async def handle(req: S3Request) -> SwiftResponse:
    q = req.query
    if req.key is None:
        if "versioning" in q:
            if req.method == "GET":
                return await get_versioning(req)
            if req.method == "PUT":
                return await put_versioning(req)
            raise S3Error("MethodNotAllowed", Method=req.method, ResourceType="BUCKET")
        if "versions" in q and req.method == "GET":
            return await list_versions(req)
        raise S3Error("MethodNotAllowed", Method=req.method, ResourceType="BUCKET")
    if "versionId" not in q:
        raise S3Error("InvalidRequest", "Unknown versioning request.")
    if req.method in ("GET", "HEAD"):
        return await get_version(req)
    if req.method == "DELETE":
        done = await delete(req, req.key, q["versionId"])
        headers = {"x-amz-version-id": done.version_id or q["versionId"]}
        if done.marker:
            headers["x-amz-delete-marker"] = "true"
        return SwiftResponse.of(204, headers)
    if req.method == "PUT" and "x-amz-copy-source" in req.headers:
        raise S3Error("InvalidArgument", "versionId is not allowed on a copy's destination.",
                      ArgumentName="versionId", ArgumentValue=q["versionId"])
    raise S3Error("MethodNotAllowed", Method=req.method, ResourceType="OBJECT")
