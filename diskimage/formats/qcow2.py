"""qcow2: no backing file, no external data file, no unknown incompatible feature,
a plausible header."""

from __future__ import annotations

from diskimage.capture import (
    HEAD_SIZE,
    MAX_VIRTUAL_SIZE,
    SECTOR,
    Capture,
    Findings,
    dedupe,
    header,
    truncated,
    uint,
    unpack,
)

QCOW2_MAGIC = b"QFI\xfb"
QCOW2_EXT_END = 0
QCOW2_EXT_DATA_FILE = 0x44415441
QCOW2_INCOMPAT_DIRTY = 1 << 0
QCOW2_INCOMPAT_CORRUPT = 1 << 1
QCOW2_INCOMPAT_DATA_FILE = 1 << 2
QCOW2_INCOMPAT_EXTENDED_L2 = 1 << 4
QCOW2_INCOMPAT_KNOWN = 0b11111  # dirty, corrupt, data file, compression type, extended L2
QCOW2_MAX_L1_ENTRIES = (32 << 20) // 8  # qemu's own limit: a 32 MiB L1 table
QCOW2_MAX_REFCOUNT_CLUSTERS = (8 << 20) >> 9  # qemu's: an 8 MiB refcount table at 512 B clusters
FLATTEN_HINT = "make it self-contained with `qemu-img convert -O qcow2 <in> <out>` and upload that"


def _qcow2_layout(cap: Capture) -> tuple[int, int, int] | None:
    """(version, cluster size, offset of the first header extension) or None."""
    h = cap.read(0, 104)
    if h is None:
        h = cap.read(0, 72)
        if h is None:
            return None
    version, cluster_bits = uint(">I", h, 4), uint(">I", h, 20)
    if version not in (2, 3) or not 9 <= cluster_bits <= 21:
        return None
    if version == 2:
        return version, 1 << cluster_bits, 72
    if len(h) < 104:
        return None
    return version, 1 << cluster_bits, uint(">I", h, 100)


def plan_qcow2(cap: Capture) -> bool:
    layout = _qcow2_layout(cap)
    if layout is None:
        return True
    _, cluster, ext = layout
    if cluster <= HEAD_SIZE or ext >= cluster:
        return True
    # Extensions may run past the first 64 KiB only in a large first cluster:
    # keep the rest of that cluster unless the chain ends inside the head.
    if _qcow2_extensions(cap, ext, cluster) is None:
        cap.want(HEAD_SIZE, cluster - HEAD_SIZE, "the first qcow2 cluster")
    return True


def _qcow2_extensions(cap: Capture, offset: int, cluster: int) -> list[tuple[int, int]] | None:
    """(type, length) of each header extension; None when not all were captured.

    A chain that leaves the first cluster is reported as type -1.
    """
    found: list[tuple[int, int]] = []
    while True:
        if offset + 8 > cluster:
            found.append((-1, 0))
            return found
        raw = cap.read(offset, 8)
        if raw is None:
            return None
        etype, elen = unpack(">II", raw)
        if etype == QCOW2_EXT_END:
            return found
        found.append((etype, elen))
        offset += 8 + (elen + 7) // 8 * 8
        if len(found) > 4096:
            found.append((-1, 0))
            return found


