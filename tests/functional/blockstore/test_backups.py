"""Volume backups (in the object store) and upload-to-image of a real Strata: raw HTTP,
``openstack volume backup ...`` and ``openstack image create --volume``, with the
volume bytes written and read back over iSCSI (QEMU's ``iscsi://`` driver)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from tests.functional.blockstore import api_spec
from tests.functional.blockstore.volume_server import (
    INITIATOR,
    VolumeApi,
    VolumeCloud,
    as_admin_in,
    io_ok,
    iscsi_sha256,
    qemu_io,
    volume_cloud,
)

GIB = 1 << 30
MIB = 1 << 20
CONTAINER = "volumebackups"
CHUNK_MIB = 8


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VolumeCloud]:
    with volume_cloud(tmp_path_factory, STRATA_OBJECTSTORE_ENABLED="true",
                      STRATA_PROXY_ENABLED="true",
                      STRATA_BLOCKSTORE_BACKUP_CHUNK_MIB=str(CHUNK_MIB)) as c:
        c.add_third_user()
        yield c


def osc(cloud: VolumeCloud, who: str, *args: str) -> Any:
    r = subprocess.run(["openstack", *args, "-f", "json"], env=cloud.client_env(who),
                       capture_output=True, text=True, timeout=180, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else None


def osc_plain(cloud: VolumeCloud, who: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openstack", *args], env=cloud.client_env(who),
                          capture_output=True, text=True, timeout=180, check=False)


def connect(api: VolumeApi, vid: str) -> dict[str, Any]:
    """The iSCSI connection data of the volume (legacy initialize_connection)."""
    r = api.action(vid, "os-initialize_connection", {"connector": {"initiator": INITIATOR}})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["connection_info"]["data"]
    return data


def disconnect(api: VolumeApi, vid: str) -> None:
    r = api.action(vid, "os-terminate_connection", {"connector": {"initiator": INITIATOR}})
    assert r.status_code == 202, r.text


def write(api: VolumeApi, vid: str, *commands: str) -> None:
    data = connect(api, vid)
    q = qemu_io(data, *commands)
    assert io_ok(q), q.stdout + q.stderr
    disconnect(api, vid)


def reads(api: VolumeApi, vid: str, *commands: str) -> bool:
    data = connect(api, vid)
    try:
        q = qemu_io(data, *commands)
        if not io_ok(q):
            print("qemu-io:", q.stdout, q.stderr)
        return io_ok(q)
    finally:
        disconnect(api, vid)


def backup(api: VolumeApi, vid: str, **body: Any) -> dict[str, Any]:
    r = api.request("POST", "/backups", json={"backup": {"volume_id": vid, **body}})
    assert r.status_code == 202, r.text
    bid = r.json()["backup"]["id"]
    assert api.show(vid)["status"] in ("backing-up", "available", "in-use")
    bk = api.wait(bid, "backups", until=("available", "error"), timeout=120)
    assert bk["status"] == "available", bk
    return bk


def restore(api: VolumeApi, bid: str, **body: Any) -> dict[str, Any]:
    r = api.request("POST", f"/backups/{bid}/restore", json={"restore": body})
    assert r.status_code == 202, r.text
    out: dict[str, Any] = r.json()["restore"]
    assert out["backup_id"] == bid
    vol = api.wait(out["volume_id"], until=("available", "error", "error_restoring"),
                   timeout=120)
    assert vol["status"] == "available", vol
    assert api.wait(bid, "backups", until=("available", "error"))["status"] == "available"
    return out


def chunk_objects(cloud: VolumeCloud, bid: str) -> list[str]:
    return [n for n in cloud.service_objects(CONTAINER)
            if n.startswith(bid + "/") and not n.endswith("metadata.json")]


PATTERN = ("write -P 0x5a 0 20M", "write -P 0xa5 512M 1M")
PATTERN_READ = ("read -P 0x5a 0 20M", "read -P 0xa5 512M 1M", "read -P 0 20M 4M")


def test_backup_incremental_restore_and_dependencies(cloud: VolumeCloud,
                                                     demo: VolumeApi) -> None:
    vol = demo.create(size=1, name="precious")
    vid = vol["id"]
    write(demo, vid, *PATTERN)

    full = backup(demo, vid, name="full", description="first")
    assert demo.show(vid)["status"] == "available"
    assert full["size"] == 1 and full["is_incremental"] is False
    assert full["container"] == CONTAINER
    # 20 MiB at 0 spans chunks 0-2 of 8 MiB, 1 MiB at 512 MiB one more; zeros are not stored
    objs = chunk_objects(cloud, full["id"])
    assert sorted(objs) == [f"{full['id']}/{i:05d}" for i in (0, 1, 2, 64)], objs
    assert full["object_count"] == 4
    assert f"{full['id']}/metadata.json" in cloud.service_objects(CONTAINER)

    # restore to a new volume: same bytes
    out = restore(demo, full["id"], name="restored")
    assert out["volume_name"] == "restored"
    new = demo.show(out["volume_id"])
    assert new["size"] == 1 and new["name"] == "restored"
    assert reads(demo, new["id"], *PATTERN_READ)
    assert not reads(demo, new["id"], "read -P 0x5a 20M 1M")  # and nothing more

    # change one region: the incremental stores only its chunk
    write(demo, vid, "write -P 0x33 513M 2M")
    inc = backup(demo, vid, name="inc", incremental=True)
    assert inc["is_incremental"] is True
    assert chunk_objects(cloud, inc["id"]) == [f"{inc['id']}/00064"]
    shown = demo.request("GET", f"/backups/{full['id']}").json()["backup"]
    assert shown["has_dependent_backups"] is True

    # restore the incremental into the volume restored before (existing, same size)
    out = restore(demo, inc["id"], volume_id=new["id"])
    assert out["volume_id"] == new["id"]
    assert reads(demo, new["id"], "read -P 0x5a 0 20M", "read -P 0xa5 512M 1M",
                 "read -P 0x33 513M 2M")

    # the parent of an incremental cannot go
    r = demo.request("DELETE", f"/backups/{full['id']}")
    assert r.status_code == 400, r.text
    assert "Incremental backups exist" in r.json()["badRequest"]["message"]

    # too small a volume to restore into: 400; an unknown backup: 404
    # a 2 GiB backup cannot go into a 1 GiB volume
    big = demo.create(size=2, name="big")
    write(demo, big["id"], "write -P 0x44 1536M 1M")
    big_bk = backup(demo, big["id"])
    r = demo.request("POST", f"/backups/{big_bk['id']}/restore",
                     json={"restore": {"volume_id": vid}})
    assert r.status_code == 400, r.text
    assert "backup size" in r.json()["badRequest"]["message"]
    assert demo.show(vid)["status"] == "available"
    r = demo.request("POST", "/backups/00000000-0000-0000-0000-000000000000/restore",
                     json={"restore": {}})
    assert r.status_code == 404

    # incremental without any backup of the volume: 400
    r = demo.request("POST", "/backups", json={"backup": {"volume_id": new["id"],
                                                          "incremental": True}})
    assert r.status_code == 400 and "incremental" in r.text

    # the objects of a deleted backup go; then its parent may go too
    for bid in (inc["id"], big_bk["id"], full["id"]):
        assert demo.request("DELETE", f"/backups/{bid}").status_code == 202
        demo.wait_gone(bid, "backups")
        assert not [n for n in cloud.service_objects(CONTAINER) if n.startswith(bid)]
    for v in (vid, new["id"], big["id"]):
        assert demo.request("DELETE", f"/volumes/{v}").status_code == 202
        demo.wait_gone(v)


def test_in_use_backup_needs_force_and_bad_input(demo: VolumeApi, cloud: VolumeCloud) -> None:
    vol = demo.create(size=1, name="attached")
    vid = vol["id"]
    assert demo.action(vid, "os-reserve", {}).status_code == 202
    data = connect(demo, vid)
    assert io_ok(qemu_io(data, "write -P 0x61 0 1M"))
    assert demo.action(vid, "os-attach", {"instance_uuid": "aaaaaaaa-0000-0000-0000-"
                                                           "000000000001"}).status_code == 202
    assert demo.show(vid)["status"] == "in-use"
    r = demo.request("POST", "/backups", json={"backup": {"volume_id": vid}})
    assert r.status_code == 400 and "force" in r.json()["badRequest"]["message"]
    bk = backup(demo, vid, force=True)
    assert demo.show(vid)["status"] == "in-use"
    # still served, the export untouched by the backup
    assert io_ok(qemu_io(data, "read -P 0x61 0 1M"))
    out = restore(demo, bk["id"])
    assert out["volume_name"] == f"restore_backup_{bk['id']}"
    assert reads(demo, out["volume_id"], "read -P 0x61 0 1M")

    for body in ({}, {"volume_id": 5}, {"volume_id": vid, "incremental": "maybe"},
                 {"volume_id": vid, "container": "../x"}):
        r = demo.request("POST", "/backups", json={"backup": body})
        assert r.status_code == 400, (body, r.text)
    r = demo.request("POST", "/backups", json={"backup": {"volume_id": "nope"}})
    assert r.status_code == 404

    # another project sees neither the backup nor may restore it
    third = cloud.volumes("third")
    assert third.request("GET", f"/backups/{bk['id']}").status_code == 404
    assert bk["id"] not in [b["id"] for b in third.request("GET", "/backups").json()[
        "backups"]]
    admin = cloud.volumes("admin")
    r = admin.request("GET", "/backups/detail", params={"all_tenants": "1"})
    assert bk["id"] in [b["id"] for b in r.json()["backups"]]

    assert demo.action(vid, "os-detach", {}).status_code == 202
    disconnect(demo, vid)
    assert demo.request("DELETE", f"/backups/{bk['id']}").status_code == 202
    demo.wait_gone(bk["id"], "backups")
    for v in (vid, out["volume_id"]):
        assert demo.request("DELETE", f"/volumes/{v}").status_code == 202
        demo.wait_gone(v)


def test_backup_quotas_are_413(cloud: VolumeCloud) -> None:
    third = cloud.volumes("third")
    admin = cloud.volumes("admin")
    vol = third.create(size=2, name="q")
    r = admin.request("PUT", f"/os-quota-sets/{third.project_id}",
                      json={"quota_set": {"backup_gigabytes": 1}})
    assert r.status_code == 200, r.text
    r = third.request("POST", "/backups", json={"backup": {"volume_id": vol["id"]}})
    assert r.status_code == 413, r.text
    assert "backup_gigabytes" in r.json()["overLimit"]["message"]
    r = admin.request("PUT", f"/os-quota-sets/{third.project_id}",
                      json={"quota_set": {"backup_gigabytes": 100, "backups": 1}})
    assert r.status_code == 200
    bk = backup(third, vol["id"])
    absolute = third.request("GET", "/limits").json()["limits"]["absolute"]
    assert (absolute["totalBackupsUsed"], absolute["totalBackupGigabytesUsed"]) == (1, 2)
    assert (absolute["maxTotalBackups"], absolute["maxTotalBackupGigabytes"]) == (1, 100)
    quota = admin.request("GET", f"/os-quota-sets/{third.project_id}?usage=true").json()
    assert quota["quota_set"]["backups"]["in_use"] == 1
    assert quota["quota_set"]["backup_gigabytes"]["in_use"] == 2
    r = third.request("POST", "/backups", json={"backup": {"volume_id": vol["id"]}})
    assert r.status_code == 413 and "'backups'" in r.json()["overLimit"]["message"]
    assert third.show(vol["id"])["status"] == "available"
    assert third.request("DELETE", f"/backups/{bk['id']}").status_code == 202
    third.wait_gone(bk["id"], "backups")
    absolute = third.request("GET", "/limits").json()["limits"]["absolute"]
    assert (absolute["totalBackupsUsed"], absolute["totalBackupGigabytesUsed"]) == (0, 0)
    assert admin.request("DELETE", f"/os-quota-sets/{third.project_id}").status_code == 200
    assert third.request("DELETE", f"/volumes/{vol['id']}").status_code == 202
    third.wait_gone(vol["id"])


def checksum(api: VolumeApi, vid: str, scratch: Path) -> str:
    data = connect(api, vid)
    try:
        return iscsi_sha256(data, scratch)
    finally:
        disconnect(api, vid)


def test_openstack_cli_backup_lifecycle(cloud: VolumeCloud, demo: VolumeApi,
                                        tmp_path: Path) -> None:
    vol = demo.create(size=1, name="cli-src")
    write(demo, vol["id"], "write -P 0x3c 4M 4M", "write -P 0x77 700M 3M")
    source_sum = checksum(demo, vol["id"], tmp_path)
    created = osc(cloud, "demo", "volume", "backup", "create", "--name", "cli-bk",
                  "cli-src")
    bid = created["id"]
    assert demo.wait(bid, "backups", until=("available", "error"),
                     timeout=120)["status"] == "available"
    listed = osc(cloud, "demo", "volume", "backup", "list")
    assert [b["Name"] for b in listed if b["ID"] == bid] == ["cli-bk"]
    shown = osc(cloud, "demo", "volume", "backup", "show", "cli-bk")
    assert shown["volume_id"] == vol["id"] and shown["status"] == "available"
    assert shown["object_count"] == 2  # the two written chunks; zeros are not stored
    restored = osc(cloud, "demo", "volume", "backup", "restore", "cli-bk", "cli-restored")
    assert restored["volume_id"] and restored["volume_name"] == "cli-restored"
    assert demo.wait(restored["volume_id"], until=("available", "error_restoring"),
                     timeout=120)["status"] == "available"
    assert demo.wait(bid, "backups", until=("available", "error"))["status"] == "available"
    assert reads(demo, restored["volume_id"], "read -P 0x3c 4M 4M", "read -P 0 0 4M",
                 "read -P 0x77 700M 3M")
    # every byte: the restored volume's checksum is the source's
    assert checksum(demo, restored["volume_id"], tmp_path) == source_sum
    p = osc_plain(cloud, "demo", "volume", "backup", "delete", "cli-bk")
    assert p.returncode == 0, p.stdout + p.stderr
    demo.wait_gone(bid, "backups")
    p = osc_plain(cloud, "demo", "volume", "delete", "cli-src", "cli-restored")
    assert p.returncode == 0, p.stderr
    for v in (vol["id"], restored["volume_id"]):
        demo.wait_gone(v)


def wait_image(api: Any, image_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        img: dict[str, Any] = api.show(image_id)
        if img["status"] in ("active", "killed", "deleted"):
            return img
        assert time.monotonic() < deadline, f"image stuck in {img['status']}"
        time.sleep(0.3)


def test_upload_to_image(cloud: VolumeCloud, demo: VolumeApi, tmp_path: Path) -> None:
    images = cloud.api("demo")
    vol = demo.create(size=1, name="golden")
    vid = vol["id"]
    write(demo, vid, "write -P 0x42 0 4M", "write -P 0x24 900M 1M")

    # the openstack client, qcow2: the image holds the volume's bytes
    out = osc(cloud, "demo", "image", "create", "--volume", "golden", "--disk-format",
              "qcow2", "golden-img")
    assert out["image_name"] == "golden-img" and out["disk_format"] == "qcow2"
    img = wait_image(images, out["image_id"])
    assert img["status"] == "active" and img["disk_format"] == "qcow2", img
    assert demo.wait(vid)["status"] == "available"
    r = images.request("GET", f"/v2/images/{img['id']}/file")
    assert r.status_code == 200
    path = tmp_path / "golden.qcow2"
    path.write_bytes(r.content)
    check = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -P 0x42 0 4M",
                            "-c", "read -P 0x24 900M 1M", "-c", "read -P 0 4M 1M",
                            str(path)], capture_output=True, text=True, check=False)
    assert io_ok(check), check.stdout + check.stderr
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(path)],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["virtual-size"] == GIB

    # raw HTTP, raw format: answer as Cinder's; the image is the volume's 1 GiB
    r = demo.action(vid, "os-volume_upload_image", {
        "image_name": "golden-raw", "disk_format": "raw", "container_format": "bare",
        "force": False}, version="3.1")
    assert r.status_code == 202, r.text
    body = r.json()["os-volume_upload_image"]
    assert body["id"] == vid and body["status"] == "uploading"
    assert body["image_name"] == "golden-raw" and body["volume_type"]["name"]
    img = wait_image(images, body["image_id"])
    assert img["status"] == "active" and img["size"] == GIB, img
    r = images.request("GET", f"/v2/images/{img['id']}/file",
                       headers={"Range": f"bytes={900 * MIB}-{901 * MIB - 1}"})
    assert r.status_code == 206 and r.content == b"\x24" * MIB
    r = images.request("GET", f"/v2/images/{img['id']}/file",
                       headers={"Range": f"bytes=0-{4 * MIB - 1}"})
    assert r.content == b"\x42" * (4 * MIB)
    assert demo.show(vid)["status"] == "available"

    # bad input: unsupported format, no name; in-use without force
    for args in ({"image_name": "x", "disk_format": "vmdk"}, {"disk_format": "raw"},
                 {"image_name": "x", "container_format": "ova"}):
        r = demo.action(vid, "os-volume_upload_image", args)
        assert r.status_code == 400, (args, r.text)
    assert demo.action(vid, "os-reserve", {}).status_code == 202
    assert demo.action(vid, "os-attach", {"instance_uuid": "aaaaaaaa-0000-0000-0000-"
                                                           "000000000002"}).status_code == 202
    r = demo.action(vid, "os-volume_upload_image", {"image_name": "x"})
    assert r.status_code == 400 and "force" in r.text
    r = demo.action(vid, "os-volume_upload_image", {"image_name": "in-use-img",
                                                    "disk_format": "qcow2", "force": True})
    assert r.status_code == 202, r.text
    img = wait_image(images, r.json()["os-volume_upload_image"]["image_id"])
    assert img["status"] == "active"
    assert demo.wait(vid, until=("in-use", "available", "error"))["status"] == "in-use"
    assert demo.action(vid, "os-detach", {}).status_code == 202

    for image_id in (out["image_id"], body["image_id"], img["id"]):
        assert images.request("DELETE", f"/v2/images/{image_id}").status_code == 204
    assert demo.request("DELETE", f"/volumes/{vid}").status_code == 202
    demo.wait_gone(vid)


def test_backups_need_the_object_store(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Without the proxy, backups are refused (503) instead of failing later."""
    with volume_cloud(tmp_path_factory) as c:
        api = c.volumes("demo")
        vol = api.create(size=1)
        r = api.request("POST", "/backups", json={"backup": {"volume_id": vol["id"]}})
        assert r.status_code == 503, r.text
        assert api.show(vol["id"])["status"] == "available"
        assert requests.get(c.volume_url + "/", timeout=10).status_code == 300


