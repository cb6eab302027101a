"""Disk files of guests, as both drivers and the agent change them: ``flatten`` (a
disk and its backing chain copied into one new file: snapshots) and ``grow`` (a disk
made larger: resize). Both run ``qemu-img`` as a subprocess, off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os

from compute.errors import InvalidSpec, VirtError


async def _qemu_img(*argv: str, time_limit: float = 600.0) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        "qemu-img", *argv, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), time_limit)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise VirtError(f"qemu-img {argv[0]} failed: "
                        f"{err.decode(errors='replace').strip()}"[:255])
    return out


async def flatten(src: str, src_fmt: str, dest: str, fmt: str,
                  time_limit: float = 3600.0) -> None:
    """``qemu-img convert -U`` a disk (and its backing chain) into the new file ``dest``
    (removed again when the copy fails)."""
    if await asyncio.to_thread(os.path.exists, dest):
        raise VirtError(f"snapshot destination {dest} exists")
    try:
        await _qemu_img("convert", "-U", "-f", src_fmt, "-O", fmt, src, dest,
                        time_limit=time_limit)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(os.unlink, dest)
        raise


async def virtual_size(path: str) -> int:
    """The disk's size as the guest sees it (bytes)."""
    info = json.loads(await _qemu_img("info", "-U", "--output=json", path))
    return int(info["virtual-size"])


async def grow(path: str, size: int) -> bool:
    """Make the (qcow2) disk ``size`` bytes when it is smaller; never shrink. Whether
    it grew."""
    if size <= 0:
        raise InvalidSpec(f"disk size {size} is not positive")
    if await virtual_size(path) >= size:
        return False
    await _qemu_img("resize", "-f", "qcow2", path, str(size))
    return True
