"""The libvirt virt driver: real QEMU guests through libvirtd (libvirt-python).

Every libvirt call runs in the driver's own small thread pool (libvirt's calls
block; the connection is thread-safe), never on the event loop. No libvirt event
loop is registered: state changes are read when asked (``dom.state()``), which is
also what adopting domains after an agent restart needs.

- Domain type: ``virt_type`` "kvm" or "qemu", or "auto": KVM when the short probes
  of :mod:`compute.virt.kvmprobe` pass, with QEMU's default CPU model and with the
  host's (the guest CPU is then the host's, ``host-passthrough``), else QEMU TCG
  (logged with the reason). Nested KVM can run the default model yet fail the
  host's (``failed to set MSR 0x10a``); such a host once passed the short probe and
  then left a real guest silent for minutes, so "auto" takes it for TCG, and only
  ``virt_type`` "kvm" runs it, with the default model. Should a KVM guest fail to
  start, ``spawn`` retries it with QEMU's default model, then under TCG, and keeps
  whichever works for the guests after it (logged), so a host whose KVM half works
  still boots guests.
- Names: domain ``<name_prefix><uuid>``; the driver ignores every other domain.
- iSCSI disks: the CHAP password goes into a libvirt secret (usage
  ``<domain>/<iqn>/<lun>``), defined before the disk and removed with it.
- ``dac_label`` (e.g. ``"+0:+0"``): run the guest's QEMU as that uid:gid without
  relabelling files. Debian's libvirt runs QEMU as ``libvirt-qemu``, which cannot
  reach files under a private home or a test's temporary directory; a dev cloud
  runs it as root instead. Empty keeps libvirt's default (then the instances and
  image cache directories must be reachable by ``libvirt-qemu``).
- Suspend is libvirt's managed save (state file kept by libvirt; ``create`` restores
  it); a shut-off domain with a managed save image reports ``suspended``.
- Snapshots of local disks: the guest is paused (QEMU flushes every disk when it
  stops), ``qemu-img convert -U`` flattens the overlay chain into the new file,
  then the guest runs on. Volume-backed disks are snapshotted by the block store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

import libvirt

from compute.errors import (
    DeviceNotFound,
    HypervisorUnavailable,
    InstanceNotFound,
    InvalidSpec,
    VirtError,
)
from compute.virt import domainxml, kvmprobe
from compute.virt.diskops import flatten
from compute.virt.driver import (
    ACTIVE_STATES,
    ConsoleEndpoint,
    Disk,
    HostInfo,
    InstanceInfo,
    InstanceSpec,
    IscsiDisk,
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
from compute.virt.memory import read_text, tail_lines

log = logging.getLogger("compute.virt.libvirt")
T = TypeVar("T")
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
DETACH_TIMEOUT = 30.0
POLL = 0.25


def _silence_libvirt(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; ours are raised instead."""


libvirt.registerErrorHandler(_silence_libvirt, None)


def _state(dom: libvirt.virDomain) -> PowerState:
    state, reason = dom.state()
    if state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED,
                 libvirt.VIR_DOMAIN_SHUTDOWN):
        return PowerState.RUNNING
    if state == libvirt.VIR_DOMAIN_PAUSED:
        return PowerState.PAUSED
    if state == libvirt.VIR_DOMAIN_PMSUSPENDED:
        return PowerState.SUSPENDED
    if state == libvirt.VIR_DOMAIN_CRASHED:
        return PowerState.CRASHED
    if state == libvirt.VIR_DOMAIN_SHUTOFF:
        if dom.hasManagedSaveImage(0):
            return PowerState.SUSPENDED
        if reason in (libvirt.VIR_DOMAIN_SHUTOFF_CRASHED, libvirt.VIR_DOMAIN_SHUTOFF_FAILED):
            return PowerState.CRASHED
        return PowerState.SHUTDOWN
    return PowerState.NOSTATE


