"""Responses exactly as the Images API v2 reference documents them (strict schemas
per call), both JSON-patch media types, and Glance's default policy for
deactivate/reactivate, against a real ``strata up -d``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import pytest
import requests

from tests.functional.imagestore import strict
from tests.functional.imagestore.image_server import (
    Api,
    ImageCloud,
    cli,
    error_of,
    expect,
    running_cloud,
)

V20 = "application/openstack-images-v2.0-json-patch"
V21 = "application/openstack-images-v2.1-json-patch"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageCloud]:
    with running_cloud(tmp_path_factory) as c:
        c.add_third_user()
        c.add_user("peek", "demo", "reader")  # reads the demo project's images
        yield c


def test_versions(cloud: ImageCloud) -> None:
    root = requests.get(cloud.image_url + "/", timeout=10)
    assert root.status_code == 300
    listed = requests.get(cloud.image_url + "/versions", timeout=10)
    assert listed.status_code == 200  # the reference: 200 for /versions, 300 for /
    body = strict.check(listed.json(), strict.VERSIONS)
    assert body == root.json()
    ids = [v["id"] for v in body["versions"]]
    assert ids == [f"v2.{m}" for m in range(16, -1, -1)]


def test_image_calls_carry_exactly_the_documented_fields(demo: Api, admin: Api) -> None:
    r = demo.request("POST", "/v2/images", json={
        "name": "strict", "disk_format": "raw", "container_format": "bare",
        "hw_disk_bus": "scsi", "tags": ["a"]})
    created = strict.check_image(expect(r, 201), {"hw_disk_bus"})
    assert r.headers["Location"] == created["self"]
    assert r.headers["OpenStack-image-import-methods"] == "glance-direct"
    assert r.headers["OpenStack-image-store-ids"] == "swift"
    iid = created["id"]
    assert strict.check_image(expect(demo.request("GET", f"/v2/images/{iid}")),
                              {"hw_disk_bus"}) == created
    updated = strict.check_image(expect(demo.patch(iid, [
        {"op": "add", "path": "/os_distro", "value": "debian"},
        {"op": "remove", "path": "/hw_disk_bus"}])), {"os_distro"})
    assert updated["os_distro"] == "debian"
    assert expect(demo.upload(iid, b"x" * 1000), 204) is None
    active = strict.check_image(demo.show(iid), {"os_distro"})
    assert active["stores"] == "swift" and active["size"] == 1000
    demo.create(name="strict-2")
    listing = strict.check(expect(demo.request("GET", "/v2/images", params={"limit": "1"})),
                           strict.IMAGES)
    assert "next" in listing and len(listing["images"]) == 1
    for img in strict.check(expect(admin.request("GET", "/v2/images")), strict.IMAGES)["images"]:
        strict.check_image(img, set(img) - set(strict.IMAGE_CORE)
                           - set(strict.IMAGE_OPTIONAL))


def test_members_and_info(demo: Api, third: Api) -> None:
    iid = demo.create(name="share-strict")["id"]
    member = strict.check(expect(demo.request("POST", f"/v2/images/{iid}/members",
                                          json={"member": third.project_id})), strict.MEMBER)
    assert member["status"] == "pending"
    strict.check(expect(demo.request("GET", f"/v2/images/{iid}/members")), strict.MEMBERS)
    strict.check(expect(third.request("GET", f"/v2/images/{iid}/members/{third.project_id}")),
                 strict.MEMBER)
    strict.check(expect(third.request("PUT", f"/v2/images/{iid}/members/{third.project_id}",
                                  json={"status": "accepted"})), strict.MEMBER)
    strict.check(expect(demo.request("GET", "/v2/info/import")), strict.IMPORT_INFO)
    strict.check(expect(demo.request("GET", "/v2/info/stores")), strict.STORES)
    usage = strict.check(expect(demo.request("GET", "/v2/info/usage")), strict.USAGE)["usage"]
    assert usage["image_count_total"]["usage"] >= 1


def test_published_schemas_are_json_schemas(demo: Api) -> None:
    names = ["image", "images", "member", "members", "task", "tasks", *(
        f"metadefs/{n}" for n in ("namespace", "namespaces", "object", "objects", "property",
                                  "properties", "tag", "tags", "resource_type",
                                  "resource_types"))]
    for name in names:
        schema = expect(demo.request("GET", f"/v2/schemas/{name}"))
        jsonschema.Draft4Validator.check_schema(schema)
        want = {"metadefs/resource_type": "resource_type_association",
                "metadefs/resource_types": "resource_type_associations"}
        assert schema["name"] == want.get(name, name.rsplit("/", 1)[-1])
    error_of(demo.request("GET", "/v2/schemas/metadefs/nothing"), 404)


# -- the two JSON-patch media types ---------------------------------------------------


def test_the_v20_json_patch_media_type(demo: Api) -> None:
    """``application/openstack-images-v2.0-json-patch`` (the operation as the key)
    was refused with 415; raw HTTP, as glanceclient only speaks 2.1."""
    iid = demo.create(name="old-patch", keep="yes")["id"]
    r = demo.patch(iid, [{"replace": "/name", "value": "renamed"},
                         {"add": "/hw_vif_model", "value": "virtio"},
                         {"remove": "/keep"},
                         {"replace": "/tags", "value": ["t"]}], content_type=V20)
    img = strict.check_image(expect(r), {"hw_vif_model"})
    assert (img["name"], img["hw_vif_model"], img["tags"]) == ("renamed", "virtio", ["t"])
    # draft 4 semantics: add of what exists is a conflict, and nothing of the request stays
    before = demo.show(iid)
    for ops in ([{"replace": "/name", "value": "x"}, {"add": "/hw_vif_model", "value": "e"}],
                [{"add": "/name", "value": "x"}]):
        assert "already present" in error_of(demo.patch(iid, ops, content_type=V20), 409)
    assert "read-only" in error_of(demo.patch(iid, [{"replace": "/status", "value": "a"}],
                                           content_type=V20), 403)
    error_of(demo.patch(iid, [{"op": "replace", "path": "/name", "value": "x"}],
                     content_type=V20), 400)  # the 2.1 form is not the 2.0 form
    # the 2.1 form: add of what exists sets it
    assert expect(demo.patch(iid, [{"op": "add", "path": "/name", "value": "again"}],
                         content_type=V21))["name"] == "again"
    r = demo.patch(iid, [{"op": "replace", "path": "/name", "value": "y"}],
                   content_type="application/json-patch+json")
    assert "openstack-images-v2.0-json-patch" in error_of(r, 415)
    assert set(r.headers["Accept-Patch"].split(", ")) == {V20, V21}
    assert demo.show(iid)["name"] == "again" and before["hw_vif_model"] == "virtio"


# -- policy: a member of the owning project deactivates its image -----------------------


def test_members_of_the_owning_project_deactivate_and_reactivate(
        cloud: ImageCloud, demo: Api, third: Api, admin: Api) -> None:
    iid = demo.create(name="deact-own", visibility="community")["id"]
    assert demo.upload(iid, b"d" * 64).status_code == 204
    r = cli(cloud, "demo", "openstack", "image", "set", "--deactivate", iid)
    assert r.returncode == 0, r.stderr
    assert demo.show(iid)["status"] == "deactivated"
    assert "deactivated" in error_of(third.request("GET", f"/v2/images/{iid}/file"), 403)
    # another project sees the image but may not change its state; a reader neither
    # (openstacksdk ignores the answer to an action: the state tells)
    cli(cloud, "third", "openstack", "image", "set", "--activate", iid)
    assert demo.show(iid)["status"] == "deactivated"
    error_of(third.request("POST", f"/v2/images/{iid}/actions/reactivate"), 403)
    peek = cloud.login_as("peek", "demo")
    error_of(peek.request("POST", f"/v2/images/{iid}/actions/reactivate"), 403)
    assert demo.show(iid)["status"] == "deactivated"
    r = cli(cloud, "demo", "openstack", "image", "set", "--activate", iid)
    assert r.returncode == 0, r.stderr
    assert demo.request("GET", f"/v2/images/{iid}/file").content == b"d" * 64
    # admins still may, and a queued image is refused with 400 (the reference)
    assert expect(admin.request("POST", f"/v2/images/{iid}/actions/deactivate"), 204) is None
    assert expect(demo.request("POST", f"/v2/images/{iid}/actions/reactivate"), 204) is None
    queued = demo.create(name="deact-queued")["id"]
    assert "queued" in error_of(demo.request("POST",
                                          f"/v2/images/{queued}/actions/deactivate"), 400)
    error_of(third.request("POST", f"/v2/images/{queued}/actions/deactivate"), 404)


def test_json_bodies_stay_json(demo: Api) -> None:
    r = demo.request("GET", "/v2/images", params={"limit": "1"})
    assert r.headers["Content-Type"].startswith("application/json")
    assert json.loads(r.text)
