"""The tiny guest under the libvirt driver, seen from inside and from the network.

One guest boots with a NIC on a throwaway bridge whose other side is a namespace
of the test's own (a static address from the kernel command line: the networking
service's DHCP is not part of this layer), an SSH key and a user_data script from
the config drive. Then: its console shows what the config drive said, it answers
ping and SSH with the key from the namespace, an iSCSI volume from a private tgtd
(CHAP through a libvirt secret) appears in the guest and goes on detach, and a
snapshot of its disk boots a second guest that carries on its boot count.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from blockstore.targets import TgtDaemon
from compute.errors import HypervisorUnavailable, VirtError
from compute.tinyguest import READY_MARKER, TinyGuest
from compute.virt.driver import Disk, InstanceSpec, IscsiDisk, LocalDisk
from compute.virt.libvirt import LibvirtDriver
from tests.conftest import free_port
from tests.functional.compute.conftest import guest_spec, nic_on, run, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")
USER_DATA = b"#!/bin/sh\necho USERDATA-OK $(hostname) $(cat /proc/sys/kernel/osrelease)\n"


@dataclass
class Peer:
    """The namespace on the other side of the bridge."""

    ns: str
    device: str  # its end of the veth
    address: str  # the namespace's
    guest_address: str

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.ns, *argv], capture_output=True,
                              text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def peer(bridge: str) -> Iterator[Peer]:
    tag = uuid.uuid4().hex[:6]
    ns, outside, inside = f"stratat-{tag}", f"vt{tag}a", f"vt{tag}b"
    net = f"10.251.{int(tag[:2], 16)}"
    run("ip", "netns", "add", ns)
    try:
        run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        run("ip", "link", "set", inside, "netns", ns)
        run("ip", "link", "set", outside, "master", bridge, "up")
        run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{net}.1/24", "dev", inside)
        run("ip", "netns", "exec", ns, "ip", "link", "set", inside, "up")
        run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield Peer(ns, inside, f"{net}.1", f"{net}.2")
    finally:
        subprocess.run(["ip", "link", "del", outside], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


@dataclass
class Booted:
    driver: LibvirtDriver
    spec: InstanceSpec
    key: Path
    first_line: float  # seconds from spawn to the first console line
    ready: float  # ... to the ready marker


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def booted(tiny_guest: TinyGuest, libvirt_ready: str, domain_prefix: str,
                 tmp_path_factory: pytest.TempPathFactory, bridge: str,
                 peer: Peer) -> AsyncIterator[Booted]:
    workdir = tmp_path_factory.mktemp("guest")
    key = workdir / "id_ed25519"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tiny-test", "-f", str(key))
    spec = guest_spec(tiny_guest, workdir, name="guest", nics=(nic_on(bridge),),
                      cmdline=f"strata.ip={peer.guest_address}/24",
                      public_key=(workdir / "id_ed25519.pub").read_text(),
                      user_data=USER_DATA)
    driver = await LibvirtDriver.open(name_prefix=domain_prefix, instances_dir=workdir)
    try:
        start = time.monotonic()
        await driver.spawn(spec)
        await wait_for(lambda: driver.console_output(spec.uuid), "\n", within=120)
        first = time.monotonic() - start
        await wait_for(lambda: driver.console_output(spec.uuid),
                       f"{READY_MARKER} {spec.uuid}", within=240)
        ready = time.monotonic() - start
        print(f"\ntiny guest under {driver.domain_type}: first console line after "
              f"{first:.1f}s, {READY_MARKER} after {ready:.1f}s")
        yield Booted(driver, spec, key, first, ready)
    finally:
        for info in await driver.list_instances():
            await driver.destroy(info.uuid)
        await driver.close()


async def test_the_guest_reads_its_config_drive(booted: Booted) -> None:
    out = await booted.driver.console_output(booted.spec.uuid)
    assert f"STRATA-TINY: uuid {booted.spec.uuid}" in out
    assert "STRATA-TINY: config drive /dev/vdb" in out
    assert "STRATA-TINY: hostname guest-host" in out
    assert "STRATA-TINY: public keys 1" in out
    assert "USERDATA-OK guest-host 6." in out  # the user_data script ran
    assert "STRATA-TINY: user_data exit 0" in out
    assert "STRATA-TINY: ssh server on port 22" in out


async def test_ping_and_ssh_with_the_key_from_the_network(booted: Booted, peer: Peer) -> None:
    ping = await asyncio.to_thread(peer.run, "ping", "-c", "3", "-W", "5", peer.guest_address)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    ssh = await asyncio.to_thread(
        peer.run, "ssh", "-i", str(booted.key), "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=30", f"root@{peer.guest_address}",
        "cat /proc/sys/kernel/hostname", timeout=120)
    assert ssh.returncode == 0, ssh.stderr
    assert ssh.stdout.strip() == "guest-host"
    wrong = booted.key.with_name("other")
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong))
    refused = await asyncio.to_thread(
        peer.run, "ssh", "-i", str(wrong), "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
        f"root@{peer.guest_address}", "true", timeout=120)
    assert refused.returncode != 0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tgt(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TgtDaemon]:
    workdir = tmp_path_factory.mktemp("tgt")
    control = free_port()
    while control > 32767:
        control = free_port()
    daemon = TgtDaemon(portal_port=free_port(), control_port=control,
                       log_path=workdir / "tgtd.log")
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


async def test_an_iscsi_volume_appears_and_goes(booted: Booted, tgt: TgtDaemon,
                                                tmp_path: Path) -> None:
    volume = tmp_path / "volume.raw"
    volume.write_bytes(b"\0" * (16 << 20))
    targets = tgt.driver()
    volume_id = uuid.uuid4().hex[:12]
    export = await targets.ensure_export(volume_id, str(volume), chap_user=f"u{volume_id}",
                                         chap_password="s3cret-Chap-pw")
    disk = IscsiDisk.from_connection_info(targets.connection_info(volume_id, export))
    uuid_ = booted.spec.uuid
    before = await booted.driver.console_output(uuid_)
    device = await booted.driver.attach_volume(uuid_, Disk(disk, serial=volume_id))
    assert device in (await booted.driver.info(uuid_)).disks
    added = await wait_for(lambda: booted.driver.console_output(uuid_),
                           "sectors", within=60)
    new = added[len(before):]
    assert "STRATA-TINY: disk added vd" in new and "32768 sectors" in new
    guest_name = new.split("disk added ", 1)[1].split()[0]
    await booted.driver.detach_volume(uuid_, device)
    await wait_for(lambda: booted.driver.console_output(uuid_),
                   f"STRATA-TINY: disk removed {guest_name}", within=60)
    assert device not in (await booted.driver.info(uuid_)).disks
    await targets.remove_export(volume_id)


async def test_a_snapshot_boots(booted: Booted, tmp_path: Path) -> None:
    snap = tmp_path / "snapshot.qcow2"
    await booted.driver.snapshot(booted.spec.uuid, "vda", str(snap))
    info = subprocess.run(["qemu-img", "info", "--output=json", str(snap)],
                          capture_output=True, text=True, check=True).stdout
    assert "backing-filename" not in info  # flattened: stands on its own
    guest_dir = Path(booted.spec.direct_boot.kernel).parent  # type: ignore[union-attr]
    spec = guest_spec(TinyGuest(guest_dir, "snap"), tmp_path / "second", name="second",
                      disk=snap)
    spec = InstanceSpec(**{**spec.__dict__,
                           "disks": (Disk(LocalDisk(str(snap), "qcow2"), boot_index=0),)})
    await booted.driver.spawn(spec)
    try:
        out = await wait_for(lambda: booted.driver.console_output(spec.uuid),
                             f"{READY_MARKER} {spec.uuid}", within=240)
        assert "STRATA-TINY: root disk vda boot 2" in out  # the first guest's boot was 1
    finally:
        await booted.driver.destroy(spec.uuid)


@pytest.fixture
def dhcp_and_metadata(peer: Peer, tiny_guest: TinyGuest, tmp_path: Path) -> Iterator[Path]:
    """busybox udhcpd (leases from .100, a route to the metadata address) and busybox
    httpd on 169.254.169.254:80 in the peer namespace; yields the web root."""
    net = peer.address.rsplit(".", 1)[0]
    conf = tmp_path / "udhcpd.conf"
    conf.write_text(f"start {net}.100\nend {net}.110\ninterface {peer.device}\n"
                    f"lease_file {tmp_path}/leases\npidfile {tmp_path}/udhcpd.pid\n"
                    f"opt subnet 255.255.255.0\nopt router {peer.address}\n"
                    f"opt staticroutes 169.254.169.254/32 {peer.address}\n")
    (tmp_path / "leases").touch()
    webroot = tmp_path / "www"
    (webroot / "openstack" / "latest").mkdir(parents=True)
    run("ip", "netns", "exec", peer.ns, "ip", "addr", "add", "169.254.169.254/32", "dev",
        peer.device)
    busybox = str(tiny_guest.busybox)
    procs = [subprocess.Popen(["ip", "netns", "exec", peer.ns, busybox, "udhcpd", "-f",
                               str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen(["ip", "netns", "exec", peer.ns, busybox, "httpd", "-f", "-p",
                               "169.254.169.254:80", "-h", str(webroot)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        yield webroot
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        subprocess.run(["ip", "netns", "exec", peer.ns, "ip", "addr", "del",
                        "169.254.169.254/32", "dev", peer.device], check=False,
                       capture_output=True)


async def test_dhcp_and_the_metadata_service(booted: Booted, peer: Peer, bridge: str,
                                             tiny_guest: TinyGuest, dhcp_and_metadata: Path,
                                             tmp_path: Path) -> None:
    """No config drive and no static address: the guest asks DHCP, then 169.254.169.254."""
    spec = guest_spec(tiny_guest, tmp_path, name="meta", nics=(nic_on(bridge),),
                      config_drive=False)
    latest = dhcp_and_metadata / "openstack" / "latest"
    (latest / "meta_data.json").write_text(
        f'{{"uuid": "{spec.uuid}", "hostname": "meta-host", "name": "meta", '
        f'"public_keys": {{"k": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA test"}}}}')
    (latest / "user_data").write_bytes(b"#!/bin/sh\necho FROM-METADATA $(hostname)\n")
    await booted.driver.spawn(spec)
    try:
        out = await wait_for(lambda: booted.driver.console_output(spec.uuid),
                             f"{READY_MARKER} {spec.uuid}", within=240)
        lease = out.split("STRATA-TINY: dhcp address ", 1)[1].split("/", 1)[0]
        assert lease.startswith(peer.address.rsplit(".", 1)[0] + ".1")  # .100-.110
        assert "STRATA-TINY: metadata service" in out
        assert "STRATA-TINY: hostname meta-host" in out
        assert "FROM-METADATA meta-host" in out
        ping = await asyncio.to_thread(peer.run, "ping", "-c", "2", "-W", "5", lease)
        assert ping.returncode == 0, ping.stdout
    finally:
        await booted.driver.destroy(spec.uuid)


async def test_a_failed_start_leaves_nothing(booted: Booted, tmp_path: Path,
                                             tiny_guest: TinyGuest) -> None:
    """libvirt refusing to start a guest: a VirtError with its message (the fault), and
    no domain or CHAP secret left behind."""
    spec = guest_spec(tiny_guest, tmp_path, name="doomed",
                      nics=(nic_on("brqnosuchbrdg"),))
    volume = IscsiDisk("127.0.0.1:3260", "iqn.2010-10.org.openstack:volume-x", 1, "u", "p")
    spec = InstanceSpec(**{**spec.__dict__, "disks": (*spec.disks, Disk(volume))})
    with pytest.raises(VirtError) as err:
        await booted.driver.spawn(spec)
    assert "brqnosuchbrdg" in err.value.message and err.value.status == 500
    assert spec.uuid not in {i.uuid for i in await booted.driver.list_instances()}
    secrets = run("virsh", "-c", "qemu:///system", "secret-list")
    assert spec.uuid not in secrets


async def test_kvm_or_tcg_is_chosen_by_the_probe(libvirt_ready: str, domain_prefix: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "compute.virt.libvirt")
    driver = await LibvirtDriver.open(name_prefix=domain_prefix, probe_timeout=0.001)
    try:
        assert driver.domain_type == "qemu"  # nothing boots in a millisecond
        assert "guests run under QEMU TCG" in caplog.text or "no KVM" in caplog.text
    finally:
        await driver.close()
    with pytest.raises(HypervisorUnavailable, match="KVM is not usable"):
        await LibvirtDriver.open(name_prefix=domain_prefix, virt_type="kvm",
                                 probe_timeout=0.001)
    tcg = await LibvirtDriver.open(name_prefix=domain_prefix, virt_type="qemu")
    assert tcg.domain_type == "qemu"
    await tcg.close()


# An emulator that behaves as QEMU does on a host whose nested KVM runs the probe but
# not a guest (seen on CI: "failed to set MSR 0x10a"): libvirt's capability probes
# pass through to the real QEMU; starting a guest under KVM fails at once.
KVM_FAILS = """#!/bin/sh
guest=no kvm=no prev=
for arg in "$@"; do
  case "$arg" in guest=*) [ "$prev" = -name ] && guest=yes ;; *accel=kvm*) kvm=yes ;; esac
  [ "$prev" = -accel ] && [ "$arg" = kvm ] && kvm=yes
  prev=$arg
