"""Safety inspection of image bytes, fed chunk by chunk as an upload streams.

``ImageInspector`` sees every byte of an image once, in order, and keeps only
what the formats need: the first 64 KiB (every magic number, the qcow2/VMDK/
VHD/VDI/ploop headers, the ISO 9660 and UDF volume descriptors), the last
1536 bytes (a fixed VHD's footer, a streamOptimized VMDK's footer), and the
regions a header points at once it has been read (a VMDK's embedded
descriptor, the rest of a large first qcow2 cluster, the VHDX region table
and metadata). What it keeps is capped at ``MAX_CAPTURE`` bytes; a region it
would need beyond that cap makes the image unsafe rather than unchecked.

``finish()`` answers an ``Inspection``: the detected format (a Glance
``disk_format`` name), every format whose signature matched, the virtual
size, and the problems that make the image unsafe for its declared format.
``verify()`` raises an ``ImageRejected`` (no HTTP in it: the image API maps
it) whose message tells the uploader what to fix.

The rules follow the public history of Glance's and Nova's format-inspector
fixes (CVE-2022-47951, CVE-2024-32498 and the 2024 follow-ups):

- the content must be the declared format: a "raw" that is really a qcow2
  (or VMDK, VHD, ...) is the classic attack, since a later probe would follow
  its backing file; ``ami``/``ari``/``aki`` are raw to this module;
- a file whose signatures match more than one format (an ISO 9660 volume
  with a qcow2 header in its system area, a qcow2 with ``CD001`` at 0x8001)
  cannot be decided safely and is refused, whatever was declared; an MBR or
  GPT partition table is not a format (it is fine in raw and in a hybrid ISO);
- qcow2: no backing file, no external data file (feature bit or header
  extension), no unknown incompatible feature, a plausible header;
- VMDK: only ``monolithicSparse`` and ``streamOptimized``, whose embedded
  descriptor names one SPARSE extent (the file itself) and no parent; a
  descriptor-only VMDK (text file) always names other files and is refused;
- VHD, VHDX and VDI differencing images (which name a parent) are refused.
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DISK_FORMATS: tuple[str, ...] = (
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
)
CONTAINER_FORMATS: tuple[str, ...] = (
    "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed",
)
RAW_LIKE = frozenset({"raw", "ami", "ari", "aki"})
# Container formats whose bytes are an archive, not the disk itself: the
# declared disk_format describes what is inside, so it is not compared.
ARCHIVE_CONTAINERS = frozenset({"ova", "docker", "compressed"})

HEAD_SIZE = 64 * 1024  # always kept: every signature and most headers live here
TAIL_SIZE = 1536  # always kept: VHD footer (512), streamOptimized VMDK footer (1536)
MAX_CAPTURE = 4 * 1024 * 1024  # hard cap on what one inspection keeps in memory
MAX_VMDK_DESCRIPTOR = 1024 * 1024
MAX_VIRTUAL_SIZE = 1 << 60  # 1 EiB: anything larger is not a plausible disk
SECTOR = 512

ALLOWED_VMDK_CREATE_TYPES = ("monolithicSparse", "streamOptimized")


# -- errors -------------------------------------------------------------------


class ImageRejected(Exception):
    """The image must not become active. ``message`` is safe to show the uploader."""

    def __init__(self, message: str, reasons: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.reasons = tuple(reasons)


class UnknownFormat(ImageRejected):
    """A declared disk_format or container_format that this registry does not know."""


class DiskFormatMismatch(ImageRejected):
    """The bytes are not the declared disk_format (e.g. a qcow2 declared raw)."""


class AmbiguousFormat(ImageRejected):
    """The bytes match several formats, so no format can be trusted."""


class UnsafeImage(ImageRejected):
    """The bytes are the declared format but refer outside themselves or are malformed."""


class ContainerFormatMismatch(ImageRejected):
    """The container_format does not fit the disk_format or the bytes."""


# -- results ------------------------------------------------------------------


@dataclass(frozen=True)
class Inspection:
    """What an inspector concluded about one image.

    ``format`` is the detected disk format ("raw" when no signature matched);
    ``matches`` every format whose signature was found (more than one is
    refused); ``virtual_size`` the guest-visible size in bytes (None when it
    could not be read); ``size`` the bytes inspected; ``problems`` why the
    image is refused, empty when it is safe; ``details`` facts worth logging
    (partition table, VMDK createType, qcow2 version, ...).
    """

    format: str
    matches: tuple[str, ...]
    virtual_size: int | None
    size: int
    declared: str | None
    problems: tuple[str, ...] = ()
    details: Mapping[str, str | int] = field(default_factory=dict)
    error_kind: type[ImageRejected] = UnsafeImage

    @property
    def safe(self) -> bool:
        return not self.problems

    def error(self) -> ImageRejected | None:
        """The exception to raise for this image, or None when it is safe."""
        if not self.problems:
            return None
        return self.error_kind("image rejected: " + "; ".join(self.problems), self.problems)

    def raise_if_unsafe(self) -> None:
        err = self.error()
        if err is not None:
            raise err


@dataclass
class _Findings:
    """One format's reading of the captured bytes."""

    virtual_size: int | None = None
    problems: list[str] = field(default_factory=list)
    details: dict[str, str | int] = field(default_factory=dict)


