"""Swift's middlewares, as proxy pipeline features (see ``proxy/pipeline.py``).

Each module holds one feature: a class with ``name`` (its ``/info`` key, or
None), ``info()`` and ``async __call__(req, next_handler)``, and a
``make(st) -> Feature | None`` that returns None when the feature is turned
off in the configuration. :func:`enabled` assembles them in Swift's
pipeline order (outermost first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.pipeline import Feature
    from proxy.state import ProxyState

Maker = Callable[["ProxyState"], "Feature | None"]


def _makers() -> list[Maker]:
    # In pipeline order, as Swift's proxy-server.conf: cors, etag_quoter, bulk,
    # tempurl, formpost, staticweb, copy, slo, dlo, versioned_writes, symlink, quotas.
    # CORS is two features: preflight OPTIONS outermost, and the headers Swift's
    # controllers add to their answers innermost (after the quotas).
    from proxy.features import (
        bulk,
        copy,
        cors,
        dlo,
        etag_quoter,
        formpost,
        quotas,
        slo,
        staticweb,
        symlink,
        tempurl,
        versioned_writes,
    )
    return [cors.make, etag_quoter.make, bulk.make_delete, bulk.make_upload, tempurl.make,
            formpost.make, staticweb.make, copy.make, slo.make, dlo.make,
            versioned_writes.make, symlink.make, quotas.make_container, quotas.make_account,
            cors.make_headers]


def enabled(st: ProxyState) -> list[Feature]:
    """The features this proxy runs, outermost first."""
    return [f for f in (make(st) for make in _makers()) if f is not None]


def s3_entry(features: list[Feature]) -> int:
    """Where the S3 front's subrequests enter ``features``: after the outermost run of
    those Swift's pipeline puts before s3api (CORS preflights, ETag quoting, bulk
    operations, TempURL, FormPOST). None of them acts on what the S3 front asks:
    it answers preflights and quotes ETags itself, and its subrequests carry no bulk,
    TempURL or form query; Swift's s3api requests do not pass through them either."""
    from proxy.features import bulk, cors, etag_quoter, formpost, tempurl
    outer = (cors.Preflight, etag_quoter.EtagQuoter, bulk.BulkDelete, bulk.BulkUpload,
             tempurl.TempURL, formpost.FormPost)
    n = 0
    while n < len(features) and isinstance(features[n], outer):
        n += 1
    return n