def choose_virt_type(virt_type: str, default: kvmprobe.ProbeResult,
                     host: kvmprobe.ProbeResult) -> tuple[str, str, str]:
    """(domain type, cpu mode, what to log) from the two KVM probes' results.

    ``default`` probed KVM with QEMU's default CPU model, ``host`` with ``-cpu host``.
    On a real KVM host both pass. Nested KVM that runs the default model but cannot
    even set up the host's (QEMU aborts: ``kvm_buf_set_msrs``, "failed to set MSR")
    has been seen to pass the short probe and then leave a real guest silent for
    minutes, so "auto" does not trust it and uses TCG; only ``virt_type`` "kvm" (the
    operator's explicit choice) runs it, with QEMU's default CPU model.
    """
    if virt_type == "qemu":
        return "qemu", "", "virt type qemu (TCG), as configured"
    if default.usable and host.usable:
        return "kvm", "host-passthrough", (
            f"virt type kvm with the host's CPU: the KVM probes finished in "
            f"{default.seconds:.2f}s and {host.seconds:.2f}s")
    if virt_type == "kvm":
        if default.usable:
            return "kvm", "", (f"virt type kvm (as configured) with QEMU's default CPU "
                               f"model: the host's CPU model is not usable ({host.reason})")
        raise HypervisorUnavailable(f"virt_type is kvm but KVM is not usable: "
                                    f"{default.reason}")
    reason = default.reason if not default.usable else (
        f"it runs QEMU's default CPU model but not the host's, a sign of nested "
        f"virtualisation that cannot be trusted to boot guests: {host.reason}")
    return "qemu", "", (f"KVM is not usable ({reason}); guests run under QEMU TCG "
                        f"(domain type qemu), slower but correct")


