"""GetObject and HeadObject of one part (``?partNumber=N``) with the real boto3 and
the ``aws`` CLI, against a Strata whose SLO manifests hold at most two segments, so
that a three-part upload is stored as sub-manifests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.s3.test_s3_boto3 import client, error_of
from tests.functional.swift.conftest import StrataInstance, SwiftUser, strata_instance

MiB = 1 << 20


@pytest.fixture(scope="module")
def strata_swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataInstance]:
    with strata_instance(tmp_path_factory, "strata-s3-parts",
                         STRATA_PROXY_SLO_MAX_MANIFEST_SEGMENTS="2") as instance:
        yield instance


@pytest.fixture(scope="module")
def s3(strata_swift: StrataInstance, ec2: Ec2Credential) -> BaseClient:
    return client(strata_swift, ec2.access, ec2.secret, retries={"total_max_attempts": 1})


@pytest.fixture(scope="module")
def uploaded(s3: BaseClient, demo_swift: SwiftUser) -> Iterator[tuple[str, list[bytes]]]:
    """A bucket with ``multi`` (parts 1, 2 and 4: part numbers need not be
    contiguous), ``plain`` (one PUT) and ``empty``; the bodies of multi's parts."""
    bucket = "parts-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=bucket)
    bodies = [os.urandom(5 * MiB), os.urandom(5 * MiB + 17), b"the last part"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
    done = []
    for number, body in zip((1, 2, 4), bodies, strict=True):
        r = s3.upload_part(Bucket=bucket, Key="multi", UploadId=uid, PartNumber=number,
                           Body=body)
        done.append({"PartNumber": number, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=uid,
                                 MultipartUpload={"Parts": done})
    s3.put_object(Bucket=bucket, Key="plain", Body=b"one piece")
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    yield bucket, bodies
    for key in ("multi", "plain", "empty"):
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)
    demo_swift.request("DELETE", f"/{bucket}+segments")


def test_each_part_of_a_multipart_object(s3: BaseClient, demo_swift: SwiftUser,
                                         uploaded: tuple[str, list[bytes]]) -> None:
    bucket, bodies = uploaded
    # stored as sub-manifests (two segments each at most)
    r = demo_swift.request("GET", f"/{bucket}+segments", params={"format": "json"})
    assert sum(1 for row in r.json() if row["name"].rsplit("/", 1)[-1] == "m1") == 1
    whole_etag = s3.head_object(Bucket=bucket, Key="multi")["ETag"]
    total = sum(map(len, bodies))
    offset = 0
    for number, body in zip((1, 2, 4), bodies, strict=True):
        got = s3.get_object(Bucket=bucket, Key="multi", PartNumber=number)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["Body"].read() == body
        assert got["ContentLength"] == len(body) and got["PartsCount"] == 3
        assert got["ContentRange"] == f"bytes {offset}-{offset + len(body) - 1}/{total}"
        assert got["ETag"] == whole_etag  # the object's, not the part's
        head = s3.head_object(Bucket=bucket, Key="multi", PartNumber=number)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert head["ContentLength"] == len(body) and head["PartsCount"] == 3
        offset += len(body)


def test_part_errors(s3: BaseClient, uploaded: tuple[str, list[bytes]]) -> None:
    bucket, _ = uploaded
    for number in (3, 5):  # not among the parts, or past them
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket=bucket, Key="multi", PartNumber=number)
        assert error_of(exc) == (416, "InvalidPartNumber")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="multi", PartNumber=10001)
    assert error_of(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="multi", PartNumber=1, Range="bytes=0-9")
    assert error_of(exc) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="missing", PartNumber=1)
    assert error_of(exc) == (404, "NoSuchKey")


def test_an_object_not_uploaded_in_parts_is_its_own_part_1(
        s3: BaseClient, uploaded: tuple[str, list[bytes]]) -> None:
    bucket, _ = uploaded
    got = s3.get_object(Bucket=bucket, Key="plain", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == b"one piece" and got["ContentRange"] == "bytes 0-8/9"
    assert "PartsCount" not in got
    head = s3.head_object(Bucket=bucket, Key="plain", PartNumber=1)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206 and head["ContentLength"] == 9
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="plain", PartNumber=2)
    assert error_of(exc) == (416, "InvalidPartNumber")
    got = s3.get_object(Bucket=bucket, Key="empty", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200 and got["Body"].read() == b""


def test_aws_cli_reads_one_part(strata_swift: StrataInstance, ec2: Ec2Credential,
                                uploaded: tuple[str, list[bytes]], tmp_path: Path) -> None:
    bucket, bodies = uploaded
    out = tmp_path / "part2"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ec2.access, "AWS_SECRET_ACCESS_KEY": ec2.secret,
           "AWS_DEFAULT_REGION": "RegionOne", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    r = subprocess.run(["aws", "--endpoint-url", strata_swift.proxy_url, "s3api", "get-object",
                        "--bucket", bucket, "--key", "multi", "--part-number", "2", str(out)],
                       env=env, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(bodies[1]).digest()
    assert '"PartsCount": 3' in r.stdout
