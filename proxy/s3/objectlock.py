"""S3 Object Lock operations: Put/GetObjectLockConfiguration, Put/GetObjectRetention,
Put/GetObjectLegalHold (the rules: ``locking``).

A version's retention and legal hold change by a POST of its lock metadata to the
copy that holds it (the current object, or its copy in the bucket's ``+versions``
archive): the data and its version id stay. The object servers accept only what
the protocol allows (a retention lengthened, a GOVERNANCE one shortened only with
the bypass); this module refuses the rest first, as S3 words it. A multipart
object's parts get the same change, so that they stay exactly as long as it.
"""

from __future__ import annotations

import time
from xml.etree import ElementTree as ET

from objectstore.protocol import LOCK_HOLD, LOCK_MODE, LOCK_MODES, LOCK_UNTIL, POST_HEADERS
from proxy.pipeline import SwiftResponse
from proxy.s3 import locking, versioning
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.locking import LockConfig, check_hold, check_mode, future, iso, parse_date
from proxy.s3.multipart import SYSMETA_UPLOAD_ID, listing_rows, segments_container
from proxy.s3.request import S3Request, check_content_md5

MAX_BODY = 64 << 10


# -- the bucket's configuration --------------------------------------------------------------

def parse_config(body: bytes) -> LockConfig:
    """An ObjectLockConfiguration document; MalformedXML, or InvalidArgument for a
    default retention that is not a positive number of days or years."""
    doc = x.parse(body)
    if doc.tag != "ObjectLockConfiguration" or \
            (doc.findtext("ObjectLockEnabled") or "").strip() != "Enabled":
        raise S3Error("MalformedXML")
    default = doc.find("Rule/DefaultRetention")
    if doc.find("Rule") is not None and default is None:
        raise S3Error("MalformedXML")
    if default is None:
        return LockConfig()
    mode = (default.findtext("Mode") or "").strip()
    days, years = default.findtext("Days"), default.findtext("Years")
    if mode not in LOCK_MODES or (days is None) == (years is None):
        raise S3Error("MalformedXML")
    raw = (days if days is not None else years or "").strip()
    if not raw.isdigit() or int(raw) <= 0:
        raise S3Error("InvalidArgument", "Default retention period must be a positive integer "
                      "value", ArgumentName="Days" if days is not None else "Years",
                      ArgumentValue=raw)
    value = int(raw)
    return LockConfig(mode, value if days is not None else None,
                      value if years is not None else None)


def config_xml(cfg: LockConfig) -> bytes:
    doc = x.root("ObjectLockConfiguration")
    x.add(doc, "ObjectLockEnabled", "Enabled")
    if cfg.mode is not None:
        default = x.add(x.add(doc, "Rule"), "DefaultRetention")
        x.add(default, "Mode", cfg.mode)
        if cfg.days is not None:
            x.add(default, "Days", str(cfg.days))
        if cfg.years is not None:
            x.add(default, "Years", str(cfg.years))
    return x.dump(doc)


async def enable(req: S3Request, cfg: LockConfig) -> None:
    """Keep ``cfg`` as the bucket's Object Lock configuration."""
    r = await req.call("POST", req.bucket, headers={locking.CONFIG: cfg.dump()})
    await r.close()
    if not r.ok:
        raise req.bucket_failed(r.status) if r.status == 404 else from_swift_status(r.status)
    req.st.forget(req.account, req.bucket)


async def put_configuration(req: S3Request) -> SwiftResponse:
    body = await req.body.read_all(MAX_BODY)
    check_content_md5(req.headers, body)
    cfg = parse_config(body)
    r = await req.head_bucket()
    if locking.config_of(r.headers) is None and \
            versioning.config_of(r.headers).status != "Enabled":
        raise S3Error("InvalidBucketState", "Versioning must be 'Enabled' on the bucket to "
                      "apply a Object Lock configuration")
    await enable(req, cfg)
    return SwiftResponse.of(200, {"Content-Length": "0"})


async def get_configuration(req: S3Request) -> SwiftResponse:
    r = await req.head_bucket()
    cfg = locking.config_of(r.headers)
    if cfg is None:
        raise S3Error("ObjectLockConfigurationNotFoundError", "Object Lock configuration does "
                      "not exist for this bucket", BucketName=req.bucket or "")
    return SwiftResponse.of(200, {"Content-Type": x.CONTENT_TYPE}, config_xml(cfg))


# -- one version's retention and legal hold ----------------------------------------------------

