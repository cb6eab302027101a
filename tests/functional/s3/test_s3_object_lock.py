"""S3 Object Lock with boto3 against a real Strata: a locked version survives S3
deletes (bypass headers too), Swift-API deletes and the admin, until its retention
ends or its legal hold is lifted; bad lock input is refused with nothing changed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.functional.s3.test_s3_acl_tagging import error_of
from tests.functional.s3.test_s3_acl_tagging import s3 as s3
from tests.functional.swift.conftest import SwiftUser
from tests.functional.swift.conftest import admin as admin


@pytest.fixture
def locked_bucket(s3: BaseClient) -> Iterator[str]:
    b = f"lock-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    yield b  # (locked versions outlive the test: the bucket stays, as in S3)


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_lock_enabled_bucket_and_its_configuration(s3: BaseClient,
                                                   locked_bucket: str) -> None:
    b = locked_bucket
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    cfg = s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]
    assert cfg == {"ObjectLockEnabled": "Enabled"}
    with pytest.raises(ClientError) as exc:  # versioning stays on
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    assert error_of(exc) == (409, "InvalidBucketState")
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    cfg = s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]
    assert cfg["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
    vid = s3.put_object(Bucket=b, Key="dflt", Body=b"d")["VersionId"]
    head = s3.head_object(Bucket=b, Key="dflt")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] > later(23 * 3600)
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=b, Key="dflt", VersionId=vid)
    assert error_of(exc) == (403, "AccessDenied")
    # GOVERNANCE: the owner may override it, saying so
    s3.delete_object(Bucket=b, Key="dflt", VersionId=vid, BypassGovernanceRetention=True)
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}})
    assert error_of(exc)[0] == 400
    assert s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"][
        "Rule"]["DefaultRetention"]["Days"] == 1


def test_object_lock_needs_a_lock_enabled_bucket(s3: BaseClient) -> None:
    b = f"nolock-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=b)
    try:
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=b, Key="k", Body=b"v", ObjectLockMode="GOVERNANCE",
                          ObjectLockRetainUntilDate=later(60))
        assert error_of(exc) == (400, "InvalidRequest")
        with pytest.raises(ClientError) as exc:
            s3.get_object_lock_configuration(Bucket=b)
        assert error_of(exc) == (404, "ObjectLockConfigurationNotFoundError")
        with pytest.raises(ClientError) as exc:  # versioning is not enabled
            s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled"})
        assert error_of(exc) == (409, "InvalidBucketState")
        with pytest.raises(ClientError):
            s3.head_object(Bucket=b, Key="k")
    finally:
        s3.delete_bucket(Bucket=b)


def test_compliance_version_survives_every_delete(s3: BaseClient, locked_bucket: str,
                                                  demo_swift: SwiftUser,
                                                  admin: SwiftUser) -> None:
    b = locked_bucket
    until = later(15)
    vid = s3.put_object(Bucket=b, Key="doc", Body=b"keep me", ObjectLockMode="COMPLIANCE",
                        ObjectLockRetainUntilDate=until)["VersionId"]
    got = s3.get_object_retention(Bucket=b, Key="doc", VersionId=vid)["Retention"]
    assert got["Mode"] == "COMPLIANCE"
    assert abs((got["RetainUntilDate"] - until).total_seconds()) < 1
    for kw in ({}, {"BypassGovernanceRetention": True}):
        with pytest.raises(ClientError) as exc:
            s3.delete_object(Bucket=b, Key="doc", VersionId=vid, **kw)
        assert error_of(exc) == (403, "AccessDenied")
    r = s3.delete_objects(Bucket=b, BypassGovernanceRetention=True, Delete={
        "Objects": [{"Key": "doc", "VersionId": vid}]})
    assert [e["Code"] for e in r.get("Errors", [])] == ["AccessDenied"]
    # no shortening, no switch to GOVERNANCE
    for mode, when in (("COMPLIANCE", later(5)), ("GOVERNANCE", later(60))):
        with pytest.raises(ClientError) as exc:
            s3.put_object_retention(Bucket=b, Key="doc", VersionId=vid,
                                    BypassGovernanceRetention=True,
                                    Retention={"Mode": mode, "RetainUntilDate": when})
        assert error_of(exc) == (403, "AccessDenied")
    # a plain DELETE only puts a delete marker on top: the version stays
    s3.delete_object(Bucket=b, Key="doc")
    assert s3.get_object(Bucket=b, Key="doc", VersionId=vid)["Body"].read() == b"keep me"
    # underneath, the version is an object of the bucket's archive container: the Swift
    # API, as the project's user and as the admin, may not delete it either
    archive = b + "+versions"
    names = demo_swift.names(archive)
    refused = 0
    for n in names:
        path = f"/{quote(archive)}/{quote(n)}"
        got = demo_swift.request("HEAD", path)
        if got.headers.get("Content-Type", "").startswith("application/x-"):
            continue  # a delete marker or an alias, not the version's data
        assert demo_swift.request("DELETE", path).status_code == 403
        r = requests.delete(demo_swift.url + path, headers={"X-Auth-Token": admin.token},
                            timeout=30)
        assert r.status_code == 403, r.text
        refused += 1
    assert refused == 1, names
    assert s3.get_object(Bucket=b, Key="doc", VersionId=vid)["Body"].read() == b"keep me"
    # once the retention is over the version may go
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1)
    s3.delete_object(Bucket=b, Key="doc", VersionId=vid)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=b, Key="doc", VersionId=vid)


def test_legal_hold_blocks_deletion_until_lifted(s3: BaseClient, locked_bucket: str,
                                                 demo_swift: SwiftUser) -> None:
    b = locked_bucket
    vid = s3.put_object(Bucket=b, Key="held", Body=b"h")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object_legal_hold(Bucket=b, Key="held", VersionId=vid)
    assert error_of(exc) == (404, "NoSuchObjectLockConfiguration")
    s3.put_object_legal_hold(Bucket=b, Key="held", VersionId=vid, LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=b, Key="held",
                                    VersionId=vid)["LegalHold"]["Status"] == "ON"
    assert s3.head_object(Bucket=b, Key="held")["ObjectLockLegalHoldStatus"] == "ON"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=b, Key="held", VersionId=vid, BypassGovernanceRetention=True)
    assert error_of(exc) == (403, "AccessDenied")
    # over Swift the current object is moved to the archive, not removed: it stays
    demo_swift.request("DELETE", f"/{quote(b)}/held")
    assert s3.get_object(Bucket=b, Key="held", VersionId=vid)["Body"].read() == b"h"
    s3.put_object_legal_hold(Bucket=b, Key="held", VersionId=vid, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=b, Key="held", VersionId=vid)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=b, Key="held", VersionId=vid)


def test_bad_lock_input_changes_nothing(s3: BaseClient, locked_bucket: str) -> None:
    b = locked_bucket
    vid = s3.put_object(Bucket=b, Key="k", Body=b"v")["VersionId"]
    past = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(Bucket=b, Key="k", VersionId=vid,
                                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": past})
    assert error_of(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=b, Key="k2", Body=b"v", ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=past)
    assert error_of(exc) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(Bucket=b, Key="k", VersionId=vid,
                                Retention={"Mode": "FOREVER", "RetainUntilDate": later(60)})
    assert error_of(exc)[0] == 400
    with pytest.raises(ClientError) as exc:
        s3.put_object_legal_hold(Bucket=b, Key="k", VersionId=vid,
                                 LegalHold={"Status": "MAYBE"})
    assert error_of(exc)[0] == 400
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket=b, Key="k", VersionId=vid)
    assert error_of(exc) == (404, "NoSuchObjectLockConfiguration")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=b, Key="k2")
    s3.delete_object(Bucket=b, Key="k", VersionId=vid)  # nothing locked it


def test_multipart_object_parts_are_locked_with_it(s3: BaseClient, locked_bucket: str,
                                                   demo_swift: SwiftUser) -> None:
    b, seg = locked_bucket, locked_bucket + "+segments"
    up = s3.create_multipart_upload(Bucket=b, Key="big", ObjectLockMode="GOVERNANCE",
                                    ObjectLockRetainUntilDate=later(3600))["UploadId"]
    etag = s3.upload_part(Bucket=b, Key="big", UploadId=up, PartNumber=1,
                          Body=b"p" * 1024)["ETag"]
    vid = s3.complete_multipart_upload(Bucket=b, Key="big", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag}]})["VersionId"]
    assert s3.head_object(Bucket=b, Key="big")["ObjectLockMode"] == "GOVERNANCE"
    parts = [n for n in demo_swift.names(seg) if n.startswith(f"big/{up}/")]
    assert parts

    def part_deletes() -> set[int]:
        return {demo_swift.request("DELETE", f"/{quote(seg)}/{quote(n)}").status_code
                for n in parts}

    assert part_deletes() == {403}  # the parts cannot go while the object must stay
    # the retention goes (the owner bypasses GOVERNANCE), a legal hold comes: the
    # parts follow the object
    s3.put_object_legal_hold(Bucket=b, Key="big", VersionId=vid, LegalHold={"Status": "ON"})
    s3.put_object_retention(Bucket=b, Key="big", VersionId=vid, BypassGovernanceRetention=True,
                            Retention={})
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket=b, Key="big", VersionId=vid)
    assert error_of(exc) == (404, "NoSuchObjectLockConfiguration")
    assert part_deletes() == {403}
    assert s3.get_object(Bucket=b, Key="big", VersionId=vid)["Body"].read() == b"p" * 1024
    s3.put_object_legal_hold(Bucket=b, Key="big", VersionId=vid, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=b, Key="big", VersionId=vid)
    assert part_deletes() == {204}  # nothing holds them any more (a versioned bucket's
    # delete keeps a large object's parts: removed here by hand)