def test_volume_created_from_a_backup(cloud: VolumeCloud, demo: VolumeApi) -> None:
    """POST /volumes with backup_id (3.47+): the new volume holds the backup's bytes."""
    vol = demo.create(size=1, name="bk-origin")
    write(demo, vol["id"], "write -P 0x6e 8M 2M")
    bk = backup(demo, vol["id"], name="bk-for-create")

    # the openstack client (volume API 3.47), the size taken from the backup
    out = osc(cloud, "demo", "--os-volume-api-version", "3.47", "volume", "create",
              "--backup", "bk-for-create", "from-backup")
    made = demo.wait(out["id"], until=("available", "error", "error_restoring"), timeout=120)
    assert made["status"] == "available" and made["size"] == 1, made
    assert demo.wait(bk["id"], "backups", until=("available", "error"))["status"] == "available"
    assert reads(demo, out["id"], "read -P 0x6e 8M 2M", "read -P 0 0 8M")

    # raw HTTP, larger than the backup
    r = demo.request("POST", "/volumes", version="3.47",
                     json={"volume": {"backup_id": bk["id"], "size": 2, "name": "bigger"}})
    assert r.status_code == 202, r.text
    assert r.json()["volume"]["status"] == "restoring-backup"
    bigger = demo.wait(r.json()["volume"]["id"], until=("available", "error_restoring"),
                       timeout=120)
    assert bigger["status"] == "available" and bigger["size"] == 2
    assert reads(demo, bigger["id"], "read -P 0x6e 8M 2M", "read -P 0 1G 1M")

    # bad input: each refused before anything is made
    count = len(demo.request("GET", "/volumes").json()["volumes"])
    for body, ver, status in (
            ({"backup_id": bk["id"]}, "3.46", 400),  # too old a microversion
            ({"backup_id": bk["id"], "size": 0}, "3.47", 400),
            ({"backup_id": bk["id"], "snapshot_id": vol["id"]}, "3.47", 400),
            ({"backup_id": 7}, "3.47", 400),
            ({"backup_id": "no-such-backup"}, "3.47", 404)):
        r = demo.request("POST", "/volumes", version=ver, json={"volume": {"size": 1, **body}})
        assert r.status_code == status, (body, r.text)
    r = demo.request("POST", "/volumes", version="3.47",
                     json={"volume": {"backup_id": bk["id"], "size": 1}})
    assert r.status_code == 202  # size 1 = the backup's: fine
    demo.wait(r.json()["volume"]["id"], until=("available", "error_restoring"), timeout=120)
    assert len(demo.request("GET", "/volumes").json()["volumes"]) == count + 1


