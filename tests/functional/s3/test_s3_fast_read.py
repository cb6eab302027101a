"""GetObject and HeadObject by the bucket's own project: the front's one-step read
(``proxy/s3/fastread.py``) answers them, and hands every case it does not know
to the general path. Each test here stands at one of its edges and checks the
answer S3 gives there, with boto3 (which adds ``?x-id=GetObject``) and with
requests signed by botocore (none)."""

from __future__ import annotations

import datetime
import hashlib

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.s3.test_s3_boto3 import assert_s3_error, error_of, signed_request
from tests.functional.s3.test_s3_boto3 import bucket as bucket
from tests.functional.s3.test_s3_boto3 import once as once
from tests.functional.s3.test_s3_boto3 import s3 as s3
from tests.functional.swift.conftest import StrataInstance


def test_own_reads_answer_as_s3(s3: BaseClient, bucket: str, strata_swift: StrataInstance,
                                ec2: Ec2Credential) -> None:
    data = b"0123456789" * 100
    s3.put_object(Bucket=bucket, Key="k", Body=data, ContentType="text/x-fast",
                  Metadata={"colour": "blue"}, Tagging="a=1&b=2",
                  ChecksumAlgorithm="SHA256")
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ETag"] == etag and got["ContentLength"] == len(data)
    assert got["ContentType"] == "text/x-fast" and got["Metadata"] == {"colour": "blue"}
    assert got["AcceptRanges"] == "bytes" and got["TagCount"] == 2
    assert got["ChecksumSHA256"]
    assert "VersionId" not in got
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ETag"] == etag and head["ContentLength"] == len(data)
    assert head["Metadata"] == {"colour": "blue"} and "ChecksumSHA256" not in head
    part = s3.get_object(Bucket=bucket, Key="k", Range="bytes=10-19")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert part["Body"].read() == data[10:20]
    # the same read signed without boto3's query, answered the same way
    r = signed_request(strata_swift, ec2, "GET", f"/{bucket}/k")
    assert r.status_code == 200 and r.content == data
    assert r.headers["ETag"] == etag and r.headers["x-amz-meta-colour"] == "blue"
    assert r.headers["x-amz-tagging-count"] == "2" and r.headers["x-amz-request-id"]


def test_conditions_and_missing_things(s3: BaseClient, once: BaseClient, bucket: str,
                                       strata_swift: StrataInstance,
                                       ec2: Ec2Credential) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    with pytest.raises(ClientError) as exc:
        once.get_object(Bucket=bucket, Key="k", IfModifiedSince=later)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as exc:  # (the multipart ETag's check)
        once.get_object(Bucket=bucket, Key="k", IfNoneMatch=hashlib.md5(b"v").hexdigest())
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as exc:
        once.get_object(Bucket=bucket, Key="k", Range="bytes=5-9")
    assert error_of(exc) == (416, "InvalidRange")
    with pytest.raises(ClientError) as exc:
        once.get_object(Bucket=bucket, Key="nothing")
    assert error_of(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        once.head_object(Bucket=bucket, Key="nothing")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    r = signed_request(strata_swift, ec2, "GET", "/no-such-bucket-fast/k")
    assert_s3_error(r, "NoSuchBucket", "/no-such-bucket-fast/k", 404)


def test_a_cached_key_never_passes_a_wrong_signature(
        s3: BaseClient, bucket: str, strata_swift: StrataInstance, ec2: Ec2Credential) -> None:
    """The scope's signing key is cached after the first good read: a request of the
    same access key with another secret is still refused, and reads nothing."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret bytes")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret bytes"
    for method in ("GET", "HEAD"):
        r = signed_request(strata_swift, ec2, method, f"/{bucket}/k", secret="1" * 32)
        assert r.status_code == 403 and b"secret bytes" not in r.content
        if method == "GET":
            assert_s3_error(r, "SignatureDoesNotMatch", f"/{bucket}/k")
    # a payload hash that is not the empty body's, on a GET without a body: refused
    url = f"{strata_swift.proxy_url}/{bucket}/k"
    ok = signed_request(strata_swift, ec2, "GET", f"/{bucket}/k")
    assert ok.status_code == 200
    forged = dict(ok.request.headers)
    forged["x-amz-content-sha256"] = hashlib.sha256(b"other").hexdigest()
    r = requests.get(url, headers=forged, timeout=30)
    assert r.status_code == 403 and b"secret bytes" not in r.content


def test_versioned_bucket_names_the_version(s3: BaseClient, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"after")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"after" and got["VersionId"] == second["VersionId"]
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == second["VersionId"]
    assert "VersionId" not in first  # written before versioning: the null version
    for v in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        s3.delete_object(Bucket=bucket, Key="k", VersionId=v["VersionId"])
