"""Is KVM usable here? A short, bounded probe run before the first guest.

``/dev/kvm`` existing is not enough: under nested virtualisation on some hosts KVM
opens, runs a guest's first instructions, and then crawls (a Linux kernel never
reaches its console). The probe boots a 222-byte multiboot image (``kvmprobe.S``)
with QEMU and ``accel=kvm``: it enters 64-bit long mode with paging, writes 32 MiB
of memory (what a kernel unpacking itself does first) and leaves through the
``isa-debug-exit`` port. Under TCG this takes well under a second; KVM that cannot
finish it within ``within`` seconds is not used, and the driver falls back to QEMU
TCG, saying so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from dataclasses import dataclass

PROBE_IMAGE = bytes.fromhex(
    "02b0ad1b00000100fe4f51e40000100000001000000000000040100020001000fabf00101000"
    "31c0b9000c0000f3abbf00101000b80020100083c8038907bf00201000b80030100083c80389"
    "07bf0030100031c989c8c1e0150d830000008904cf4181f90002000075eab8001010000f22d8"
    "0f20e083c8200f22e0b9800000c00f320d000100000f300f20c00d010000800f22c00f0115d8"
    "001000eaa2001000080048c7c70000000148c7c10000400048b85a5a5a5a5a5a5a5af348abb0"
    "01e6f4f4ebfd8d7426000000000000000000ffff0000009aaf000f00c8001000")
# isa-debug-exit turns the byte written (1) into exit status (1 << 1) | 1.
PROBE_EXIT_STATUS = 3
DEFAULT_EMULATOR = "/usr/bin/qemu-system-x86_64"


@dataclass(frozen=True)
class ProbeResult:
    usable: bool
    seconds: float
    reason: str  # why not usable, or "" when it is


async def probe(accel: str = "kvm", *, emulator: str = DEFAULT_EMULATOR,
                within: float = 5.0, cpu: str = "") -> ProbeResult:
    """Run the probe image under ``accel`` ("kvm" or "tcg"), killed after ``within`` s.

    ``cpu`` is QEMU's ``-cpu`` model (e.g. "host"); empty means QEMU's default.
    """
    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return ProbeResult(False, 0.0, "/dev/kvm is missing or not accessible")
    with tempfile.NamedTemporaryFile(prefix="strata-kvmprobe-", suffix=".bin") as image:
        image.write(PROBE_IMAGE)
        image.flush()
        argv = [emulator, "-nodefaults", "-no-user-config", "-display", "none",
                "-machine", f"pc,accel={accel}", "-m", "64", "-kernel", image.name,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-monitor", "none", "-serial", "none"]
        if cpu:
            argv += ["-cpu", cpu]
        start = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            return ProbeResult(False, 0.0, f"cannot run {emulator}: {exc.strerror}")
        try:
            _, err = await asyncio.wait_for(proc.communicate(), within)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return ProbeResult(False, time.monotonic() - start,
                               f"a {accel} guest did not finish the probe within "
                               f"{within:g}s (nested virtualisation too slow or hung)")
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
    seconds = time.monotonic() - start
    if proc.returncode != PROBE_EXIT_STATUS:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return ProbeResult(False, seconds, f"the {accel} probe exited with status "
                                           f"{proc.returncode}: {tail[0]}")
    return ProbeResult(True, seconds, "")
