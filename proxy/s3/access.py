"""Who may do what: a request's bucket policy, ACLs and public access block, decided
before its handler runs (``routing``), in the order S3 applies them.

1. A ``Deny`` of the bucket's policy (``policy``) refuses the request, whoever asks,
   the bucket's owner included.
2. An ``Allow`` of the policy grants it (public statements grant nothing to other
   projects while the bucket's public access block has RestrictPublicBuckets).
3. Otherwise the bucket's own project decides by its roles as Swift does (member and
   admin do everything, reader reads), and anyone else by the ACLs (``grants``): the
   bucket's for listing, writing objects and the bucket's ACL, the object's for
   reading it and its ACL (checked once the object's headers are read:
   :func:`object_allowed`). Settings of the bucket (policy, tags, CORS, versioning,
   locks, ...) are for its own project, or whom the policy allows.

A request another project or an anonymous caller is allowed runs its subrequests
pre-authorized, within the bucket's containers (the bucket, its ``+versions`` and
``+segments``). The bucket's state (ACL, policy, public access block, ownership
controls) comes from its cached container HEAD and is parsed once per content
(:func:`state_of`), so a request without a policy pays a dict scan; one with a
policy a few comparisons per statement.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from proxy.auth import RESELLER_PREFIX
from proxy.s3 import locking, registry, tagging
from proxy.s3.errors import S3Error
from proxy.s3.grants import Acl, from_swift, private
from proxy.s3.multipart import SEGMENTS_SUFFIX
from proxy.s3.operation import Op
from proxy.s3.policy import (
    ALLOW,
    DENY,
    Policy,
    Principal,
    bucket_arn,
    object_arn,
)
from proxy.s3.policy import (
    load as load_policy,
)
from proxy.s3.request import S3Request
from proxy.s3.shared import unpack
from proxy.s3.versioning import ARCHIVE_SUFFIX
from proxy.state import Info

BUCKET_ACL = "X-Container-Sysmeta-S3-Acl"
OBJECT_ACL = "X-Object-Sysmeta-S3-Acl"
POLICY = "X-Container-Sysmeta-S3-Policy-"  # packed pieces (shared.pack)
PUBLIC_ACCESS_BLOCK = "X-Container-Sysmeta-S3-Public-Access-Block"
OWNERSHIP = "X-Container-Sysmeta-S3-Ownership"
ENFORCED, PREFERRED, WRITER = "BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"
_SYSMETA = "x-container-sysmeta-s3-"
STATE_MEMO = "access.state"  # S3Request.memo: (Info, BucketState)
OBJECT_CHECK = "access.object"  # the object ACL permission the handler must check
FROM_POLICY = "access.policy"  # the policy allowed this request


# -- the bucket's state --------------------------------------------------------------------

class PublicAccessBlock(NamedTuple):
    block_acls: bool = False
    ignore_acls: bool = False
    block_policy: bool = False
    restrict: bool = False

    def dump(self) -> str:
        return "".join("1" if f else "0" for f in self)

    @classmethod
    def load(cls, raw: str | None) -> PublicAccessBlock | None:
        if not raw or len(raw) != 4 or set(raw) - {"0", "1"}:
            return None
        return cls(*(c == "1" for c in raw))


NO_BLOCK = PublicAccessBlock()


@dataclass(frozen=True)
class BucketState:
    """What a bucket's container HEAD says about access to it."""

    bucket: str
    project: str  # the owning project (S3's canonical id)
    acl: Acl
    acl_stored: bool  # the ACL is S3's own (else made up from Swift's container ACLs)
    policy: Policy | None
    pab: PublicAccessBlock | None  # None: none configured
    ownership: str  # "" when never set (ObjectWriter, as before ownership controls)

    @property
    def block(self) -> PublicAccessBlock:
        return self.pab or NO_BLOCK

    @property
    def acls_enabled(self) -> bool:
        return self.ownership != ENFORCED


def project_of(account: str) -> str:
    return account[len(RESELLER_PREFIX):] if account.startswith(RESELLER_PREFIX) else account


@functools.lru_cache(maxsize=2048)
def _parse(bucket: str, project: str, items: tuple[tuple[str, str], ...]) -> BucketState:
    h = dict(items)
    acl = Acl.load(h.get(BUCKET_ACL.lower()), project)
    stored = acl is not None
    if acl is None:
        acl = from_swift(project, h.get("x-container-read", ""), h.get("x-container-write", ""))
    return BucketState(bucket, project, acl, stored,
                       load_policy(unpack(h, POLICY), bucket),
                       PublicAccessBlock.load(h.get(PUBLIC_ACCESS_BLOCK.lower())),
                       h.get(OWNERSHIP.lower(), ""))


