"""Server actions that change what a server is (createImage, resize, shelve, interfaces)
through the real ``openstack`` client and raw HTTP, on the in-memory driver's cloud
shared with ``test_compute_api.py``: images, volumes, snapshots and ports are real, the
guest is not. One real guest goes through them in ``test_compute_guests.py``."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from tests.functional.compute.compute_server import NANO, ComputeCloud, Nova, instance_files


@pytest.fixture(scope="module")
def cloud(memory_cloud: ComputeCloud) -> ComputeCloud:
    return memory_cloud


def boot(cloud: ComputeCloud, nova: Nova, name: str, **server: Any) -> dict[str, Any]:
    made = nova.create(**{"name": name, "imageRef": cloud.tiny, "flavorRef": NANO, **server})
    return nova.wait(made["id"], "ACTIVE", within=120)


def image(cloud: ComputeCloud, who: str, image_id: str) -> dict[str, Any]:
    r = cloud.api(who).request("GET", f"/v2/images/{image_id}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def image_gone(cloud: ComputeCloud, image_id: str) -> bool:
    return cloud.api("demo").request("GET", f"/v2/images/{image_id}").status_code == 404


def idle(nova: Nova, uuid: str, within: float = 120.0) -> dict[str, Any]:
    """The server once no task is under way."""
    deadline = time.monotonic() + within
    while True:
        srv = nova.server(uuid)
        if not srv["OS-EXT-STS:task_state"]:
            return srv
        assert time.monotonic() < deadline, f"{uuid} still {srv['OS-EXT-STS:task_state']}"
        time.sleep(0.3)


def last_action(nova: Nova, uuid: str) -> dict[str, Any]:
    acts: list[dict[str, Any]] = nova.ok("GET", f"/servers/{uuid}/os-instance-actions")[
        "instanceActions"]
    return acts[0]


# -- createImage --------------------------------------------------------------------------


def test_create_image_of_an_image_backed_server_boots_again(cloud: ComputeCloud,
                                                            demo: Nova, admin: Nova) -> None:
    sid = boot(cloud, demo, "snap-src")["id"]
    made = cloud.osc("demo", "server", "image", "create", "--name", "snap-1", "--wait",
                     "snap-src", timeout=300)
    snap = image(cloud, "demo", made["id"])
    tiny = image(cloud, "admin", cloud.tiny)
    assert (snap["status"], snap["disk_format"], snap["container_format"]) == (
        "active", "qcow2", "bare")
    assert snap["owner"] == demo.project_id and snap["visibility"] == "private"
    assert (snap["image_type"], snap["instance_uuid"], snap["base_image_ref"]) == (
        "snapshot", sid, cloud.tiny)
    assert (snap["kernel_id"], snap["ramdisk_id"]) == (tiny["kernel_id"], tiny["ramdisk_id"])
    assert snap["min_disk"] == 1 and snap["size"] > 0
    assert last_action(demo, sid)["action"] == "createImage"
    assert idle(demo, sid)["status"] == "ACTIVE"
    # 2.45 answers the image id; before it, the Location header names the image
    body = demo.action(sid, "createImage", {"name": "snap-2", "metadata": {"k": "v"}},
                       version="2.45")
    demo.exact(body, {"image_id"})
    assert image(cloud, "demo", body["image_id"])["k"] == "v"
    idle(demo, sid)
    # the wrong state: Nova's 409, no image made
    admin.action(sid, "os-resetState", {"state": "error"})
    assert "vm_state error" in demo.fails("POST", f"/servers/{sid}/action", 409,
                                          "conflictingRequest",
                                          json={"createImage": {"name": "snap-3"}})
    admin.action(sid, "os-resetState", {"state": "active"})
    old = demo.call("POST", f"/servers/{sid}/action", version="2.44",
                    json={"createImage": {"name": "snap-3"}})
    assert old.status_code == 202 and not old.content, old.text
    third = old.headers["Location"].rsplit("/", 1)[1]
    assert image(cloud, "demo", third)["name"] == "snap-3"
    idle(demo, sid)
    # bad input: 400 in Nova's format, no image made
    assert demo.fails("POST", f"/servers/{sid}/action", 400, "badRequest",
                      json={"createImage": {}})
    assert demo.fails("POST", f"/servers/{sid}/action", 400, "badRequest",
                      json={"createImage": {"name": "x", "metadata": "no"}})
    # the snapshot boots a new server
    copy = boot(cloud, demo, "from-snap", imageRef=made["id"])
    assert copy["image"]["id"] == made["id"]
    for server in (sid, copy["id"]):
        demo.call("DELETE", f"/servers/{server}")
    assert [i["name"] for i in cloud.api("demo").request(
        "GET", "/v2/images", params={"name": "snap-3"}).json()["images"]] == ["snap-3"]
    for image_id in (made["id"], body["image_id"], third):
        cloud.osc_plain("demo", "image", "delete", image_id)
    demo.gone(sid)
    demo.gone(copy["id"])


def test_create_image_of_a_volume_backed_server(cloud: ComputeCloud, demo: Nova) -> None:
    made = demo.create(name="bfv-src", imageRef="", flavorRef=NANO, block_device_mapping_v2=[{
        "uuid": cloud.tiny, "source_type": "image", "destination_type": "volume",
        "boot_index": 0, "volume_size": 1, "delete_on_termination": True}])
    sid = demo.wait(made["id"], "ACTIVE", within=180)["id"]
    body = demo.action(sid, "createImage", {"name": "bfv-snap"})
    idle(demo, sid, within=180)
    snap = image(cloud, "demo", body["image_id"])
    assert snap["status"] == "active" and snap["size"] == 0
    assert snap["bdm_v2"] == "True" and snap["image_type"] == "snapshot"
    assert "base_image_ref" not in snap
    (mapping,) = json.loads(snap["block_device_mapping"])
    assert (mapping["source_type"], mapping["destination_type"], mapping["boot_index"],
            mapping["volume_size"]) == ("snapshot", "volume", 0, 1)
    snapshot = cloud.osc("demo", "volume", "snapshot", "show", mapping["snapshot_id"])
    assert snapshot["status"] == "available"
    # the real client boots it: a new volume made from the snapshot is the root
    private = cloud.net("demo").get("/networks", params={"name": "private"})["networks"][0]
    booted = cloud.osc("demo", "server", "create", "--image", "bfv-snap", "--flavor",
                       "m1.nano", "--nic", f"net-id={private['id']}", "--wait", "bfv-copy",
                       timeout=300)
    assert booted["status"] == "ACTIVE"
    shown = demo.server(booted["id"])
    (root,) = shown["os-extended-volumes:volumes_attached"]
    volume = cloud.osc("demo", "volume", "show", root["id"])
    assert volume["snapshot_id"] == mapping["snapshot_id"] and volume["status"] == "in-use"
    demo.call("DELETE", f"/servers/{booted['id']}")
    demo.gone(booted["id"])
    cloud.wait_for(lambda: cloud.osc_plain("demo", "volume", "show", root["id"]).returncode
                   != 0, "the copy's root volume deletion")
    cloud.osc_plain("demo", "image", "delete", body["image_id"])
    cloud.osc_plain("demo", "volume", "snapshot", "delete", mapping["snapshot_id"])
    demo.call("DELETE", f"/servers/{sid}")
    demo.gone(sid)


# -- resize -------------------------------------------------------------------------------


def root_size(cloud: ComputeCloud, uuid: str) -> int:
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json",
                          str(instance_files(cloud, uuid) / "disk")],
                         capture_output=True, text=True, check=True).stdout
    return int(json.loads(out)["virtual-size"])


def used(nova: Nova) -> dict[str, int]:
    absolute = nova.ok("GET", "/limits")["limits"]["absolute"]
    return {"cores": absolute["totalCoresUsed"], "ram": absolute["totalRAMUsed"]}


def test_resize_then_revert_or_confirm(cloud: ComputeCloud, demo: Nova,
                                       admin: Nova) -> None:
    sid = boot(cloud, demo, "resizer")["id"]
    before = used(demo)
    assert root_size(cloud, sid) == 1 << 30
    # bad input and the wrong state: 400 and 409 in Nova's format, nothing changes
    assert "must change flavor" in demo.fails(
        "POST", f"/servers/{sid}/action", 400, "badRequest",
        json={"resize": {"flavorRef": NANO}})
    assert "could not be found" in demo.fails(
        "POST", f"/servers/{sid}/action", 400, "badRequest",
        json={"resize": {"flavorRef": "999"}})
    assert demo.fails("POST", f"/servers/{sid}/action", 400, "badRequest",
                      json={"resize": {}})
    assert "vm_state active" in demo.fails("POST", f"/servers/{sid}/action", 409,
                                           "conflictingRequest",
                                           json={"confirmResize": None})
    admin.ok("PUT", f"/os-quota-sets/{demo.project_id}",
             json={"quota_set": {"ram": before["ram"] + 1000}})
    try:
        assert "Quota exceeded for ram" in demo.fails(
            "POST", f"/servers/{sid}/action", 403, "forbidden",
            json={"resize": {"flavorRef": "2"}})
    finally:
        admin.call("DELETE", f"/os-quota-sets/{demo.project_id}")
    # resize to m1.small (20 GiB disk) and revert: the old flavor and disk come back
    r = cloud.osc_plain("demo", "server", "resize", "--flavor", "m1.small", "--wait",
                        "resizer", timeout=300)
    assert r.returncode == 0, r.stderr
    shown = demo.wait(sid, "VERIFY_RESIZE")
    assert (shown["OS-EXT-STS:vm_state"], shown["OS-EXT-STS:power_state"]) == ("resized", 1)
    assert shown["flavor"]["original_name"] == "m1.small" and shown["flavor"]["ram"] == 2048
    assert root_size(cloud, sid) == 20 << 30
    assert used(demo) == {"cores": before["cores"], "ram": before["ram"] + 1920}
    assert "vm_state resized" in demo.fails("POST", f"/servers/{sid}/action", 409,
                                            "conflictingRequest",
                                            json={"resize": {"flavorRef": "1"}})
    r = cloud.osc_plain("demo", "server", "resize", "revert", "resizer")
    assert r.returncode == 0, r.stderr
    reverted = demo.wait(sid, "ACTIVE")
    assert reverted["flavor"]["original_name"] == "m1.nano"
    assert root_size(cloud, sid) == 1 << 30 and used(demo) == before
    assert f"STRATA-MEMORY: boot 3 {sid}" in demo.console(sid)  # stopped, started twice
    # a stopped server: resized off, confirmed back to SHUTOFF with m1.tiny
    demo.action(sid, "os-stop")
    demo.wait(sid, "SHUTOFF")
    r = cloud.osc_plain("demo", "server", "resize", "--flavor", "m1.tiny", "resizer")
    assert r.returncode == 0, r.stderr
    assert demo.wait(sid, "VERIFY_RESIZE")["OS-EXT-STS:power_state"] == 4
    r = cloud.osc_plain("demo", "server", "resize", "confirm", "resizer")
    assert r.returncode == 0, r.stderr
    confirmed = demo.wait(sid, "SHUTOFF")
    assert confirmed["flavor"]["original_name"] == "m1.tiny"
    assert not (instance_files(cloud, sid) / "disk.resize").exists()
    names = [a["action"] for a in demo.ok("GET", f"/servers/{sid}/os-instance-actions")[
        "instanceActions"]]
    assert names[:5] == ["confirmResize", "resize", "stop", "revertResize", "resize"]
    # resized from m1.small's 20 GiB to m1.tiny's 1: never down
    demo.action(sid, "resize", {"flavorRef": "2"})
    demo.wait(sid, "VERIFY_RESIZE")
    demo.action(sid, "confirmResize")
    demo.wait(sid, "SHUTOFF")
    assert "Unable to resize disk down" in demo.fails(
        "POST", f"/servers/{sid}/action", 400, "badRequest",
        json={"resize": {"flavorRef": "1"}})
    demo.call("DELETE", f"/servers/{sid}")
    demo.gone(sid)


# -- shelve ---------------------------------------------------------------------------------


def shelved_images(cloud: ComputeCloud, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cloud.api("demo").request(
        "GET", "/v2/images", params={"name": f"{name}-shelved"}).json()["images"]
    return found


def test_shelve_offloads_and_unshelve_boots_again(cloud: ComputeCloud, demo: Nova,
                                                  admin: Nova) -> None:
    net = cloud.net("demo")
    private = net.get("/networks", params={"name": "private"})["networks"][0]
    srv = boot(cloud, demo, "shelver", networks=[{"uuid": private["id"]}])
    sid = srv["id"]
    (port,) = net.get("/ports", params={"device_id": sid})["ports"]
    r = cloud.osc_plain("demo", "server", "shelve", "--wait", "shelver", timeout=300)
    assert r.returncode == 0, r.stderr
    shelved = admin.wait(sid, "SHELVED_OFFLOADED")
    assert (shelved["OS-EXT-STS:vm_state"], shelved["OS-EXT-STS:power_state"]) == (
        "shelved_offloaded", 0)
    assert shelved["OS-EXT-SRV-ATTR:host"] is None and shelved["hostId"] == ""
    assert shelved["addresses"] == srv["addresses"]  # the port stays
    assert net.get(f"/ports/{port['id']}")["port"]["device_id"] == sid
    assert not instance_files(cloud, sid).exists()  # domain and disk left the host
    (snap,) = shelved_images(cloud, "shelver")
    assert (snap["status"], snap["image_type"], snap["instance_uuid"]) == (
        "active", "snapshot", sid)
    # the wrong state: Nova's 409
    for action in ("shelve", "shelveOffload", "os-start", "resize"):
        args = {"flavorRef": "1"} if action == "resize" else None
        assert "vm_state shelved_offloaded" in demo.fails(
            "POST", f"/servers/{sid}/action", 409, "conflictingRequest",
            json={action: args})
    assert demo.fails("POST", f"/servers/{sid}/action", 400, "badRequest", version="2.76",
                      json={"unshelve": {"availability_zone": "nova"}})
    r = cloud.osc_plain("demo", "server", "unshelve", "--wait", "shelver", timeout=300)
    assert r.returncode == 0, r.stderr
    back = demo.wait(sid, "ACTIVE")
    assert back["addresses"] == srv["addresses"]
    assert shelved_images(cloud, "shelver") == []  # the image went once it booted
    assert f"STRATA-MEMORY: boot 1 {sid}" in demo.console(sid)  # a new guest
    assert "vm_state active" in demo.fails("POST", f"/servers/{sid}/action", 409,
                                           "conflictingRequest", json={"unshelve": None})
    names = [a["action"] for a in demo.ok("GET", f"/servers/{sid}/os-instance-actions")[
        "instanceActions"]]
    assert names[:2] == ["unshelve", "shelve"]
    # shelved and deleted: its port and image go with it
    demo.action(sid, "shelve")
    demo.wait(sid, "SHELVED_OFFLOADED")
    assert len(shelved_images(cloud, "shelver")) == 1
    demo.call("DELETE", f"/servers/{sid}")
    demo.gone(sid)
    assert net.get("/ports", params={"device_id": sid})["ports"] == []
    assert shelved_images(cloud, "shelver") == []


def test_shelve_a_volume_backed_server(cloud: ComputeCloud, demo: Nova) -> None:
    made = demo.create(name="bfv-shelf", imageRef="", flavorRef=NANO,
                       block_device_mapping_v2=[{
                           "uuid": cloud.tiny, "source_type": "image",
                           "destination_type": "volume", "boot_index": 0,
                           "volume_size": 1, "delete_on_termination": True}])
    sid = demo.wait(made["id"], "ACTIVE", within=180)["id"]
    root = demo.server(sid)["os-extended-volumes:volumes_attached"][0]["id"]
    demo.action(sid, "shelve")
    demo.wait(sid, "SHELVED_OFFLOADED")
    assert shelved_images(cloud, "bfv-shelf") == []  # no image: the volume is the disk
    assert cloud.osc("demo", "volume", "show", root)["status"] == "in-use"
    demo.action(sid, "unshelve", {"availability_zone": "nova"}, version="2.77")
    assert demo.wait(sid, "ACTIVE")["os-extended-volumes:volumes_attached"][0]["id"] == root
    demo.call("DELETE", f"/servers/{sid}")
    demo.gone(sid)
    cloud.wait_for(lambda: cloud.osc_plain("demo", "volume", "show", root).returncode != 0,
                   "the root volume's deletion")


# -- os-interface ---------------------------------------------------------------------------


def interfaces(nova: Nova, uuid: str, **kw: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = nova.ok("GET", f"/servers/{uuid}/os-interface", **kw)[
        "interfaceAttachments"]
    return found


def test_interfaces_attach_and_detach(cloud: ComputeCloud, demo: Nova) -> None:
    net = cloud.net("demo")
    private = net.get("/networks", params={"name": "private"})["networks"][0]
    sid = boot(cloud, demo, "nics")["id"]
    assert interfaces(demo, sid) == [] and demo.server(sid)["addresses"] == {}
    own = net.make("ports", "port", network_id=private["id"], name="extra")
    r = cloud.osc_plain("demo", "server", "add", "port", "nics", own["id"])
    assert r.returncode == 0, r.stderr
    (first,) = interfaces(demo, sid)
    demo.exact(first, {"port_state", "fixed_ips", "port_id", "net_id", "mac_addr", "tag"})
    assert (first["port_id"], first["net_id"], first["mac_addr"], first["port_state"]) == (
        own["id"], private["id"], own["mac_address"], "ACTIVE")
    address = own["fixed_ips"][0]["ip_address"]
    assert [a["addr"] for a in demo.server(sid)["addresses"]["private"]] == [address]
    bound = cloud.net("admin").get(f"/ports/{own['id']}")["port"]
    assert bound["device_id"] == sid and bound["binding:host_id"]
    # a new port on a network, with a tag (2.49+; shown from 2.70)
    second = demo.ok("POST", f"/servers/{sid}/os-interface", json={"interfaceAttachment": {
        "net_id": private["id"], "tag": "second"}})["interfaceAttachment"]
    assert second["tag"] == "second" and second["port_state"] == "ACTIVE"
    old = demo.ok("GET", f"/servers/{sid}/os-interface/{second['port_id']}",
                  version="2.69")["interfaceAttachment"]
    demo.exact(old, {"port_state", "fixed_ips", "port_id", "net_id", "mac_addr"})
    assert len(demo.server(sid)["addresses"]["private"]) == 2
    # bad input, a port in use, the wrong state: Nova's errors, nothing made
    attach = f"/servers/{sid}/os-interface"
    assert "still in use" in demo.fails("POST", attach, 409, "conflictingRequest", json={
        "interfaceAttachment": {"port_id": own["id"]}})
    missing = "00000000-0000-4000-8000-000000000000"
    assert demo.fails("POST", attach, 404, "itemNotFound",
                      json={"interfaceAttachment": {"port_id": missing}})
    assert demo.fails("POST", attach, 404, "itemNotFound",
                      json={"interfaceAttachment": {"net_id": missing}})
    assert demo.fails("POST", attach, 400, "badRequest", json={"interfaceAttachment": {
        "port_id": own["id"], "net_id": private["id"]}})
    assert demo.fails("POST", attach, 400, "badRequest", version="2.48", json={
        "interfaceAttachment": {"net_id": private["id"], "tag": "x"}})
    assert demo.fails("GET", f"/servers/{sid}/os-interface/{missing}", 404, "itemNotFound")
    demo.action(sid, "suspend")
    demo.wait(sid, "SUSPENDED")
    assert "vm_state suspended" in demo.fails("POST", attach, 409, "conflictingRequest",
                                              json={"interfaceAttachment": {
                                                  "net_id": private["id"]}})
    demo.action(sid, "resume")
    demo.wait(sid, "ACTIVE")
    assert len(net.get("/ports", params={"device_id": sid})["ports"]) == 2
    # detach: the user's port is unbound and kept, the one compute made is deleted
    r = cloud.osc_plain("demo", "server", "remove", "port", "nics", own["id"])
    assert r.returncode == 0, r.stderr
    cloud.wait_for(lambda: len(interfaces(demo, sid)) == 1, "the detach")
    kept = cloud.net("admin").get(f"/ports/{own['id']}")["port"]
    assert kept["device_id"] == "" and kept["binding:host_id"] == ""
    assert demo.call("DELETE", f"{attach}/{second['port_id']}").status_code == 202
    cloud.wait_for(lambda: interfaces(demo, sid) == [], "the second detach")
    assert net.get("/ports", params={"device_id": sid})["ports"] == []
    assert demo.server(sid)["addresses"] == {}
    names = [a["action"] for a in demo.ok("GET", f"/servers/{sid}/os-instance-actions")[
        "instanceActions"]]
    assert names[:2] == ["detach_interface", "detach_interface"]
    assert names.count("attach_interface") == 2
    demo.call("DELETE", f"/servers/{sid}")
    demo.gone(sid)
    net.delete(f"/ports/{own['id']}")


# -- boot from volume with the real client ---------------------------------------------------


def test_the_client_boots_from_a_volume_and_from_a_new_one(cloud: ComputeCloud,
                                                            demo: Nova) -> None:
    """``server create --volume`` (a bootable volume the user made) and
    ``--boot-from-volume 1 --image tiny`` (a new one made from the image): the server is
    ACTIVE with the volume ``in-use`` and attached to it as its root disk."""
    made = cloud.osc("demo", "volume", "create", "--image", "tiny", "--size", "1",
                     "--bootable", "bootvol")
    cloud.wait_for(lambda: cloud.osc("demo", "volume", "show", made["id"])["status"] ==
                   "available", "the bootable volume", within=180)
    on_vol = cloud.osc("demo", "server", "create", "--volume", "bootvol", "--flavor",
                       "m1.nano", "--network", "private", "--wait", "on-vol", timeout=300)
    assert on_vol["status"] == "ACTIVE"
    shown = cloud.osc("demo", "volume", "show", made["id"])
    assert shown["status"] == "in-use"
    assert [(a["server_id"], a["device"]) for a in shown["attachments"]] == [
        (on_vol["id"], "/dev/vda")]
    fresh = cloud.osc("demo", "server", "create", "--boot-from-volume", "1", "--image", "tiny",
                      "--flavor", "m1.nano", "--network", "private", "--wait", "new-vol",
                      timeout=300)
    assert fresh["status"] == "ACTIVE"
    (root,) = demo.server(fresh["id"])["os-extended-volumes:volumes_attached"]
    root_vol = cloud.osc("demo", "volume", "show", root["id"])
    assert (root_vol["status"], root_vol["size"], str(root_vol["bootable"]).lower()) == (
        "in-use", 1, "true")
    assert [a["server_id"] for a in root_vol["attachments"]] == [fresh["id"]]
    for name in ("on-vol", "new-vol"):
        r = cloud.osc_plain("demo", "server", "delete", "--wait", name, timeout=300)
        assert r.returncode == 0, r.stderr
    # the user's own volume is kept (delete_on_termination is false for --volume)
    cloud.wait_for(lambda: cloud.osc("demo", "volume", "show", made["id"])["status"] ==
                   "available", "bootvol detached", within=120)
    cloud.osc_plain("demo", "volume", "delete", made["id"])
    cloud.osc_plain("demo", "volume", "delete", root["id"])  # kept too unless asked
