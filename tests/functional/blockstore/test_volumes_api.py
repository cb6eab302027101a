"""The Block Storage API v3 of a real Strata (``strata up -d``), driven with raw HTTP, the
real ``openstack volume ...`` client and openstacksdk, and the data path checked with
libiscsi's tools and QEMU's ``iscsi://`` driver against the block store's own tgtd."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import openstack
import pytest
import requests

from tests.functional.blockstore.volume_server import (
    INITIATOR,
    OTHER_INITIATOR,
    VolumeApi,
    VolumeCloud,
    as_admin_in,
    cli,
    image_opts,
    io_ok,
    iscsi_ls,
    osc,
    qemu_io,
    read_capacity,
    volume_cloud,
)
from tests.functional.imagestore.image_server import make_image

GIB = 1 << 30


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VolumeCloud]:
    with volume_cloud(tmp_path_factory) as c:
        c.add_third_user()
        yield c


def osc_plain(cloud: VolumeCloud, who: str, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(cloud, who, "openstack", *args)


# -- discovery and microversions ------------------------------------------------------


def test_version_discovery_and_microversion_negotiation(cloud: VolumeCloud,
                                                        demo: VolumeApi) -> None:
    root = requests.get(cloud.volume_url + "/", timeout=10)
    assert root.status_code == 300
    (v3,) = root.json()["versions"]
    assert v3["id"] == "v3.0" and v3["min_version"] == "3.0" and v3["version"] == "3.70"
    r = demo.request("GET", "/volumes", version="3.42")
    assert r.status_code == 200 and r.headers["OpenStack-API-Version"] == "volume 3.42"
    r = demo.request("GET", "/volumes", version="latest")
    assert r.headers["OpenStack-API-Version"] == "volume 3.70"
    r = demo.request("GET", "/volumes", version="3.99")
    assert r.status_code == 406, r.text
    assert "3.99" in r.json()["computeFault"]["message"]
    r = demo.request("GET", "/volumes", token="not-a-token")
    assert r.status_code == 401
    # another project's URL is refused to a member
    other = cloud.volumes("third")
    r = demo.request("GET", "/volumes", token=other.token)
    assert r.status_code == 403, r.text


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, -1, "abc", 1.5, None, True])
def test_bad_sizes_are_400(demo: VolumeApi, size: Any) -> None:
    r = demo.request("POST", "/volumes", json={"volume": {"size": size, "name": "bad"}})
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["code"] == 400
    assert "size" in r.json()["badRequest"]["message"]


def test_unknown_volume_type_is_404(demo: VolumeApi) -> None:
    r = demo.request("POST", "/volumes", json={"volume": {"size": 1, "volume_type": "gold"}})
    assert r.status_code == 404, r.text
    assert "gold" in r.json()["itemNotFound"]["message"]


def test_unknown_volume_is_404_and_malformed_body_400(demo: VolumeApi) -> None:
    r = demo.request("GET", "/volumes/0000-nope")
    assert r.status_code == 404 and "itemNotFound" in r.json()
    r = demo.request("POST", "/volumes", data=b"{not json")
    assert r.status_code == 400 and "badRequest" in r.json()


def test_over_quota_is_413_naming_the_quota(cloud: VolumeCloud, admin: VolumeApi) -> None:
    third = cloud.volumes("third")
    r = admin.request("PUT", f"/os-quota-sets/{third.project_id}",
                      json={"quota_set": {"gigabytes": 3, "volumes": 2}})
    assert r.status_code == 200, r.text
    assert r.json()["quota_set"]["gigabytes"] == 3
    # a member cannot change quotas
    r = third.request("PUT", f"/os-quota-sets/{third.project_id}",
                      json={"quota_set": {"gigabytes": 100}})
    assert r.status_code == 403
    r = third.request("POST", "/volumes", json={"volume": {"size": 4}})
    assert r.status_code == 413, r.text
    assert "gigabytes" in r.json()["overLimit"]["message"]
    a = third.create(size=1)
    b = third.create(size=1)
    r = third.request("POST", "/volumes", json={"volume": {"size": 1}})
    assert r.status_code == 413 and "'volumes'" in r.json()["overLimit"]["message"]
    limits = third.request("GET", "/limits").json()["limits"]["absolute"]
    assert limits["maxTotalVolumes"] == 2 and limits["totalVolumesUsed"] == 2
    assert limits["totalGigabytesUsed"] == 2
    usage = third.request("GET", f"/os-quota-sets/{third.project_id}?usage=true").json()
    assert usage["quota_set"]["volumes"]["in_use"] == 2
    for v in (a, b):
        assert third.request("DELETE", f"/volumes/{v['id']}").status_code == 202
        third.wait_gone(v["id"])
    r = admin.request("DELETE", f"/os-quota-sets/{third.project_id}")
    assert r.status_code == 200


# -- the openstack client --------------------------------------------------------------


def test_openstack_cli_volume_lifecycle(cloud: VolumeCloud, demo: VolumeApi) -> None:
    created = osc(cloud, "demo", "volume", "create", "--size", "1", "--property", "tier=a",
                  "cli-vol")
    vid = created["id"]
    assert demo.wait(vid)["status"] == "available"
    listed = osc(cloud, "demo", "volume", "list")
    assert any(v["ID"] == vid and v["Status"] == "available" for v in listed)
    shown = osc(cloud, "demo", "volume", "show", "cli-vol")
    assert shown["size"] == 1 and shown["properties"] == {"tier": "a"}

    p = osc_plain(cloud, "demo", "volume", "set", "--size", "2", "--bootable", "cli-vol")
    assert p.returncode == 0, p.stdout + p.stderr
    vol = demo.wait(vid)
    assert vol["size"] == 2 and vol["bootable"] == "true"

    snap = osc(cloud, "demo", "volume", "snapshot", "create", "--volume", "cli-vol", "cli-snap")
    demo.wait(snap["id"], "snapshots")
    snaps = osc(cloud, "demo", "volume", "snapshot", "list")
    assert [s["Name"] for s in snaps if s["ID"] == snap["id"]] == ["cli-snap"]

    # delete with a snapshot: refused
    r = demo.request("DELETE", f"/volumes/{vid}")
    assert r.status_code == 400 and "snapshots" in r.json()["badRequest"]["message"]

    from_snap = osc(cloud, "demo", "volume", "create", "--snapshot", "cli-snap", "from-snap")
    assert demo.wait(from_snap["id"])["status"] == "available"
    assert demo.show(from_snap["id"])["size"] == 2
    from_src = osc(cloud, "demo", "volume", "create", "--source", "cli-vol", "from-src")
    assert demo.wait(from_src["id"])["status"] == "available"
    assert demo.show(from_src["id"])["source_volid"] == vid

    # filters, paging
    r = demo.request("GET", "/volumes/detail", params={"name": "from-src"})
    assert [v["id"] for v in r.json()["volumes"]] == [from_src["id"]]
    r = demo.request("GET", "/volumes/detail", params={"metadata": json.dumps({"tier": "a"})})
    assert [v["id"] for v in r.json()["volumes"]] == [vid]
    r = demo.request("GET", "/volumes", params={"limit": 1, "sort": "name:asc"})
    body = r.json()
    assert len(body["volumes"]) == 1 and body["volumes_links"][0]["rel"] == "next"

    p = osc_plain(cloud, "demo", "volume", "snapshot", "delete", "cli-snap")
    assert p.returncode == 0, p.stderr
    demo.wait_gone(snap["id"], "snapshots")
    p = osc_plain(cloud, "demo", "volume", "delete", "cli-vol", "from-snap", "from-src")
    assert p.returncode == 0, p.stderr
    for v in (vid, from_snap["id"], from_src["id"]):
        demo.wait_gone(v)


def test_extend_refuses_smaller_and_cascade_deletes_snapshots(demo: VolumeApi) -> None:
    vol = demo.create(size=2, name="grow")
    r = demo.action(vol["id"], "os-extend", {"new_size": 1})
    assert r.status_code == 400, r.text
    r = demo.action(vol["id"], "os-extend", {"new_size": 2})
    assert r.status_code == 400
    assert demo.show(vol["id"])["size"] == 2
    r = demo.request("POST", "/snapshots", json={"snapshot": {"volume_id": vol["id"]}})
    assert r.status_code == 202
    demo.wait(r.json()["snapshot"]["id"], "snapshots")
    r = demo.request("DELETE", f"/volumes/{vol['id']}?cascade=true")
    assert r.status_code == 202, r.text
    demo.wait_gone(vol["id"])
    assert demo.request("GET", "/snapshots", params={"volume_id": vol["id"]}).json()[
        "snapshots"] == []


def test_volume_transfer_with_the_cli(cloud: VolumeCloud, demo: VolumeApi) -> None:
    third = cloud.volumes("third")
    vol = demo.create(size=1, name="gift")
    req = osc(cloud, "demo", "volume", "transfer", "request", "create", "--name", "t1", "gift")
    assert req["auth_key"] and demo.show(vol["id"])["status"] == "awaiting-transfer"
    # a wrong key: 400, nothing changes
    r = third.request("POST", f"/volume-transfers/{req['id']}/accept",
                      json={"accept": {"auth_key": "0" * 16}})
    assert r.status_code == 400, r.text
    assert "auth key" in r.json()["badRequest"]["message"]
    moved = demo.show(vol["id"])
    assert moved["status"] == "awaiting-transfer"
    assert moved["os-vol-tenant-attr:tenant_id"] == demo.project_id
    # the key is never shown again
    r = demo.request("GET", f"/volume-transfers/{req['id']}")
    assert r.status_code == 200 and "auth_key" not in r.json()["transfer"]
    accepted = osc(cloud, "third", "volume", "transfer", "request", "accept",
                   "--auth-key", req["auth_key"], req["id"])
    assert accepted["volume_id"] == vol["id"]
    assert demo.request("GET", f"/volumes/{vol['id']}").status_code == 404
    now = third.show(vol["id"])
    assert now["status"] == "available" and now["os-vol-tenant-attr:tenant_id"] == \
        third.project_id
    # a cancelled transfer gives the volume back (legacy path)
    r = third.request("POST", "/os-volume-transfer", version="3.0",
                      json={"transfer": {"volume_id": vol["id"], "name": "t2"}})
    assert r.status_code == 202, r.text
    tid = r.json()["transfer"]["id"]
    assert third.request("DELETE", f"/os-volume-transfer/{tid}").status_code == 202
    assert third.show(vol["id"])["status"] == "available"
    assert third.request("DELETE", f"/volumes/{vol['id']}").status_code == 202
    third.wait_gone(vol["id"])


def test_openstacksdk_block_storage(cloud: VolumeCloud) -> None:
    env = cloud.openrc("demo")
    conn: Any = openstack.connect(
        auth_url=env["OS_AUTH_URL"], username=env["OS_USERNAME"],
        password=env["OS_PASSWORD"], project_name=env["OS_PROJECT_NAME"],
        user_domain_name=env.get("OS_USER_DOMAIN_NAME", "Default"),
        project_domain_name=env.get("OS_PROJECT_DOMAIN_NAME", "Default"),
        region_name=env.get("OS_REGION_NAME", "RegionOne"))
    try:
        vol = conn.block_storage.create_volume(size=1, name="sdk-vol")
        vol = conn.block_storage.wait_for_status(vol, "available", wait=60, interval=0.5)
        assert vol.size == 1
        conn.block_storage.extend_volume(vol, 3)
        deadline = time.monotonic() + 60
        while (vol := conn.block_storage.get_volume(vol.id)).size != 3:
            assert time.monotonic() < deadline and vol.status in ("extending", "available")
            time.sleep(0.3)
        assert vol.status == "available"
        assert "sdk-vol" in [v.name for v in conn.block_storage.volumes()]
        types = [t.name for t in conn.block_storage.types()]
        assert "__DEFAULT__" in types
        assert [z.name for z in conn.block_storage.availability_zones()] == ["nova"]
        conn.block_storage.delete_volume(vol)
        conn.block_storage.wait_for_delete(vol, wait=60, interval=0.5)
    finally:
        conn.close()


def test_volume_types_admin_only(admin: VolumeApi, demo: VolumeApi) -> None:
    r = demo.request("POST", "/types", json={"volume_type": {"name": "fast"}})
    assert r.status_code == 403 and "forbidden" in r.json()
    r = admin.request("POST", "/types", json={"volume_type": {
        "name": "fast", "extra_specs": {"volume_backend_name": "file"}}})
    assert r.status_code == 200, r.text
    vt = r.json()["volume_type"]
    assert vt["extra_specs"] == {"volume_backend_name": "file"}
    vol = demo.create(size=1, volume_type="fast")
    assert vol["volume_type"] == "fast"
    r = admin.request("DELETE", f"/types/{vt['id']}")
    assert r.status_code == 400  # in use
    assert demo.request("DELETE", f"/volumes/{vol['id']}").status_code == 202
    demo.wait_gone(vol["id"])
    assert admin.request("DELETE", f"/types/{vt['id']}").status_code == 202


def test_volume_from_image(cloud: VolumeCloud, demo: VolumeApi,
                           tmp_path_factory: pytest.TempPathFactory) -> None:
    img = cloud.api("demo")
    image = img.create(name="cirros-ish", disk_format="qcow2", min_disk=1)
    path = make_image(tmp_path_factory.mktemp("img") / "disk.qcow2", "qcow2",
                      content=b"STRATA-BOOT-SECTOR")
    r = img.upload(image["id"], path.read_bytes())
    assert r.status_code == 204, r.text
    vol = demo.create(size=1, imageRef=image["id"], name="booty")
    assert vol["status"] == "available", vol
    assert vol["bootable"] == "true"
    meta = vol["volume_image_metadata"]
    assert meta["image_id"] == image["id"] and meta["disk_format"] == "qcow2"
    # an image that does not exist: 400
    r = demo.request("POST", "/volumes", json={"volume": {
        "size": 1, "imageRef": "00000000-0000-0000-0000-000000000000"}})
    assert r.status_code == 400, r.text
    # the image's bytes are the volume's, read back over iSCSI
    info = attach(demo, vol["id"])
    q = qemu_io(info["data"], "read -v 0 18")
    assert q.returncode == 0 and "53 54 52 41 54 41 2d 42" in q.stdout, q.stdout + q.stderr
    detach(demo, info)
    assert demo.request("DELETE", f"/volumes/{vol['id']}").status_code == 202
    demo.wait_gone(vol["id"])
    # the real client, naming the image (it finds the id through the image service)
    created = osc(cloud, "demo", "volume", "create", "--image", "cirros-ish", "--size", "1",
                  "booty-cli")
    vol = demo.wait(created["id"])
    assert vol["status"] == "available" and vol["bootable"] == "true", vol
    assert vol["volume_image_metadata"]["image_id"] == image["id"]
    shown = osc(cloud, "demo", "volume", "show", "booty-cli")
    assert shown["bootable"] is True  # the client shows Cinder's "true" as a boolean
    assert shown["volume_image_metadata"]["image_name"] == "cirros-ish"
    info = attach(demo, vol["id"])
    q = qemu_io(info["data"], "read -v 0 18")
    assert q.returncode == 0 and "53 54 52 41 54 41 2d 42" in q.stdout, q.stdout + q.stderr
    detach(demo, info)
    p = osc_plain(cloud, "demo", "volume", "delete", "booty-cli")
    assert p.returncode == 0, p.stdout + p.stderr
    demo.wait_gone(vol["id"])


# -- attachments and the data path ------------------------------------------------


def attach(api: VolumeApi, vid: str, initiator: str = INITIATOR) -> dict[str, Any]:
    r = api.request("POST", "/attachments", version="3.54", json={"attachment": {
        "volume_uuid": vid, "instance_uuid": "11111111-2222-3333-4444-555555555555",
        "connector": {"initiator": initiator, "ip": "127.0.0.1", "host": "compute-1"}}})
    assert r.status_code == 200, r.text
    att: dict[str, Any] = r.json()["attachment"]
    assert api.show(vid)["status"] == "attaching"
    r = api.request("POST", f"/attachments/{att['id']}/action", version="3.54",
                    json={"os-complete": None})
    assert r.status_code == 204, r.text
    assert api.show(vid)["status"] == "in-use"
    info: dict[str, Any] = att["connection_info"]
    info["attachment_id"] = att["id"]
    return info


def detach(api: VolumeApi, info: dict[str, Any]) -> None:
    r = api.request("DELETE", f"/attachments/{info['attachment_id']}", version="3.54")
    assert r.status_code == 200, r.text


def test_iscsi_data_path_snapshot_clone_extend_and_tgtd_restart(
        cloud: VolumeCloud, demo: VolumeApi) -> None:
    vol = demo.create(size=1, name="data")
    vid = vol["id"]
    info = attach(demo, vid)
    data = info["data"]
    assert info["driver_volume_type"] == "iscsi"
    assert data["target_iqn"] == f"iqn.2010-10.org.openstack:volume-{vid}"
    assert data["target_portal"] == cloud.portal and data["auth_method"] == "CHAP"
    assert data["volume_id"] == vid and data["target_lun"] == 1
    shown = demo.request("GET", f"/attachments/{info['attachment_id']}", version="3.54")
    assert shown.json()["attachment"]["status"] == "attached"
    assert demo.show(vid)["attachments"][0]["attachment_id"] == info["attachment_id"]

    listing = iscsi_ls(data)
    assert "Lun:1" in listing and "DIRECT_ACCESS" in listing, listing
    assert read_capacity(data) == GIB
    q = qemu_io(data, "write -P 0x5a 0 4M", "write -P 0xa5 512M 1M")
    assert io_ok(q), q.stdout + q.stderr
    q = qemu_io(data, "read -P 0x5a 0 4M")
    assert io_ok(q), q.stdout + q.stderr
    # a wrong CHAP secret, or another initiator, is refused
    assert qemu_io(data, "read 0 512", password="wrong-secret-123").returncode != 0
    assert qemu_io(data, "read 0 512", initiator=OTHER_INITIATOR).returncode != 0

    # in use: delete refused, snapshot needs force before 3.66 (then a false force is
    # refused and a true one ignored)
    r = demo.request("DELETE", f"/volumes/{vid}")
    assert r.status_code == 400, r.text
    r = demo.request("POST", "/snapshots", version="3.65",
                     json={"snapshot": {"volume_id": vid}})
    assert r.status_code == 400
    r = demo.request("POST", "/snapshots", version="3.66",
                     json={"snapshot": {"volume_id": vid, "force": False}})
    assert r.status_code == 400 and "force" in r.json()["badRequest"]["message"]
    r = demo.request("POST", "/snapshots", json={"snapshot": {"volume_id": vid,
                                                              "force": True}})
    assert r.status_code == 202, r.text
    sid = demo.wait(r.json()["snapshot"]["id"], "snapshots")["id"]
    # written after the snapshot: not in the clone
    assert io_ok(qemu_io(data, "write -P 0x77 0 4M"))
    clone = demo.create(snapshot_id=sid, name="clone")
    assert clone["status"] == "available"
    cinfo = attach(demo, clone["id"])
    cdata = cinfo["data"]
    assert cdata["auth_password"] != data["auth_password"]
    q = qemu_io(cdata, "read -P 0x5a 0 4M", "read -P 0xa5 512M 1M")
    assert io_ok(q), q.stdout + q.stderr

    # extend while in use: needs 3.42, then seen by the initiator
    r = demo.action(vid, "os-extend", {"new_size": 2}, version="3.41")
    assert r.status_code == 400
    r = demo.action(vid, "os-extend", {"new_size": 2}, version="3.42")
    assert r.status_code == 202, r.text
    assert demo.wait(vid)["status"] == "in-use" and demo.show(vid)["size"] == 2
    assert read_capacity(data) == 2 * GIB
    assert io_ok(qemu_io(data, "read -P 0x77 0 4M"))

    # tgtd dies: the block store starts it again and restores both exports
    pid = cloud.tgtd_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    # (iscsi-ls stops at the first target it cannot log in to, e.g. the clone's: log
    # in to this target alone)
    while not io_ok(qemu_io(data, "read -P 0x77 0 4M")):
        assert time.monotonic() < deadline, "export not restored after tgtd restart"
        time.sleep(0.5)
    assert cloud.tgtd_pid() not in (None, pid)
    assert io_ok(qemu_io(data, "read -P 0x77 0 4M"))
    assert io_ok(qemu_io(cdata, "read -P 0x5a 0 4M"))
    assert read_capacity(data) == 2 * GIB

    # detach: the export goes away, the volume is available again
    detach(demo, cinfo)
    detach(demo, info)
    assert demo.show(vid)["status"] == "available"
    assert qemu_io(data, "read 0 512").returncode != 0
    for v in (clone["id"],):
        assert demo.request("DELETE", f"/volumes/{v}").status_code == 202
    assert demo.request("DELETE", f"/volumes/{vid}?cascade=true").status_code == 202
    demo.wait_gone(vid)
    demo.wait_gone(clone["id"])


def test_extend_in_use_during_writes_fails_none_and_shows_after_logout(
        cloud: VolumeCloud, demo: VolumeApi) -> None:
    """tgt re-reads a LUN's size only by re-adding the LUN, and a logged-in
    initiator's commands between the delete and the add fail. So an extend while a
    session is logged in grows the volume and records the size at once, leaves the
    LUN alone (the writer sees no error; a new session still reads the old size),
    and the target shows the new size once the session has logged out (the
    watchdog, every second here)."""
    vid = demo.create(size=1, name="busy")["id"]
    info = attach(demo, vid)
    data = info["data"]
    writer = subprocess.Popen(  # about 8 GB of 1 MiB writes at depth 8, round the volume
        ["qemu-img", "bench", "-w", "-c", "8000", "-s", "1M", "-d", "8", "--pattern=85",
         "--image-opts", image_opts(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while cloud.sessions(data["target_iqn"]) == 0:
            assert writer.poll() is None and time.monotonic() < deadline, "no session"
            time.sleep(0.05)
        r = demo.action(vid, "os-extend", {"new_size": 2}, version="3.42")
        assert r.status_code == 202, r.text
        vol = demo.wait(vid, until=("in-use", "error", "error_extending"))
        assert (vol["status"], vol["size"]) == ("in-use", 2), vol
        assert writer.poll() is None, "the writer ended before the extend was done"
        assert read_capacity(data) == GIB  # not re-read under the writer's session
    finally:
        out, err = writer.communicate(timeout=600)
    assert writer.returncode == 0, out[-500:] + err[-500:]
    deadline = time.monotonic() + 15
    # (a login that meets the watchdog's re-add may fail: poll)
    while read_capacity(data, may_fail=True) != 2 * GIB:
        assert time.monotonic() < deadline, "the target never showed the new size"
        time.sleep(0.5)
    q = qemu_io(data, "read -P 0x55 0 1M", "write -P 0x66 1536M 1M", "read -P 0x66 1536M 1M")
    assert io_ok(q), q.stdout + q.stderr
    detach(demo, info)
    assert demo.request("DELETE", f"/volumes/{vid}").status_code == 202
    demo.wait_gone(vid)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stop", "crash"])
def test_attached_volume_is_served_again_after_the_block_store_restarts(
        cloud: VolumeCloud, demo: VolumeApi, how: signal.Signals) -> None:
    """The block store stops (its tgtd and the volume views stop with it) or crashes
    (they outlive it); the supervisor starts it again, and the attachment's target
    is served again from the database: same IQN, same CHAP secret, same bytes."""
    vid = demo.create(size=1, name=f"survivor-{how.name}")["id"]
    info = attach(demo, vid)
    data = info["data"]
    q = qemu_io(data, "write -P 0x3d 0 2M", "write -P 0xd3 900M 1M")
    assert io_ok(q), q.stdout + q.stderr
    pid = cloud.blockstore_pid()
    assert pid is not None
    os.kill(pid, how)
    deadline = time.monotonic() + 60
    while cloud.blockstore_pid() in (None, pid) or not _answers(cloud.volume_url):
        assert time.monotonic() < deadline, "the block store did not come back"
        time.sleep(0.3)
    while not io_ok(q := qemu_io(data, "read -P 0x3d 0 2M", "read -P 0xd3 900M 1M")):
        assert time.monotonic() < deadline, "not served again: " + q.stdout + q.stderr
        time.sleep(0.3)
    assert io_ok(qemu_io(data, "write -P 0x3e 2M 1M", "read -P 0x3e 2M 1M"))
    vol = demo.show(vid)
    assert vol["status"] == "in-use" and vol["attachments"][0]["attachment_id"] == \
        info["attachment_id"]
    detach(demo, info)
    assert demo.request("DELETE", f"/volumes/{vid}").status_code == 202
    demo.wait_gone(vid)


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/", timeout=2).status_code == 300
    except requests.RequestException:
        return False


def test_attachment_reserved_then_connected_as_nova_does(demo: VolumeApi) -> None:
    """Nova reserves with an attachment that has no connector, then sends the
    connector with an update (PUT), then completes it."""
    vid = demo.create(size=1, name="nova-flow")["id"]
    r = demo.request("POST", "/attachments", version="3.54", json={"attachment": {
        "volume_uuid": vid, "instance_uuid": "22222222-3333-4444-5555-666666666666"}})
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]
    assert att["status"] == "reserved" and not att["connection_info"]
    assert demo.show(vid)["status"] == "reserved"
    # a connector that is not an object: 400, the reservation stays
    r = demo.request("PUT", f"/attachments/{att['id']}", version="3.54",
                     json={"attachment": {"connector": "iqn.1994-05.org.strata:x"}})
    assert r.status_code == 400 and "connector" in r.json()["badRequest"]["message"]
    assert demo.show(vid)["status"] == "reserved"
    r = demo.request("PUT", f"/attachments/{att['id']}", version="3.54", json={"attachment": {
        "connector": {"initiator": INITIATOR, "ip": "127.0.0.1", "host": "compute-1"}}})
    assert r.status_code == 200, r.text
    info = r.json()["attachment"]["connection_info"]
    assert info["driver_volume_type"] == "iscsi" and info["data"]["attachment_id"] == att["id"]
    assert io_ok(qemu_io(info["data"], "write -P 0x4e 0 1M", "read -P 0x4e 0 1M"))
    assert demo.show(vid)["status"] == "attaching"
    r = demo.request("POST", f"/attachments/{att['id']}/action", version="3.54",
                     json={"os-complete": None})
    assert r.status_code == 204, r.text
    assert demo.show(vid)["status"] == "in-use"
    r = demo.request("DELETE", f"/attachments/{att['id']}", version="3.54")
    assert r.status_code == 200, r.text
    assert demo.show(vid)["status"] == "available"
    assert qemu_io(info["data"], "read 0 512").returncode != 0  # the target is gone
    assert demo.request("DELETE", f"/volumes/{vid}").status_code == 202
    demo.wait_gone(vid)


def test_legacy_attach_actions(demo: VolumeApi) -> None:
    vol = demo.create(size=1, name="legacy")
    vid = vol["id"]
    assert demo.action(vid, "os-reserve", {}).status_code == 202
    assert demo.show(vid)["status"] == "attaching"
    assert demo.action(vid, "os-unreserve", {}).status_code == 202
    assert demo.show(vid)["status"] == "available"
    assert demo.action(vid, "os-reserve", {}).status_code == 202
    r = demo.action(vid, "os-initialize_connection", {"connector": {"initiator": INITIATOR}})
    assert r.status_code == 200, r.text
    data = r.json()["connection_info"]["data"]
    assert io_ok(qemu_io(data, "write -P 0x11 0 64k"))
    r = demo.action(vid, "os-attach", {"instance_uuid": "aaaaaaaa-0000-0000-0000-000000000000",
                                       "mountpoint": "/dev/vdb"})
    assert r.status_code == 202
    vol = demo.show(vid)
    assert vol["status"] == "in-use" and vol["attachments"][0]["device"] == "/dev/vdb"
    assert demo.action(vid, "os-begin_detaching", {}).status_code == 202
    assert demo.show(vid)["status"] == "detaching"
    assert demo.action(vid, "os-roll_detaching", {}).status_code == 202
    assert demo.show(vid)["status"] == "in-use"
    assert demo.action(vid, "os-begin_detaching", {}).status_code == 202
    r = demo.action(vid, "os-terminate_connection", {"connector": {"initiator": INITIATOR}})
    assert r.status_code == 202
    assert qemu_io(data, "read 0 512").returncode != 0
    assert demo.action(vid, "os-detach", {}).status_code == 202
    assert demo.show(vid)["status"] == "available"
    # admin-only actions
    assert demo.action(vid, "os-reset_status", {"status": "error"}).status_code == 403
    assert demo.action(vid, "os-force_delete", {}).status_code == 403
    assert demo.request("DELETE", f"/volumes/{vid}").status_code == 202
    demo.wait_gone(vid)


def test_disconnects_racing_the_export_watchdog_leave_nothing_behind(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The watchdog re-exports volumes whose row says exported but whose target tgt
    lacks. Here it runs all the time (every 0.05 s), so it races every disconnect:
    a terminated connection must stay gone, and the next connection must reach the
    volume's bytes (not a target left on a view already stopped)."""
    with volume_cloud(tmp_path_factory, STRATA_BLOCKSTORE_TARGET_CHECK_INTERVAL="0.05") as c:
        api = c.volumes("demo")
        vid = api.create(size=1, name="unexport-race")["id"]
        connector = {"connector": {"initiator": INITIATOR}}
        for i in range(12):
            r = api.action(vid, "os-initialize_connection", connector)
            assert r.status_code == 200, r.text
            data = r.json()["connection_info"]["data"]
            q = qemu_io(data, f"read -P {i:#x} 0 64k" if i else "read -P 0 0 64k",
                        f"write -P {i + 1:#x} 0 64k")
            assert io_ok(q), f"connection {i}: " + q.stdout + q.stderr
            assert api.action(vid, "os-terminate_connection", connector).status_code == 202
            time.sleep(0.2)  # a few watchdog ticks
            assert iscsi_ls(data) == "", f"connection {i}: the terminated target came back"
        assert api.request("DELETE", f"/volumes/{vid}").status_code == 202
        api.wait_gone(vid)


