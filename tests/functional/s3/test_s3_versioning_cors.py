"""S3 bucket versioning (over Swift's history mode), ListObjectVersions, bucket CORS with
real preflights, and conditional CopyObject: boto3 and requests against a real Strata."""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import itertools
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.swift.conftest import StrataInstance, SwiftUser

_names = itertools.count()


def client(strata: StrataInstance, ec2: Ec2Credential) -> BaseClient:
    return boto3.client(
        "s3", endpoint_url=strata.proxy_url, aws_access_key_id=ec2.access,
        aws_secret_access_key=ec2.secret, region_name="RegionOne",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))


@pytest.fixture(scope="module")
def s3(strata_swift: StrataInstance, ec2: Ec2Credential) -> BaseClient:
    return client(strata_swift, ec2)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def all_versions(s3: BaseClient, bucket: str, **kw: Any) -> list[dict[str, Any]]:
    """Versions and delete markers, in listing order, each tagged with its kind."""
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, **kw):
        for kind in ("Versions", "DeleteMarkers"):
            for v in page.get(kind, []):
                out.append({**v, "Kind": kind})
    return out


def wipe(s3: BaseClient, bucket: str) -> None:
    for v in all_versions(s3, bucket):
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)


@pytest.fixture
def bucket(s3: BaseClient) -> Iterator[str]:
    name = f"vc-{int(time.time() * 1000) % 10**9}-{next(_names)}"
    s3.create_bucket(Bucket=name)
    yield name
    wipe(s3, name)


def send_raw(s3: BaseClient, operation: str, data: bytes, **params: Any) -> tuple[int, str]:
    """Call ``operation`` with ``data`` as its body (whatever boto3 would have sent):
    the (status, error code) it answers."""
    def swap(request: Any, **_: Any) -> None:
        request.data = data
        for name in list(request.headers):
            if name.lower() == "content-md5" or name.lower().startswith("x-amz-checksum-") \
                    or name.lower() == "x-amz-sdk-checksum-algorithm":
                del request.headers[name]

    event = f"before-sign.s3.{operation}"
    s3.meta.events.register(event, swap)
    try:
        getattr(s3, re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower())(**params)
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]
    finally:
        s3.meta.events.unregister(event, swap)
    return 200, ""


def enable(s3: BaseClient, bucket: str, status: str = "Enabled") -> None:
    r = s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def body(s3: BaseClient, bucket: str, key: str, **kw: Any) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()
    return data


# -- versioning -------------------------------------------------------------------------

