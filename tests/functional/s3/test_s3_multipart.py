"""S3 multipart uploads with the real boto3 against a real Strata: every operation,
its errors, and the finished object as both S3 and Swift see it."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.s3.test_s3_boto3 import client, error_of
from tests.functional.swift.conftest import StrataInstance, SwiftUser

MiB = 1 << 20


@pytest.fixture(scope="module")
def s3(strata_swift: StrataInstance, ec2: Ec2Credential) -> BaseClient:
    """No retries: the first answer is the one checked."""
    return client(strata_swift, ec2.access, ec2.secret, retries={"total_max_attempts": 1})


@pytest.fixture
def bucket(s3: BaseClient, demo_swift: SwiftUser) -> Iterator[str]:
    name = "mpu-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=name):
        for up in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=name)
    demo_swift.request("DELETE", f"/{name}+segments")


def s3_etag(*parts: bytes) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def segments(sw: SwiftUser, bucket: str, prefix: str = "") -> list[str]:
    r = sw.request("GET", f"/{bucket}+segments", params={"format": "json", "prefix": prefix})
    if r.status_code == 404:
        return []
    assert r.status_code in (200, 204), r.text
    return [row["name"] for row in r.json()] if r.status_code == 200 else []


def upload_parts(s3: BaseClient, bucket: str, key: str, upload_id: str,
                 bodies: list[bytes]) -> list[dict[str, Any]]:
    done = []
    for i, body in enumerate(bodies, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=i, Body=body)
        assert r["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    return done


def test_upload_and_read_back(s3: BaseClient, bucket: str, demo_swift: SwiftUser) -> None:
    key = "dir/big object.bin"
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="image/png",
                                    Metadata={"color": "blue"})
    assert up["Bucket"] == bucket and up["Key"] == key
    uid = up["UploadId"]
    # nothing at the key until it is complete; the upload is listed
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert error_of(exc)[0] == 404
    assert [(u["Key"], u["UploadId"]) for u in
            s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [(key, uid)]
    bodies = [os.urandom(5 * MiB), os.urandom(5 * MiB + 17), b"tail bytes"]
    parts = upload_parts(s3, bucket, key, uid, bodies)
    # a part uploaded again replaces the first one
    bodies[1] = os.urandom(5 * MiB + 3)
    parts[1] = upload_parts(s3, bucket, key, uid, [bodies[0], bodies[1]])[1]
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == [
        (i, parts[i - 1]["ETag"], len(b)) for i, b in enumerate(bodies, 1)]
    assert listed["IsTruncated"] is False

    r = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": parts})
    whole = b"".join(bodies)
    etag = s3_etag(*bodies)
    assert r["ETag"] == etag and r["Key"] == key and r["Bucket"] == bucket
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ETag"] == etag and head["ContentLength"] == len(whole)
    assert head["ContentType"] == "image/png" and head["Metadata"] == {"color": "blue"}
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["ETag"] == etag and got["Body"].read() == whole
    ranged = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={5 * MiB - 2}-{5 * MiB + 1}")
    assert ranged["Body"].read() == whole[5 * MiB - 2:5 * MiB + 2]
    # conditionals are about the S3 ETag
    assert s3.get_object(Bucket=bucket, Key=key, IfMatch=etag)["ETag"] == etag
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key=key, IfNoneMatch=etag)
    assert error_of(exc)[0] == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key=key, IfMatch='"0123-3"')
    assert error_of(exc) == (412, "PreconditionFailed")
    # listings show the S3 ETag and the whole size; the upload is gone
    (entry,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert (entry["Key"], entry["ETag"], entry["Size"]) == (key, etag, len(whole))
    assert s3.list_objects(Bucket=bucket)["Contents"][0]["ETag"] == etag
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    # the same object over Swift: a large object made of the parts
    r = demo_swift.request("GET", f"/{bucket}/dir/big%20object.bin")
    assert r.status_code == 200 and r.content == whole
    assert r.headers["X-Static-Large-Object"].lower() == "true"
    rows = demo_swift.request("GET", f"/{bucket}", params={"format": "json"}).json()
    assert [(o["name"], o["hash"], o["bytes"]) for o in rows] == [
        (key, etag.strip('"'), len(whole))]
    assert segments(demo_swift, bucket) == [f"{key}/{uid}/{n}" for n in (1, 2, 3)]
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert bucket in names and bucket + "+segments" not in names
    # a retried Complete answers the same; deleting the object deletes its parts
    again = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                         MultipartUpload={"Parts": parts})
    assert again["ETag"] == etag
    s3.delete_object(Bucket=bucket, Key=key)
    assert segments(demo_swift, bucket) == []
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert error_of(exc)[0] == 404


def test_complete_errors(s3: BaseClient, bucket: str, demo_swift: SwiftUser) -> None:
    key = "k"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    small = upload_parts(s3, bucket, key, uid, [b"a" * 1000, b"b" * 1000])

    def complete(parts: list[dict[str, Any]]) -> tuple[int, str]:
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                         MultipartUpload={"Parts": parts})
        return error_of(exc)

    assert complete(small) == (400, "EntityTooSmall")
    assert complete([small[0], {"PartNumber": 2, "ETag": '"' + "0" * 32 + '"'}]) == \
        (400, "InvalidPart")
    assert complete([{"PartNumber": 3, "ETag": small[0]["ETag"]}]) == (400, "InvalidPart")
    assert complete([small[1], small[0]]) == (400, "InvalidPartOrder")
    assert complete([small[0], small[0]]) == (400, "InvalidPartOrder")

    def malformed(request: Any, **kw: Any) -> None:
        request.data = b"<CompleteMultipartUpload><Part><PartNumber>1</Part>"
        for name in [h for h in request.headers.keys()
                     if h.lower() == "content-md5" or h.lower().startswith("x-amz-checksum-")]:
            del request.headers[name]
    s3.meta.events.register("before-sign.s3.CompleteMultipartUpload", malformed)
    try:
        assert complete(small[:1]) == (400, "MalformedXML")
    finally:
        s3.meta.events.unregister("before-sign.s3.CompleteMultipartUpload", malformed)
    # none of that stored anything: the upload is still pending with its parts
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert error_of(exc)[0] == 404
    assert len(s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)["Parts"]) == 2
    # a single small part is fine (the last part may be small)
    r = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": small[:1]})
    assert r["ETag"] == s3_etag(b"a" * 1000)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"a" * 1000
    # the part left out is deleted with the upload's marker
    assert segments(demo_swift, bucket) == [f"{key}/{uid}/1"]


def test_unknown_upload_and_abort(s3: BaseClient, bucket: str,
                                  demo_swift: SwiftUser) -> None:
    bogus = "0123456789abcdef-0123456789abcdef"
    for bad in (bogus, "not-an-id", "../../x"):
        with pytest.raises(ClientError) as exc:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=bad, PartNumber=1, Body=b"x")
        assert error_of(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=bogus)
    assert error_of(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=bogus)
    assert error_of(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket="no-such-bucket-mpu", Key="k")
    assert error_of(exc) == (404, "NoSuchBucket")

    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=10001, Body=b"x")
    assert error_of(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:  # the upload id belongs to another key
        s3.upload_part(Bucket=bucket, Key="other", UploadId=uid, PartNumber=1, Body=b"x")
    assert error_of(exc) == (404, "NoSuchUpload")
    parts = upload_parts(s3, bucket, "k", uid, [b"x" * 10, b"y" * 10])
    assert len(segments(demo_swift, bucket, "k/")) == 3  # marker and two parts
    r = s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert segments(demo_swift, bucket, "k/") == []
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": parts})
    assert error_of(exc) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=3, Body=b"x")
    assert error_of(exc) == (404, "NoSuchUpload")
    assert segments(demo_swift, bucket, "k/") == []
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k")
    assert error_of(exc)[0] == 404


def test_list_pagination(s3: BaseClient, bucket: str) -> None:
    keys = ["a", "a", "b/1", "b/2", "c"]
    made = [(k, s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]) for k in keys]
    seen: list[tuple[str, str]] = []
    pages = 0
    for page in s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}):
        pages += 1
        assert page["MaxUploads"] == 2 and len(page.get("Uploads", [])) <= 2
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
    assert seen == made and pages == 3  # by key, then in the order they began
    r = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in r["Uploads"]] == ["a", "a", "c"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/"]
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="b/")
    assert [u["Key"] for u in r["Uploads"]] == ["b/1", "b/2"]
    r = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="a")
    assert [u["Key"] for u in r["Uploads"]] == ["b/1", "b/2", "c"]
    r = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="a", UploadIdMarker=made[0][1])
    assert [(u["Key"], u["UploadId"]) for u in r["Uploads"]] == made[1:]

    key, uid = made[-1]
    numbers = [1, 2, 3, 10, 11]
    for n in numbers:
        s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=b"p%d" % n)
    listed: list[int] = []
    for page in s3.get_paginator("list_parts").paginate(
            Bucket=bucket, Key=key, UploadId=uid, PaginationConfig={"PageSize": 2}):
        assert len(page["Parts"]) <= 2
        listed += [p["PartNumber"] for p in page["Parts"]]
    assert listed == numbers
    r = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, PartNumberMarker=3, MaxParts=1)
    assert [p["PartNumber"] for p in r["Parts"]] == [10]
    assert r["IsTruncated"] is True and r["NextPartNumberMarker"] == 10


def test_upload_part_copy(s3: BaseClient, bucket: str) -> None:
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    s3.put_object(Bucket=bucket, Key="small", Body=b"small object")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    first, last = 1000, 1000 + 5 * MiB - 1
    r = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"},
                            CopySourceRange=f"bytes={first}-{last}")
    piece = source[first:last + 1]
    e1 = r["CopyPartResult"]["ETag"]
    assert e1 == f'"{hashlib.md5(piece).hexdigest()}"'
    e2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2,
                             CopySource=f"{bucket}/small")["CopyPartResult"]["ETag"]
    for bad in (f"bytes=0-{6 * MiB}", "bytes=5-1", "bits=0-1"):
        with pytest.raises(ClientError) as exc:
            s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=3,
                                CopySource=f"{bucket}/src", CopySourceRange=bad)
        assert error_of(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=3,
                            CopySource=f"{bucket}/missing")
    assert error_of(exc) == (404, "NoSuchKey")
    assert [p["PartNumber"] for p in
            s3.list_parts(Bucket=bucket, Key="dst", UploadId=uid)["Parts"]] == [1, 2]
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert r["ETag"] == s3_etag(piece, b"small object")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == piece + b"small object"
    # a plain copy of the multipart object is an ordinary object with its own MD5
    s3.copy_object(Bucket=bucket, Key="plain", CopySource=f"{bucket}/dst")
    plain_etag = f'"{hashlib.md5(piece + b"small object").hexdigest()}"'
    assert s3.head_object(Bucket=bucket, Key="plain")["ETag"] == plain_etag
    listed = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed["plain"] == plain_etag and listed["dst"] == r["ETag"]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def test_transfer_200_mib(s3: BaseClient, bucket: str, demo_swift: SwiftUser,
                          tmp_path: Path) -> None:
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    size = 200 * MiB
    with src.open("wb") as f:
        block = os.urandom(MiB)
        for i in range(200):
            f.write(hashlib.sha256(b"%d" % i).digest() + block[32:])
    s3.upload_file(str(src), bucket, "big.bin")  # default TransferConfig: 8 MiB parts
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == size and head["ETag"].endswith('-25"')
    s3.download_file(bucket, "big.bin", str(dst))
    want = sha256_of(src)
    assert sha256_of(dst) == want
    # over Swift: the same bytes, listed with the S3 ETag and the whole size
    r = demo_swift.request("GET", f"/{bucket}/big.bin", stream=True, timeout=300)
    assert r.status_code == 200
    h = hashlib.sha256()
    for chunk in r.iter_content(MiB):
        h.update(chunk)
    assert h.hexdigest() == want
    rows = demo_swift.request("GET", f"/{bucket}", params={"format": "json"}).json()
    assert [(o["name"], o["hash"], o["bytes"]) for o in rows] == [
        ("big.bin", head["ETag"].strip('"'), size)]
    assert len(segments(demo_swift, bucket)) == 25
    s3.delete_object(Bucket=bucket, Key="big.bin")
    assert segments(demo_swift, bucket) == []


def test_part_checksums(s3: BaseClient, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="sums", ChecksumAlgorithm="CRC32")
    uid = up["UploadId"]
    assert up["ChecksumAlgorithm"] == "CRC32"
    body = b"checksummed part"
    r = s3.upload_part(Bucket=bucket, Key="sums", UploadId=uid, PartNumber=1, Body=body,
                       ChecksumAlgorithm="CRC32")
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert r["ChecksumCRC32"] == crc
    wrong = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="sums", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": wrong}]})
    assert error_of(exc) == (400, "InvalidPart")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="sums", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": crc}]})
    assert done["ETag"] == s3_etag(body)
    # the object's checksum is the composite one: of the parts' checksums, "-<count>"
    composite = base64.b64encode(
        zlib.crc32(base64.b64decode(crc)).to_bytes(4, "big")).decode() + "-1"
    assert done["ChecksumCRC32"] == composite
    head = s3.head_object(Bucket=bucket, Key="sums", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == composite
    got = s3.get_object(Bucket=bucket, Key="sums", ChecksumMode="ENABLED")
    assert got["Body"].read() == body


def test_completion_honours_versioning_acl_and_tags(s3: BaseClient, bucket: str) -> None:
    """CreateMultipartUpload's ACL and tags land on the object; on a versioned bucket
    the completion is a new version, and the one it replaces is kept."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="mpu", Body=b"the first version")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpu", ACL="public-read",
                                    Tagging="team=storage&stage=test")
    body = [b"a" * (5 << 20), b"tail"]
    parts = upload_parts(s3, bucket, "mpu", up["UploadId"], body)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert done["ETag"] == s3_etag(*body)
    assert done["VersionId"] and done["VersionId"] != first["VersionId"]
    versions = s3.list_object_versions(Bucket=bucket, Prefix="mpu")["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [
        (done["VersionId"], True), (first["VersionId"], False)]
    old = s3.get_object(Bucket=bucket, Key="mpu", VersionId=first["VersionId"])
    assert old["Body"].read() == b"the first version"
    tags = s3.get_object_tagging(Bucket=bucket, Key="mpu")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("stage", "test"),
                                                            ("team", "storage")]
    grants = s3.get_object_acl(Bucket=bucket, Key="mpu")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers")
               and g["Permission"] == "READ" for g in grants)