def test_admin_reset_status_and_force_delete(admin: VolumeApi, demo: VolumeApi) -> None:
    vol = demo.create(size=1, name="stuck")
    as_admin = as_admin_in(admin, demo)
    assert as_admin.action(vol["id"], "os-reset_status", {"status": "error"}).status_code \
        == 202
    assert demo.show(vol["id"])["status"] == "error"
    assert as_admin.action(vol["id"], "os-reset_status", {"status": "bogus"}).status_code \
        == 400
    assert as_admin.action(vol["id"], "os-force_delete", {}).status_code == 202
    demo.wait_gone(vol["id"])
    r = as_admin.request("GET", "/os-services")
    assert r.status_code == 200
    assert {s["binary"] for s in r.json()["services"]} >= {"cinder-volume"}


def test_snapshot_listing_pages_as_cinder_does(demo: VolumeApi) -> None:
    vid = demo.create(size=1, name="paged")["id"]
    demo.wait(vid)
    made = []
    for i in range(3):
        r = demo.request("POST", "/snapshots", json={"snapshot": {"volume_id": vid,
                                                                  "name": f"p{i}"}})
        assert r.status_code == 202, r.text
        made.append(demo.wait(r.json()["snapshot"]["id"], "snapshots")["id"])
    r = demo.request("GET", f"/snapshots/detail?volume_id={vid}&limit=2&with_count=true")
    assert r.status_code == 200, r.text
    first = r.json()
    assert len(first["snapshots"]) == 2 and first["count"] == 2
    nxt = first["snapshots_links"][0]
    assert nxt["rel"] == "next" and f"marker={first['snapshots'][1]['id']}" in nxt["href"]
    r = demo.request("GET", f"/snapshots?volume_id={vid}&limit=2"
                            f"&marker={first['snapshots'][1]['id']}")
    rest = r.json()
    assert len(rest["snapshots"]) == 1 and "snapshots_links" not in rest
    seen = [s["id"] for s in first["snapshots"] + rest["snapshots"]]
    assert sorted(seen) == sorted(made)
    assert demo.request("GET", f"/snapshots?marker={vid}").status_code == 404
    r = demo.request("GET", "/snapshots?limit=many")
    assert r.status_code == 400 and "limit" in r.json()["badRequest"]["message"]
    assert demo.request("GET", "/snapshots?offset=-1").status_code == 400
