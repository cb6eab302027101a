"""The in-memory reference virt driver: the contract's state machine, no hypervisor.

It keeps every instance in a dict, writes a few console lines to the spec's
``console_log`` at each start (``STRATA-MEMORY: boot <n> <uuid>``) and at each disk
hot-plug, and flattens local disks with ``qemu-img`` for snapshots, as the libvirt
driver does. The API layer's tests use it
where booting real guests would be slow; it passes the same contract suite as the
libvirt driver. ``crash(uuid)`` stands in for a guest that died.

Instances live in the object given as ``registry`` (a plain dict by default); two
driver objects sharing one registry model a restart of the compute agent that
adopts the instances still "running".
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
from dataclasses import dataclass, field
from typing import Literal

from compute.errors import DeviceNotFound, InstanceNotFound, InvalidSpec, VirtError
from compute.virt.diskops import flatten
from compute.virt.driver import (
    ACTIVE_STATES,
    ConsoleEndpoint,
    Disk,
    HostInfo,
    InstanceInfo,
    InstanceSpec,
    LocalDisk,
    Nic,
    PowerState,
    check_disk,
    check_nic,
    check_resources,
    check_state,
    next_device,
    validate_spec,
)


@dataclass
class _Instance:
    spec: InstanceSpec
    state: PowerState = PowerState.SHUTDOWN
    boots: int = 0
    disks: list[Disk] = field(default_factory=list)
    nics: list[Nic] = field(default_factory=list)
    reserved: list[str] = field(default_factory=list)  # the config drive's device


class MemoryDriver:
    def __init__(self, name_prefix: str = "strata-", *, host_vcpus: int = 8,
                 host_memory_mib: int = 16384,
                 registry: dict[str, _Instance] | None = None) -> None:
        self.name_prefix = name_prefix
        self._host_vcpus = host_vcpus
        self._host_memory = host_memory_mib
        self._vms: dict[str, _Instance] = registry if registry is not None else {}
        self._lock = asyncio.Lock()

    @property
    def registry(self) -> dict[str, _Instance]:
        return self._vms

    def _get(self, uuid: str) -> _Instance:
        vm = self._vms.get(uuid)
        if vm is None:
            raise InstanceNotFound(uuid)
        return vm

    def _console(self, vm: _Instance, line: str) -> None:
        with open(vm.spec.console_log, "a") as log:
            log.write(line + "\n")

    def _start(self, vm: _Instance) -> None:
        vm.boots += 1
        vm.state = PowerState.RUNNING
        self._console(vm, f"STRATA-MEMORY: boot {vm.boots} {vm.spec.uuid} {vm.spec.name}")

    def _info(self, vm: _Instance) -> InstanceInfo:
        return InstanceInfo(uuid=vm.spec.uuid, name=vm.spec.name, state=vm.state,
                            vcpus=vm.spec.vcpus, memory_mib=vm.spec.memory_mib,
                            cpu_time_ns=vm.boots * 1000,
                            disks=tuple(d.device for d in vm.disks),
                            macs=tuple(n.mac.lower() for n in vm.nics))

    # -- lifecycle -------------------------------------------------------------------

    async def spawn(self, spec: InstanceSpec) -> InstanceInfo:
        validate_spec(spec)
        async with self._lock:
            vm = self._vms.get(spec.uuid)
            if vm is None:
                disks: list[Disk] = []
                for disk in spec.disks:
                    used = [d.device for d in disks] + [d.device for d in spec.disks]
                    disks.append(disk if disk.device else
                                 dataclasses.replace(disk, device=next_device(used)))
                reserved = [next_device([d.device for d in disks])] if spec.config_drive else []
                vm = _Instance(spec, disks=disks, nics=list(spec.nics), reserved=reserved)
                self._vms[spec.uuid] = vm
            if vm.state in (PowerState.SHUTDOWN, PowerState.CRASHED):
                self._start(vm)
            return self._info(vm)

    async def destroy(self, uuid: str) -> None:
        self._vms.pop(uuid, None)

    async def power_off(self, uuid: str, grace: float = 60.0) -> None:
        vm = self._get(uuid)
        check_state(uuid, "power_off", vm.state)
        vm.state = PowerState.SHUTDOWN

    async def power_on(self, uuid: str) -> None:
        vm = self._get(uuid)
        check_state(uuid, "power_on", vm.state)
        if vm.state != PowerState.RUNNING:
            self._start(vm)

    async def reboot(self, uuid: str, hard: bool = False, grace: float = 60.0) -> None:
        vm = self._get(uuid)
        check_state(uuid, "hard_reboot" if hard else "soft_reboot", vm.state)
        self._start(vm)

    async def pause(self, uuid: str) -> None:
        self._transition(uuid, "pause", PowerState.PAUSED)

    async def unpause(self, uuid: str) -> None:
        self._transition(uuid, "unpause", PowerState.RUNNING)

    async def suspend(self, uuid: str) -> None:
        self._transition(uuid, "suspend", PowerState.SUSPENDED)

    async def resume(self, uuid: str) -> None:
        self._transition(uuid, "resume", PowerState.RUNNING)

    def _transition(self, uuid: str, operation: str, to: PowerState) -> None:
        vm = self._get(uuid)
        check_state(uuid, operation, vm.state)
        vm.state = to

    async def resize(self, uuid: str, vcpus: int, memory_mib: int) -> None:
        vm = self._get(uuid)
        check_state(uuid, "resize", vm.state)
        check_resources(vcpus, memory_mib)
        vm.spec = dataclasses.replace(vm.spec, vcpus=vcpus, memory_mib=memory_mib)

    def crash(self, uuid: str) -> None:
        """Simulate a guest whose process died (what killing QEMU does)."""
        self._get(uuid).state = PowerState.CRASHED

    # -- devices ---------------------------------------------------------------------

    async def attach_volume(self, uuid: str, disk: Disk) -> str:
        vm = self._get(uuid)
        check_state(uuid, "attach", vm.state)
        check_disk(disk)
        used = [d.device for d in vm.disks] + vm.reserved
        if disk.device and disk.device in used:
            raise InvalidSpec(f"device {disk.device} is in use")
        device = disk.device or next_device(used)
        vm.disks.append(dataclasses.replace(disk, device=device))
        if vm.state in ACTIVE_STATES:
            self._console(vm, f"STRATA-MEMORY: disk added {device}")
        return device

    async def detach_volume(self, uuid: str, device: str) -> None:
        vm = self._get(uuid)
        check_state(uuid, "detach", vm.state)
        found = [d for d in vm.disks if d.device == device]
        if not found:
            raise DeviceNotFound(f"instance {uuid} has no disk {device}")
        vm.disks.remove(found[0])
        if vm.state in ACTIVE_STATES:
            self._console(vm, f"STRATA-MEMORY: disk removed {device}")

    async def attach_interface(self, uuid: str, nic: Nic) -> None:
        vm = self._get(uuid)
        check_state(uuid, "attach", vm.state)
        check_nic(nic)
        if any(n.mac.lower() == nic.mac.lower() for n in vm.nics):
            raise InvalidSpec(f"instance {uuid} already has a NIC with MAC {nic.mac}")
        vm.nics.append(nic)

    async def detach_interface(self, uuid: str, mac: str) -> None:
        vm = self._get(uuid)
        check_state(uuid, "detach", vm.state)
        found = [n for n in vm.nics if n.mac.lower() == mac.lower()]
        if not found:
            raise DeviceNotFound(f"instance {uuid} has no interface with MAC {mac}")
        vm.nics.remove(found[0])

    # -- queries ---------------------------------------------------------------------

    async def info(self, uuid: str) -> InstanceInfo:
        return self._info(self._get(uuid))

    async def list_instances(self) -> list[InstanceInfo]:
        return [self._info(vm) for vm in self._vms.values()]

    async def console_output(self, uuid: str, lines: int | None = None) -> str:
        vm = self._get(uuid)
        return tail_lines(await asyncio.to_thread(read_text, vm.spec.console_log), lines)

    async def snapshot(self, uuid: str, device: str, dest: str,
                       fmt: Literal["qcow2", "raw"] = "qcow2") -> None:
        vm = self._get(uuid)
        check_state(uuid, "snapshot", vm.state)
        found = [d for d in vm.disks if d.device == device]
        if not found:
            raise DeviceNotFound(f"instance {uuid} has no disk {device}")
        source = found[0].source
        if not isinstance(source, LocalDisk):
            raise VirtError(f"disk {device} is a volume: snapshot it in the block store")
        await flatten(source.path, source.format, dest, fmt)

    async def vnc_console(self, uuid: str) -> ConsoleEndpoint:
        vm = self._get(uuid)
        check_state(uuid, "open_console", vm.state)
        return ConsoleEndpoint("vnc", host="127.0.0.1", port=5900)

    async def serial_console(self, uuid: str) -> ConsoleEndpoint:
        vm = self._get(uuid)
        check_state(uuid, "open_console", vm.state)
        return ConsoleEndpoint("serial", path=f"/dev/null#{uuid}")

    async def host_info(self) -> HostInfo:
        usage = shutil.disk_usage(os.getcwd())
        used_memory = sum(vm.spec.memory_mib for vm in self._vms.values()
                          if vm.state in ACTIVE_STATES)
        return HostInfo(hostname=socket.gethostname(), vcpus=self._host_vcpus,
                        memory_mib=self._host_memory,
                        memory_free_mib=max(self._host_memory - used_memory, 0),
                        disk_gib=usage.total >> 30, disk_free_gib=usage.free >> 30,
                        hypervisor_type="memory", hypervisor_version=1,
                        virt_type="memory")

    async def close(self) -> None:
        return None


def read_text(path: str) -> str:
    """A log file's text ('' when it does not exist yet); blocking."""
    try:
        with open(path, "rb") as fh:
            return fh.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def tail_lines(text: str, lines: int | None) -> str:
    """The last ``lines`` lines of ``text`` (all of it for None)."""
    if lines is None:
        return text
    if lines <= 0:
        return ""
    kept = text.splitlines(keepends=True)[-lines:]
    return "".join(kept)