def test_versioning_lifecycle(s3: BaseClient, bucket: str, demo_swift: SwiftUser) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="doc", Body=b"v0")  # before versioning: the null one
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    ids = [s3.put_object(Bucket=bucket, Key="doc", Body=f"v{i}".encode())["VersionId"]
           for i in (1, 2, 3)]
    assert len(set(ids)) == 3 and "null" not in ids
    # the archive is a Swift container, named as Swift's history mode names versions
    archive = demo_swift.names(bucket + "+versions")
    assert len(archive) == 3
    assert all(re.fullmatch(r"003doc/\d{10}\.\d{5}", n) for n in archive)
    assert {n.rsplit("/", 1)[1] for n in archive} >= set(ids[:2])
    assert bucket + "+versions" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    listed = all_versions(s3, bucket)
    assert [(v["Kind"], v["VersionId"], v["IsLatest"]) for v in listed] == [
        ("Versions", ids[2], True), ("Versions", ids[1], False),
        ("Versions", ids[0], False), ("Versions", "null", False)]
    assert listed[0]["ETag"] == f'"{hashlib.md5(b"v3").hexdigest()}"'
    assert listed[0]["Size"] == 2 and listed[0]["Owner"]["ID"]
    for i, vid in enumerate(ids, 1):
        got = s3.get_object(Bucket=bucket, Key="doc", VersionId=vid)
        assert (got["Body"].read(), got["VersionId"]) == (f"v{i}".encode(), vid)
        assert s3.head_object(Bucket=bucket, Key="doc", VersionId=vid)["ContentLength"] == 2
    assert body(s3, bucket, "doc", VersionId="null") == b"v0"
    assert s3.get_object(Bucket=bucket, Key="doc")["VersionId"] == ids[2]

    # a delete leaves a marker; the key is gone, and says why
    gone = s3.delete_object(Bucket=bucket, Key="doc")
    assert gone["DeleteMarker"] is True
    marker = gone["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="doc")
    assert error_of(exc) == (404, "NoSuchKey")
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == \
        "true"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="doc", VersionId=marker)
    assert error_of(exc) == (405, "MethodNotAllowed")
    listed = all_versions(s3, bucket)
    assert [(v["Kind"], v["VersionId"], v["IsLatest"]) for v in listed if v["IsLatest"]] == \
        [("DeleteMarkers", marker, True)]
    assert "doc" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents",
                                                                                   [])]

    # removing the marker brings the newest version back, with its own id
    r = s3.delete_object(Bucket=bucket, Key="doc", VersionId=marker)
    assert (r["DeleteMarker"], r["VersionId"]) == (True, marker)
    got = s3.get_object(Bucket=bucket, Key="doc")
    assert (got["Body"].read(), got["VersionId"]) == (b"v3", ids[2])
    assert [v["VersionId"] for v in all_versions(s3, bucket)] == [*reversed(ids), "null"]

    # deleting the current version for good makes the previous one current
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=ids[2])
    got = s3.get_object(Bucket=bucket, Key="doc")
    assert (got["Body"].read(), got["VersionId"]) == (b"v2", ids[1])
    # and an older one just disappears
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=ids[0])
    assert [v["VersionId"] for v in all_versions(s3, bucket)] == [ids[1], "null"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="doc", VersionId=ids[0])
    assert error_of(exc) == (404, "NoSuchVersion")
    # the restored version, overwritten, keeps its id in the archive
    v4 = s3.put_object(Bucket=bucket, Key="doc", Body=b"v4")["VersionId"]
    assert body(s3, bucket, "doc", VersionId=ids[1]) == b"v2"
    assert [v["VersionId"] for v in all_versions(s3, bucket)] == [v4, ids[1], "null"]

    # suspended: writes make the null version (replacing the old one); others stay
    enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    r = s3.put_object(Bucket=bucket, Key="doc", Body=b"s1")
    assert r.get("VersionId", "null") == "null"
    listed = all_versions(s3, bucket)
    assert [v["VersionId"] for v in listed] == ["null", v4, ids[1]]
    assert body(s3, bucket, "doc") == b"s1"
    assert body(s3, bucket, "doc", VersionId="null") == b"s1"
    assert body(s3, bucket, "doc", VersionId=v4) == b"v4"
    # a delete while suspended: a null delete marker in place of the null version
    gone = s3.delete_object(Bucket=bucket, Key="doc")
    assert (gone["DeleteMarker"], gone["VersionId"]) == (True, "null")
    listed = all_versions(s3, bucket)
    assert sorted((v["Kind"], v["VersionId"], v["IsLatest"]) for v in listed) == sorted([
        ("DeleteMarkers", "null", True), ("Versions", v4, False),
        ("Versions", ids[1], False)])
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    # the history location is gone over Swift, the archive stays
    head = demo_swift.request("HEAD", "/" + bucket)
    assert "X-History-Location" not in head.headers
    assert demo_swift.names(bucket + "+versions")


def test_versioning_bad_input(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for doc in (b"<VersioningConfiguration><Status>Enabled", b"not xml",
                b"<Other><Status>Enabled</Status></Other>",
                b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>"):
        assert send_raw(s3, "PutBucketVersioning", doc, Bucket=bucket,
                        VersioningConfiguration={"Status": "Enabled"}) == (400, "MalformedXML")
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Maybe"})
    assert error_of(exc) == (400, "MalformedXML")
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)  # nothing stored
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", VersionId="1234567890.12345")
    assert error_of(exc) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", VersionId="not-a-version")
    assert error_of(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="k", VersionId="not-a-version")
    assert error_of(exc) == (400, "InvalidArgument")
    assert body(s3, bucket, "k") == b"x"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket="no-such-bucket-here",
                                 VersioningConfiguration={"Status": "Enabled"})
    assert error_of(exc) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as exc:
        s3.list_object_versions(Bucket=bucket, VersionIdMarker="1234567890.12345")
    assert error_of(exc) == (400, "InvalidArgument")


