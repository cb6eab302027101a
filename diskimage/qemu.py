"""Run ``qemu-img`` on uploaded images, never trusting it to guess.

Every call names the format explicitly (``-f``: qemu never probes, so a raw
image cannot turn into a qcow2 with a backing file), runs as a child process
from asyncio with resource limits set before exec (``RLIMIT_CPU``,
``RLIMIT_AS``: a hostile header cannot make qemu-img spin or eat memory) and
a wall-clock timeout after which it is killed. ``info`` refuses again, as
defence in depth behind ``diskimage.inspector``, an image that names a
backing file, a data file, or VMDK extents other than itself.

Errors are domain exceptions carrying the tail of qemu-img's stderr; each
caller maps them (the image API to 400s, the block store to backend errors).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diskimage.errors import UnsafeImage
from diskimage.formats.vmdk_descriptor import ALLOWED_VMDK_CREATE_TYPES

QEMU_IMG = "qemu-img"

# Glance disk_format -> qemu block driver. ISO and the Amazon kinds are raw to qemu.
QEMU_FORMATS: Mapping[str, str] = {
    "raw": "raw", "ami": "raw", "ari": "raw", "aki": "raw", "iso": "raw",
    "qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc", "vhdx": "vhdx", "vdi": "vdi",
    "ploop": "parallels",
}
_DRIVERS = frozenset(QEMU_FORMATS.values())

STDERR_TAIL = 4096  # bytes of stderr kept for error messages
MAX_STDOUT = 4 * 1024 * 1024  # an info answer larger than this is refused


@dataclass(frozen=True)
class Limits:
    """Resource limits for one qemu-img run."""

    cpu_seconds: int  # RLIMIT_CPU: killed after this much CPU time
    address_space: int  # RLIMIT_AS in bytes: allocations past it fail
    timeout: float  # wall-clock seconds before the process is killed


INFO_LIMITS = Limits(cpu_seconds=30, address_space=1 << 30, timeout=60.0)
CONVERT_LIMITS = Limits(cpu_seconds=3600, address_space=2 << 30, timeout=4 * 3600.0)


class QemuImgError(Exception):
    """qemu-img failed, or could not be run; ``message`` says why, with its stderr tail."""

    def __init__(self, message: str, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.returncode = returncode
        self.stderr = stderr


class QemuImgUnavailable(QemuImgError):
    """qemu-img (or the program asked for) could not be started at all."""


class QemuImgTimeout(QemuImgError):
    """qemu-img ran past its wall-clock timeout and was killed."""


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: bytes
    stderr: str  # the last STDERR_TAIL bytes, decoded


@dataclass(frozen=True)
class ImageInfo:
    """What ``qemu-img info`` says about an image opened with an explicit format."""

    format: str  # qemu driver name ("vpc" for a VHD)
    virtual_size: int
    actual_size: int | None
    backing_file: str | None
    data_file: str | None
    extents: tuple[str, ...]  # VMDK extent file names (the image itself when safe)
    create_type: str | None  # VMDK createType
    encrypted: bool
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)


def qemu_format(fmt: str) -> str:
    """The qemu driver for a Glance disk_format (or a qemu driver name we accept)."""
    if fmt in QEMU_FORMATS:
        return QEMU_FORMATS[fmt]
    if fmt in _DRIVERS:
        return fmt
    raise QemuImgError(f"qemu-img is not run on format {fmt!r}")


def _rlimits(limits: Limits) -> list[tuple[int, tuple[int, int]]]:
    """The (resource, (soft, hard)) pairs to set, never above the current hard limits."""
    out = []
    for res, value in ((resource.RLIMIT_CPU, limits.cpu_seconds),
                       (resource.RLIMIT_AS, limits.address_space)):
        _, hard = resource.getrlimit(res)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        out.append((res, (value, value)))
    return out


def _preexec(settings: list[tuple[int, tuple[int, int]]]) -> Callable[[], None]:
    """A preexec_fn that only calls setrlimit (computed beforehand, in the parent)."""

    def apply() -> None:
        for res, pair in settings:
            resource.setrlimit(res, pair)

    return apply


async def run_limited(
    argv: Sequence[str],
    limits: Limits,
    *,
    on_stdout: Callable[[bytes], None] | None = None,
    max_stdout: int = MAX_STDOUT,
) -> RunResult:
    """Run ``argv`` under ``limits``; stdout is kept (or streamed to ``on_stdout``).

    Raises ``QemuImgTimeout`` after ``limits.timeout`` seconds (the process
    is killed), ``QemuImgError`` when it cannot start or its output is too
    large. Cancelling the caller kills the process too.
    """
    env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            preexec_fn=_preexec(_rlimits(limits)),
        )
    except OSError as exc:
        raise QemuImgUnavailable(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    assert proc.stdout is not None and proc.stderr is not None
    stdout = bytearray()
    stderr = bytearray()

    async def read_stdout(stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            if on_stdout is not None:
                on_stdout(chunk)
            else:
                stdout.extend(chunk)
                if len(stdout) > max_stdout:
                    raise QemuImgError(f"{argv[0]} wrote more than {max_stdout} bytes")

    async def read_stderr(stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            stderr.extend(chunk)
            del stderr[:-STDERR_TAIL]

    try:
        async with asyncio.timeout(limits.timeout):
            await asyncio.gather(read_stdout(proc.stdout), read_stderr(proc.stderr))
            returncode = await proc.wait()
    except TimeoutError:
        await _kill(proc)
        raise QemuImgTimeout(
            f"{Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''} took longer than "
            f"{limits.timeout:g} s and was stopped",
            stderr=stderr.decode("utf-8", "replace"),
        ) from None
    except BaseException:  # our own errors and CancelledError alike: no orphan left
        await _kill(proc)
        raise
    return RunResult(returncode, bytes(stdout), stderr.decode("utf-8", "replace"))


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        await proc.wait()


def _failure(what: str, result: RunResult) -> QemuImgError:
    tail = result.stderr.strip()[-1000:]
    if result.returncode < 0:
        sig = signal.Signals(-result.returncode).name
        why = f"was killed by {sig} (CPU or memory limit reached?)"
    else:
        why = f"failed (exit status {result.returncode})"
    return QemuImgError(
        f"qemu-img {what} {why}" + (f": {tail}" if tail else ""), result.returncode, tail
    )


async def info(
    path: str | Path, fmt: str, *, limits: Limits = INFO_LIMITS, qemu_img: str = QEMU_IMG
) -> ImageInfo:
    """``qemu-img info -f <fmt> --output=json``; refuses backing/data files and foreign extents.

    ``fmt`` is a Glance disk_format (``vhd``) or a qemu driver name (``vpc``).
    """
    driver = qemu_format(fmt)
    argv = [qemu_img, "info", "-f", driver, "--output=json", "--force-share", str(path)]
    result = await run_limited(argv, limits)
    if result.returncode != 0:
        raise _failure("info", result)
    try:
        data = json.loads(result.stdout)
    except ValueError:
        raise QemuImgError("qemu-img info did not answer JSON") from None
    if not isinstance(data, dict):
        raise QemuImgError("qemu-img info did not answer a JSON object")
    image = _image_info(data)
    _refuse_unsafe(image, Path(path))
    return image


def _image_info(data: dict[str, Any]) -> ImageInfo:
    specific = data.get("format-specific") or {}
    sdata = specific.get("data") or {} if isinstance(specific, dict) else {}
    extents = tuple(
        str(e.get("filename", "")) for e in sdata.get("extents") or [] if isinstance(e, dict)
    )
    backing = data.get("full-backing-filename") or data.get("backing-filename")
    return ImageInfo(
        format=str(data.get("format", "")),
        virtual_size=int(data.get("virtual-size", 0)),
        actual_size=int(data["actual-size"]) if "actual-size" in data else None,
        backing_file=str(backing) if backing else None,
        data_file=str(sdata["data-file"]) if sdata.get("data-file") else None,
        extents=extents,
        create_type=str(sdata["create-type"]) if sdata.get("create-type") else None,
        encrypted=bool(data.get("encrypted", False)),
        raw=data,
    )


def _refuse_unsafe(image: ImageInfo, path: Path) -> None:
    problems = []
    if image.backing_file:
        problems.append("qemu-img reports a backing file")
    if image.data_file:
        problems.append("qemu-img reports an external data file")
    if image.format == "vmdk":
        if image.create_type not in ALLOWED_VMDK_CREATE_TYPES:
            problems.append(f"qemu-img reports VMDK createType {image.create_type!r}")
        own = path.resolve()
        if any(Path(name).resolve() != own for name in image.extents):
            problems.append("qemu-img reports VMDK extents outside the image")
    if problems:
        raise UnsafeImage("image rejected: " + "; ".join(problems), problems)


def _options(options: Mapping[str, str]) -> str:
    """``-o`` syntax; a comma inside a value is doubled, as qemu escapes it."""
    return ",".join(f"{k}={v.replace(',', ',,')}" for k, v in options.items())


_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


async def convert(
    src: str | Path,
    src_fmt: str,
    dst: str | Path,
    dst_fmt: str,
    *,
    progress: Callable[[float], None] | None = None,
    options: Mapping[str, str] | None = None,
    limits: Limits = CONVERT_LIMITS,
    qemu_img: str = QEMU_IMG,
) -> None:
    """``qemu-img convert -f <src_fmt> -O <dst_fmt>``; ``progress`` gets 0..100 as it goes.

    Inspect ``src`` first (``diskimage.inspector``): convert trusts its header.
    ``options`` become ``-o key=value,...`` for the output format.
    """
    argv = [qemu_img, "convert", "-f", qemu_format(src_fmt), "-O", qemu_format(dst_fmt)]
    if options:
        argv += ["-o", _options(options)]
    on_stdout = None
    if progress is not None:
        argv.append("-p")
        pending = bytearray()

        def on_stdout(chunk: bytes) -> None:
            pending.extend(chunk)
            *done, rest = re.split(rb"[\r\n]", bytes(pending))
            pending[:] = rest
            for piece in done:
                m = _PROGRESS.search(piece)
                if m:
                    progress(float(m.group(1)))

    argv += [str(src), str(dst)]
    result = await run_limited(argv, limits, on_stdout=on_stdout)
    if result.returncode != 0:
        raise _failure("convert", result)


async def create(
    path: str | Path,
    fmt: str,
    size: int,
    *,
    options: Mapping[str, str] | None = None,
    limits: Limits = INFO_LIMITS,
    qemu_img: str = QEMU_IMG,
) -> None:
    """``qemu-img create -f <fmt> [-o ...] path size`` (for tests and empty disks)."""
    argv = [qemu_img, "create", "-q", "-f", qemu_format(fmt)]
    if options:
        argv += ["-o", _options(options)]
    argv += [str(path), str(size)]
    result = await run_limited(argv, limits)
    if result.returncode != 0:
        raise _failure("create", result)
