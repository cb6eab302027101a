"""S3 ACLs: canned ACLs, grant headers and AccessControlPolicy documents.

A bucket's policy is kept as JSON in container system metadata
(:data:`BUCKET_SYSMETA`, so that GetBucketAcl gives back what was put) and
mapped onto Swift's container ACLs, which then decide every request:

- READ (or FULL_CONTROL) to AllUsers is ``.r:*,.rlistings`` in
  ``X-Container-Read``, to AuthenticatedUsers ``*:*``, to another project's
  canonical id (its project id) ``<project>:*``;
- WRITE likewise in ``X-Container-Write``. Swift's write ACLs cannot name
  anonymous callers (no referrers), so WRITE to AllUsers is ``*:*`` there (any
  authenticated caller) and anonymous writes are let through by the S3 layer
  itself after reading this policy (``routing``), for that bucket only.

READ_ACP/WRITE_ACP have no Swift equivalent: the S3 layer checks them for
Get/Put*Acl. An object's policy is kept in object system metadata
(:data:`OBJECT_SYSMETA`); a read the bucket's ACL refuses is allowed when
the object's policy grants READ to the caller (``routing``). Changing
an object's policy is a server-side copy of the object onto itself
(``tagging.rewrite_object_sysmeta``). The owner is the project owning the
bucket's account; its canonical user id is the project id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from proxy.auth import RESELLER_PREFIX
from proxy.pipeline import SwiftResponse
from proxy.s3 import registry, tagging
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error
from proxy.s3.request import S3Request, check_content_md5

BUCKET_SYSMETA = "X-Container-Sysmeta-S3-Acl"
OBJECT_SYSMETA = "X-Object-Sysmeta-S3-Acl"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
GROUPS = "http://acs.amazonaws.com/groups/global/"
ALL_USERS = GROUPS + "AllUsers"
AUTHENTICATED_USERS = GROUPS + "AuthenticatedUsers"
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
CANNED = ("private", "public-read", "public-read-write", "authenticated-read",
          "bucket-owner-read", "bucket-owner-full-control")
GRANT_HEADERS = {"x-amz-grant-read": "READ", "x-amz-grant-write": "WRITE",
                 "x-amz-grant-read-acp": "READ_ACP", "x-amz-grant-write-acp": "WRITE_ACP",
                 "x-amz-grant-full-control": "FULL_CONTROL"}
MAX_GRANTS = 100
MAX_BODY = 64 << 10
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")

ET.register_namespace("xsi", XSI)


@dataclass(frozen=True)
class Grant:
    group: bool  # True: ``who`` is a group URI; False: a canonical user id (project id)
    who: str
    permission: str


@dataclass(frozen=True)
class Policy:
    owner: str  # the owning project's id
    grants: tuple[Grant, ...]

    def allows(self, project: str | None, permission: str) -> bool:
        """Does the policy grant ``permission`` to the caller of ``project`` (None:
        anonymous)? The owner may do everything."""
        if project is not None and project == self.owner:
            return True
        for g in self.grants:
            if g.permission not in (permission, "FULL_CONTROL"):
                continue
            if g.group and (g.who == ALL_USERS or
                            (g.who == AUTHENTICATED_USERS and project is not None)):
                return True
            if not g.group and project is not None and g.who == project:
                return True
        return False

    def dump(self) -> str:
        return json.dumps({"o": self.owner, "g": [["g" if g.group else "u", g.who,
                                                   g.permission] for g in self.grants]},
                          separators=(",", ":"))

    @classmethod
    def load(cls, raw: str | None, owner: str) -> Policy | None:
        if not raw:
            return None
        try:
            doc = json.loads(raw)
            return cls(str(doc.get("o") or owner), tuple(
                Grant(kind == "g", str(who), str(perm)) for kind, who, perm in doc["g"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def swift_acls(self) -> dict[str, str]:
        """The container ACL headers this policy maps onto."""
        read: list[str] = []
        write: list[str] = []
        for g in self.grants:
            if g.group:
                r_items = [".r:*", ".rlistings"] if g.who == ALL_USERS else ["*:*"]
                w_items = ["*:*"]
            elif g.who == self.owner:
                continue
            else:
                r_items = w_items = [f"{g.who}:*"]
            if g.permission in ("READ", "FULL_CONTROL"):
                read += [i for i in r_items if i not in read]
            if g.permission in ("WRITE", "FULL_CONTROL"):
                write += [i for i in w_items if i not in write]
        return {"X-Container-Read": ",".join(read), "X-Container-Write": ",".join(write)}


def private(owner: str) -> Policy:
    return Policy(owner, (Grant(False, owner, "FULL_CONTROL"),))


def canned(name: str, owner: str) -> Policy:
    """A canned ACL by name; InvalidArgument for one we do not know."""
    base = private(owner).grants
    extra: tuple[Grant, ...]
    if name in ("private", "bucket-owner-read", "bucket-owner-full-control"):
        extra = ()  # the bucket's owner owns every object here
    elif name == "public-read":
        extra = (Grant(True, ALL_USERS, "READ"),)
    elif name == "public-read-write":
        extra = (Grant(True, ALL_USERS, "READ"), Grant(True, ALL_USERS, "WRITE"))
    elif name == "authenticated-read":
        extra = (Grant(True, AUTHENTICATED_USERS, "READ"),)
    else:
        raise S3Error("InvalidArgument", ArgumentName="x-amz-acl", ArgumentValue=name)
    return Policy(owner, base + extra)


def _grantee(kind: str, value: str, header: str) -> tuple[bool, str]:
    if kind == "id":
        if not _ID_RE.fullmatch(value):
            raise S3Error("InvalidArgument", "Invalid id", ArgumentName="CanonicalUser/ID",
                          ArgumentValue=value)
        return False, value
    if kind == "uri":
        if value not in (ALL_USERS, AUTHENTICATED_USERS):
            raise S3Error("InvalidArgument", "Invalid group uri", ArgumentName="Group/URI",
                          ArgumentValue=value)
        return True, value
    if kind == "emailaddress":
        raise S3Error("NotImplemented", "Grants by e-mail address are not supported.")
    raise S3Error("InvalidArgument", ArgumentName=header, ArgumentValue=kind)


def from_headers(req: S3Request, owner: str) -> Policy | None:
    """The policy ``x-amz-acl`` or ``x-amz-grant-*`` ask for, if any."""
    cannedname = req.headers.get("x-amz-acl")
    grants: list[Grant] = []
    for header, permission in GRANT_HEADERS.items():
        for value in req.headers.getall(header, []):
            for item in value.split(","):
                kind, sep, who = item.strip().partition("=")
                if not sep:
                    raise S3Error("InvalidArgument", ArgumentName=header, ArgumentValue=value)
                group, name = _grantee(kind.strip().lower(), who.strip().strip('"'), header)
                grants.append(Grant(group, name, permission))
    if cannedname is not None and grants:
        raise S3Error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is "
                      "not allowed")
    if cannedname is not None:
        return canned(cannedname.strip(), owner)
    if grants:
        return Policy(owner, tuple(grants))
    return None


def from_xml(body: bytes, owner: str) -> Policy:
    """An AccessControlPolicy document; MalformedACLError if it is not one."""
    try:
        doc = x.parse(body)
    except S3Error:
        raise S3Error("MalformedACLError") from None
    if doc.tag != "AccessControlPolicy":
        raise S3Error("MalformedACLError")
    given = doc.findtext("Owner/ID")
    if given is not None and given.strip() != owner:
        raise S3Error("AccessDenied")
    acl_list = doc.find("AccessControlList")
    if acl_list is None:
        raise S3Error("MalformedACLError")
    grants: list[Grant] = []
    for g in acl_list:
        if g.tag != "Grant":
            raise S3Error("MalformedACLError")
        grantee = g.find("Grantee")
        permission = (g.findtext("Permission") or "").strip()
        if grantee is None or permission not in PERMISSIONS:
            raise S3Error("MalformedACLError")
        kind = next((v for k, v in grantee.attrib.items() if k.split("}")[-1] == "type"), "")
        if not kind:
            kind = "CanonicalUser" if grantee.find("ID") is not None else \
                "Group" if grantee.find("URI") is not None else ""
        field = {"CanonicalUser": "ID", "Group": "URI",
                 "AmazonCustomerByEmail": "EmailAddress"}.get(kind)
        value = (grantee.findtext(field) or "").strip() if field else ""
        if not value:
            raise S3Error("MalformedACLError")
        group, who = _grantee(field.lower() if field else "", value, "Grantee")
        grants.append(Grant(group, who, permission))
    if len(grants) > MAX_GRANTS:
        raise S3Error("MalformedACLError", "Too many grants")
    return Policy(owner, tuple(grants))


def to_xml(policy: Policy) -> ET.Element:
    doc = x.root("AccessControlPolicy")
    o = x.add(doc, "Owner")
    x.add(o, "ID", policy.owner)
    x.add(o, "DisplayName", policy.owner)
    grants = x.add(doc, "AccessControlList")
    for g in policy.grants:
        el = x.add(grants, "Grant")
        grantee = x.add(el, "Grantee")
        grantee.set(f"{{{XSI}}}type", "Group" if g.group else "CanonicalUser")
        if g.group:
            x.add(grantee, "URI", g.who)
        else:
            x.add(grantee, "ID", g.who)
            x.add(grantee, "DisplayName", g.who)
        x.add(el, "Permission", g.permission)
    return doc


def _from_swift(owner: str, read: str, write: str) -> Policy:
    """What a bucket made without an S3 policy (e.g. over Swift) grants, as S3 says it."""
    grants = list(private(owner).grants)
    for value, permission in ((read, "READ"), (write, "WRITE")):
        for item in (i.strip() for i in value.split(",")):
            if item == ".r:*":
                grants.append(Grant(True, ALL_USERS, permission))
            elif item == "*:*":
                grants.append(Grant(True, AUTHENTICATED_USERS, permission))
            elif item.endswith(":*") and _ID_RE.fullmatch(item[:-2]):
                grants.append(Grant(False, item[:-2], permission))
    return Policy(owner, tuple(grants))


# -- helpers for the handlers --------------------------------------------------------

def owner_project(req: S3Request) -> str:
    account = req.account
    return account[len(RESELLER_PREFIX):] if account.startswith(RESELLER_PREFIX) else account


def caller_project(req: S3Request) -> str | None:
    info = req.caller.info
    return info.project_id if info is not None and info.project_id else None


def bucket_headers(req: S3Request) -> dict[str, str]:
    """CreateBucket's ACL headers (none unless ``x-amz-acl``/``x-amz-grant-*``)."""
    policy = from_headers(req, owner_project(req))
    if policy is None:
        return {}
    return {**policy.swift_acls(), BUCKET_SYSMETA: policy.dump()}


