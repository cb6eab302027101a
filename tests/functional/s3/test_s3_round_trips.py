"""The S3 front as a translation layer: an S3 operation asks the storage nodes no
more than the Swift-API operation it maps to. Counted from the nodes' own access
logs, by the transaction id the proxy gives each request (``x-amz-request-id``,
``X-Trans-Id``) and passes to every node it asks."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.swift.conftest import StrataInstance, SwiftUser


@pytest.fixture(scope="module")
def s3(strata_swift: StrataInstance, ec2: Ec2Credential) -> BaseClient:
    return boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{strata_swift.proxy_port}",
        aws_access_key_id=ec2.access, aws_secret_access_key=ec2.secret,
        region_name="RegionOne", config=Config(s3={"addressing_style": "path"},
                                               retries={"max_attempts": 1}))


def node_requests(strata: StrataInstance, txn: str) -> list[str]:
    """The storage nodes' access log lines of transaction ``txn`` (logs are written at
    most 0.2 s late: read them once they stop growing)."""
    def read() -> list[str]:
        out = []
        for log in sorted((strata.var / "log").glob("storage-*.log")):
            out += [line for line in log.read_text(errors="replace").splitlines()
                    if f"txn={txn}" in line]
        return out

    seen: list[str] = []
    for _ in range(20):
        time.sleep(0.3)
        now = read()
        if now and now == seen:
            return now
        seen = now
    return seen


def txn_of(resp: dict[str, Any]) -> str:
    return str(resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"])


def client_kinds(lines: list[str]) -> list[str]:
    """``METHOD /objects|containers|accounts`` of each line (node-to-node container
    updates included: they carry the same transaction)."""
    out = []
    for line in lines:
        method, path = line.split('"', 2)[1].split()[:2]
        out.append(f"{method} /{path.split('/')[1]}")
    return sorted(out)


def assert_puts_ask_alike(strata: StrataInstance, s3: BaseClient, swift: SwiftUser,
                          bucket: str, body: bytes) -> None:
    """An S3 PUT of a new key into ``bucket`` asks the nodes what a Swift-API PUT
    does: three object PUTs and their container updates."""
    s3.put_object(Bucket=bucket, Key="warm", Body=body)  # the bucket's HEADs cached
    put = s3.put_object(Bucket=bucket, Key="k", Body=body)
    s3_put = client_kinds(node_requests(strata, txn_of(put)))
    r = swift.request("PUT", f"/{bucket}/k2", data=body)
    assert r.status_code == 201
    swift_put = client_kinds(node_requests(strata, r.headers["X-Trans-Id"]))
    assert s3_put == swift_put, (s3_put, swift_put)
    assert s3_put.count("PUT /objects") == 3


def test_put_and_get_ask_the_nodes_what_the_swift_api_does(
        strata_swift: StrataInstance, s3: BaseClient, demo_swift: SwiftUser) -> None:
    s3.create_bucket(Bucket="trips")
    body = b"x" * 4096
    # three object PUTs and their container updates; before, every S3 PUT also
    # HEADed the bucket's missing "+segments" container on six nodes
    assert_puts_ask_alike(strata_swift, s3, demo_swift, "trips", body)
    get = s3.get_object(Bucket="trips", Key="k")
    assert get["Body"].read() == body
    s3_get = client_kinds(node_requests(strata_swift, txn_of(get)))
    r = demo_swift.request("GET", "/trips/k2")
    assert r.content == body
    assert s3_get == client_kinds(node_requests(strata_swift, r.headers["X-Trans-Id"]))


def test_a_bucket_that_had_a_multipart_upload_puts_without_a_head_first(
        strata_swift: StrataInstance, s3: BaseClient, demo_swift: SwiftUser) -> None:
    """Once a bucket has a "+segments" container, an S3 PUT still asks the nodes what
    the Swift-API PUT does: before, each one HEADed its key on six nodes first (the
    replaced object's upload id, to drop its parts), and ran at half the Swift
    API's rate. The object servers now answer that id from the PUT itself."""
    s3.create_bucket(Bucket="hadmpu")
    uid = s3.create_multipart_upload(Bucket="hadmpu", Key="big")["UploadId"]
    part = s3.upload_part(Bucket="hadmpu", Key="big", UploadId=uid, PartNumber=1,
                          Body=b"p" * 1024)
    s3.complete_multipart_upload(Bucket="hadmpu", Key="big", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    body = b"x" * 4096
    assert_puts_ask_alike(strata_swift, s3, demo_swift, "hadmpu", body)
    # over the multipart object: no HEAD first either, and its part goes after the PUT
    listed = demo_swift.request("GET", "/hadmpu+segments", params={"format": "json"})
    assert [row["name"] for row in listed.json()] == [f"big/{uid}/1"]
    over = s3.put_object(Bucket="hadmpu", Key="big", Body=body)
    calls = client_kinds(node_requests(strata_swift, txn_of(over)))
    assert "HEAD /objects" not in calls and calls.count("PUT /objects") == 3, calls
    assert "DELETE /objects" in calls, calls
    assert demo_swift.request("GET", "/hadmpu+segments").status_code == 204
    assert s3.get_object(Bucket="hadmpu", Key="big")["Body"].read() == body


def test_delete_asks_the_nodes_what_the_swift_api_does_and_large_objects_keep_none(
        strata_swift: StrataInstance, s3: BaseClient, demo_swift: SwiftUser) -> None:
    """An S3 DeleteObject of a plain object is the Swift-API DELETE (before, a HEAD
    of the key on the nodes came first, to learn whether it was a large object); a
    multipart object, or an SLO made through the Swift API, still goes with its
    segments; a missing key is still 204."""
    s3.create_bucket(Bucket="dels")
    for key in ("warm", "k"):
        s3.put_object(Bucket="dels", Key=key, Body=b"x" * 4096)
    s3.delete_object(Bucket="dels", Key="warm")  # the bucket's HEADs cached
    gone = s3.delete_object(Bucket="dels", Key="k")
    s3_calls = client_kinds(node_requests(strata_swift, txn_of(gone)))
    assert demo_swift.request("PUT", "/dels/k2", data=b"x").status_code == 201
    r = demo_swift.request("DELETE", "/dels/k2")
    assert r.status_code == 204
    swift_calls = client_kinds(node_requests(strata_swift, r.headers["X-Trans-Id"]))
    assert s3_calls == swift_calls, (s3_calls, swift_calls)
    assert "HEAD /objects" not in s3_calls
    assert demo_swift.request("HEAD", "/dels/k").status_code == 404
    # a multipart object: its parts go too
    uid = s3.create_multipart_upload(Bucket="dels", Key="big")["UploadId"]
    part = s3.upload_part(Bucket="dels", Key="big", UploadId=uid, PartNumber=1,
                          Body=b"p" * 1024)
    s3.complete_multipart_upload(Bucket="dels", Key="big", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert demo_swift.request("GET", "/dels+segments").text.split() == [f"big/{uid}/1"]
    s3.delete_object(Bucket="dels", Key="big")
    assert demo_swift.request("GET", "/dels+segments").status_code == 204
    assert demo_swift.request("HEAD", "/dels/big").status_code == 404
    # an SLO made through the Swift API, deleted through S3: its segments go too
    assert demo_swift.request("PUT", "/segs").status_code in (201, 202)
    assert demo_swift.request("PUT", "/segs/s1", data=b"a" * 10).status_code == 201
    manifest = [{"path": "/segs/s1"}]
    r = demo_swift.request("PUT", "/dels/slo", params={"multipart-manifest": "put"},
                           json=manifest)
    assert r.status_code == 201, r.text
    s3.delete_object(Bucket="dels", Key="slo")
    assert demo_swift.request("HEAD", "/dels/slo").status_code == 404
    assert demo_swift.request("HEAD", "/segs/s1").status_code == 404
    # a key that is not there: 204, as S3
    missing = s3.delete_object(Bucket="dels", Key="never")
    assert missing["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_list_object_versions_of_a_plain_bucket_is_one_listing(
        strata_swift: StrataInstance, s3: BaseClient) -> None:
    s3.create_bucket(Bucket="plainlist")
    for i in range(40):
        s3.put_object(Bucket="plainlist", Key=f"k{i:03d}", Body=b"v")
    s3.list_objects_v2(Bucket="plainlist", MaxKeys=5)  # the bucket's HEAD cached
    v2 = s3.list_objects_v2(Bucket="plainlist", MaxKeys=30)
    versions = s3.list_object_versions(Bucket="plainlist", MaxKeys=30)
    assert [v["Key"] for v in versions["Versions"]] == [o["Key"] for o in v2["Contents"]]
    assert all(v["VersionId"] == "null" and v["IsLatest"] for v in versions["Versions"])
    assert versions["IsTruncated"] and versions["NextKeyMarker"] == "k029"
    v2_calls = client_kinds(node_requests(strata_swift, txn_of(v2)))
    calls = client_kinds(node_requests(strata_swift, txn_of(versions)))
    # before: a listing of the missing archive per key, each asking six nodes
    assert calls == v2_calls == ["GET /containers"], (calls, v2_calls)
