"""The virt driver contract: what the compute agent asks of a hypervisor.

Every implementation (:class:`compute.virt.memory.MemoryDriver`, the reference;
:class:`compute.virt.libvirt.LibvirtDriver`, the real one) passes the shared suite
``tests/functional/compute/test_virt_contract.py``. The data is plain frozen
dataclasses; nothing here knows HTTP, SQL or libvirt.

Instances are known by their uuid. A driver only sees and touches instances of its
own cloud: every one it defines carries the driver's ``name_prefix`` (libvirt: the
domain name is ``<prefix><uuid>``), so two clouds, or a test and a developer, on one
host never touch each other's guests.

Power states and what each operation does (``ALLOWED`` is the table; anything
else raises :class:`~compute.errors.InvalidInstanceState`, 409)::

    spawn            (new)                       -> running   idempotent: a defined
                                                              instance is started if off
    destroy          any                         -> gone      idempotent, unknown is fine
    power_off        running paused crashed      -> shutdown  graceful (ACPI) for
                     suspended shutdown(no-op)                ``grace`` s, then hard
    power_on         shutdown crashed running(no-op) -> running
    reboot soft      running                     -> running   graceful off, then on
    reboot hard      any                         -> running   a suspended image is dropped
    pause / unpause  running / paused            -> paused / running
    suspend / resume running paused / suspended  -> suspended (memory saved to disk)
                                                    / running
    resize           any (applies at next start) -> same state
    attach/detach    running paused shutdown crashed: live when active, and in the
                     persistent definition either way
    snapshot         running paused shutdown crashed (a running guest is paused while
                     its disk is copied, so the copy is consistent at the block level)
    vnc/serial console  running paused

Errors are ``compute.errors`` classes: ``InstanceNotFound`` (404),
``InvalidInstanceState`` (409), ``InvalidSpec`` (400), ``DeviceNotFound`` (404),
``VirtError`` (500; its message is the server's ``fault``) and
``HypervisorUnavailable`` (503).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from compute.errors import InvalidInstanceState, InvalidSpec


class PowerState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    SUSPENDED = "suspended"  # memory saved to disk, no process (libvirt managed save)
    SHUTDOWN = "shutdown"
    CRASHED = "crashed"
    NOSTATE = "nostate"


S = PowerState
ACTIVE_STATES = frozenset({S.RUNNING, S.PAUSED})
# operation -> the states it may start from
ALLOWED: Mapping[str, frozenset[PowerState]] = {
    "power_off": frozenset({S.RUNNING, S.PAUSED, S.CRASHED, S.SUSPENDED, S.SHUTDOWN}),
    "power_on": frozenset({S.SHUTDOWN, S.CRASHED, S.RUNNING}),
    "soft_reboot": frozenset({S.RUNNING}),
    "hard_reboot": frozenset(PowerState),
    "pause": frozenset({S.RUNNING}),
    "unpause": frozenset({S.PAUSED}),
    "suspend": frozenset({S.RUNNING, S.PAUSED}),
    "resume": frozenset({S.SUSPENDED}),
    "resize": frozenset(PowerState),
    "attach": frozenset({S.RUNNING, S.PAUSED, S.SHUTDOWN, S.CRASHED}),
    "detach": frozenset({S.RUNNING, S.PAUSED, S.SHUTDOWN, S.CRASHED}),
    "snapshot": frozenset({S.RUNNING, S.PAUSED, S.SHUTDOWN, S.CRASHED}),
    "open_console": frozenset({S.RUNNING, S.PAUSED}),
}


def check_state(uuid: str, operation: str, state: PowerState) -> None:
    if state not in ALLOWED[operation]:
        raise InvalidInstanceState(uuid, operation.replace("_", " "), state.value)


# -- devices -------------------------------------------------------------------------

DiskBus = Literal["virtio"]
_DEVICE = re.compile(r"^vd[a-z]{1,2}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class LocalDisk:
    """A file on this host: a qcow2 overlay (its backing file in the image cache) or raw."""

    path: str
    format: Literal["qcow2", "raw"] = "qcow2"


@dataclass(frozen=True)
class IscsiDisk:
    """A volume on an iSCSI target with CHAP: the block store's ``connection_info``."""

    portal: str  # "host:port"
    iqn: str
    lun: int
    user: str
    secret: str

    @classmethod
    def from_connection_info(cls, info: Mapping[str, object]) -> IscsiDisk:
        """From Cinder's ``{"driver_volume_type": "iscsi", "data": {...}}`` (or its data)."""
        data = info.get("data", info)
        if not isinstance(data, Mapping):
            raise InvalidSpec("connection_info has no data")
        if info.get("driver_volume_type", "iscsi") != "iscsi":
            raise InvalidSpec(f"unsupported volume type {info.get('driver_volume_type')!r}")
        try:
            return cls(portal=str(data["target_portal"]), iqn=str(data["target_iqn"]),
                       lun=int(str(data["target_lun"])), user=str(data["auth_username"]),
                       secret=str(data["auth_password"]))
        except (KeyError, ValueError) as exc:
            raise InvalidSpec(f"connection_info lacks a usable {exc}") from None

    def host_port(self) -> tuple[str, int]:
        host, _, port = self.portal.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Disk:
    """A disk as the guest sees it. ``device`` may be '' to let the driver pick one
    (attach reports the name it chose)."""

    source: LocalDisk | IscsiDisk
    device: str = ""  # "vda", "vdb", ...
    bus: DiskBus = "virtio"
    boot_index: int | None = None  # 0 boots first; None: not bootable
    serial: str = ""  # the volume id, as the guest sees it in /sys/block/*/serial
    readonly: bool = False


