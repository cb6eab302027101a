"""S3 ACLs as data: grants, canned ACLs, the ``x-amz-grant-*`` headers and
``AccessControlPolicy`` documents, and how a bucket's ACL maps onto Swift's.

An ACL has an owner (a project id: S3's canonical user id) and grants of the
five permissions, with their meaning in S3:

- on a bucket: ``READ`` lists it, ``WRITE`` creates, overwrites and deletes its
  objects, ``READ_ACP``/``WRITE_ACP`` read/replace the bucket's ACL;
- on an object: ``READ`` reads it, ``READ_ACP``/``WRITE_ACP`` read/replace the
  object's ACL (``WRITE`` means nothing there);
- ``FULL_CONTROL`` is all four; the owner always has it.

A grantee is a project (canonical id), the group AllUsers (anyone, anonymous
callers too) or AuthenticatedUsers (any signed request), or an e-mail address,
which the ``acl`` handlers resolve to its user's project before the ACL is kept.
Stored as compact JSON (:meth:`Acl.dump`). Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from multidict import MultiMapping

from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error

XSI = "http://www.w3.org/2001/XMLSchema-instance"
GROUPS = "http://acs.amazonaws.com/groups/global/"
ALL_USERS = GROUPS + "AllUsers"
AUTHENTICATED_USERS = GROUPS + "AuthenticatedUsers"
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
CANNED = ("private", "public-read", "public-read-write", "authenticated-read",
          "bucket-owner-read", "bucket-owner-full-control")
PUBLIC_CANNED = frozenset({"public-read", "public-read-write", "authenticated-read"})
GRANT_HEADERS = {"x-amz-grant-read": "READ", "x-amz-grant-write": "WRITE",
                 "x-amz-grant-read-acp": "READ_ACP", "x-amz-grant-write-acp": "WRITE_ACP",
                 "x-amz-grant-full-control": "FULL_CONTROL"}
MAX_GRANTS = 100
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")

ET.register_namespace("xsi", XSI)


@dataclass(frozen=True)
class Grant:
    group: bool  # True: ``who`` is a group URI; False: a canonical user id (project id)
    who: str
    permission: str
    email: str = ""  # a grant by e-mail address, until it is resolved to ``who``


@dataclass(frozen=True)
class Acl:
    owner: str  # the owning project's id
    grants: tuple[Grant, ...]

    def allows(self, project: str | None, permission: str, *,
               ignore_public: bool = False) -> bool:
        """Does the ACL grant ``permission`` to a caller of ``project`` (None: anonymous)?
        The owner may do everything; ``ignore_public``: grants to the groups count for
        nothing (a public access block's IgnorePublicAcls)."""
        if project is not None and project == self.owner:
            return True
        for g in self.grants:
            if g.permission not in (permission, "FULL_CONTROL"):
                continue
            if g.group:
                if not ignore_public and (g.who == ALL_USERS or (
                        g.who == AUTHENTICATED_USERS and project is not None)):
                    return True
            elif project is not None and g.who == project:
                return True
        return False

    @property
    def public(self) -> bool:
        """Grants something to AllUsers or AuthenticatedUsers."""
        return any(g.group for g in self.grants)

    @property
    def emails(self) -> tuple[str, ...]:
        return tuple(g.email for g in self.grants if g.email)

    def resolved(self, projects: Mapping[str, str]) -> Acl:
        """The ACL with its e-mail grantees replaced by their projects."""
        return Acl(self.owner, tuple(
            Grant(False, projects[g.email], g.permission) if g.email else g
            for g in self.grants))

    def only_owner(self) -> bool:
        """Grants no one but the owner, or the bucket's owner (what ACLs reduce to
        when a bucket's ownership controls disable them)."""
        return all(not g.group and g.permission == "FULL_CONTROL" for g in self.grants)

    def dump(self) -> str:
        return json.dumps({"o": self.owner, "g": [["g" if g.group else "u", g.who,
                                                   g.permission] for g in self.grants]},
                          separators=(",", ":"))

    @classmethod
    def load(cls, raw: str | None, owner: str) -> Acl | None:
        if not raw:
            return None
        try:
            doc = json.loads(raw)
            return cls(str(doc.get("o") or owner), tuple(
                Grant(kind == "g", str(who), str(perm)) for kind, who, perm in doc["g"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def swift_acls(self) -> dict[str, str]:
        """The container ACL headers a bucket's ACL maps onto (for the Swift API)."""
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


def private(owner: str) -> Acl:
    return Acl(owner, (Grant(False, owner, "FULL_CONTROL"),))


def canned(name: str, owner: str, bucket_owner: str | None = None) -> Acl:
    """A canned ACL by name (``bucket_owner``: of the bucket an object is in, for the
    ``bucket-owner-*`` ones); InvalidArgument for one S3 does not have."""
    base = private(owner).grants
    extra: tuple[Grant, ...]
    if name == "private":
        extra = ()
    elif name in ("bucket-owner-read", "bucket-owner-full-control"):
        permission = "READ" if name == "bucket-owner-read" else "FULL_CONTROL"
        extra = (Grant(False, bucket_owner, permission),) \
            if bucket_owner is not None and bucket_owner != owner else ()
    elif name == "public-read":
        extra = (Grant(True, ALL_USERS, "READ"),)
    elif name == "public-read-write":
        extra = (Grant(True, ALL_USERS, "READ"), Grant(True, ALL_USERS, "WRITE"))
    elif name == "authenticated-read":
        extra = (Grant(True, AUTHENTICATED_USERS, "READ"),)
    else:
        raise S3Error("InvalidArgument", ArgumentName="x-amz-acl", ArgumentValue=name)
    return Acl(owner, base + extra)


def _grantee(kind: str, value: str, header: str, permission: str) -> Grant:
    if kind == "id":
        if not ID_RE.fullmatch(value):
            raise S3Error("InvalidArgument", "Invalid id", ArgumentName="CanonicalUser/ID",
                          ArgumentValue=value)
        return Grant(False, value, permission)
    if kind == "uri":
        if value not in (ALL_USERS, AUTHENTICATED_USERS):
            raise S3Error("InvalidArgument", "Invalid group uri", ArgumentName="Group/URI",
                          ArgumentValue=value)
        return Grant(True, value, permission)
    if kind == "emailaddress":
        if not EMAIL_RE.fullmatch(value):
            raise S3Error("InvalidArgument", "Invalid e-mail address",
                          ArgumentName="EmailAddress", ArgumentValue=value)
        return Grant(False, "", permission, email=value.lower())
    raise S3Error("InvalidArgument", ArgumentName=header, ArgumentValue=kind)


def from_headers(headers: MultiMapping[str], owner: str,
                 bucket_owner: str | None = None) -> Acl | None:
    """The ACL ``x-amz-acl`` or ``x-amz-grant-*`` ask for, if any."""
    cannedname = headers.get("x-amz-acl")
    grants: list[Grant] = []
    for header, permission in GRANT_HEADERS.items():
        for value in headers.getall(header, []):
            for item in value.split(","):
                kind, sep, who = item.strip().partition("=")
                if not sep:
                    raise S3Error("InvalidArgument", ArgumentName=header, ArgumentValue=value)
                grants.append(_grantee(kind.strip().lower(), who.strip().strip('"'), header,
                                       permission))
    if cannedname is not None and grants:
        raise S3Error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is "
                      "not allowed")
    if cannedname is not None:
        return canned(cannedname.strip(), owner, bucket_owner)
    if grants:
        if len(grants) > MAX_GRANTS:
            raise S3Error("InvalidArgument", "Too many grants", ArgumentName="x-amz-grant")
        return Acl(owner, tuple(grants))
    return None


def from_xml(body: bytes, owner: str) -> Acl:
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
                "Group" if grantee.find("URI") is not None else \
                "AmazonCustomerByEmail" if grantee.find("EmailAddress") is not None else ""
        tag = {"CanonicalUser": "ID", "Group": "URI",
               "AmazonCustomerByEmail": "EmailAddress"}.get(kind)
        value = (grantee.findtext(tag) or "").strip() if tag else ""
        if not value or tag is None:
            raise S3Error("MalformedACLError")
        grants.append(_grantee(tag.lower(), value, "Grantee", permission))
    if len(grants) > MAX_GRANTS:
        raise S3Error("MalformedACLError", "Too many grants")
    return Acl(owner, tuple(grants))


def to_xml(acl: Acl) -> ET.Element:
    doc = x.root("AccessControlPolicy")
    o = x.add(doc, "Owner")
    x.add(o, "ID", acl.owner)
    x.add(o, "DisplayName", acl.owner)
    grants = x.add(doc, "AccessControlList")
    for g in acl.grants:
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


def from_swift(owner: str, read: str, write: str) -> Acl:
    """What a bucket made without an S3 ACL (e.g. over Swift) grants, as S3 says it."""
    grants = list(private(owner).grants)
    for value, permission in ((read, "READ"), (write, "WRITE")):
        for item in (i.strip() for i in value.split(",")):
            if item == ".r:*":
                grants.append(Grant(True, ALL_USERS, permission))
            elif item == "*:*":
                grants.append(Grant(True, AUTHENTICATED_USERS, permission))
            elif item.endswith(":*") and ID_RE.fullmatch(item[:-2]):
                grants.append(Grant(False, item[:-2], permission))
    return Acl(owner, tuple(grants))
