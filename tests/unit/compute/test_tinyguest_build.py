"""Pieces of the tiny guest's builder and the KVM probe that need no hypervisor."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from compute.tinyguest import builder
from compute.virt import kvmprobe


def parse_newc(data: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, data) of a newc cpio archive."""
    out: dict[str, tuple[int, bytes]] = {}
    pos = 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = data[name_start:name_start + namesize - 1].decode()
        pos = (name_start + namesize + 3) & ~3
        body = data[pos:pos + size]
        pos = (pos + size + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, body)


def test_cpio_newc_with_parents_and_devices() -> None:
    cpio = builder.Cpio()
    cpio.file("lib/x86_64-linux-gnu/libz.so.1", b"abc", 0o755)
    cpio.device("dev/console", 5, 1)
    cpio.file("init", b"#!/bin/sh\n", 0o755)
    entries = parse_newc(cpio.finish())
    assert list(entries)[:3] == ["lib", "lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu/libz.so.1"]
    assert entries["lib/x86_64-linux-gnu/libz.so.1"] == (0o100755, b"abc")
    assert entries["dev/console"][0] == 0o020600
    assert entries["init"][1] == b"#!/bin/sh\n"


def test_root_disk_layout() -> None:
    disk = builder.root_disk()
    assert len(disk) == builder.DISK_SIZE
    assert disk.startswith(builder.ROOT_MAGIC + b"\n")
    assert disk[512:520] == b"boots 0\n"


def test_build_key_follows_versions() -> None:
    a = builder.build_key({"busybox-static": "1"}, "2.36")
    assert a == builder.build_key({"busybox-static": "1"}, "2.36")
    assert a != builder.build_key({"busybox-static": "2"}, "2.36")
    assert a != builder.build_key({"busybox-static": "1"}, "2.37")


@pytest.mark.skipif(shutil.which("as") is None or shutil.which("objcopy") is None,
                    reason="binutils (as, ld, objcopy) not installed: cannot reassemble")
def test_kvm_probe_image_is_its_source(tmp_path: Path) -> None:
    source = Path(kvmprobe.__file__).with_name("kvmprobe.S")
    obj, elf, flat = tmp_path / "p.o", tmp_path / "p.elf", tmp_path / "p.bin"
    subprocess.run(["as", "--32", "-o", str(obj), str(source)], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-Ttext=0x100000", "-o", str(elf), str(obj)],
                   check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(elf), str(flat)], check=True)
    assert flat.read_bytes() == kvmprobe.PROBE_IMAGE
