"""``strata image upload``: from a file and from a pipe, against a real Strata."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloud import STRATA
from tests.functional.imagestore.image_server import Api, ImageCloud, make_image, running_cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageCloud]:
    with running_cloud(tmp_path_factory) as c:
        yield c


def upload(cloud: ImageCloud, *args: str, stdin: Path | None = None) -> \
        subprocess.CompletedProcess[str]:
    env = {k: v for k, v in cloud.env.items() if not k.startswith("OS_")}
    with (stdin.open("rb") if stdin else open("/dev/null", "rb")) as fh:
        return subprocess.run([*STRATA, "image", "upload", *args], env=env, stdin=fh,
                              capture_output=True, text=True, timeout=300, check=False)


def fields(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def test_upload_a_file_with_progress(cloud: ImageCloud, tmp_path: Path) -> None:
    disk = make_image(tmp_path / "disk.qcow2", "qcow2", "64M", content=b"boot" * 1000)
    r = upload(cloud, str(disk), "--disk-format", "qcow2", "--property", "hw_disk_bus=scsi")
    assert r.returncode == 0, r.stderr
    got = fields(r.stdout)
    assert got["status"] == "active"
    assert got["name"] == "disk.qcow2"
    assert got["checksum"] == hashlib.md5(disk.read_bytes()).hexdigest()
    assert got["virtual_size"] == str(64 << 20)
    assert got["sha512"] == hashlib.sha512(disk.read_bytes()).hexdigest()
    assert "100.0%" in r.stderr and "MB/s" in r.stderr  # the progress bar


def test_upload_from_stdin(cloud: ImageCloud, tmp_path: Path) -> None:
    disk = make_image(tmp_path / "piped.raw", "raw", "8M", content=b"raw data")
    r = upload(cloud, "-", "--disk-format", "raw", "--name", "piped", stdin=disk)
    assert r.returncode == 0, r.stderr
    got = fields(r.stdout)
    assert (got["status"], got["name"], got["size"]) == ("active", "piped", str(8 << 20))
    assert got["checksum"] == hashlib.md5(disk.read_bytes()).hexdigest()
    assert "MB sent" in r.stderr  # no total known from a pipe


def test_a_refused_upload_says_why(cloud: ImageCloud, tmp_path: Path) -> None:
    disk = make_image(tmp_path / "liar.qcow2", "qcow2", "8M")
    r = upload(cloud, str(disk), "--disk-format", "raw", "--name", "liar")
    assert r.returncode == 1
    assert "qcow2" in r.stderr and "stays queued" in r.stderr, r.stderr
    r = upload(cloud, str(tmp_path / "missing.raw"), "--disk-format", "raw")
    assert r.returncode == 1 and "no such file" in r.stderr


def test_help_explains() -> None:
    r = subprocess.run([*STRATA, "image", "upload", "--help"], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0 and "standard input" in r.stdout and "--disk-format" in r.stdout


def test_upload_the_tiny_guest(cloud: ImageCloud) -> None:
    """``strata image tiny``: built from Debian packages (cached), three images, linked."""
    from compute.tinyguest import TinyGuestError, build, default_cache_dir

    try:
        guest = build()  # the shared cache the compute tests use: built once per machine
    except TinyGuestError as exc:
        reason = f"the tiny guest cannot be built here: {exc}"
        if os.environ.get("CI"):  # under CI a missing build tool is a failure, not a skip
            pytest.fail(reason)
        pytest.skip(reason)
    env = {k: v for k, v in cloud.env.items() if not k.startswith("OS_")}
    env["STRATA_TINY_CACHE"] = str(default_cache_dir())
    r = subprocess.run([*STRATA, "image", "tiny"], env=env, capture_output=True, text=True,
                       timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    assert "100.0%" in r.stderr  # a progress line per image
    api = cloud.api("admin")
    tiny = api.show(api_id(api, "tiny"))
    kernel = api.show(tiny["kernel_id"])
    ramdisk = api.show(tiny["ramdisk_id"])
    assert (tiny["disk_format"], kernel["disk_format"], ramdisk["disk_format"]) == \
        ("ami", "aki", "ari")
    assert (kernel["name"], ramdisk["name"]) == ("tiny-kernel", "tiny-ramdisk")
    assert {i["status"] for i in (tiny, kernel, ramdisk)} == {"active"}
    assert tiny["visibility"] == "public" and tiny["os_command_line"] == guest.cmdline
    assert kernel["checksum"] == hashlib.md5(guest.kernel.read_bytes()).hexdigest()
    again = subprocess.run([*STRATA, "image", "tiny"], env=env, capture_output=True,
                           text=True, timeout=300, check=False)
    assert again.returncode == 0 and "exists already" in again.stdout


def api_id(api: Api, name: str) -> str:
    r = api.request("GET", f"/v2/images?name={name}")
    images = r.json()["images"]
    assert len(images) == 1, images
    return str(images[0]["id"])