class LibvirtDriver:
    """Open with ``await LibvirtDriver.open(...)``; ``close()`` when done."""

    def __init__(self, *, uri: str = "qemu:///system", name_prefix: str = "strata-",
                 virt_type: str = "auto", instances_dir: str | Path = "/",
                 dac_label: str = "+0:+0", probe_timeout: float = 5.0,
                 workers: int = 4, emulator: str = "") -> None:
        if not _PREFIX.match(name_prefix):
            raise InvalidSpec(f"name prefix {name_prefix!r}: 1-40 letters, digits, _ . -")
        if virt_type not in ("auto", "kvm", "qemu"):
            raise InvalidSpec(f"virt_type {virt_type!r}: use auto, kvm or qemu")
        self.name_prefix = name_prefix
        self.uri = uri
        self.virt_type = virt_type
        self.domain_type = "qemu"
        self.cpu_mode = ""  # KVM's <cpu mode>, chosen by the probe
        self.emulator = emulator  # empty: libvirt's default QEMU
        self.instances_dir = Path(instances_dir)
        self.dac_label = dac_label
        self.probe_timeout = probe_timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="libvirt")
        self._conn: libvirt.virConnect | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    @classmethod
    async def open(cls, **kwargs: Any) -> LibvirtDriver:
        """Connect to libvirtd and choose the domain type (HypervisorUnavailable if not)."""
        driver = cls(**kwargs)
        try:
            await driver._call(lambda: driver._connection())
            await driver._choose_domain_type()
        except BaseException:
            await driver.close()
            raise
        return driver

    async def _choose_domain_type(self) -> None:
        caps = await self._call(lambda: self._connection().getCapabilities())
        root = ET.fromstring(caps)
        offered = {d.get("type") for d in root.findall("guest/arch[@name='x86_64']/domain")}
        if "qemu" not in offered:
            raise HypervisorUnavailable("libvirtd offers no x86_64 QEMU guests (is "
                                        "qemu-system-x86 installed?)")
        # the probes run the emulator the guests will run
        emulator = self.emulator or root.findtext("guest/arch[@name='x86_64']/emulator") \
            or kvmprobe.DEFAULT_EMULATOR
        if self.virt_type == "qemu":
            default = host = kvmprobe.ProbeResult(False, 0.0, "not probed")
        elif "kvm" not in offered:
            default = host = kvmprobe.ProbeResult(
                False, 0.0, "libvirtd offers no KVM domains (no /dev/kvm)")
        else:
            default = await kvmprobe.probe("kvm", emulator=emulator,
                                           within=self.probe_timeout)
            host = default
            if default.usable:
                host = await kvmprobe.probe("kvm", emulator=emulator, cpu="host",
                                            within=self.probe_timeout)
        self.domain_type, self.cpu_mode, message = choose_virt_type(
            self.virt_type, default, host)
        if self.virt_type == "qemu" or self.cpu_mode:
            log.info("%s", message)
        else:
            log.warning("%s", message)

    # -- plumbing --------------------------------------------------------------------

    def _connection(self) -> libvirt.virConnect:
        conn = self._conn
        if conn is not None:
            try:
                if conn.isAlive():
                    return conn
            except libvirt.libvirtError:
                pass
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()
        try:
            self._conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise HypervisorUnavailable(f"cannot connect to libvirtd at {self.uri}: "
                                        f"{exc.get_error_message()}") from None
        return self._conn

    async def _call(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn)
        except libvirt.libvirtError as exc:
            raise VirtError(str(exc.get_error_message() or exc)) from None

    def _lock(self, uuid: str) -> asyncio.Lock:
        return self._locks.setdefault(uuid, asyncio.Lock())

    @contextlib.asynccontextmanager
    async def _domain(self, uuid: str, operation: str) -> AsyncIterator[
            tuple[libvirt.virDomain, PowerState]]:
        """The instance's lock held, its domain, and its state checked for ``operation``."""
        async with self._lock(uuid):
            dom = await self._call(lambda: self._lookup(uuid))
            state = await self._call(lambda: _state(dom))
            check_state(uuid, operation, state)
            yield dom, state

    def _domain_name(self, uuid: str) -> str:
        return f"{self.name_prefix}{uuid}"

    def _lookup(self, uuid: str) -> libvirt.virDomain:
        """The domain of ``uuid`` when it is ours (blocking; call through _call)."""
        try:
            dom = self._connection().lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise InstanceNotFound(uuid) from None
            raise
        if dom.name() != self._domain_name(uuid):
            raise InstanceNotFound(uuid)
        return dom

    async def _wait(self, done: Callable[[], bool], within: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            if await self._call(done):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(POLL)

    # -- secrets ---------------------------------------------------------------------

    def _define_secret(self, domain_name: str, disk: IscsiDisk) -> None:
        conn = self._connection()
        usage = domainxml.secret_usage(domain_name, disk)
        try:
            secret = conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, usage)
        except libvirt.libvirtError:
            secret = conn.secretDefineXML(domainxml.secret_xml(
                usage, f"CHAP secret of {disk.iqn} for {domain_name}"))
        secret.setValue(disk.secret.encode())

    def _remove_secrets(self, domain_name: str, keep: set[str] | None = None) -> None:
        conn = self._connection()
        for secret in conn.listAllSecrets(0):
            usage = secret.usageID() or ""
            if usage.startswith(domain_name + "/") and usage not in (keep or set()):
                with contextlib.suppress(libvirt.libvirtError):
                    secret.undefine()

    # -- lifecycle -------------------------------------------------------------------

    async def spawn(self, spec: InstanceSpec) -> InstanceInfo:
        validate_spec(spec)
        async with self._lock(spec.uuid):
            return await self._call(lambda: self._spawn(spec))

    def _spawn(self, spec: InstanceSpec) -> InstanceInfo:
        conn = self._connection()
        name = self._domain_name(spec.uuid)
        try:
            dom = self._lookup(spec.uuid)
        except InstanceNotFound:
            dom = None
        if dom is None:
            dom = self._define_and_start(conn, name, spec)
        elif _state(dom) in (PowerState.SHUTDOWN, PowerState.CRASHED):
            dom.create()
        return self._info(dom)

    def _fallbacks(self) -> list[tuple[str, str]]:
        """(domain type, cpu mode) to try in turn: the chosen one, then safer ones."""
        tries = [(self.domain_type, self.cpu_mode)]
        if self.domain_type == "kvm":
            if self.cpu_mode:
                tries.append(("kvm", ""))
            if self.virt_type != "kvm":
                tries.append(("qemu", ""))
        return tries

    def _define_and_start(self, conn: libvirt.virConnect, name: str,
                          spec: InstanceSpec) -> libvirt.virDomain:
        """Define and start a new domain; under KVM fall back as the module says."""
        first_error = ""
        for domain_type, cpu_mode in self._fallbacks():
            opts = domainxml.DomainOptions(domain_type, name, cpu_mode=cpu_mode,
                                           emulator=self.emulator,
                                           dac_label=self.dac_label)
            try:
                for disk in spec.disks:
                    if isinstance(disk.source, IscsiDisk):
                        self._define_secret(name, disk.source)
                dom = conn.defineXML(domainxml.domain_xml(spec, opts))
                dom.create()
            except libvirt.libvirtError as exc:
                self._undefine(name, spec.uuid)
                first_error = first_error or exc.get_error_message()
                continue
            if first_error:
                log.warning("a %s guest (cpu %s) did not start (%s); it and the guests "
                            "after it run as domain type %s, cpu %s", self.domain_type,
                            self.cpu_mode or "default", first_error, domain_type,
                            cpu_mode or "default")
                self.domain_type, self.cpu_mode = domain_type, cpu_mode
            return dom
        raise VirtError(f"could not start the guest: {first_error}")

    def _undefine(self, name: str, uuid: str) -> None:
        """Remove a domain of ours and its secrets, whatever state it is in (blocking)."""
        try:
            dom = self._lookup(uuid)
        except InstanceNotFound:
            dom = None
        if dom is not None:
            if dom.isActive():
                with contextlib.suppress(libvirt.libvirtError):
                    dom.destroy()
            flags = (libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                     | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                     | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            try:
                dom.undefineFlags(flags)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        self._remove_secrets(name)

    async def destroy(self, uuid: str) -> None:
        async with self._lock(uuid):
            await self._call(lambda: self._undefine(self._domain_name(uuid), uuid))
        self._locks.pop(uuid, None)

    async def power_off(self, uuid: str, grace: float = 60.0) -> None:
        async with self._lock(uuid):
            await self._power_off(uuid, grace)

    async def _power_off(self, uuid: str, grace: float) -> bool:
        """Off, gracefully when it can; True when the guest shut down by itself."""
        dom = await self._call(lambda: self._lookup(uuid))
        state = await self._call(lambda: _state(dom))
        check_state(uuid, "power_off", state)
        if state == PowerState.SUSPENDED:
            await self._call(lambda: dom.managedSaveRemove(0))
            return False
        if state not in ACTIVE_STATES:
            return False
        if state == PowerState.RUNNING and grace > 0:
            with contextlib.suppress(VirtError):
                await self._call(lambda: dom.shutdown())
            if await self._wait(lambda: not dom.isActive(), grace):
                return True
        with contextlib.suppress(VirtError):  # it may have gone off in between
            await self._call(lambda: dom.destroy())
        return False

    async def power_on(self, uuid: str) -> None:
        async with self._domain(uuid, "power_on") as (dom, state):
            if state != PowerState.RUNNING:
                await self._call(lambda: dom.create())

    async def reboot(self, uuid: str, hard: bool = False, grace: float = 60.0) -> None:
        async with self._domain(uuid, "hard_reboot" if hard else "soft_reboot") as (dom, state):
            if hard:
                if state == PowerState.SUSPENDED:
                    await self._call(lambda: dom.managedSaveRemove(0))
                elif state in ACTIVE_STATES:
                    await self._call(lambda: dom.destroy())
            else:
                graceful = await self._power_off(uuid, grace)
                if not graceful:
                    log.info("instance %s did not shut down within %gs; rebooted hard",
                             uuid, grace)
            await self._call(lambda: dom.create())

    async def _simple(self, uuid: str, operation: str,
                      act: Callable[[libvirt.virDomain], object]) -> None:
        async with self._domain(uuid, operation) as (dom, _):
            await self._call(lambda: act(dom))

    async def pause(self, uuid: str) -> None:
        await self._simple(uuid, "pause", lambda d: d.suspend())

    async def unpause(self, uuid: str) -> None:
        await self._simple(uuid, "unpause", lambda d: d.resume())

    async def suspend(self, uuid: str) -> None:
        await self._simple(uuid, "suspend",
                           lambda d: d.managedSave(libvirt.VIR_DOMAIN_SAVE_RUNNING))

    async def resume(self, uuid: str) -> None:
        await self._simple(uuid, "resume", lambda d: d.create())

    async def resize(self, uuid: str, vcpus: int, memory_mib: int) -> None:
        check_resources(vcpus, memory_mib)

        def redefine(dom: libvirt.virDomain) -> None:
            root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            for tag in ("memory", "currentMemory"):
                el = root.find(tag)
                if el is None:
                    el = ET.SubElement(root, tag)
                el.text = str(memory_mib)
                el.set("unit", "MiB")
            vcpu = root.find("vcpu")
            if vcpu is None:
                vcpu = ET.SubElement(root, "vcpu")
            vcpu.text = str(vcpus)
            vcpu.attrib.pop("current", None)
            self._connection().defineXML(domainxml.to_xml(root))

        await self._simple(uuid, "resize", redefine)

    # -- devices ---------------------------------------------------------------------

    def _views(self, dom: libvirt.virDomain) -> tuple[domainxml.DomainView,
                                                       domainxml.DomainView | None]:
        """(persistent definition, live definition or None when not running)."""
        config = domainxml.parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        live = domainxml.parse_domain(dom.XMLDesc(0)) if dom.isActive() else None
        return config, live

    @staticmethod
    def _flags(dom: libvirt.virDomain) -> int:
        flags: int = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        return flags

    async def attach_volume(self, uuid: str, disk: Disk) -> str:
        check_disk(disk)
        async with self._domain(uuid, "attach") as (dom, _):

            def attach() -> str:
                config, live = self._views(dom)
                used = [d.device for d in config.disks] + \
                    [d.device for d in (live.disks if live else ())]
                if disk.device and disk.device in used:
                    raise InvalidSpec(f"device {disk.device} is in use")
                device = disk.device or next_device(used)
                attached = Disk(disk.source, device, disk.bus, None, disk.serial,
                                disk.readonly)
                name = self._domain_name(uuid)
                if isinstance(disk.source, IscsiDisk):
                    self._define_secret(name, disk.source)
                element = domainxml.to_xml(domainxml.disk_element(attached, name))
                dom.attachDeviceFlags(element, self._flags(dom))
                return device

            return await self._call(attach)

    async def detach_volume(self, uuid: str, device: str) -> None:
        async with self._domain(uuid, "detach") as (dom, _):
            config, live = await self._call(lambda: self._views(dom))
            found = [d for d in (live or config).disks if d.device == device] or \
                [d for d in config.disks if d.device == device]
            if not found:
                raise DeviceNotFound(f"instance {uuid} has no disk {device}")
            element = found[0].xml
            in_config = any(d.device == device for d in config.disks)
            in_live = live is not None and any(d.device == device for d in live.disks)
            if in_config:
                await self._call(lambda: dom.detachDeviceFlags(
                    domainxml.to_xml(ET.fromstring(
                        next(d.xml for d in config.disks if d.device == device))),
                    libvirt.VIR_DOMAIN_AFFECT_CONFIG))
            if in_live:
                await self._call(lambda: dom.detachDeviceFlags(
                    element, libvirt.VIR_DOMAIN_AFFECT_LIVE))

                def gone() -> bool:
                    if not dom.isActive():
                        return True
                    view = domainxml.parse_domain(dom.XMLDesc(0))
                    return all(d.device != device for d in view.disks)

                if not await self._wait(gone, DETACH_TIMEOUT):
                    raise VirtError(f"the guest did not release disk {device} within "
                                    f"{DETACH_TIMEOUT:g}s; it is removed from the "
                                    "definition and goes at the next restart")
            if found[0].secret_usage:
                await self._call(lambda: self._drop_unused_secret(dom, found[0].secret_usage))

    def _drop_unused_secret(self, dom: libvirt.virDomain, usage: str) -> None:
        config, live = self._views(dom)
        if any(d.secret_usage == usage for d in config.disks + (live.disks if live else ())):
            return
        with contextlib.suppress(libvirt.libvirtError):
            self._connection().secretLookupByUsage(
                libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, usage).undefine()

    async def attach_interface(self, uuid: str, nic: Nic) -> None:
        check_nic(nic)
        async with self._domain(uuid, "attach") as (dom, _):

            def attach() -> None:
                config, live = self._views(dom)
                macs = set(config.interfaces) | set(live.interfaces if live else ())
                if nic.mac.lower() in macs:
                    raise InvalidSpec(f"instance {uuid} already has a NIC with MAC {nic.mac}")
                element = domainxml.to_xml(domainxml.interface_element(nic))
                dom.attachDeviceFlags(element, self._flags(dom))

            await self._call(attach)

    async def detach_interface(self, uuid: str, mac: str) -> None:
        mac = mac.lower()
        async with self._domain(uuid, "detach") as (dom, _):
            config, live = await self._call(lambda: self._views(dom))
            if mac not in config.interfaces and (live is None or mac not in live.interfaces):
                raise DeviceNotFound(f"instance {uuid} has no interface with MAC {mac}")
            if mac in config.interfaces:
                await self._call(lambda: dom.detachDeviceFlags(
                    config.interfaces[mac], libvirt.VIR_DOMAIN_AFFECT_CONFIG))
            if live is not None and mac in live.interfaces:
                await self._call(lambda: dom.detachDeviceFlags(
                    live.interfaces[mac], libvirt.VIR_DOMAIN_AFFECT_LIVE))

                def gone() -> bool:
                    return not dom.isActive() or \
                        mac not in domainxml.parse_domain(dom.XMLDesc(0)).interfaces

                if not await self._wait(gone, DETACH_TIMEOUT):
                    raise VirtError(f"the guest did not release interface {mac} within "
                                    f"{DETACH_TIMEOUT:g}s")

    # -- queries ---------------------------------------------------------------------

    def _info(self, dom: libvirt.virDomain) -> InstanceInfo:
        config = domainxml.parse_domain(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        live = domainxml.parse_domain(dom.XMLDesc(0)) if dom.isActive() else None
        shown = live or config
        cpu_time = int(dom.info()[4])
        return InstanceInfo(uuid=dom.UUIDString(), name=config.display_name,
                            state=_state(dom), vcpus=config.vcpus,
                            memory_mib=config.memory_mib, cpu_time_ns=cpu_time,
                            disks=tuple(d.device for d in shown.disks
                                        if not d.is_config_drive),
                            macs=tuple(shown.interfaces))

    async def info(self, uuid: str) -> InstanceInfo:
        return await self._call(lambda: self._info(self._lookup(uuid)))

    async def list_instances(self) -> list[InstanceInfo]:
        def listing() -> list[InstanceInfo]:
            out = []
            for dom in self._connection().listAllDomains(0):
                if dom.name().startswith(self.name_prefix):
                    with contextlib.suppress(libvirt.libvirtError):
                        out.append(self._info(dom))
            return out

        return await self._call(listing)

    async def console_output(self, uuid: str, lines: int | None = None) -> str:
        dom = await self._call(lambda: self._lookup(uuid))
        config = await self._call(lambda: domainxml.parse_domain(
            dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))

        return tail_lines(await asyncio.to_thread(read_text, config.console_log), lines)

    async def snapshot(self, uuid: str, device: str, dest: str,
                       fmt: Literal["qcow2", "raw"] = "qcow2") -> None:
        async with self._domain(uuid, "snapshot") as (dom, state):
            config, live = await self._call(lambda: self._views(dom))
            found = [d for d in (live or config).disks if d.device == device]
            if not found:
                raise DeviceNotFound(f"instance {uuid} has no disk {device}")
            disk = found[0]
            if disk.kind != "file":
                raise VirtError(f"disk {device} is a volume: snapshot it in the block store")
            paused = False
            if state == PowerState.RUNNING:
                await self._call(lambda: dom.suspend())  # QEMU flushes every disk
                paused = True
            try:
                await flatten(disk.path, disk.format or "qcow2", dest, fmt)
            finally:
                if paused:
                    await self._call(lambda: dom.resume())

    async def _live_view(self, uuid: str) -> domainxml.DomainView:
        dom = await self._call(lambda: self._lookup(uuid))
        check_state(uuid, "open_console", await self._call(lambda: _state(dom)))
        _, live = await self._call(lambda: self._views(dom))
        if live is None:
            raise VirtError(f"instance {uuid} stopped")
        return live

    async def vnc_console(self, uuid: str) -> ConsoleEndpoint:
        live = await self._live_view(uuid)
        if not live.vnc_port:
            raise VirtError(f"instance {uuid} has no VNC console now (is it running?)")
        return ConsoleEndpoint("vnc", host="127.0.0.1", port=live.vnc_port)

    async def serial_console(self, uuid: str) -> ConsoleEndpoint:
        live = await self._live_view(uuid)
        if not live.pty:
            raise VirtError(f"instance {uuid} has no serial console now (is it running?)")
        return ConsoleEndpoint("serial", path=live.pty)

    async def host_info(self) -> HostInfo:
        def gather() -> HostInfo:
            conn = self._connection()
            model, memory_mib, cpus = conn.getInfo()[:3]
            free = conn.getFreeMemory() >> 20
            usage = shutil.disk_usage(self.instances_dir if self.instances_dir.exists()
                                      else "/")
            return HostInfo(hostname=conn.getHostname(), vcpus=int(cpus),
                            memory_mib=int(memory_mib), memory_free_mib=int(free),
                            disk_gib=usage.total >> 30, disk_free_gib=usage.free >> 30,
                            hypervisor_type="QEMU", hypervisor_version=conn.getVersion(),
                            virt_type=self.domain_type, cpu_model=str(model))

        return await self._call(gather)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                await asyncio.get_running_loop().run_in_executor(self._pool, conn.close)
        self._pool.shutdown(wait=False)


__all__ = ["LibvirtDriver", "LocalDisk"]
