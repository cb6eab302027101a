"""A corpus of valid and hostile disk images, made by the tests themselves.

``build(directory)`` writes every sample (small: a few hundred KiB each, made
with qemu-img, genisoimage and a few byte edits) and answers them by name.
Valid samples cover every accepted format; hostile ones every attack class
of issue 15 and the classes refused before it. For each hostile sample
``witness(sample)`` shows what makes it an attack: what qemu (or, for a
partition table, libblkid) reads from the refused bytes that differs from
a self-contained disk of the declared format: another file, another
format, or a refusal of its own.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

QEMU_IMG = shutil.which("qemu-img") or "qemu-img"
MKISOFS = shutil.which("genisoimage") or "genisoimage"
KiB, MiB = 1 << 10, 1 << 20
HOST_FILE = "/etc/passwd"
DRIVERS = {"raw": "raw", "iso": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc",
           "vhdx": "vhdx", "vdi": "vdi"}
VMDK_HEADER = "<4sIIQQQQIQQQ"


VALID = ("raw", "qcow2-v3", "qcow2-v2", "qcow2-compressed", "qcow2-zstd", "qcow2-extended-l2",
         "vmdk-sparse", "vmdk-stream", "vhd", "vhd-fixed", "vhdx", "vdi", "iso9660", "udf",
         "iso-gpt", "raw-gpt")
HOSTILE = (
    # the descriptor disagreements of issue 15, and the VMDK classes refused before it
    "vmdk-createtype-in-comment", "vmdk-two-createtypes", "vmdk-extent-across-lines",
    "vmdk-noaccess-extent", "vmdk-zero-size-extent", "vmdk-unknown-access-word",
    "vmdk-blank-line-doubles-extent", "vmdk-capacity-zero", "vmdk-parent-in-comment",
    "vmdk-parent-hint", "vmdk-descriptor-not-at-sector-1", "vmdk-descriptor-unterminated",
    "vmdk-descriptor-file",
    # backing and data files, unknown features, truncations, absurd sizes
    "qcow2-backing-absolute", "qcow2-backing-relative", "qcow2-backing-json", "qcow2-data-file",
    "qcow2-unknown-incompatible-bit", "qcow2-absurd-virtual-size", "qcow2-truncated",
    "vhdx-truncated",
    # looser than upstream: a qcow2 that cannot be a real disk, a GPT without a protective MBR
    "qcow2-header-only", "qcow2-l1-beyond-eof", "qcow2-absurd-l1-size",
    "gpt-bad-boot-flag", "gpt-extra-partition", "gpt-bad-start-chs",
    # other formats, format mismatches, polyglots
    "qed-declared-qcow2", "qed-declared-raw", "luks-declared-raw", "qcow2-declared-raw",
    "vmdk-declared-qcow2", "iso-with-qcow2-header", "qcow2-with-iso-descriptor",
)


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path
    disk_format: str
    hostile: bool
    kind: str  # the attack class (hostile) or the format variant (valid)


def qemu_img(*args: str | Path) -> None:
    r = subprocess.run([QEMU_IMG, *map(str, args)], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 0, f"qemu-img {' '.join(map(str, args))}: {r.stderr}"


def qemu_info(path: Path, driver: str | None) -> tuple[dict[str, object] | None, str]:
    """``qemu-img info --output=json`` (``-f driver``, or qemu's probe): (answer, stderr)."""
    argv = [QEMU_IMG, "info", "--output=json", "--force-share"]
    if driver:
        argv += ["-f", driver]
    r = subprocess.run([*argv, str(path)], capture_output=True, text=True, timeout=60,
                       check=False)
    return (json.loads(r.stdout) if r.returncode == 0 else None), r.stderr.strip()


# -- byte edits -------------------------------------------------------------------------


def _raw(directory: Path) -> Path:
    path = directory / "base.raw"
    if not path.exists():
        rng = random.Random(15)
        data = bytearray(MiB)
        data[:64 * KiB] = rng.randbytes(64 * KiB)
        data[700 * KiB : 720 * KiB] = rng.randbytes(20 * KiB)
        path.write_bytes(bytes(data))
    return path


def _convert(directory: Path, name: str, driver: str, *opts: str) -> Path:
    path = directory / name
    qemu_img("convert", "-f", "raw", "-O", driver, *opts, _raw(directory), path)
    return path


def _edit(src: Path, dst: Path, edit: Callable[[bytearray], None]) -> Path:
    data = bytearray(src.read_bytes())
    edit(data)
    dst.write_bytes(bytes(data))
    return dst


def set_vmdk_descriptor(data: bytearray, text: str, *, capacity: int | None = None,
                     desc_offset: int | None = None) -> None:
    """Rewrite a sparse VMDK's embedded descriptor (and optionally its header fields)."""
    h = list(struct.unpack_from(VMDK_HEADER, data))
    if capacity is not None:
        h[3] = capacity
    if desc_offset is not None:
        h[5] = desc_offset
    struct.pack_into(VMDK_HEADER, data, 0, *h)
    offset, size = h[5] * 512, h[6] * 512
    raw = text.encode()
    assert len(raw) < size
    data[offset : offset + size] = raw.ljust(size, b"\x00")


DESC_HEAD = '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n'
DDB = '\n# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = "4"\nddb.adapterType = "ide"\n'
# qemu reads this extent (RW, across lines); a line-by-line reader sees three odd lines.
SPANNING_FLAT = f'RW\n8 FLAT\n"{HOST_FILE}" 0\n'


def _gpt(data: bytearray, sectors: int) -> None:
    """A valid GPT (protective MBR, header, empty entry array) over ``sectors`` sectors."""
    data[446:510] = bytes.fromhex("00000200ee") + b"\xff\xff\xff" + struct.pack(
        "<II", 1, min(sectors - 1, 0xFFFFFFFF)) + bytes(48)
    data[510:512] = b"\x55\xaa"
    entries = bytes(128 * 128)
    last = sectors - 1
    header = bytearray(struct.pack(
        "<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, 1, last, 34, last - 33,
        bytes(range(16)), 2, 128, 128, zlib.crc32(entries)))
    struct.pack_into("<I", header, 16, zlib.crc32(bytes(header)))
    data[512 : 512 + 92] = header
    data[1024 : 1024 + len(entries)] = entries


# -- the corpus -------------------------------------------------------------------------


def _valid(d: Path) -> list[Sample]:
    out = [Sample("raw", _raw(d), "raw", False, "raw")]
    for name, fmt, driver, opts in (
        ("qcow2-v3", "qcow2", "qcow2", ()),
        ("qcow2-v2", "qcow2", "qcow2", ("-o", "compat=0.10")),
        ("qcow2-compressed", "qcow2", "qcow2", ("-c",)),
        ("qcow2-zstd", "qcow2", "qcow2", ("-c", "-o", "compression_type=zstd")),
        ("qcow2-extended-l2", "qcow2", "qcow2", ("-o", "extended_l2=on")),
        ("vmdk-sparse", "vmdk", "vmdk", ()),
        ("vmdk-stream", "vmdk", "vmdk", ("-o", "subformat=streamOptimized")),
        ("vhd", "vhd", "vpc", ()),
        ("vhd-fixed", "vhd", "vpc", ("-o", "subformat=fixed")),
        ("vhdx", "vhdx", "vhdx", ()),
        ("vdi", "vdi", "vdi", ()),
    ):
        out.append(Sample(name, _convert(d, f"{name}.img", driver, *opts), fmt, False, name))
    src = d / "iso-src"
    src.mkdir(exist_ok=True)
    (src / "meta_data.json").write_text('{"uuid": "corpus"}')
    for name, opts in (("iso9660", ["-J", "-r"]), ("udf", ["-udf"])):
        path = d / f"{name}.iso"
        subprocess.run([MKISOFS, "-quiet", "-V", "config-2", *opts, "-o", str(path), str(src)],
                       check=True, capture_output=True, timeout=60)
        out.append(Sample(name, path, "iso", False, name))
    # Decided (docs/image-safety.md): a hybrid ISO with a protective MBR and GPT is an ISO.
    iso = out[-2].path
    out.append(Sample("iso-gpt", _edit(iso, d / "iso-gpt.iso",
                                       lambda b: _gpt(b, len(b) // 512)), "iso", False, "iso-gpt"))
    out.append(Sample("raw-gpt", _edit(_raw(d), d / "raw-gpt.img",
                                       lambda b: _gpt(b, len(b) // 512)), "raw", False, "raw-gpt"))
    return out


def _hostile_vmdk(d: Path) -> list[Sample]:
    sparse = _convert(d, "vmdk-base.vmdk", "vmdk")
    self_name = "self.vmdk"
    cap0 = {"capacity": 0}

    def hidden(first_createtype: str, self_extent: str) -> str:
        """qemu's createType first, ours second; our extent (qemu skips it), then
        qemu's, spread over lines that a line-by-line reader does not know."""
        return (DESC_HEAD + first_createtype + '\ncreateType="monolithicSparse"\n'
                + f'{self_extent} "{self_name}"\n' + SPANNING_FLAT + DDB)

    comment = '# createType="monolithicFlat"'
    variants: dict[str, tuple[str, dict[str, int]]] = {
        "vmdk-createtype-in-comment": (hidden(comment, "RDONLY 2048 SPARSE"), cap0),
        "vmdk-two-createtypes": (hidden('createType="monolithicFlat"', "RDONLY 2048 SPARSE"),
                                 cap0),
        "vmdk-extent-across-lines": (
            DESC_HEAD + 'createType="monolithicFlat"\n' + SPANNING_FLAT + DDB, cap0),
        "vmdk-noaccess-extent": (hidden(comment, "NOACCESS 2048 SPARSE"), cap0),
        "vmdk-zero-size-extent": (hidden(comment, "RW 0 SPARSE"), cap0),
        "vmdk-unknown-access-word": (hidden(comment, "wronly 2048 SPARSE"), cap0),
        "vmdk-blank-line-doubles-extent": (
            DESC_HEAD + 'createType="monolithicFlat"\n\n' + f'RW 8 FLAT "{HOST_FILE}" 0\n' + DDB,
            cap0),
        "vmdk-capacity-zero": (
            DESC_HEAD + 'createType="monolithicFlat"\n' + f'RW 8 FLAT "{HOST_FILE}" 0\n' + DDB,
            cap0),
        "vmdk-parent-in-comment": (
            DESC_HEAD + f'#parentFileNameHint="{HOST_FILE}"\ncreateType="monolithicSparse"\n'
            f'RW 2048 SPARSE "{self_name}"\n' + DDB, {}),
        "vmdk-parent-hint": (
            DESC_HEAD + f'parentFileNameHint="{HOST_FILE}"\ncreateType="monolithicSparse"\n'
            f'RW 2048 SPARSE "{self_name}"\n' + DDB, {}),
    }
    out = []
    for name, (text, header) in variants.items():
        path = _edit(sparse, d / f"{name}.vmdk",
                     lambda b, t=text, h=header: set_vmdk_descriptor(b, t, **h))
        out.append(Sample(name, path, "vmdk", True, "vmdk-descriptor"))

    def moved_descriptor(b: bytearray) -> None:
        # The header points at a clean descriptor; qemu reads its parent at sector 1.
        clean = (DESC_HEAD + 'createType="monolithicSparse"\n'
                 f'RW 2048 SPARSE "{self_name}"\n' + DDB)
        b.extend(bytes(20 * 512))  # past the grain tables
        set_vmdk_descriptor(b, clean, desc_offset=len(b) // 512 - 20)
        b[512:1024] = f'parentFileNameHint="{HOST_FILE}"\n'.encode().ljust(512, b"\x00")

    def unterminated(b: bytearray) -> None:
        # A one-sector descriptor with no NUL: qemu reads on into the next sectors.
        text = DESC_HEAD + 'createType="monolithicSparse"\n' + f'RW 2048 SPARSE "{self_name}"\n'
        text += "#" * (511 - len(text)) + "\n"
        struct.pack_into("<Q", b, 36, 1)
        b[512:1024] = text.encode()
        b[1024:1536] = f'parentFileNameHint="{HOST_FILE}"\n'.encode().ljust(512, b"\x00")

    for name, edit in (("vmdk-descriptor-not-at-sector-1", moved_descriptor),
                       ("vmdk-descriptor-unterminated", unterminated)):
        out.append(Sample(name, _edit(sparse, d / f"{name}.vmdk", edit), "vmdk", True,
                          "vmdk-descriptor"))
    flat = d / "flat.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", flat, "1M")
    text = flat.read_text().replace('"flat-flat.vmdk"', f'"{HOST_FILE}"')
    (d / "vmdk-descriptor-file.vmdk").write_text(text)
    out.append(Sample("vmdk-descriptor-file", d / "vmdk-descriptor-file.vmdk", "vmdk", True,
                      "vmdk-descriptor"))
    return out


def _qcow2_field(fmt: str, offset: int, value: int) -> Callable[[bytearray], None]:
    return lambda b: struct.pack_into(fmt, b, offset, value)


def _hostile_other(d: Path, iso: Path) -> list[Sample]:
    out = []
    qcow2 = _convert(d, "qcow2-base.qcow2", "qcow2")

    def add(name: str, path: Path, fmt: str, kind: str) -> None:
        out.append(Sample(name, path, fmt, True, kind))

    for name, backing, fmt in (
        ("qcow2-backing-absolute", HOST_FILE, "raw"),
        ("qcow2-backing-relative", "base.raw", "raw"),
        ("qcow2-backing-json",
         'json:{"driver": "raw", "file": {"driver": "file", "filename": "' + HOST_FILE + '"}}',
         "raw"),
    ):
        path = d / f"{name}.qcow2"
        qemu_img("create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", fmt, path, "1M")
        add(name, path, "qcow2", "backing-file")
    data_file = d / "qcow2-data-file.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"data_file={d / 'external.raw'}",
             data_file, "1M")
    add("qcow2-data-file", data_file, "qcow2", "data-file")
    add("qcow2-unknown-incompatible-bit",
        _edit(qcow2, d / "incompat.qcow2", _qcow2_field(">Q", 72, 1 << 40)), "qcow2",
        "unknown-feature")
    add("qcow2-absurd-virtual-size",
        _edit(qcow2, d / "absurd-size.qcow2", _qcow2_field(">Q", 24, 1 << 62)), "qcow2",
        "absurd-size")
    add("qcow2-truncated", _edit(qcow2, d / "truncated.qcow2", lambda b: b.__delitem__(
        slice(60, None))), "qcow2", "truncation")
    add("vhdx-truncated", _edit(_convert(d, "vhdx-base.vhdx", "vhdx"), d / "truncated.vhdx",
                                lambda b: b.__delitem__(slice(200 * KiB, None))),
        "vhdx", "truncation")
    # Looser than upstream: a qcow2 that cannot be a real disk.
    add("qcow2-header-only", _edit(qcow2, d / "header-only.qcow2",
                                   lambda b: b.__delitem__(slice(512, None))),
        "qcow2", "qcow2-implausible")
    add("qcow2-l1-beyond-eof",
        _edit(qcow2, d / "l1-beyond.qcow2", _qcow2_field(">Q", 40, 1 << 40)), "qcow2",
        "qcow2-implausible")
    add("qcow2-absurd-l1-size",
        _edit(qcow2, d / "l1-absurd.qcow2", _qcow2_field(">I", 36, 1 << 30)), "qcow2",
        "qcow2-implausible")
    # Other formats qemu reads, under a declared one.
    qed = d / "backed.qed"
    qemu_img("create", "-q", "-f", "qed", "-u", "-b", HOST_FILE, "-F", "raw", qed, "1M")
    add("qed-declared-qcow2", qed, "qcow2", "foreign-format")
    add("qed-declared-raw", qed, "raw", "foreign-format")
    luks = d / "disk.luks"
    for attempt in range(5):  # a short PBKDF benchmark may measure no CPU time: retry
        try:
            qemu_img("create", "-q", "-f", "luks", "--object", "secret,id=s0,data=corpus",
                     "-o", f"key-secret=s0,iter-time={20 << attempt}", luks, "1M")
            break
        except AssertionError:
            if attempt == 4:
                raise
    add("luks-declared-raw", luks, "raw", "foreign-format")
    backed = out[0].path
    add("qcow2-declared-raw", backed, "raw", "format-mismatch")
    add("vmdk-declared-qcow2", _convert(d, "mismatch.vmdk", "vmdk"), "qcow2", "format-mismatch")
    add("iso-with-qcow2-header", _edit(iso, d / "polyglot.iso",
                                       lambda b: b.__setitem__(slice(0, 512), backed.read_bytes()
                                                               [:512])), "iso", "polyglot")
    add("qcow2-with-iso-descriptor",
        _edit(qcow2, d / "polyglot.qcow2",
              lambda b: b.__setitem__(slice(0x8000, 0x8006), b"\x01CD001")), "qcow2", "polyglot")
    # Looser than upstream: a GPT whose protective MBR is not one.
    for name, edit in (
        ("gpt-bad-boot-flag", lambda b: b.__setitem__(446, 0x12)),
        ("gpt-extra-partition", lambda b: b.__setitem__(slice(462, 478), bytes.fromhex(
            "00010100" "83" "feffff" "00080000" "00080000"))),
        ("gpt-bad-start-chs", lambda b: b.__setitem__(slice(447, 450), b"\x01\x01\x00")),
    ):
        def gpt_then(b: bytearray, e: Callable[[bytearray], None] = edit) -> None:
            _gpt(b, len(b) // 512)
            e(b)

        add(name, _edit(_raw(d), d / f"{name}.img", gpt_then), "raw", "gpt-protective-mbr")
    return out


def build(directory: Path) -> dict[str, Sample]:
    """Write every sample into ``directory``; samples by name."""
    valid = _valid(directory)
    iso = next(s.path for s in valid if s.name == "iso9660")
    samples = [*valid, *_hostile_vmdk(directory), *_hostile_other(directory, iso)]
    out = {s.name: s for s in samples}
    assert set(out) == {*VALID, *HOSTILE}, set(out) ^ {*VALID, *HOSTILE}
    return out


# -- what makes a hostile sample an attack ---------------------------------------------


def _blkid_pttype(path: Path) -> str:
    r = subprocess.run(["blkid", "-p", "-o", "value", "-s", "PTTYPE", str(path)],
                       capture_output=True, text=True, timeout=60, check=False)
    return r.stdout.strip()


def _mbr_records(path: Path) -> list[tuple[int, bytes, int, int]]:
    """(boot flag, start CHS, type, start LBA) of each used MBR partition record."""
    mbr = path.read_bytes()[:512]
    out = []
    for i in range(4):
        rec = mbr[446 + 16 * i : 462 + 16 * i]
        if rec[4]:
            out.append((rec[0], rec[1:4], rec[4], struct.unpack_from("<I", rec, 8)[0]))
    return out


def witness(sample: Sample) -> str | None:
    """What qemu (or libblkid) reads from the sample that a self-contained disk of the
    declared format would not give; None when nothing differs."""
    driver = DRIVERS[sample.disk_format]
    own = str(sample.path.resolve())
    if sample.kind == "gpt-protective-mbr":
        # qemu reads these as raw either way: what differs is the disk's partitioning,
        # which libblkid takes from the GPT while the MBR in front of it says otherwise.
        pttype = _blkid_pttype(sample.path)
        mbr = _mbr_records(sample.path)
        if pttype == "gpt" and mbr != [(0x00, b"\x00\x02\x00", 0xEE, 1)]:
            return f"libblkid reads a GPT, but the MBR holds the partitions {mbr}"
        return None
    info, err = qemu_info(sample.path, driver)
    if info is None:
        return f"qemu-img refuses it as {driver}: {err}"
    specific = info.get("format-specific")
    sdata = specific.get("data", {}) if isinstance(specific, dict) else {}
    assert isinstance(sdata, dict)
    backing = info.get("full-backing-filename") or info.get("backing-filename")
    if backing:
        return f"qemu-img opens the backing file {backing}"
    if sdata.get("data-file"):
        return f"qemu-img opens the data file {sdata['data-file']}"
    extents = [str(Path(str(e.get("filename"))).resolve()) for e in sdata.get("extents", [])]
    if extents and extents != [own]:
        return f"qemu-img opens the extents {extents}"
    probed, _ = qemu_info(sample.path, None)
    if probed is not None and probed.get("format") not in (driver, "raw"):
        return f"qemu's probe reads it as {probed.get('format')}, not {driver}"
    check = subprocess.run([QEMU_IMG, "check", "-f", driver, str(sample.path)],
                           capture_output=True, text=True, timeout=60, check=False)
    if driver != "raw" and check.returncode not in (0, 63):  # 63: check not supported
        return f"qemu-img check finds it broken (exit status {check.returncode})"
    if sample.kind == "polyglot":
        fs = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", str(sample.path)],
                            capture_output=True, text=True, timeout=60, check=False)
        if fs.stdout.strip() and probed is not None:
            return (f"qemu reads a {probed.get('format')} image, libblkid an "
                    f"{fs.stdout.strip()} filesystem")
    return None