def test_list_versions_prefix_delimiter_paging(s3: BaseClient, bucket: str) -> None:
    enable(s3, bucket)
    expected = []
    for key in ("a", "dir/x", "dir/y", "long-key-name", "zz"):
        for i in range(2):
            vid = s3.put_object(Bucket=bucket, Key=key, Body=f"{key}{i}".encode())["VersionId"]
            expected.append((key, vid))
    marker = s3.delete_object(Bucket=bucket, Key="zz")["VersionId"]
    want = []
    for key in ("a", "dir/x", "dir/y", "long-key-name", "zz"):
        own = [vid for k, vid in expected if k == key]
        want += [(key, vid) for vid in reversed(own)]
        if key == "zz":
            want.insert(len(want) - 2, ("zz", marker))
    got = [(v["Key"], v["VersionId"]) for v in all_versions(s3, bucket)]
    assert sorted(got) == sorted(want)
    # one page at a time, two entries each: the same versions, in S3's order
    paged = []
    for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}):
        entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        assert len(entries) <= 2
        paged += [(v["Key"], v["VersionId"], v["LastModified"]) for v in entries]
    assert sorted((k, v) for k, v, _ in paged) == sorted(want)
    assert [k for k, _, _ in paged] == sorted(k for k, _, _ in paged)
    r = s3.list_object_versions(Bucket=bucket, Prefix="dir/")
    assert sorted(v["Key"] for v in r["Versions"]) == ["dir/x", "dir/x", "dir/y", "dir/y"]
    r = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/"]
    assert "dir/x" not in {v["Key"] for v in r["Versions"]}
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="dir/y")
    assert {v["Key"] for v in r["Versions"]} == {"long-key-name", "zz"}
    newest, older = (v for k, v in want if k == "a")
    r = s3.list_object_versions(Bucket=bucket, KeyMarker="a", VersionIdMarker=newest)
    assert (r["Versions"][0]["Key"], r["Versions"][0]["VersionId"]) == ("a", older)


def test_delete_objects_with_versions(s3: BaseClient, bucket: str) -> None:
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="p", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="p", Body=b"2")["VersionId"]
    s3.put_object(Bucket=bucket, Key="q", Body=b"q")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "p", "VersionId": v1}, {"Key": "q"}, {"Key": "p", "VersionId": "bad id"}]})
    deleted = {(d["Key"], d.get("VersionId")): d for d in r["Deleted"]}
    assert deleted[("p", v1)].get("DeleteMarker") is None
    assert deleted[("q", None)]["DeleteMarker"] is True
    assert deleted[("q", None)]["DeleteMarkerVersionId"]
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("p", "InvalidArgument")]
    assert [v["VersionId"] for v in all_versions(s3, bucket, Prefix="p")] == [v2]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="q")
    assert error_of(exc) == (404, "NoSuchKey")


def test_copy_from_a_version(s3: BaseClient, bucket: str) -> None:
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="src", Body=b"old")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"new")
    r = s3.copy_object(Bucket=bucket, Key="dst",
                       CopySource={"Bucket": bucket, "Key": "src", "VersionId": old})
    assert r["CopySourceVersionId"] == old and r["VersionId"]
    assert body(s3, bucket, "dst") == b"old"
    # an old version copied over its own key becomes the newest
    r = s3.copy_object(Bucket=bucket, Key="src",
                       CopySource={"Bucket": bucket, "Key": "src", "VersionId": old})
    assert body(s3, bucket, "src") == b"old"
    assert len(all_versions(s3, bucket, Prefix="src")) == 3
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dst2", CopySource={
            "Bucket": bucket, "Key": "src", "VersionId": "1111111111.11111"})
    assert error_of(exc) == (404, "NoSuchVersion")


def test_delete_bucket_with_versions(s3: BaseClient, demo_swift: SwiftUser) -> None:
    name = f"vdel-{int(time.time() * 1000) % 10**9}"
    s3.create_bucket(Bucket=name)
    enable(s3, name)
    vid = s3.put_object(Bucket=name, Key="k", Body=b"1")["VersionId"]
    marker = s3.delete_object(Bucket=name, Key="k")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert error_of(exc) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k", VersionId=marker)
    s3.delete_object(Bucket=name, Key="k", VersionId=vid)
    assert all_versions(s3, name) == []
    assert s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert name + "+versions" not in demo_swift.containers()


# -- CORS ---------------------------------------------------------------------------------

