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
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from common import timestamp as tsmod
from objectstore.protocol import LOCK_MOVED
from proxy.features.versioned_writes import DELETE_MARKER, versions_prefix
from proxy.pipeline import SwiftResponse
from proxy.s3 import locking
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.request import S3Request, copy_from
from proxy.state import Info

ARCHIVE_SUFFIX = "+versions"
SYS_STATUS = "X-Container-Sysmeta-S3-Versioning"
SYS_LOG = "X-Container-Sysmeta-S3-Versioning-Log"
ALIAS_TYPE = "application/x-s3-version-alias"
NULL = "null"
PAGE = 1000
CONFIG_MEMO = "versioning"  # Info.derived: the bucket's Config


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


def config_from(info: Info) -> Config:
    """A bucket's versioning state from its cached container HEAD (parsed once)."""
    return info.derived(CONFIG_MEMO, config_of) if info.exists else Config()


async def bucket_config(req: S3Request, bucket: str | None = None) -> Config:
    """The bucket's versioning state (parsed once per cached container HEAD)."""
    if bucket is None or bucket == req.bucket:
        if req.bucket is None:
            return Config()
        info = await req.bucket_info()
    else:
        info = await req.st.info(req.txn, req.account, bucket)
    return config_from(info)


async def set_status(req: S3Request, status: str | None) -> None:
    """PutBucketVersioning's change (``Enabled``/``Suspended``; None: none asked):
    enabling makes the archive and sets history mode on the bucket."""
    assert req.bucket is not None
    if not req.st.cfg.proxy.allow_versioned_writes:
        raise S3Error("NotImplemented", "Versioning is turned off on this proxy.")
    r = await req.call("HEAD", req.bucket)
    await r.close()
    if not r.ok:
        raise req.bucket_failed(r.status)
    cfg = config_of(r.headers)
    if status is not None and status != "Enabled" and locking.config_of(r.headers):
        raise S3Error("InvalidBucketState", "An Object Lock configuration is present on "
                      "this bucket, so the versioning state cannot be changed.")
    if status is None or status == cfg.status:
        return
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


async def _archive_entries(req: S3Request, bucket: str, key: str,
                           limit: int | None = None) -> list[dict[str, Any]]:
    """The key's entries in the archive, newest first."""
    out: list[dict[str, Any]] = []
    marker = ""
    while True:
        page = await req.listing(archive_of(bucket), {
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
    return S3Error("NoSuchVersion", "The specified version does not exist.", Key=key,
                   VersionId=vid)


# -- writes on the archive ------------------------------------------------------------

async def _checked(req: S3Request, method: str, container: str, obj: str,
                   ok404: bool = False, **kw: Any) -> SwiftResponse:
    if method == "DELETE":  # a GOVERNANCE retention the caller may override
        kw["headers"] = {**kw.get("headers", {}), **locking.bypass_headers(req)}
    r = await req.call(method, container, obj, **kw)
    await r.close()
    if not r.ok and not (ok404 and r.status == 404):
        raise from_swift_status(r.status)
    return r


async def _drop_archived(req: S3Request, bucket: str, v: Version,
                        moved: bool = False) -> None:
    """Remove an archived copy (or marker) and its alias for good (``moved``: it was
    copied back as the current object, so even a locked one may go)."""
    assert v.archived is not None
    headers = {}
    if moved and await locking.bucket_config(req) is not None:
        r = await _checked(req, "HEAD", archive_of(bucket), v.archived, ok404=True)
        if r.headers.get("X-Timestamp"):
            headers[LOCK_MOVED] = tsmod.normalize(r.headers["X-Timestamp"])
    await _checked(req, "DELETE", archive_of(bucket), v.archived, ok404=True,
                   headers=headers)
    if v.alias:
        await _checked(req, "DELETE", archive_of(bucket), v.alias, ok404=True)


async def _put_alias(req: S3Request, bucket: str, key: str, stored: str,
                     origin: str) -> None:
    await _checked(req, "PUT", archive_of(bucket), f"{versions_prefix(key)}{stored}-{origin}",
                   headers={"Content-Type": ALIAS_TYPE}, body=b"")


async def _restore(req: S3Request, bucket: str, v: Version) -> None:
    """Make archived version ``v`` the current object again, keeping its id."""
    assert v.archived is not None
    r = await _checked(req, "PUT", bucket, v.key, body=b"", query={"multipart-manifest": "get"},
                       headers={"X-Copy-From": copy_from(archive_of(bucket), v.archived)})
    stored = tsmod.normalize(r.headers.get("X-Timestamp") or tsmod.now())
    await _put_alias(req, bucket, v.key, stored, v.origin)
    await _drop_archived(req, bucket, v, moved=True)


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
                       headers={"X-Copy-From": copy_from(req.bucket, key)})
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
    aliases = await req.listing(archive_of(req.bucket), {
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
        err.answer_headers["x-amz-delete-marker"] = "true"
        err.answer_headers["x-amz-version-id"] = versions[0].vid


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
        await _delete_current(req, key)
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
    await _delete_current(req, key)
    return Deleted()


async def _delete_current(req: S3Request, key: str) -> None:
    """DELETE of the key's current object (NoSuchBucket when the bucket is missing)."""
    r = await req.call("DELETE", req.bucket, key)
    await r.close()
    if r.status == 404:
        await req.head_bucket()
    elif not r.ok:
        raise from_swift_status(r.status)


async def _delete_version(req: S3Request, cfg: Config, key: str, vid: str) -> Deleted:
    assert req.bucket is not None
    vid = parse_version_id(vid)
    versions = await versions_of(req, cfg, key)
    v = _find(versions, vid)
    if v is None:
        await req.head_bucket()
        return Deleted(vid)  # as S3: deleting a version that is not there succeeds
    latest = versions[0] is v
    if not v.marker and await locking.bucket_config(req) is not None:
        # a locked version stays: refused here, before anything changes (the object
        # servers would refuse its removal all the same)
        where = (req.bucket, key) if v.current else (archive_of(req.bucket), v.archived)
        head = await _checked(req, "HEAD", where[0], where[1] or "", ok404=True)
        locking.refuse_locked(req, head.headers)
    if v.current:
        await _remove_current(req, cfg, req.bucket, v)
    else:
        await _drop_archived(req, req.bucket, v)
    if latest and len(versions) > 1 and not versions[1].marker:
        await _restore(req, req.bucket, versions[1])
    return Deleted(vid, v.marker)


# -- a copy's (or a read's) source version --------------------------------------------

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
