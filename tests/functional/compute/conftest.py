"""Fixtures for the compute tests: the API as demo and admin on the cloud of the
module that asks (the in-memory driver's cloud is shared by the modules that use it);
for the hypervisor layer the tiny guest (built once per machine, cached), libvirtd
(the system one, started when missing), a unique domain name prefix per session,
throwaway bridges, and guest disks made from the tiny guest."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from compute.host import ensure_libvirtd
from compute.tinyguest import TinyGuest, TinyGuestError, build
from compute.virt import configdrive
from compute.virt.driver import DirectBoot, Disk, InstanceSpec, LocalDisk, Nic
from tests.functional.compute.compute_server import (
    ED25519,
    ComputeCloud,
    Nova,
    compute_cloud,
    unavailable,
)


@pytest.fixture(scope="package")
def memory_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComputeCloud]:
    """One cloud whose hypervisor is the in-memory driver, for every module that tests
    the API's rules (images, volumes and ports are real); the image ``tiny`` and the key
    pair ``imported`` of demo are there."""
    with compute_cloud(tmp_path_factory, STRATA_COMPUTE_VIRT_DRIVER="memory") as c:
        c.upload_tiny()
        c.nova("demo").ok("POST", "/os-keypairs", 201, json={"keypair": {
            "name": "imported", "public_key": ED25519}})
        yield c


@pytest.fixture(scope="module")
def demo(cloud: ComputeCloud) -> Nova:
    """The compute API as ``demo``, on the ``cloud`` of the module that asks."""
    return cloud.nova("demo")


@pytest.fixture(scope="module")
def admin(cloud: ComputeCloud) -> Nova:
    return cloud.nova("admin")


@pytest.fixture(scope="session")
def tiny_guest() -> TinyGuest:
    try:
        return build()
    except TinyGuestError as exc:
        unavailable(f"the tiny guest cannot be built here: {exc}")
        raise


@pytest.fixture(scope="session")
def libvirt_ready() -> str:
    why = ensure_libvirtd()
    if why:
        unavailable(f"libvirt cannot run here: {why}")
    return "qemu:///system"


@pytest.fixture(scope="session")
def domain_prefix() -> str:
    """Every domain a test makes starts with this; tests never touch other domains."""
    return f"stratatest-{uuid.uuid4().hex[:8]}-"


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def bridge() -> Iterator[str]:
    """A throwaway Linux bridge with no uplink (guest NICs plug into it)."""
    name = f"brqt{uuid.uuid4().hex[:8]}"
    run("ip", "link", "add", "name", name, "type", "bridge")
    run("ip", "link", "set", name, "up")
    yield name
    subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)


def new_mac() -> str:
    raw = uuid.uuid4().bytes[:5]
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in raw[:3])


def nic_on(bridge: str) -> Nic:
    return Nic(mac=new_mac(), tap=f"tapt{uuid.uuid4().hex[:8]}", bridge=bridge)


def guest_spec(guest: TinyGuest, workdir: Path, *, name: str = "tiny", cmdline: str = "",
               nics: tuple[Nic, ...] = (), public_key: str = "",
               user_data: bytes | None = None, disk: Path | None = None,
               config_drive: bool = True) -> InstanceSpec:
    """A spec booting the tiny guest: a qcow2 overlay on its disk, a config drive."""
    instance = str(uuid.uuid4())
    directory = workdir / instance
    directory.mkdir(parents=True)
    overlay = directory / "disk"
    if disk is None:
        run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(guest.disk),
            str(overlay), "64M")
    else:
        overlay = disk
    data = configdrive.ConfigDriveData(
        uuid=instance, name=name, hostname=f"{name}-host",
        public_keys={"k": public_key} if public_key else {}, user_data=user_data)
    if config_drive:
        configdrive.build(data, directory / "disk.config")
    return InstanceSpec(
        uuid=instance, name=name, vcpus=1, memory_mib=128,
        disks=(Disk(LocalDisk(str(overlay), "qcow2"), boot_index=0),),
        console_log=str(directory / "console.log"), nics=nics,
        config_drive=str(directory / "disk.config") if config_drive else None,
        direct_boot=DirectBoot(str(guest.kernel), str(guest.ramdisk),
                               " ".join(filter(None, [guest.cmdline, cmdline]))))


async def wait_for(read: object, text: str, within: float = 180.0) -> str:
    """Poll ``read()`` (an async callable answering text) until ``text`` appears."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    out = ""
    while loop.time() < deadline:
        out = await read()  # type: ignore[operator]
        if text in out:
            return str(out)
        await asyncio.sleep(0.25)
    raise AssertionError(f"{text!r} did not appear within {within:g}s; last output:\n"
                         f"{out[-3000:]}")
