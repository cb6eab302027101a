"""Bucket policies, public access blocks, ownership controls, ACL grants in full and
conditional writes, with boto3 (two projects) and plain ``requests`` against a real
Strata."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.s3.test_s3_acl_tagging import (
    ALL_USERS,
    Keystone,
    anon,
    client,
    code_of,
    empty,
    error_of,
    grants,
    name,
)
from tests.functional.s3.test_s3_acl_tagging import bucket as bucket
from tests.functional.s3.test_s3_acl_tagging import other as other
from tests.functional.s3.test_s3_acl_tagging import other_cred as other_cred
from tests.functional.s3.test_s3_acl_tagging import s3 as s3
from tests.functional.swift.conftest import StrataInstance


def policy(b: str, *statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def stmt(b: str, effect: str = "Allow", principal: Any = "*", action: Any = "s3:GetObject",
         resource: str = "/*", **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Principal": principal, "Action": action,
            "Resource": f"arn:aws:s3:::{b}{resource}", **extra}


def test_anonymous_read_granted_by_policy(strata_swift: StrataInstance, s3: BaseClient,
                                          bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="pub/a.txt", Body=b"open")
    s3.put_object(Bucket=bucket, Key="priv/b.txt", Body=b"closed")
    assert anon(strata_swift, "GET", f"/{bucket}/pub/a.txt").status_code == 403
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_of(exc) == (404, "NoSuchBucketPolicy")
    text = policy(bucket, stmt(bucket, resource="/pub/*"))
    s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(text)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    r = anon(strata_swift, "GET", f"/{bucket}/pub/a.txt")  # as plain curl would
    assert r.status_code == 200 and r.content == b"open"
    r = anon(strata_swift, "GET", f"/{bucket}/priv/b.txt")
    assert r.status_code == 403 and code_of(r) == "AccessDenied"
    r = anon(strata_swift, "PUT", f"/{bucket}/pub/new", data=b"x")
    assert r.status_code == 403
    r = anon(strata_swift, "GET", f"/{bucket}", params={"list-type": "2"})
    assert r.status_code == 403
    s3.delete_bucket_policy(Bucket=bucket)
    assert anon(strata_swift, "GET", f"/{bucket}/pub/a.txt").status_code == 403
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy_status(Bucket=bucket)
    assert error_of(exc) == (404, "NoSuchBucketPolicy")


def test_deny_by_source_ip_and_by_prefix_binds_the_owner(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_object(Bucket=bucket, Key="secret/k", Body=b"v")
    # the tests reach the proxy from 127.0.0.1
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        bucket,
        stmt(bucket, "Deny", action="s3:GetObject",
             Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}),
        stmt(bucket, "Deny", action="s3:ListBucket", resource="",
             Condition={"StringLike": {"s3:prefix": "secret*"}})))
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_of(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket, Prefix="secret/")
    assert error_of(exc) == (403, "AccessDenied")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="k")["Contents"]]
    assert keys == ["k"]
    s3.put_object(Bucket=bucket, Key="k2", Body=b"writes are not denied")
    # an address that is not the caller's: reads work again
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        bucket, stmt(bucket, "Deny", action="s3:GetObject",
                     Condition={"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    # a policy denying everything binds the owner, but for the policy itself
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}))
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k3", Body=b"v")
    assert error_of(exc) == (403, "AccessDenied")
    assert "Deny" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_policy_grants_another_project_read_not_write(
        s3: BaseClient, other: BaseClient, other_cred: Ec2Credential, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"shared")
    with pytest.raises(ClientError) as exc:
        other.get_object(Bucket=bucket, Key="k")
    assert error_of(exc) == (403, "AccessDenied")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        bucket, {"Effect": "Allow",
                 "Principal": {"AWS": f"arn:aws:iam::{other_cred.project_id}:root"},
                 "Action": ["s3:GetObject", "s3:ListBucket"],
                 "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}))
    assert other.get_object(Bucket=bucket, Key="k")["Body"].read() == b"shared"
    assert [o["Key"] for o in other.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    with pytest.raises(ClientError) as exc:
        other.put_object(Bucket=bucket, Key="k", Body=b"overwritten")
    assert error_of(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:  # a bucket's settings stay its owner's
        other.get_bucket_policy(Bucket=bucket)
    assert error_of(exc)[0] in (403, 405)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"shared"
    s3.delete_bucket_policy(Bucket=bucket)


@pytest.mark.parametrize("text", [
    "{not json",
    json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:TeleportObject",
        "Resource": "arn:aws:s3:::BUCKET/*"}]}),
    json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::BUCKET/*",
        "Condition": {"StringRoughly": {"s3:prefix": "a"}}}]}),
    json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::some-other-bucket/*"}]}),
])
def test_malformed_policies_change_nothing(s3: BaseClient, bucket: str, text: str) -> None:
    good = policy(bucket, stmt(bucket, principal={"AWS": "*"}, resource="/keep/*"))
    s3.put_bucket_policy(Bucket=bucket, Policy=good)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy=text.replace("BUCKET", bucket))
    assert error_of(exc) == (400, "MalformedPolicy")
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(good)
    s3.delete_bucket_policy(Bucket=bucket)


def test_public_access_block(strata_swift: StrataInstance, s3: BaseClient,
                             bucket: str) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="public-read")
    assert anon(strata_swift, "GET", f"/{bucket}/k").status_code == 200
    with pytest.raises(ClientError) as exc:
        s3.get_public_access_block(Bucket=bucket)
    assert error_of(exc) == (404, "NoSuchPublicAccessBlockConfiguration")
    # IgnorePublicAcls: the public ACLs that are there count for nothing
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "IgnorePublicAcls": True})
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == {"BlockPublicAcls": False, "IgnorePublicAcls": True,
                   "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
    r = anon(strata_swift, "GET", f"/{bucket}/k")
    assert r.status_code == 403 and code_of(r) == "AccessDenied"
    assert anon(strata_swift, "GET", f"/{bucket}").status_code == 403
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"  # the owner's
    # BlockPublicAcls and BlockPublicPolicy: new public grants and policies refused
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"v", ACL="public-read")
    assert error_of(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    assert error_of(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, stmt(bucket)))
    assert error_of(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError):
        s3.get_bucket_policy(Bucket=bucket)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    # gone: the ACLs that were there count again
    s3.delete_public_access_block(Bucket=bucket)
    assert anon(strata_swift, "GET", f"/{bucket}/k").status_code == 200
    s3.put_bucket_acl(Bucket=bucket, ACL="private")


def test_ownership_controls(s3: BaseClient, other: BaseClient, other_cred: Ec2Credential,
                            ec2: Ec2Credential) -> None:
    b = name("own")
    with pytest.raises(ClientError) as exc:  # ACLs off, yet one granting another
        s3.create_bucket(Bucket=b, ObjectOwnership="BucketOwnerEnforced",
                         GrantWrite=f"id={other_cred.project_id}")
    assert error_of(exc) == (400, "InvalidBucketAclWithObjectOwnership")
    s3.create_bucket(Bucket=b)
    try:
        s3.put_bucket_acl(Bucket=b, GrantWrite=f"id={other_cred.project_id}",
                          GrantFullControl=f"id={ec2.project_id}")
        other.put_object(Bucket=b, Key="by-other", Body=b"o")
        with pytest.raises(ClientError) as exc:  # ObjectWriter: the writer's object
            s3.get_object(Bucket=b, Key="by-other")
        assert error_of(exc) == (403, "AccessDenied")
        with pytest.raises(ClientError) as exc:
            s3.get_bucket_ownership_controls(Bucket=b)
        assert error_of(exc) == (404, "OwnershipControlsNotFoundError")
        # BucketOwnerEnforced: refused while the bucket's ACL grants another project
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={
                "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        assert error_of(exc) == (400, "InvalidBucketAclWithObjectOwnership")
        s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={
            "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
        other.put_object(Bucket=b, Key="given", Body=b"g", ACL="bucket-owner-full-control")
        assert s3.get_object_acl(Bucket=b, Key="given")["Owner"]["ID"] == ec2.project_id
        s3.put_bucket_acl(Bucket=b, ACL="private")
        s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={
            "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        rules = s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        # ACLs are off: any object is the bucket owner's; ACLs granting others refused
        assert s3.get_object(Bucket=b, Key="by-other")["Body"].read() == b"o"
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=b, Key="k", Body=b"v", ACL="public-read")
        assert error_of(exc) == (400, "AccessControlListNotSupported")
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_acl(Bucket=b, ACL="public-read")
        assert error_of(exc) == (400, "AccessControlListNotSupported")
        s3.put_object(Bucket=b, Key="k", Body=b"v", ACL="bucket-owner-full-control")
        assert grants(s3.get_object_acl(Bucket=b, Key="k")) == {
            (ec2.project_id, "FULL_CONTROL")}
        s3.delete_bucket_ownership_controls(Bucket=b)
    finally:
        empty(s3, b)


def test_object_acl_permissions_in_full(strata_swift: StrataInstance, s3: BaseClient,
                                        other: BaseClient, other_cred: Ec2Credential,
                                        ec2: Ec2Credential, bucket: str) -> None:
    o = other_cred.project_id
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", GrantReadACP=f"id={o}")
    with pytest.raises(ClientError) as exc:  # READ_ACP is not READ
        other.get_object(Bucket=bucket, Key="k")
    assert error_of(exc) == (403, "AccessDenied")
    assert grants(other.get_object_acl(Bucket=bucket, Key="k")) == {(o, "READ_ACP")}
    with pytest.raises(ClientError) as exc:  # nor WRITE_ACP
        other.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert error_of(exc) == (403, "AccessDenied")
    s3.put_object_acl(Bucket=bucket, Key="k", GrantWriteACP=f"id={o}",
                      GrantFullControl=f"id={ec2.project_id}")
    with pytest.raises(ClientError) as exc:  # WRITE_ACP is not READ_ACP
        other.get_object_acl(Bucket=bucket, Key="k")
    assert error_of(exc) == (403, "AccessDenied")
    other.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert anon(strata_swift, "GET", f"/{bucket}/k").content == b"v"
    assert grants(s3.get_object_acl(Bucket=bucket, Key="k")) == {
        (ec2.project_id, "FULL_CONTROL"), (ALL_USERS, "READ")}


def test_grant_by_email(strata_swift: StrataInstance, s3: BaseClient, bucket: str) -> None:
    ks = Keystone(strata_swift)
    cred = ks.member_credential("s3-mail", "s3-carol")
    r = requests.get(f"{ks.auth}/users", headers=ks.h, params={"name": "s3-carol"}, timeout=30)
    user = r.json()["users"][0]
    r = requests.patch(f"{ks.auth}/users/{user['id']}", headers=ks.h, timeout=30,
                       json={"user": {"email": "Carol@Example.org",
                                      "default_project_id": cred.project_id}})
    assert r.status_code == 200, r.text
    carol = client(strata_swift, cred)
    s3.put_object(Bucket=bucket, Key="k", Body=b"for carol",
                  GrantRead='emailAddress="carol@example.org"')
    assert grants(s3.get_object_acl(Bucket=bucket, Key="k")) == {(cred.project_id, "READ")}
    assert carol.get_object(Bucket=bucket, Key="k")["Body"].read() == b"for carol"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x",
                      GrantRead='emailAddress="nobody@example.org"')
    assert error_of(exc) == (400, "UnresolvableGrantByEmailAddress")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k2")


def test_expected_bucket_owner(s3: BaseClient, ec2: Ec2Credential,
                               other_cred: Ec2Credential, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=ec2.project_id)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=other_cred.project_id)
    assert error_of(exc) == (403, "AccessDenied")