def test_backup_views_follow_the_microversion(cloud: VolumeCloud, demo: VolumeApi) -> None:
    """Exactly the fields of each microversion (strict schemas from ``api_spec``), for a
    member and an admin: create, update (3.9+), show, detail, list."""
    admin = as_admin_in(cloud.volumes("admin"), demo)
    spec = api_spec.BACKUP
    vid = demo.create(size=1, name="bk-versions")["id"]
    failures = []

    def check(call: str, version: tuple[int, int], is_admin: bool, body: Any) -> None:
        schema = api_spec.schema(spec, call, version, is_admin)
        if not jsonschema.Draft7Validator(schema).is_valid(body):
            failures.append(api_spec.mismatch(spec, call, version, is_admin, body))

    made = []
    for version in ((3, 0), api_spec.LATEST):
        v = f"{version[0]}.{version[1]}"
        r = demo.request("POST", "/backups", version=v, json={"backup": {
            "volume_id": vid, "name": f"bk-{v}"}})
        assert r.status_code == 202, r.text
        check("create", version, False, r.json()["backup"])
        made.append(demo.wait(r.json()["backup"]["id"], "backups",
                              until=("available", "error"), timeout=120)["id"])
    for version in spec.versions():
        v = f"{version[0]}.{version[1]}"
        for api, is_admin in ((demo, False), (admin, True)):
            check("show", version, is_admin, api.request(
                "GET", f"/backups/{made[0]}", version=v).json()["backup"])
            for call, path in (("detail", "/backups/detail"), ("list", "/backups")):
                listed = [b for b in api.request("GET", path, version=v, params={
                    "all_tenants": "1"}).json()["backups"] if b["id"] == made[0]]
                check(call, version, is_admin, listed[0])
            if version >= (3, 9):
                r = api.request("PUT", f"/backups/{made[0]}", version=v,
                                json={"backup": {"description": "d"}})
                assert r.status_code == 200, r.text
                check("update", version, is_admin, r.json()["backup"])
    assert demo.request("PUT", f"/backups/{made[0]}", version="3.8",
                        json={"backup": {"name": "x"}}).status_code == 404
    assert not failures, "\n".join(str(f) for f in failures)
    for bid in made:
        assert demo.request("DELETE", f"/backups/{bid}").status_code == 202
        demo.wait_gone(bid, "backups", timeout=120)