# -- capture ------------------------------------------------------------------


class _Span:
    """A region of the stream to keep, filled as the stream passes it."""

    __slots__ = ("data", "length", "missed", "offset")

    def __init__(self, offset: int, length: int) -> None:
        self.offset = offset
        self.length = length
        self.data = bytearray()
        self.missed = False

    def take(self, pos: int, chunk: memoryview) -> None:
        """Keep what ``chunk`` (which starts at stream offset ``pos``) holds of this span."""
        if self.missed or len(self.data) >= self.length:
            return
        want = self.offset + len(self.data)
        if want < pos:  # the stream went past bytes this span still needed
            self.missed = True
            return
        end = pos + len(chunk)
        if want >= end:
            return
        stop = min(self.offset + self.length, end)
        self.data += chunk[want - pos : stop - pos]


class _Capture:
    """The kept regions of one stream, with reads over them."""

    def __init__(self) -> None:
        self.spans: dict[tuple[int, int], _Span] = {(0, HEAD_SIZE): _Span(0, HEAD_SIZE)}
        self.kept = HEAD_SIZE + TAIL_SIZE
        self.size = 0
        self.tail = b""
        self.over_budget: list[str] = []
        self.planned = False  # True once no further region will be asked for

    @staticmethod
    def _beyond_head(offset: int, length: int) -> tuple[int, int]:
        """The part of a region that the head does not already keep."""
        end = offset + length
        offset = max(offset, HEAD_SIZE)
        return offset, max(0, end - offset)

    def want(self, offset: int, length: int, what: str) -> None:
        """Ask for ``length`` bytes at ``offset`` (no-op when already kept or asked)."""
        key = self._beyond_head(offset, length)
        offset, length = key
        if key in self.spans or length <= 0:
            return
        if self.kept + length > MAX_CAPTURE:
            msg = f"{what} ({length} bytes at offset {offset}) is too large to inspect"
            if msg not in self.over_budget:
                self.over_budget.append(msg)
            return
        self.kept += length
        self.spans[key] = _Span(offset, length)

    def missed(self, offset: int, length: int) -> bool:
        """True when the stream went past part of a region before it was asked for."""
        span = self.spans.get(self._beyond_head(offset, length))
        return span is not None and span.missed

    def ready(self, offset: int, length: int) -> bool:
        """True when the kept regions hold all of a region (cheaper than ``read``)."""
        if offset + length <= len(self.spans[(0, HEAD_SIZE)].data):
            return True
        span = self.spans.get(self._beyond_head(offset, length))
        return span is not None and len(span.data) == span.length

    @property
    def head_done(self) -> bool:
        return len(self.spans[(0, HEAD_SIZE)].data) == HEAD_SIZE

    def read(self, offset: int, length: int) -> bytes | None:
        """``length`` bytes at ``offset`` if the kept regions hold all of them."""
        out = bytearray()
        pos = offset
        while len(out) < length:
            for span in self.spans.values():
                if span.offset <= pos < span.offset + len(span.data):
                    start = pos - span.offset
                    piece = span.data[start : start + length - len(out)]
                    out += piece
                    pos += len(piece)
                    break
            else:
                return None
        return bytes(out)

    def head(self, length: int = HEAD_SIZE) -> bytes:
        """The first ``length`` bytes that have arrived (fewer for a short stream)."""
        return bytes(self.spans[(0, HEAD_SIZE)].data[:length])

    def footer(self, from_end: int, length: int) -> bytes | None:
        """``length`` bytes starting ``from_end`` bytes before the end of the stream."""
        if from_end > len(self.tail) or from_end > self.size:
            return None
        start = len(self.tail) - from_end
        return self.tail[start : start + length]


