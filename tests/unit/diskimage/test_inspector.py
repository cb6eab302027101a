"""diskimage.inspector on images made by the real qemu-img and genisoimage.

Every image is fed in small chunks of random sizes, as an upload streams, and
the answer is compared with what ``qemu-img info`` says with an explicit
format. Hostile images are refused with a reason the uploader can act on.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import struct
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from diskimage.inspector import (
    MAX_CAPTURE,
    AmbiguousFormat,
    ContainerFormatMismatch,
    DiskFormatMismatch,
    ImageInspector,
    ImageRejected,
    Inspection,
    UnknownFormat,
    UnsafeImage,
    check_container_format,
)

_QEMU_IMG = shutil.which("qemu-img")
_MKISOFS = shutil.which("genisoimage") or shutil.which("xorriso")
assert _QEMU_IMG, "qemu-img is missing: `strata test` installs the Debian package qemu-utils"
assert _MKISOFS, "genisoimage is missing: `strata test` installs the Debian package genisoimage"
QEMU_IMG: str = _QEMU_IMG
MKISOFS: str = _MKISOFS

MiB = 1 << 20
# status 0, CHS 0/0/2, type 0xEE, end CHS max, LBA 1, size 0xFFFFFFFF
PROTECTIVE_MBR_RECORD = bytes.fromhex("000002 00 ee ffffff 01000000 ffffffff".replace(" ", ""))


def qemu_img(*args: str | Path) -> None:
    subprocess.run([QEMU_IMG, *map(str, args)], check=True, capture_output=True)


def qemu_virtual_size(path: Path, driver: str) -> int:
    out = subprocess.run(
        [QEMU_IMG, "info", "-f", driver, "--output=json", str(path)],
        check=True, capture_output=True,
    ).stdout
    size: int = json.loads(out)["virtual-size"]
    return size


def make_iso(path: Path, workdir: Path) -> None:
    src = workdir / "iso-src"
    src.mkdir(exist_ok=True)
    (src / "meta_data.json").write_text('{"uuid": "x"}')
    (src / "big.bin").write_bytes(random.Random(3).randbytes(300_000))
    if Path(MKISOFS).name == "xorriso":
        argv = [MKISOFS, "-as", "mkisofs"]
    else:
        argv = [MKISOFS]
    argv += ["-quiet", "-o", str(path), "-V", "config-2", "-J", "-r", str(src)]
    subprocess.run(argv, check=True, capture_output=True)


def chunks(data: bytes, seed: int, largest: int = 70_000) -> Iterator[bytes]:
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        n = rng.randint(1, largest)
        yield data[pos : pos + n]
        pos += n


def inspect(data: bytes, disk_format: str | None = None, container_format: str | None = None,
            seed: int = 0) -> Inspection:
    inspector = ImageInspector(disk_format, container_format)
    for piece in chunks(data, seed):
        inspector.feed(piece)
    return inspector.finish()


def rejected(data: bytes, disk_format: str | None, kind: type[ImageRejected] = ImageRejected,
             container_format: str | None = None) -> ImageRejected:
    inspector = ImageInspector(disk_format, container_format)
    for piece in chunks(data, 7):
        inspector.feed(piece)
    with pytest.raises(kind) as info:
        inspector.verify()
    assert info.value.reasons
    return info.value


# name -> (file, qemu driver, detected disk_format)
Images = dict[str, tuple[Path, str, str]]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    d = tmp_path_factory.mktemp("images")
    rng = random.Random(1)
    base = d / "base.raw"
    with open(base, "wb") as fh:  # data at the start, in the middle and near the end
        fh.write(rng.randbytes(MiB))
        fh.seek(3 * MiB)
        fh.write(rng.randbytes(MiB))
        fh.seek(9 * MiB - 4096)
        fh.write(rng.randbytes(4096))
    out: Images = {"raw": (base, "raw", "raw")}
    conversions = {
        "qcow2": ("qcow2", [], "qcow2"),
        "qcow2-v2": ("qcow2", ["-o", "compat=0.10"], "qcow2"),
        "qcow2-2m-clusters": ("qcow2", ["-o", "cluster_size=2M"], "qcow2"),
        "qcow2-512-clusters": ("qcow2", ["-o", "cluster_size=512"], "qcow2"),
        "vmdk-sparse": ("vmdk", [], "vmdk"),
        "vmdk-stream": ("vmdk", ["-o", "subformat=streamOptimized"], "vmdk"),
        "vhd-dynamic": ("vpc", [], "vhd"),
        "vhd-fixed": ("vpc", ["-o", "subformat=fixed"], "vhd"),
        "vhdx": ("vhdx", [], "vhdx"),
        "vdi": ("vdi", [], "vdi"),
        "ploop": ("parallels", [], "ploop"),
    }
    for name, (driver, opts, fmt) in conversions.items():
        path = d / f"{name}.img"
        qemu_img("convert", "-f", "raw", "-O", driver, *opts, base, path)
        out[name] = (path, driver, fmt)
    for driver, fmt, size in (("qcow2", "qcow2", "10G"), ("vpc", "vhd", "1000000000"),
                              ("vmdk", "vmdk", "3000000001"), ("vdi", "vdi", "123456789"),
                              ("vhdx", "vhdx", "5G")):
        path = d / f"empty-{driver}.img"
        qemu_img("create", "-f", driver, path, size)
        out[f"empty-{driver}"] = (path, driver, fmt)
    iso = d / "cd.iso"
    make_iso(iso, d)
    out["iso"] = (iso, "raw", "iso")
    return out


GOOD = ["raw", "qcow2", "qcow2-v2", "qcow2-2m-clusters", "qcow2-512-clusters", "vmdk-sparse",
        "vmdk-stream", "vhd-dynamic", "vhd-fixed", "vhdx", "vdi", "ploop", "iso",
        "empty-qcow2", "empty-vpc", "empty-vmdk", "empty-vdi", "empty-vhdx"]


@pytest.mark.parametrize("name", GOOD)
def test_detects_format_and_virtual_size_like_qemu(images: Images, name: str) -> None:
    path, driver, fmt = images[name]
    data = path.read_bytes()
    for seed in (1, 2):
        result = inspect(data, fmt, seed=seed)
        assert result.safe, result.problems
        assert result.format == fmt
        assert result.matches == (() if fmt == "raw" else (fmt,))
        assert result.virtual_size == qemu_virtual_size(path, driver)
        assert result.size == len(data)
    # Detection alone (no declared format) agrees, and verify() passes.
    inspector = ImageInspector()
    inspector.feed(data)
    assert inspector.verify().format == fmt


def test_amazon_formats_are_raw(images: Images) -> None:
    data = images["raw"][0].read_bytes()
    for fmt in ("ami", "ari", "aki"):
        assert inspect(data, fmt, fmt).safe
        rejected(images["qcow2"][0].read_bytes(), fmt, DiskFormatMismatch, fmt)


def test_partition_tables_are_fine_in_raw(images: Images) -> None:
    data = bytearray(images["raw"][0].read_bytes())
    data[510:512] = b"\x55\xaa"
    result = inspect(bytes(data), "raw")
    assert result.safe and result.details["partition_table"] == "mbr"
    data[512:520] = b"EFI PART"
    # A GPT needs a protective MBR in front of it: one 0xEE partition from LBA 1.
    data[446:510] = PROTECTIVE_MBR_RECORD + bytes(48)
    result = inspect(bytes(data), "raw")
    assert result.safe and result.details["partition_table"] == "gpt"
    assert result.format == "raw" and result.matches == ()


def test_memory_stays_bounded(images: Images) -> None:
    for name in GOOD:
        inspector = ImageInspector()
        for piece in chunks(images[name][0].read_bytes(), 5, largest=1 << 20):
            inspector.feed(piece)
        assert inspector.kept <= MAX_CAPTURE
        assert inspector.finish().safe


# -- the content must be what was declared -------------------------------------


@pytest.mark.parametrize("name", ["qcow2", "vmdk-sparse", "vmdk-stream", "vhd-dynamic",
                                  "vhd-fixed", "vhdx", "vdi", "ploop", "iso"])
def test_disguised_as_raw_is_refused(images: Images, name: str) -> None:
    path, _, fmt = images[name]
    err = rejected(path.read_bytes(), "raw", DiskFormatMismatch)
    assert f"disk_format is 'raw' but the data is a {fmt} image" in err.message
    assert f"declare disk_format={fmt}" in err.message


def test_qcow2_declared_vmdk_is_refused(images: Images) -> None:
    err = rejected(images["qcow2"][0].read_bytes(), "vmdk", DiskFormatMismatch)
    assert "but the data is a qcow2 image" in err.message


def test_iso_declared_qcow2_is_refused(images: Images) -> None:
    rejected(images["iso"][0].read_bytes(), "qcow2", DiskFormatMismatch)


def test_not_what_was_declared(images: Images) -> None:
    noise = random.Random(9).randbytes(300_000)
    err = rejected(noise, "qcow2", DiskFormatMismatch)
    assert "not in that format" in err.message
    assert inspect(noise, "raw").safe
    for fmt in ("vmdk", "vhd", "vhdx", "vdi", "iso", "ploop"):
        rejected(noise, fmt, DiskFormatMismatch)
    rejected(b"", "qcow2", DiskFormatMismatch)
    empty = inspect(b"", "raw")
    assert empty.safe and empty.virtual_size == 0


def test_formats_without_a_disk_format_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.qed"
    qemu_img("create", "-f", "qed", "-b", "/etc/passwd", "-F", "raw", path)
    err = rejected(path.read_bytes(), "raw", DiskFormatMismatch)
    assert "qed" in err.message


# -- qcow2 ---------------------------------------------------------------------


def test_qcow2_backing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "backed.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", path)
    err = rejected(path.read_bytes(), "qcow2", UnsafeImage)
    assert "has a backing file" in err.message and "qemu-img convert" in err.message
    # Declared raw, it is refused as a mismatch and the backing file is named too.
    err = rejected(path.read_bytes(), "raw", DiskFormatMismatch)
    assert "backing file" in err.message


def test_qcow2_external_data_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "split.qcow2"
    qemu_img("create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'data.raw'}", path, "1M")
    err = rejected(path.read_bytes(), "qcow2", UnsafeImage)
    assert "external data file" in err.message


def patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def test_qcow2_header_checks(images: Images) -> None:
    data = images["empty-qcow2"][0].read_bytes()
    incompat = struct.unpack_from(">Q", data, 72)[0]
    cases = {
        "unknown incompatible features": patched(data, 72, ">Q", incompat | 1 << 20),
        "external data file": patched(data, 72, ">Q", incompat | 1 << 2),
        "marked corrupt": patched(data, 72, ">Q", incompat | 1 << 1),
        "cluster_bits 30": patched(data, 20, ">I", 30),
        "version 7": patched(data, 4, ">I", 7),
        "backing file": patched(data, 8, ">Q", 4096),
        "backing file;": patched(data, 16, ">I", 11),
        "L1 table too small": patched(data, 24, ">Q", 1 << 55),
        "header_length": patched(data, 100, ">I", 4 << 20),
        "legacy AES": patched(data, 32, ">I", 1),
    }
    for reason, bad in cases.items():
        err = rejected(bad, "qcow2", UnsafeImage)
        assert reason in err.message, (reason, err.message)
    # A dirty (lazy refcounts) image is fine.
    assert inspect(patched(data, 72, ">Q", incompat | 1), "qcow2").safe


def test_qcow2_data_file_extension_past_the_head(images: Images) -> None:
    """A data-file extension hidden 64 KiB+ into a 2 MiB first cluster is still found."""
    data = bytearray(images["qcow2-2m-clusters"][0].read_bytes())
    at = struct.unpack_from(">I", data, 100)[0]
    filler = 70_000
    struct.pack_into(">II", data, at, 0x12345678, filler)
    at += 8 + filler
    name = b"/etc/passwd"
    struct.pack_into(">II", data, at, 0x44415441, len(name))
    data[at + 8 : at + 8 + len(name)] = name
    at += 8 + 16
    struct.pack_into(">II", data, at, 0, 0)
    inspector = ImageInspector("qcow2")
    for piece in chunks(bytes(data), 4, largest=5000):
        inspector.feed(piece)
    assert inspector.kept <= MAX_CAPTURE
    with pytest.raises(UnsafeImage, match="names an external data file"):
        inspector.verify()


def test_truncated_headers_are_refused(images: Images) -> None:
    for name, keep, fmt in (("qcow2", 50, "qcow2"), ("qcow2", 90, "qcow2"),
                            ("vmdk-sparse", 40, "vmdk"), ("vmdk-sparse", 700, "vmdk"),
                            ("vhd-dynamic", 300, "vhd"), ("vdi", 200, "vdi"),
                            ("vhdx", 100_000, "vhdx"), ("ploop", 30, "ploop")):
        data = images[name][0].read_bytes()[:keep]
        err = rejected(data, fmt, UnsafeImage)
        assert "truncated" in err.message or "could not be read" in err.message, err.message


# -- VMDK ----------------------------------------------------------------------

DESCRIPTOR = """# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="{create_type}"

