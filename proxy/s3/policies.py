"""A bucket's access settings: its policy (Put/Get/DeleteBucketPolicy,
GetBucketPolicyStatus), public access block (Put/Get/DeletePublicAccessBlock) and
ownership controls (Put/Get/DeleteBucketOwnershipControls).

Each is container system metadata of the bucket, read back by ``access`` from the
cached container HEAD: the policy's text packed in pieces (``shared.pack``), the
four public-access flags as ``0``/``1`` characters, the ownership as its name.
These are the bucket's own project's settings (``access.HOME``).
"""

from __future__ import annotations

from proxy.pipeline import SwiftResponse
from proxy.s3 import access
from proxy.s3 import xmlutil as x
from proxy.s3.access import (
    ENFORCED,
    OWNERSHIP,
    POLICY,
    PREFERRED,
    PUBLIC_ACCESS_BLOCK,
    WRITER,
    BucketState,
    PublicAccessBlock,
)
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.policy import MAX_SIZE, parse
from proxy.s3.request import S3Request, check_content_md5
from proxy.s3.shared import pack, unpacked

MAX_PIECES = 16
PAB_FIELDS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
              "RestrictPublicBuckets")


async def _state(req: S3Request) -> BucketState:
    state = await access.state_of(req)
    if state is None:
        raise S3Error("NoSuchBucket", BucketName=req.bucket or "")
    return state


async def _set(req: S3Request, headers: dict[str, str]) -> None:
    r = await req.call("POST", req.bucket, headers=headers)
    await r.close()
    if not r.ok:
        raise req.bucket_failed(r.status) if r.status == 404 else from_swift_status(r.status)
    access.forget(req)


# -- the bucket policy -------------------------------------------------------------------

async def get_policy(req: S3Request) -> SwiftResponse:
    state = await _state(req)
    if state.policy is None:
        raise S3Error("NoSuchBucketPolicy", BucketName=req.bucket or "")
    return SwiftResponse.of(200, {"Content-Type": "application/json"},
                            state.policy.text.encode())


async def put_policy(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None
    state = await _state(req)
    body = await req.body.read_all(MAX_SIZE * 2)
    check_content_md5(req.headers, body)
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise S3Error("MalformedPolicy", "This policy contains invalid Json") from None
    policy = parse(text, req.bucket)
    if policy.public and state.block.block_policy:
        raise S3Error("AccessDenied")
    packed = pack(POLICY, text, MAX_PIECES)
    if packed is None:
        raise S3Error("MalformedPolicy", "Policies must be less than 20 KB")
    r = await req.call("HEAD", req.bucket)
    await r.close()
    await _set(req, {**unpacked(POLICY, r.headers), **packed})
    return SwiftResponse.of(204)


async def delete_policy(req: S3Request) -> SwiftResponse:
    await _state(req)
    r = await req.call("HEAD", req.bucket)
    await r.close()
    await _set(req, unpacked(POLICY, r.headers))
    return SwiftResponse.of(204)


async def policy_status(req: S3Request) -> SwiftResponse:
    state = await _state(req)
    if state.policy is None:
        raise S3Error("NoSuchBucketPolicy", BucketName=req.bucket or "")
    doc = x.root("PolicyStatus")
    x.add(doc, "IsPublic", "true" if state.policy.public else "false")
    return x.response(doc)


# -- the public access block ----------------------------------------------------------------

def _flag(text: str | None) -> bool:
    value = (text or "false").strip().lower()
    if value not in ("true", "false"):
        raise S3Error("MalformedXML")
    return value == "true"


async def put_public_access_block(req: S3Request) -> SwiftResponse:
    await _state(req)
    body = await req.body.read_all(64 << 10)
    check_content_md5(req.headers, body)
    doc = x.parse(body)
    if doc.tag != "PublicAccessBlockConfiguration" or \
            any(el.tag not in PAB_FIELDS for el in doc):
        raise S3Error("MalformedXML")
    block = PublicAccessBlock(*(_flag(doc.findtext(f)) for f in PAB_FIELDS))
    await _set(req, {PUBLIC_ACCESS_BLOCK: block.dump()})
    return SwiftResponse.of(200, {"Content-Length": "0"})


async def get_public_access_block(req: S3Request) -> SwiftResponse:
    state = await _state(req)
    if state.pab is None:
        raise S3Error("NoSuchPublicAccessBlockConfiguration", "The public access block "
                      "configuration was not found", BucketName=req.bucket or "")
    doc = x.root("PublicAccessBlockConfiguration")
    for name, value in zip(PAB_FIELDS, state.pab, strict=True):
        x.add(doc, name, "true" if value else "false")
    return x.response(doc)


async def delete_public_access_block(req: S3Request) -> SwiftResponse:
    await _state(req)
    await _set(req, {PUBLIC_ACCESS_BLOCK: ""})
    return SwiftResponse.of(204)


# -- ownership controls ---------------------------------------------------------------------

async def put_ownership(req: S3Request) -> SwiftResponse:
    state = await _state(req)
    body = await req.body.read_all(64 << 10)
    check_content_md5(req.headers, body)
    doc = x.parse(body)
    rules = doc.findall("Rule")
    if doc.tag != "OwnershipControls" or len(rules) != 1:
        raise S3Error("MalformedXML")
    ownership = (rules[0].findtext("ObjectOwnership") or "").strip()
    if ownership not in (ENFORCED, PREFERRED, WRITER):
        raise S3Error("MalformedXML")
    if ownership == ENFORCED and state.acl_stored and not state.acl.only_owner():
        raise S3Error("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set "
                      "with ObjectOwnership's BucketOwnerEnforced setting")
    await _set(req, {OWNERSHIP: ownership})
    return SwiftResponse.of(200, {"Content-Length": "0"})


async def get_ownership(req: S3Request) -> SwiftResponse:
    state = await _state(req)
    if not state.ownership:
        raise S3Error("OwnershipControlsNotFoundError", "The bucket ownership controls were "
                      "not found", BucketName=req.bucket or "")
    doc = x.root("OwnershipControls")
    x.add(x.add(doc, "Rule"), "ObjectOwnership", state.ownership)
    return x.response(doc)


async def delete_ownership(req: S3Request) -> SwiftResponse:
    await _state(req)
    await _set(req, {OWNERSHIP: ""})
    return SwiftResponse.of(204)
