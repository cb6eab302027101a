"""diskimage.qemu against the real qemu-img: explicit formats, limits, refusals."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import struct
from pathlib import Path

import pytest
import uvloop

from diskimage import qemu
from diskimage.inspector import UnsafeImage, inspect_file

assert shutil.which("qemu-img"), "qemu-img is missing: `strata test` installs qemu-utils"

MiB = 1 << 20


def proc_limits(text: str) -> dict[str, tuple[str, str]]:
    """/proc/<pid>/limits as {name: (soft, hard)}."""
    out = {}
    for line in text.splitlines()[1:]:
        name, soft, hard = line[:26].strip(), line[26:47].strip(), line[47:68].strip()
        out[name] = (soft, hard)
    return out


async def read_limits(limits: qemu.Limits) -> dict[str, tuple[str, str]]:
    result = await qemu.run_limited(["cat", "/proc/self/limits"], limits)
    assert result.returncode == 0
    return proc_limits(result.stdout.decode())


async def test_limits_are_applied() -> None:
    limits = await read_limits(qemu.INFO_LIMITS)
    assert limits["Max cpu time"] == ("30", "30")
    assert limits["Max address space"] == (str(1 << 30), str(1 << 30))
    custom = await read_limits(qemu.Limits(cpu_seconds=7, address_space=300 * MiB, timeout=5))
    assert custom["Max cpu time"] == ("7", "7")
    assert custom["Max address space"] == (str(300 * MiB), str(300 * MiB))
    # The parent is untouched.
    own = proc_limits(Path(f"/proc/{os.getpid()}/limits").read_text())
    assert own["Max cpu time"] != ("30", "30")


def test_limits_are_applied_under_uvloop() -> None:
    """The services run on uvloop: its subprocesses get the limits too."""
    loop = uvloop.new_event_loop()
    try:
        limits = loop.run_until_complete(read_limits(qemu.CONVERT_LIMITS))
    finally:
        loop.close()
    assert limits["Max cpu time"] == (str(3600), str(3600))
    assert limits["Max address space"] == (str(2 << 30), str(2 << 30))


async def test_cpu_limit_kills_a_spinning_process() -> None:
    limits = qemu.Limits(cpu_seconds=1, address_space=1 << 30, timeout=30)
    result = await qemu.run_limited(["sh", "-c", "while :; do :; done"], limits)
    assert result.returncode < 0  # SIGXCPU, then SIGKILL


async def test_memory_limit_stops_qemu_img(tmp_path: Path) -> None:
    path = tmp_path / "a.qcow2"
    await qemu.create(path, "qcow2", MiB)
    tiny = qemu.Limits(cpu_seconds=5, address_space=8 * MiB, timeout=30)
    with pytest.raises(qemu.QemuImgError) as info:
        await qemu.info(path, "qcow2", limits=tiny)
    assert "qemu-img info" in info.value.message


async def test_timeout_kills_the_process() -> None:
    limits = qemu.Limits(cpu_seconds=5, address_space=1 << 30, timeout=0.3)
    with pytest.raises(qemu.QemuImgTimeout, match=r"took longer than 0\.3 s"):
        await qemu.run_limited(["sleep", "30"], limits)


async def test_cancelling_kills_the_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = asyncio.create_task(qemu.run_limited(
        ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"], qemu.INFO_LIMITS))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if pidfile.exists() and pidfile.read_text().strip():
            break
    pid = int(pidfile.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize(("fmt", "driver", "options"), [
    ("qcow2", "qcow2", {}),
    ("vmdk", "vmdk", {"subformat": "streamOptimized"}),
    ("vmdk", "vmdk", {}),
    ("vhd", "vpc", {}),
    ("vhdx", "vhdx", {}),
    ("vdi", "vdi", {}),
    ("ploop", "parallels", {}),
    ("raw", "raw", {}),
])
async def test_info_agrees_with_the_inspector(tmp_path: Path, fmt: str, driver: str,
                                              options: dict[str, str]) -> None:
    path = tmp_path / f"disk.{fmt}"
    await qemu.create(path, fmt, 300 * MiB + 512, options=options)
    info = await qemu.info(path, fmt)
    assert info.format == driver
    assert info.backing_file is None and info.data_file is None
    inspection = inspect_file(path, fmt)
    assert inspection.safe and inspection.virtual_size == info.virtual_size
    if fmt == "vmdk":
        assert info.create_type in ("monolithicSparse", "streamOptimized")
        assert info.extents == (str(path),)


async def test_info_never_probes(tmp_path: Path) -> None:
    """A qcow2 opened as raw stays raw; raw bytes opened as qcow2 fail with qemu's words."""
    path = tmp_path / "backed.qcow2"
    await qemu.create(path, "qcow2", MiB)
    info = await qemu.info(path, "raw")
    assert info.format == "raw" and info.backing_file is None
    noise = tmp_path / "noise"
    noise.write_bytes(random.Random(2).randbytes(MiB))
    with pytest.raises(qemu.QemuImgError) as err:
        await qemu.info(noise, "qcow2")
    assert err.value.returncode == 1
    assert "qcow2" in err.value.stderr and err.value.stderr in err.value.message