done
if [ $guest = yes ] && [ $kvm = yes ]; then
  echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
  exit 1
fi
exec {qemu} "$@"
"""


async def test_a_kvm_guest_that_cannot_start_runs_under_tcg(
        libvirt_ready: str, domain_prefix: str, tiny_guest: TinyGuest, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """KVM chosen (as the probe chose on CI) but QEMU refusing KVM guests: the guest
    starts under TCG, the driver keeps TCG for the next ones, and says so."""
    emulator = tmp_path / "qemu-kvm-fails"
    emulator.write_text(KVM_FAILS.replace("{qemu}", "/usr/bin/qemu-system-x86_64"))
    emulator.chmod(0o755)
    caplog.set_level(logging.INFO, "compute.virt.libvirt")
    driver = await LibvirtDriver.open(name_prefix=domain_prefix, instances_dir=tmp_path,
                                      emulator=str(emulator), virt_type="qemu")
    try:
        driver.domain_type, driver.cpu_mode = "kvm", "host-passthrough"
        spec = guest_spec(tiny_guest, tmp_path, name="fallback")
        info = await driver.spawn(spec)
        assert info.uuid == spec.uuid
        assert (driver.domain_type, driver.cpu_mode) == ("qemu", "")
        # (libvirt names QEMU's own words, or only that its monitor never answered)
        assert "a kvm guest (cpu host-passthrough) did not start" in caplog.text
        assert "run as domain type qemu" in caplog.text
        await wait_for(lambda: driver.console_output(spec.uuid), "\n", within=120)
        # libvirt really runs it as a TCG domain, on the given emulator
        xml = run("virsh", "-c", "qemu:///system", "dumpxml",
                  f"{domain_prefix}{spec.uuid}")
        assert "<domain type='qemu'" in xml and str(emulator) in xml
        await driver.destroy(spec.uuid)
        # configured to be KVM only: no TCG fallback, the error is the guest's fault
        driver.virt_type, driver.domain_type = "kvm", "kvm"
        doomed = guest_spec(tiny_guest, tmp_path, name="kvm-only")
        with pytest.raises(VirtError, match="could not start the guest"):
            await driver.spawn(doomed)
        assert doomed.uuid not in {i.uuid for i in await driver.list_instances()}
    finally:
        for inst in await driver.list_instances():
            await driver.destroy(inst.uuid)
        await driver.close()


# An emulator that behaves as QEMU did on a CI host whose nested KVM left a real guest
# silent: the probe with QEMU's default model passes (here: run under TCG instead),
# the one with ``-cpu host`` aborts in kvm_buf_set_msrs.
NESTED_KVM = """#!/usr/bin/python3
import os, sys
argv = sys.argv[1:]
kvm = any("accel=kvm" in a for a in argv)
if kvm and "host" in [b for a, b in zip(argv, argv[1:]) if a == "-cpu"]:
    sys.stderr.write("qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: "
                     "kvm_buf_set_msrs: Assertion failed.\\n")
    sys.stderr.flush()
    os.abort()
