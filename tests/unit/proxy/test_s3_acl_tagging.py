"""S3 ACL and tagging documents, parsed and mapped without any server."""

from __future__ import annotations

import pytest

from proxy import acl as swift_acl
from proxy.request import parse_path
from proxy.s3 import grants as acl
from proxy.s3 import tagging
from proxy.s3.errors import S3Error
from proxy.s3.objects import answer_headers
from proxy.s3.registry import REGISTRY_ACCOUNT

OWNER = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


def code(exc: pytest.ExceptionInfo[S3Error]) -> str:
    return exc.value.code


def test_registry_account_is_unreachable_from_a_client_path() -> None:
    with pytest.raises(Exception) as exc:
        parse_path(f"/v1/{REGISTRY_ACCOUNT}/bucket")
    assert getattr(exc.value, "status", None) == 400


@pytest.mark.parametrize("name,read,write", [
    ("private", "", ""),
    ("public-read", ".r:*,.rlistings", ""),
    ("public-read-write", ".r:*,.rlistings", "*:*"),
    ("authenticated-read", "*:*", ""),
    ("bucket-owner-full-control", "", ""),
])
def test_canned_acls_map_onto_swift_acls(name: str, read: str, write: str) -> None:
    policy = acl.canned(name, OWNER)
    assert policy.swift_acls() == {"X-Container-Read": read, "X-Container-Write": write}
    # what Swift stores is what we computed (valid, already clean)
    assert swift_acl.clean_container_acl(read, write=False) == read
    assert swift_acl.clean_container_acl(write, write=True) == write


def test_unknown_canned_acl() -> None:
    with pytest.raises(S3Error) as exc:
        acl.canned("world-writable", OWNER)
    assert code(exc) == "InvalidArgument"


def test_policy_decisions() -> None:
    p = acl.canned("public-read", OWNER)
    assert p.allows(None, "READ") and p.allows(OTHER, "READ")
    assert not p.allows(None, "WRITE") and not p.allows(OTHER, "READ_ACP")
    assert p.allows(OWNER, "WRITE_ACP")
    a = acl.canned("authenticated-read", OWNER)
    assert a.allows(OTHER, "READ") and not a.allows(None, "READ")
    g = acl.Acl(OWNER, (acl.Grant(False, OTHER, "FULL_CONTROL"),))
    assert g.allows(OTHER, "WRITE_ACP") and not g.allows("someone", "READ")
    assert g.swift_acls() == {"X-Container-Read": f"{OTHER}:*",
                              "X-Container-Write": f"{OTHER}:*"}
    assert acl.Acl.load(g.dump(), OWNER) == g
    assert acl.Acl.load("not json", OWNER) is None


def test_grants_by_email_canned_bucket_owner_and_ignore_public() -> None:
    """E-mail grantees wait for their project; bucket-owner-* name the bucket's owner;
    IgnorePublicAcls makes group grants count for nothing."""
    from multidict import CIMultiDict
    h = CIMultiDict({"x-amz-grant-read": 'emailAddress="Ann@Example.com", id=' + OTHER,
                     "x-amz-grant-write-acp": "uri=" + acl.AUTHENTICATED_USERS})
    got = acl.from_headers(h, OWNER)
    assert got is not None and got.emails == ("ann@example.com",)
    done = got.resolved({"ann@example.com": "a" * 32})
    assert done.allows("a" * 32, "READ") and done.allows(OTHER, "READ")
    assert done.allows("b" * 32, "WRITE_ACP") and not done.allows(None, "WRITE_ACP")
    assert not done.allows("b" * 32, "WRITE_ACP", ignore_public=True)
    assert done.public and not acl.private(OWNER).public
    bor = acl.canned("bucket-owner-read", OTHER, OWNER)
    assert bor.allows(OWNER, "READ") and not bor.allows(OWNER, "WRITE_ACP")
    assert acl.canned("bucket-owner-full-control", OTHER, OWNER).allows(OWNER, "WRITE_ACP")
    with pytest.raises(S3Error) as exc:
        acl.from_headers(CIMultiDict({"x-amz-acl": "private", "x-amz-grant-read": "id=x"}),
                         OWNER)
    assert code(exc) == "InvalidRequest"


def doc(grants: str, owner: str = OWNER) -> bytes:
    return (f'<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f'<Owner><ID>{owner}</ID></Owner><AccessControlList>{grants}'
            f'</AccessControlList></AccessControlPolicy>').encode()


XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def test_access_control_policy_round_trip() -> None:
    body = doc(f'<Grant><Grantee {XSI} xsi:type="CanonicalUser"><ID>{OTHER}</ID></Grantee>'
               f'<Permission>READ</Permission></Grant>'
               f'<Grant><Grantee {XSI} xsi:type="Group"><URI>{acl.ALL_USERS}</URI>'
               f'</Grantee><Permission>READ_ACP</Permission></Grant>')
    policy = acl.from_xml(body, OWNER)
    assert policy.grants == (acl.Grant(False, OTHER, "READ"),
                             acl.Grant(True, acl.ALL_USERS, "READ_ACP"))
    from proxy.s3 import xmlutil as x
    again = acl.from_xml(x.dump(acl.to_xml(policy)), OWNER)
    assert again == policy


