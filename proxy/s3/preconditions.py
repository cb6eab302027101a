"""Conditional writes: ``If-None-Match: *`` and ``If-Match`` on PutObject and
CompleteMultipartUpload, as S3 decides them.

The key is HEADed first: an object that exists fails ``If-None-Match: *`` and one
whose ETag (a multipart object's S3 ETag) differs fails ``If-Match``, 412
``PreconditionFailed``; ``If-Match`` on a key with no object is 404 ``NoSuchKey``.
The write then tells the object servers what it expects to replace
(``X-Backend-Expect-Data``: the data timestamp the HEAD saw, or ``none``), and
each refuses it if something else got there in between: a write that lost such a
race is 409 ``ConditionalRequestConflict``, as S3 answers it.
"""

from __future__ import annotations

from common import timestamp as tsmod
from objectstore.protocol import EXPECT_DATA
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.multipart import s3_etag
from proxy.s3.request import S3Request

CONFLICT = ("A conflicting operation occurred. If using PutObject you can retry the request. "
            "If using multipart upload you should initiate another CreateMultipartUpload "
            "request and re-upload each part.")


def _matches(value: str, etag: str) -> bool:
    return any(t.strip().strip('"') in (etag, "*") for t in value.split(","))


async def expectation(req: S3Request) -> dict[str, str]:
    """The backend header a conditional write sends (none for an unconditional one);
    the S3 error when its condition fails now."""
    none_match, match = req.headers.get("If-None-Match"), req.headers.get("If-Match")
    if none_match is None and match is None:
        return {}
    if none_match is not None and none_match.strip() != "*":
        raise S3Error("NotImplemented", "A header you provided implies functionality that "
                      "is not implemented", Header="If-None-Match")
    r = await req.call("HEAD", req.bucket, req.key)
    await r.close()
    if r.status == 404:
        exists = False
    elif r.ok:
        exists = True
    else:
        raise from_swift_status(r.status, key=True)
    if none_match is not None and exists:
        raise S3Error("PreconditionFailed", Condition="If-None-Match")
    if match is not None:
        if not exists:
            raise await req.missing()
        etag = s3_etag(r.headers) or r.headers.get("ETag", "").strip('"')
        if not _matches(match, etag):
            raise S3Error("PreconditionFailed", Condition="If-Match")
    stamp = r.headers.get("X-Timestamp")
    return {EXPECT_DATA: tsmod.normalize(stamp) if exists and stamp else "none"}


def lost_race(expected: dict[str, str], status: int) -> S3Error | None:
    """The error for a conditional write the object servers refused (412): another
    write got there first."""
    if expected and status == 412:
        return S3Error("ConditionalRequestConflict", CONFLICT)
    return None