def parse_state(bucket: str, account: str, headers: Mapping[str, str]) -> BucketState:
    """A bucket's state from its container headers (parsed once per content)."""
    items = tuple(sorted((k.lower(), v) for k, v in headers.items()
                         if k.lower().startswith(_SYSMETA)
                         or k.lower() in ("x-container-read", "x-container-write")))
    return _parse(bucket, project_of(account), items)


def bucket_state(info: Info, bucket: str, account: str) -> BucketState:
    """The state of an existing bucket, parsed once per cached container HEAD."""
    return info.derived(STATE_MEMO, lambda h: parse_state(bucket, account, h))


async def state_of(req: S3Request) -> BucketState | None:
    """The bucket's state (None: no such bucket), from its cached container HEAD."""
    info: Info = await req.bucket_info()
    memo = req.memo.get(STATE_MEMO)
    if memo is not None and memo[0] is info:
        return memo[1]  # type: ignore[no-any-return]
    bucket, account = req.bucket or "", req.account
    state = bucket_state(info, bucket, account) if info.exists else None
    req.memo[STATE_MEMO] = (info, state)
    return state


def forget(req: S3Request) -> None:
    """The bucket's state changed (this request changed it): read it again."""
    req.memo.pop(STATE_MEMO, None)
    req.st.forget(req.account, req.bucket)


# -- the request as policies see it -------------------------------------------------------

def principal(req: S3Request) -> Principal:
    info = req.caller.info
    if info is None or not info.project_id:
        return Principal()
    return Principal(info.project_id, info.user_id, info.user_name)


KeyFn = Callable[[S3Request], "list[str] | None"]


def _header(name: str) -> KeyFn:
    def get(req: S3Request) -> list[str] | None:
        v = req.headers.get(name)
        return None if v is None else [v]
    return get


def _query(name: str) -> KeyFn:
    def get(req: S3Request) -> list[str] | None:
        v = req.query.get(name)
        return None if v is None else [v]
    return get


def _who(field: str) -> KeyFn:
    def get(req: S3Request) -> list[str] | None:
        info = req.caller.info
        value = getattr(info, field, None) if info is not None else None
        return [value] if value else None
    return get


def _principal_arn(req: S3Request) -> list[str] | None:
    info = req.caller.info
    if info is None or not info.project_id:
        return None
    return [f"arn:aws:iam::{info.project_id}:user/{info.user_name}"]


def _iso_now(req: S3Request) -> list[str] | None:
    return [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())]


_KEYS: dict[str, KeyFn] = {
    "aws:sourceip": lambda req: [req.remote] if req.remote else None,
    "aws:securetransport": lambda req: ["true" if req.secure else "false"],
    "aws:referer": _header("Referer"),
    "aws:useragent": _header("User-Agent"),
    "aws:currenttime": _iso_now,
    "aws:epochtime": lambda req: [str(int(time.time()))],
    "aws:username": _who("user_name"),
    "aws:userid": _who("user_id"),
    "aws:principalaccount": _who("project_id"),
    "aws:principalarn": _principal_arn,
    "aws:principaltype": lambda req: ["Anonymous" if req.caller.anonymous else "User"],
    "s3:prefix": _query("prefix"),
    "s3:delimiter": _query("delimiter"),
    "s3:max-keys": _query("max-keys"),
    "s3:versionid": _query("versionId"),
    "s3:signatureversion": lambda req: [req.signature_version] if req.signature_version
    else None,
    "s3:authtype": lambda req: [req.auth_type] if req.auth_type else None,
    "s3:resourceaccount": lambda req: [project_of(req.account)],
    **{f"s3:{h}": _header(h) for h in (
        "x-amz-acl", "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp",
        "x-amz-grant-write-acp", "x-amz-grant-full-control", "x-amz-copy-source",
        "x-amz-metadata-directive", "x-amz-server-side-encryption", "x-amz-storage-class",
        "x-amz-content-sha256", "x-amz-object-ownership", "if-none-match", "if-match")},
    "s3:object-lock-mode": _header("x-amz-object-lock-mode"),
    "s3:object-lock-retain-until-date": _header("x-amz-object-lock-retain-until-date"),
    "s3:object-lock-legal-hold": _header("x-amz-object-lock-legal-hold"),
}


