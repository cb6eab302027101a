"""VMDK: only ``monolithicSparse`` and ``streamOptimized``, whose embedded descriptor
names one SPARSE extent (the file itself) and no parent; a descriptor-only
VMDK (a text file) always names other files and is refused.

The header must be one qemu reads as a sparse image (a capacity, the
descriptor at sector 1, where qemu looks for a parent); the descriptor text
is read by ``vmdk_descriptor``, which refuses anything qemu could read
otherwise."""

from __future__ import annotations

from diskimage.capture import (
    MAX_VIRTUAL_SIZE,
    SECTOR,
    Capture,
    Findings,
    dedupe,
    header,
    truncated,
    unpack,
)
from diskimage.formats import vmdk_descriptor as descriptor
from diskimage.formats.vmdk_descriptor import (
    ALLOWED_VMDK_CREATE_TYPES,
    QEMU_DESCRIPTOR_OFFSET,
    QEMU_DESCRIPTOR_READ,
)

MAX_VMDK_DESCRIPTOR = 1024 * 1024

VMDK_MAGIC = b"KDMV"
VMDK_GD_AT_END = 0xFFFFFFFFFFFFFFFF
_VMDK_HEADER = "<4sIIQQQQIQQQ"  # magic .. overhead: 72 bytes
VMDK_FLAG_COMPRESSED = 1 << 16


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


def _check_create_type(create_type: str | None, f: Findings) -> None:
    if create_type is not None:
        f.details["vmdk_create_type"] = create_type
    if create_type not in ALLOWED_VMDK_CREATE_TYPES:
        f.problems.append(
            f"VMDK createType {create_type or '(missing)'!r} is not accepted; only "
            + " and ".join(ALLOWED_VMDK_CREATE_TYPES)
            + " are (convert with `qemu-img convert -O vmdk -o subformat=streamOptimized`)"
        )


def _inspect_text(cap: Capture, f: Findings) -> Findings:
    """A descriptor-only VMDK (a text file): always refused, naming what it refers to."""
    text = cap.head().split(b"\x00", 1)[0].decode("latin-1")
    d = descriptor.parse(text)
    f.virtual_size = sum(e.sectors for e in d.extents) * SECTOR
    _check_create_type(d.create_type, f)
    if d.problems and "parent" in " ".join(d.problems):
        f.problems.append("the VMDK descriptor names a parent disk (a backing file)")
    names = [e.name for e in d.extents if e.name]
    f.problems.append(
        "a descriptor-only VMDK is not a self-contained image: it refers to extent files"
        + (f" ({', '.join(repr(n) for n in names[:4])})" if names else "")
        + " outside itself; upload a monolithicSparse or streamOptimized VMDK"
    )
    return dedupe(f)


def inspect_vmdk(cap: Capture) -> Findings:
    f = Findings()
    if cap.head(4) != VMDK_MAGIC:
        return _inspect_text(cap, f)
    h = header(cap, 72, "VMDK", f)
    if h is None:
        return f
    (_m, version, flags, capacity, grain, desc_offset, desc_size, _gtes, _rgd, gd_offset,
     _overhead) = unpack(_VMDK_HEADER, h)
    if gd_offset == VMDK_GD_AT_END:
        # qemu then takes every header field from the footer.
        footer = cap.footer(1024, 512)
        if footer is None or footer[:4] != VMDK_MAGIC:
            f.problems.append("the streamOptimized VMDK has no footer at its end")
        else:
            if unpack("<QQ", footer, 28) != (desc_offset, desc_size):
                f.problems.append("the VMDK footer and header disagree about the descriptor")
            (_m, version, flags, capacity, grain, *_rest) = unpack(_VMDK_HEADER, footer)
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
    if capacity == 0:
        f.problems.append("the VMDK header's capacity is 0, which makes qemu read the "
                          "embedded descriptor as a descriptor file naming other files")
    if not desc_offset or not desc_size:
        f.problems.append("the VMDK has no embedded descriptor, so its type cannot be checked")
        return dedupe(f)
    if desc_offset != 1:
        f.problems.append(f"the VMDK descriptor is at sector {desc_offset}, but qemu reads "
                          "the one at sector 1 for a parent; only sector 1 is accepted")
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
    text = raw.split(b"\x00", 1)[0].decode("latin-1")
    at_qemu = cap.head(QEMU_DESCRIPTOR_OFFSET + QEMU_DESCRIPTOR_READ)[QEMU_DESCRIPTOR_OFFSET:]
    if desc_offset == 1 and at_qemu.split(b"\x00", 1)[0].decode("latin-1") != text:
        f.problems.append("the VMDK descriptor does not end inside its region, so qemu "
                          "reads more text than the descriptor holds")
    d = descriptor.parse_embedded(text, capacity)
    _check_create_type(d.create_type, f)
    expected = "streamOptimized" if flags & VMDK_FLAG_COMPRESSED else "monolithicSparse"
    if d.create_type in ALLOWED_VMDK_CREATE_TYPES and d.create_type != expected:
        f.problems.append(f"the VMDK descriptor says createType {d.create_type!r} but the "
                          f"header is {expected} (qemu reads the header)")
    f.problems.extend(d.problems)
    return dedupe(f)