RULES = {"CORSRules": [
    {"ID": "web", "AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["x-amz-*", "content-type"], "ExposeHeaders": ["ETag"],
     "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
]}


def test_cors_configuration(s3: BaseClient, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_of(exc) == (404, "NoSuchCORSConfiguration")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got == [
        {"ID": "web", "AllowedHeaders": ["x-amz-*", "content-type"],
         "AllowedMethods": ["GET", "PUT"], "AllowedOrigins": ["https://*.example.com"],
         "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
        {"AllowedMethods": ["HEAD"], "AllowedOrigins": ["*"]}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://a.test"], "AllowedMethods": ["POST"]}]})
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 1
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_of(exc) == (404, "NoSuchCORSConfiguration")


@pytest.mark.parametrize("rules,code", [
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest"),
    ([{"AllowedOrigins": ["https://*.*.test"], "AllowedMethods": ["GET"]}], "InvalidRequest"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["a*b*"]}],
     "InvalidRequest"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "InvalidRequest"),
])
def test_cors_bad_rules(s3: BaseClient, bucket: str, rules: list[Any], code: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert error_of(exc) == (400, code)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_of(exc) == (404, "NoSuchCORSConfiguration")  # nothing stored


def test_cors_malformed_xml(s3: BaseClient, bucket: str) -> None:
    for doc in (b"<CORSConfiguration><CORSRule>", b"<CORSConfiguration/>",
                b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>"
                b"</CORSConfiguration>",
                b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>"
                b"GET</AllowedMethod><Color>red</Color></CORSRule></CORSConfiguration>"):
        assert send_raw(s3, "PutBucketCors", doc, Bucket=bucket, CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]}) == \
            (400, "MalformedXML")
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_of(exc) == (404, "NoSuchCORSConfiguration")


def test_cors_preflight_and_answers(s3: BaseClient, bucket: str,
                                    strata_swift: StrataInstance) -> None:
    url = f"{strata_swift.proxy_url}/{bucket}/some/key"
    pre = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
           "Access-Control-Request-Headers": "Content-Type, X-Amz-Date"}
    r = requests.options(url, headers=pre, timeout=30)
    assert r.status_code == 403  # no CORS configuration yet
    assert "CORS is not enabled" in r.text
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    r = requests.options(url, headers=pre, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert r.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert r.headers["Access-Control-Max-Age"] == "600"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    # the wildcard rule answers HEAD for anyone
    r = requests.options(url, timeout=30, headers={
        "Origin": "http://elsewhere.test", "Access-Control-Request-Method": "HEAD"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    refused = [
        {**pre, "Origin": "https://example.com"},  # the wildcard needs a subdomain
        {**pre, "Origin": "http://app.example.com"},
        {**pre, "Access-Control-Request-Method": "DELETE"},
        {**pre, "Access-Control-Request-Headers": "x-custom"},
    ]
    for headers in refused:
        r = requests.options(url, headers=headers, timeout=30)
        assert r.status_code == 403, headers
        assert "<Code>AccessForbidden</Code>" in r.text
        assert "CORSResponse: This CORS request is not allowed" in r.text
        assert "Access-Control-Allow-Origin" not in r.headers
    r = requests.options(url, headers={"Origin": "https://app.example.com"}, timeout=30)
    assert r.status_code == 400
    r = requests.options(f"{strata_swift.proxy_url}/no-such-bucket-cors/k", headers=pre,
                         timeout=30)
    assert r.status_code == 403
    # an actual request with Origin gets the first matching rule's headers
    s3.put_object(Bucket=bucket, Key="some/key", Body=b"hi")
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                                              "Key": "some/key"})
    r = requests.get(get_url, headers={"Origin": "https://app.example.com"}, timeout=30)
    assert r.status_code == 200 and r.content == b"hi"
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    r = requests.get(get_url, headers={"Origin": "https://evil.test"}, timeout=30)
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
    r = requests.get(get_url, timeout=30)
    assert "Access-Control-Allow-Origin" not in r.headers


# -- conditional copy ------------------------------------------------------------------------

def test_conditional_copy(s3: BaseClient, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    etag = put["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="src")["LastModified"].astimezone(
        datetime.UTC)
    before = email.utils.format_datetime(modified.replace(year=modified.year - 1),
                                         usegmt=True)
    after = email.utils.format_datetime(modified.replace(year=modified.year + 1),
                                        usegmt=True)
    src = {"Bucket": bucket, "Key": "src"}
    passing = [{"CopySourceIfMatch": etag}, {"CopySourceIfNoneMatch": '"0000"'},
               {"CopySourceIfModifiedSince": before},
               {"CopySourceIfUnmodifiedSince": after},
               # S3's combinations: a matching ETag wins over the date, and so on
               {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": before},
               {"CopySourceIfNoneMatch": '"0000"', "CopySourceIfModifiedSince": after}]
    failing = [{"CopySourceIfMatch": '"0000"'}, {"CopySourceIfNoneMatch": etag},
               {"CopySourceIfModifiedSince": after}, {"CopySourceIfUnmodifiedSince": before},
               {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": before}]
    for i, cond in enumerate(passing):
        s3.copy_object(Bucket=bucket, Key=f"ok{i}", CopySource=src, **cond)
        assert body(s3, bucket, f"ok{i}") == b"data", cond
    for i, cond in enumerate(failing):
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket=bucket, Key=f"no{i}", CopySource=src, **cond)
        assert error_of(exc) == (412, "PreconditionFailed"), cond
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket=bucket, Key=f"no{i}")
        assert error_of(exc)[0] == 404  # nothing copied
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "nope"},
                       CopySourceIfMatch=etag)
    assert error_of(exc) == (404, "NoSuchKey")