def _u(fmt: str, data: bytes, offset: int = 0) -> tuple[int, ...]:
    return struct.unpack_from(fmt, data, offset)


def _int(fmt: str, data: bytes, offset: int = 0) -> int:
    value: int = struct.unpack_from(fmt, data, offset)[0]
    return value


def _truncated(name: str, cap: _Capture) -> str:
    return f"the {name} header is truncated (the image is only {cap.size} bytes)"


# -- qcow2 --------------------------------------------------------------------

QCOW2_MAGIC = b"QFI\xfb"
QCOW2_EXT_END = 0
QCOW2_EXT_DATA_FILE = 0x44415441
QCOW2_INCOMPAT_DIRTY = 1 << 0
QCOW2_INCOMPAT_CORRUPT = 1 << 1
QCOW2_INCOMPAT_DATA_FILE = 1 << 2
QCOW2_INCOMPAT_KNOWN = 0b11111  # dirty, corrupt, data file, compression type, extended L2
FLATTEN_HINT = "make it self-contained with `qemu-img convert -O qcow2 <in> <out>` and upload that"


def _qcow2_layout(cap: _Capture) -> tuple[int, int, int] | None:
    """(version, cluster size, offset of the first header extension) or None."""
    h = cap.read(0, 104)
    if h is None:
        h = cap.read(0, 72)
        if h is None:
            return None
    version, cluster_bits = _int(">I", h, 4), _int(">I", h, 20)
    if version not in (2, 3) or not 9 <= cluster_bits <= 21:
        return None
    if version == 2:
        return version, 1 << cluster_bits, 72
    if len(h) < 104:
        return None
    return version, 1 << cluster_bits, _int(">I", h, 100)


def _plan_qcow2(cap: _Capture) -> bool:
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


def _qcow2_extensions(cap: _Capture, offset: int, cluster: int) -> list[tuple[int, int]] | None:
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
        etype, elen = _u(">II", raw)
        if etype == QCOW2_EXT_END:
            return found
        found.append((etype, elen))
        offset += 8 + (elen + 7) // 8 * 8
        if len(found) > 4096:
            found.append((-1, 0))
            return found


def _inspect_qcow2(cap: _Capture) -> _Findings:
    f = _Findings()
    h = cap.read(0, 72)
    if h is None:
        f.problems.append(_truncated("qcow2", cap))
        return f
    (version, bf_offset, bf_size, cluster_bits, size, crypt, l1_size, l1_offset, rc_offset,
     _rc_clusters, nb_snapshots, _snap_offset) = _u(">IQIIQIIQQIIQ", h, 4)
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
    l2_entries = cluster // 8
    if size and l1_size * l2_entries * cluster < size:
        implausible.append("L1 table too small for the virtual size")
    if l1_offset % cluster or rc_offset % cluster or rc_offset == 0:
        implausible.append("misaligned table offsets")
    if nb_snapshots > 65536:
        implausible.append(f"{nb_snapshots} snapshots")
    ext_offset = 72
    if version == 3:
        v3 = cap.read(72, 32)
        if v3 is None:
            f.problems.append(_truncated("qcow2 v3", cap))
            return f
        incompat, _compat, _autoclear, refcount_order, header_length = _u(">QQQII", v3)
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
    if implausible:
        f.problems.append("the qcow2 header is implausible (" + ", ".join(implausible) + ")")
    return _dedupe(f)


def _dedupe(f: _Findings) -> _Findings:
    f.problems = list(dict.fromkeys(f.problems))
    return f


# -- VMDK ---------------------------------------------------------------------

VMDK_MAGIC = b"KDMV"
VMDK_GD_AT_END = 0xFFFFFFFFFFFFFFFF
_VMDK_HEADER = "<4sIIQQQQIQQQ"  # magic .. overhead: 72 bytes
_EXTENT_RE = re.compile(
    r'^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$'
)
_KV_RE = re.compile(r'^([A-Za-z0-9_.]+)\s*=\s*"?([^"]*)"?\s*$')


