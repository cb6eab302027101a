"""Formats read from one fixed header or none: VDI, ploop, ISO 9660 / UDF, raw."""

from __future__ import annotations

from diskimage.capture import MAX_VIRTUAL_SIZE, SECTOR, Capture, Findings, header, uint

# -- VDI, ploop ---------------------------------------------------------------

VDI_SIGNATURE = 0xBEDA107F
PLOOP_MAGICS = (b"WithoutFreeSpace", b"WithouFreSpacExt")


def inspect_vdi(cap: Capture) -> Findings:
    f = Findings()
    h = header(cap, 0x1C8, "VDI", f)
    if h is None:
        return f
    version, image_type = uint("<I", h, 0x44), uint("<I", h, 0x4C)
    f.details["vdi_image_type"] = image_type
    if version != 0x00010001:
        f.problems.append(f"the VDI header version 0x{version:08x} is not supported")
    if image_type not in (1, 2) or h[0x1B8:0x1C8].strip(b"\x00"):
        f.problems.append("the VDI is a differencing or undo image that names a parent")
    f.virtual_size = uint("<Q", h, 0x170)
    if f.virtual_size > MAX_VIRTUAL_SIZE or f.virtual_size % SECTOR:
        f.problems.append(f"the VDI virtual size {f.virtual_size} is implausible")
    return f


def inspect_ploop(cap: Capture) -> Findings:
    f = Findings()
    h = header(cap, 64, "ploop", f)
    if h is None:
        return f
    version, sectors = uint("<I", h, 16), uint("<Q", h, 36)
    if version != 2:
        f.problems.append(f"the ploop header version {version} is not supported")
    if h[:16] == PLOOP_MAGICS[0]:
        sectors &= 0xFFFFFFFF
    f.virtual_size = sectors * SECTOR
    if f.virtual_size > MAX_VIRTUAL_SIZE:
        f.problems.append(f"the ploop virtual size {f.virtual_size} is implausible")
    return f


# -- ISO 9660 / UDF, raw ------------------------------------------------------

ISO_DESCRIPTORS = 0x8000
ISO_SECTOR = 2048


def iso_kind(head: bytes) -> str | None:
    """"iso9660", "udf" or None, from the volume descriptors at 32 KiB."""
    if head[ISO_DESCRIPTORS + 1 : ISO_DESCRIPTORS + 6] == b"CD001":
        return "iso9660"
    for i in range(16):
        at = ISO_DESCRIPTORS + i * ISO_SECTOR + 1
        if head[at : at + 5] in (b"NSR02", b"NSR03"):
            return "udf"
    return None


def inspect_iso(cap: Capture) -> Findings:
    head = cap.head()
    f = Findings(virtual_size=cap.size)  # qemu reads an ISO as raw: its size is the file's
    f.details["iso_kind"] = iso_kind(head) or ""
    pvd = ISO_DESCRIPTORS
    if head[pvd : pvd + 1] == b"\x01" and head[pvd + 1 : pvd + 6] == b"CD001":
        blocks, block_size = uint("<I", head, pvd + 80), uint("<H", head, pvd + 128)
        f.details["iso_volume_size"] = blocks * block_size
    return f


def inspect_raw(cap: Capture) -> Findings:
    return Findings(virtual_size=cap.size)


def partition_table(head: bytes) -> str | None:
    if head[512:520] == b"EFI PART":
        return "gpt"
    if head[510:512] == b"\x55\xaa":
        return "mbr"
    return None


MBR_SIGNATURE = b"\x55\xaa"
MBR_PARTITIONS = 446  # four 16-byte records
GPT_PROTECTIVE = 0xEE
PROTECTIVE_START_CHS = b"\x00\x02\x00"  # head 0, sector 2, cylinder 0: LBA 1


def protective_mbr_problems(head: bytes) -> list[str]:
    """Why the MBR in front of a GPT is not a protective MBR (UEFI 2.x, 5.2.3).

    A protective MBR has one partition record, of type 0xEE, starting at LBA 1
    (CHS 0/0/2), not marked bootable (0x80 is tolerated: parted's
    ``pmbr_boot`` sets it for some BIOSes); the other three records are
    empty. Anything else (a hybrid MBR, a second partition, a bad boot flag)
    partitions the disk two ways, and which one a reader takes depends on it.
    """
    if head[510:512] != MBR_SIGNATURE:
        return ["the GPT disk has no protective MBR (no boot signature at byte 510)"]
    problems = []
    protective = 0
    for i in range(4):
        rec = head[MBR_PARTITIONS + 16 * i : MBR_PARTITIONS + 16 * (i + 1)]
        boot, ostype, start = rec[0], rec[4], uint("<I", rec, 8)
        if ostype == 0:
            if any(rec):
                problems.append(f"the protective MBR's empty partition record {i + 1} "
                                "is not zeroed")
            continue
        if ostype != GPT_PROTECTIVE:
            problems.append(f"the protective MBR holds an extra partition of type 0x{ostype:02x} "
                            "(a hybrid MBR)")
            continue
        protective += 1
        if boot not in (0x00, 0x80):
            problems.append(f"the protective MBR's boot flag is 0x{boot:02x}")
        if rec[1:4] != PROTECTIVE_START_CHS:
            problems.append("the protective MBR's partition does not start at CHS 0/0/2")
        if start != 1:
            problems.append(f"the protective MBR's partition starts at LBA {start}, not 1")
    if protective != 1:
        problems.append(f"the MBR in front of the GPT has {protective} protective (0xEE) "
                        "partitions; one is required")
    return problems
