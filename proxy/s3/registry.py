"""The global bucket-name registry, and finding the account a bucket lives in.

S3 bucket names are global; ours are containers of per-project accounts. The
registry keeps one *claim* per bucket name: a container named like the bucket
in :data:`REGISTRY_ACCOUNT`, whose system metadata names the owning account.
That account's name is one byte longer than any the Swift API accepts
(``proxy/request.py: MAX_ACCOUNT_NAME``, checked on every client path, copy
and symlink targets included), so no client, reseller or not, can reach it;
the S3 front reaches it with pre-authorized in-process subrequests
(:func:`internal`), which are never parsed from a client's path.

Claiming is create-if-absent: each container replica is created by a hard
link that only one request can win, and a container PUT answers 201 to the
request that created it and 202 to any other, so of two projects creating one
name at the same time one wins (201); the other sees 202 and answers
``BucketAlreadyExists`` (``BucketAlreadyOwnedByYou`` when the owner is its own
account). The winner makes its container and only then records itself as
owner (a POST of :data:`OWNER`). So a claim whose owner's container is gone
was deleted over the Swift API: it is stale and may be taken over; a claim
with no owner is a creation in progress, stale after :data:`STALE_CLAIM`
seconds (its creator died between the steps).

Limits: with a container replica failing during two simultaneous claims,
the quorum rule (201 wins a 201/202 tie) may let both win; two simultaneous
take-overs of one stale name may both succeed. Either leaves two containers
of that name; the registry names one of them.

The registry is looked up (:func:`owner_of`, cached :data:`CACHE_SECONDS`) for
a bucket the caller's own account does not hold, and for anonymous callers
(``routing``). Containers made over the Swift API are not registered: they
are found only in their owner's own account.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from multidict import CIMultiDict, MultiDict

from proxy.auth import Caller
from proxy.pipeline import BytesBody, SwiftRequest, SwiftResponse
from proxy.request import MAX_ACCOUNT_NAME, SwiftPath
from proxy.s3.errors import S3Error
from proxy.s3.request import S3Request

_PREFIX = ".s3-bucket-registry"
REGISTRY_ACCOUNT = _PREFIX + "." * (MAX_ACCOUNT_NAME + 1 - len(_PREFIX))
OWNER = "X-Container-Sysmeta-S3-Owner"
CACHE_SECONDS = 10.0
NEGATIVE_SECONDS = 2.0
CACHE_MAX = 10000
STALE_CLAIM = 60.0

# (id of the proxy state, bucket) -> (expiry, owning account or None)
_cache: dict[tuple[int, str], tuple[float, str | None]] = {}


# -- internal subrequests ----------------------------------------------------------

def internal(req: S3Request, method: str, account: str, container: str,
             obj: str | None = None, *, headers: dict[str, str] | None = None,
             owner: bool = False) -> SwiftRequest:
    """A pre-authorized subrequest limited to ``account/container`` (``owner``: with
    the owner's rights to ACL headers, and to create the account if need be)."""
    raw = "/v1/" + "/".join(quote(p, safe="") for p in (account, container, obj) if p)
    return SwiftRequest(
        method=method, path=SwiftPath("v1", account, container, obj),
        headers=CIMultiDict(headers or {}), query=MultiDict(), body=BytesBody(),
        content_length=0 if method in ("PUT", "POST") else None, caller=Caller(None),
        txn=req.txn, remote=req.remote,
        env={"raw_path": raw, "s3": True, "authorized": True, "owner": owner,
             "auth_scope": (account, container), "source": "s3-internal"})


async def call_internal(req: S3Request, method: str, account: str, container: str,
                        obj: str | None = None, *, headers: dict[str, str] | None = None,
                        owner: bool = False) -> SwiftResponse:
    r = await req.st.pipeline.call_s3(internal(req, method, account, container, obj,
                                            headers=headers, owner=owner))
    await r.close()
    return r


async def _registry(req: S3Request, method: str, bucket: str,
                    headers: dict[str, str] | None = None) -> SwiftResponse:
    return await call_internal(req, method, REGISTRY_ACCOUNT, bucket, headers=headers,
                               owner=True)


# -- the registry --------------------------------------------------------------------

def _forget(req: S3Request, bucket: str) -> None:
    _cache.pop((id(req.st), bucket), None)


async def _read_claim(req: S3Request, bucket: str) -> tuple[bool, str | None, float]:
    """(claimed, owner or None, age in seconds) from the registry, uncached."""
    r = await _registry(req, "HEAD", bucket)
    if r.status == 404:
        return False, None, 0.0
    if not r.ok:
        raise S3Error("ServiceUnavailable")
    try:
        age = time.time() - float(r.headers.get("X-Timestamp", "0"))
    except ValueError:
        age = 0.0
    return True, r.headers.get(OWNER) or None, age


async def owner_of(req: S3Request, bucket: str) -> str | None:
    """The account that registered ``bucket``, or None (cached briefly)."""
    key = (id(req.st), bucket)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    _, owner, _ = await _read_claim(req, bucket)
    _cache[key] = (now + (CACHE_SECONDS if owner else NEGATIVE_SECONDS), owner)
    while len(_cache) > CACHE_MAX:
        _cache.pop(next(iter(_cache)))
    return owner


async def _container_exists(req: S3Request, account: str, bucket: str) -> bool:
    r = await call_internal(req, "HEAD", account, bucket)
    if r.status == 404:
        return False
    if not r.ok:
        raise S3Error("ServiceUnavailable")
    return True


async def register(req: S3Request) -> bool:
    """Claim ``req.bucket`` for the caller's account before its container is made.

    True when this request made the claim (then :func:`settle` it once the
    container is made, or not), False when the caller's account holds it
    already; ``BucketAlreadyExists`` when another account holds it, or another
    request is creating it right now."""
    assert req.bucket is not None
    bucket, mine = req.bucket, req.own_account
    for _ in range(2):
        r = await _registry(req, "PUT", bucket)
        if r.status == 201:
            return True
        if r.status != 202:
            raise S3Error("ServiceUnavailable")
        claimed, owner, age = await _read_claim(req, bucket)
        if owner == mine:
            return False
        if claimed and owner is None and age < STALE_CLAIM:
            raise S3Error("BucketAlreadyExists", BucketName=bucket)  # being created now
        if owner is not None and await _container_exists(req, owner, bucket):
            raise S3Error("BucketAlreadyExists", BucketName=bucket)
        # a stale claim: its owner's container is gone (deleted over the Swift
        # API), or its creator never got to make it: the name is free again
        await _registry(req, "DELETE", bucket)
        _forget(req, bucket)
    raise S3Error("BucketAlreadyExists", BucketName=bucket)


async def settle(req: S3Request, made: bool) -> None:
    """After :func:`register` claimed the name: record the caller's account as its
    owner once the container is ``made`` (so an owner whose container is missing
    means one deleted since), else drop the claim."""
    assert req.bucket is not None
    if made:
        r = await _registry(req, "POST", req.bucket, {OWNER: req.own_account})
        if not r.ok:
            raise S3Error("ServiceUnavailable")
    else:
        await _registry(req, "DELETE", req.bucket)
    _forget(req, req.bucket)


async def release(req: S3Request) -> None:
    """DeleteBucket: drop ``req.bucket``'s claim if the bucket's account holds it."""
    assert req.bucket is not None
    _, owner, _ = await _read_claim(req, req.bucket)
    if owner == req.account:
        await _registry(req, "DELETE", req.bucket)
    _forget(req, req.bucket)
