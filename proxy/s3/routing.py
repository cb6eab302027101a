"""Which account answers an S3 request, and with what rights.

Buckets are containers of per-project accounts, their names global through the
registry (``registry``). Before its handler runs, a request is given the
account holding its bucket, once:

- an authenticated caller's own account when the bucket is there (the proxy's
  cached container HEAD says so: no registry lookup on the common path);
  otherwise the account the registry names, if another. CreateBucket always
  acts on the caller's own account.
- for an anonymous caller, the account the registry names (NoSuchBucket when
  there is none; CreateBucket is AccessDenied).

Then ``access.authorize`` decides the request by the bucket's policy, ACLs and
public access block.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from proxy.pipeline import SwiftResponse
from proxy.s3 import access, registry
from proxy.s3.errors import S3Error
from proxy.s3.operation import Op, valid_bucket
from proxy.s3.request import S3Request

Handler = Callable[[S3Request], Awaitable[SwiftResponse]]


async def route(req: S3Request, handler: Handler) -> SwiftResponse:
    """Run ``handler`` on the account holding ``req.bucket`` (see the module's doc)."""
    kind = req.op.kind
    if req.bucket is None or kind is Op.PREFLIGHT or not valid_bucket(req.bucket):
        return await handler(req)
    if req.caller.anonymous:
        await _anonymous(req, req.bucket, kind)
    elif kind is not Op.CREATE_BUCKET and (await req.bucket_info()).status == 404:
        # not in the caller's own account (the one bucket_info asks while none is chosen)
        await _elsewhere(req, req.bucket)
    await access.authorize(req)
    return await handler(req)


async def _elsewhere(req: S3Request, bucket: str) -> None:
    """The account the registry names, when the caller's own has no such bucket."""
    owner = await registry.owner_of(req, bucket)
    if owner is not None and owner != req.own_account:
        req.bucket_account = owner


async def _anonymous(req: S3Request, bucket: str, kind: Op) -> None:
    if kind is Op.CREATE_BUCKET:
        raise S3Error("AccessDenied")
    owner = await registry.owner_of(req, bucket)
    if owner is None:
        raise S3Error("NoSuchBucket", BucketName=bucket)
    req.bucket_account = owner
