"""The S3 front driven by real S3 command-line clients against a real Strata.

Debian's ``awscli`` (aws CLI v2), ``rclone`` and ``s3cmd`` (installed by
``strata test``), each with its own config file in a private directory (HOME,
AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, RCLONE_CONFIG, ``s3cmd -c``), path
style, an EC2 credential of the demo project. A missing tool fails its test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.swift.conftest import StrataInstance

REGION = "RegionOne"
BIG = 200 * 1024 * 1024  # aws s3 cp sends this as a multipart upload


def debian_tool(name: str, package: str | None = None) -> str:
    """The Debian package's binary (``/usr/bin/<name>``); fails the test when missing."""
    exe = Path("/usr/bin") / name
    assert exe.exists(), (f"{name} is missing: `strata test` installs the Debian "
                          f"package {package or name}")
    return str(exe)


def curl() -> str:
    exe = shutil.which("curl")
    assert exe, "curl is missing: install the Debian package curl"
    return exe


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def run(argv: list[str], env: Mapping[str, str], *, ok: bool | None = True,
        cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a client; ``ok``: must succeed (True), must fail (False), either (None)."""
    proc = subprocess.run(argv, env=dict(env), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if ok:
        assert proc.returncode == 0, (f"{' '.join(argv)} exited {proc.returncode}:\n"
                                      f"{proc.stdout}\n{proc.stderr[-6000:]}")
    elif ok is False:
        assert proc.returncode != 0, f"{' '.join(argv)} should have failed:\n{proc.stdout}"
    return proc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_tree(root: Path, files: Mapping[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def base_env(strata: StrataInstance, home: Path) -> dict[str, str]:
    """The client environment with no AWS_*/RCLONE_* of ours, HOME in ``home``."""
    env = {k: v for k, v in strata.client_env().items()
           if not k.startswith(("AWS_", "RCLONE_", "S3CMD"))}
    env["HOME"] = str(home)
    return env


@dataclass
class AwsCli:
    """Debian's ``aws`` with its config and credentials files in a private HOME."""

    exe: str
    endpoint: str
    env: dict[str, str]

    @classmethod
    def make(cls, strata: StrataInstance, cred: Ec2Credential, home: Path) -> AwsCli:
        exe = debian_tool("aws", "awscli")
        home.mkdir(parents=True, exist_ok=True)
        (home / "aws-config").write_text(
            f"[default]\nregion = {REGION}\noutput = json\n"
            "s3 =\n    addressing_style = path\n")
        (home / "aws-credentials").write_text(
            f"[default]\naws_access_key_id = {cred.access}\n"
            f"aws_secret_access_key = {cred.secret}\n")
        env = base_env(strata, home)
        env.update(AWS_CONFIG_FILE=str(home / "aws-config"),
                   AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
                   AWS_PAGER="", AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="1")
        return cls(exe, strata.proxy_url, env)

    def __call__(self, *args: str, ok: bool | None = True,
                 cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run([self.exe, "--endpoint-url", self.endpoint, *args], self.env, ok=ok,
                   cwd=cwd)


@pytest.fixture(scope="module")
def aws(strata_swift: StrataInstance, ec2: Ec2Credential,
        tmp_path_factory: pytest.TempPathFactory) -> AwsCli:
    return AwsCli.make(strata_swift, ec2, tmp_path_factory.mktemp("aws-home"))


def ls_keys(out: str) -> set[str]:
    """Key names from ``aws s3 ls`` lines (``date time size key``)."""
    keys = set()
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2].isdigit():
            keys.add(parts[3])
    return keys


# -- aws CLI --------------------------------------------------------------------------

TREE = {
    "a.txt": b"alpha\n",
    "dir/b.txt": b"bravo\n" * 100,
    "dir/sub/c.bin": os.urandom(70_000),
    "dir/sub/deeper/d e.txt": "d with ünïcode\n".encode(),
}


def test_aws_cli_buckets_copy_sync_ls_rm(aws: AwsCli, tmp_path: Path) -> None:
    bucket = unique("aws-cli")
    out = aws("s3", "mb", f"s3://{bucket}").stdout
    assert f"make_bucket: {bucket}" in out
    # a second mb of the same bucket is an error (BucketAlreadyOwnedByYou)
    again = aws("s3", "mb", f"s3://{bucket}", ok=False)
    assert "BucketAlreadyOwnedByYou" in again.stderr
    assert bucket in aws("s3", "ls").stdout.split()

    # cp up and down, byte for byte
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(123_457))
    aws("s3", "cp", str(small), f"s3://{bucket}/one/small.bin")
    back = tmp_path / "small.back"
    aws("s3", "cp", f"s3://{bucket}/one/small.bin", str(back))
    assert back.read_bytes() == small.read_bytes()
    missing = aws("s3", "cp", f"s3://{bucket}/no/such/key", str(tmp_path / "x"), ok=False)
    assert "404" in missing.stderr
    assert not (tmp_path / "x").exists()

    # sync up a tree; then a change and a deletion with --delete
    src = tmp_path / "src"
    write_tree(src, TREE)
    aws("s3", "sync", str(src), f"s3://{bucket}/tree")
    rec = aws("s3", "ls", "--recursive", f"s3://{bucket}").stdout
    assert ls_keys(rec) == {"one/small.bin", *(f"tree/{k}" for k in TREE)}
    top = aws("s3", "ls", f"s3://{bucket}/").stdout
    assert "PRE one/" in top and "PRE tree/" in top and not ls_keys(top)
    inside = aws("s3", "ls", f"s3://{bucket}/tree/").stdout
    assert ls_keys(inside) == {"a.txt"} and "PRE dir/" in inside

    (src / "a.txt").write_bytes(b"alpha changed, and longer\n")
    (src / "dir" / "b.txt").unlink()
    (src / "new.txt").write_bytes(b"new\n")
    synced = aws("s3", "sync", "--delete", str(src), f"s3://{bucket}/tree").stdout
    assert f"delete: s3://{bucket}/tree/dir/b.txt" in synced
    expected = read_tree(src)
    assert ls_keys(aws("s3", "ls", "--recursive", f"s3://{bucket}/tree/").stdout) == {
        f"tree/{k}" for k in expected}

    # sync down into a directory holding a stale file: --delete removes it
    dst = tmp_path / "dst"
    write_tree(dst, {"stale.txt": b"old", "a.txt": b"outdated"})
    aws("s3", "sync", "--delete", f"s3://{bucket}/tree", str(dst))
    assert read_tree(dst) == expected
    # nothing left to do: a second sync transfers nothing
    assert aws("s3", "sync", "--delete", str(src), f"s3://{bucket}/tree").stdout == ""

    # a bucket with objects is not removed; rm --recursive empties it; rb removes it
    not_empty = aws("s3", "rb", f"s3://{bucket}", ok=False)
    assert "BucketNotEmpty" in not_empty.stderr
    removed = aws("s3", "rm", "--recursive", f"s3://{bucket}").stdout
    assert removed.count("delete: ") == 1 + len(expected)
    assert aws("s3", "ls", "--recursive", f"s3://{bucket}").stdout == ""
    assert f"remove_bucket: {bucket}" in aws("s3", "rb", f"s3://{bucket}").stdout
    assert bucket not in aws("s3", "ls").stdout.split()
    gone = aws("s3", "ls", f"s3://{bucket}", ok=False)
    assert "NoSuchBucket" in gone.stderr


