"""Which account answers an S3 request, and with what rights.

Buckets are containers of per-project accounts, their names global through the
registry (``registry``). Before its handler runs, a request is given the
account holding its bucket, once:

- an authenticated caller's own account when the bucket is there (the proxy's
  cached container HEAD says so: no registry lookup on the common path);
  otherwise the account the registry names, if another: the request then acts
  there with the caller's own identity, so that Swift's container ACLs decide.
  CreateBucket always acts on the caller's own account.
- for an anonymous caller, the account the registry names (NoSuchBucket when
  there is none; CreateBucket is AccessDenied). Swift's write ACLs cannot name
  anonymous callers, so an object write in a bucket whose S3 ACL grants AllUsers
  WRITE is pre-authorized here, for that bucket alone.

An object read (GetObject, HeadObject) that the bucket's ACL refuses runs a
second time, pre-authorized, when the object's own ACL grants the caller READ:
the only case a handler runs twice, and it has no body to replay.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from proxy.pipeline import SwiftResponse
from proxy.s3 import acl, registry
from proxy.s3.errors import S3Error
from proxy.s3.operation import ANONYMOUS_WRITES, OBJECT_READS, Op, valid_bucket
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
    try:
        return await handler(req)
    except S3Error as err:
        if err.code != "AccessDenied" or kind not in OBJECT_READS \
                or req.env.get("authorized") or not await acl.object_readable(req):
            raise
    req.env = {**req.env, "authorized": True, "auth_scope": (req.account, req.bucket)}
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
    if kind in ANONYMOUS_WRITES:
        # Swift's write ACLs cannot name anonymous callers: the S3 layer grants
        # AllUsers WRITE itself, for this one bucket.
        policy = await acl.bucket_policy(req)
        if policy is not None and policy.allows(None, "WRITE"):
            req.env = {**req.env, "authorized": True, "auth_scope": (owner, bucket)}
