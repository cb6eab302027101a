"""The libvirt domain XML builder, read back with ElementTree (no libvirt needed)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from compute.virt import domainxml
from compute.virt.driver import DirectBoot, Disk, InstanceSpec, IscsiDisk, LocalDisk, Nic

UUID = "8b0e4c8e-55d2-4c7c-9d59-0b5f3f6f7a10"


def spec(tmp_path: Path, **kw: object) -> InstanceSpec:
    for name in ("disk", "vmlinuz", "initrd", "disk.config"):
        (tmp_path / name).write_bytes(b"x")
    base: dict[str, object] = dict(
        uuid=UUID, name="web <1> & co", vcpus=2, memory_mib=256,
        disks=(Disk(LocalDisk(str(tmp_path / "disk")), boot_index=0),
               Disk(IscsiDisk("127.0.0.1:3260", "iqn.2010-10.org.openstack:volume-v1", 1,
                              "uv1", "pw"), serial="v1")),
        console_log=str(tmp_path / "console.log"),
        nics=(Nic("FA:16:3E:00:00:01", "tapabc", "brqnet", mtu=1450),),
        config_drive=str(tmp_path / "disk.config"),
        direct_boot=DirectBoot(str(tmp_path / "vmlinuz"), str(tmp_path / "initrd"),
                               "console=ttyS0 root=/dev/vda"),
        metadata={"project": "p1"})
    base.update(kw)
    return InstanceSpec(**base)  # type: ignore[arg-type]


def build(s: InstanceSpec, domain_type: str = "qemu") -> ET.Element:
    opts = domainxml.DomainOptions(domain_type, f"strata-{s.uuid}", dac_label="+0:+0")
    return ET.fromstring(domainxml.domain_xml(s, opts))


def test_domain_basics(tmp_path: Path) -> None:
    root = build(spec(tmp_path))
    assert root.get("type") == "qemu"
    assert root.findtext("name") == f"strata-{UUID}"
    assert root.findtext("uuid") == UUID
    assert root.findtext("title") == "web <1> & co"  # escaped by the library, not mangled
    assert root.find("memory").text == "256" and root.find("memory").get("unit") == "MiB"
    assert root.findtext("vcpu") == "2"
    assert root.find("os/type").get("machine") == "pc"
    assert root.findtext("os/kernel").endswith("vmlinuz")
    assert root.findtext("os/initrd").endswith("initrd")
    assert root.findtext("os/cmdline") == "console=ttyS0 root=/dev/vda"
    assert root.find("cpu") is None  # TCG: QEMU's default model
    assert root.find("seclabel/label").text == "+0:+0"
    assert root.find("features/acpi") is not None


def test_kvm_cpu_mode_is_the_drivers_choice(tmp_path: Path) -> None:
    s = spec(tmp_path)
    opts = domainxml.DomainOptions("kvm", "strata-x", cpu_mode="host-passthrough")
    root = ET.fromstring(domainxml.domain_xml(s, opts))
    assert root.get("type") == "kvm"
    assert root.find("cpu").get("mode") == "host-passthrough"
    # KVM whose host CPU model failed the probe: QEMU's default model, no <cpu>
    root = build(s, "kvm")
    assert root.get("type") == "kvm" and root.find("cpu") is None


def test_disks_config_drive_nics_consoles(tmp_path: Path) -> None:
    root = build(spec(tmp_path))
    disks = root.findall("devices/disk")
    assert [d.find("target").get("dev") for d in disks] == ["vda", "vdb", "vdc"]
    local, iscsi, cd = disks
    assert local.get("type") == "file" and local.find("driver").get("type") == "qcow2"
    assert local.find("boot").get("order") == "1"
    assert iscsi.get("type") == "network"
    src = iscsi.find("source")
    assert src.get("protocol") == "iscsi"
    assert src.get("name") == "iqn.2010-10.org.openstack:volume-v1/1"
    assert (src.find("host").get("name"), src.find("host").get("port")) == ("127.0.0.1", "3260")
    assert iscsi.find("auth").get("username") == "uv1"
    secret = iscsi.find("auth/secret")
    assert secret.get("type") == "iscsi"
    assert secret.get("usage") == f"strata-{UUID}/iqn.2010-10.org.openstack:volume-v1/1"
    assert "pw" not in domainxml.domain_xml(spec(tmp_path), domainxml.DomainOptions(
        "qemu", "n"))  # the CHAP password never goes into the domain
    assert iscsi.findtext("serial") == "v1"
    assert cd.find("readonly") is not None and cd.findtext("serial") == "config-2"
    assert cd.find("driver").get("type") == "raw"
    nic = root.find("devices/interface")
    assert nic.get("type") == "bridge"
    assert nic.find("mac").get("address") == "fa:16:3e:00:00:01"
    assert nic.find("source").get("bridge") == "brqnet"
    assert nic.find("target").get("dev") == "tapabc"
    assert nic.find("model").get("type") == "virtio"
    assert nic.find("mtu").get("size") == "1450"
    serial = root.find("devices/serial")
    assert serial.get("type") == "pty"
    assert serial.find("log").get("file").endswith("console.log")
    vnc = root.find("devices/graphics")
    assert vnc.get("type") == "vnc" and vnc.get("listen") == "127.0.0.1"


def test_boot_from_disk_without_a_kernel(tmp_path: Path) -> None:
    root = build(spec(tmp_path, direct_boot=None, config_drive=None, nics=()))
    assert root.find("os/kernel") is None
    assert len(root.findall("devices/disk")) == 2
    assert root.find("devices/interface") is None


def test_parse_reads_back_what_was_built(tmp_path: Path) -> None:
    s = spec(tmp_path)
    view = domainxml.parse_domain(domainxml.domain_xml(
        s, domainxml.DomainOptions("qemu", f"strata-{UUID}")))
    assert view.display_name == s.name and view.console_log == s.console_log
    assert (view.vcpus, view.memory_mib) == (2, 256)
    assert [d.device for d in view.disks] == ["vda", "vdb", "vdc"]
    assert [d.is_config_drive for d in view.disks] == [False, False, True]
    assert view.disks[1].secret_usage.endswith("volume-v1/1")
    assert list(view.interfaces) == ["fa:16:3e:00:00:01"]
    assert view.metadata == {"project": "p1"}


def test_parse_reads_live_ports_and_kib(tmp_path: Path) -> None:
    live = """<domain type='qemu'><name>n</name><memory unit='KiB'>131072</memory>
      <vcpu>1</vcpu><devices>
      <serial type='pty'><source path='/dev/pts/7'/><target port='0'/></serial>
      <graphics type='vnc' port='5901' autoport='yes'/></devices></domain>"""
    view = domainxml.parse_domain(live)
    assert (view.memory_mib, view.pty, view.vnc_port) == (128, "/dev/pts/7", 5901)


def test_secret_xml() -> None:
    root = ET.fromstring(domainxml.secret_xml("dom/iqn/1", "CHAP"))
    assert root.get("private") == "yes" and root.get("ephemeral") == "no"
    assert root.find("usage").get("type") == "iscsi"
    assert root.findtext("usage/target") == "dom/iqn/1"
