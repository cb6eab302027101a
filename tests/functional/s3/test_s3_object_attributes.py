"""GetObjectAttributes with boto3 against a real Strata: plain, checksummed,
multipart and versioned objects, and what it refuses."""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.functional.s3.test_s3_acl_tagging import bucket as bucket
from tests.functional.s3.test_s3_acl_tagging import error_of
from tests.functional.s3.test_s3_acl_tagging import other as other
from tests.functional.s3.test_s3_acl_tagging import other_cred as other_cred
from tests.functional.s3.test_s3_acl_tagging import s3 as s3

ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def test_object_attributes(s3: BaseClient, other: BaseClient, bucket: str) -> None:
    body = b"attributes" * 100
    put = s3.put_object(Bucket=bucket, Key="plain", Body=body, ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=ALL)
    assert got["ETag"] == put["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    assert got["ObjectSize"] == len(body) and got["StorageClass"] == "STANDARD"
    assert got["Checksum"]["ChecksumSHA256"] == \
        base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert "ObjectParts" not in got and got["LastModified"]
    only = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["ObjectSize"])
    assert only["ObjectSize"] == len(body) and "ETag" not in only
    # a multipart object: its S3 ETag and its number of parts
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(
        Bucket=bucket, Key="mpu", UploadId=up, PartNumber=n,
        Body=bytes([n]) * (5 << 20 if n == 1 else 10))["ETag"]} for n in (1, 2)]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up,
                                        MultipartUpload={"Parts": parts})
    got = s3.get_object_attributes(Bucket=bucket, Key="mpu", ObjectAttributes=ALL)
    assert got["ETag"] == done["ETag"].strip('"') and got["ETag"].endswith("-2")
    assert got["ObjectParts"]["TotalPartsCount"] == 2
    assert got["ObjectSize"] == (5 << 20) + 10
    # refused: unknown attributes, missing keys, callers who may not read
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["Colour"])
    assert error_of(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="nothing", ObjectAttributes=["ETag"])
    assert error_of(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        other.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["ETag"])
    assert error_of(exc) == (403, "AccessDenied")


def test_object_attributes_of_a_version(s3: BaseClient, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"three")
    got = s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=first,
                                   ObjectAttributes=["ObjectSize", "ETag"])
    assert got["ObjectSize"] == 3 and got["VersionId"] == first
    assert got["ETag"] == hashlib.md5(b"one").hexdigest()
    assert s3.get_object_attributes(Bucket=bucket, Key="k",
                                    ObjectAttributes=["ObjectSize"])["ObjectSize"] == 5
    for v in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        s3.delete_object(Bucket=bucket, Key="k", VersionId=v["VersionId"])