@pytest.mark.parametrize("body,want", [
    (b"<AccessControlPolicy><AccessControlList>", "MalformedACLError"),
    (b"<Other/>", "MalformedACLError"),
    (b"<AccessControlPolicy/>", "MalformedACLError"),
    (doc("<Grant><Permission>READ</Permission></Grant>"), "MalformedACLError"),
    (doc(f"<Grant><Grantee {XSI} xsi:type='CanonicalUser'><ID>{OTHER}</ID></Grantee>"
         "<Permission>ALL</Permission></Grant>"), "MalformedACLError"),
    (doc(f"<Grant><Grantee {XSI} xsi:type='Group'><URI>http://example.com/g</URI>"
         "</Grantee><Permission>READ</Permission></Grant>"), "InvalidArgument"),
    (doc(f"<Grant><Grantee {XSI} xsi:type='CanonicalUser'><ID>a,b:c</ID></Grantee>"
         "<Permission>READ</Permission></Grant>"), "InvalidArgument"),
    (doc("", owner=OTHER), "AccessDenied"),
])
def test_bad_access_control_policies(body: bytes, want: str) -> None:
    with pytest.raises(S3Error) as exc:
        acl.from_xml(body, OWNER)
    assert code(exc) == want


def tagging_doc(*tags: tuple[str, str]) -> bytes:
    inner = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in tags)
    return f"<Tagging><TagSet>{inner}</TagSet></Tagging>".encode()


def test_tag_sets() -> None:
    tags = tagging.from_xml(tagging_doc(("a", "1"), ("b c", "")), tagging.MAX_OBJECT_TAGS)
    assert tags == [("a", "1"), ("b c", "")]
    assert tagging.load(tagging.dump(tags)) == tags
    assert tagging.dump([]) == "" and tagging.load("") == []
    assert tagging.from_header("a=1&b=two%20words&c=") == [("a", "1"), ("b", "two words"),
                                                          ("c", "")]
    assert tagging.count_header({tagging.OBJECT_SYSMETA: tagging.dump(tags)}) == {
        "x-amz-tagging-count": "2"}
    assert tagging.count_header({}) == {}


@pytest.mark.parametrize("tags,limit", [
    ([(f"k{i}", "v") for i in range(11)], tagging.MAX_OBJECT_TAGS),
    ([(f"k{i}", "v") for i in range(51)], tagging.MAX_BUCKET_TAGS),
    ([("k" * 129, "v")], 10), ([("k", "v" * 257)], 10), ([("", "v")], 10),
    ([("k", "1"), ("k", "2")], 10), ([("aws:x", "1")], 10), ([("k<", "1")], 10),
])
def test_invalid_tags(tags: list[tuple[str, str]], limit: int) -> None:
    with pytest.raises(S3Error) as exc:
        tagging.validate(tags, limit)
    assert code(exc) == "InvalidTag"


@pytest.mark.parametrize("body", [
    b"<Tagging><TagSet>", b"<Tagging/>", b"<Other><TagSet/></Other>",
    b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
    b"<Tagging><TagSet><Nope/></TagSet></Tagging>",
])
def test_malformed_tagging(body: bytes) -> None:
    with pytest.raises(S3Error) as exc:
        tagging.from_xml(body, 10)
    assert code(exc) == "MalformedXML"


def test_an_objects_answer_headers_in_one_pass() -> None:
    """GetObject/HeadObject answer S3's headers from Swift's: the ones S3 answers as
    they are, the ETag quoted, user metadata as x-amz-meta-* (lower case), nothing
    else; whether the object has system metadata is told apart (no sysmeta: no S3
    ETag, tags, lock or checksum to look for)."""
    swift = {"Content-Type": "text/plain", "Etag": "abc", "Content-Length": "3",
             "Last-Modified": "Mon, 07 Dec 2026 11:26:57 GMT", "Accept-Ranges": "bytes",
             "X-Object-Meta-Color": "Blue", "x-object-meta-MiXed": "v", "X-Timestamp": "1.0",
             "Cache-Control": "no-cache", "X-Trans-Id": "tx1"}
    out, sysmeta = answer_headers(swift)
    assert dict(out) == {"Content-Type": "text/plain", "ETag": '"abc"', "Content-Length": "3",
                         "Last-Modified": "Mon, 07 Dec 2026 11:26:57 GMT",
                         "Accept-Ranges": "bytes", "x-amz-meta-color": "Blue",
                         "x-amz-meta-mixed": "v", "Cache-Control": "no-cache"}
    assert not sysmeta
    _, sysmeta = answer_headers({**swift, tagging.OBJECT_SYSMETA: "a=b"})
    assert sysmeta
    assert answer_headers({"ETag": '"q"'})[0]["ETag"] == '"q"'
