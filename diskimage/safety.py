"""The one check before an image file is stored, converted or booted.

``verify_file`` runs the inspector over the file, then asks qemu itself, the
program that will open it: ``qemu-img info --output=json -f <declared
format>`` under ``INFO_LIMITS``. qemu must report no backing file, no data
file and, for a VMDK, one extent that is the file itself; and it must agree
with the inspector about the format, the virtual size and the VMDK create
type. Any disagreement means the two read the file differently, which is
how every known format attack works, so the image is refused.

The image store calls ``cross_check`` once its inspector has seen the
stream (the bytes are on local disk by then); the block store calls
``verify_file`` before it converts an image into a volume, and compute
will before it boots one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from common.errors import Unavailable
from diskimage import qemu
from diskimage.errors import UnsafeImage
from diskimage.inspector import ARCHIVE_CONTAINERS, RAW_LIKE, Inspection, inspect_file


@dataclass(frozen=True)
class CheckedImage:
    """An image both the inspector and qemu read as the same self-contained disk."""

    inspection: Inspection
    info: qemu.ImageInfo | None  # None for an archive container (qemu does not read it)

    @property
    def virtual_size(self) -> int | None:
        return self.info.virtual_size if self.info else self.inspection.virtual_size


def needs_qemu_check(disk_format: str, container_format: str | None = None) -> bool:
    """Whether qemu could read ``disk_format`` otherwise than the inspector.

    Not for raw-like formats (qemu's raw driver reads no header: its whole
    reading is the file's size, and the inspector refused any signature) nor
    for archive containers (qemu does not read an archive). Callers that must
    copy the bytes to a local file for qemu-img skip that copy for these.
    """
    return disk_format not in (*RAW_LIKE, "iso") and container_format not in ARCHIVE_CONTAINERS


def disagreements(path: Path, inspection: Inspection, info: qemu.ImageInfo) -> list[str]:
    """Where qemu's reading of ``path`` differs from the inspector's."""
    problems = []
    declared = inspection.declared or inspection.format
    driver = qemu.qemu_format(declared)
    if info.format != driver:
        problems.append(f"qemu-img reads the image as {info.format!r}, not {driver!r}")
    expected = inspection.virtual_size
    if expected is not None and driver == "raw":
        expected = -(-expected // 512) * 512  # qemu sees a raw file in whole sectors
    if expected is not None and info.virtual_size != expected:
        problems.append(f"qemu-img reads a virtual size of {info.virtual_size} bytes, the "
                        f"inspector {inspection.virtual_size}")
    if info.format == "vmdk":
        own = str(path.resolve())
        if [str(Path(e).resolve()) for e in info.extents] != [own]:
            problems.append(f"qemu-img reads {len(info.extents)} VMDK extent(s), not the "
                            "image itself alone")
        create_type = inspection.details.get("vmdk_create_type")
        if info.create_type != create_type:
            problems.append(f"qemu-img reads VMDK createType {info.create_type!r}, the "
                            f"inspector {create_type!r}")
    return problems


async def cross_check(path: str | Path, inspection: Inspection, *,
                      container_format: str | None = None,
                      limits: qemu.Limits = qemu.INFO_LIMITS,
                      qemu_img: str = qemu.QEMU_IMG) -> qemu.ImageInfo | None:
    """``qemu-img info`` on ``path`` (the bytes ``inspection`` saw) must agree with it.

    Raises ``UnsafeImage`` when qemu reports another file or disagrees, or
    cannot read the image as its declared format; ``Unavailable`` when
    qemu-img cannot be run at all. An archive container is not a disk to
    qemu: nothing is checked and None is answered.
    """
    if container_format in ARCHIVE_CONTAINERS:
        return None
    path = await asyncio.to_thread(Path(path).resolve)
    declared = inspection.declared or inspection.format
    try:
        info = await qemu.info(path, declared, limits=limits, qemu_img=qemu_img)
    except UnsafeImage:
        raise
    except qemu.QemuImgTimeout as exc:
        raise UnsafeImage(f"image rejected: {exc.message}", [exc.message]) from None
    except qemu.QemuImgUnavailable as exc:
        raise Unavailable(f"the image could not be checked: {exc.message}") from None
    except qemu.QemuImgError as exc:
        reason = f"qemu-img cannot read the image as {declared}: {exc.stderr or exc.message}"
        raise UnsafeImage(f"image rejected: {reason}", [reason]) from None
    problems = await asyncio.to_thread(disagreements, path, inspection, info)
    if problems:
        raise UnsafeImage("image rejected: " + "; ".join(problems), problems)
    return info


async def verify_file(path: str | Path, disk_format: str, container_format: str | None = None,
                      *, limits: qemu.Limits = qemu.INFO_LIMITS,
                      qemu_img: str = qemu.QEMU_IMG) -> CheckedImage:
    """Inspect ``path`` and cross-check it with qemu-img; ``ImageRejected`` when unsafe."""
    inspection = await asyncio.to_thread(inspect_file, path, disk_format, container_format)
    inspection.raise_if_unsafe()
    info = await cross_check(path, inspection, container_format=container_format,
                             limits=limits, qemu_img=qemu_img)
    return CheckedImage(inspection, info)
