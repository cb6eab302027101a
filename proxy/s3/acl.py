"""S3 ACL operations: Get/PutBucketAcl, Get/PutObjectAcl, and the ACL a write gives a
new bucket or object (``x-amz-acl``, ``x-amz-grant-*``; ``grants`` is the data model).

A bucket's ACL is kept as JSON in container system metadata (``access.BUCKET_ACL``,
so that GetBucketAcl gives back what was put) and mapped onto Swift's container
ACLs for the Swift API (READ to AllUsers is ``.r:*,.rlistings``, to
AuthenticatedUsers ``*:*``, to a project ``<project>:*``; WRITE likewise). S3
requests are decided by ``access`` from the S3 ACLs themselves.

An object's ACL is kept in object system metadata (``access.OBJECT_ACL``); changing
it is a server-side copy of the object onto itself
(``tagging.rewrite_object_sysmeta``). Its owner is the project that wrote it
(ObjectWriter, the default), or the bucket's owner when the bucket's ownership
controls say so (BucketOwnerEnforced always, BucketOwnerPreferred when the writer
gives the bucket owner full control); an object without one is the bucket
owner's, private. With BucketOwnerEnforced, ACLs are disabled: only ACLs that
grant nothing to others are accepted (AccessControlListNotSupported), and none
grants anything. A public access block's BlockPublicAcls refuses ACLs that grant
to AllUsers or AuthenticatedUsers (AccessDenied).

A grantee named by e-mail address is resolved to the project of the user with that
address (their default project, else their one project) through identity.
"""

from __future__ import annotations

from identity.client import IdentityUnavailable
from proxy.pipeline import SwiftResponse
from proxy.s3 import access, registry, tagging
from proxy.s3 import xmlutil as x
from proxy.s3.access import BUCKET_ACL, ENFORCED, OBJECT_ACL, PREFERRED, BucketState
from proxy.s3.errors import S3Error
from proxy.s3.grants import Acl, canned, from_headers, from_xml, private, to_xml
from proxy.s3.request import S3Request, check_content_md5

MAX_BODY = 64 << 10
OWNERSHIPS = (ENFORCED, PREFERRED, access.WRITER)


async def resolve(req: S3Request, acl: Acl) -> Acl:
    """``acl`` with its e-mail grantees replaced by their projects."""
    if not acl.emails:
        return acl
    projects: dict[str, str] = {}
    for email in sorted(set(acl.emails)):
        try:
            found = await req.st.validator.projects_of_email(email)
        except IdentityUnavailable:
            raise S3Error("ServiceUnavailable", "The identity service is unavailable.") \
                from None
        if not found:
            raise S3Error("UnresolvableGrantByEmailAddress", EmailAddress=email)
        if len(found) > 1:
            raise S3Error("AmbiguousGrantByEmailAddress", EmailAddress=email)
        projects[email] = found[0]
    return acl.resolved(projects)


def check_allowed(state: BucketState | None, acl: Acl | None, ownership: str = "") -> None:
    """What a bucket's settings refuse of a new ACL: one granting others while ACLs are
    disabled (AccessControlListNotSupported), a public one under BlockPublicAcls
    (AccessDenied)."""
    if acl is None:
        return
    if (ownership or (state.ownership if state else "")) == ENFORCED and not acl.only_owner():
        raise S3Error("AccessControlListNotSupported", "The bucket does not allow ACLs")
    if state is not None and acl.public and state.block.block_acls:
        raise S3Error("AccessDenied")


async def bucket_headers(req: S3Request) -> dict[str, str]:
    """CreateBucket's ACL and ownership headers (none unless ``x-amz-acl``,
    ``x-amz-grant-*`` or ``x-amz-object-ownership``)."""
    ownership = req.headers.get("x-amz-object-ownership")
    out: dict[str, str] = {}
    if ownership is not None:
        if ownership not in OWNERSHIPS:
            raise S3Error("InvalidArgument", "Invalid x-amz-object-ownership header",
                          ArgumentName="x-amz-object-ownership", ArgumentValue=ownership)
        out[access.OWNERSHIP] = ownership
    acl = from_headers(req.headers, access.project_of(req.own_account))
    if acl is None:
        return out
    if ownership == ENFORCED and not acl.only_owner():
        raise S3Error("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set "
                      "with ObjectOwnership's BucketOwnerEnforced setting")
    acl = await resolve(req, acl)
    return {**out, **acl.swift_acls(), BUCKET_ACL: acl.dump()}