def test_aws_cli_invalid_bucket_name(aws: AwsCli) -> None:
    bad = aws("s3api", "create-bucket", "--bucket", "Bad_Name", ok=False)
    assert "InvalidBucketName" in bad.stderr
    assert "Bad_Name" not in aws("s3", "ls").stdout


def test_aws_cli_200mib_round_trip(aws: AwsCli, tmp_path: Path) -> None:
    """``aws s3 cp`` of 200 MiB, which it sends as a multipart upload, up and down."""
    bucket = unique("aws-big")
    aws("s3", "mb", f"s3://{bucket}")
    big = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with big.open("wb") as f:
        for i in range(BIG >> 20):
            f.write(i.to_bytes(4, "big") + block[4:])  # every MiB differs
    try:
        aws("s3", "cp", str(big), f"s3://{bucket}/big.bin")
        listed = aws("s3", "ls", f"s3://{bucket}/big.bin").stdout.split()
        assert listed[2] == str(BIG)
        back = tmp_path / "big.back"
        aws("s3", "cp", f"s3://{bucket}/big.bin", str(back))
        assert back.stat().st_size == BIG
        assert sha256_file(back) == sha256_file(big)
    finally:
        aws("s3", "rm", "--recursive", f"s3://{bucket}", ok=None)
        aws("s3", "rb", f"s3://{bucket}", ok=None)