def _is_vmdk_text(head: bytes) -> bool:
    """True when the start reads as a VMDK text descriptor, as qemu's probe sees it."""
    if head.startswith(b"# Disk DescriptorFile"):
        return True
    for line in head[:2048].split(b"\n"):
        text = line.strip()
        if not text or text.startswith(b"#"):
            continue
        return text in (b"version=1", b"version=2", b"version=3")
    return False


def _plan_vmdk(cap: _Capture) -> bool:
    h = cap.read(0, 72)
    if h is not None:
        desc_offset, desc_size = _u("<QQ", h, 28)
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


def _check_descriptor(d: _Descriptor, embedded: bool, f: _Findings) -> None:
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


def _inspect_vmdk(cap: _Capture) -> _Findings:
    f = _Findings()
    head = cap.head(4)
    if head != VMDK_MAGIC:
        text = cap.head().split(b"\x00", 1)[0].decode("latin-1")
        d = _parse_descriptor(text)
        f.virtual_size = sum(sectors for _, sectors, _, _ in d.extents) * SECTOR
        _check_descriptor(d, embedded=False, f=f)
        return _dedupe(f)
    h = cap.read(0, 72)
    if h is None:
        f.problems.append(_truncated("VMDK", cap))
        return f
    (_m, version, _flags, capacity, grain, desc_offset, desc_size, _gtes, _rgd, gd_offset,
     _overhead) = _u(_VMDK_HEADER, h)
    if gd_offset == VMDK_GD_AT_END:
        footer = cap.footer(1024, 512)
        if footer is None or footer[:4] != VMDK_MAGIC:
            f.problems.append("the streamOptimized VMDK has no footer at its end")
        else:
            if _u("<QQ", footer, 28) != (desc_offset, desc_size):
                f.problems.append("the VMDK footer and header disagree about the descriptor")
            capacity = _int("<Q", footer, 12)
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
        return _dedupe(f)
    if desc_size * SECTOR > MAX_VMDK_DESCRIPTOR:
        f.problems.append(f"the VMDK descriptor is larger than {MAX_VMDK_DESCRIPTOR} bytes")
        return _dedupe(f)
    raw = cap.read(desc_offset * SECTOR, desc_size * SECTOR)
    if raw is None:
        if cap.missed(desc_offset * SECTOR, desc_size * SECTOR):
            f.problems.append("the VMDK descriptor lies where it could not be read")
        else:
            f.problems.append(_truncated("VMDK descriptor", cap))
        return _dedupe(f)
    _check_descriptor(_parse_descriptor(raw.split(b"\x00", 1)[0].decode("latin-1")), True, f)
    return _dedupe(f)


# -- VHD (qemu's "vpc") -------------------------------------------------------

VHD_COOKIE = b"conectix"
VHD_MAX_CHS = 65535 * 16 * 255


def _vhd_footer_ok(footer: bytes) -> bool:
    stored = _int(">I", footer, 64)
    return stored == (~sum(footer[:64] + b"\x00" * 4 + footer[68:512])) & 0xFFFFFFFF


def _vhd_tail_footer(cap: _Capture) -> bytes | None:
    """The trailing footer of a fixed VHD, when the last 512 bytes are one."""
    footer = cap.footer(512, 512)
    if footer is None or cap.size < 1024 or footer[:8] != VHD_COOKIE:
        return None
    if not _vhd_footer_ok(footer) or _int(">I", footer, 60) != 2:
        return None
    return footer


def _inspect_vhd(cap: _Capture) -> _Findings:
    f = _Findings()
    footer = cap.read(0, 512) if cap.head(8) == VHD_COOKIE else _vhd_tail_footer(cap)
    if footer is None:
        f.problems.append(_truncated("VHD", cap))
        return f
    if not _vhd_footer_ok(footer):
        f.problems.append("the VHD footer checksum is wrong")
    cur_size = _int(">Q", footer, 48)
    cyls, heads, spt = _u(">HBB", footer, 56)
    disk_type = _int(">I", footer, 60)
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