argv = [a.replace("accel=kvm", "accel=tcg") for a in argv]
os.execv("/usr/bin/qemu-system-x86_64", ["qemu-system-x86_64", *argv])
"""


async def test_auto_runs_tcg_where_kvm_cannot_run_the_hosts_cpu(
        libvirt_ready: str, domain_prefix: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The probes run the configured emulator: the default model passes, the host's
    aborts, so "auto" chooses TCG (and says why) and "kvm" keeps KVM, default model."""
    emulator = tmp_path / "qemu-nested-kvm"
    emulator.write_text(NESTED_KVM)
    emulator.chmod(0o755)
    caplog.set_level(logging.INFO, "compute.virt.libvirt")
    if not Path("/dev/kvm").exists():
        # libvirtd then offers no KVM domains: the probes never run
        driver = await LibvirtDriver.open(name_prefix=domain_prefix, emulator=str(emulator))
        await driver.close()
        assert (driver.domain_type, driver.cpu_mode) == ("qemu", "")
        assert "no KVM domains" in caplog.text
        return
    driver = await LibvirtDriver.open(name_prefix=domain_prefix, emulator=str(emulator),
                                      virt_type="auto")
    await driver.close()
    assert (driver.domain_type, driver.cpu_mode) == ("qemu", "")
    assert "runs QEMU's default CPU model but not the host's" in caplog.text
    assert "kvm_buf_set_msrs" in caplog.text
    driver = await LibvirtDriver.open(name_prefix=domain_prefix, emulator=str(emulator),
                                      virt_type="kvm")
    await driver.close()
    assert (driver.domain_type, driver.cpu_mode) == ("kvm", "")
