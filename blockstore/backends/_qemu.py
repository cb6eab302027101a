"""qemu-img and qemu-storage-daemon for the volume backends.

``qemu-img`` runs through the shared limited runner
(``diskimage.qemu.run_limited``: resource limits, a timeout, explicit
formats); this module adds what the backends need beyond ``diskimage.qemu``
(overlays, resize, rebase, convert into an existing target) and maps
failures to the backend errors (``No space left on device`` is
:class:`NoSpace`), for qemu-img and for the QMP client
(``diskimage.qmp``) that drives the storage daemons serving volumes' raw
views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blockstore.backends.base import BackendError, InvalidArgument, NoSpace
from diskimage import qmp as qmp_client
from diskimage.errors import UnsafeImage
from diskimage.qemu import (
    CONVERT_LIMITS,
    INFO_LIMITS,
    ImageInfo,
    Limits,
    QemuImgError,
    info,
    qemu_format,
    run_limited,
)

QEMU_IMG = "qemu-img"
ENOSPC_TEXT = "No space left on device"


def _error(what: str, message: str) -> BackendError:
    if ENOSPC_TEXT in message:
        return NoSpace(f"{what}: {ENOSPC_TEXT}")
    return BackendError(f"{what}: {message}")


async def qemu_img(args: Sequence[str], *, limits: Limits = CONVERT_LIMITS,
                   binary: str = QEMU_IMG) -> None:
    """Run ``qemu-img <args>``; a failure is a :class:`BackendError` with stderr's tail."""
    try:
        result = await run_limited([binary, *args], limits)
    except QemuImgError as exc:
        raise _error(f"qemu-img {args[0]}", exc.message) from None
    if result.returncode != 0:
        tail = result.stderr.strip()[-1000:]
        raise _error(f"qemu-img {args[0]} failed (exit status {result.returncode})", tail)


async def image_info(path: str, fmt: str, *, binary: str = QEMU_IMG) -> ImageInfo:
    """``diskimage.qemu.info`` with backend errors: a bad format or an image naming
    a backing file, a data file or foreign extents is :class:`InvalidArgument`."""
    try:
        qemu_format(fmt)
    except QemuImgError as exc:
        raise InvalidArgument(exc.message) from None
    try:
        return await info(path, fmt, limits=INFO_LIMITS, qemu_img=binary)
    except UnsafeImage as exc:
        raise InvalidArgument(str(exc)) from None
    except QemuImgError as exc:
        raise InvalidArgument(f"cannot read the image as {fmt}: {exc.message}") from None


def driver(fmt: str) -> str:
    """The qemu driver for a Glance disk_format, or :class:`InvalidArgument`."""
    try:
        return qemu_format(fmt)
    except QemuImgError as exc:
        raise InvalidArgument(exc.message) from None


class QmpError(BackendError):
    """A QMP command failed (or the daemon could not be reached)."""


async def qmp(socket_path: str, *commands: tuple[str, dict[str, Any] | None],
              deadline: float = 30.0) -> list[Any]:
    """``diskimage.qmp.run`` with backend errors (``No space left`` is :class:`NoSpace`)."""
    try:
        return await qmp_client.run(socket_path, *commands, deadline=deadline)
    except qmp_client.QmpCommandError as exc:
        if ENOSPC_TEXT in exc.desc:
            raise NoSpace(f"{exc.command}: {ENOSPC_TEXT}") from None
        raise QmpError(exc.message) from None
    except qmp_client.QmpError as exc:
        raise QmpError(exc.message) from None
