"""Bucket policies and Object Lock through Debian's ``aws`` CLI (``aws s3api``), as an
operator would set them, against a real Strata; anonymous reads with ``requests``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from tests.functional.s3.test_s3_clients import AwsCli, unique
from tests.functional.s3.test_s3_clients import aws as aws
from tests.functional.swift.conftest import StrataInstance


def api(aws: AwsCli, *args: str) -> dict[str, object]:
    out = aws("s3api", *args).stdout
    return json.loads(out) if out.strip() else {}


def test_bucket_policy_with_the_cli(strata_swift: StrataInstance, aws: AwsCli,
                                    tmp_path: Path) -> None:
    bucket = unique("cli-policy")
    api(aws, "create-bucket", "--bucket", bucket)
    body = tmp_path / "body.txt"
    body.write_bytes(b"for everyone")
    api(aws, "put-object", "--bucket", bucket, "--key", "pub/a.txt", "--body", str(body))
    url = f"{strata_swift.proxy_url}/{bucket}/pub/a.txt"
    assert requests.get(url, timeout=30).status_code == 403
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/pub/*"},
        {"Sid": "NoWritesFromLoopback", "Effect": "Deny", "Principal": "*",
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/frozen/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}]}
    (tmp_path / "policy.json").write_text(json.dumps(doc))
    api(aws, "put-bucket-policy", "--bucket", bucket, "--policy",
        f"file://{tmp_path / 'policy.json'}")
    got = api(aws, "get-bucket-policy", "--bucket", bucket)
    assert json.loads(str(got["Policy"])) == doc
    status = api(aws, "get-bucket-policy-status", "--bucket", bucket)
    assert status == {"PolicyStatus": {"IsPublic": True}}
    r = requests.get(url, timeout=30)  # as plain curl would
    assert r.status_code == 200 and r.content == b"for everyone"
    denied = aws("s3api", "put-object", "--bucket", bucket, "--key", "frozen/b.txt",
                 "--body", str(body), ok=False)
    assert "AccessDenied" in denied.stderr
    api(aws, "put-object", "--bucket", bucket, "--key", "thawed/b.txt", "--body", str(body))
    (tmp_path / "bad.json").write_text('{"Version": "2012-10-17", "Statement": [')
    bad = aws("s3api", "put-bucket-policy", "--bucket", bucket, "--policy",
              f"file://{tmp_path / 'bad.json'}", ok=False)
    assert "MalformedPolicy" in bad.stderr
    assert json.loads(str(api(aws, "get-bucket-policy", "--bucket", bucket)["Policy"])) == doc
    api(aws, "delete-bucket-policy", "--bucket", bucket)
    assert requests.get(url, timeout=30).status_code == 403
    api(aws, "put-object", "--bucket", bucket, "--key", "frozen/b.txt", "--body", str(body))
    for key in ("pub/a.txt", "frozen/b.txt", "thawed/b.txt"):
        api(aws, "delete-object", "--bucket", bucket, "--key", key)
    api(aws, "delete-bucket", "--bucket", bucket)


def test_object_lock_with_the_cli(aws: AwsCli, tmp_path: Path) -> None:
    bucket = unique("cli-lock")
    api(aws, "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
    body = tmp_path / "body.txt"
    body.write_bytes(b"keep me")
    held = api(aws, "put-object", "--bucket", bucket, "--key", "held.txt", "--body", str(body))
    api(aws, "put-object-legal-hold", "--bucket", bucket, "--key", "held.txt",
        "--legal-hold", "Status=ON")
    assert api(aws, "get-object-legal-hold", "--bucket", bucket, "--key", "held.txt") == {
        "LegalHold": {"Status": "ON"}}
    vid = str(held["VersionId"])
    refused = aws("s3api", "delete-object", "--bucket", bucket, "--key", "held.txt",
                  "--version-id", vid, ok=False)
    assert "AccessDenied" in refused.stderr
    api(aws, "put-object-legal-hold", "--bucket", bucket, "--key", "held.txt",
        "--legal-hold", "Status=OFF")
    api(aws, "delete-object", "--bucket", bucket, "--key", "held.txt", "--version-id", vid)

    api(aws, "put-object-lock-configuration", "--bucket", bucket,
        "--object-lock-configuration",
        '{"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": '
        '{"Mode": "COMPLIANCE", "Days": 1}}}')
    cfg = api(aws, "get-object-lock-configuration", "--bucket", bucket)
    assert cfg == {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled", "Rule": {
        "DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}}}
    locked = api(aws, "put-object", "--bucket", bucket, "--key", "locked.txt",
                 "--body", str(body))
    retention = api(aws, "get-object-retention", "--bucket", bucket, "--key", "locked.txt")
    assert retention["Retention"]["Mode"] == "COMPLIANCE"  # type: ignore[index]
    refused = aws("s3api", "delete-object", "--bucket", bucket, "--key", "locked.txt",
                  "--version-id", str(locked["VersionId"]), "--bypass-governance-retention",
                  ok=False)
    assert "AccessDenied" in refused.stderr
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    bad = aws("s3api", "put-object-retention", "--bucket", bucket, "--key", "locked.txt",
              "--retention", f"Mode=GOVERNANCE,RetainUntilDate={past}", ok=False)
    assert "InvalidArgument" in bad.stderr
    still = api(aws, "get-object-retention", "--bucket", bucket, "--key", "locked.txt")
    assert still == retention
    got = api(aws, "head-object", "--bucket", bucket, "--key", "locked.txt")
    assert got["ObjectLockMode"] == "COMPLIANCE"