# Extent description
RW 8 FLAT "/etc/passwd" 0

# The Disk Data Base
#DDB
ddb.virtualHWVersion = "4"
"""


def test_vmdk_descriptor_naming_a_host_file_is_refused() -> None:
    for create_type in ("monolithicFlat", "monolithicSparse"):
        data = DESCRIPTOR.format(create_type=create_type).encode()
        err = rejected(data, "vmdk", UnsafeImage)
        assert "'/etc/passwd'" in err.message and "outside itself" in err.message
        err = rejected(data, "raw", DiskFormatMismatch)
        assert "is a vmdk image" in err.message


def test_vmdk_monolithic_flat_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flat.vmdk"
    qemu_img("create", "-f", "vmdk", "-o", "subformat=monolithicFlat", path, "1M")
    err = rejected(path.read_bytes(), "vmdk", UnsafeImage)
    assert "createType 'monolithicFlat' is not accepted" in err.message
    assert "monolithicSparse and streamOptimized" in err.message


def edit_descriptor(data: bytes, old: bytes, new: bytes) -> bytes:
    offset, size = (v * 512 for v in struct.unpack_from("<QQ", data, 28))
    region = data[offset : offset + size]
    text = region.split(b"\x00", 1)[0]
    assert old in text
    text = text.replace(old, new)
    return data[:offset] + text.ljust(size, b"\x00") + data[offset + size :]


def test_vmdk_embedded_descriptor_checks(images: Images) -> None:
    data = images["vmdk-sparse"][0].read_bytes()
    own = b'"vmdk-sparse.img"'
    cases = {
        b'SPARSE "/etc/passwd"': (b'SPARSE ' + own, "not the image itself"),
        b'FLAT "vmdk-sparse.img" 0': (b'SPARSE ' + own, "FLAT extent"),
        b'vmfs': (b'monolithicSparse', "createType 'vmfs' is not accepted"),
        b'ffffffff\nparentFileNameHint="/etc/passwd"': (b'ffffffff', "names a parent"),
        b'SPARSE "vmdk-sparse.img"\nRW 8 FLAT "/etc/passwd" 0':
            (b'SPARSE ' + own, "lists 2 extents"),
    }
    for new, (old, reason) in cases.items():
        err = rejected(edit_descriptor(data, old, new), "vmdk", UnsafeImage)
        assert reason in err.message, (reason, err.message)


def test_vmdk_stream_footer_is_used(images: Images) -> None:
    """A streamOptimized VMDK whose header defers to its footer (GD at end)."""
    data = bytearray(images["vmdk-stream"][0].read_bytes())
    header = bytes(data[:512])
    struct.pack_into("<Q", data, 56, 0xFFFFFFFFFFFFFFFF)
    struct.pack_into("<Q", data, 12, 0)  # the header's capacity is no longer trusted
    footer = bytearray(header)
    struct.pack_into("<Q", footer, 12, 12345)
    data += b"\x00" * 512 + footer + b"\x00" * 512
    assert inspect(bytes(data), "vmdk").virtual_size == 12345 * 512
    del data[-1536:]
    err = rejected(bytes(data), "vmdk", UnsafeImage)
    assert "no footer" in err.message


# -- VHD, VDI --------------------------------------------------------------------


def vhd_footer_sum(footer: bytearray) -> None:
    footer[64:68] = b"\x00" * 4
    struct.pack_into(">I", footer, 64, ~sum(footer) & 0xFFFFFFFF)


def test_vhd_differencing_and_checksum(images: Images) -> None:
    data = bytearray(images["vhd-dynamic"][0].read_bytes())
    footer = bytearray(data[:512])
    struct.pack_into(">I", footer, 60, 4)
    vhd_footer_sum(footer)
    err = rejected(bytes(footer + data[512:]), "vhd", UnsafeImage)
    assert "differencing" in err.message
    data[40] ^= 1
    err = rejected(bytes(data), "vhd", UnsafeImage)
    assert "checksum" in err.message


def test_vdi_differencing_is_refused(images: Images) -> None:
    data = patched(images["vdi"][0].read_bytes(), 0x4C, "<I", 4)
    err = rejected(data, "vdi", UnsafeImage)
    assert "names a parent" in err.message


# -- several formats at once -----------------------------------------------------


def test_qcow2_with_an_iso_signature_is_ambiguous(images: Images) -> None:
    data = bytearray(images["empty-qcow2"][0].read_bytes())
    data[0x8000:0x8006] = b"\x01CD001"
    for declared in ("qcow2", "iso", "raw", None):
        err = rejected(bytes(data), declared, AmbiguousFormat)
        assert "several formats (qcow2, iso)" in err.message


def test_iso_hiding_a_qcow2_header_is_ambiguous(images: Images) -> None:
    iso = bytearray(images["iso"][0].read_bytes())
    qcow2 = images["empty-qcow2"][0].read_bytes()
    iso[:512] = qcow2[:512]  # the ISO system area is free for anything
    for declared in ("iso", "qcow2", None):
        rejected(bytes(iso), declared, AmbiguousFormat)


def test_hybrid_iso_with_partition_table_is_fine(images: Images) -> None:
    iso = bytearray(images["iso"][0].read_bytes())
    iso[510:512] = b"\x55\xaa"
    iso[512:520] = b"EFI PART"
    result = inspect(bytes(iso), "iso")
    assert result.safe and result.format == "iso"
    assert result.details["partition_table"] == "gpt"


# -- names, container formats, lifecycle -----------------------------------------


def test_unknown_names_are_refused() -> None:
    with pytest.raises(UnknownFormat, match="unknown disk_format 'qcow3'"):
        ImageInspector("qcow3")
    with pytest.raises(UnknownFormat, match="unknown container_format"):
        ImageInspector("raw", "zip")


def test_container_formats(images: Images) -> None:
    check_container_format("bare", "qcow2")
    check_container_format("ami", "ami")
    for container, disk in (("ami", "raw"), ("bare", "aki"), ("ari", "ami")):
        with pytest.raises(ContainerFormatMismatch, match="must be the same"):
            check_container_format(container, disk)
    with pytest.raises(ContainerFormatMismatch, match="not a tar archive"):
        check_container_format("ova", "vmdk", images["vmdk-sparse"][0].read_bytes()[:512])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(images["vmdk-sparse"][0], arcname="disk.vmdk")
    ova = buf.getvalue()
    check_container_format("ova", "vmdk", ova[:512])
    # The inspector applies it too; an archive is not compared with its disk_format.
    in_ova = inspect(ova, "vmdk", "ova")
    assert in_ova.safe and in_ova.virtual_size is None
    err = rejected(images["vmdk-sparse"][0].read_bytes(), "vmdk", ContainerFormatMismatch,
                   "ova")
    assert "tar" in err.message
    # ...but a hostile disk is still refused whatever the container claims.
    rejected(DESCRIPTOR.format(create_type="x").encode(), "vmdk", UnsafeImage, "docker")


def test_feed_after_finish_and_finish_twice(images: Images) -> None:
    inspector = ImageInspector("raw")
    inspector.feed(b"x" * 1000)
    first = inspector.finish()
    assert inspector.finish() is first and first.virtual_size == 1000
    with pytest.raises(RuntimeError):
        inspector.feed(b"more")
