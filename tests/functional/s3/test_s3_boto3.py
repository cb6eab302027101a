"""The S3 front with the real boto3 (default settings, path style) against a real Strata."""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET

import boto3
import botocore.auth
import pytest
import requests
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.swift.conftest import TXN_RE, StrataInstance, SwiftUser

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def client(strata: StrataInstance, access: str, secret: str, **config: Any) -> BaseClient:
    return boto3.client(
        "s3", endpoint_url=strata.proxy_url, aws_access_key_id=access,
        aws_secret_access_key=secret, region_name="RegionOne",
        config=Config(s3={"addressing_style": "path"}, **config))


@pytest.fixture(scope="module")
def s3(strata_swift: StrataInstance, ec2: Ec2Credential) -> BaseClient:
    return client(strata_swift, ec2.access, ec2.secret)


@pytest.fixture(scope="module")
def once(strata_swift: StrataInstance, ec2: Ec2Credential) -> BaseClient:
    """No retries: the first answer is the one checked."""
    return client(strata_swift, ec2.access, ec2.secret, retries={"total_max_attempts": 1})


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def assert_request_id(r: dict[str, Any]) -> None:
    assert TXN_RE.fullmatch(r["ResponseMetadata"]["RequestId"])


@pytest.fixture
def bucket(s3: BaseClient) -> Iterator[str]:
    name = "bkt-" + hashlib.md5(str(datetime.datetime.now()).encode()).hexdigest()[:12]
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "RegionOne"})
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


# -- buckets -------------------------------------------------------------------------

def test_bucket_lifecycle(s3: BaseClient, once: BaseClient, ec2: Ec2Credential,
                          demo_swift: SwiftUser) -> None:
    r = s3.create_bucket(Bucket="lifecycle-bucket")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["Location"] == "/lifecycle-bucket"
    assert_request_id(r)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "lifecycle-bucket" in names
    listing = s3.list_buckets()
    assert listing["Owner"]["ID"] == ec2.project_id
    assert isinstance(listing["Buckets"][0]["CreationDate"], datetime.datetime)
    # the same container over Swift, in the credential's project's account
    assert demo_swift.account == "AUTH_" + ec2.project_id
    assert "lifecycle-bucket" in demo_swift.containers()
    assert s3.head_bucket(Bucket="lifecycle-bucket")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_location(Bucket="lifecycle-bucket")["LocationConstraint"] == \
        "RegionOne"
    with pytest.raises(ClientError) as exc:
        once.create_bucket(Bucket="lifecycle-bucket")
    assert error_of(exc) == (409, "BucketAlreadyOwnedByYou")
    s3.put_object(Bucket="lifecycle-bucket", Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        once.delete_bucket(Bucket="lifecycle-bucket")
    assert error_of(exc) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket="lifecycle-bucket", Key="k")
    r = s3.delete_bucket(Bucket="lifecycle-bucket")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        once.head_bucket(Bucket="lifecycle-bucket")
    assert error_of(exc) == (404, "404")
    with pytest.raises(ClientError) as exc:
        once.list_objects_v2(Bucket="lifecycle-bucket")
    assert error_of(exc) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as exc:
        once.delete_bucket(Bucket="lifecycle-bucket")
    assert error_of(exc) == (404, "NoSuchBucket")


@pytest.mark.parametrize("name", ["ab", "Upper-Case", "a..b", "192.168.0.1", "x" * 64])
def test_bad_bucket_names(once: BaseClient, name: str, demo_swift: SwiftUser) -> None:
    with pytest.raises(ClientError) as exc:
        once.create_bucket(Bucket=name)
    assert error_of(exc) == (400, "InvalidBucketName")
    assert name not in demo_swift.containers()


