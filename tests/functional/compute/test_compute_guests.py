"""Real guests through the real API: a private cloud whose compute agent drives the
system libvirtd (QEMU TCG) and whose networking service runs its data path (bridges,
dnsmasq, the metadata proxy), driven by the ``openstack`` client and openstacksdk.
The tiny guest reports on its serial console what it saw (its DHCP address, the
metadata service's answer, the user data's output, disks coming and going, its boot
count), and the tests read that console through the API."""

from __future__ import annotations

import asyncio
import re
import struct
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import libvirt
import pytest

from common.config import StrataConfig
from network.dataplane import names
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
from tests.functional.network.dataplane.guests import ping, reaches, run_in

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


def _settle(cloud: ComputeCloud, port_id: str) -> None:
    """Wait until a pass of the network agent that started after everything done so far
    has finished: the port is bound again to its host (which changes nothing there) and
    is ACTIVE once such a pass applied it."""
    admin = cloud.net("admin")
    host = admin.get(f"/ports/{port_id}")["port"]["binding:host_id"]
    admin.put(f"/ports/{port_id}", {"port": {"binding:host_id": host}})
    cloud.wait_for(lambda: admin.get(f"/ports/{port_id}")["port"]["status"] == "ACTIVE",
                   f"port {port_id} ACTIVE again", within=120)


def _ssh(outside: str, key: Path, address: str, *, within: float) -> \
        subprocess.CompletedProcess[str]:
    """``ssh -i key root@address`` from the outside namespace, asking the hostname."""
    return run_in(outside, "ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no",
                  "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                  "-o", f"ConnectTimeout={within:g}", f"root@{address}",
                  "cat /proc/sys/kernel/hostname", timeout=within + 60)


@dataclass
class Reachable:
    """A server on ``private`` booted with an SSH key pair, its ssh server up."""

    id: str
    key: Path
    port: dict[str, Any]


@pytest.fixture(scope="module")
def reachable(cloud: ComputeCloud, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Reachable]:
    key = tmp_path_factory.mktemp("reach") / "reach"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True)
    cloud.osc("demo", "keypair", "create", "--public-key", f"{key}.pub", "reach")
    made = cloud.osc("demo", "server", "create", "--image", "tiny", "--flavor", "m1.nano",
                     "--network", "private", "--key-name", "reach", "--wait", "reach1",
                     timeout=BOOT + 60)
    assert made["status"] == "ACTIVE", made
    (port,) = cloud.net("demo").get("/ports", params={"device_id": made["id"]})["ports"]
    # its address from DHCP (the first test's deleted server may have had it before)
    fixed = re.escape(port["fixed_ips"][0]["ip_address"])
    until_console(cloud, "reach1", rf"dhcp address {fixed}/\d+ on eth0")
    until_console(cloud, "reach1", "STRATA-TINY: ssh server on port 22")
    yield Reachable(made["id"], key, port)
    deleted = cloud.osc_plain("demo", "server", "delete", "--wait", "reach1", timeout=BOOT)
    assert deleted.returncode == 0, deleted.stderr


def test_the_default_group_and_a_floating_ip_decide_who_reaches_the_guest(
        cloud: ComputeCloud, demo: Nova, reachable: Reachable, tmp_path: Path) -> None:
    """Issue 19's acceptance: from the outside namespace (the ``public`` network's side),
    ping and ``ssh -i key`` to the server's floating IP fail until the ``default`` group
    lets ICMP and TCP 22 in, then work, and fail again once the IP is unset."""
    outside = names.external_namespace(
        StrataConfig(home=Path(cloud.env["STRATA_HOME"])).network_instance())
    sid, key, port = reachable.id, reachable.key, reachable.port
    fip = cloud.osc("demo", "floating", "ip", "create", "public")["floating_ip_address"]
    added = cloud.osc_plain("demo", "server", "add", "floating", "ip", "reach1", fip)
    assert added.returncode == 0, added.stderr
    fixed = port["fixed_ips"][0]["ip_address"]
    cloud.wait_for(lambda: fip in demo.server(sid)["addresses"]["private"][-1]["addr"],
                   "the floating IP in the server's addresses")
    assert [(a["addr"], a["OS-EXT-IPS:type"]) for a in
            demo.server(sid)["addresses"]["private"]] == [(fixed, "fixed"),
                                                          (fip, "floating")]
    _settle(cloud, port["id"])
    # the default group lets in only its own members: nothing from the outside
    assert not ping(outside, fip, count=2)
    assert _ssh(outside, key, fip, within=5).returncode != 0
    rules = [cloud.osc("demo", "security", "group", "rule", "create", "--protocol", "icmp",
                       "default")["id"],
             cloud.osc("demo", "security", "group", "rule", "create", "--protocol", "tcp",
                       "--dst-port", "22", "default")["id"]]
    _settle(cloud, port["id"])
    assert reaches(outside, fip)
    ssh = _ssh(outside, key, fip, within=60)
    assert ssh.returncode == 0, ssh.stderr
    assert ssh.stdout.strip() == "reach1"
    wrong = tmp_path / "wrong"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)],
                   check=True)
    assert _ssh(outside, wrong, fip, within=30).returncode != 0
    # unset: the address leads nowhere any more
    unset = cloud.osc_plain("demo", "floating", "ip", "unset", "--port", fip)
    assert unset.returncode == 0, unset.stderr
    _settle(cloud, port["id"])
    assert not ping(outside, fip, count=2)
    assert _ssh(outside, key, fip, within=5).returncode != 0
    assert [a["addr"] for a in demo.server(sid)["addresses"]["private"]] == [fixed]
    for rule in rules:
        cloud.osc_plain("demo", "security", "group", "rule", "delete", rule)
    cloud.osc_plain("demo", "floating", "ip", "delete", fip)


