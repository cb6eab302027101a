"""Real guests through the real API: a private cloud whose compute agent drives the
system libvirtd (QEMU TCG) and whose networking service runs its data path (bridges,
dnsmasq, the metadata proxy), driven by the ``openstack`` client and openstacksdk.
The tiny guest reports on its serial console what it saw (its DHCP address, the
metadata service's answer, the user data's output, disks coming and going, its boot
count), and the tests read that console through the API."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from network.hostcheck import describe, missing_parts
from tests.functional.compute.compute_server import (
    ED25519,
    NANO,
    ComputeCloud,
    Nova,
    compute_cloud,
    instance_files,
    unavailable,
)

BOOT = 420.0  # a TCG guest on a loaded two-core machine: its boot, with room to spare


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory,
          libvirt_ready: str) -> Iterator[ComputeCloud]:
    """A cloud whose agent drives the system libvirtd and whose networking service runs
    its data path (skipped, with the reason, where either cannot run; failed under CI)."""
    missing = missing_parts()
    if missing:
        unavailable(describe(missing))
    with compute_cloud(tmp_path_factory, STRATA_NETWORK_DATAPLANE="true") as c:
        c.upload_tiny()
        yield c


def domain_state(admin: Nova, uuid: str) -> int | None:
    """libvirt's own state of the server's domain (None: there is no such domain)."""
    name = admin.server(uuid)["OS-EXT-SRV-ATTR:instance_name"]
    conn = libvirt.open("qemu:///system")
    try:
        state: int = conn.lookupByName(name).state()[0]
        return state
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()


def console(cloud: ComputeCloud, server: str) -> str:
    r = cloud.osc_plain("demo", "console", "log", "show", server)
    assert r.returncode == 0, r.stderr
    return r.stdout


def until_console(cloud: ComputeCloud, server: str, pattern: str,
                  within: float = BOOT) -> re.Match[str]:
    """The first match of ``pattern`` on the server's console, waiting for it."""
    found: list[re.Match[str]] = []

    def seen() -> bool:
        match = re.search(pattern, console(cloud, server))
        if match:
            found.append(match)
        return match is not None

    try:
        cloud.wait_for(seen, f"{pattern!r} on the console of {server}", within=within)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{console(cloud, server)[-3000:]}") from None
    return found[0]