@dataclass(frozen=True)
class Nic:
    """A virtio NIC plugged into ``bridge`` through the tap ``tap`` (libvirt makes it)."""

    mac: str
    tap: str
    bridge: str
    mtu: int | None = None
    model: Literal["virtio"] = "virtio"


@dataclass(frozen=True)
class DirectBoot:
    """Boot a kernel (and ramdisk) directly: images with kernel_id/ramdisk_id."""

    kernel: str
    ramdisk: str | None = None
    cmdline: str = "console=ttyS0"


@dataclass(frozen=True)
class InstanceSpec:
    """Everything needed to define and start a guest.

    ``console_log`` is where the serial console is written (by virtlogd for libvirt);
    ``config_drive`` an ISO 9660 image (label ``config-2``) attached read-only as the
    last virtio disk. The driver owns none of these files: the caller makes and
    removes them.
    """

    uuid: str
    name: str
    vcpus: int
    memory_mib: int
    disks: tuple[Disk, ...]
    console_log: str
    nics: tuple[Nic, ...] = ()
    config_drive: str | None = None
    direct_boot: DirectBoot | None = None
    vnc: bool = True
    metadata: Mapping[str, str] = field(default_factory=dict)  # kept with the domain


def validate_spec(spec: InstanceSpec) -> None:
    """Raise InvalidSpec for what no driver can use (checked before anything is made)."""
    if not _UUID.match(spec.uuid):
        raise InvalidSpec(f"instance uuid {spec.uuid!r} is not a lowercase UUID")
    check_resources(spec.vcpus, spec.memory_mib)
    if not spec.disks and spec.direct_boot is None:
        raise InvalidSpec("an instance needs a disk or a kernel to boot")
    if not os.path.isabs(spec.console_log):
        raise InvalidSpec("console_log must be an absolute path")
    devices = [d.device for d in spec.disks if d.device]
    if len(set(devices)) != len(devices):
        raise InvalidSpec(f"disk device names repeat: {devices}")
    for disk in spec.disks:
        check_disk(disk)
    macs = [n.mac.lower() for n in spec.nics]
    if len(set(macs)) != len(macs):
        raise InvalidSpec("two NICs have the same MAC address")
    for nic in spec.nics:
        check_nic(nic)
    paths = [p for p in (spec.config_drive,
                         spec.direct_boot.kernel if spec.direct_boot else None,
                         spec.direct_boot.ramdisk if spec.direct_boot else None) if p]
    for path in paths:
        if not os.path.isabs(path) or not os.path.isfile(path):
            raise InvalidSpec(f"{path}: no such file")


def check_resources(vcpus: int, memory_mib: int) -> None:
    if not 1 <= vcpus <= 256:
        raise InvalidSpec(f"vcpus must be 1-256, not {vcpus}")
    if not 16 <= memory_mib <= 1 << 22:
        raise InvalidSpec(f"memory must be 16 MiB - 4 TiB, not {memory_mib} MiB")


