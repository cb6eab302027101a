"""Swift-style timestamps: seconds since the epoch, normalized to ``%016.05f``.

Every write carries one; the newest wins. Normalized strings compare in the
same order as the times they stand for, so they sort and compare as text.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime


class BadTimestamp(ValueError):
    pass


def normalize(value: str | float) -> str:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise BadTimestamp(f"not a timestamp: {value!r}") from None
    if not 0 <= f < 10**10:
        raise BadTimestamp(f"timestamp out of range: {value!r}")
    return f"{f:016.05f}"


def now() -> str:
    return normalize(time.time())


def http_date(ts: str) -> str:
    """RFC 7231 date (Last-Modified), rounded up to the next whole second as Swift does."""
    f = float(ts)
    secs = int(f)
    if f > secs:
        secs += 1
    return _http_seconds(secs)


@functools.lru_cache(maxsize=8192)
def _http_seconds(secs: int) -> str:
    # every HEAD and GET of an object formats one; objects written in the same
    # second share the answer
    return datetime.fromtimestamp(secs, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


@functools.lru_cache(maxsize=8192)
def _iso_seconds(secs: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))


def iso(ts: str) -> str:
    """``2024-01-02T03:04:05.123450``: the form listings use for last_modified.

    Listings format thousands of these per page: the whole seconds are cached
    and the fraction is copied from the normalized text, so nothing is rounded.
    """
    whole, _, frac = normalize(ts).partition(".")
    return f"{_iso_seconds(int(whole))}.{(frac + '000000')[:6]}"