def test_a_guest_on_a_network_with_the_metadata_service_and_a_volume(
        cloud: ComputeCloud, demo: Nova, admin: Nova, tmp_path: Path) -> None:
    key = tmp_path / "k.pub"
    key.write_text(ED25519 + "\n")
    cloud.osc("demo", "keypair", "create", "--public-key", str(key), "k")
    hello = tmp_path / "hello.sh"
    hello.write_text("#!/bin/sh\necho HELLO-FROM-USER-DATA $(hostname)\n")
    made = cloud.osc("demo", "server", "create", "--image", "tiny", "--flavor", "m1.nano",
                     "--network", "private", "--key-name", "k", "--user-data", str(hello),
                     "--wait", "vm1", timeout=BOOT + 60)
    assert made["status"] == "ACTIVE", made
    sid = made["id"]
    shown = demo.server(sid)
    (address,) = shown["addresses"]["private"]
    assert domain_state(admin, sid) == libvirt.VIR_DOMAIN_RUNNING
    # the guest got its port's address from the network's DHCP server, and (no config
    # drive) its identity, key and user data from the metadata service
    lease = until_console(cloud, "vm1", r"dhcp address ([0-9.]+)/\d+ on eth0")
    assert lease.group(1) == address["addr"]
    until_console(cloud, "vm1", f"STRATA-TINY-READY {sid}")
    out = console(cloud, "vm1")
    assert "STRATA-TINY: metadata service" in out and f"STRATA-TINY: uuid {sid}" in out
    assert "STRATA-TINY: public keys 1" in out
    assert "HELLO-FROM-USER-DATA vm1" in out and "user_data exit 0" in out
    assert "root disk vda boot 1" in out
    # a volume hot-plugged through the block store: the guest sees it come and go
    volume = cloud.osc("demo", "volume", "create", "--size", "1", "data")
    cloud.wait_for(lambda: cloud.osc("demo", "volume", "show", volume["id"])["status"] ==
                   "available", "the volume")
    added = cloud.osc_plain("demo", "server", "add", "volume", "vm1", "data")
    assert added.returncode == 0, added.stderr
    cloud.wait_for(lambda: cloud.osc("demo", "volume", "show", volume["id"])["status"] ==
                   "in-use", "the attachment", within=120)
    until_console(cloud, "vm1", r"disk added vdb 2097152 sectors", within=120)
    attachment = demo.ok("GET", f"/servers/{sid}/os-volume_attachments")[
        "volumeAttachments"]
    assert [(a["volumeId"], a["device"]) for a in attachment] == [(volume["id"], "/dev/vdb")]
    removed = cloud.osc_plain("demo", "server", "remove", "volume", "vm1", "data")
    assert removed.returncode == 0, removed.stderr
    until_console(cloud, "vm1", r"disk removed vdb", within=120)
    cloud.wait_for(lambda: cloud.osc("demo", "volume", "show", volume["id"])["status"] ==
                   "available", "the detach", within=120)
    # the wrong state: 409 in Nova's format, and the client says so
    assert "vm_state active" in demo.fails("POST", f"/servers/{sid}/action", 409,
                                           "conflictingRequest", json={"os-start": None})
    refused = cloud.osc_plain("demo", "server", "start", "vm1")
    assert refused.returncode != 0, refused.stdout
    assert "409" in refused.stderr and "while it is in vm_state active" in refused.stderr
    # reboot (soft: the tiny guest ignores ACPI, so it is powered off after the grace
    # period), stop and start: the same disk boots again each time
    rebooted = cloud.osc_plain("demo", "server", "reboot", "--wait", "vm1", timeout=BOOT)
    assert rebooted.returncode == 0, rebooted.stderr
    until_console(cloud, "vm1", "root disk vda boot 2")
    assert cloud.osc_plain("demo", "server", "stop", "vm1").returncode == 0
    stopped = demo.wait(sid, "SHUTOFF", within=BOOT)
    assert stopped["OS-EXT-STS:power_state"] == 4
    assert domain_state(admin, sid) == libvirt.VIR_DOMAIN_SHUTOFF
    assert "vm_state stopped" in demo.fails("POST", f"/servers/{sid}/action", 409,
                                            "conflictingRequest",
                                            json={"reboot": {"type": "SOFT"}})
    assert cloud.osc_plain("demo", "server", "start", "vm1").returncode == 0
    demo.wait(sid, "ACTIVE", within=BOOT)
    until_console(cloud, "vm1", "root disk vda boot 3")
    assert domain_state(admin, sid) == libvirt.VIR_DOMAIN_RUNNING
    listed = {s["Name"]: s for s in cloud.osc("demo", "server", "list")}
    assert listed["vm1"]["Status"] == "ACTIVE" and listed["vm1"]["Image"] == "tiny"
    assert listed["vm1"]["Networks"] == {"private": [address["addr"]]}
    show = cloud.osc("demo", "server", "show", "vm1")
    assert (show["id"], show["key_name"], show["status"]) == (sid, "k", "ACTIVE")
    assert "m1.nano" in str(show["flavor"])  # a name or a dict, by the client's version
    assert show["OS-EXT-STS:power_state"] == 1
    # delete: the domain, its files and its port go; the volume stays
    port = cloud.net("demo").get("/ports", params={"device_id": sid})["ports"]
    assert len(port) == 1
    instance = admin.server(sid)["OS-EXT-SRV-ATTR:instance_name"]
    deleted = cloud.osc_plain("demo", "server", "delete", "--wait", "vm1", timeout=BOOT)
    assert deleted.returncode == 0, deleted.stderr
    conn = libvirt.open("qemu:///system")
    try:
        assert instance not in conn.listDefinedDomains() + [
            d.name() for d in conn.listAllDomains()]
    finally:
        conn.close()
    assert not instance_files(cloud, sid).exists()
    assert cloud.net("demo").get("/ports", params={"device_id": sid})["ports"] == []
    assert cloud.osc("demo", "volume", "show", volume["id"])["status"] == "available"
    cloud.osc_plain("demo", "volume", "delete", volume["id"])


def test_sdk_boots_from_a_volume_with_a_config_drive(cloud: ComputeCloud,
                                                     demo: Nova) -> None:
    private = cloud.net("demo").get("/networks", params={"name": "private"})["networks"][0]
    conn = cloud.sdk("demo")
    try:
        server = conn.compute.create_server(
            name="bfv", flavor_id=NANO, networks=[{"uuid": private["id"]}],
            config_drive=True, block_device_mapping=[{
                "uuid": cloud.tiny, "source_type": "image",
                "destination_type": "volume", "boot_index": 0, "volume_size": 1,
                "delete_on_termination": True}])
        server = conn.compute.wait_for_server(server, wait=int(BOOT))
        assert server.status == "ACTIVE"
        (root,) = server.attached_volumes
        assert cloud.osc("demo", "volume", "show", root["id"])["status"] == "in-use"
        # the root disk is the iSCSI volume (a copy of the image), the drive read
        until_console(cloud, server.id, f"STRATA-TINY-READY {server.id}")
        out = console(cloud, server.id)
        assert "root disk vda boot 1" in out and "STRATA-TINY: config drive" in out
        assert "metadata service" not in out
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=int(BOOT))
    finally:
        conn.close()
    cloud.wait_for(lambda: cloud.osc_plain("demo", "volume", "show", root["id"]).returncode
                   != 0, "the root volume's deletion", within=120)


def test_bad_requests_make_nothing(cloud: ComputeCloud, demo: Nova) -> None:
    def refused(status: int, fault: str, **server: Any) -> str:
        body = {"name": "bad", "imageRef": cloud.tiny, "flavorRef": NANO, "networks": "auto",
                **server}
        return demo.fails("POST", "/servers", status, fault, json={"server": body})

    assert "Flavor 999 could not be found" in refused(400, "badRequest", flavorRef="999")
    assert "could not be found" in refused(400, "badRequest",
                                           networks=[{"uuid": str(uuid.uuid4())}])
    cli = cloud.osc_plain("demo", "server", "create", "--image", "tiny", "--flavor",
                          "m9.none", "--network", "private", "never")
    assert cli.returncode != 0 and "m9.none" in cli.stderr
    assert demo.ok("GET", "/servers", params={"name": "^(bad|never)$"})["servers"] == []