class RequestContext:
    """The condition keys' values for one request (computed when a condition asks)."""

    __slots__ = ("object_tags", "req", "request_tags")

    def __init__(self, req: S3Request, object_tags: dict[str, str] | None = None) -> None:
        self.req = req
        self.object_tags = object_tags
        self.request_tags: dict[str, str] | None = None

    def get(self, key: str) -> list[str] | None:
        fn = _KEYS.get(key)
        if fn is not None:
            return fn(self.req)
        if key.startswith("s3:existingobjecttag/"):
            value = (self.object_tags or {}).get(key[len("s3:existingobjecttag/"):])
            return None if value is None else [value]
        if key.startswith("s3:requestobjecttag/") or key == "s3:requestobjecttagkeys":
            tags = self._request_tags()
            if key == "s3:requestobjecttagkeys":
                return list(tags) or None
            value = tags.get(key[len("s3:requestobjecttag/"):])
            return None if value is None else [value]
        return None

    def _request_tags(self) -> dict[str, str]:
        if self.request_tags is None:
            raw = self.req.headers.get("x-amz-tagging")
            try:
                self.request_tags = dict(tagging.from_header(raw)) if raw is not None else {}
            except S3Error:
                self.request_tags = {}
        return self.request_tags


# -- what each operation needs ---------------------------------------------------------------

BUCKET, OBJECT, HOME = "bucket", "object", "home"


class Rule(NamedTuple):
    """An operation's action, the ACL permission that grants it and whose ACL that is
    (BUCKET, OBJECT; None: no ACL grants it), or HOME: the bucket's own project only
    (another one allowed by a policy gets 405, as S3 answers)."""

    action: str
    version_action: str | None = None  # with ?versionId
    permission: str | None = None
    level: str | None = None
    per_key: bool = False  # decided key by key by the handler (DeleteObjects)


def _r(action: str, permission: str | None = None, level: str | None = None,
       version: str | None = None) -> Rule:
    return Rule("s3:" + action, "s3:" + version if version else None, permission, level)