def _vhdx_regions(cap: _Capture) -> dict[uuid.UUID, tuple[int, int, int]] | None:
    """Region GUID -> (file offset, length, required) from the first valid table."""
    for table_offset in VHDX_REGION_TABLES:
        table = cap.read(table_offset, VHDX_TABLE_SIZE)
        if table is None or table[:4] != b"regi":
            continue
        count = _int("<I", table, 8)
        if count > 2047:
            return {}
        regions = {}
        for i in range(count):
            entry = table[16 + 32 * i : 48 + 32 * i]
            offset, length, required = _u("<QII", entry, 16)
            regions[uuid.UUID(bytes_le=entry[:16])] = (offset, length, required)
        return regions
    return None


def _vhdx_metadata(cap: _Capture, base: int) -> dict[uuid.UUID, tuple[int, int, int]] | None:
    """Metadata item GUID -> (absolute offset, length, flags)."""
    table = cap.read(base, VHDX_TABLE_SIZE)
    if table is None or table[:8] != b"metadata":
        return None
    count = _int("<H", table, 10)
    items = {}
    for i in range(min(count, 2047)):
        entry = table[32 + 32 * i : 64 + 32 * i]
        offset, length, flags = _u("<III", entry, 16)
        items[uuid.UUID(bytes_le=entry[:16])] = (base + offset, length, flags)
    return items


def _plan_vhdx(cap: _Capture) -> bool:
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


def _inspect_vhdx(cap: _Capture) -> _Findings:
    f = _Findings()
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
    if params is not None and _int("<I", params, 4) & 2:
        f.problems.append("the VHDX has a parent disk (a backing file)")
    if VHDX_VIRTUAL_DISK_SIZE not in items:
        f.problems.append("the VHDX metadata has no virtual disk size")
        return f
    size = cap.read(items[VHDX_VIRTUAL_DISK_SIZE][0], 8)
    if size is None:
        f.problems.append("the VHDX virtual disk size could not be read")
        return f
    f.virtual_size = _int("<Q", size)
    if f.virtual_size > MAX_VIRTUAL_SIZE:
        f.problems.append(f"the VHDX virtual size {f.virtual_size} is implausible")
    return _dedupe(f)


# -- VDI, ploop ---------------------------------------------------------------

VDI_SIGNATURE = 0xBEDA107F
PLOOP_MAGICS = (b"WithoutFreeSpace", b"WithouFreSpacExt")


def _inspect_vdi(cap: _Capture) -> _Findings:
    f = _Findings()
    h = cap.read(0, 0x1C8)
    if h is None:
        f.problems.append(_truncated("VDI", cap))
        return f
    version, image_type = _int("<I", h, 0x44), _int("<I", h, 0x4C)
    f.details["vdi_image_type"] = image_type
    if version != 0x00010001:
        f.problems.append(f"the VDI header version 0x{version:08x} is not supported")
    if image_type not in (1, 2) or h[0x1B8:0x1C8].strip(b"\x00"):
        f.problems.append("the VDI is a differencing or undo image that names a parent")
    f.virtual_size = _int("<Q", h, 0x170)
    if f.virtual_size > MAX_VIRTUAL_SIZE:
        f.problems.append(f"the VDI virtual size {f.virtual_size} is implausible")
    return f


def _inspect_ploop(cap: _Capture) -> _Findings:
    f = _Findings()
    h = cap.read(0, 64)
    if h is None:
        f.problems.append(_truncated("ploop", cap))
        return f
    version, sectors = _int("<I", h, 16), _int("<Q", h, 36)
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


def _iso_kind(head: bytes) -> str | None:
    """"iso9660", "udf" or None, from the volume descriptors at 32 KiB."""
    if head[ISO_DESCRIPTORS + 1 : ISO_DESCRIPTORS + 6] == b"CD001":
        return "iso9660"
    for i in range(16):
        at = ISO_DESCRIPTORS + i * ISO_SECTOR + 1
        if head[at : at + 5] in (b"NSR02", b"NSR03"):
            return "udf"
    return None


def _inspect_iso(cap: _Capture) -> _Findings:
    head = cap.head()
    f = _Findings(virtual_size=cap.size)  # qemu reads an ISO as raw: its size is the file's
    f.details["iso_kind"] = _iso_kind(head) or ""
    pvd = ISO_DESCRIPTORS
    if head[pvd : pvd + 1] == b"\x01" and head[pvd + 1 : pvd + 6] == b"CD001":
        blocks, block_size = _int("<I", head, pvd + 80), _int("<H", head, pvd + 128)
        f.details["iso_volume_size"] = blocks * block_size
    return f