def object_headers(req: S3Request) -> dict[str, str]:
    """PutObject's (and CopyObject's) ACL system metadata; CopyObject's is always
    set, so a copy never inherits its source's grants."""
    policy = from_headers(req, owner_project(req))
    if policy is None:
        return {OBJECT_SYSMETA: ""} if "x-amz-copy-source" in req.headers else {}
    return {OBJECT_SYSMETA: policy.dump()}


async def bucket_policy(req: S3Request) -> Policy | None:
    """The bucket's policy (None: the bucket does not exist), read by an internal
    request; bucket made without one: its Swift ACLs as S3 grants."""
    assert req.bucket is not None
    r = await registry.call_internal(req, "HEAD", req.account, req.bucket, owner=True)
    if r.status == 404:
        return None
    if not r.ok:
        raise S3Error("ServiceUnavailable")
    owner = owner_project(req)
    stored = Policy.load(r.headers.get(BUCKET_SYSMETA), owner)
    return stored or _from_swift(owner, r.headers.get("X-Container-Read", ""),
                                 r.headers.get("X-Container-Write", ""))


async def _object_head(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None
    r = await registry.call_internal(req, "HEAD", req.account, req.bucket, req.key)
    if r.status == 404:
        raise await req.missing()
    if not r.ok:
        raise S3Error("ServiceUnavailable")
    return r


async def object_readable(req: S3Request) -> bool:
    """Does the object's own policy let the caller read it?"""
    r = await registry.call_internal(req, "HEAD", req.account, req.bucket or "", req.key)
    policy = Policy.load(r.headers.get(OBJECT_SYSMETA), owner_project(req)) if r.ok else None
    return policy is not None and policy.allows(caller_project(req), "READ")


def _may(req: S3Request, policy: Policy, permission: str) -> bool:
    return req.caller.owns(req.account) or policy.allows(caller_project(req), permission)


async def _requested(req: S3Request, owner: str) -> Policy:
    """PutBucketAcl's/PutObjectAcl's new policy: from headers or from the body."""
    body = await req.body.read_all(MAX_BODY)
    policy = from_headers(req, owner)
    if policy is not None:
        if body.strip():
            raise S3Error("UnexpectedContent", "This request does not support content")
        return policy
    if not body.strip():
        raise S3Error("MissingSecurityHeader", "Your request was missing a required header",
                      MissingHeaderName="x-amz-acl")
    check_content_md5(req.headers, body)
    return from_xml(body, owner)


async def _existing_bucket_policy(req: S3Request) -> Policy:
    policy = await bucket_policy(req)
    if policy is None:
        raise S3Error("NoSuchBucket", BucketName=req.bucket or "")
    return policy


async def get_bucket_acl(req: S3Request) -> SwiftResponse:
    policy = await _existing_bucket_policy(req)
    if not _may(req, policy, "READ_ACP"):
        raise S3Error("AccessDenied")
    return x.response(to_xml(policy))


async def put_bucket_acl(req: S3Request) -> SwiftResponse:
    current = await _existing_bucket_policy(req)
    owner = owner_project(req)
    policy = await _requested(req, owner)
    headers = {**policy.swift_acls(), BUCKET_SYSMETA: policy.dump()}
    if req.caller.owns(req.account):
        r = await req.call("POST", req.bucket, headers=headers)
        await r.close()
    elif current.allows(caller_project(req), "WRITE_ACP"):
        assert req.bucket is not None
        r = await registry.call_internal(req, "POST", req.account, req.bucket,
                                         headers=headers, owner=True)
    else:
        raise S3Error("AccessDenied")
    if not r.ok:
        raise S3Error("AccessDenied") if r.status in (401, 403) else \
            S3Error("ServiceUnavailable")
    return SwiftResponse.of(200, {"Content-Length": "0"})


async def _object_policy(req: S3Request, permission: str) -> Policy:
    """The object's policy, when it grants the caller ``permission`` (else AccessDenied)."""
    r = await _object_head(req)
    owner = owner_project(req)
    policy = Policy.load(r.headers.get(OBJECT_SYSMETA), owner) or private(owner)
    if not _may(req, policy, permission):
        raise S3Error("AccessDenied")
    return policy


async def get_object_acl(req: S3Request) -> SwiftResponse:
    return x.response(to_xml(await _object_policy(req, "READ_ACP")))


async def put_object_acl(req: S3Request) -> SwiftResponse:
    await _object_policy(req, "WRITE_ACP")
    policy = await _requested(req, owner_project(req))
    await tagging.rewrite_object_sysmeta(req, {OBJECT_SYSMETA: policy.dump()},
                                         authorized=not req.caller.owns(req.account))
    return SwiftResponse.of(200, {"Content-Length": "0"})