def test_aws_cli_presign_with_curl(aws: AwsCli, tmp_path: Path) -> None:
    bucket = unique("aws-presign")
    aws("s3", "mb", f"s3://{bucket}")
    data = os.urandom(50_000)
    (tmp_path / "obj").write_bytes(data)
    key = "some dir/obj ü.bin"
    aws("s3", "cp", str(tmp_path / "obj"), f"s3://{bucket}/{key}")
    url = aws("s3", "presign", f"s3://{bucket}/{key}", "--expires-in", "300").stdout.strip()
    assert "X-Amz-Signature=" in url, url

    def fetch(u: str, out: Path) -> int:
        proc = run([curl(), "-sS", "-o", str(out), "-w", "%{http_code}", u], aws.env)
        return int(proc.stdout)

    assert fetch(url, tmp_path / "got") == 200
    assert (tmp_path / "got").read_bytes() == data

    # a tampered signature is refused
    tampered = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert fetch(tampered, tmp_path / "bad") == 403
    assert b"SignatureDoesNotMatch" in (tmp_path / "bad").read_bytes()

    # an expired URL is refused
    short = aws("s3", "presign", f"s3://{bucket}/{key}", "--expires-in", "1").stdout.strip()
    time.sleep(2.5)
    assert fetch(short, tmp_path / "late") == 403
    late = (tmp_path / "late").read_bytes()
    assert b"<Code>AccessDenied</Code>" in late and b"expired" in late
    assert data not in late

    aws("s3", "rm", "--recursive", f"s3://{bucket}")
    aws("s3", "rb", f"s3://{bucket}")


# -- rclone ---------------------------------------------------------------------------

@dataclass
class Rclone:
    exe: str
    env: dict[str, str]

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return run([self.exe, "--retries", "1", "--low-level-retries", "1", *args],
                   self.env, ok=ok)


@pytest.fixture(scope="module")
def rclone(strata_swift: StrataInstance, ec2: Ec2Credential,
           tmp_path_factory: pytest.TempPathFactory) -> Rclone:
    exe = debian_tool("rclone")
    home = tmp_path_factory.mktemp("rclone-home")
    conf = home / "rclone.conf"
    conf.write_text(
        "[strata]\ntype = s3\nprovider = Other\nenv_auth = false\n"
        f"access_key_id = {ec2.access}\nsecret_access_key = {ec2.secret}\n"
        f"endpoint = {strata_swift.proxy_url}\nregion = {REGION}\n"
        "force_path_style = true\n")
    env = base_env(strata_swift, home)
    env["RCLONE_CONFIG"] = str(conf)
    return Rclone(exe, env)


def test_rclone_copy_sync_check_ls(rclone: Rclone, tmp_path: Path) -> None:
    bucket = unique("rclone")
    rclone("mkdir", f"strata:{bucket}")
    assert bucket in rclone("lsd", "strata:").stdout.split()

    src = tmp_path / "src"
    write_tree(src, TREE)
    rclone("copy", str(src), f"strata:{bucket}/tree")
    check = rclone("check", str(src), f"strata:{bucket}/tree")
    assert "0 differences found" in check.stderr, check.stderr
    listed = {line.split(None, 1)[1]: int(line.split(None, 1)[0])
              for line in rclone("ls", f"strata:{bucket}").stdout.splitlines()}
    assert listed == {f"tree/{k}": len(v) for k, v in TREE.items()}
    assert rclone("lsd", f"strata:{bucket}/tree").stdout.split()[-1] == "dir"

    # a local change is a difference until synced; sync also deletes remotely
    (src / "a.txt").write_bytes(b"alpha, rewritten\n")
    (src / "dir" / "sub" / "c.bin").unlink()
    differs = rclone("check", str(src), f"strata:{bucket}/tree", ok=False)
    assert "2 differences found" in differs.stderr, differs.stderr
    rclone("sync", str(src), f"strata:{bucket}/tree")
    check = rclone("check", str(src), f"strata:{bucket}/tree")
    assert "0 differences found" in check.stderr, check.stderr

    # and back down, byte for byte
    dst = tmp_path / "dst"
    rclone("copy", f"strata:{bucket}/tree", str(dst))
    assert read_tree(dst) == read_tree(src)

    rclone("purge", f"strata:{bucket}")
    assert bucket not in rclone("lsd", "strata:").stdout.split()
    assert rclone("ls", f"strata:{bucket}", ok=False).returncode != 0


# -- s3cmd ----------------------------------------------------------------------------