async def _version(req: S3Request) -> tuple[str, str, SwiftResponse]:
    """(container, object, HEAD answer) of the version the request names; InvalidRequest
    on a bucket without Object Lock."""
    assert req.bucket is not None and req.key is not None
    if await locking.bucket_config(req) is None:
        await req.head_bucket()
        raise S3Error("InvalidRequest", "Bucket is missing Object Lock Configuration")
    container, obj = req.bucket, req.key
    vid = req.op.version_id
    if vid:
        container, obj, v = await versioning.resolve(req, req.bucket, req.key, vid)
        if v.marker:
            raise S3Error("MethodNotAllowed", Method=req.method, ResourceType="DeleteMarker")
    r = await req.call("HEAD", container, obj)
    await r.close()
    if r.status == 404:
        raise await req.missing()
    if not r.ok:
        raise from_swift_status(r.status, key=True)
    return container, obj, r


async def _set(req: S3Request, container: str, obj: str, head: SwiftResponse,
               headers: dict[str, str]) -> None:
    """POST ``headers`` to the version's copy, with the metadata a POST replaces as it is
    (``head``: the copy's HEAD answer), so that only the lock changes."""
    kept = {k: v for k, v in head.headers.items()
            if k.lower().startswith("x-object-meta-") or k.lower() in POST_HEADERS}
    r = await req.call("POST", container, obj,
                       headers={**kept, **headers, **locking.bypass_headers(req)})
    await r.close()
    if r.status in (401, 403):
        raise S3Error("AccessDenied", locking.LOCKED)
    if not r.ok:
        raise from_swift_status(r.status, key=True)
    await _relock_parts(req, head, headers)


async def _relock_parts(req: S3Request, head: SwiftResponse, headers: dict[str, str]) -> None:
    """Give the parts of the multipart object whose HEAD answer is ``head`` the lock
    change ``headers`` (its parts live on in ``<bucket>+segments``)."""
    upload_id = head.headers.get(SYSMETA_UPLOAD_ID)
    if not upload_id or req.bucket is None or req.key is None:
        return
    container = segments_container(req.bucket)
    names = [row["name"] async for row in listing_rows(
        req, container, f"{req.key}/{upload_id}/", "")]
    for name in names:
        r = await req.call("POST", container, name,
                           headers={**headers, **locking.bypass_headers(req)})
        await r.close()
        if not r.ok and r.status != 404:
            raise S3Error("InternalError", "The object's parts could not be locked alike.")


async def _body(req: S3Request, tag: str) -> ET.Element:
    body = await req.body.read_all(MAX_BODY)
    check_content_md5(req.headers, body)
    doc = x.parse(body)
    if doc.tag != tag:
        raise S3Error("MalformedXML")
    return doc


async def get_retention(req: S3Request) -> SwiftResponse:
    _, _, r = await _version(req)
    mode, until = r.headers.get(LOCK_MODE), r.headers.get(LOCK_UNTIL)
    if mode not in LOCK_MODES or not until:
        raise S3Error("NoSuchObjectLockConfiguration", "The specified object does not have "
                      "a ObjectLock configuration")
    doc = x.root("Retention")
    x.add(doc, "Mode", mode)
    x.add(doc, "RetainUntilDate", iso(float(until)))
    return x.response(doc)


async def put_retention(req: S3Request) -> SwiftResponse:
    doc = await _body(req, "Retention")
    mode = (doc.findtext("Mode") or "").strip()
    date = (doc.findtext("RetainUntilDate") or "").strip()
    if bool(mode) != bool(date):
        raise S3Error("MalformedXML")
    until = future(parse_date(date, "RetainUntilDate"), "RetainUntilDate") if date else 0.0
    if mode:
        check_mode(mode, "Mode")
    container, obj, r = await _version(req)
    now = time.time()
    current_mode = r.headers.get(LOCK_MODE)
    try:
        current_until = float(r.headers.get(LOCK_UNTIL) or 0)
    except ValueError:
        current_until = 0.0
    if current_mode in LOCK_MODES and current_until > now:
        weaker = not mode or until < current_until or (
            current_mode == "COMPLIANCE" and mode != "COMPLIANCE")
        if weaker and (current_mode == "COMPLIANCE" or not req.memo.get(locking.BYPASS_MEMO)):
            raise S3Error("AccessDenied", locking.LOCKED)
    await _set(req, container, obj, r, {LOCK_MODE: mode,
                                        LOCK_UNTIL: f"{until:.3f}" if mode else ""})
    return SwiftResponse.of(200, {"Content-Length": "0"})


async def get_legal_hold(req: S3Request) -> SwiftResponse:
    _, _, r = await _version(req)
    status = r.headers.get(LOCK_HOLD)
    if status not in ("ON", "OFF"):
        raise S3Error("NoSuchObjectLockConfiguration", "The specified object does not have "
                      "a ObjectLock configuration")
    doc = x.root("LegalHold")
    x.add(doc, "Status", status)
    return x.response(doc)


async def put_legal_hold(req: S3Request) -> SwiftResponse:
    doc = await _body(req, "LegalHold")
    status = check_hold((doc.findtext("Status") or "").strip(), "Status")
    container, obj, r = await _version(req)
    await _set(req, container, obj, r, {LOCK_HOLD: status})
    return SwiftResponse.of(200, {"Content-Length": "0"})
