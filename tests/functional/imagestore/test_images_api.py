"""The image service (Glance v2) for real: ``strata up -d`` of a private cloud, driven
with raw HTTP, the ``glance`` and ``openstack`` CLIs and openstacksdk."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.functional.imagestore.image_server import (
    Api,
    ImageCloud,
    error_of,
    extra_image_server,
    make_image,
    qemu_img,
    running_cloud,
)

MAX_IMAGE = 8 << 20  # the cloud's max_image_size in these tests
JSON_PATCH = "application/openstack-images-v2.1-json-patch"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, web: str) -> Iterator[ImageCloud]:
    with running_cloud(tmp_path_factory, STRATA_IMAGESTORE_MAX_IMAGE_SIZE=str(MAX_IMAGE),
                       STRATA_IMAGESTORE_WEB_DOWNLOAD="true",
                       STRATA_IMAGESTORE_WEB_DOWNLOAD_ALLOWED=f"{web}/allowed/",
                       STRATA_IMAGESTORE_SEGMENT_SIZE=str(1 << 20)) as c:
        c.add_third_user()
        yield c


def stored_for(cloud: ImageCloud, image_id: str) -> list[str]:
    return [n for n in cloud.service_objects() if n.startswith(image_id)]


def wait_status(api: Api, image_id: str, want: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        img = api.show(image_id)
        if img["status"] == want or time.monotonic() > deadline:
            assert img["status"] == want, img
            return img
        time.sleep(0.2)


# -- discovery, auth, schemas -------------------------------------------------------


def test_version_discovery_and_health(cloud: ImageCloud) -> None:
    for path, status in (("/", 300), ("/versions", 200)):
        r = requests.get(cloud.image_url + path, timeout=10)
        assert r.status_code == status
        versions = r.json()["versions"]
        current = [v for v in versions if v["status"] == "CURRENT"]
        assert len(current) == 1 and current[0]["id"].startswith("v2.")
        assert {"v2.0", "v2.1"} <= {v["id"] for v in versions}
        assert current[0]["links"][0]["href"] == cloud.image_url + "/v2/"
    assert requests.get(cloud.image_url + "/healthcheck", timeout=10).text == "OK"


def test_catalog_publishes_the_image_service(cloud: ImageCloud, admin: Api) -> None:
    r = requests.get(cloud.identity_url + "/v3/auth/catalog",
                     headers={"X-Auth-Token": admin.token}, timeout=10)
    image = [s for s in r.json()["catalog"] if s["type"] == "image"]
    assert image and image[0]["name"] == "glance"
    assert {e["url"] for e in image[0]["endpoints"]} == {cloud.image_url}


def test_requests_without_a_valid_token_are_401(admin: Api) -> None:
    for token in ("", "not-a-token"):
        r = admin.request("GET", "/v2/images", token=token)
        error_of(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")
    assert error_of(admin.request("POST", "/v2/images", token="", json={}), 401)


def test_schemas(admin: Api) -> None:
    image = admin.request("GET", "/v2/schemas/image").json()
    assert image["name"] == "image"
    assert image["additionalProperties"] == {"type": "string"}
    props = image["properties"]
    assert props["disk_format"]["enum"] == [None, "ami", "ari", "aki", "vhd", "vhdx", "vmdk",
                                            "raw", "qcow2", "vdi", "iso", "ploop"]
    assert props["container_format"]["enum"] == [None, "ami", "ari", "aki", "bare", "ovf",
                                                 "ova", "docker", "compressed"]
    assert props["visibility"]["enum"] == ["public", "community", "shared", "private"]
    assert "deactivated" in props["status"]["enum"] and props["status"]["readOnly"]
    assert props["size"]["type"] == ["null", "integer"]
    assert {link["rel"] for link in image["links"]} == {"self", "enclosure", "describedby"}
    images = admin.request("GET", "/v2/schemas/images").json()
    assert images["properties"]["images"]["items"]["name"] == "image"
    assert {link["rel"] for link in images["links"]} == {"first", "next", "describedby"}
    member = admin.request("GET", "/v2/schemas/member").json()
    assert member["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    members = admin.request("GET", "/v2/schemas/members").json()
    assert members["properties"]["members"]["items"]["name"] == "member"
    error_of(admin.request("GET", "/v2/schemas/nothing"), 404)


# -- metadata -------------------------------------------------------------------------


def test_create_show_and_defaults(demo: Api) -> None:
    img = demo.create(name="plain", tags=["a", "b"], hw_disk_bus="scsi", min_ram=512)
    assert img["status"] == "queued" and img["visibility"] == "shared"
    assert img["owner"] == demo.project_id and img["protected"] is False
    assert img["size"] is None and img["checksum"] is None
    assert sorted(img["tags"]) == ["a", "b"] and img["hw_disk_bus"] == "scsi"
    assert img["self"] == f"/v2/images/{img['id']}" and img["min_ram"] == 512
    assert demo.show(img["id"]) == img
    fixed = "0b4a3a9e-5f2a-4b8e-9a51-3f3c2a1d9e11"
    assert demo.create(id=fixed, name="with id")["id"] == fixed
    assert "already exists" in error_of(
        demo.request("POST", "/v2/images", json={"id": fixed}), 409)


def test_bad_create_requests_change_nothing(demo: Api) -> None:
    before = demo.names(limit="1000")
    r = demo.request("POST", "/v2/images", data=b"{not json",
                     headers={"Content-Type": "application/json"})
    assert "Malformed JSON" in error_of(r, 400)
    r = demo.request("POST", "/v2/images", json={"name": "x", "disk_format": "floppy"})
    assert "disk_format" in error_of(r, 400)
    r = demo.request("POST", "/v2/images", json={"name": "x", "container_format": "zip"})
    error_of(r, 400)
    r = demo.request("POST", "/v2/images", json={"name": "x", "status": "active"})
    assert "read-only" in error_of(r, 403)
    r = demo.request("POST", "/v2/images", json={"name": "x", "os_glance_x": "1"})
    assert "reserved" in error_of(r, 403)
    r = demo.request("POST", "/v2/images", json={"name": "x", "custom": 5})
    error_of(r, 400)
    r = demo.request("POST", "/v2/images", json={"name": "x", "visibility": "public"})
    assert "public" in error_of(r, 403)
    r = demo.request("POST", "/v2/images", json={"name": "x", "owner": "someone-else"})
    error_of(r, 403)
    r = demo.request("POST", "/v2/images", json=["not", "an", "object"])
    error_of(r, 400)
    r = demo.request("POST", "/v2/images", json={"name": "x", "big": "y" * 70000})
    error_of(r, 413)
    chunked = (piece for piece in [b'{"name": ', b'"split-body"}'])
    r = demo.request("POST", "/v2/images", data=chunked,
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 201 and r.json()["name"] == "split-body"
    assert demo.request("DELETE", f"/v2/images/{r.json()['id']}").status_code == 204
    assert demo.names(limit="1000") == before


def test_patch(demo: Api, admin: Api) -> None:
    img = demo.create(name="to-patch", extra="one")
    iid = img["id"]
    r = demo.patch(iid, [
        {"op": "replace", "path": "/name", "value": "patched"},
        {"op": "add", "path": "/hw_vif_model", "value": "virtio"},
        {"op": "replace", "path": "/extra", "value": "two"},
        {"op": "replace", "path": "/tags", "value": ["x", "y", "x"]},
        {"op": "add", "path": "/min_disk", "value": 3},
        {"op": "replace", "path": "/protected", "value": True},
        {"op": "replace", "path": "/visibility", "value": "community"},
    ])
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["name"] == "patched" and got["hw_vif_model"] == "virtio"
    assert got["extra"] == "two" and sorted(got["tags"]) == ["x", "y"]
    assert got["min_disk"] == 3 and got["protected"] is True
    assert got["visibility"] == "community"
    r = demo.patch(iid, [{"op": "remove", "path": "/extra"},
                         {"op": "replace", "path": "/protected", "value": False}])
    assert r.status_code == 200 and "extra" not in r.json()
    assert admin.patch(iid, [{"op": "replace", "path": "/visibility",
                              "value": "public"}]).json()["visibility"] == "public"


def test_bad_patches_change_nothing(demo: Api, third: Api) -> None:
    iid = demo.create(name="stable", keep="yes")["id"]
    before = demo.show(iid)
    ops = [{"op": "replace", "path": "/name", "value": "changed"}]
    assert "application/openstack-images-v2.1-json-patch" in error_of(
        demo.patch(iid, ops, content_type="application/json"), 415)
    assert "read-only" in error_of(
        demo.patch(iid, [{"op": "replace", "path": "/status", "value": "active"}]), 403)
    assert "read-only" in error_of(
        demo.patch(iid, [*ops, {"op": "replace", "path": "/checksum", "value": "0"}]), 403)
    assert "does not exist" in error_of(
        demo.patch(iid, [*ops, {"op": "replace", "path": "/missing", "value": "v"}]), 409)
    assert "does not exist" in error_of(
        demo.patch(iid, [*ops, {"op": "remove", "path": "/missing"}]), 409)
    assert "may not be removed" in error_of(
        demo.patch(iid, [*ops, {"op": "remove", "path": "/name"}]), 403)
    assert "public" in error_of(
        demo.patch(iid, [*ops, {"op": "replace", "path": "/visibility",
                                "value": "public"}]), 403)
    error_of(demo.patch(iid, [*ops, {"op": "replace", "path": "/min_ram", "value": "x"}]),
             400)
    error_of(demo.patch(iid, [*ops, {"op": "replace", "path": "/keep", "value": 1}]), 400)
    error_of(demo.patch(iid, [{"op": "move", "path": "/name", "value": "x"}]), 400)
    error_of(demo.patch(iid, [{"op": "replace", "path": "/a/b", "value": "x"}]), 400)
    error_of(demo.patch(iid, {"op": "replace"}), 400)  # type: ignore[arg-type]
    r = demo.request("PATCH", f"/v2/images/{iid}", data=b"[{",
                     headers={"Content-Type": JSON_PATCH})
    error_of(r, 400)
    # another project: cannot see a shared image it is not a member of
    error_of(third.patch(iid, ops), 404)
    assert demo.show(iid) == before


def test_tags(demo: Api) -> None:
    iid = demo.create(name="tagged")["id"]
    assert demo.request("PUT", f"/v2/images/{iid}/tags/blue").status_code == 204
    assert demo.request("PUT", f"/v2/images/{iid}/tags/blue").status_code == 204
    assert demo.request("PUT", f"/v2/images/{iid}/tags/red").status_code == 204
    assert sorted(demo.show(iid)["tags"]) == ["blue", "red"]
    assert demo.request("DELETE", f"/v2/images/{iid}/tags/blue").status_code == 204
    error_of(demo.request("DELETE", f"/v2/images/{iid}/tags/blue"), 404)
    assert demo.show(iid)["tags"] == ["red"]


def test_listing_filters_sorting_and_pages(demo: Api, admin: Api, third: Api) -> None:
    mark = "lst-"
    made = []
    for i, (fmt, tags) in enumerate([("raw", ["t1"]), ("qcow2", ["t1", "t2"]),
                                     ("raw", ["t2"]), ("iso", []), ("raw", ["t1", "t2"])]):
        made.append(demo.create(name=f"{mark}{i}", disk_format=fmt, tags=tags,
                                flavor_hint=f"h{i % 2}", min_ram=i)["id"])
    names = demo.names(sort="name:asc", limit="1000")
    mine = [n for n in names if n.startswith(mark)]
    assert mine == [f"{mark}{i}" for i in range(5)]
    assert demo.names(name=f"{mark}3") == [f"{mark}3"]
    assert demo.names(name=f"in:{mark}1,{mark}2", sort="name:desc") == [f"{mark}2", f"{mark}1"]
    assert sorted(demo.names(disk_format="qcow2")) == [f"{mark}1"]
    both = demo.names(tag=["t1", "t2"], sort="name:asc")
    assert both == [f"{mark}1", f"{mark}4"]
    assert demo.names(flavor_hint="h1", sort="name:asc") == [f"{mark}1", f"{mark}3"]
    assert demo.names(sort_key="min_ram", sort_dir="desc",
                      name=f"in:{mark}0,{mark}4") == [f"{mark}4", f"{mark}0"]
    # pages: follow the next links
    seen: list[str] = []
    url: str | None = "/v2/images?limit=2&sort=name:asc&tag=t1"
    while url:
        body = demo.request("GET", url).json()
        assert len(body["images"]) <= 2
        seen += [i["name"] for i in body["images"]]
        assert body["first"].startswith("/v2/images") and "marker" not in body["first"]
        url = body.get("next")
    assert seen == [f"{mark}0", f"{mark}1", f"{mark}4"]
    # bad parameters
    assert "sort key" in error_of(demo.request("GET", "/v2/images?sort_key=bogus"), 400)
    error_of(demo.request("GET", "/v2/images?sort=name:sideways"), 400)
    error_of(demo.request("GET", "/v2/images?limit=-1"), 400)
    error_of(demo.request("GET", "/v2/images?marker=no-such-image"), 400)
    error_of(demo.request("GET", "/v2/images?visibility=everyone"), 400)
    error_of(demo.request("GET", "/v2/images?status=happy"), 400)
    error_of(demo.request("GET", "/v2/images?sort=name&sort_key=name"), 400)
    # visibility: another project sees none of these (shared, not a member) ...
    assert not [n for n in third.names(limit="1000") if n.startswith(mark)]
    # ... community images only when asked for, public ones always
    assert demo.patch(made[3], [{"op": "replace", "path": "/visibility",
                                 "value": "community"}]).status_code == 200
    assert f"{mark}3" not in third.names(limit="1000")
    assert third.names(visibility="community", name=f"{mark}3") == [f"{mark}3"]
    assert third.names(visibility="all", name=f"{mark}3") == [f"{mark}3"]
    assert demo.names(visibility="private", name=f"{mark}3") == []
    assert demo.names(owner=demo.project_id, name=f"{mark}0") == [f"{mark}0"]
    assert admin.names(name=f"{mark}0") == [f"{mark}0"]  # admins see everything


# -- data -----------------------------------------------------------------------------


def test_upload_download_ranges_and_checksums(cloud: ImageCloud, demo: Api) -> None:
    data = os.urandom(3 * (1 << 20) + 12345)  # several store segments
    iid = demo.create(name="data")["id"]
    assert demo.request("GET", f"/v2/images/{iid}/file").status_code == 204
    assert demo.upload(iid, data).status_code == 204
    img = demo.show(iid)
    assert img["status"] == "active" and img["size"] == len(data)
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert img["os_hash_algo"] == "sha512"
    assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert img["virtual_size"] == len(data)
    r = demo.request("GET", f"/v2/images/{iid}/file")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-MD5"] == img["checksum"]
    r = demo.request("GET", f"/v2/images/{iid}/file", headers={"Range": "bytes=1000-2999999"})
    assert r.status_code == 206 and r.content == data[1000:3000000]
    assert r.headers["Content-Range"] == f"bytes 1000-2999999/{len(data)}"
    r = demo.request("GET", f"/v2/images/{iid}/file", headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = demo.request("GET", f"/v2/images/{iid}/file",
                     headers={"Range": f"bytes={len(data)}-"})
    error_of(r, 416)
    assert r.headers["Content-Range"] == f"bytes */{len(data)}"
    # a second upload is a conflict and changes nothing
    assert "not allowed" in error_of(demo.upload(iid, b"other"), 409)
    assert demo.show(iid)["checksum"] == img["checksum"]
    assert stored_for(cloud, iid)


def test_chunked_upload_of_a_qcow2(tmp_path: Path, demo: Api) -> None:
    path = make_image(tmp_path / "d.qcow2", "qcow2", "40M", content=b"hello")
    iid = demo.create(name="chunked", disk_format="qcow2")["id"]
    body = path.read_bytes()
    r = demo.upload(iid, (body[i:i + 65536] for i in range(0, len(body), 65536)))
    assert r.status_code == 204, r.text
    img = demo.show(iid)
    assert img["virtual_size"] == 40 << 20 and img["size"] == len(body)
    assert img["checksum"] == hashlib.md5(body).hexdigest()


def test_bad_uploads(cloud: ImageCloud, demo: Api, third: Api) -> None:
    iid = demo.create(name="no formats", disk_format=None, container_format=None)["id"]
    assert "disk_format" in error_of(demo.upload(iid, b"abc"), 400)
    assert demo.show(iid)["status"] == "queued"
    iid = demo.create(name="bad type")["id"]
    r = demo.request("PUT", f"/v2/images/{iid}/file", data=b"abc",
                     headers={"Content-Type": "text/plain"})
    error_of(r, 415)
    error_of(third.upload(iid, b"abc"), 404)  # not visible to another project
    assert demo.show(iid)["status"] == "queued"
    error_of(demo.upload("00000000-0000-0000-0000-000000000000", b"abc"), 404)


def test_oversize_uploads_are_refused_and_leave_nothing(cloud: ImageCloud, demo: Api) -> None:
    iid = demo.create(name="too big")["id"]
    assert "maximum image size" in error_of(demo.upload(iid, b"\0" * (MAX_IMAGE + 1)), 413)
    assert demo.show(iid)["status"] == "queued"
    # chunked: refused while streaming, after part of it went to the store
    chunks = (b"\0" * (1 << 20) for _ in range(MAX_IMAGE // (1 << 20) + 2))
    r = demo.upload(iid, chunks)
    assert "maximum image size" in error_of(r, 413)
    assert demo.show(iid)["status"] == "queued"
    assert stored_for(cloud, iid) == []
    # and the image can still be uploaded
    assert demo.upload(iid, b"\0" * 1024).status_code == 204


def test_interrupted_upload_goes_back_to_queued(cloud: ImageCloud, demo: Api) -> None:
    iid = demo.create(name="interrupted")["id"]
    port = int(cloud.image_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall((f"PUT /v2/images/{iid}/file HTTP/1.1\r\nHost: x\r\n"
                   f"X-Auth-Token: {demo.token}\r\nContent-Type: application/octet-stream\r\n"
                   f"Content-Length: {4 << 20}\r\n\r\n").encode() + b"\1" * (2 << 20))
        wait_status(demo, iid, "saving")
    img = wait_status(demo, iid, "queued")
    assert img["size"] is None and img["checksum"] is None
    assert stored_for(cloud, iid) == []
    assert demo.upload(iid, b"\1" * 100).status_code == 204


def test_hostile_images_are_refused(cloud: ImageCloud, tmp_path: Path, demo: Api) -> None:
    backing = tmp_path / "backed.qcow2"
    qemu_img("create", "-f", "qcow2", "-F", "raw", "-b", "/etc/passwd", "-u", str(backing),
             "1M")
    disguised = make_image(tmp_path / "real.qcow2", "qcow2", "1M")
    data_file = tmp_path / "external.qcow2"
    qemu_img("create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'external.data'}",
             str(data_file), "1M")
    descriptor = tmp_path / "host-file.vmdk"  # a VMDK descriptor naming a host file
    descriptor.write_text(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        'createType="monolithicFlat"\n\n# Extent description\n'
        'RW 2048 FLAT "/etc/passwd" 0\n\n# The Disk Data Base\n#DDB\n'
        'ddb.virtualHWVersion = "4"\nddb.adapterType = "ide"\n')
    flat = tmp_path / "flat.vmdk"
    qemu_img("create", "-f", "vmdk", "-o", "subformat=monolithicFlat", str(flat), "1M")
    iso = tmp_path / "disc.iso"
    (tmp_path / "iso-root").mkdir()
    (tmp_path / "iso-root" / "hello.txt").write_text("hello")
    subprocess.run(["genisoimage", "-quiet", "-o", str(iso), str(tmp_path / "iso-root")],
                   check=True, timeout=60)
    vhd = make_image(tmp_path / "disk.vhd", "vhd", "1M")
    cases: list[tuple[Path | bytes, str, str]] = [
        (backing, "qcow2", "backing"), (disguised, "raw", "qcow2"),
             (data_file, "qcow2", "data"), (descriptor, "vmdk", "vmdk"),
             (flat, "vmdk", "monolithicFlat"), (iso, "qcow2", "iso"),
             (vhd, "raw", "vhd"), (os.urandom(4096), "qcow2", "qcow2")]
    for path, declared, words in cases:
        data = path if isinstance(path, bytes) else path.read_bytes()
        name = "random" if isinstance(path, bytes) else path.name
        iid = demo.create(name=f"hostile-{name}", disk_format=declared)["id"]
        message = error_of(demo.upload(iid, data), 400)
        assert words.lower() in message.lower(), (name, message)
        img = demo.show(iid)
        assert img["status"] == "queued" and img["checksum"] is None
        assert demo.request("GET", f"/v2/images/{iid}/file").status_code == 204
        assert stored_for(cloud, iid) == []


def test_delete_protected_and_data_removal(cloud: ImageCloud, demo: Api) -> None:
    iid = demo.create(name="protected", protected=True)["id"]
    assert demo.upload(iid, b"z" * 5000).status_code == 204
    assert stored_for(cloud, iid)
    assert "protected" in error_of(demo.request("DELETE", f"/v2/images/{iid}"), 403)
    assert demo.show(iid)["status"] == "active"
    assert demo.patch(iid, [{"op": "replace", "path": "/protected",
                             "value": False}]).status_code == 200
    assert demo.request("DELETE", f"/v2/images/{iid}").status_code == 204
    error_of(demo.request("GET", f"/v2/images/{iid}"), 404)
    assert stored_for(cloud, iid) == []
    error_of(demo.request("DELETE", f"/v2/images/{iid}"), 404)


def test_deactivate_and_reactivate(admin: Api, demo: Api) -> None:
    iid = admin.create(name="deact", visibility="public")["id"]
    assert admin.upload(iid, b"d" * 100).status_code == 204
    error_of(demo.request("POST", f"/v2/images/{iid}/actions/deactivate"), 403)
    assert admin.request("POST", f"/v2/images/{iid}/actions/deactivate").status_code == 204
    assert demo.show(iid)["status"] == "deactivated"
    assert "deactivated" in error_of(demo.request("GET", f"/v2/images/{iid}/file"), 403)
    assert admin.request("GET", f"/v2/images/{iid}/file").content == b"d" * 100
    error_of(demo.request("POST", f"/v2/images/{iid}/actions/reactivate"), 403)
    assert admin.request("POST", f"/v2/images/{iid}/actions/reactivate").status_code == 204
    assert demo.request("GET", f"/v2/images/{iid}/file").content == b"d" * 100
    queued = admin.create(name="deact-queued")["id"]
    error_of(admin.request("POST", f"/v2/images/{queued}/actions/deactivate"), 400)
    error_of(admin.request("POST", f"/v2/images/{iid}/actions/explode"), 404)


# -- members --------------------------------------------------------------------------


def test_members(demo: Api, third: Api, admin: Api) -> None:
    iid = demo.create(name="shared-img")["id"]
    assert demo.upload(iid, b"m" * 10).status_code == 204
    members = f"/v2/images/{iid}/members"
    r = demo.request("POST", members, json={"member": third.project_id})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["member_id"] == third.project_id
    error_of(demo.request("POST", members, json={"member": third.project_id}), 409)
    error_of(demo.request("POST", members, json={"nobody": 1}), 400)
    # the member sees it, but it is listed only once accepted
    assert third.show(iid)["name"] == "shared-img"
    assert "shared-img" not in third.names(limit="1000")
    assert "shared-img" in third.names(member_status="pending")
    # the member may not add members or delete memberships; strangers see nothing
    error_of(third.request("POST", members, json={"member": admin.project_id}), 403)
    error_of(third.request("DELETE", f"{members}/{third.project_id}"), 403)
    error_of(demo.request("PUT", f"{members}/{third.project_id}",
                          json={"status": "accepted"}), 403)
    error_of(third.request("PUT", f"{members}/{third.project_id}",
                           json={"status": "maybe"}), 400)
    r = third.request("PUT", f"{members}/{third.project_id}", json={"status": "accepted"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert "shared-img" in third.names(limit="1000")
    assert third.request("GET", f"/v2/images/{iid}/file").content == b"m" * 10
    listed = demo.request("GET", members).json()
    assert [m["member_id"] for m in listed["members"]] == [third.project_id]
    assert listed["schema"] == "/v2/schemas/members"
    assert third.request("GET", f"{members}/{third.project_id}").json()["status"] == "accepted"
    # members only for shared images
    private = demo.create(name="private-img", visibility="private")["id"]
    assert "shared" in error_of(demo.request(
        "POST", f"/v2/images/{private}/members", json={"member": third.project_id}), 403)
    # the owner removes the member: the image is gone for it
    assert demo.request("DELETE", f"{members}/{third.project_id}").status_code == 204
    error_of(third.request("GET", f"/v2/images/{iid}"), 404)
    error_of(demo.request("GET", f"{members}/{third.project_id}"), 404)


# -- import ---------------------------------------------------------------------------


def test_import_info_and_glance_direct(cloud: ImageCloud, demo: Api, tmp_path: Path) -> None:
    info = demo.request("GET", "/v2/info/import").json()
    assert info["import-methods"]["value"] == ["glance-direct", "web-download"]
    stores = demo.request("GET", "/v2/info/stores").json()["stores"]
    assert stores == [{"id": "swift", "description": stores[0]["description"],
                       "default": True}]
    disk = make_image(tmp_path / "i.qcow2", "qcow2", "8M").read_bytes()
    iid = demo.create(name="imported", disk_format="qcow2")["id"]
    body = {"method": {"name": "glance-direct"}}
    error_of(demo.request("POST", f"/v2/images/{iid}/import", json=body), 409)  # not staged
    r = demo.request("PUT", f"/v2/images/{iid}/stage", data=disk,
                     headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    assert demo.show(iid)["status"] == "uploading"
    assert demo.request("POST", f"/v2/images/{iid}/import", json=body).status_code == 202
    img = wait_status(demo, iid, "active")
    assert img["checksum"] == hashlib.md5(disk).hexdigest() and img["virtual_size"] == 8 << 20
    assert demo.request("GET", f"/v2/images/{iid}/file").content == disk
    error_of(demo.request("POST", f"/v2/images/{iid}/import",
                          json={"method": {"name": "copy-image"}}), 400)


def test_import_refuses_a_hostile_staged_image(demo: Api, tmp_path: Path) -> None:
    backing = tmp_path / "b.qcow2"
    qemu_img("create", "-f", "qcow2", "-F", "raw", "-b", "/etc/passwd", "-u", str(backing),
             "1M")
    iid = demo.create(name="staged-hostile", disk_format="qcow2")["id"]
    assert demo.request("PUT", f"/v2/images/{iid}/stage", data=backing.read_bytes(),
                        headers={"Content-Type": "application/octet-stream"}
                        ).status_code == 204
    assert demo.request("POST", f"/v2/images/{iid}/import",
                        json={"method": {"name": "glance-direct"}}).status_code == 202
    img = wait_status(demo, iid, "queued")
    assert img["os_glance_failed_import"] == "swift" and img["checksum"] is None


def test_web_download(cloud: ImageCloud, demo: Api, web: str, webroot: Path) -> None:
    data = os.urandom(200_000)
    (webroot / "allowed" / "disk.raw").write_bytes(data)
    (webroot / "denied" / "disk.raw").write_bytes(data)
    iid = demo.create(name="from-web")["id"]
    denied = {"method": {"name": "web-download", "uri": f"{web}/denied/disk.raw"}}
    assert "not allowed" in error_of(
        demo.request("POST", f"/v2/images/{iid}/import", json=denied), 403)
    assert demo.show(iid)["status"] == "queued"
    ok = {"method": {"name": "web-download", "uri": f"{web}/allowed/disk.raw"}}
    assert demo.request("POST", f"/v2/images/{iid}/import", json=ok).status_code == 202
    img = wait_status(demo, iid, "active")
    assert img["checksum"] == hashlib.md5(data).hexdigest() and img["size"] == len(data)


# -- the real clients -----------------------------------------------------------------


def run_cli(cloud: ImageCloud, who: str, *args: str, stdin: bytes | None = None,
            check: bool = True) -> subprocess.CompletedProcess[bytes]:
    r = subprocess.run(list(args), env=cloud.client_env(who), input=stdin,
                       capture_output=True, timeout=180, check=False)
    if check:
        assert r.returncode == 0, r.stderr.decode() + r.stdout.decode()
    return r


def test_glance_cli_stdin_upload(cloud: ImageCloud, tmp_path: Path, demo: Api) -> None:
    disk = make_image(tmp_path / "g.qcow2", "qcow2", "20M", content=b"glance").read_bytes()
    r = run_cli(cloud, "demo", "glance", "image-create", "--name", "from-stdin",
                "--disk-format", "qcow2", "--container-format", "bare",
                "--property", "hw_disk_bus=virtio", stdin=disk)
    out = r.stdout.decode()
    iid = next(line.split("|")[2].strip() for line in out.splitlines()
               if line.startswith("| id "))
    img = demo.show(iid)
    assert img["status"] == "active" and img["virtual_size"] == 20 << 20
    assert img["checksum"] == hashlib.md5(disk).hexdigest()
    assert img["hw_disk_bus"] == "virtio"
    saved = tmp_path / "saved.qcow2"
    run_cli(cloud, "demo", "glance", "image-download", "--file", str(saved), iid)
    assert saved.read_bytes() == disk
    listed = run_cli(cloud, "demo", "glance", "image-list").stdout.decode()
    assert iid in listed
    bad = run_cli(cloud, "demo", "glance", "image-create", "--name", "x", "--disk-format",
                  "floppy", check=False)
    assert bad.returncode != 0


def test_openstack_cli(cloud: ImageCloud, tmp_path: Path, demo: Api, third: Api) -> None:
    raw = make_image(tmp_path / "o.raw", "raw", "2M", content=b"openstack")
    out = run_cli(cloud, "demo", "openstack", "image", "create", "--disk-format", "raw",
                  "--container-format", "bare", "--file", str(raw), "--property",
                  "hw_vif_model=e1000", "-f", "json", "osc-img").stdout
    iid = json.loads(out)["id"]
    img = demo.show(iid)
    assert img["status"] == "active" and img["hw_vif_model"] == "e1000"
    saved = tmp_path / "o.saved"
    run_cli(cloud, "demo", "openstack", "image", "save", "--file", str(saved), iid)
    assert saved.read_bytes() == raw.read_bytes()
    run_cli(cloud, "demo", "openstack", "image", "set", "--property", "os_distro=debian",
            "--tag", "cli", iid)
    img = demo.show(iid)
    assert img["os_distro"] == "debian" and "cli" in img["tags"]
    refused = run_cli(cloud, "demo", "openstack", "image", "set", "--public", iid,
                      check=False)
    assert refused.returncode != 0 and b"public" in refused.stderr
    # share with project third, accepted there
    run_cli(cloud, "demo", "openstack", "image", "add", "project", iid, third.project_id)
    listed = run_cli(cloud, "third", "openstack", "image", "list", "-f", "json").stdout
    assert iid not in [i["ID"] for i in json.loads(listed)]
    run_cli(cloud, "third", "openstack", "image", "set", "--accept", iid)
    listed = run_cli(cloud, "third", "openstack", "image", "list", "-f", "json").stdout
    assert iid in [i["ID"] for i in json.loads(listed)]
    # protected: delete refused
    run_cli(cloud, "demo", "openstack", "image", "set", "--protected", iid)
    refused = run_cli(cloud, "demo", "openstack", "image", "delete", iid, check=False)
    assert refused.returncode != 0 and b"protected" in refused.stderr
    assert demo.show(iid)["status"] == "active"
    run_cli(cloud, "demo", "openstack", "image", "set", "--unprotected", iid)
    run_cli(cloud, "demo", "openstack", "image", "delete", iid)
    error_of(demo.request("GET", f"/v2/images/{iid}"), 404)
    # admin makes one public
    out = run_cli(cloud, "admin", "openstack", "image", "create", "--public",
                  "--disk-format", "raw", "--container-format", "bare", "--file", str(raw),
                  "-f", "json", "osc-public").stdout
    pub = json.loads(out)["id"]
    assert third.show(pub)["visibility"] == "public"


def test_openstacksdk(cloud: ImageCloud, tmp_path: Path) -> None:
    import openstack

    env = cloud.openrc("demo")
    conn: Any = openstack.connect(
        auth_url=env["OS_AUTH_URL"], username=env["OS_USERNAME"],
        password=env["OS_PASSWORD"], project_name=env["OS_PROJECT_NAME"],
        user_domain_name="Default", project_domain_name="Default",
        region_name=env["OS_REGION_NAME"])
    try:
        data = os.urandom(300_000)
        path = tmp_path / "sdk.raw"
        path.write_bytes(data)
        with path.open("rb") as fh:
            image = conn.image.create_image("sdk-img", data=fh, disk_format="raw",
                                            container_format="bare", validate_checksum=False)
        image = conn.image.get_image(image.id)
        assert image.status == "active" and image.checksum == hashlib.md5(data).hexdigest()
        got = conn.image.download_image(image)
        assert got.content == data if hasattr(got, "content") else got == data
        names = [i.name for i in conn.image.images()]
        assert "sdk-img" in names
        conn.image.update_image(image, min_ram=256)
        assert conn.image.get_image(image.id).min_ram == 256
        conn.image.delete_image(image)
        assert conn.image.find_image(image.id) is None
    finally:
        conn.close()


# -- quotas and conversion on a second image server -----------------------------------


def test_quotas_and_conversion_on_import(cloud: ImageCloud, tmp_path: Path) -> None:
    with extra_image_server(cloud, "quota-images", store="file",
                            file_store_dir=str(cloud.var / "quota-images"),
                            image_count_quota="3", image_size_quota=str(3 << 20),
                            import_convert_to="raw", web_download="false") as url:
        demo = cloud.api("demo", base=url)
        assert demo.request("GET", "/v2/info/stores").json()["stores"][0]["id"] == "file"
        assert demo.request("GET", "/v2/info/import").json()[
            "import-methods"]["value"] == ["glance-direct"]
        # bytes: 2 MiB fits, 2 more do not (with length, then chunked)
        first = demo.create(name="q1")["id"]
        assert demo.upload(first, b"a" * (2 << 20)).status_code == 204
        second = demo.create(name="q2")["id"]
        assert "quota" in error_of(demo.upload(second, b"b" * (2 << 20)), 413)
        chunks = (b"b" * 65536 for _ in range(32))
        assert "quota" in error_of(demo.upload(second, chunks), 413)
        assert demo.show(second)["status"] == "queued"
        usage = demo.request("GET", "/v2/info/usage").json()["usage"]
        assert usage["image_size_total"] == {"limit": 3 << 20, "usage": 2 << 20}
        assert usage["image_count_total"] == {"limit": 3, "usage": 2}
        # conversion on import: a qcow2 comes out raw, its size the virtual size
        disk = make_image(tmp_path / "c.qcow2", "qcow2", "1M", content=b"convert me")
        conv = demo.create(name="q3", disk_format="qcow2")["id"]
        assert demo.request("PUT", f"/v2/images/{conv}/stage", data=disk.read_bytes(),
                            headers={"Content-Type": "application/octet-stream"}
                            ).status_code == 204
        assert demo.request("POST", f"/v2/images/{conv}/import",
                            json={"method": {"name": "glance-direct"}}).status_code == 202
        img = wait_status(demo, conv, "active")
        assert img["disk_format"] == "raw" and img["size"] == 1 << 20
        got = demo.request("GET", f"/v2/images/{conv}/file").content
        assert got.startswith(b"convert me") and len(got) == 1 << 20
        # count: the fourth image is refused
        assert "count quota" in error_of(demo.request("POST", "/v2/images",
                                                      json={"name": "q4"}), 413)
        assert demo.request("DELETE", f"/v2/images/{second}").status_code == 204
        assert demo.create(name="q4")["name"] == "q4"