def complete_upload(s3: BaseClient, bucket: str, key: str, bodies: list[bytes]) -> str:
    uid: str = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = upload_parts(s3, bucket, key, uid, bodies)
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                 MultipartUpload={"Parts": parts})
    return uid


def test_a_replaced_multipart_object_leaves_no_parts_behind(
        s3: BaseClient, bucket: str, demo_swift: SwiftUser) -> None:
    """Overwriting a multipart object (PutObject, another upload, CopyObject onto
    itself) deletes the replaced upload's parts; with versioning they stay, since the
    replaced object lives on as a version."""
    first = [os.urandom(5 * MiB), b"end one"]
    u1 = complete_upload(s3, bucket, "k", first)
    assert len(segments(demo_swift, bucket, f"k/{u1}/")) == 2
    s3.put_object(Bucket=bucket, Key="k", Body=b"small now")
    assert segments(demo_swift, bucket, f"k/{u1}/") == []
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"small now"

    u2 = complete_upload(s3, bucket, "k", first)
    second = [os.urandom(5 * MiB), b"end two"]
    u3 = complete_upload(s3, bucket, "k", second)
    assert segments(demo_swift, bucket, f"k/{u2}/") == []
    assert len(segments(demo_swift, bucket, f"k/{u3}/")) == 2
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"".join(second)
    # a retried Complete of the current upload keeps its parts
    again = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=u3, MultipartUpload={"Parts": [
            {"PartNumber": i, "ETag": f'"{hashlib.md5(b).hexdigest()}"'}
            for i, b in enumerate(second, 1)]})
    assert again["ETag"] == s3_etag(*second)
    assert len(segments(demo_swift, bucket, f"k/{u3}/")) == 2
    # copied onto itself (new metadata): the bytes are copied out first, then the parts go
    s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"},
                   MetadataDirective="REPLACE", Metadata={"copied": "yes"})
    assert segments(demo_swift, bucket, f"k/{u3}/") == []
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"".join(second) and got["Metadata"] == {"copied": "yes"}

    # versioning: the replaced object is a version, its parts stay
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    u4 = complete_upload(s3, bucket, "v", first)
    old = s3.head_object(Bucket=bucket, Key="v")["VersionId"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"newer")
    assert len(segments(demo_swift, bucket, f"v/{u4}/")) == 2
    got = s3.get_object(Bucket=bucket, Key="v", VersionId=old)
    assert got["Body"].read() == b"".join(first)
