"""The virt driver contract (compute/virt/driver.py), run against every driver.

``memory`` is the in-memory reference; ``libvirt`` boots the real tiny guest under
libvirtd (QEMU TCG here: KVM is probed and, nested, found too slow), 128 MiB and
one vCPU. One guest per driver goes through the whole state machine in order, so
the tests of this module run in sequence on the same instance.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from compute.errors import (
    DeviceNotFound,
    InstanceNotFound,
    InvalidInstanceState,
    InvalidSpec,
)
from compute.tinyguest import READY_MARKER, TinyGuest
from compute.virt.driver import Disk, InstanceSpec, LocalDisk, PowerState, VirtDriver
from compute.virt.libvirt import LibvirtDriver
from compute.virt.memory import MemoryDriver
from tests.functional.compute.conftest import guest_spec, nic_on, run, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")
GRACE = 1.0  # the tiny guest ignores ACPI power buttons: graceful stops time out fast


@dataclass
class Env:
    driver: VirtDriver
    spec: InstanceSpec
    workdir: Path
    ready_text: str  # what the console shows once the guest is up
    kill: Callable[[str], Awaitable[None]]  # what a crashed QEMU looks like
    reopen: Callable[[], Awaitable[VirtDriver]]  # a new driver object (agent restart)


async def _kill_qemu(prefix: str, uuid: str) -> None:
    pid = int(Path(f"/var/run/libvirt/qemu/{prefix}{uuid}.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["memory", "libvirt"])
async def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              bridge: str, domain_prefix: str) -> AsyncIterator[Env]:
    workdir = tmp_path_factory.mktemp(f"virt-{request.param}")
    if request.param == "memory":
        memory = MemoryDriver(domain_prefix)
        guest_dir = workdir / "guest"
        guest_dir.mkdir()
        (guest_dir / "disk.raw").write_bytes(b"\0" * 65536)
        run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
            str(guest_dir / "disk.raw"), str(guest_dir / "disk"), "1M")
        spec = guest_spec(_fake_guest(guest_dir), workdir, disk=guest_dir / "disk")

        async def crash(uuid: str) -> None:
            memory.crash(uuid)

        async def reopen_memory() -> VirtDriver:
            return MemoryDriver(domain_prefix, registry=memory.registry)

        env = Env(memory, spec, workdir, f"boot 1 {spec.uuid}", crash, reopen_memory)
    else:
        request.getfixturevalue("libvirt_ready")
        guest: TinyGuest = request.getfixturevalue("tiny_guest")
        driver = await LibvirtDriver.open(name_prefix=domain_prefix, instances_dir=workdir)
        spec = guest_spec(guest, workdir, name="contract")

        async def kill(uuid: str) -> None:
            await _kill_qemu(domain_prefix, uuid)

        async def reopen_libvirt() -> VirtDriver:
            return await LibvirtDriver.open(name_prefix=domain_prefix, instances_dir=workdir,
                                            virt_type=driver.domain_type)

        env = Env(driver, spec, workdir, f"{READY_MARKER} {spec.uuid}", kill, reopen_libvirt)
    try:
        yield env
    finally:
        for info in await env.driver.list_instances():
            await env.driver.destroy(info.uuid)
        await env.driver.close()


def _fake_guest(directory: Path) -> TinyGuest:
    """Files shaped like the tiny guest, for the memory driver (it boots nothing)."""
    for name in ("vmlinuz", "initrd.gz"):
        (directory / name).write_bytes(b"\0")
    return TinyGuest(directory, "memory")


async def state(env: Env) -> PowerState:
    return (await env.driver.info(env.spec.uuid)).state


async def test_spawn_boots_the_guest(env: Env) -> None:
    info = await env.driver.spawn(env.spec)
    assert info.state == PowerState.RUNNING
    assert (info.uuid, info.name, info.vcpus, info.memory_mib) == \
        (env.spec.uuid, env.spec.name, 1, 128)
    assert info.disks[0] == "vda"
    out = await wait_for(lambda: env.driver.console_output(env.spec.uuid), env.ready_text)
    assert env.spec.uuid in out


async def test_spawn_is_idempotent_and_listed(env: Env) -> None:
    again = await env.driver.spawn(env.spec)
    assert again.state == PowerState.RUNNING
    listed = {i.uuid: i for i in await env.driver.list_instances()}
    assert listed[env.spec.uuid].state == PowerState.RUNNING
    assert len(listed) == 1


async def test_console_output_tail(env: Env) -> None:
    last = await env.driver.console_output(env.spec.uuid, 2)
    full = await env.driver.console_output(env.spec.uuid)  # read after: the log only grows
    assert last and last in full and len(last.splitlines()) <= 2
    assert await env.driver.console_output(env.spec.uuid, 0) == ""


async def test_unknown_instances_are_not_found(env: Env) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for call in (env.driver.info(missing), env.driver.pause(missing),
                 env.driver.power_on(missing), env.driver.console_output(missing)):
        with pytest.raises(InstanceNotFound):
            await call
    await env.driver.destroy(missing)  # idempotent


async def test_bad_specs_are_refused_before_anything_is_made(env: Env) -> None:
    import dataclasses

    bad = dataclasses.replace(env.spec, uuid="11111111-2222-4333-8444-555555555555",
                              disks=(Disk(LocalDisk(str(env.workdir / "nope.qcow2"))),))
    with pytest.raises(InvalidSpec):
        await env.driver.spawn(bad)
    with pytest.raises(InvalidSpec):
        await env.driver.spawn(dataclasses.replace(bad, uuid="not-a-uuid"))
    with pytest.raises(InvalidSpec):
        await env.driver.spawn(dataclasses.replace(env.spec, uuid=bad.uuid, memory_mib=1))
    assert {i.uuid for i in await env.driver.list_instances()} == {env.spec.uuid}


async def test_pause_and_unpause(env: Env) -> None:
    uuid = env.spec.uuid
    await env.driver.pause(uuid)
    assert await state(env) == PowerState.PAUSED
    with pytest.raises(InvalidInstanceState):
        await env.driver.pause(uuid)
    with pytest.raises(InvalidInstanceState):
        await env.driver.resume(uuid)
    await env.driver.unpause(uuid)
    assert await state(env) == PowerState.RUNNING
    with pytest.raises(InvalidInstanceState):
        await env.driver.unpause(uuid)


async def test_hot_plug_a_disk(env: Env) -> None:
    uuid = env.spec.uuid
    extra = env.workdir / "extra.raw"
    extra.write_bytes(b"\0" * (8 << 20))
    device = await env.driver.attach_volume(uuid, Disk(LocalDisk(str(extra), "raw"),
                                                       serial="extra-volume"))
    assert device == "vdc"  # vda the root disk, vdb the config drive
    assert device in (await env.driver.info(uuid)).disks
    with pytest.raises(InvalidSpec):
        await env.driver.attach_volume(uuid, Disk(LocalDisk(str(extra), "raw"), device=device))
    await env.driver.detach_volume(uuid, device)
    assert device not in (await env.driver.info(uuid)).disks
    with pytest.raises(DeviceNotFound):
        await env.driver.detach_volume(uuid, device)


async def test_hot_plug_an_interface(env: Env, bridge: str) -> None:
    uuid = env.spec.uuid
    nic = nic_on(bridge)
    await env.driver.attach_interface(uuid, nic)
    assert nic.mac in (await env.driver.info(uuid)).macs
    with pytest.raises(InvalidSpec):
        await env.driver.attach_interface(uuid, nic)
    await env.driver.detach_interface(uuid, nic.mac)
    assert nic.mac not in (await env.driver.info(uuid)).macs
    with pytest.raises(DeviceNotFound):
        await env.driver.detach_interface(uuid, nic.mac)


async def test_consoles(env: Env) -> None:
    vnc = await env.driver.vnc_console(env.spec.uuid)
    assert vnc.kind == "vnc" and vnc.host == "127.0.0.1" and vnc.port >= 5900
    serial = await env.driver.serial_console(env.spec.uuid)
    assert serial.kind == "serial" and serial.path


async def test_snapshot_copies_the_disk(env: Env) -> None:
    dest = env.workdir / "snap.qcow2"
    await env.driver.snapshot(env.spec.uuid, "vda", str(dest))
    info = json.loads(run("qemu-img", "info", "--output=json", str(dest)))
    assert info["format"] == "qcow2" and "backing-filename" not in info  # flattened
    assert await state(env) == PowerState.RUNNING  # paused for the copy only
    with pytest.raises(DeviceNotFound):
        await env.driver.snapshot(env.spec.uuid, "vdz", str(env.workdir / "none.qcow2"))


async def test_suspend_and_resume(env: Env) -> None:
    uuid = env.spec.uuid
    await env.driver.suspend(uuid)
    assert await state(env) == PowerState.SUSPENDED
    for refused in (env.driver.pause(uuid), env.driver.unpause(uuid),
                    env.driver.reboot(uuid, hard=False, grace=GRACE)):
        with pytest.raises(InvalidInstanceState):
            await refused
    await env.driver.resume(uuid)
    assert await state(env) == PowerState.RUNNING


async def test_reboots(env: Env) -> None:
    uuid = env.spec.uuid
    await env.driver.reboot(uuid, hard=True)
    assert await state(env) == PowerState.RUNNING
    await env.driver.reboot(uuid, hard=False, grace=GRACE)  # no ACPI handler: then hard
    assert await state(env) == PowerState.RUNNING


async def test_power_off_and_on(env: Env) -> None:
    uuid = env.spec.uuid
    await env.driver.power_off(uuid, grace=GRACE)
    assert await state(env) == PowerState.SHUTDOWN
    await env.driver.power_off(uuid, grace=GRACE)  # already off: nothing to do
    for refused in (env.driver.pause(uuid), env.driver.suspend(uuid),
                    env.driver.reboot(uuid, hard=False)):
        with pytest.raises(InvalidInstanceState):
            await refused
    with pytest.raises(InvalidInstanceState):
        await env.driver.vnc_console(uuid)
    await env.driver.power_on(uuid)
    assert await state(env) == PowerState.RUNNING
    await env.driver.power_on(uuid)  # already on


async def test_resize_applies_to_the_definition(env: Env) -> None:
    uuid = env.spec.uuid
    await env.driver.power_off(uuid, grace=0)
    await env.driver.resize(uuid, 2, 192)
    info = await env.driver.info(uuid)
    assert (info.vcpus, info.memory_mib, info.state) == (2, 192, PowerState.SHUTDOWN)
    with pytest.raises(InvalidSpec):
        await env.driver.resize(uuid, 0, 192)
    await env.driver.resize(uuid, 1, 128)
    await env.driver.power_on(uuid)
    assert (await env.driver.info(uuid)).memory_mib == 128


async def test_a_killed_guest_is_not_running(env: Env) -> None:
    uuid = env.spec.uuid
    await env.kill(uuid)
    for _ in range(100):
        if await state(env) != PowerState.RUNNING:
            break
        await asyncio.sleep(0.1)
    assert await state(env) in (PowerState.CRASHED, PowerState.SHUTDOWN)
    await env.driver.power_on(uuid)
    assert await state(env) == PowerState.RUNNING


async def test_a_new_driver_adopts_running_instances(env: Env) -> None:
    other = await env.reopen()
    try:
        listed = {i.uuid: i.state for i in await other.list_instances()}
        assert listed == {env.spec.uuid: PowerState.RUNNING}
    finally:
        if other is not env.driver:
            await other.close()


async def test_destroy_is_idempotent(env: Env) -> None:
    uuid = env.spec.uuid
    await env.driver.destroy(uuid)
    await env.driver.destroy(uuid)
    with pytest.raises(InstanceNotFound):
        await env.driver.info(uuid)
    assert await env.driver.list_instances() == []


async def test_host_info(env: Env) -> None:
    host = await env.driver.host_info()
    assert host.vcpus >= 1 and host.memory_mib > 0 and host.disk_gib > 0
    assert host.virt_type in ("kvm", "qemu", "memory")
    if isinstance(env.driver, LibvirtDriver):
        assert host.hypervisor_type == "QEMU" and host.hypervisor_version > 1_000_000