@pytest.mark.parametrize("signature", ["v4", "v2"])
def test_s3cmd(strata_swift: StrataInstance, ec2: Ec2Credential, tmp_path: Path,
               signature: str) -> None:
    exe = debian_tool("s3cmd")
    host = f"127.0.0.1:{strata_swift.proxy_port}"
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        f"[default]\naccess_key = {ec2.access}\nsecret_key = {ec2.secret}\n"
        f"host_base = {host}\nhost_bucket = {host}\nbucket_location = {REGION}\n"
        "use_https = False\nsignature_v2 = False\n")
    env = base_env(strata_swift, tmp_path)
    sig = ["--signature-v2"] if signature == "v2" else []

    def s3cmd(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return run([exe, "-c", str(cfg), "--host", host, "--host-bucket", host,
                    "--no-ssl", *sig, *args], env, ok=ok)

    bucket = unique(f"s3cmd-{signature}")
    s3cmd("mb", f"s3://{bucket}")
    assert f"s3://{bucket}" in s3cmd("ls").stdout.split()
    data = os.urandom(300_000)
    (tmp_path / "up.bin").write_bytes(data)
    s3cmd("put", str(tmp_path / "up.bin"), f"s3://{bucket}/dir/up file.bin")
    listing = s3cmd("ls", "-r", f"s3://{bucket}").stdout
    assert f"s3://{bucket}/dir/up file.bin" in listing and str(len(data)) in listing
    assert f"DIR  s3://{bucket}/dir/" in s3cmd("ls", f"s3://{bucket}").stdout
    s3cmd("get", f"s3://{bucket}/dir/up file.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == data
    # s3cmd reads the ACL document (it finds S3's namespace only as the root's first
    # attribute), copies it with a server-side copy, and makes an object public
    info = s3cmd("info", f"s3://{bucket}/dir/up file.bin").stdout
    assert f"ACL:       {ec2.project_id}: FULL_CONTROL" in info, info
    s3cmd("cp", f"s3://{bucket}/dir/up file.bin", f"s3://{bucket}/copy.bin")
    s3cmd("setacl", "--acl-public", f"s3://{bucket}/copy.bin")
    assert "*anon*: READ" in s3cmd("info", f"s3://{bucket}/copy.bin").stdout
    anon = requests.get(f"{strata_swift.proxy_url}/{bucket}/copy.bin", timeout=30)
    assert anon.status_code == 200 and anon.content == data
    denied = requests.get(f"{strata_swift.proxy_url}/{bucket}/dir/up%20file.bin", timeout=30)
    assert denied.status_code == 403 and b"<Code>AccessDenied</Code>" in denied.content
    # a multipart upload (5 MiB parts), read back whole
    parts = os.urandom(12 * 1024 * 1024 + 5)
    (tmp_path / "parts.bin").write_bytes(parts)
    s3cmd("put", "--multipart-chunk-size-mb=5", str(tmp_path / "parts.bin"),
          f"s3://{bucket}/parts.bin")
    s3cmd("get", f"s3://{bucket}/parts.bin", str(tmp_path / "parts.back"))
    assert (tmp_path / "parts.back").read_bytes() == parts
    s3cmd("del", f"s3://{bucket}/parts.bin", f"s3://{bucket}/copy.bin")
    missing = s3cmd("get", f"s3://{bucket}/nope", str(tmp_path / "nope"), ok=False)
    assert "does not exist" in missing.stderr and not (tmp_path / "nope").exists()
    s3cmd("del", f"s3://{bucket}/dir/up file.bin")
    assert s3cmd("ls", "-r", f"s3://{bucket}").stdout.strip() == ""
    s3cmd("rb", f"s3://{bucket}")
    assert f"s3://{bucket}" not in s3cmd("ls").stdout.split()


def test_s3cmd_wrong_secret_stores_nothing(strata_swift: StrataInstance, ec2: Ec2Credential,
                                           tmp_path: Path) -> None:
    exe = debian_tool("s3cmd")
    host = f"127.0.0.1:{strata_swift.proxy_port}"
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        f"[default]\naccess_key = {ec2.access}\nsecret_key = not-{ec2.secret}\n"
        f"host_base = {host}\nhost_bucket = {host}\nbucket_location = {REGION}\n"
        "use_https = False\n")
    bucket = unique("s3cmd-denied")
    proc = run([exe, "-c", str(cfg), "--no-ssl", "mb", f"s3://{bucket}"],
               base_env(strata_swift, tmp_path), ok=False)
    assert "SignatureDoesNotMatch" in proc.stdout + proc.stderr
    r = requests.head(f"{strata_swift.proxy_url}/{bucket}", timeout=30)
    assert r.status_code in (403, 404)
    assert bucket not in strata_swift.user("demo").containers()