RULES: dict[Op, Rule] = {
    Op.HEAD_BUCKET: _r("ListBucket", "READ", BUCKET),
    Op.DELETE_BUCKET: _r("DeleteBucket"),
    Op.GET_BUCKET_LOCATION: _r("GetBucketLocation"),
    Op.LIST_OBJECTS: _r("ListBucket", "READ", BUCKET),
    Op.LIST_OBJECTS_V2: _r("ListBucket", "READ", BUCKET),
    Op.LIST_OBJECT_VERSIONS: _r("ListBucketVersions", "READ", BUCKET),
    Op.LIST_MULTIPART_UPLOADS: _r("ListBucketMultipartUploads", "READ", BUCKET),
    Op.DELETE_OBJECTS: Rule("s3:DeleteObject", "s3:DeleteObjectVersion", "WRITE", BUCKET,
                            per_key=True),
    Op.GET_OBJECT: _r("GetObject", "READ", OBJECT),
    Op.HEAD_OBJECT: _r("GetObject", "READ", OBJECT),
    Op.GET_OBJECT_VERSION: _r("GetObjectVersion", "READ", OBJECT),
    Op.HEAD_OBJECT_VERSION: _r("GetObjectVersion", "READ", OBJECT),
    Op.PUT_OBJECT: _r("PutObject", "WRITE", BUCKET),
    Op.POST_OBJECT: _r("PutObject", "WRITE", BUCKET),
    Op.COPY_OBJECT: _r("PutObject", "WRITE", BUCKET),
    Op.DELETE_OBJECT: _r("DeleteObject", "WRITE", BUCKET),
    Op.DELETE_OBJECT_VERSION: _r("DeleteObjectVersion", "WRITE", BUCKET),
    Op.CREATE_MULTIPART_UPLOAD: _r("PutObject", "WRITE", BUCKET),
    Op.UPLOAD_PART: _r("PutObject", "WRITE", BUCKET),
    Op.UPLOAD_PART_COPY: _r("PutObject", "WRITE", BUCKET),
    Op.COMPLETE_MULTIPART_UPLOAD: _r("PutObject", "WRITE", BUCKET),
    Op.ABORT_MULTIPART_UPLOAD: _r("AbortMultipartUpload", "WRITE", BUCKET),
    Op.LIST_PARTS: _r("ListMultipartUploadParts", "WRITE", BUCKET),
    Op.GET_BUCKET_ACL: _r("GetBucketAcl", "READ_ACP", BUCKET),
    Op.PUT_BUCKET_ACL: _r("PutBucketAcl", "WRITE_ACP", BUCKET),
    Op.GET_OBJECT_ACL: _r("GetObjectAcl", "READ_ACP", OBJECT, "GetObjectVersionAcl"),
    Op.PUT_OBJECT_ACL: _r("PutObjectAcl", "WRITE_ACP", OBJECT, "PutObjectVersionAcl"),
    Op.GET_BUCKET_TAGGING: _r("GetBucketTagging"),
    Op.PUT_BUCKET_TAGGING: _r("PutBucketTagging"),
    Op.DELETE_BUCKET_TAGGING: _r("PutBucketTagging"),
    Op.GET_OBJECT_TAGGING: _r("GetObjectTagging", version="GetObjectVersionTagging"),
    Op.PUT_OBJECT_TAGGING: _r("PutObjectTagging", version="PutObjectVersionTagging"),
    Op.DELETE_OBJECT_TAGGING: _r("DeleteObjectTagging", version="DeleteObjectVersionTagging"),
    Op.GET_BUCKET_CORS: _r("GetBucketCORS"),
    Op.PUT_BUCKET_CORS: _r("PutBucketCORS"),
    Op.DELETE_BUCKET_CORS: _r("PutBucketCORS"),
    Op.GET_BUCKET_VERSIONING: _r("GetBucketVersioning"),
    Op.PUT_BUCKET_VERSIONING: _r("PutBucketVersioning"),
    Op.GET_BUCKET_POLICY: _r("GetBucketPolicy", level=HOME),
    Op.PUT_BUCKET_POLICY: _r("PutBucketPolicy", level=HOME),
    Op.DELETE_BUCKET_POLICY: _r("DeleteBucketPolicy", level=HOME),
    Op.GET_BUCKET_POLICY_STATUS: _r("GetBucketPolicyStatus", level=HOME),
    Op.GET_PUBLIC_ACCESS_BLOCK: _r("GetBucketPublicAccessBlock", level=HOME),
    Op.PUT_PUBLIC_ACCESS_BLOCK: _r("PutBucketPublicAccessBlock", level=HOME),
    Op.DELETE_PUBLIC_ACCESS_BLOCK: _r("PutBucketPublicAccessBlock", level=HOME),
    Op.GET_BUCKET_OWNERSHIP_CONTROLS: _r("GetBucketOwnershipControls", level=HOME),
    Op.PUT_BUCKET_OWNERSHIP_CONTROLS: _r("PutBucketOwnershipControls", level=HOME),
    Op.DELETE_BUCKET_OWNERSHIP_CONTROLS: _r("PutBucketOwnershipControls", level=HOME),
    Op.GET_OBJECT_LOCK_CONFIGURATION: _r("GetBucketObjectLockConfiguration"),
    Op.PUT_OBJECT_LOCK_CONFIGURATION: _r("PutBucketObjectLockConfiguration"),
    Op.GET_OBJECT_RETENTION: _r("GetObjectRetention"),
    Op.PUT_OBJECT_RETENTION: _r("PutObjectRetention"),
    Op.GET_OBJECT_LEGAL_HOLD: _r("GetObjectLegalHold"),
    Op.PUT_OBJECT_LEGAL_HOLD: _r("PutObjectLegalHold"),
    Op.GET_OBJECT_ATTRIBUTES: _r("GetObjectAttributes", "READ", OBJECT,
                                 "GetObjectVersionAttributes"),
}
OBJECT_OPS = frozenset(op for op, rule in RULES.items() if rule.action in (
    "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject",
    "s3:DeleteObjectVersion", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    "s3:GetObjectAcl", "s3:PutObjectAcl", "s3:GetObjectTagging", "s3:PutObjectTagging",
    "s3:DeleteObjectTagging", "s3:GetObjectRetention", "s3:PutObjectRetention",
    "s3:GetObjectLegalHold", "s3:PutObjectLegalHold", "s3:GetObjectAttributes",
    "s3:GetObjectVersionAttributes"))
# Operations on an existing object whose policy may ask for its tags.
TAGGED_OPS = frozenset({Op.GET_OBJECT, Op.HEAD_OBJECT, Op.GET_OBJECT_VERSION,
                        Op.HEAD_OBJECT_VERSION, Op.GET_OBJECT_ACL, Op.PUT_OBJECT_ACL,
                        Op.GET_OBJECT_TAGGING, Op.PUT_OBJECT_TAGGING,
                        Op.DELETE_OBJECT_TAGGING, Op.GET_OBJECT_ATTRIBUTES})