def test_bad_location_constraint(once: BaseClient) -> None:
    with pytest.raises(ClientError) as exc:
        once.create_bucket(Bucket="somewhere",
                           CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    assert error_of(exc) == (400, "InvalidLocationConstraint")


# -- objects ---------------------------------------------------------------------------

def test_object_round_trip_and_metadata(s3: BaseClient, bucket: str) -> None:
    data = b"hello s3 " * 1000
    r = s3.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=data, ContentType="text/plain",
                      Metadata={"Color": "blue"}, CacheControl="no-cache")
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    assert r["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert got["Body"].read() == data
    assert (got["ETag"], got["ContentType"], got["ContentLength"], got["Metadata"],
            got["CacheControl"]) == (etag, "text/plain", len(data), {"color": "blue"},
                                     "no-cache")
    head = s3.head_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert (head["ContentLength"], head["ETag"], head["AcceptRanges"]) == \
        (len(data), etag, "bytes")
    part = s3.get_object(Bucket=bucket, Key="dir/a b+c.txt", Range="bytes=6-10")
    assert part["Body"].read() == data[6:11]
    assert part["ContentRange"] == f"bytes 6-10/{len(data)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    over = s3.get_object(Bucket=bucket, Key="dir/a b+c.txt",
                         ResponseContentType="application/x-mine",
                         ResponseContentDisposition='attachment; filename="x"')
    assert over["ContentType"] == "application/x-mine"
    assert over["ContentDisposition"] == 'attachment; filename="x"'
    # conditional requests
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="dir/a b+c.txt", IfNoneMatch=etag)
    assert error_of(exc) == (304, "304")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="dir/a b+c.txt", IfMatch='"0000"')
    assert error_of(exc) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="dir/a b+c.txt", IfMatch=etag)["Body"].read() == data
    # delete, and deleting what is gone is still a success
    assert s3.delete_object(Bucket=bucket, Key="dir/a b+c.txt")[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="dir/a b+c.txt")[
        "ResponseMetadata"]["HTTPStatusCode"] == 204


def test_object_errors(once: BaseClient, bucket: str, demo_swift: SwiftUser) -> None:
    with pytest.raises(ClientError) as exc:
        once.get_object(Bucket=bucket, Key="missing")
    assert error_of(exc) == (404, "NoSuchKey")
    assert exc.value.response["Error"]["Key"] == "missing"
    with pytest.raises(ClientError) as exc:
        once.get_object(Bucket="no-such-bucket-here", Key="missing")
    assert error_of(exc) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as exc:
        once.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert error_of(exc) == (404, "NoSuchBucket")
    once.put_object(Bucket=bucket, Key="small", Body=b"0123456789")
    with pytest.raises(ClientError) as exc:
        once.get_object(Bucket=bucket, Key="small", Range="bytes=100-200")
    assert error_of(exc) == (416, "InvalidRange")
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        once.put_object(Bucket=bucket, Key="digest", Body=b"body", ContentMD5=wrong_md5)
    assert error_of(exc) == (400, "BadDigest")
    with pytest.raises(ClientError) as exc:
        once.put_object(Bucket=bucket, Key="digest", Body=b"body", ContentMD5="notmd5")
    assert error_of(exc) == (400, "InvalidDigest")
    assert "digest" not in demo_swift.names(bucket)
    good_md5 = base64.b64encode(hashlib.md5(b"body").digest()).decode()
    assert once.put_object(Bucket=bucket, Key="digest", Body=b"body", ContentMD5=good_md5)[
        "ETag"] == f'"{hashlib.md5(b"body").hexdigest()}"'