def _inspect_raw(cap: _Capture) -> _Findings:
    return _Findings(virtual_size=cap.size)


def _partition_table(head: bytes) -> str | None:
    if head[512:520] == b"EFI PART":
        return "gpt"
    if head[510:512] == b"\x55\xaa":
        return "mbr"
    return None


# -- detection ----------------------------------------------------------------

# Formats qemu can read that no Glance disk_format names: refused outright.
FOREIGN_MAGICS = {b"QED\x00": "qed", b"LUKS\xba\xbe": "luks"}

_INSPECTORS: dict[str, Callable[[_Capture], _Findings]] = {
    "qcow2": _inspect_qcow2,
    "vmdk": _inspect_vmdk,
    "vhd": _inspect_vhd,
    "vhdx": _inspect_vhdx,
    "vdi": _inspect_vdi,
    "ploop": _inspect_ploop,
    "iso": _inspect_iso,
    "raw": _inspect_raw,
}


def _matches(cap: _Capture) -> list[str]:
    """Every format whose signature is present, in a fixed order."""
    head = cap.head()
    found = []
    if head[:4] == QCOW2_MAGIC:
        found.append("qcow2")
    if head[:4] == VMDK_MAGIC or _is_vmdk_text(head):
        found.append("vmdk")
    if head[:8] == VHD_COOKIE or _vhd_tail_footer(cap) is not None:
        found.append("vhd")
    if head[:8] == VHDX_MAGIC:
        found.append("vhdx")
    if len(head) >= 0x44 and _int("<I", head, 0x40) == VDI_SIGNATURE:
        found.append("vdi")
    if head[:16] in PLOOP_MAGICS:
        found.append("ploop")
    if _iso_kind(head) is not None:
        found.append("iso")
    for magic, name in FOREIGN_MAGICS.items():
        if head.startswith(magic):
            found.append(name)
    return found


def _plan(cap: _Capture) -> None:
    """Ask for the regions the format's header points at (once the head is in).

    Planning stops once a format's planner says it has asked for all it
    needs, so the cost per chunk of a long upload is a flag test.
    """
    if cap.planned or not cap.head_done:
        return  # a shorter image has nothing beyond its head to keep
    head = cap.head(8)
    if head[:4] == QCOW2_MAGIC:
        cap.planned = _plan_qcow2(cap)
    elif head[:4] == VMDK_MAGIC:
        cap.planned = _plan_vmdk(cap)
    elif head == VHDX_MAGIC:
        cap.planned = _plan_vhdx(cap)
    else:
        cap.planned = True


def _check_name(kind: str, name: str | None, known: tuple[str, ...]) -> None:
    if name is not None and name not in known:
        raise UnknownFormat(
            f"unknown {kind} {name!r}; use one of: {', '.join(known)}", [f"unknown {kind}"]
        )


class ImageInspector:
    """Inspect an image while it streams: ``feed`` each chunk, then ``finish``.

    ``disk_format`` is what the uploader declared (None: only detect);
    ``container_format`` likewise (an archive container such as ``ova``
    disables the disk_format comparison, since the bytes are the archive).
    Memory stays under ``MAX_CAPTURE`` plus the chunk being fed.
    """

    def __init__(self, disk_format: str | None = None, container_format: str | None = None) -> None:
        _check_name("disk_format", disk_format, DISK_FORMATS)
        _check_name("container_format", container_format, CONTAINER_FORMATS)
        self.disk_format = disk_format
        self.container_format = container_format
        self._cap = _Capture()
        self._result: Inspection | None = None

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._cap.size

    @property
    def kept(self) -> int:
        """Bytes this inspection has set aside to keep (at most ``MAX_CAPTURE``)."""
        return self._cap.kept

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._result is not None:
            raise RuntimeError("feed() after finish()")
        if not chunk:
            return
        cap = self._cap
        view = memoryview(chunk).cast("B")
        pos = cap.size
        cap.size += len(view)
        while True:
            for span in list(cap.spans.values()):
                span.take(pos, view)
            asked = len(cap.spans)
            _plan(cap)
            if len(cap.spans) == asked:  # nothing new to keep from this chunk
                break
        if len(view) >= TAIL_SIZE:
            cap.tail = bytes(view[-TAIL_SIZE:])
        else:
            cap.tail = (cap.tail + bytes(view))[-TAIL_SIZE:]

    def finish(self) -> Inspection:
        """The inspection of everything fed (idempotent)."""
        if self._result is None:
            self._result = _conclude(self._cap, self.disk_format, self.container_format)
        return self._result

    def verify(self) -> Inspection:
        """``finish()``, raising ``ImageRejected`` when the image is not safe."""
        result = self.finish()
        result.raise_if_unsafe()
        return result


