"""libvirt domain XML for an :class:`~compute.virt.driver.InstanceSpec`, and reading it back.

Built with ``xml.etree.ElementTree`` (never by pasting strings), so names and paths
are escaped by the library. The guest gets:

- machine ``pc`` (i440fx: ACPI PCI hotplug, which the tiny guest's kernel has built
  in), ACPI and APIC; under KVM ``<cpu mode='host-passthrough'>`` when the driver's
  probe showed the host CPU usable, else QEMU's default model (as under TCG);
- direct kernel boot (``<kernel>``/``<initrd>``/``<cmdline>``) or per-disk boot order;
- virtio disks: local qcow2/raw files, or ``<disk type='network'>`` with
  ``protocol='iscsi'`` and CHAP through a libvirt secret (usage id per disk);
- the config drive as the last virtio disk, read-only (an ISO 9660 file system on a
  virtio disk needs only ``virtio_blk`` and ``isofs`` in the guest);
- virtio NICs ``<interface type='bridge'>`` with the tap name, MAC and MTU;
- a serial console on a pty whose output virtlogd also writes to ``console_log``;
- VNC on 127.0.0.1 (port chosen by libvirt);
- the spec's name and metadata in ``<metadata>`` under Strata's namespace, so a
  restarted agent can read back what it defined.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from compute.virt.driver import Disk, InstanceSpec, IscsiDisk, LocalDisk, Nic, next_device

NAMESPACE = "urn:strata:compute:instance:1"
ET.register_namespace("strata", NAMESPACE)
_META = f"{{{NAMESPACE}}}"
CONFIG_DRIVE_SERIAL = "config-2"


@dataclass(frozen=True)
class DomainOptions:
    domain_type: str  # "kvm" or "qemu"
    name: str  # the libvirt domain name (<prefix><uuid>)
    # KVM only: the <cpu mode> ("host-passthrough"), or empty for QEMU's default model
    cpu_mode: str = ""
    emulator: str = ""  # empty: libvirt's default for the domain type
    dac_label: str = ""  # e.g. "+0:+0": run this guest's QEMU as root (see libvirt.py)


def secret_usage(domain_name: str, disk: IscsiDisk) -> str:
    """The usage id of the libvirt secret holding one iSCSI disk's CHAP password."""
    return f"{domain_name}/{disk.iqn}/{disk.lun}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def assign_devices(spec: InstanceSpec) -> list[Disk]:
    """The spec's disks with a device name each (names given are kept)."""
    out: list[Disk] = []
    taken = [d.device for d in spec.disks if d.device]
    for disk in spec.disks:
        if not disk.device:
            name = next_device(taken + [d.device for d in out])
            disk = Disk(disk.source, name, disk.bus, disk.boot_index, disk.serial,
                        disk.readonly)
        out.append(disk)
    return out


def domain_xml(spec: InstanceSpec, opts: DomainOptions) -> str:
    dom = ET.Element("domain", type=opts.domain_type)
    _sub(dom, "name", opts.name)
    _sub(dom, "uuid", spec.uuid)
    _sub(dom, "title", spec.name)
    meta = _sub(_sub(dom, "metadata"), f"{_META}instance")
    _sub(meta, f"{_META}name", spec.name)
    _sub(meta, f"{_META}console-log", spec.console_log)
    for key, value in sorted(spec.metadata.items()):
        _sub(meta, f"{_META}meta", value, key=key)
    _sub(dom, "memory", str(spec.memory_mib), unit="MiB")
    _sub(dom, "currentMemory", str(spec.memory_mib), unit="MiB")
    _sub(dom, "vcpu", str(spec.vcpus), placement="static")
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    disks = assign_devices(spec)
    if spec.direct_boot is not None:
        _sub(os_el, "kernel", spec.direct_boot.kernel)
        if spec.direct_boot.ramdisk:
            _sub(os_el, "initrd", spec.direct_boot.ramdisk)
        _sub(os_el, "cmdline", spec.direct_boot.cmdline)
    features = _sub(dom, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if opts.domain_type == "kvm" and opts.cpu_mode:
        _sub(dom, "cpu", mode=opts.cpu_mode)
    if opts.dac_label:
        label = _sub(dom, "seclabel", type="static", model="dac", relabel="no")
        _sub(label, "label", opts.dac_label)
    _sub(dom, "clock", offset="utc")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")
    devices = _sub(dom, "devices")
    if opts.emulator:
        _sub(devices, "emulator", opts.emulator)
    for disk in disks:
        devices.append(disk_element(disk, opts.name))
    if spec.config_drive:
        used = [d.device for d in disks]
        cd = Disk(LocalDisk(spec.config_drive, "raw"), next_device(used), readonly=True,
                  serial=CONFIG_DRIVE_SERIAL)
        devices.append(disk_element(cd, opts.name))
    for nic in spec.nics:
        devices.append(interface_element(nic))
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "log", file=spec.console_log, append="on")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    if spec.vnc:
        graphics = _sub(devices, "graphics", type="vnc", autoport="yes", listen="127.0.0.1")
        _sub(graphics, "listen", type="address", address="127.0.0.1")
        _sub(_sub(devices, "video"), "model", type="vga")
    _sub(devices, "memballoon", model="none")
    return ET.tostring(dom, encoding="unicode")