# What a policy's Deny does not keep from the bucket's owners (a policy that denies
# everything can still be read, replaced or removed, as by AWS's root user).
POLICY_OPS = frozenset({Op.GET_BUCKET_POLICY, Op.PUT_BUCKET_POLICY, Op.DELETE_BUCKET_POLICY})

# Operations that x-amz-bypass-governance-retention may let override a GOVERNANCE lock.
BYPASS_OPS = frozenset({Op.DELETE_OBJECT, Op.DELETE_OBJECT_VERSION, Op.DELETE_OBJECTS,
                        Op.PUT_OBJECT_RETENTION})


def action_of(req: S3Request, rule: Rule) -> str:
    if rule.version_action is not None and "versionId" in req.query:
        return rule.version_action
    return rule.action


def resource_of(req: S3Request, key: str | None = None) -> str:
    bucket = req.bucket or ""
    if key is None and (req.key is None or req.op.kind not in OBJECT_OPS):
        return bucket_arn(bucket)
    return object_arn(bucket, key if key is not None else req.key or "")


# -- deciding ------------------------------------------------------------------------------

def grant(req: S3Request) -> None:
    """Run the request's subrequests pre-authorized, within the bucket's containers."""
    b = req.bucket or ""
    req.env = {**req.env, "authorized": True,
               "auth_scope": (req.account, frozenset({b, b + ARCHIVE_SUFFIX,
                                                      b + SEGMENTS_SUFFIX}))}


async def _object_tags(req: S3Request) -> dict[str, str]:
    r = await registry.call_internal(req, "HEAD", req.account, req.bucket or "", req.key)
    return dict(tagging.load(r.headers.get(tagging.OBJECT_SYSMETA))) if r.ok else {}


async def evaluate(req: S3Request, state: BucketState, action: str, resource: str,
                   ctx: RequestContext | None = None) -> str | None:
    """The bucket policy's word on ``action`` on ``resource`` (Allow, Deny, or None)."""
    policy = state.policy
    if policy is None:
        return None
    who = principal(req)
    if ctx is None:
        ctx = RequestContext(req)
        if policy.needs_object_tags() and req.op.kind in TAGGED_OPS and req.key is not None:
            ctx.object_tags = await _object_tags(req)
    decision = policy.evaluate(who, action, resource, ctx)
    if decision == ALLOW and state.block.restrict and policy.public \
            and who.project != state.project:
        return None  # RestrictPublicBuckets: a public policy grants only the owner's own
    return decision


async def authorize(req: S3Request) -> None:
    """Decide ``req`` before its handler runs (see the module's doc); AccessDenied."""
    rule = RULES.get(req.op.kind)
    if rule is None:
        return
    state = await state_of(req)
    if state is None:
        return  # no such bucket: the handler says so (or Swift refuses another's)
    if req.op.kind in BYPASS_OPS and \
            req.headers.get(locking.BYPASS_HEADER, "").strip().lower() == "true":
        req.memo[locking.BYPASS_MEMO] = await _may_bypass(req, state)
    expected = req.headers.get("x-amz-expected-bucket-owner")
    if expected is not None and expected != state.project:
        raise S3Error("AccessDenied")
    home = req.caller.reads(req.account)
    if rule.per_key:  # DeleteObjects: each key is decided by the handler (allowed_key)
        if not home:
            grant(req)
        return
    decision = await evaluate(req, state, action_of(req, rule), resource_of(req))
    if decision == DENY and not (req.op.kind in POLICY_OPS and req.caller.owns(req.account)):
        raise S3Error("AccessDenied")
    if decision == ALLOW:
        if rule.level == HOME and principal(req).project != state.project:
            raise S3Error("MethodNotAllowed", Method=req.method, ResourceType="BUCKET")
        req.memo[FROM_POLICY] = True
        if not req.caller.owns(req.account):
            grant(req)
        return
    if home:
        if rule.level == OBJECT:
            req.memo[OBJECT_CHECK] = rule.permission
        return
    if rule.permission is None:
        raise S3Error("AccessDenied")
    if rule.level == BUCKET and not acl_allows(state, req, rule.permission):
        raise S3Error("AccessDenied")
    if rule.level == OBJECT:
        req.memo[OBJECT_CHECK] = rule.permission
    grant(req)