def _conclude(cap: _Capture, declared: str | None, container: str | None) -> Inspection:
    matches = _matches(cap)
    head = cap.head()
    details: dict[str, str | int] = {}
    table = _partition_table(head)
    if table:
        details["partition_table"] = table
    problems: list[str] = []
    kind: type[ImageRejected] = UnsafeImage
    detected = matches[0] if len(matches) == 1 else ("raw" if not matches else "unknown")
    virtual_size: int | None = None

    if container is not None:
        try:
            check_container_format(container, declared, head)
        except ImageRejected as err:
            return Inspection(detected, tuple(matches), None, cap.size, declared,
                              err.reasons or (err.message,), details, type(err))
    compare = declared is not None and container not in ARCHIVE_CONTAINERS

    if len(matches) > 1:
        kind = AmbiguousFormat
        problems.append(
            f"the data matches several formats ({', '.join(matches)}), so its format "
            "cannot be decided safely"
        )
    elif detected in FOREIGN_MAGICS.values():
        kind = DiskFormatMismatch
        problems.append(f"the data is a {detected} image, which is not an accepted disk_format")
    else:
        found = _INSPECTORS[detected](cap)
        virtual_size = found.virtual_size
        details.update(found.details)
        expected = "raw" if declared in RAW_LIKE else declared
        if compare and detected != expected:
            kind = DiskFormatMismatch
            problems.append(_mismatch_message(declared or "", detected))
        problems.extend(found.problems)
        if container in ARCHIVE_CONTAINERS and detected == "raw":
            virtual_size = None  # the bytes are an archive: its disk's size is not known here
    return Inspection(detected, tuple(matches), virtual_size, cap.size, declared,
                      tuple(problems), details, kind)


def _mismatch_message(declared: str, detected: str) -> str:
    if detected == "raw":
        return (
            f"disk_format is {declared!r} but the data is not in that format "
            "(no valid header found); declare the image's real format"
        )
    return (
        f"disk_format is {declared!r} but the data is a {detected} image; "
        f"declare disk_format={detected} (or convert the image to {declared}) and upload again"
    )


def check_container_format(
    container_format: str, disk_format: str | None = None, head: bytes | None = None
) -> None:
    """Refuse a container_format that does not fit the disk_format or the first bytes.

    ``bare`` (and ``ovf``, ``docker``, ``compressed``) are accepted as they are;
    as in Glance, ``ami``/``ari``/``aki`` must be both the container and the
    disk format; an ``ova`` must be a tar archive (``head``: at least its first
    512 bytes, when known).
    """
    _check_name("container_format", container_format, CONTAINER_FORMATS)
    _check_name("disk_format", disk_format, DISK_FORMATS)
    amazon = {"ami", "ari", "aki"}
    if disk_format is not None and (container_format in amazon or disk_format in amazon):
        if container_format != disk_format:
            msg = (
                f"container_format {container_format!r} and disk_format {disk_format!r} must "
                "be the same when either is ami, ari or aki"
            )
            raise ContainerFormatMismatch(msg, [msg])
    if container_format == "ova" and head is not None and head[257:262] != b"ustar":
        msg = "container_format is 'ova' but the data is not a tar archive"
        raise ContainerFormatMismatch(msg, [msg])


def inspect_file(
    path: str | Path,
    disk_format: str | None = None,
    container_format: str | None = None,
    chunk_size: int = 1024 * 1024,
) -> Inspection:
    """Inspect a whole file (blocking: run it in a worker thread from async code)."""
    inspector = ImageInspector(disk_format, container_format)
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            inspector.feed(chunk)
    return inspector.finish()
