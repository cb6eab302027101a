"""qemu-img and qemu-storage-daemon for the volume backends.

``qemu-img`` runs through the shared limited runner
(``diskimage.qemu.run_limited``: resource limits, a timeout, explicit
formats); this module adds what the backends need beyond ``diskimage.qemu``
(overlays, resize, rebase, convert into an existing target) and maps
failures to the backend errors (``No space left on device`` is
:class:`NoSpace`). It also holds a minimal asyncio QMP client for the
storage daemons that serve volumes' raw views.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from blockstore.backends.base import BackendError, InvalidArgument, NoSpace
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
    """Run ``commands`` in order on a QMP monitor; their ``return`` values.

    Events are skipped. An ``error`` answer raises :class:`QmpError` (the
    commands after it are not sent).
    """
    try:
        async with asyncio.timeout(deadline):
            reader, writer = await asyncio.open_unix_connection(socket_path, limit=1 << 22)
    except (OSError, TimeoutError) as exc:
        raise QmpError(f"cannot reach the storage daemon at {socket_path}: {exc}") from None
    out: list[Any] = []
    try:
        async with asyncio.timeout(deadline):
            await reader.readline()  # the greeting
            for name, arguments in (("qmp_capabilities", None), *commands):
                msg: dict[str, Any] = {"execute": name}
                if arguments is not None:
                    msg["arguments"] = arguments
                writer.write(json.dumps(msg).encode() + b"\n")
                await writer.drain()
                while True:
                    line = await reader.readline()
                    if not line:
                        if name == "quit":
                            out.append({})
                            break
                        raise QmpError(f"the storage daemon closed its monitor during {name}")
                    answer = json.loads(line)
                    if "event" in answer:
                        continue
                    if "error" in answer:
                        desc = answer["error"].get("desc", "unknown error")
                        raise _qmp_error(name, str(desc))
                    if name != "qmp_capabilities":
                        out.append(answer.get("return"))
                    break
            if commands and commands[-1][0] == "quit":
                while await reader.read(65536):  # wait until the daemon closes the monitor
                    pass
    except TimeoutError:
        raise QmpError(f"the storage daemon at {socket_path} did not answer in time") from None
    except (OSError, ValueError) as exc:
        raise QmpError(f"talking to the storage daemon at {socket_path}: {exc}") from None
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    return out


def _qmp_error(name: str, desc: str) -> BackendError:
    if ENOSPC_TEXT in desc:
        return NoSpace(f"{name}: {ENOSPC_TEXT}")
    return QmpError(f"storage daemon: {name} failed: {desc}")