def test_s3_and_swift_see_the_same_objects(s3: BaseClient, bucket: str,
                                           demo_swift: SwiftUser) -> None:
    s3.put_object(Bucket=bucket, Key="from-s3", Body=b"s3 data", ContentType="text/x-s3",
                  Metadata={"origin": "s3"})
    r = demo_swift.request("GET", f"/{bucket}/from-s3")
    assert r.status_code == 200 and r.content == b"s3 data"
    assert r.headers["X-Object-Meta-Origin"] == "s3"
    assert r.headers["Content-Type"] == "text/x-s3"
    assert r.headers["ETag"] == hashlib.md5(b"s3 data").hexdigest()
    r = demo_swift.request("PUT", f"/{bucket}/from%20swift", data=b"swift data",
                           headers={"X-Object-Meta-Origin": "swift",
                                    "Content-Type": "text/x-swift"})
    assert r.status_code == 201, r.text
    got = s3.get_object(Bucket=bucket, Key="from swift")
    assert got["Body"].read() == b"swift data"
    assert (got["Metadata"], got["ContentType"]) == ({"origin": "swift"}, "text/x-swift")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == \
        ["from swift", "from-s3"]
    assert sorted(demo_swift.names(bucket)) == ["from swift", "from-s3"]


def test_copy_object(s3: BaseClient, once: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/a",
                  Metadata={"m": "1"})
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    assert isinstance(r["CopyObjectResult"]["LastModified"], datetime.datetime)
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert (got["Body"].read(), got["Metadata"], got["ContentType"]) == \
        (b"copy me", {"m": "1"}, "text/a")
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src",
                   MetadataDirective="REPLACE", Metadata={"n": "2"}, ContentType="text/b")
    got = s3.head_object(Bucket=bucket, Key="dst2")
    assert (got["Metadata"], got["ContentType"]) == ({"n": "2"}, "text/b")
    with pytest.raises(ClientError) as exc:
        once.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert error_of(exc) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as exc:
        once.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/nothing")
    assert error_of(exc) == (404, "NoSuchKey")


def test_delete_objects(s3: BaseClient, bucket: str, strata_swift: StrataInstance,
                        ec2: Ec2Credential) -> None:
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a"}, {"Key": "b"}, {"Key": "never-was"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["a", "b", "never-was"]
    assert "Errors" not in r
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in r and "Errors" not in r
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # malformed XML: 400 MalformedXML (signed by hand with botocore's signer)
    body = b"<Delete><Object><Key>x</Key></Object>"
    r2 = signed_request(strata_swift, ec2, "POST", f"/{bucket}?delete", body)
    assert r2.status_code == 400
    assert_s3_error(r2, "MalformedXML", f"/{bucket}")


# -- listings ---------------------------------------------------------------------------

def test_listings(s3: BaseClient, bucket: str) -> None:
    keys = ["a/1", "a/2", "b/1", "c", "d e", "f%g"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    v1 = s3.list_objects(Bucket=bucket)
    assert [o["Key"] for o in v1["Contents"]] == keys
    assert v1["Contents"][0]["Owner"]["ID"] and v1["Contents"][0]["Size"] == 1
    assert v1["Contents"][0]["StorageClass"] == "STANDARD"
    v1 = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert ([o["Key"] for o in v1.get("Contents", [])],
            [p["Prefix"] for p in v1["CommonPrefixes"]]) == ([], ["a/", "b/"])
    assert v1["IsTruncated"] and v1["NextMarker"] == "b/"
    v1 = s3.list_objects(Bucket=bucket, Delimiter="/", Marker="b/")
    assert [o["Key"] for o in v1["Contents"]] == ["c", "d e", "f%g"]
    assert not v1["IsTruncated"]
    v1 = s3.list_objects(Bucket=bucket, Prefix="a/", Marker="a/1")
    assert [o["Key"] for o in v1["Contents"]] == ["a/2"]
    # v2: pages of 2 through the paginator, continuation tokens and all
    pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}))
    assert [[o["Key"] for o in p["Contents"]] for p in pages] == \
        [["a/1", "a/2"], ["b/1", "c"], ["d e", "f%g"]]
    assert [p["KeyCount"] for p in pages] == [2, 2, 2]
    assert pages[0]["IsTruncated"] and not pages[2]["IsTruncated"]
    pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}))
    assert [([o["Key"] for o in p.get("Contents", [])],
             [c["Prefix"] for c in p.get("CommonPrefixes", [])]) for p in pages] == \
        [([], ["a/"]), ([], ["b/"]), (["c"], []), (["d e"], []), (["f%g"], [])]
    v2 = s3.list_objects_v2(Bucket=bucket, StartAfter="c", Prefix="")
    assert [o["Key"] for o in v2["Contents"]] == ["d e", "f%g"]
    assert v2["StartAfter"] == "c" and "Owner" not in v2["Contents"][0]
    v2 = s3.list_objects_v2(Bucket=bucket, FetchOwner=True, MaxKeys=1)
    assert "Owner" in v2["Contents"][0]
    v2 = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert v2["KeyCount"] == 0 and not v2["IsTruncated"] and "Contents" not in v2
    # encoding-type=url: boto3 decodes only when it asked by itself (the default)
    v2 = s3.list_objects_v2(Bucket=bucket, Prefix="d", EncodingType="url")
    assert [o["Key"] for o in v2["Contents"]] == ["d%20e"]


