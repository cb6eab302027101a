"""The real ``swift`` command line (python-swiftclient) against a real running Strata.

Run twice: with Keystone auth exactly as after ``source var/demo-openrc``, and
with v1.0 auth (``-A <proxy>/auth/v1.0 -U demo:demo -K <password>``) and no
``OS_*`` variable at all.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional.swift.conftest import StrataInstance

SWIFT = str(Path(sys.executable).with_name("swift"))

# Names with unicode and spaces, a nested tree, and one file of a few MB.
TREE = {
    "dir é one/a b.txt": b"hello from a b\n",
    "dir é one/sub ü/ö ñ.txt": "unicode ✓ inside\n".encode(),
    "dir é one/sub ü/deeper/z.json": b'{"z": 1}\n',
    "top level.txt": b"top\n",
    "big file.bin": os.urandom(3 * 1024 * 1024 + 17),
}


def stat_fields(out: str) -> dict[str, str]:
    """``swift stat`` output (``Key: value`` lines) as a dict."""
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("auth", ["keystone", "v1"])
def test_swift_cli_round_trip(strata_swift: StrataInstance, tmp_path: Path, auth: str) -> None:
    if auth == "keystone":
        env = strata_swift.client_env(strata_swift.openrc("demo-openrc"))
        auth_args: list[str] = []
    else:
        env = strata_swift.client_env()
        assert not any(k.startswith("OS_") for k in env)
        auth_args = ["-A", strata_swift.proxy_url + "/auth/v1.0", "-U", "demo:demo",
                     "-K", str(strata_swift.secrets["demo_password"])]

    def swift(*args: str, cwd: Path | None = None, ok: bool = True) -> str:
        proc = subprocess.run([SWIFT, *auth_args, *args], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=120, check=False)
        if ok:
            assert proc.returncode == 0, f"swift {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc.stdout + (proc.stderr if not ok else "")

    container = f"cli {auth} ç"
    src = tmp_path / "src"
    for name, data in TREE.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)

    swift("post", container)
    swift("post", "-m", "Color:blue", container)
    uploaded = swift("upload", container, ".", cwd=src)
    assert set(uploaded.splitlines()) == set(TREE), uploaded

    assert set(swift("list", container).splitlines()) == set(TREE)
    assert swift("list", container, "--prefix", "dir é one/", "--delimiter", "/"
                 ).splitlines() == ["dir é one/a b.txt", "dir é one/sub ü/"]
    assert swift("list", container, "--prefix", "dir é one/sub ü/").splitlines() == [
        "dir é one/sub ü/deeper/z.json", "dir é one/sub ü/ö ñ.txt"]
    assert container in swift("list").splitlines()

    account = stat_fields(swift("stat"))
    assert account["Account"].startswith("AUTH_")
    # (the account's object and byte totals catch up later, as in Swift: not checked)
    assert int(account["Containers"]) >= 1
    cstat = stat_fields(swift("stat", container))
    assert cstat["Container"] == container
    assert int(cstat["Objects"]) == len(TREE)
    assert int(cstat["Bytes"]) == sum(len(d) for d in TREE.values())
    assert cstat["Meta Color"] == "blue"
    ostat = stat_fields(swift("stat", container, "big file.bin"))
    assert ostat["Object"] == "big file.bin"
    assert int(ostat["Content Length"]) == len(TREE["big file.bin"])
    assert ostat["ETag"] == md5(TREE["big file.bin"])
    assert ostat["Content Type"] == "application/octet-stream"

    out = tmp_path / "out"
    swift("download", container, "-D", str(out))
    got = {str(p.relative_to(out)): md5(p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    assert got == {name: md5(data) for name, data in TREE.items()}
    single = tmp_path / "single.txt"
    swift("download", container, "dir é one/sub ü/ö ñ.txt", "-o", str(single))
    assert single.read_bytes() == TREE["dir é one/sub ü/ö ñ.txt"]

    deleted = swift("delete", container)
    assert set(TREE) <= set(deleted.splitlines())
    assert container not in swift("list").splitlines()
    missing = swift("stat", container, ok=False)
    assert re.search(r"Container .* not found", missing), missing
