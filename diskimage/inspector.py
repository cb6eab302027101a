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

Each format family is read by its own module under ``diskimage.formats``;
this module detects, plans what to keep, and concludes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from diskimage.capture import HEAD_SIZE, MAX_CAPTURE, TAIL_SIZE, Capture, Findings, uint
from diskimage.errors import (
    AmbiguousFormat,
    ContainerFormatMismatch,
    DiskFormatMismatch,
    ImageRejected,
    UnknownFormat,
    UnsafeImage,
)
from diskimage.formats.qcow2 import QCOW2_MAGIC, inspect_qcow2, plan_qcow2
from diskimage.formats.simple import (
    PLOOP_MAGICS,
    VDI_SIGNATURE,
    inspect_iso,
    inspect_ploop,
    inspect_raw,
    inspect_vdi,
    iso_kind,
    partition_table,
    protective_mbr_problems,
)
from diskimage.formats.vhd import (
    VHD_COOKIE,
    VHDX_MAGIC,
    inspect_vhd,
    inspect_vhdx,
    plan_vhdx,
    vhd_tail_footer,
)
from diskimage.formats.vmdk import (
    VMDK_MAGIC,
    inspect_vmdk,
    is_vmdk_text,
    plan_vmdk,
)
from diskimage.formats.vmdk_descriptor import ALLOWED_VMDK_CREATE_TYPES

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


# -- detection ----------------------------------------------------------------

# Formats qemu can read that no Glance disk_format names: refused outright.
FOREIGN_MAGICS = {b"QED\x00": "qed", b"LUKS\xba\xbe": "luks"}

_INSPECTORS: dict[str, Callable[[Capture], Findings]] = {
    "qcow2": inspect_qcow2,
    "vmdk": inspect_vmdk,
    "vhd": inspect_vhd,
    "vhdx": inspect_vhdx,
    "vdi": inspect_vdi,
    "ploop": inspect_ploop,
    "iso": inspect_iso,
    "raw": inspect_raw,
}


def _matches(cap: Capture) -> list[str]:
    """Every format whose signature is present, in a fixed order."""
    head = cap.head()
    found = []
    if head[:4] == QCOW2_MAGIC:
        found.append("qcow2")
    if head[:4] == VMDK_MAGIC or is_vmdk_text(head):
        found.append("vmdk")
    if head[:8] == VHD_COOKIE or vhd_tail_footer(cap) is not None:
        found.append("vhd")
    if head[:8] == VHDX_MAGIC:
        found.append("vhdx")
    if len(head) >= 0x44 and uint("<I", head, 0x40) == VDI_SIGNATURE:
        found.append("vdi")
    if head[:16] in PLOOP_MAGICS:
        found.append("ploop")
    if iso_kind(head) is not None:
        found.append("iso")
    for magic, name in FOREIGN_MAGICS.items():
        if head.startswith(magic):
            found.append(name)
    return found


def _plan(cap: Capture) -> None:
    """Ask for the regions the format's header points at (once the head is in).

    Planning stops once a format's planner says it has asked for all it
    needs, so the cost per chunk of a long upload is a flag test.
    """
    if cap.planned or not cap.head_done:
        return  # a shorter image has nothing beyond its head to keep
    head = cap.head(8)
    if head[:4] == QCOW2_MAGIC:
        cap.planned = plan_qcow2(cap)
    elif head[:4] == VMDK_MAGIC:
        cap.planned = plan_vmdk(cap)
    elif head == VHDX_MAGIC:
        cap.planned = plan_vhdx(cap)
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
        self._cap = Capture()
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


def _conclude(cap: Capture, declared: str | None, container: str | None) -> Inspection:
    matches = _matches(cap)
    head = cap.head()
    details: dict[str, str | int] = {}
    table = partition_table(head)
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
        if detected == "raw" and table == "gpt":
            # A hybrid ISO keeps its MBR/GPT pair as it is (see docs/image-safety.md).
            problems.extend(protective_mbr_problems(head))
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


__all__ = [
    "ALLOWED_VMDK_CREATE_TYPES", "ARCHIVE_CONTAINERS", "CONTAINER_FORMATS", "DISK_FORMATS",
    "HEAD_SIZE", "MAX_CAPTURE", "RAW_LIKE", "TAIL_SIZE", "AmbiguousFormat",
    "ContainerFormatMismatch", "DiskFormatMismatch", "ImageInspector", "ImageRejected",
    "Inspection", "UnknownFormat", "UnsafeImage", "check_container_format", "inspect_file",
]
