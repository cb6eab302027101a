"""Generic volume groups, user messages and manage/unmanage on a real Strata (``strata up
-d``), with the real clients (``openstack volume group ...``, ``openstack volume
message ...``, ``cinder manage``/``unmanage``/``manageable-list``) and raw HTTP with
strict schemas per microversion."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from tests.functional.blockstore import api_spec
from tests.functional.blockstore.test_backends import make_image, pattern
from tests.functional.blockstore.test_volumes_api import attach, detach
from tests.functional.blockstore.volume_server import (
    VolumeApi,
    VolumeCloud,
    cli,
    io_ok,
    osc,
    qemu_io,
    volume_cloud,
)
from tests.functional.imagestore.image_server import make_image as make_disk_image

MIB = 1 << 20
G = ("--os-volume-api-version", "3.14")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VolumeCloud]:
    with volume_cloud(tmp_path_factory) as c:
        yield c


def strict(spec: api_spec.Spec, call: str, body: Any, version: tuple[int, int],
           admin: bool = False) -> None:
    jsonschema.validate(body, api_spec.schema(spec, call, version, admin))


def volume_host(admin: VolumeApi) -> str:
    (svc,) = admin.request("GET", "/os-services", params={"binary": "cinder-volume"}).json()[
        "services"]
    return str(svc["host"])


def until(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (out := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return out


# -- groups -----------------------------------------------------------------------------


def test_groups_with_the_openstack_client(cloud: VolumeCloud, demo: VolumeApi,
                                          admin: VolumeApi) -> None:
    gt = osc(cloud, "admin", "--os-volume-api-version", "3.11", "volume", "group", "type",
             "create", "cgs")
    assert gt["Name"] == "cgs"
    set_specs = osc(cloud, "admin", "--os-volume-api-version", "3.11", "volume", "group",
                    "type", "set", "--property", "consistent_group_snapshot_enabled=<is> True",
                    "cgs")
    assert set_specs["Properties"] == {"consistent_group_snapshot_enabled": "<is> True"}
    shown = admin.request("GET", f"/group_types/{gt['ID']}", version="3.11").json()
    strict(api_spec.GROUP_TYPE, "show", shown["group_type"], (3, 11), admin=True)
    member_view = demo.request("GET", f"/group_types/{gt['ID']}", version="3.11").json()
    strict(api_spec.GROUP_TYPE, "show", member_view["group_type"], (3, 11))
    grp = osc(cloud, "demo", *G, "volume", "group", "create", "--volume-group-type", "cgs",
              "--volume-type", "__DEFAULT__", "--name", "g1")
    assert grp["Status"] == "available"
    gid = grp["ID"]
    # a volume created in the group (3.13), another added to it
    r = demo.request("POST", "/volumes", version="3.13", json={"volume": {
        "size": 1, "name": "in-group", "group_id": gid}})
    assert r.status_code == 202, r.text
    v1 = demo.wait(r.json()["volume"]["id"])
    assert v1["group_id"] == gid
    v2 = demo.create(size=1, name="added")
    r = cli(cloud, "demo", "cinder", "--os-volume-api-version", "3.13", "group-update",
            "--add-volumes", v2["id"], gid)
    assert r.returncode == 0, r.stderr
    assert demo.show(v2["id"])["group_id"] == gid
    # the group lists its volumes from 3.25, when asked
    for version in sorted({*api_spec.GROUP.versions(), (3, 24), (3, 25)} - {(3, 0)}):
        v = f"{version[0]}.{version[1]}"
        body = demo.request("GET", f"/groups/{gid}", version=v,
                            params={"list_volume": "true"}).json()["group"]
        if version >= (3, 25):
            assert sorted(body.pop("volumes")) == sorted([v1["id"], v2["id"]])
        strict(api_spec.GROUP, "show", body, version)
        (brief,) = demo.request("GET", "/groups", version=v).json()["groups"]
        strict(api_spec.GROUP, "list", brief, version)
    # a volume in a group is deleted only with its group
    r = demo.request("DELETE", f"/volumes/{v1['id']}")
    assert r.status_code == 400 and "group" in r.json()["badRequest"]["message"]

    gs = osc(cloud, "demo", *G, "volume", "group", "snapshot", "create", "--name", "gs1",
             "g1")
    gsid = gs["ID"]
    until(lambda: demo.request("GET", f"/group_snapshots/{gsid}", version="3.14").json()[
        "group_snapshot"]["status"] == "available", "group snapshot not made")
    listed = osc(cloud, "demo", *G, "volume", "group", "snapshot", "list")
    assert [s["Name"] for s in listed] == ["gs1"]
    for version in ((3, 14), (3, 57), (3, 58), api_spec.LATEST):
        v = f"{version[0]}.{version[1]}"
        body = demo.request("GET", f"/group_snapshots/{gsid}", version=v).json()
        strict(api_spec.GROUP_SNAPSHOT, "show", body["group_snapshot"], version)
        for call, path in (("list", "/group_snapshots"), ("detail", "/group_snapshots/detail")):
            (listed,) = demo.request("GET", path, version=v).json()["group_snapshots"]
            strict(api_spec.GROUP_SNAPSHOT, call, listed, version)
    snaps = demo.request("GET", "/snapshots/detail", version="3.14").json()["snapshots"]
    mine = [s for s in snaps if s["group_snapshot_id"] == gsid]
    assert sorted(s["volume_id"] for s in mine) == sorted([v1["id"], v2["id"]])
    r = demo.request("DELETE", f"/snapshots/{mine[0]['id']}")
    assert r.status_code == 400 and "group snapshot" in r.json()["badRequest"]["message"]
    # a group made from the group snapshot: a volume from each snapshot
    made = osc(cloud, "demo", *G, "volume", "group", "create", "--group-snapshot", "gs1",
               "--name", "g2")
    g2 = made["ID"]
    until(lambda: demo.request("GET", f"/groups/{g2}", version="3.14").json()["group"][
        "status"] == "available", "group from snapshot not made")
    assert demo.request("GET", f"/groups/{g2}", version="3.14").json()["group"][
        "group_snapshot_id"] == gsid
    copies = [v for v in demo.request("GET", "/volumes/detail", version="3.13").json()[
        "volumes"] if v["group_id"] == g2]
    assert len(copies) == 2 and all(v["snapshot_id"] for v in copies)
    # and one from the group itself
    r = demo.request("POST", "/groups/action", version="3.14", json={"create-from-src": {
        "source_group_id": gid, "name": "g3"}})
    assert r.status_code == 202, r.text
    strict(api_spec.GROUP, "create", r.json()["group"], (3, 14))
    g3 = r.json()["group"]["id"]
    until(lambda: demo.request("GET", f"/groups/{g3}", version="3.14").json()["group"][
        "status"] == "available", "group from group not made")

    # deleting: a group with volumes needs delete-volumes; with snapshots, not at all
    r = demo.request("POST", f"/groups/{gid}/action", version="3.13",
                     json={"delete": {"delete-volumes": True}})
    assert r.status_code == 400 and "snapshots" in r.json()["badRequest"]["message"]
    assert cli(cloud, "demo", "openstack", *G, "volume", "group", "snapshot", "delete",
               "gs1").returncode == 0
    until(lambda: demo.request("GET", f"/group_snapshots/{gsid}",
                               version="3.14").status_code == 404, "group snapshot kept")
    for g in (g2, g3):
        assert cli(cloud, "demo", "openstack", *G, "volume", "group", "delete", g
                   ).returncode != 0  # it has volumes
        assert cli(cloud, "demo", "openstack", *G, "volume", "group", "delete", "--force", g
                   ).returncode == 0
    r = cli(cloud, "demo", "cinder", "--os-volume-api-version", "3.13", "group-update",
            "--remove-volumes", v2["id"], gid)
    assert r.returncode == 0, r.stderr
    assert demo.show(v2["id"])["group_id"] is None
    assert cli(cloud, "demo", "openstack", *G, "volume", "group", "delete", "--force", gid
               ).returncode == 0
    for g in (gid, g2, g3):
        until(lambda g=g: demo.request("GET", f"/groups/{g}", version="3.13").status_code
              == 404, f"group {g} not deleted")
    assert demo.request("GET", f"/volumes/{v1['id']}").status_code == 404
    assert demo.request("DELETE", f"/volumes/{v2['id']}").status_code == 202
    assert cli(cloud, "admin", "openstack", "--os-volume-api-version", "3.11", "volume",
               "group", "type", "delete", "cgs").returncode == 0


def test_group_bad_requests(demo: VolumeApi, admin: VolumeApi) -> None:
    r = demo.request("POST", "/groups", version="3.13", json={"group": {"name": "x"}})
    assert r.status_code == 400 and "group_type" in r.json()["badRequest"]["message"]
    r = demo.request("POST", "/groups", version="3.13", json={"group": {
        "group_type": "nope", "volume_types": ["__DEFAULT__"]}})
    assert r.status_code == 404
    r = demo.request("POST", "/group_types", version="3.11",
                     json={"group_type": {"name": "mine"}})
    assert r.status_code == 403
    r = admin.request("POST", "/group_types", version="3.11", json={"group_type": {}})
    assert r.status_code == 400
    r = demo.request("GET", "/group_types/default", version="3.11")
    assert r.status_code == 404
    r = demo.request("POST", "/groups/action", version="3.14", json={"create-from-src": {}})
    assert r.status_code == 400
    r = demo.request("POST", "/group_snapshots", version="3.14",
                     json={"group_snapshot": {"group_id": "nope"}})
    assert r.status_code == 404


# -- user messages --------------------------------------------------------------------------


def test_a_failed_volume_from_an_image_leaves_a_user_message(cloud: VolumeCloud,
                                                            demo: VolumeApi, tmp_path: Any
                                                            ) -> None:
    img = cloud.api("demo")
    image = img.create(name="vanishing", disk_format="qcow2")
    disk = make_disk_image(tmp_path / "disk.qcow2", "qcow2")
    assert img.upload(image["id"], disk.read_bytes()).status_code == 204
    # the image's bytes go missing from the image store behind its back
    (cloud.var / "imagestore" / "images" / image["id"]).unlink()
    r = demo.request("POST", "/volumes", json={"volume": {"size": 1, "imageRef": image["id"]}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    request_id = r.headers["X-Openstack-Request-Id"]
    assert demo.wait(vid)["status"] == "error"
    listed = osc(cloud, "demo", "--os-volume-api-version", "3.3", "volume", "message", "list")
    (mine,) = [msg for msg in listed if msg["Resource UUID"] == vid]
    assert mine["Request ID"] == request_id and "copy image to volume" in mine["User Message"]
    for version in ((3, 3), api_spec.LATEST):
        v = f"{version[0]}.{version[1]}"
        body = demo.request("GET", f"/messages/{mine['ID']}", version=v).json()["message"]
        strict(api_spec.MESSAGE, "show", body, version)
        for listed in demo.request("GET", "/messages", version=v).json()["messages"]:
            strict(api_spec.MESSAGE, "list", listed, version)
    assert body["event_id"].startswith("VOLUME_VOLUME_005_")
    assert body["resource_type"] == "VOLUME" and body["message_level"] == "ERROR"
    # (openstacksdk reads a message under the key "messages", not Cinder's "message": its
    # `openstack volume message show` shows nothing, so the cinder client shows it here)
    shown = cli(cloud, "demo", "cinder", "--os-volume-api-version", "3.3", "message-show",
                mine["ID"])
    assert shown.returncode == 0 and vid in shown.stdout, shown.stdout + shown.stderr
    r = demo.request("GET", "/messages", version="3.5", params={"limit": 1,
                                                                "resource_uuid": vid})
    assert [msg["id"] for msg in r.json()["messages"]] == [mine["ID"]]
    # another project sees none of it; the message goes when deleted
    other = cloud.volumes("admin")
    r = cli(cloud, "demo", "openstack", "--os-volume-api-version", "3.3", "volume",
            "message", "delete", mine["ID"])
    assert r.returncode == 0, r.stderr
    assert demo.request("GET", f"/messages/{mine['ID']}", version="3.3").status_code == 404
    assert other.request("GET", "/messages", version="3.3").status_code == 200
    assert demo.request("GET", "/messages", version="3.2").status_code == 404
    assert demo.request("DELETE", f"/volumes/{vid}").status_code == 202


# -- manage / unmanage --------------------------------------------------------------------


def test_manage_and_unmanage_with_the_cinder_client(cloud: VolumeCloud, demo: VolumeApi,
                                                    admin: VolumeApi) -> None:
    manageable = cloud.var / "volumes" / "manageable"
    make_image(manageable / "legacy.qcow2", "qcow2", 200 * MIB, [(0, b"\x5c" * MIB)])
    host = volume_host(admin)
    r = cli(cloud, "admin", "cinder", "--os-volume-api-version", "3.8", "manageable-list",
            host)
    assert r.returncode == 0 and "legacy.qcow2" in r.stdout, r.stdout + r.stderr
    listed = admin.request("GET", "/manageable_volumes/detail", version="3.8",
                           params={"host": host}).json()["manageable-volumes"]
    for item in listed:
        strict(api_spec.MANAGEABLE_VOLUME, "detail", item, (3, 8), admin=True)
    assert {"reference": {"source-name": "legacy.qcow2"}, "size": 1,
            "safe_to_manage": True, "reason_not_safe": None, "cinder_id": None,
            "extra_info": None} in listed
    r = cli(cloud, "admin", "cinder", "manage", "--name", "adopted", f"{host}#file",
            "legacy.qcow2")
    assert r.returncode == 0, r.stdout + r.stderr
    vol = until(lambda: next((v for v in admin.request("GET", "/volumes/detail").json()[
        "volumes"] if v["name"] == "adopted" and v["status"] == "available"), None),
        "the managed volume never became available")
    assert vol["size"] == 1 and not (manageable / "legacy.qcow2").exists()
    # the bytes are the file's, read over iSCSI
    info = attach(admin, vol["id"])
    q = qemu_io(info["data"], "read -P 0x5c 0 1M", "read -P 0 1M 1M")
    assert io_ok(q), q.stdout + q.stderr
    detach(admin, info)
    # unmanage: the volume goes, its data stays in the directory
    r = cli(cloud, "admin", "cinder", "unmanage", vol["id"])
    assert r.returncode == 0, r.stdout + r.stderr
    until(lambda: admin.request("GET", f"/volumes/{vol['id']}").status_code == 404,
          "the unmanaged volume is still listed")
    left = manageable / f"volume-{vol['id']}.qcow2"
    assert left.exists()
    # policy and bad requests
    r = demo.request("POST", "/os-volume-manage", json={"volume": {
        "host": host, "ref": {"source-name": left.name}}})
    assert r.status_code == 403
    for body, status in (({"host": "elsewhere@file", "ref": {"source-name": left.name}}, 404),
                         ({"host": host, "ref": {"source-name": "missing.raw"}}, 404),
                         ({"host": host, "ref": {"source-id": "x"}}, 400),
                         ({"ref": {"source-name": left.name}}, 400)):
        r = admin.request("POST", "/os-volume-manage", json={"volume": body})
        assert r.status_code == status, (body, r.text)
    assert demo.action(demo.create(size=1, name="mine")["id"], "os-unmanage",
                       {}).status_code == 403


def test_manage_and_unmanage_a_snapshot(cloud: VolumeCloud, admin: VolumeApi) -> None:
    host = volume_host(admin)
    vid = admin.create(size=1, name="snap-home")["id"]
    make_image(cloud.var / "volumes" / "manageable" / "old-snap.raw", "raw", MIB,
               [(0, pattern(42, MIB))])
    listed = admin.request("GET", "/manageable_snapshots", version="3.8",
                           params={"host": host}).json()["manageable-snapshots"]
    assert any(i["reference"] == {"source-name": "old-snap.raw"} for i in listed)
    r = cli(cloud, "admin", "cinder", "snapshot-manage", "--name", "adopted-snap", vid,
            "old-snap.raw")
    assert r.returncode == 0, r.stdout + r.stderr
    snap = until(lambda: next((s for s in admin.request("GET", "/snapshots/detail").json()[
        "snapshots"] if s["name"] == "adopted-snap" and s["status"] == "available"), None),
        "the managed snapshot never became available")
    clone = admin.create(snapshot_id=snap["id"], name="from-adopted")
    assert clone["status"] == "available"
    r = admin.request("POST", f"/snapshots/{snap['id']}/action", json={"os-unmanage": {}})
    assert r.status_code == 202, r.text
    until(lambda: admin.request("GET", f"/snapshots/{snap['id']}").status_code == 404,
          "the unmanaged snapshot is still listed")
    assert (cloud.var / "volumes" / "manageable" / f"snapshot-{snap['id']}.qcow2").exists()
    for v in (clone["id"], vid):
        assert admin.request("DELETE", f"/volumes/{v}").status_code == 202
