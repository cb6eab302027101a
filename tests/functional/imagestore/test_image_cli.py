"""``strata image upload``: from a file and from a pipe, against a real Strata."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloud import STRATA
from tests.functional.imagestore.image_server import ImageCloud, make_image, running_cloud


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