def check_disk(disk: Disk) -> None:
    if disk.device and not _DEVICE.match(disk.device):
        raise InvalidSpec(f"disk device {disk.device!r}: use vda, vdb, ...")
    src = disk.source
    if isinstance(src, LocalDisk):
        if not os.path.isabs(src.path) or not os.path.isfile(src.path):
            raise InvalidSpec(f"disk {src.path}: no such file")
        if src.format not in ("qcow2", "raw"):
            raise InvalidSpec(f"disk format {src.format!r}: use qcow2 or raw")
    else:
        try:
            host, port = src.host_port()
        except ValueError:
            raise InvalidSpec(f"iSCSI portal {src.portal!r} is not host:port") from None
        if not host or not 0 < port < 65536 or not src.iqn or src.lun < 0:
            raise InvalidSpec(f"iSCSI disk {src.iqn!r} at {src.portal!r}: bad target")
        if not src.user or not src.secret:
            raise InvalidSpec("iSCSI disks need CHAP credentials")


def check_nic(nic: Nic) -> None:
    if not _MAC.match(nic.mac.lower()):
        raise InvalidSpec(f"MAC address {nic.mac!r} is not six hex pairs")
    for what, name in (("tap", nic.tap), ("bridge", nic.bridge)):
        if not _IFNAME.match(name):
            raise InvalidSpec(f"{what} name {name!r}: 1-15 letters, digits, '_', '.', '-'")
    if nic.mtu is not None and not 68 <= nic.mtu <= 65535:
        raise InvalidSpec(f"MTU {nic.mtu} out of range 68-65535")


def next_device(used: Sequence[str]) -> str:
    """The first free virtio disk name (vda, vdb, ..., vdz, vdaa, ...)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = [f"vd{c}" for c in letters] + [f"vd{a}{b}" for a in letters for b in letters]
    for name in names:
        if name not in used:
            return name
    raise InvalidSpec("no free disk device name")


# -- answers -------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceInfo:
    uuid: str
    name: str  # the spec's (display) name
    state: PowerState
    vcpus: int  # as defined (a resize shows here at once; it runs at the next start)
    memory_mib: int
    cpu_time_ns: int = 0
    disks: tuple[str, ...] = ()  # device names, as defined now
    macs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsoleEndpoint:
    """How to reach a console: VNC (host, port) or a serial pty (path) on this host."""

    kind: Literal["vnc", "serial"]
    host: str = ""
    port: int = 0
    path: str = ""


@dataclass(frozen=True)
class HostInfo:
    hostname: str
    vcpus: int
    memory_mib: int
    memory_free_mib: int
    disk_gib: int  # of the instances directory's file system
    disk_free_gib: int
    hypervisor_type: str  # "QEMU" (as Nova reports libvirt/QEMU hosts), "memory"
    hypervisor_version: int  # e.g. 7002022 for QEMU 7.2.22
    virt_type: str  # "kvm", "qemu" (TCG) or "memory"
    cpu_model: str = ""


# -- the contract --------------------------------------------------------------------


@runtime_checkable
class VirtDriver(Protocol):
    """See the module docstring for the state each operation needs and leaves."""

    name_prefix: str

    async def spawn(self, spec: InstanceSpec) -> InstanceInfo: ...

    async def destroy(self, uuid: str) -> None: ...

    async def power_off(self, uuid: str, grace: float = 60.0) -> None: ...

    async def power_on(self, uuid: str) -> None: ...

    async def reboot(self, uuid: str, hard: bool = False, grace: float = 60.0) -> None: ...

    async def pause(self, uuid: str) -> None: ...

    async def unpause(self, uuid: str) -> None: ...

    async def suspend(self, uuid: str) -> None: ...

    async def resume(self, uuid: str) -> None: ...

    async def resize(self, uuid: str, vcpus: int, memory_mib: int) -> None: ...

    async def attach_volume(self, uuid: str, disk: Disk) -> str:
        """Attach an (iSCSI) disk; returns the device name (``vdb``)."""
        ...

    async def detach_volume(self, uuid: str, device: str) -> None: ...

    async def attach_interface(self, uuid: str, nic: Nic) -> None: ...

    async def detach_interface(self, uuid: str, mac: str) -> None: ...

    async def info(self, uuid: str) -> InstanceInfo: ...

    async def list_instances(self) -> list[InstanceInfo]:
        """Every instance of this driver's prefix (running or not): adoption at start."""
        ...

    async def console_output(self, uuid: str, lines: int | None = None) -> str:
        """The serial console log (its last ``lines`` lines)."""
        ...

    async def snapshot(self, uuid: str, device: str, dest: str,
                       fmt: Literal["qcow2", "raw"] = "qcow2") -> None:
        """Copy disk ``device`` (its whole chain, flattened) to the new file ``dest``."""
        ...

    async def vnc_console(self, uuid: str) -> ConsoleEndpoint: ...

    async def serial_console(self, uuid: str) -> ConsoleEndpoint: ...

    async def host_info(self) -> HostInfo: ...

    async def close(self) -> None: ...