def domain(admin: Nova, uuid: str) -> tuple[int, int, int]:
    """(memory MiB, vCPUs, NICs) of the server's domain as libvirt defines it now."""
    name = admin.server(uuid)["OS-EXT-SRV-ATTR:instance_name"]
    conn = libvirt.open("qemu:///system")
    try:
        dom = conn.lookupByName(name)
        _, max_kib, _, vcpus, _ = dom.info()
        nics = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).count("<interface ")
        return max_kib // 1024, vcpus, nics
    finally:
        conn.close()


def test_snapshot_resize_shelve_and_a_port_on_a_real_guest(cloud: ComputeCloud, demo: Nova,
                                                           admin: Nova) -> None:
    made = cloud.osc("demo", "server", "create", "--image", "tiny", "--flavor", "m1.nano",
                     "--network", "private", "--wait", "acts", timeout=BOOT + 60)
    sid = made["id"]
    until_console(cloud, "acts", f"STRATA-TINY-READY {sid}")
    # the image of its disk boots a new server, whose disk goes on counting its boots
    snap = cloud.osc("demo", "server", "image", "create", "--name", "acts-snap", "--wait",
                     "acts", timeout=BOOT)
    copy = cloud.osc("demo", "server", "create", "--image", "acts-snap", "--flavor",
                     "m1.nano", "--network", "private", "--wait", "acts-copy",
                     timeout=BOOT + 60)
    until_console(cloud, "acts-copy", f"STRATA-TINY-READY {copy['id']}")
    assert "root disk vda boot 2" in console(cloud, "acts-copy")
    assert cloud.osc_plain("demo", "server", "delete", "acts-copy").returncode == 0
    # resize: the domain gets m1.tiny's RAM; revert gives back m1.nano's
    r = cloud.osc_plain("demo", "server", "resize", "--flavor", "m1.tiny", "--wait", "acts",
                        timeout=BOOT)
    assert r.returncode == 0, r.stderr
    assert demo.wait(sid, "VERIFY_RESIZE", within=BOOT)["flavor"]["original_name"] == "m1.tiny"
    assert domain(admin, sid)[:2] == (512, 1)
    assert domain_state(admin, sid) == libvirt.VIR_DOMAIN_RUNNING
    until_console(cloud, "acts", "root disk vda boot 2")  # the console log goes on
    r = cloud.osc_plain("demo", "server", "resize", "revert", "acts")
    assert r.returncode == 0, r.stderr
    demo.wait(sid, "ACTIVE", within=BOOT)
    assert domain(admin, sid)[:2] == (128, 1)
    # the disk as it was before the resize: its boot count goes back to 1, then 2
    until_console(cloud, "acts", r"root disk vda boot 2[\s\S]*root disk vda boot 2[\s\S]*"
                  f"STRATA-TINY-READY {sid}")
    # shelve: the domain and disk leave the host; unshelve boots the same disk again
    r = cloud.osc_plain("demo", "server", "shelve", "--wait", "acts", timeout=BOOT)
    assert r.returncode == 0, r.stderr
    demo.wait(sid, "SHELVED_OFFLOADED", within=BOOT)
    assert domain_state(admin, sid) is None and not instance_files(cloud, sid).exists()
    r = cloud.osc_plain("demo", "server", "unshelve", "--wait", "acts", timeout=BOOT)
    assert r.returncode == 0, r.stderr
    until_console(cloud, "acts", f"STRATA-TINY-READY {sid}")
    # a new console: boot 3 of the disk the shelved image kept
    assert "root disk vda boot 3" in console(cloud, "acts")
    # a port plugged into the running guest and out again
    net = cloud.net("demo")
    private = net.get("/networks", params={"name": "private"})["networks"][0]
    port = net.make("ports", "port", network_id=private["id"], name="acts-extra")
    r = cloud.osc_plain("demo", "server", "add", "port", "acts", port["id"])
    assert r.returncode == 0, r.stderr
    assert domain(admin, sid)[2] == 2
    tap = f"tap{port['id'][:11]}"
    assert subprocess.run(["ip", "link", "show", tap], capture_output=True).returncode == 0
    assert len(demo.server(sid)["addresses"]["private"]) == 2
    r = cloud.osc_plain("demo", "server", "remove", "port", "acts", port["id"])
    assert r.returncode == 0, r.stderr
    cloud.wait_for(lambda: domain(admin, sid)[2] == 1, "the NIC's removal", within=120)
    deleted = cloud.osc_plain("demo", "server", "delete", "--wait", "acts", timeout=BOOT)
    assert deleted.returncode == 0, deleted.stderr
    cloud.osc_plain("demo", "image", "delete", snap["id"])
    net.delete(f"/ports/{port['id']}")
