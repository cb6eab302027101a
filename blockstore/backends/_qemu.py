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
from diskimage.errors import ImageRejected
from diskimage.qemu import (
    CONVERT_LIMITS,
    INFO_LIMITS,
    ImageInfo,
    Limits,
    QemuImgError,
    qemu_format,
    run_limited,
)
from diskimage.safety import verify_file

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
    """``diskimage.safety.verify_file`` (the inspector, then qemu-img cross-checked) with
    backend errors: a bad format, or an image qemu could read as anything but one
    self-contained disk, is :class:`InvalidArgument`. Run before every convert."""
    try:
        qemu_format(fmt)
    except QemuImgError as exc:
        raise InvalidArgument(exc.message) from None
    try:
        checked = await verify_file(path, fmt, limits=INFO_LIMITS, qemu_img=binary)
    except ImageRejected as exc:
        raise InvalidArgument(str(exc)) from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read the image: {exc.strerror or exc}") from None
    assert checked.info is not None  # no container format: qemu-img always answers
    return checked.info


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
