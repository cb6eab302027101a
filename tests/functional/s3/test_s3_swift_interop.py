"""One store, two APIs: what S3 clients write the real ``swift`` CLI reads, and back.

boto3 and Debian's ``aws`` on the S3 side, python-swiftclient's ``swift`` (Keystone
auth, as after ``source var/demo-openrc``) on the Swift side, one real Strata.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.s3.test_s3_clients import REGION, AwsCli, ls_keys, unique
from tests.functional.swift.conftest import StrataInstance

SWIFT = str(Path(sys.executable).with_name("swift"))


def stat_fields(out: str) -> dict[str, str]:
    """``swift stat`` output (``Key: value`` lines) as a dict."""
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


class SwiftCli:
    def __init__(self, strata: StrataInstance) -> None:
        assert Path(SWIFT).exists(), "the swift CLI (python-swiftclient) is missing"
        self.env = strata.client_env(strata.openrc("demo-openrc"))

    def __call__(self, *args: str, cwd: Path | None = None,
                 ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([SWIFT, *args], env=self.env, cwd=cwd, capture_output=True,
                              text=True, timeout=120, check=False)
        if ok:
            assert proc.returncode == 0, f"swift {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
        else:
            assert proc.returncode != 0, f"swift {' '.join(args)} should have failed"
        return proc


@pytest.fixture(scope="module")
def swift(strata_swift: StrataInstance) -> SwiftCli:
    return SwiftCli(strata_swift)


@pytest.fixture(scope="module")
def s3(strata_swift: StrataInstance, ec2: Ec2Credential) -> BaseClient:
    return boto3.client(
        "s3", endpoint_url=strata_swift.proxy_url, aws_access_key_id=ec2.access,
        aws_secret_access_key=ec2.secret, region_name=REGION,
        config=Config(s3={"addressing_style": "path"}))


@pytest.fixture(scope="module")
def aws(strata_swift: StrataInstance, ec2: Ec2Credential,
        tmp_path_factory: pytest.TempPathFactory) -> AwsCli:
    return AwsCli.make(strata_swift, ec2, tmp_path_factory.mktemp("aws-home"))


def test_s3_put_read_by_swift_cli(s3: BaseClient, swift: SwiftCli, tmp_path: Path) -> None:
    bucket = unique("interop-s3")
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(200_000)
    key = "dir/s3 object ü.bin"
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/x-strata-test",
                  Metadata={"color": "red", "shape": "round square"})

    assert swift("list").stdout.splitlines().count(bucket) == 1
    assert swift("list", bucket).stdout.splitlines() == [key]
    out = tmp_path / "got.bin"
    swift("download", bucket, key, "-o", str(out))
    assert out.read_bytes() == data

    fields = stat_fields(swift("stat", bucket, key).stdout)
    assert fields["Content Type"] == "application/x-strata-test"
    assert fields["Content Length"] == str(len(data))
    assert fields["Meta Color"] == "red"
    assert fields["Meta Shape"] == "round square"
    assert fields["ETag"] == s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')

    # a key S3 never wrote is missing on both sides
    assert "not found" in swift("download", bucket, "missing", "-o", str(tmp_path / "m"),
                                ok=False).stderr.lower()
    assert not (tmp_path / "m").exists()
    s3.delete_object(Bucket=bucket, Key=key)
    assert swift("list", bucket).stdout == ""
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in swift("list").stdout.splitlines()


def test_swift_upload_read_by_s3(s3: BaseClient, swift: SwiftCli, aws: AwsCli,
                                 tmp_path: Path) -> None:
    container = unique("interop-swift")
    data = os.urandom(150_000)
    (tmp_path / "local.bin").write_bytes(data)
    swift("upload", "-H", "X-Object-Meta-Color:blue", "--object-name", "from swift/obj.bin",
          container, "local.bin", cwd=tmp_path)

    listed = aws("s3", "ls", "--recursive", f"s3://{container}").stdout
    assert ls_keys(listed) == {"from swift/obj.bin"}
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=container)["Contents"]] == [
        "from swift/obj.bin"]
    got = s3.get_object(Bucket=container, Key="from swift/obj.bin")
    assert got["Body"].read() == data
    # swift upload also keeps the file's mtime as X-Object-Meta-Mtime
    assert got["Metadata"]["color"] == "blue"
    assert set(got["Metadata"]) == {"color", "mtime"}
    assert got["ContentLength"] == len(data)

    aws("s3", "cp", f"s3://{container}/from swift/obj.bin", str(tmp_path / "aws.bin"))
    assert (tmp_path / "aws.bin").read_bytes() == data
    head = aws("s3api", "head-object", "--bucket", container, "--key", "from swift/obj.bin")
    assert '"color": "blue"' in head.stdout

    swift("delete", container)
    assert container not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_swift_post_container_is_a_bucket(s3: BaseClient, swift: SwiftCli, aws: AwsCli) -> None:
    container = unique("interop-post")
    assert container not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    swift("post", container)
    assert container in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert container in aws("s3", "ls").stdout.split()
    assert s3.list_objects_v2(Bucket=container)["KeyCount"] == 0
    aws("s3", "rb", f"s3://{container}")
    assert container not in swift("list").stdout.splitlines()