async def _rfb_handshake(url: str) -> tuple[bytes, int, int, bytes]:
    """Through the console proxy's websocket, RFB 3.8 with no authentication to the
    server's init: (the server's version line, width, height, desktop name)."""
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, protocols=("binary",)) as ws:
        buffer = bytearray()

        async def take(n: int) -> bytes:
            while len(buffer) < n:
                msg = await asyncio.wait_for(ws.receive(), 30)
                assert msg.type == aiohttp.WSMsgType.BINARY, msg
                buffer.extend(msg.data)
            out = bytes(buffer[:n])
            del buffer[:n]
            return out

        version = await take(12)
        await ws.send_bytes(b"RFB 003.008\n")
        count = (await take(1))[0]
        kinds = await take(count)
        assert 1 in kinds, kinds  # None: libvirt's VNC on 127.0.0.1 has no password
        await ws.send_bytes(bytes([1]))
        assert struct.unpack(">I", await take(4))[0] == 0  # security result: OK
        await ws.send_bytes(bytes([1]))  # ClientInit: shared
        width, height = struct.unpack(">HH", await take(4))
        await take(16)  # the pixel format
        (length,) = struct.unpack(">I", await take(4))
        return version, width, height, await take(length)


async def _serial_says(url: str, command: str, answer: str) -> str:
    """Type ``command`` on the serial console through the proxy; what came back once
    ``answer`` appeared."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        seen = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        await ws.send_bytes(b"\r")
        await ws.send_bytes(command.encode() + b"\r")
        while answer not in seen:
            assert loop.time() < deadline, f"{answer!r} never came back:\n{seen[-2000:]}"
            msg = await asyncio.wait_for(ws.receive(), deadline - loop.time())
            assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg
            seen += msg.data.decode(errors="replace") if isinstance(msg.data, bytes) \
                else msg.data
        return seen


def test_console_urls_open_the_guests_vnc_and_serial_console_once(
        cloud: ComputeCloud, demo: Nova, reachable: Reachable) -> None:
    """``openstack console url show``: a noVNC URL whose token opens, through the console
    proxy's websocket, the guest's VNC server (the RFB handshake completes) once; a
    serial URL whose websocket is the guest's serial console (a shell answers)."""
    proxy = f"127.0.0.1:{cloud.env['STRATA_COMPUTE_CONSOLE_PORT']}"
    shown = cloud.osc("demo", "console", "url", "show", "reach1")
    assert shown["type"] == "novnc", shown
    url = shown["url"]
    assert url.startswith(f"http://{proxy}/vnc_lite.html?path=%3Ftoken%3D"), url
    socket_url = f"ws://{proxy}/" + unquote(url.split("path=", 1)[1])
    version, width, height, name = asyncio.run(_rfb_handshake(socket_url))
    assert re.fullmatch(rb"RFB 003\.00[3-8]\n", version), version
    assert width > 0 and height > 0 and name, (width, height, name)
    used = cloud.osc_plain("demo", "console", "url", "show", "reach1")  # a fresh one works
    assert used.returncode == 0, used.stderr

    async def refused() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(socket_url):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status
    assert asyncio.run(refused()) == 403  # the first token was used
    serial = cloud.osc("demo", "console", "url", "show", "--serial", "reach1")
    assert serial["type"] == "serial" and serial["url"].startswith(f"ws://{proxy}/?token=")
    out = asyncio.run(_serial_says(serial["url"], "echo SERIAL-$((6*7))", "SERIAL-42"))
    assert "SERIAL-42" in out
    # a stopped server has no console: Nova's 409, which the client reports
    assert cloud.osc_plain("demo", "server", "stop", "reach1").returncode == 0
    demo.wait(reachable.id, "SHUTOFF", within=BOOT)
    stopped = cloud.osc_plain("demo", "console", "url", "show", "reach1")
    assert stopped.returncode != 0 and "409" in stopped.stderr, stopped.stderr
    assert "vm_state stopped" in demo.fails(
        "POST", f"/servers/{reachable.id}/remote-consoles", 409, "conflictingRequest",
        json={"remote_console": {"protocol": "vnc", "type": "novnc"}})
