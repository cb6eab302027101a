"""Browser-based uploads (POST Object) against a real Strata: the form a browser
would send, made by boto3's ``generate_presigned_post`` (SigV4 and SigV2) and
posted with ``requests``; every refused form stores nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import boto3
import pytest
import requests
from botocore.client import BaseClient
from botocore.config import Config

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.s3.test_s3_acl_tagging import code_of, empty, name
from tests.functional.s3.test_s3_acl_tagging import other as other
from tests.functional.s3.test_s3_acl_tagging import other_cred as other_cred
from tests.functional.s3.test_s3_acl_tagging import s3 as s3
from tests.functional.swift.conftest import StrataInstance

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@pytest.fixture
def bucket(s3: BaseClient) -> Iterator[str]:
    b = name("post")
    s3.create_bucket(Bucket=b)
    yield b
    empty(s3, b)


def keys(s3: BaseClient, b: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", [])]


def post(form: dict[str, Any], data: bytes, filename: str = "photo.png",
         **kw: Any) -> requests.Response:
    """The form as a browser sends it: its fields, then the file."""
    return requests.post(form["url"], data=form["fields"], timeout=60,
                         files={"file": (filename, data)}, **kw)


def refused(r: requests.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/xml")
    assert code_of(r) == code, r.text


def test_presigned_post_stores_object(s3: BaseClient, bucket: str) -> None:
    form = s3.generate_presigned_post(
        bucket, "uploads/${filename}",
        Fields={"Content-Type": "image/png", "x-amz-meta-owner": "alice",
                "success_action_status": "201", "Cache-Control": "max-age=60"},
        Conditions=[{"Content-Type": "image/png"}, {"x-amz-meta-owner": "alice"},
                    {"success_action_status": "201"}, {"Cache-Control": "max-age=60"},
                    ["content-length-range", 1, 1000]],
        ExpiresIn=300)
    data = b"\x89PNG not really" * 10
    r = post(form, data, filename="pictures/2026/photo.png")
    assert r.status_code == 201, r.text
    doc = ET.fromstring(r.content)
    assert doc.tag == "PostResponse" or doc.tag == NS + "PostResponse"
    found = {el.tag.replace(NS, ""): el.text for el in doc}
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    assert found["Bucket"] == bucket and found["Key"] == "uploads/photo.png"
    assert found["ETag"] == etag and r.headers["ETag"] == etag
    assert found["Location"] == form["url"] + "/uploads/photo.png"
    got = s3.get_object(Bucket=bucket, Key="uploads/photo.png")
    assert got["Body"].read() == data
    assert got["ContentType"] == "image/png" and got["Metadata"] == {"owner": "alice"}
    assert got["CacheControl"] == "max-age=60"


def test_tags_and_acl_from_the_form(strata_swift: StrataInstance, s3: BaseClient,
                                    bucket: str) -> None:
    tags = ("<Tagging><TagSet><Tag><Key>team</Key><Value>web</Value></Tag></TagSet>"
            "</Tagging>")
    form = s3.generate_presigned_post(bucket, "shared.txt",
                                      Fields={"tagging": tags, "acl": "public-read"},
                                      Conditions=[{"tagging": tags}, {"acl": "public-read"}])
    assert post(form, b"for all").status_code == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="shared.txt")["TagSet"] == [
        {"Key": "team", "Value": "web"}]
    r = requests.get(f"{strata_swift.proxy_url}/{bucket}/shared.txt", timeout=30)
    assert r.status_code == 200 and r.content == b"for all"  # the form's canned ACL
    form = s3.generate_presigned_post(bucket, "bad-tags.txt", Fields={"tagging": "<oops"},
                                      Conditions=[{"tagging": "<oops"}])
    refused(post(form, b"x"), 400, "MalformedXML")
    assert "bad-tags.txt" not in keys(s3, bucket)


def test_status_and_redirect(s3: BaseClient, bucket: str) -> None:
    form = s3.generate_presigned_post(bucket, "plain.txt", ExpiresIn=300)
    r = post(form, b"hello")
    assert r.status_code == 204 and r.content == b""  # the default
    got = s3.get_object(Bucket=bucket, Key="plain.txt")
    assert got["Body"].read() == b"hello" and got["ContentType"] == "binary/octet-stream"
    form = s3.generate_presigned_post(bucket, "ok.txt", Fields={"success_action_status": "200"},
                                      Conditions=[{"success_action_status": "200"}])
    r = post(form, b"ok")
    assert r.status_code == 200 and r.content == b""
    target = "https://app.example/done?from=upload"
    form = s3.generate_presigned_post(bucket, "redir.txt",
                                      Fields={"success_action_redirect": target},
                                      Conditions=[{"success_action_redirect": target}])
    r = post(form, b"moved", allow_redirects=False)
    assert r.status_code == 303, r.text
    where = urlsplit(r.headers["Location"])
    assert where.netloc == "app.example" and where.path == "/done"
    q = parse_qs(where.query)
    assert q["from"] == ["upload"] and q["bucket"] == [bucket] and q["key"] == ["redir.txt"]
    assert q["etag"] == ['"' + hashlib.md5(b"moved").hexdigest() + '"']
    assert s3.get_object(Bucket=bucket, Key="redir.txt")["Body"].read() == b"moved"


def test_sigv2_post(strata_swift: StrataInstance, ec2: Ec2Credential, bucket: str,
                    s3: BaseClient) -> None:
    v2 = boto3.client("s3", endpoint_url=strata_swift.proxy_url, aws_access_key_id=ec2.access,
                      aws_secret_access_key=ec2.secret, region_name="RegionOne",
                      config=Config(signature_version="s3",
                                    s3={"addressing_style": "path"}))
    form = v2.generate_presigned_post(bucket, "v2.txt", ExpiresIn=300)
    assert "signature" in form["fields"] and "AWSAccessKeyId" in form["fields"]
    assert post(form, b"version two").status_code == 204
    assert s3.get_object(Bucket=bucket, Key="v2.txt")["Body"].read() == b"version two"
    form["fields"]["signature"] = base64.b64encode(b"x" * 20).decode()
    refused(post(form, b"forged"), 403, "SignatureDoesNotMatch")


def test_large_file_streams(s3: BaseClient, bucket: str) -> None:
    data = os.urandom(3 << 20)  # past the 1 MiB read whole: streamed, sent chunked
    form = s3.generate_presigned_post(bucket, "big.bin",
                                      Conditions=[["content-length-range", 1, 8 << 20]])
    assert post(form, data).status_code == 204
    got = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def _reencoded(form: dict[str, Any], change: dict[str, Any]) -> str:
    doc = json.loads(base64.b64decode(form["fields"]["policy"]))
    doc.update(change)
    return base64.b64encode(json.dumps(doc).encode()).decode()


def _tampered_policy(form: dict[str, Any]) -> tuple[int, str]:
    doc = json.loads(base64.b64decode(form["fields"]["policy"]))
    doc["conditions"] = [c for c in doc["conditions"]
                         if not (isinstance(c, list) and c[0] == "content-length-range")]
    form["fields"]["policy"] = base64.b64encode(json.dumps(doc).encode()).decode()
    return 403, "SignatureDoesNotMatch"


def _tampered_signature(form: dict[str, Any]) -> tuple[int, str]:
    sig = form["fields"]["x-amz-signature"]
    form["fields"]["x-amz-signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    return 403, "SignatureDoesNotMatch"


def _missing_signature(form: dict[str, Any]) -> tuple[int, str]:
    del form["fields"]["x-amz-signature"]
    return 400, "InvalidArgument"


def _other_key(form: dict[str, Any]) -> tuple[int, str]:
    form["fields"]["key"] = "elsewhere.txt"  # the policy names another
    return 403, "AccessDenied"


def _extra_field(form: dict[str, Any]) -> tuple[int, str]:
    form["fields"]["x-amz-meta-sneaky"] = "1"  # no condition allows it
    return 403, "AccessDenied"


def _unknown_key(form: dict[str, Any]) -> tuple[int, str]:
    cred = form["fields"]["x-amz-credential"]
    form["fields"]["x-amz-credential"] = "NOSUCHKEY" + cred[cred.index("/"):]
    return 403, "InvalidAccessKeyId"


@pytest.mark.parametrize("spoil", [_tampered_policy, _tampered_signature, _missing_signature,
                                   _other_key, _extra_field, _unknown_key])
def test_spoiled_forms_store_nothing(s3: BaseClient, bucket: str, spoil: Any) -> None:
    form = s3.generate_presigned_post(bucket, "target.txt",
                                      Conditions=[["content-length-range", 1, 100]])
    status, code = spoil(form)
    refused(post(form, b"payload"), status, code)
    assert keys(s3, bucket) == []


def test_expired_policy(s3: BaseClient, bucket: str) -> None:
    form = s3.generate_presigned_post(bucket, "late.txt", ExpiresIn=-60)
    r = post(form, b"too late")
    refused(r, 403, "AccessDenied")
    assert "expired" in (ET.fromstring(r.content).findtext("Message") or "")
    assert keys(s3, bucket) == []


@pytest.mark.parametrize(("size", "code"), [(200, "EntityTooLarge"), (2, "EntityTooSmall"),
                                            ((2 << 20) + 7, "EntityTooLarge")])
def test_content_length_range(s3: BaseClient, bucket: str, size: int, code: str) -> None:
    form = s3.generate_presigned_post(bucket, "sized.bin",
                                      Conditions=[["content-length-range", 10, 100]])
    refused(post(form, os.urandom(size)), 400, code)
    assert keys(s3, bucket) == []


def test_malformed_policy_and_form(strata_swift: StrataInstance, s3: BaseClient,
                                   bucket: str) -> None:
    url = f"{strata_swift.proxy_url}/{bucket}"
    form = s3.generate_presigned_post(bucket, "x.txt")
    r = requests.post(url, timeout=30, files={"key": (None, "x.txt")})  # no file at all
    refused(r, 400, "IncorrectNumberOfFilesInPostRequest")
    r = requests.post(url, timeout=30, files={"file": ("a", b"x")})  # no key
    refused(r, 400, "InvalidArgument")
    r = requests.post(url, timeout=30, data={"key": "k" * 1025}, files={"file": ("a", b"x")})
    refused(r, 400, "KeyTooLongError")
    r = requests.post(url, timeout=30, data={"key": "k", "x-ignore-pad": "p" * (21 << 10)},
                      files={"file": ("a", b"x")})
    refused(r, 400, "MaxPostPreDataLengthExceededError")
    fields = dict(form["fields"])
    fields["policy"] = _reencoded(form, {"expiration": "whenever"})
    r = requests.post(url, timeout=30, data=fields, files={"file": ("a", b"x")})
    refused(r, 403, "SignatureDoesNotMatch")  # the signature covers the document
    assert keys(s3, bucket) == []


def test_anonymous_post_needs_a_grant(strata_swift: StrataInstance, s3: BaseClient,
                                      bucket: str) -> None:
    url = f"{strata_swift.proxy_url}/{bucket}"

    def anon_post(key: str) -> requests.Response:
        return requests.post(url, timeout=30, data={"key": key},
                             files={"file": ("f.txt", b"from a browser")})

    refused(anon_post("public/a.txt"), 403, "AccessDenied")
    assert keys(s3, bucket) == []
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/public/*"}]}))
    assert anon_post("public/a.txt").status_code == 204
    refused(anon_post("private/b.txt"), 403, "AccessDenied")
    assert keys(s3, bucket) == ["public/a.txt"]
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    assert anon_post("by-acl.txt").status_code == 204
    assert sorted(keys(s3, bucket)) == ["by-acl.txt", "public/a.txt"]


def test_other_project_post_decided_as_put(strata_swift: StrataInstance, s3: BaseClient,
                                           other: BaseClient, other_cred: Ec2Credential,
                                           bucket: str) -> None:
    form = other.generate_presigned_post(bucket, "theirs.txt")
    refused(post(form, b"not yours"), 403, "AccessDenied")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other_cred.project_id}:root"},
            "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    assert post(form, b"allowed now").status_code == 204
    # (the writer owns the object, as under S3's ObjectWriter ownership)
    assert other.get_object(Bucket=bucket, Key="theirs.txt")["Body"].read() == b"allowed now"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    own = s3.generate_presigned_post(bucket, "mine.txt")
    refused(post(own, b"denied to all"), 403, "AccessDenied")
    s3.delete_bucket_policy(Bucket=bucket)
    assert "mine.txt" not in keys(s3, bucket)