def test_listing_raw_encoding(strata_swift: StrataInstance, ec2: Ec2Credential,
                              s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="x y/z", Body=b"1")
    r = signed_request(strata_swift, ec2, "GET",
                       f"/{bucket}?list-type=2&encoding-type=url&delimiter=%2F")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/xml"
    doc = ET.fromstring(r.content)
    assert doc.findtext(f"{NS}EncodingType") == "url"
    assert doc.findtext(f"{NS}CommonPrefixes/{NS}Prefix") == "x%20y/"
    r = signed_request(strata_swift, ec2, "GET", f"/{bucket}?max-keys=x")
    assert_s3_error(r, "InvalidArgument", f"/{bucket}", 400)


# -- authentication ---------------------------------------------------------------------

def signed_request(strata: StrataInstance, ec2: Ec2Credential, method: str, path: str,
                   body: bytes = b"", secret: str | None = None) -> requests.Response:
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    url = strata.proxy_url + path
    req = AWSRequest(method=method, url=url, data=body, headers={
        "x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    botocore.auth.S3SigV4Auth(Credentials(ec2.access, secret or ec2.secret), "s3",
                              "RegionOne").add_auth(req)
    return requests.request(method, url, headers=dict(req.headers.items()), data=body,
                            timeout=30)


def assert_s3_error(r: requests.Response, code: str, resource: str,
                    status: int | None = None) -> ET.Element:
    if status is not None:
        assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/xml"
    txn = r.headers["x-amz-request-id"]
    assert TXN_RE.fullmatch(txn)
    doc = ET.fromstring(r.content)
    assert doc.tag == "Error"
    assert doc.findtext("Code") == code, r.text
    assert doc.findtext("Resource") == resource
    assert doc.findtext("RequestId") == txn
    assert doc.findtext("Message")
    return doc


def test_wrong_secret_and_unknown_key(strata_swift: StrataInstance, ec2: Ec2Credential,
                                      demo_swift: SwiftUser) -> None:
    bad = client(strata_swift, ec2.access, "0" * 32, retries={"total_max_attempts": 1})
    with pytest.raises(ClientError) as exc:
        bad.list_buckets()
    assert error_of(exc) == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as exc:
        bad.create_bucket(Bucket="never-made")
    assert error_of(exc) == (403, "SignatureDoesNotMatch")
    assert "never-made" not in demo_swift.containers()
    unknown = client(strata_swift, "f" * 32, ec2.secret, retries={"total_max_attempts": 1})
    with pytest.raises(ClientError) as exc:
        unknown.list_buckets()
    assert error_of(exc) == (403, "InvalidAccessKeyId")
    r = signed_request(strata_swift, ec2, "GET", "/", secret="1" * 32)
    doc = assert_s3_error(r, "SignatureDoesNotMatch", "/", 403)
    assert doc.findtext("AWSAccessKeyId") == ec2.access
    assert doc.findtext("StringToSign", "").startswith("AWS4-HMAC-SHA256\n")


def test_skewed_time(strata_swift: StrataInstance, ec2: Ec2Credential,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    skewed = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: skewed)
    s3 = client(strata_swift, ec2.access, ec2.secret, retries={"total_max_attempts": 1})
    with pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert error_of(exc) == (403, "RequestTimeTooSkewed")
    skewed = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_payload_hash_is_checked(strata_swift: StrataInstance, ec2: Ec2Credential,
                                 bucket: str, demo_swift: SwiftUser) -> None:
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    url = f"{strata_swift.proxy_url}/{bucket}/hashed"
    req = AWSRequest(method="PUT", url=url, data=b"declared", headers={
        "x-amz-content-sha256": hashlib.sha256(b"declared").hexdigest()})
    botocore.auth.S3SigV4Auth(Credentials(ec2.access, ec2.secret), "s3",
                              "RegionOne").add_auth(req)
    r = requests.put(url, headers=dict(req.headers.items()), data=b"tampered", timeout=30)
    assert_s3_error(r, "XAmzContentSHA256Mismatch", f"/{bucket}/hashed", 400)
    assert "hashed" not in demo_swift.names(bucket)
    r = requests.put(url, headers=dict(req.headers.items()), data=b"declared", timeout=30)
    assert r.status_code == 200, r.text


def test_presigned_urls(s3: BaseClient, bucket: str, strata_swift: StrataInstance,
                        ec2: Ec2Credential) -> None:
    s3.put_object(Bucket=bucket, Key="shared", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared"},
                                    ExpiresIn=60)
    assert "X-Amz-Signature=" in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == b"presigned body"
    assert TXN_RE.fullmatch(r.headers["x-amz-request-id"])
    tampered = re.sub(r"X-Amz-Signature=[0-9a-f]+", "X-Amz-Signature=" + "0" * 64, url)
    assert_s3_error(requests.get(tampered, timeout=30), "SignatureDoesNotMatch",
                    f"/{bucket}/shared", 403)
    expired = re.sub(r"X-Amz-Date=\d{8}T\d{6}Z", "X-Amz-Date=20200101T000000Z", url)
    assert_s3_error(requests.get(expired, timeout=30), "AccessDenied", f"/{bucket}/shared",
                    403)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"})
    assert requests.put(put_url, data=b"uploaded", timeout=30).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"


def test_sigv2_clients(strata_swift: StrataInstance, ec2: Ec2Credential, bucket: str) -> None:
    v2 = client(strata_swift, ec2.access, ec2.secret, signature_version="s3")
    v2.put_object(Bucket=bucket, Key="v2 key", Body=b"v2", Metadata={"a": "b"})
    got = v2.get_object(Bucket=bucket, Key="v2 key")
    assert got["Body"].read() == b"v2" and got["Metadata"] == {"a": "b"}
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2 key"})
    assert "AWSAccessKeyId=" in url
    assert requests.get(url, timeout=30).content == b"v2"
    bad = client(strata_swift, ec2.access, "0" * 32, signature_version="s3",
                 retries={"total_max_attempts": 1})
    with pytest.raises(ClientError) as exc:
        bad.get_object(Bucket=bucket, Key="v2 key")
    assert error_of(exc) == (403, "SignatureDoesNotMatch")


def test_anonymous_and_unsupported(strata_swift: StrataInstance, s3: BaseClient,
                                   bucket: str) -> None:
    r = requests.get(f"{strata_swift.proxy_url}/{bucket}", timeout=30)
    assert_s3_error(r, "AccessDenied", f"/{bucket}", 403)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_of(exc) == (501, "NotImplemented")
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_of(exc) == (404, "NoSuchBucketPolicy")
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy="{}")
    assert error_of(exc) == (400, "MalformedPolicy")
    # the Swift API and the other routes are untouched
    assert requests.get(strata_swift.proxy_url + "/info", timeout=30).status_code == 200
    assert requests.get(strata_swift.proxy_url + "/healthcheck", timeout=30).status_code == 200
