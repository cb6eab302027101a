"""VMDK: only ``monolithicSparse`` and ``streamOptimized``, whose embedded descriptor
names one SPARSE extent (the file itself) and no parent; a descriptor-only
VMDK (a text file) always names other files and is refused."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from diskimage.capture import (
    MAX_VIRTUAL_SIZE,
    SECTOR,
    Capture,
    Findings,
    dedupe,
    truncated,
    uint,
    unpack,
)

MAX_VMDK_DESCRIPTOR = 1024 * 1024
ALLOWED_VMDK_CREATE_TYPES = ("monolithicSparse", "streamOptimized")

VMDK_MAGIC = b"KDMV"
VMDK_GD_AT_END = 0xFFFFFFFFFFFFFFFF
_VMDK_HEADER = "<4sIIQQQQIQQQ"  # magic .. overhead: 72 bytes
_EXTENT_RE = re.compile(
    r'^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$'
)
_KV_RE = re.compile(r'^([A-Za-z0-9_.]+)\s*=\s*"?([^"]*)"?\s*$')


def is_vmdk_text(head: bytes) -> bool:
    """True when the start reads as a VMDK text descriptor, as qemu's probe sees it."""
    if head.startswith(b"# Disk DescriptorFile"):
        return True
    for line in head[:2048].split(b"\n"):
        text = line.strip()
        if not text or text.startswith(b"#"):
            continue
        return text in (b"version=1", b"version=2", b"version=3")
    return False


def plan_vmdk(cap: Capture) -> bool:
    h = cap.read(0, 72)
    if h is not None:
        desc_offset, desc_size = unpack("<QQ", h, 28)
        if desc_offset and 0 < desc_size * SECTOR <= MAX_VMDK_DESCRIPTOR:
            cap.want(desc_offset * SECTOR, desc_size * SECTOR, "the VMDK descriptor")
    return True


@dataclass
class _Descriptor:
    create_type: str | None = None
    extents: list[tuple[str, int, str, str | None]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)


def _parse_descriptor(text: str) -> _Descriptor:
    d = _Descriptor()
    for raw_line in text.splitlines():
        line = raw_line.strip().rstrip("\x00").strip()
        if not line or line.startswith("#"):
            continue
        m = _EXTENT_RE.match(line)
        if m:
            d.extents.append((m.group(1), int(m.group(2)), m.group(3).upper(), m.group(4)))
            continue
        kv = _KV_RE.match(line)
        if kv:
            d.keys[kv.group(1)] = kv.group(2)
    d.create_type = d.keys.get("createType")
    return d


def _check_descriptor(d: _Descriptor, embedded: bool, f: Findings) -> None:
    if d.create_type is not None:
        f.details["vmdk_create_type"] = d.create_type
    if d.create_type not in ALLOWED_VMDK_CREATE_TYPES:
        f.problems.append(
            f"VMDK createType {d.create_type or '(missing)'!r} is not accepted; only "
            + " and ".join(ALLOWED_VMDK_CREATE_TYPES)
            + " are (convert with `qemu-img convert -O vmdk -o subformat=streamOptimized`)"
        )
    if "parentFileNameHint" in d.keys or d.keys.get("parentCID", "ffffffff").lower() != "ffffffff":
        f.problems.append("the VMDK descriptor names a parent disk (a backing file)")
    if not embedded:
        names = [name for _, _, _, name in d.extents if name]
        f.problems.append(
            "a descriptor-only VMDK is not a self-contained image: it refers to extent files"
            + (f" ({', '.join(repr(n) for n in names[:4])})" if names else "")
            + " outside itself; upload a monolithicSparse or streamOptimized VMDK"
        )
        return
    if len(d.extents) != 1:
        f.problems.append(f"the VMDK descriptor lists {len(d.extents)} extents; one is allowed")
    for _, _, kind, name in d.extents:
        if kind != "SPARSE":
            f.problems.append(f"the VMDK descriptor names a {kind} extent; only SPARSE is allowed")
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            f.problems.append(
                f"the VMDK descriptor names the extent file {name!r}, not the image itself"
            )


def inspect_vmdk(cap: Capture) -> Findings:
    f = Findings()
    head = cap.head(4)
    if head != VMDK_MAGIC:
        text = cap.head().split(b"\x00", 1)[0].decode("latin-1")
        d = _parse_descriptor(text)
        f.virtual_size = sum(sectors for _, sectors, _, _ in d.extents) * SECTOR
        _check_descriptor(d, embedded=False, f=f)
        return dedupe(f)
    h = cap.read(0, 72)
    if h is None:
        f.problems.append(truncated("VMDK", cap))
        return f
    (_m, version, _flags, capacity, grain, desc_offset, desc_size, _gtes, _rgd, gd_offset,
     _overhead) = unpack(_VMDK_HEADER, h)
    if gd_offset == VMDK_GD_AT_END:
        footer = cap.footer(1024, 512)
        if footer is None or footer[:4] != VMDK_MAGIC:
            f.problems.append("the streamOptimized VMDK has no footer at its end")
        else:
            if unpack("<QQ", footer, 28) != (desc_offset, desc_size):
                f.problems.append("the VMDK footer and header disagree about the descriptor")
            capacity = uint("<Q", footer, 12)
    implausible = []
    if version not in (1, 2, 3):
        implausible.append(f"version {version}")
    if grain == 0 or grain & (grain - 1) or grain > 0x200000:
        implausible.append(f"grain size {grain}")
    if capacity * SECTOR > MAX_VIRTUAL_SIZE:
        implausible.append(f"capacity {capacity}")
    if implausible:
        f.problems.append("the VMDK header is implausible (" + ", ".join(implausible) + ")")
    f.virtual_size = capacity * SECTOR
    if not desc_offset or not desc_size:
        f.problems.append("the VMDK has no embedded descriptor, so its type cannot be checked")
        return dedupe(f)
    if desc_size * SECTOR > MAX_VMDK_DESCRIPTOR:
        f.problems.append(f"the VMDK descriptor is larger than {MAX_VMDK_DESCRIPTOR} bytes")
        return dedupe(f)
    raw = cap.read(desc_offset * SECTOR, desc_size * SECTOR)
    if raw is None:
        if cap.missed(desc_offset * SECTOR, desc_size * SECTOR):
            f.problems.append("the VMDK descriptor lies where it could not be read")
        else:
            f.problems.append(truncated("VMDK descriptor", cap))
        return dedupe(f)
    _check_descriptor(_parse_descriptor(raw.split(b"\x00", 1)[0].decode("latin-1")), True, f)
    return dedupe(f)
