"""S3 ACLs, the global bucket-name registry and tagging, with boto3 against a real
Strata: two projects (demo, and another made here through Keystone), anonymous
``requests`` calls, and the Swift API to look underneath."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from xml.etree import ElementTree as ET

import boto3
import pytest
import requests
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.swift.conftest import StrataInstance, SwiftUser
from tests.functional.swift.conftest import admin as admin

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
# proxy/s3/registry.py's registry account: longer than the Swift API accepts
REGISTRY = ".s3-bucket-registry" + "." * (257 - 19)


def client(strata: StrataInstance, cred: Ec2Credential) -> BaseClient:
    return boto3.client(
        "s3", endpoint_url=strata.proxy_url, aws_access_key_id=cred.access,
        aws_secret_access_key=cred.secret, region_name="RegionOne",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))


class Keystone:
    """The admin's token, to make a second project with a member user."""

    def __init__(self, strata: StrataInstance) -> None:
        rc = strata.openrc("openrc")
        self.auth = rc["OS_AUTH_URL"].rstrip("/")
        r = requests.post(self.auth + "/auth/tokens", timeout=30, json=self._body(
            rc["OS_USERNAME"], rc["OS_PASSWORD"], rc["OS_PROJECT_NAME"]))
        assert r.status_code == 201, r.text
        self.h = {"X-Auth-Token": r.headers["X-Subject-Token"]}

    @staticmethod
    def _body(user: str, password: str, project: str) -> dict[str, Any]:
        return {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        r = requests.post(f"{self.auth}/{kind}", headers=self.h, timeout=30,
                          json={kind[:-1]: body})
        assert r.status_code == 201, r.text
        made: dict[str, Any] = r.json()[kind[:-1]]
        return made

    def member_credential(self, project_name: str, user_name: str) -> Ec2Credential:
        project = self.create("projects", {"name": project_name, "domain_id": "default"})
        user = self.create("users", {"name": user_name, "password": "pw-" + user_name,
                                     "domain_id": "default"})
        r = requests.get(f"{self.auth}/roles", headers=self.h, params={"name": "member"},
                         timeout=30)
        role = r.json()["roles"][0]["id"]
        r = requests.put(f"{self.auth}/projects/{project['id']}/users/{user['id']}/roles/"
                         f"{role}", headers=self.h, timeout=30)
        assert r.status_code == 204, r.text
        r = requests.post(self.auth + "/auth/tokens", timeout=30,
                          json=self._body(user_name, "pw-" + user_name, project_name))
        assert r.status_code == 201, r.text
        r = requests.post(f"{self.auth}/users/{user['id']}/credentials/OS-EC2", timeout=30,
                          headers={"X-Auth-Token": r.headers["X-Subject-Token"]},
                          json={"tenant_id": project["id"]})
        assert r.status_code == 201, r.text
        cred = r.json()["credential"]
        return Ec2Credential(cred["access"], cred["secret"], project["id"], user["id"])


@pytest.fixture(scope="module")
def s3(strata_swift: StrataInstance, ec2: Ec2Credential) -> BaseClient:
    return client(strata_swift, ec2)


@pytest.fixture(scope="module")
def other_cred(strata_swift: StrataInstance) -> Ec2Credential:
    return Keystone(strata_swift).member_credential("s3-other", "s3-bob")


@pytest.fixture(scope="module")
def other(strata_swift: StrataInstance, other_cred: Ec2Credential) -> BaseClient:
    return client(strata_swift, other_cred)


def name(prefix: str = "acl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket(s3: BaseClient) -> Iterator[str]:
    b = name()
    s3.create_bucket(Bucket=b)
    yield b
    empty(s3, b)


def empty(s3: BaseClient, b: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=b, Key=obj["Key"])
    s3.delete_bucket(Bucket=b)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def anon(strata: StrataInstance, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, strata.proxy_url + path, timeout=30, **kw)


def code_of(r: requests.Response) -> str:
    return ET.fromstring(r.content).findtext("Code") or ""


def grants(acl: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for g in acl["Grants"]:
        who = g["Grantee"].get("URI") or g["Grantee"].get("ID")
        out.add((who, g["Permission"]))
    return out


# -- the registry ----------------------------------------------------------------------

def test_bucket_names_are_global(s3: BaseClient, other: BaseClient, ec2: Ec2Credential,
                                 demo_swift: SwiftUser) -> None:
    b = name("global")
    s3.create_bucket(Bucket=b)
    with pytest.raises(ClientError) as exc:
        other.create_bucket(Bucket=b)
    assert error_of(exc) == (409, "BucketAlreadyExists")
    assert exc.value.response["Error"]["BucketName"] == b
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=b)
    assert error_of(exc) == (409, "BucketAlreadyOwnedByYou")
    assert b not in [x["Name"] for x in other.list_buckets()["Buckets"]]
    # the other project, not granted anything, reaches the bucket but is refused
    with pytest.raises(ClientError) as exc:
        other.list_objects_v2(Bucket=b)
    assert error_of(exc) == (403, "AccessDenied")
    # once deleted, the name is free for anyone
    s3.delete_bucket(Bucket=b)
    other.create_bucket(Bucket=b)
    assert b in [x["Name"] for x in other.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=b)
    assert error_of(exc) == (409, "BucketAlreadyExists")
    assert b not in demo_swift.containers()
    other.delete_bucket(Bucket=b)


@pytest.mark.parametrize("racers", [2, 4])
def test_simultaneous_creates_one_winner(strata_swift: StrataInstance, ec2: Ec2Credential,
                                         other_cred: Ec2Credential, racers: int) -> None:
    """Two racers: each of the 3 registry replicas picks one, so one has a majority and
    wins. More racers can split the replicas so that nobody does: then all are refused
    (never two winners) and the name is free again once the claim is stale."""
    for _ in range(3):
        b = name("race")
        clients = [client(strata_swift, c) for c in (ec2, other_cred, ec2, other_cred)[:racers]]

        def create(c: BaseClient, b: str = b) -> str:
            try:
                c.create_bucket(Bucket=b)
                return "created"
            except ClientError as exc:
                return str(exc.response["Error"]["Code"])

        with ThreadPoolExecutor(racers) as pool:
            results = list(pool.map(create, clients))
        losers = {r for r in results if r != "created"}
        assert losers <= {"BucketAlreadyExists", "BucketAlreadyOwnedByYou"}, results
        if racers == 2:
            assert results.count("created") == 1, results
        else:
            assert results.count("created") <= 1, results
        if "created" in results:
            clients[results.index("created")].delete_bucket(Bucket=b)


def test_registry_unreachable_over_swift(demo_swift: SwiftUser, admin: SwiftUser,
                                         s3: BaseClient) -> None:
    b = name("hidden")
    s3.create_bucket(Bucket=b)
    try:
        base = admin.url.rsplit("/", 1)[0]
        for who in (demo_swift, admin):
            for path in (REGISTRY, f"{REGISTRY}/{b}"):
                for method in ("GET", "HEAD", "POST", "DELETE"):
                    r = requests.request(method, f"{base}/{path}", timeout=30,
                                         headers={"X-Auth-Token": who.token})
                    assert r.status_code == 400, (method, path, r.text)
            # nor through a copy from it
            r = demo_swift.request("PUT", f"/{b}/stolen", headers={
                "X-Copy-From": f"/{b}/x", "X-Copy-From-Account": REGISTRY})
            assert r.status_code in (400, 412), r.text
        # the other project cannot take the name, so the registry was written
        assert demo_swift.request("HEAD", "/" + b).status_code == 204
    finally:
        s3.delete_bucket(Bucket=b)


def test_swift_made_container_keeps_working(s3: BaseClient, other: BaseClient,
                                            demo_swift: SwiftUser) -> None:
    c = name("swiftmade")
    assert demo_swift.request("PUT", "/" + c).status_code == 201
    assert demo_swift.request("PUT", f"/{c}/o", data=b"swift").status_code == 201
    try:
        assert s3.get_object(Bucket=c, Key="o")["Body"].read() == b"swift"
        # not registered: the other project may take the name for its own bucket
        other.create_bucket(Bucket=c)
        other.put_object(Bucket=c, Key="o", Body=b"other's")
        # each project's own account first
        assert s3.get_object(Bucket=c, Key="o")["Body"].read() == b"swift"
        assert other.get_object(Bucket=c, Key="o")["Body"].read() == b"other's"
        empty(other, c)
    finally:
        demo_swift.request("DELETE", f"/{c}/o")
        demo_swift.request("DELETE", "/" + c)


def test_name_of_bucket_deleted_over_swift_is_taken_back(
        s3: BaseClient, other: BaseClient, demo_swift: SwiftUser) -> None:
    b = name("stale")
    s3.create_bucket(Bucket=b)
    assert demo_swift.request("DELETE", "/" + b).status_code == 204
    other.create_bucket(Bucket=b)
    other.put_object(Bucket=b, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:  # now the other project's, not granted
        s3.get_object(Bucket=b, Key="k")
    assert error_of(exc) == (403, "AccessDenied")
    empty(other, b)


# -- canned ACLs and anonymous requests ---------------------------------------------------

def test_public_read_bucket(strata_swift: StrataInstance, s3: BaseClient,
                            demo_swift: SwiftUser, ec2: Ec2Credential) -> None:
    b = name("pub")
    s3.create_bucket(Bucket=b, ACL="public-read")
    try:
        # as in S3, a bucket's READ lists it; reading an object is the object's ACL's
        s3.put_object(Bucket=b, Key="secret.txt", Body=b"mine")
        r = anon(strata_swift, "GET", f"/{b}/secret.txt")
        assert r.status_code == 403 and code_of(r) == "AccessDenied", r.text
        s3.delete_object(Bucket=b, Key="secret.txt")
        s3.put_object(Bucket=b, Key="hello.txt", Body=b"hello world", ACL="public-read")
        r = anon(strata_swift, "GET", f"/{b}/hello.txt")
        assert r.status_code == 200, r.text
        assert r.content == b"hello world"
        assert r.headers["x-amz-request-id"]
        r = anon(strata_swift, "HEAD", f"/{b}/hello.txt")
        assert r.status_code == 200 and r.headers["Content-Length"] == "11"
        r = anon(strata_swift, "GET", f"/{b}", params={"list-type": "2"})
        assert r.status_code == 200, r.text
        keys = [k.text for k in ET.fromstring(r.content).iter(NS + "Key")]
        assert keys == ["hello.txt"]
        r = anon(strata_swift, "GET", f"/{b}/missing")
        assert r.status_code == 404 and code_of(r) == "NoSuchKey"
        # reading is not writing
        r = anon(strata_swift, "PUT", f"/{b}/new", data=b"nope")
        assert r.status_code == 403 and code_of(r) == "AccessDenied"
        r = anon(strata_swift, "DELETE", f"/{b}/hello.txt")
        assert r.status_code == 403 and code_of(r) == "AccessDenied"
        assert [x["Key"] for x in s3.list_objects_v2(Bucket=b)["Contents"]] == ["hello.txt"]
        # the Swift container ACL underneath
        h = demo_swift.request("HEAD", "/" + b).headers
        assert h["X-Container-Read"] == ".r:*,.rlistings"
        acl = s3.get_bucket_acl(Bucket=b)
        assert acl["Owner"]["ID"] == ec2.project_id
        assert grants(acl) == {(ec2.project_id, "FULL_CONTROL"), (ALL_USERS, "READ")}
        # back to private: anonymous listings refused (the object keeps its own ACL)
        s3.put_bucket_acl(Bucket=b, ACL="private")
        assert not demo_swift.request("HEAD", "/" + b).headers.get("X-Container-Read")
        r = anon(strata_swift, "GET", f"/{b}", params={"list-type": "2"})
        assert r.status_code == 403 and code_of(r) == "AccessDenied"
        assert anon(strata_swift, "GET", f"/{b}/hello.txt").content == b"hello world"
        s3.put_object_acl(Bucket=b, Key="hello.txt", ACL="private")
        r = anon(strata_swift, "GET", f"/{b}/hello.txt")
        assert r.status_code == 403 and code_of(r) == "AccessDenied"
        assert grants(s3.get_bucket_acl(Bucket=b)) == {(ec2.project_id, "FULL_CONTROL")}
    finally:
        empty(s3, b)


def test_anonymous_refused_on_private(strata_swift: StrataInstance, s3: BaseClient,
                                      bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s3cr3t")
    for method, path in (("GET", f"/{bucket}/secret"), ("GET", f"/{bucket}"),
                         ("PUT", f"/{bucket}/x"), ("GET", f"/{bucket}?acl"),
                         ("DELETE", f"/{bucket}/secret"), ("GET", "/")):
        r = anon(strata_swift, method, path, data=b"x" if method == "PUT" else None)
        assert r.status_code == 403, (method, path, r.text)
        assert code_of(r) == "AccessDenied"
    r = anon(strata_swift, "HEAD", f"/{bucket}/secret")
    assert r.status_code == 403
    r = anon(strata_swift, "GET", f"/{name('nosuch')}/k")
    assert r.status_code == 404 and code_of(r) == "NoSuchBucket"
    r = anon(strata_swift, "PUT", f"/{name('anonmade')}")
    assert r.status_code == 403 and code_of(r) == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"s3cr3t"
    assert [x["Key"] for x in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["secret"]


def test_public_read_write_bucket(strata_swift: StrataInstance, s3: BaseClient,
                                  other: BaseClient, demo_swift: SwiftUser) -> None:
    b = name("pubrw")
    s3.create_bucket(Bucket=b)
    try:
        s3.put_bucket_acl(Bucket=b, ACL="public-read-write")
        h = demo_swift.request("HEAD", "/" + b).headers
        assert h["X-Container-Read"] == ".r:*,.rlistings"
        assert h["X-Container-Write"] == "*:*"
        r = anon(strata_swift, "PUT", f"/{b}/drop", data=b"anonymous bytes")
        assert r.status_code == 200, r.text
        assert s3.get_object(Bucket=b, Key="drop")["Body"].read() == b"anonymous bytes"
        other.put_object(Bucket=b, Key="from-other", Body=b"o", ACL="public-read")
        assert anon(strata_swift, "GET", f"/{b}/from-other").content == b"o"
        r = anon(strata_swift, "DELETE", f"/{b}/drop")
        assert r.status_code == 204
        assert [x["Key"] for x in s3.list_objects_v2(Bucket=b)["Contents"]] == ["from-other"]
        # anonymous writers get no further than objects: not the ACL, not the bucket
        r = anon(strata_swift, "PUT", f"/{b}?acl", headers={"x-amz-acl": "private"})
        assert r.status_code == 403
        r = anon(strata_swift, "DELETE", f"/{b}")
        assert r.status_code == 403
    finally:
        empty(s3, b)


def test_authenticated_read_and_grants_to_a_project(
        strata_swift: StrataInstance, s3: BaseClient, other: BaseClient,
        ec2: Ec2Credential, other_cred: Ec2Credential, demo_swift: SwiftUser) -> None:
    b = name("authread")
    s3.create_bucket(Bucket=b, ACL="authenticated-read")
    try:
        s3.put_object(Bucket=b, Key="k", Body=b"for members", ACL="authenticated-read")
        assert demo_swift.request("HEAD", "/" + b).headers["X-Container-Read"] == "*:*"
        assert other.get_object(Bucket=b, Key="k")["Body"].read() == b"for members"
        assert [x["Key"] for x in other.list_objects_v2(Bucket=b)["Contents"]] == ["k"]
        assert anon(strata_swift, "GET", f"/{b}/k").status_code == 403
        with pytest.raises(ClientError) as exc:
            other.put_object(Bucket=b, Key="k2", Body=b"no")
        assert error_of(exc) == (403, "AccessDenied")
        # an AccessControlPolicy: READ and WRITE to the other project only
        s3.put_bucket_acl(Bucket=b, AccessControlPolicy={
            "Owner": {"ID": ec2.project_id},
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": ec2.project_id},
                 "Permission": "FULL_CONTROL"},
                {"Grantee": {"Type": "CanonicalUser", "ID": other_cred.project_id},
                 "Permission": "READ"},
                {"Grantee": {"Type": "CanonicalUser", "ID": other_cred.project_id},
                 "Permission": "WRITE"}]})
        h = demo_swift.request("HEAD", "/" + b).headers
        assert h["X-Container-Read"] == f"{other_cred.project_id}:*"
        assert h["X-Container-Write"] == f"{other_cred.project_id}:*"
        # an object is its writer's (ObjectWriter): the bucket's owner reads it when
        # the writer grants it so
        other.put_object(Bucket=b, Key="k2", Body=b"granted")
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=b, Key="k2")
        assert error_of(exc) == (403, "AccessDenied")
        other.put_object(Bucket=b, Key="k2", Body=b"granted", ACL="bucket-owner-full-control")
        assert s3.get_object(Bucket=b, Key="k2")["Body"].read() == b"granted"
        assert grants(s3.get_bucket_acl(Bucket=b)) == {
            (ec2.project_id, "FULL_CONTROL"), (other_cred.project_id, "READ"),
            (other_cred.project_id, "WRITE")}
        # no READ_ACP: the grantee may not read the ACL, nor change it
        with pytest.raises(ClientError) as exc:
            other.get_bucket_acl(Bucket=b)
        assert error_of(exc) == (403, "AccessDenied")
        with pytest.raises(ClientError) as exc:
            other.put_bucket_acl(Bucket=b, ACL="public-read")
        assert error_of(exc) == (403, "AccessDenied")
        assert anon(strata_swift, "GET", f"/{b}/k").status_code == 403
    finally:
        empty(s3, b)


def test_grant_headers(s3: BaseClient, other: BaseClient, other_cred: Ec2Credential,
                       ec2: Ec2Credential) -> None:
    b = name("granthdr")
    s3.create_bucket(Bucket=b, GrantRead=f'id="{other_cred.project_id}"',
                     GrantReadACP=f'id="{other_cred.project_id}"')
    try:
        s3.put_object(Bucket=b, Key="k", Body=b"v")
        with pytest.raises(ClientError) as exc:  # the bucket's READ lists it, no more
            other.get_object(Bucket=b, Key="k")
        assert error_of(exc) == (403, "AccessDenied")
        assert [x["Key"] for x in other.list_objects_v2(Bucket=b)["Contents"]] == ["k"]
        s3.put_object(Bucket=b, Key="k", Body=b"v", GrantRead=f'id="{other_cred.project_id}"')
        assert other.get_object(Bucket=b, Key="k")["Body"].read() == b"v"
        assert grants(other.get_bucket_acl(Bucket=b)) == {
            (other_cred.project_id, "READ"), (other_cred.project_id, "READ_ACP")}
    finally:
        empty(s3, b)


def test_bad_acls_change_nothing(strata_swift: StrataInstance, s3: BaseClient, bucket: str,
                                 demo_swift: SwiftUser, ec2: Ec2Credential) -> None:
    before = s3.get_bucket_acl(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_acl(Bucket=bucket, ACL="world-writable")
    assert error_of(exc) == (400, "InvalidArgument")
    bad_docs = [
        b"<AccessControlPolicy><AccessControlList><Grant>",  # not XML
        b"<Nope/>",
        b"<AccessControlPolicy><Owner><ID>" + ec2.project_id.encode() + b"</ID></Owner>"
        b"</AccessControlPolicy>",  # no AccessControlList
        b"<AccessControlPolicy><AccessControlList><Grant><Grantee "
        b"xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xsi:type='Group'>"
        b"<URI>" + ALL_USERS.encode() + b"</URI></Grantee><Permission>EVERYTHING"
        b"</Permission></Grant></AccessControlList></AccessControlPolicy>",
        b"<AccessControlPolicy><AccessControlList><Grant><Permission>READ</Permission>"
        b"</Grant></AccessControlList></AccessControlPolicy>",  # no Grantee
    ]
    for doc in bad_docs:
        with pytest.raises(ClientError) as exc, raw_body(s3, doc):
            s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Grants": []})
        assert error_of(exc) == (400, "MalformedACLError"), doc
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read",
                          GrantRead=f'id="{ec2.project_id}"')
    assert error_of(exc) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name("badacl"), ACL="wide-open")
    assert error_of(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="wide-open")
    assert error_of(exc) == (400, "InvalidArgument")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"] == before["Grants"]
    assert not demo_swift.request("HEAD", "/" + bucket).headers.get("X-Container-Read")
    assert anon(strata_swift, "GET", f"/{bucket}").status_code == 403


@contextlib.contextmanager
def raw_body(s3: BaseClient, doc: bytes) -> Iterator[None]:
    """The next request ``s3`` sends carries ``doc`` as its body, whatever boto3 made
    of the call's arguments (to send malformed documents)."""
    def swap(request: Any, **_: Any) -> None:
        request.data = doc
        for k in list(request.headers.keys()):
            if k.lower() == "content-md5" or k.lower().startswith(("x-amz-checksum-",
                                                                    "x-amz-sdk-checksum")):
                del request.headers[k]
        request.headers["Content-Length"] = str(len(doc))

    s3.meta.events.register("before-sign.s3.*", swap)
    try:
        yield
    finally:
        s3.meta.events.unregister("before-sign.s3.*", swap)


# -- object ACLs ------------------------------------------------------------------------

def test_public_read_object_in_private_bucket(strata_swift: StrataInstance, s3: BaseClient,
                                              other: BaseClient, bucket: str,
                                              ec2: Ec2Credential) -> None:
    s3.put_object(Bucket=bucket, Key="open", Body=b"for all", ACL="public-read",
                  Metadata={"colour": "blue"})
    s3.put_object(Bucket=bucket, Key="closed", Body=b"private")
    r = anon(strata_swift, "GET", f"/{bucket}/open")
    assert r.status_code == 200 and r.content == b"for all"
    assert r.headers["x-amz-meta-colour"] == "blue"
    assert anon(strata_swift, "GET", f"/{bucket}/closed").status_code == 403
    assert anon(strata_swift, "GET", f"/{bucket}").status_code == 403
    assert other.get_object(Bucket=bucket, Key="open")["Body"].read() == b"for all"
    with pytest.raises(ClientError) as exc:
        other.get_object(Bucket=bucket, Key="closed")
    assert error_of(exc) == (403, "AccessDenied")
    acl = s3.get_object_acl(Bucket=bucket, Key="open")
    assert acl["Owner"]["ID"] == ec2.project_id
    assert grants(acl) == {(ec2.project_id, "FULL_CONTROL"), (ALL_USERS, "READ")}
    assert grants(s3.get_object_acl(Bucket=bucket, Key="closed")) == {
        (ec2.project_id, "FULL_CONTROL")}
    # PutObjectAcl: the object stays as it was, only its ACL changes
    s3.put_object_acl(Bucket=bucket, Key="open", ACL="private")
    assert anon(strata_swift, "GET", f"/{bucket}/open").status_code == 403
    s3.put_object_acl(Bucket=bucket, Key="closed", ACL="authenticated-read")
    assert other.get_object(Bucket=bucket, Key="closed")["Body"].read() == b"private"
    assert anon(strata_swift, "GET", f"/{bucket}/closed").status_code == 403
    got = s3.get_object(Bucket=bucket, Key="open")
    assert got["Body"].read() == b"for all" and got["Metadata"] == {"colour": "blue"}
    with pytest.raises(ClientError) as exc:
        s3.put_object_acl(Bucket=bucket, Key="missing", ACL="private")
    assert error_of(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        other.put_object_acl(Bucket=bucket, Key="closed", ACL="public-read")
    assert error_of(exc) == (403, "AccessDenied")


def test_copy_does_not_inherit_acl(strata_swift: StrataInstance, s3: BaseClient,
                                   bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", ACL="public-read")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert anon(strata_swift, "GET", f"/{bucket}/src").status_code == 200
    assert anon(strata_swift, "GET", f"/{bucket}/dst").status_code == 403
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource={"Bucket": bucket, "Key": "src"},
                   ACL="public-read")
    assert anon(strata_swift, "GET", f"/{bucket}/dst2").content == b"data"


# -- tagging ------------------------------------------------------------------------------

def test_bucket_tagging(s3: BaseClient, other: BaseClient, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_of(exc) == (404, "NoSuchTagSet")
    tags = [{"Key": f"k{i}", "Value": f"v{i}"} for i in range(50)]
    tags[0] = {"Key": "päth/ök=+", "Value": ""}
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    with pytest.raises(ClientError) as exc:
        other.get_bucket_tagging(Bucket=bucket)
    assert error_of(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        other.delete_bucket_tagging(Bucket=bucket)
    assert error_of(exc) == (403, "AccessDenied")
    # bad input changes nothing
    for bad in ([{"Key": f"k{i}", "Value": "v"} for i in range(51)],
                [{"Key": "k" * 129, "Value": "v"}],
                [{"Key": "k", "Value": "v" * 257}],
                [{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}],
                [{"Key": "aws:reserved", "Value": "v"}]):
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": bad})
        assert error_of(exc) == (400, "InvalidTag")
    for doc in (b"<Tagging><TagSet><Tag><Key>k</Key>", b"<Tagging/>",
                b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"):
        with pytest.raises(ClientError) as exc, raw_body(s3, doc):
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []})
        assert error_of(exc) == (400, "MalformedXML")
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_of(exc) == (404, "NoSuchTagSet")
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=name("nosuch"))
    assert error_of(exc) == (404, "NoSuchBucket")


def test_object_tagging(s3: BaseClient, bucket: str, demo_swift: SwiftUser) -> None:
    body = hashlib.sha256(b"seed").digest() * 10000  # 320 KB: streamed, not one piece
    s3.put_object(Bucket=bucket, Key="obj", Body=body, Tagging="a=1&b=two%20words",
                  Metadata={"m": "keep"}, ContentType="text/x-test",
                  ContentDisposition="attachment", ACL="authenticated-read")
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["TagCount"] == 2
    assert s3.head_object(Bucket=bucket, Key="obj")["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-tagging-count"] == "2"
    assert s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"] == [
        {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "two words"}]
    etag = got["ETag"]
    new = [{"Key": f"t{i}", "Value": str(i)} for i in range(10)]
    s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": new})
    assert s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"] == new
    # data, user metadata, headers and other system metadata (the ACL) are kept
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == body and got["ETag"] == etag
    assert got["Metadata"] == {"m": "keep"} and got["ContentType"] == "text/x-test"
    assert got["ContentDisposition"] == "attachment" and got["TagCount"] == 10
    assert {(g["Grantee"].get("URI"), g["Permission"]) for g in
            s3.get_object_acl(Bucket=bucket, Key="obj")["Grants"]} >= {(AUTH_USERS, "READ")}
    # bad input changes nothing
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": [
            {"Key": f"x{i}", "Value": "v"} for i in range(11)]})
    assert error_of(exc) == (400, "InvalidTag")
    with pytest.raises(ClientError) as exc, raw_body(s3, b"<Tagging><TagSet>"):
        s3.put_object_tagging(Bucket=bucket, Key="obj", Tagging={"TagSet": []})
    assert error_of(exc) == (400, "MalformedXML")
    assert s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"] == new
    s3.delete_object_tagging(Bucket=bucket, Key="obj")
    assert s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"] == []
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert "TagCount" not in got and got["Body"].read() == body
    assert got["Metadata"] == {"m": "keep"}
    with pytest.raises(ClientError) as exc:
        s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert error_of(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=bucket, Key="missing", Tagging={"TagSet": []})
    assert error_of(exc) == (404, "NoSuchKey")
    assert [x["Key"] for x in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["obj"]


def test_put_object_tagging_header_limits(s3: BaseClient, bucket: str) -> None:
    too_many = "&".join(f"k{i}=v" for i in range(11))
    for header in (too_many, "k=" + "v" * 257, "a=1&a=2"):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging=header)
        assert error_of(exc)[0] == 400
        assert error_of(exc)[1] in ("InvalidTag", "InvalidArgument")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_copy_tagging_directive(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1")
    s3.copy_object(Bucket=bucket, Key="same", CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.get_object_tagging(Bucket=bucket, Key="same")["TagSet"] == [
        {"Key": "a", "Value": "1"}]
    s3.copy_object(Bucket=bucket, Key="new", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="b=2")
    assert s3.get_object_tagging(Bucket=bucket, Key="new")["TagSet"] == [
        {"Key": "b", "Value": "2"}]