def disk_element(disk: Disk, domain_name: str) -> ET.Element:
    src = disk.source
    if isinstance(src, LocalDisk):
        el = ET.Element("disk", type="file", device="disk")
        _sub(el, "driver", name="qemu", type=src.format, cache="none", io="native",
             discard="unmap")
        _sub(el, "source", file=src.path)
    else:
        el = ET.Element("disk", type="network", device="disk")
        _sub(el, "driver", name="qemu", type="raw", cache="none", io="native",
             discard="unmap")
        source = _sub(el, "source", protocol="iscsi", name=f"{src.iqn}/{src.lun}")
        host, port = src.host_port()
        _sub(source, "host", name=host, port=str(port))
        auth = _sub(el, "auth", username=src.user)
        _sub(auth, "secret", type="iscsi", usage=secret_usage(domain_name, src))
    _sub(el, "target", dev=disk.device, bus=disk.bus)
    if disk.boot_index is not None:
        _sub(el, "boot", order=str(disk.boot_index + 1))
    if disk.readonly:
        _sub(el, "readonly")
    if disk.serial:
        _sub(el, "serial", disk.serial[:20])
    return el


def interface_element(nic: Nic) -> ET.Element:
    el = ET.Element("interface", type="bridge")
    _sub(el, "mac", address=nic.mac.lower())
    _sub(el, "source", bridge=nic.bridge)
    _sub(el, "target", dev=nic.tap)
    _sub(el, "model", type=nic.model)
    if nic.mtu:
        _sub(el, "mtu", size=str(nic.mtu))
    return el


def secret_xml(usage: str, description: str) -> str:
    el = ET.Element("secret", ephemeral="no", private="yes")
    _sub(el, "description", description)
    usage_el = _sub(el, "usage", type="iscsi")
    _sub(usage_el, "target", usage)
    return ET.tostring(el, encoding="unicode")


def to_xml(el: ET.Element) -> str:
    return ET.tostring(el, encoding="unicode")


# -- reading a domain back -----------------------------------------------------------


@dataclass(frozen=True)
class DiskView:
    device: str
    kind: str  # "file" or "network"
    path: str  # file path, or "iqn/lun" for iSCSI
    format: str
    xml: str  # the element, as libvirt has it (for detach)
    secret_usage: str = ""
    serial: str = ""

    @property
    def is_config_drive(self) -> bool:
        return self.serial == CONFIG_DRIVE_SERIAL


@dataclass(frozen=True)
class DomainView:
    """What the driver reads from a domain's XML."""

    name: str
    display_name: str
    console_log: str
    vcpus: int
    memory_mib: int
    disks: tuple[DiskView, ...]
    interfaces: Mapping[str, str]  # mac -> element XML
    vnc_port: int
    pty: str
    metadata: Mapping[str, str]


def parse_domain(xml: str) -> DomainView:
    root = ET.fromstring(xml)
    meta = root.find(f"metadata/{_META}instance")
    display = root.findtext("title") or ""
    console_log = ""
    extra: dict[str, str] = {}
    if meta is not None:
        display = meta.findtext(f"{_META}name") or display
        console_log = meta.findtext(f"{_META}console-log") or ""
        for item in meta.findall(f"{_META}meta"):
            extra[item.get("key", "")] = item.text or ""
    if not console_log:
        log = root.find("devices/serial/log")
        console_log = log.get("file", "") if log is not None else ""
    memory = root.find("memory")
    mem_kib = int(memory.text or 0) if memory is not None else 0
    unit = memory.get("unit", "KiB") if memory is not None else "KiB"
    memory_mib = {"KiB": mem_kib // 1024, "MiB": mem_kib, "GiB": mem_kib * 1024}.get(
        unit, mem_kib // 1024)
    disks = []
    for el in root.findall("devices/disk"):
        target = el.find("target")
        source = el.find("source")
        driver = el.find("driver")
        if target is None:
            continue
        path = ""
        if source is not None:
            path = source.get("file") or source.get("dev") or source.get("name") or ""
        secret = el.find("auth/secret")
        if secret is None:
            secret = el.find("source/auth/secret")
        disks.append(DiskView(device=target.get("dev", ""), kind=el.get("type", ""),
                              path=path,
                              format=driver.get("type", "") if driver is not None else "",
                              xml=to_xml(el),
                              secret_usage=secret.get("usage", "") if secret is not None
                              else "", serial=el.findtext("serial") or ""))
    interfaces = {}
    for el in root.findall("devices/interface"):
        mac = el.find("mac")
        if mac is not None:
            interfaces[mac.get("address", "").lower()] = to_xml(el)
    vnc_port = 0
    graphics = root.find("devices/graphics[@type='vnc']")
    if graphics is not None:
        vnc_port = max(int(graphics.get("port", "0") or 0), 0)
    pty = ""
    serial = root.find("devices/serial[@type='pty']/source")
    if serial is not None:
        pty = serial.get("path", "")
    return DomainView(name=root.findtext("name") or "", display_name=display,
                      console_log=console_log, vcpus=int(root.findtext("vcpu") or 0),
                      memory_mib=memory_mib, disks=tuple(disks), interfaces=interfaces,
                      vnc_port=vnc_port, pty=pty, metadata=extra)