async def test_info_refuses_a_backing_file(tmp_path: Path) -> None:
    path = tmp_path / "backed.qcow2"
    await qemu.create(path, "qcow2", MiB, options={"backing_file": "/etc/passwd",
                                                  "backing_fmt": "raw"})
    with pytest.raises(UnsafeImage, match="backing file"):
        await qemu.info(path, "qcow2")


async def test_info_refuses_a_data_file(tmp_path: Path) -> None:
    path = tmp_path / "split.qcow2"
    await qemu.create(path, "qcow2", MiB, options={"data_file": str(tmp_path / "d,ata.raw")})
    assert (tmp_path / "d,ata.raw").exists()  # the comma went through -o escaped
    with pytest.raises(UnsafeImage, match="external data file"):
        await qemu.info(path, "qcow2")


async def test_info_refuses_foreign_vmdk_extents(tmp_path: Path) -> None:
    path = tmp_path / "flat.vmdk"
    await qemu.create(path, "vmdk", MiB, options={"subformat": "monolithicFlat"})
    with pytest.raises(UnsafeImage) as err:
        await qemu.info(path, "vmdk")
    assert "extents outside the image" in err.value.message
    assert "createType 'monolithicFlat'" in err.value.message


async def test_info_refuses_a_vmdk_parent(tmp_path: Path) -> None:
    """A monolithicSparse VMDK whose descriptor names a parent (qemu follows it)."""
    path = tmp_path / "child.vmdk"
    await qemu.create(path, "vmdk", MiB)
    data = bytearray(path.read_bytes())
    offset, size = (v * 512 for v in struct.unpack_from("<QQ", data, 28))
    text = bytes(data[offset : offset + size]).split(b"\x00", 1)[0]
    text = text.replace(b"parentCID=ffffffff",
                        b'parentCID=12345678\nparentFileNameHint="/etc/passwd"')
    data[offset : offset + size] = text.ljust(size, b"\x00")
    path.write_bytes(data)
    assert not inspect_file(path, "vmdk").safe
    with pytest.raises(UnsafeImage, match="backing file"):
        await qemu.info(path, "vmdk")


async def test_convert_with_progress(tmp_path: Path) -> None:
    src = tmp_path / "src.raw"
    with open(src, "wb") as fh:
        fh.write(random.Random(4).randbytes(2 * MiB))
        fh.truncate(40 * MiB)
    qcow2 = tmp_path / "disk.qcow2"
    seen: list[float] = []
    await qemu.convert(src, "raw", qcow2, "qcow2", progress=seen.append)
    assert seen and seen[-1] == 100.0 and seen == sorted(seen)
    back = tmp_path / "back.vhd"
    await qemu.convert(qcow2, "qcow2", back, "vhd", options={"subformat": "fixed"})
    inspection = inspect_file(back, "vhd")
    assert inspection.safe and inspection.format == "vhd"
    assert inspection.virtual_size == (await qemu.info(back, "vhd")).virtual_size


async def test_convert_failure_carries_stderr(tmp_path: Path) -> None:
    with pytest.raises(qemu.QemuImgError) as err:
        await qemu.convert(tmp_path / "missing", "qcow2", tmp_path / "out", "raw")
    assert "qemu-img convert failed" in err.value.message
    assert "missing" in err.value.stderr


def test_format_names() -> None:
    assert qemu.qemu_format("vhd") == "vpc"
    assert qemu.qemu_format("iso") == "raw"
    assert qemu.qemu_format("ploop") == "parallels"
    assert qemu.qemu_format("vpc") == "vpc"
    with pytest.raises(qemu.QemuImgError):
        qemu.qemu_format("qed")
