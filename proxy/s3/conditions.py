"""CopyObject's conditions on its source (``x-amz-copy-source-if-*``), as S3 combines them.

``if-match`` true wins over a false ``if-unmodified-since``, and a false
``if-none-match`` wins over a true ``if-modified-since``: each pair is judged
by its ETag test when that is given, else by its date. Dates that do not parse
are ignored, as S3 does. A failed test is ``412 PreconditionFailed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from common import timestamp as tsmod
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.request import S3Request

PREFIX = "x-amz-copy-source-if-"
MATCH = "x-amz-copy-source-if-match"
NONE_MATCH = "x-amz-copy-source-if-none-match"
MODIFIED = "x-amz-copy-source-if-modified-since"
UNMODIFIED = "x-amz-copy-source-if-unmodified-since"


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _etag_in(value: str, etag: str) -> bool:
    return any(t.strip().strip('"') in (etag, "*") for t in value.split(","))


def failed_condition(headers: Mapping[str, str], etag: str, last_modified: str) -> str | None:
    """The header whose test fails for a source with ``etag`` and ``last_modified``
    (an HTTP date), or None when the copy may go ahead."""
    etag = etag.strip('"')
    modified = _date(last_modified)
    match, none_match = headers.get(MATCH), headers.get(NONE_MATCH)
    if match is not None:
        if not _etag_in(match, etag):
            return MATCH
    else:
        since = _date(headers.get(UNMODIFIED))
        if since is not None and modified is not None and modified > since:
            return UNMODIFIED
    if none_match is not None:
        if _etag_in(none_match, etag):
            return NONE_MATCH
    else:
        since = _date(headers.get(MODIFIED))
        if since is not None and modified is not None and modified <= since:
            return MODIFIED
    return None


def conditional(headers: Mapping[str, str]) -> bool:
    return any(k.lower().startswith(PREFIX) for k in headers)


async def check_copy_source(req: S3Request, container: str, obj: str, key: str,
                            origin: str | None = None) -> None:
    """PreconditionFailed unless the copy source passes the request's conditions;
    ``origin``: the timestamp an archived version's Last-Modified comes from."""
    if not conditional(req.headers):
        return
    r = await req.call("HEAD", container, obj)
    await r.close()
    if r.status == 404:
        raise S3Error("NoSuchKey", Key=key)
    if not r.ok:
        raise from_swift_status(r.status)
    last_modified = tsmod.http_date(origin) if origin else r.headers.get("Last-Modified", "")
    failed = failed_condition(req.headers, r.headers.get("ETag", ""), last_modified)
    if failed is not None:
        raise S3Error("PreconditionFailed", Condition=failed)