async def object_headers(req: S3Request, *, copy: bool = False) -> dict[str, str]:
    """A new object's ACL system metadata (PutObject, CopyObject, CreateMultipartUpload);
    a copy's is always set, so it never inherits its source's."""
    state = await access.state_of(req)
    project = state.project if state else access.project_of(req.account)
    writer = access.principal(req).project or project
    headers = req.headers
    acl = from_headers(headers, writer, project)
    check_allowed(state, acl)
    ownership = state.ownership if state else ""
    owner = writer
    if ownership == ENFORCED or (ownership == PREFERRED and
                                 headers.get("x-amz-acl") == "bucket-owner-full-control"):
        owner = project
    if acl is not None and acl.owner != owner:  # the bucket's owner owns it after all
        acl = canned(headers["x-amz-acl"], owner, project) if "x-amz-acl" in headers \
            else Acl(owner, acl.grants)
    if ownership == ENFORCED or (acl is None and owner == project):
        return {OBJECT_ACL: ""} if copy else {}
    acl = await resolve(req, acl or private(owner))
    return {OBJECT_ACL: acl.dump()}


async def _requested(req: S3Request, owner: str, bucket_owner: str) -> Acl:
    """PutBucketAcl's/PutObjectAcl's new ACL: from headers or from the body."""
    body = await req.body.read_all(MAX_BODY)
    acl = from_headers(req.headers, owner, bucket_owner)
    if acl is not None:
        if body.strip():
            raise S3Error("UnexpectedContent", "This request does not support content")
        return acl
    if not body.strip():
        raise S3Error("MissingSecurityHeader", "Your request was missing a required header",
                      MissingHeaderName="x-amz-acl")
    check_content_md5(req.headers, body)
    return from_xml(body, owner)


async def _bucket_state(req: S3Request) -> BucketState:
    state = await access.state_of(req)
    if state is None:
        raise S3Error("NoSuchBucket", BucketName=req.bucket or "")
    return state


async def get_bucket_acl(req: S3Request) -> SwiftResponse:
    state = await _bucket_state(req)
    return x.response(to_xml(state.acl if state.acls_enabled else private(state.project)))


async def put_bucket_acl(req: S3Request) -> SwiftResponse:
    state = await _bucket_state(req)
    acl = await _requested(req, state.project, state.project)
    check_allowed(state, acl)
    acl = await resolve(req, acl)
    assert req.bucket is not None
    r = await registry.call_internal(req, "POST", req.account, req.bucket, owner=True,
                                     headers={**acl.swift_acls(), BUCKET_ACL: acl.dump()})
    if not r.ok:
        raise S3Error("AccessDenied") if r.status in (401, 403) else \
            S3Error("ServiceUnavailable")
    access.forget(req)
    return SwiftResponse.of(200, {"Content-Length": "0"})


async def _object_acl(req: S3Request, permission: str) -> tuple[BucketState, Acl]:
    """The object's ACL, when it grants the caller ``permission`` (else AccessDenied)."""
    state = await _bucket_state(req)
    assert req.bucket is not None
    r = await registry.call_internal(req, "HEAD", req.account, req.bucket, req.key)
    if r.status == 404:
        raise await req.missing()
    if not r.ok:
        raise S3Error("ServiceUnavailable")
    if not access.object_allowed(req, r.headers, permission):
        raise S3Error("AccessDenied")
    return state, access.object_acl(state, r.headers)


async def get_object_acl(req: S3Request) -> SwiftResponse:
    _, acl = await _object_acl(req, "READ_ACP")
    return x.response(to_xml(acl))


async def put_object_acl(req: S3Request) -> SwiftResponse:
    state, current = await _object_acl(req, "WRITE_ACP")
    acl = await _requested(req, current.owner, state.project)
    check_allowed(state, acl)
    if state.ownership == ENFORCED:
        return SwiftResponse.of(200, {"Content-Length": "0"})  # nothing to keep
    acl = await resolve(req, acl)
    await tagging.rewrite_object_sysmeta(req, {OBJECT_ACL: acl.dump()},
                                         authorized=not req.caller.owns(req.account))
    return SwiftResponse.of(200, {"Content-Length": "0"})