def acl_allows(state: BucketState, req: S3Request, permission: str) -> bool:
    """Does the bucket's ACL grant the caller ``permission``?"""
    if not state.acls_enabled:
        return False
    return state.acl.allows(principal(req).project, permission,
                            ignore_public=state.block.ignore_acls)


def object_acl(state: BucketState, headers: Mapping[str, str]) -> Acl:
    """The ACL an object's headers hold (the bucket owner's, private, when it has none
    or the bucket's ownership controls disable ACLs)."""
    if not state.acls_enabled:
        return private(state.project)
    return _object_acl(headers.get(OBJECT_ACL), state.project)


@functools.lru_cache(maxsize=4096)
def _object_acl(raw: str | None, project: str) -> Acl:
    return Acl.load(raw, project) or private(project)


def object_allowed(req: S3Request, headers: Mapping[str, str],
                   permission: str | None = None) -> bool:
    """May the caller do what the request asks of the object whose headers these are?
    (``permission``: this one instead of the one :func:`authorize` left to check.)"""
    wanted = permission or req.memo.get(OBJECT_CHECK)
    if wanted is None or req.memo.get(FROM_POLICY):
        return True
    memo = req.memo.get(STATE_MEMO)
    state: BucketState | None = memo[1] if memo is not None else None
    if state is None:
        return req.caller.owns(req.account)
    acl = object_acl(state, headers)
    if req.caller.reads(req.account) and acl.owner == state.project:
        return permission is None or req.caller.owns(req.account) or permission.startswith(
            "READ")  # the project's own object: its roles decide
    return acl.allows(principal(req).project, wanted, ignore_public=state.block.ignore_acls)


async def may_list(req: S3Request) -> bool:
    """May the caller list the bucket (else a missing key is AccessDenied, not NoSuchKey)?"""
    if req.caller.reads(req.account):
        return True
    state = await state_of(req)
    if state is None:
        return False
    decision = await evaluate(req, state, "s3:ListBucket", bucket_arn(req.bucket or ""))
    if decision is not None:
        return decision == ALLOW
    return acl_allows(state, req, "READ")


async def allowed_key(req: S3Request, key: str, version: bool) -> bool:
    """DeleteObjects: may the caller delete ``key`` (``version``: one version of it)?"""
    state = await state_of(req)
    if state is None:
        return True  # the handler finds no bucket
    rule = RULES[Op.DELETE_OBJECTS]
    action = (rule.version_action if version else rule.action) or rule.action
    decision = await evaluate(req, state, action, object_arn(req.bucket or "", key))
    if decision is not None:
        return decision == ALLOW
    return req.caller.reads(req.account) or acl_allows(state, req, "WRITE")


async def _may_bypass(req: S3Request, state: BucketState) -> bool:
    """s3:BypassGovernanceRetention: the bucket's owners have it, others by the policy."""
    resource = object_arn(req.bucket or "", req.key or "*")
    decision = await evaluate(req, state, "s3:BypassGovernanceRetention", resource,
                              RequestContext(req))
    if decision is not None:
        return decision == ALLOW
    return req.caller.owns(req.account)


async def authorize_source(req: S3Request, bucket: str, key: str, versioned: bool) -> None:
    """CopyObject's and UploadPartCopy's source (``bucket/key``, in the same account):
    its bucket's policy and the object's ACL must let the caller read it (AccessDenied);
    a caller let in is let into that bucket's containers too."""
    info = await req.st.info(req.txn, req.account, bucket)
    if not info.exists:
        return  # the copy finds no source
    state = parse_state(bucket, req.account, info.headers)
    action = "s3:GetObjectVersion" if versioned else "s3:GetObject"
    decision = await evaluate(req, state, action, object_arn(bucket, key), RequestContext(req))
    if decision == DENY:
        raise S3Error("AccessDenied")
    if decision != ALLOW and not req.caller.reads(req.account):
        r = await registry.call_internal(req, "HEAD", req.account, bucket, key)
        if not r.ok or not object_acl(state, r.headers).allows(
                principal(req).project, "READ", ignore_public=state.block.ignore_acls):
            raise S3Error("AccessDenied")
    scope = req.env.get("auth_scope")
    if req.env.get("authorized") and scope is not None and isinstance(scope[1], frozenset):
        req.env = {**req.env, "auth_scope": (scope[0], scope[1] | {bucket,
                                                                    bucket + ARCHIVE_SUFFIX})}
