"""VHD (qemu's ``vpc``) and VHDX: differencing disks, which name a parent, are refused."""

from __future__ import annotations

import uuid

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

# -- VHD (qemu's "vpc") -------------------------------------------------------

VHD_COOKIE = b"conectix"
VHD_MAX_CHS = 65535 * 16 * 255


def _vhd_footer_ok(footer: bytes) -> bool:
    stored = uint(">I", footer, 64)
    return stored == (~sum(footer[:64] + b"\x00" * 4 + footer[68:512])) & 0xFFFFFFFF


def vhd_tail_footer(cap: Capture) -> bytes | None:
    """The trailing footer of a fixed VHD, when the last 512 bytes are one."""
    footer = cap.footer(512, 512)
    if footer is None or cap.size < 1024 or footer[:8] != VHD_COOKIE:
        return None
    if not _vhd_footer_ok(footer) or uint(">I", footer, 60) != 2:
        return None
    return footer


def inspect_vhd(cap: Capture) -> Findings:
    f = Findings()
    footer = cap.read(0, 512) if cap.head(8) == VHD_COOKIE else vhd_tail_footer(cap)
    if footer is None:
        f.problems.append(truncated("VHD", cap))
        return f
    if not _vhd_footer_ok(footer):
        f.problems.append("the VHD footer checksum is wrong")
    cur_size = uint(">Q", footer, 48)
    cyls, heads, spt = unpack(">HBB", footer, 56)
    disk_type = uint(">I", footer, 60)
    creator = footer[28:32]
    f.details["vhd_disk_type"] = disk_type
    if disk_type == 4:
        f.problems.append("the VHD is a differencing disk that names a parent (a backing file)")
    elif disk_type not in (2, 3):
        f.problems.append(f"the VHD disk type {disk_type} is not fixed or dynamic")
    chs = cyls * heads * spt
    # Virtual PC (and qemu) size a disk by its geometry, Hyper-V by current_size;
    # qemu takes the geometry for the creators it knows, unless it is the maximum.
    if creator in (b"vpc ", b"qemu") and chs != VHD_MAX_CHS:
        f.virtual_size = chs * SECTOR
    else:
        f.virtual_size = cur_size // SECTOR * SECTOR
    if f.virtual_size > MAX_VIRTUAL_SIZE:
        f.problems.append(f"the VHD virtual size {f.virtual_size} is implausible")
    return f


# -- VHDX ---------------------------------------------------------------------

VHDX_MAGIC = b"vhdxfile"
VHDX_REGION_TABLES = (0x30000, 0x40000)
VHDX_TABLE_SIZE = 64 * 1024
VHDX_METADATA_REGION = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
VHDX_BAT_REGION = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
VHDX_FILE_PARAMETERS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VHDX_VIRTUAL_DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
VHDX_PARENT_LOCATOR = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")


def _vhdx_regions(cap: Capture) -> dict[uuid.UUID, tuple[int, int, int]] | None:
    """Region GUID -> (file offset, length, required) from the first valid table."""
    for table_offset in VHDX_REGION_TABLES:
        table = cap.read(table_offset, VHDX_TABLE_SIZE)
        if table is None or table[:4] != b"regi":
            continue
        count = uint("<I", table, 8)
        if count > 2047:
            return {}
        regions = {}
        for i in range(count):
            entry = table[16 + 32 * i : 48 + 32 * i]
            offset, length, required = unpack("<QII", entry, 16)
            regions[uuid.UUID(bytes_le=entry[:16])] = (offset, length, required)
        return regions
    return None


def _vhdx_metadata(cap: Capture, base: int) -> dict[uuid.UUID, tuple[int, int, int]] | None:
    """Metadata item GUID -> (absolute offset, length, flags)."""
    table = cap.read(base, VHDX_TABLE_SIZE)
    if table is None or table[:8] != b"metadata":
        return None
    count = uint("<H", table, 10)
    items = {}
    for i in range(min(count, 2047)):
        entry = table[32 + 32 * i : 64 + 32 * i]
        offset, length, flags = unpack("<III", entry, 16)
        items[uuid.UUID(bytes_le=entry[:16])] = (base + offset, length, flags)
    return items


def plan_vhdx(cap: Capture) -> bool:
    for table_offset in VHDX_REGION_TABLES:
        cap.want(table_offset, VHDX_TABLE_SIZE, "the VHDX region table")
    if not all(cap.ready(offset, VHDX_TABLE_SIZE) for offset in VHDX_REGION_TABLES):
        return False  # wait for both copies: the first may be damaged
    regions = _vhdx_regions(cap)
    if not regions or VHDX_METADATA_REGION not in regions:
        return True
    base = regions[VHDX_METADATA_REGION][0]
    cap.want(base, VHDX_TABLE_SIZE, "the VHDX metadata table")
    if cap.missed(base, VHDX_TABLE_SIZE) or cap.over_budget:
        return True
    if not cap.ready(base, VHDX_TABLE_SIZE):
        return False
    items = _vhdx_metadata(cap, base)
    for guid in (VHDX_FILE_PARAMETERS, VHDX_VIRTUAL_DISK_SIZE):
        if items is not None and guid in items:
            cap.want(items[guid][0], 8, "a VHDX metadata item")
    return True


def inspect_vhdx(cap: Capture) -> Findings:
    f = Findings()
    regions = _vhdx_regions(cap)
    if regions is None:
        f.problems.append("the VHDX region table could not be read")
        return f
    known = {VHDX_METADATA_REGION, VHDX_BAT_REGION}
    if any(required and guid not in known for guid, (_, _, required) in regions.items()):
        f.problems.append("the VHDX requires a region this inspector does not know")
    if VHDX_METADATA_REGION not in regions:
        f.problems.append("the VHDX has no metadata region")
        return f
    items = _vhdx_metadata(cap, regions[VHDX_METADATA_REGION][0])
    if items is None:
        f.problems.append("the VHDX metadata table could not be read")
        return f
    if VHDX_PARENT_LOCATOR in items:
        f.problems.append("the VHDX is a differencing disk that names a parent (a backing file)")
    params = cap.read(items[VHDX_FILE_PARAMETERS][0], 8) if VHDX_FILE_PARAMETERS in items else None
    if params is not None and uint("<I", params, 4) & 2:
        f.problems.append("the VHDX has a parent disk (a backing file)")
    if VHDX_VIRTUAL_DISK_SIZE not in items:
        f.problems.append("the VHDX metadata has no virtual disk size")
        return f
    size = cap.read(items[VHDX_VIRTUAL_DISK_SIZE][0], 8)
    if size is None:
        f.problems.append("the VHDX virtual disk size could not be read")
        return f
    f.virtual_size = uint("<Q", size)
    if f.virtual_size > MAX_VIRTUAL_SIZE:
        f.problems.append(f"the VHDX virtual size {f.virtual_size} is implausible")
    return dedupe(f)