def inspect_qcow2(cap: Capture) -> Findings:
    f = Findings()
    h = header(cap, 72, "qcow2", f)
    if h is None:
        return f
    (version, bf_offset, bf_size, cluster_bits, size, crypt, l1_size, l1_offset, rc_offset,
     rc_clusters, nb_snapshots, _snap_offset) = unpack(">IQIIQIIQQIIQ", h, 4)
    f.details["qcow2_version"] = version
    implausible: list[str] = []
    if version not in (2, 3):
        implausible.append(f"version {version}")
    if not 9 <= cluster_bits <= 21:
        implausible.append(f"cluster_bits {cluster_bits}")
    if implausible:
        f.problems.append("the qcow2 header is implausible (" + ", ".join(implausible) + ")")
        return f
    cluster = 1 << cluster_bits
    f.virtual_size = size
    if bf_offset or bf_size:
        f.problems.append(f"the qcow2 image has a backing file; {FLATTEN_HINT}")
    if crypt not in (0, 2):
        f.problems.append("the qcow2 image uses legacy AES encryption, which is not accepted")
    if size > MAX_VIRTUAL_SIZE:
        implausible.append(f"virtual size {size}")
    if size % SECTOR:  # qemu reads whole sectors only: it would see a smaller disk
        implausible.append(f"virtual size {size} is not a multiple of {SECTOR} bytes")
    if l1_size > QCOW2_MAX_L1_ENTRIES:
        implausible.append(f"an L1 table of {l1_size} entries")
    if rc_clusters > QCOW2_MAX_REFCOUNT_CLUSTERS:
        implausible.append(f"a refcount table of {rc_clusters} clusters")
    _beyond_end(cap, cluster, l1_offset, l1_size, rc_offset, rc_clusters, f)
    if l1_offset % cluster or rc_offset % cluster or rc_offset == 0:
        implausible.append("misaligned table offsets")
    if nb_snapshots > 65536:
        implausible.append(f"{nb_snapshots} snapshots")
    ext_offset = 72
    if version == 3:
        v3 = cap.read(72, 32)
        if v3 is None:
            f.problems.append(truncated("qcow2 v3", cap))
            return f
        incompat, _compat, _autoclear, refcount_order, header_length = unpack(">QQQII", v3)
        if incompat & QCOW2_INCOMPAT_EXTENDED_L2:
            f.details["qcow2_extended_l2"] = 1
        if incompat & QCOW2_INCOMPAT_DATA_FILE:
            f.problems.append(f"the qcow2 image uses an external data file; {FLATTEN_HINT}")
        if incompat & QCOW2_INCOMPAT_CORRUPT:
            f.problems.append(
                "the qcow2 image is marked corrupt; repair it with "
                "`qemu-img check -r all` before uploading"
            )
        unknown = incompat & ~QCOW2_INCOMPAT_KNOWN
        if unknown:
            f.problems.append(
                f"the qcow2 image uses unknown incompatible features (0x{unknown:x})"
            )
        if refcount_order > 6:
            implausible.append(f"refcount_order {refcount_order}")
        if header_length < 104 or header_length % 8 or header_length > cluster:
            implausible.append(f"header_length {header_length}")
        ext_offset = header_length
    if not implausible:
        exts = _qcow2_extensions(cap, ext_offset, cluster)
        if exts is None:
            f.problems.append(
                "the qcow2 header extensions could not be read"
                + (f" ({'; '.join(cap.over_budget)})" if cap.over_budget else "")
            )
        else:
            for etype, _elen in exts:
                if etype == QCOW2_EXT_DATA_FILE:
                    f.problems.append(
                        f"the qcow2 header names an external data file; {FLATTEN_HINT}"
                    )
                elif etype == -1:
                    implausible.append("header extensions overrun the first cluster")
    l2_entries = cluster // (16 if f.details.get("qcow2_extended_l2") else 8)
    if size and l1_size * l2_entries * cluster < size:
        implausible.append("L1 table too small for the virtual size")
    if implausible:
        f.problems.append("the qcow2 header is implausible (" + ", ".join(implausible) + ")")
    return dedupe(f)


def _beyond_end(cap: Capture, cluster: int, l1_offset: int, l1_size: int, rc_offset: int,
                rc_clusters: int, f: Findings) -> None:
    """Refuse a qcow2 that is a header only, or whose tables lie past the end of the file.

    qemu opens such a file (it reads zeros past the end), but it cannot be a
    real disk: every qcow2 qemu writes holds its refcount table and L1 table.
    """
    if cap.size <= cluster:
        f.problems.append(f"the qcow2 image is only a header ({cap.size} bytes): it holds "
                          "no refcount or L1 table")
        return
    if l1_size and l1_offset + 8 * l1_size > cap.size:
        f.problems.append("the qcow2 L1 table lies beyond the end of the file")
    if rc_offset + rc_clusters * cluster > cap.size or not rc_clusters:
        f.problems.append("the qcow2 refcount table lies beyond the end of the file")
