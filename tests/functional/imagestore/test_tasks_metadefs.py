"""The task API (``POST/GET /v2/tasks``) and metadata definitions, against a real
``strata up -d``: driven with ``openstack image task ...`` and ``glance task-*`` /
``glance md-*``, and with raw requests checked against strict response schemas."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.imagestore import strict
from tests.functional.imagestore.image_server import (
    Api,
    ImageCloud,
    cli,
    error_of,
    expect,
    extra_image_server,
    running_cloud,
)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, web: str) -> Iterator[ImageCloud]:
    with running_cloud(tmp_path_factory, STRATA_IMAGESTORE_WEB_DOWNLOAD="true",
                       STRATA_IMAGESTORE_WEB_DOWNLOAD_ALLOWED=f"{web}/allowed/") as c:
        c.add_third_user()
        yield c


def run(cloud: ImageCloud, who: str, *args: str) -> str:
    r = cli(cloud, who, *args)
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


def wait_task(api: Api, task_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = expect(api.request("GET", f"/v2/tasks/{task_id}"))
        if task["status"] in ("success", "failure") or time.monotonic() > deadline:
            assert task["status"] in ("success", "failure"), task
            return strict.check(task, strict.TASK)
        time.sleep(0.2)


# -- tasks ---------------------------------------------------------------------------------


def test_an_import_task_with_the_clients(cloud: ImageCloud, admin: Api, web: str,
                                         webroot: Path) -> None:
    data = os.urandom(150_000)
    (webroot / "allowed" / "t.raw").write_bytes(data)
    task_input = {"import_from": f"{web}/allowed/t.raw", "import_from_format": "raw",
                  "image_properties": {"name": "from-task", "hw_disk_bus": "scsi"}}
    out = run(cloud, "admin", "glance", "task-create", "--type", "import",
              "--input", json.dumps(task_input))
    task_id = next(line.split("|")[2].strip() for line in out.splitlines()
                   if line.startswith("| id "))
    task = wait_task(admin, task_id)
    assert task["status"] == "success" and task["message"] == "", task
    image_id = task["result"]["image_id"]
    assert task["image_id"] == image_id and task["input"] == task_input
    img = strict.check_image(admin.show(image_id), {"hw_disk_bus"})
    assert img["status"] == "active" and img["name"] == "from-task"
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert (img["disk_format"], img["container_format"]) == ("raw", "bare")
    # glance task-show / task-list, openstack image task list / show
    shown = run(cloud, "admin", "glance", "task-show", task_id)
    assert "success" in shown and image_id in shown
    assert task_id in run(cloud, "admin", "glance", "task-list")
    listed = json.loads(run(cloud, "admin", "openstack", "image", "task", "list", "-f",
                            "json"))
    assert {"ID": task_id, "Type": "import", "Status": "success",
            "Owner": admin.project_id} in listed
    osc = json.loads(run(cloud, "admin", "openstack", "image", "task", "show", task_id,
                         "-f", "json"))
    assert osc["status"] == "success" and osc["result"] == {"image_id": image_id}
    # the image's tasks (2.12): the task's record
    records = strict.check(expect(admin.request("GET", f"/v2/images/{image_id}/tasks")),
                           strict.IMAGE_TASKS)["tasks"]
    assert [r["id"] for r in records] == [task_id]


def test_task_calls_carry_exactly_the_documented_fields(admin: Api, web: str) -> None:
    body = {"type": "import", "input": {"import_from": f"{web}/allowed/none.raw",
                                        "import_from_format": "raw",
                                        "image_properties": {}}}
    r = admin.request("POST", "/v2/tasks", json=body)
    created = strict.check(expect(r, 201), strict.TASK)
    assert r.headers["Location"] == created["self"] == f"/v2/tasks/{created['id']}"
    assert created["status"] == "pending" and created["result"] is None
    failed = wait_task(admin, created["id"])  # the URI answers 404
    assert failed["status"] == "failure" and "404" in failed["message"]
    assert failed["expires_at"] and "image_id" in failed
    error_of(admin.request("GET", f"/v2/images/{failed['image_id']}"), 404)  # made, then gone
    page = strict.check(expect(admin.request("GET", "/v2/tasks", params={"limit": "1"})),
                        strict.TASKS)
    assert len(page["tasks"]) == 1 and page["first"] == "/v2/tasks?limit=1"
    seen = [t["id"] for t in page["tasks"]]
    while "next" in page:
        page = strict.check(expect(admin.request("GET", page["next"])), strict.TASKS)
        seen += [t["id"] for t in page["tasks"]]
    assert created["id"] in seen and len(seen) == len(set(seen))
    only = expect(admin.request("GET", "/v2/tasks", params={"status": "failure"}))["tasks"]
    assert {t["status"] for t in only} == {"failure"}
    r = admin.request("DELETE", f"/v2/tasks/{created['id']}")
    error_of(r, 405)
    assert r.headers["Allow"] == "GET"
    for params in ({"sort_key": "input"}, {"sort_dir": "up"}, {"status": "done"},
                   {"marker": "not-a-uuid"}, {"limit": "-1"}):
        error_of(admin.request("GET", "/v2/tasks", params=params), 400)
    error_of(admin.request("GET", "/v2/tasks/00000000-0000-0000-0000-000000000000"), 404)


def test_bad_tasks(cloud: ImageCloud, admin: Api, demo: Api, web: str) -> None:
    before = expect(admin.request("GET", "/v2/tasks", params={"limit": "1000"}))["tasks"]
    for body in ({"input": {}}, {"type": "import"}, {"type": "export", "input": {}},
                 {"type": "import", "input": []}, {"type": "import", "input": {}, "x": 1}):
        error_of(admin.request("POST", "/v2/tasks", json=body), 400)
    after = expect(admin.request("GET", "/v2/tasks", params={"limit": "1000"}))["tasks"]
    assert len(after) == len(before)  # nothing made
    # the task API is for admins (Glance's tasks_api_access)
    error_of(demo.request("POST", "/v2/tasks", json={"type": "import", "input": {}}), 403)
    error_of(demo.request("GET", "/v2/tasks"), 403)
    assert cli(cloud, "demo", "openstack", "image", "task", "list").returncode != 0
    # what Glance checks while the task runs fails the task, with the reason
    images_before = len(expect(admin.request("GET", "/v2/images"))["images"])
    for task_input, why in (
            ({"import_from_format": "raw", "image_properties": {}}, "import_from"),
            ({"import_from": f"{web}/denied/t.raw", "import_from_format": "raw",
              "image_properties": {}}, "not allowed"),
            ({"import_from": f"{web}/allowed/t.raw", "import_from_format": "floppy",
              "image_properties": {}}, "floppy"),
            ({"import_from": f"{web}/allowed/t.raw", "import_from_format": "qcow2",
              "image_properties": {}}, "qcow2")):  # the data is not what it claims
        task = expect(admin.request("POST", "/v2/tasks", json={"type": "import",
                                                            "input": task_input}), 201)
        done = wait_task(admin, task["id"])
        assert done["status"] == "failure" and why in done["message"], done
    assert len(expect(admin.request("GET", "/v2/images"))["images"]) == images_before


def test_a_disabled_import_task_fails_as_glance(cloud: ImageCloud, web: str) -> None:
    with extra_image_server(cloud, "no-web-images", web_download="false") as url:
        admin = cloud.api("admin", base=url)
        task = expect(admin.request("POST", "/v2/tasks", json={"type": "import", "input": {
            "import_from": f"{web}/allowed/t.raw", "import_from_format": "raw",
            "image_properties": {}}}), 201)
        done = wait_task(admin, task["id"])
        assert done["status"] == "failure" and "not enabled" in done["message"]
        assert expect(admin.request("GET", "/v2/images"))["images"] == []


# -- metadata definitions ------------------------------------------------------------------


def test_the_standard_namespaces_with_the_clients(cloud: ImageCloud) -> None:
    out = run(cloud, "demo", "glance", "md-namespace-list")
    for name in ("OS::Compute::Watchdog", "OS::Compute::VirtCPUTopology",
                 "OS::Compute::Hypervisor", "OS::Compute::LibvirtImage",
                 "OS::Compute::RandomNumberGenerator", "OS::OperatingSystem",
                 "OS::Compute::GuestShutdownBehavior", "OS::Compute::InstanceData"):
        assert name in out, out
    shown = run(cloud, "demo", "glance", "md-namespace-show", "OS::Compute::Watchdog")
    assert "watchdog_action" in shown and "OS::Nova::Flavor" in shown
    assert "OS::Glance::Image" in run(cloud, "demo", "glance", "md-resource-type-list")
    assocs = run(cloud, "demo", "glance", "md-namespace-resource-type-list",
                 "OS::Compute::VirtCPUTopology")
    assert "hw:" in assocs and "hw_" in assocs
    props = run(cloud, "demo", "glance", "md-property-list", "OS::Compute::LibvirtImage")
    assert "disk_bus" in props and "vif_model" in props
    flavor = run(cloud, "demo", "glance", "md-namespace-show", "OS::Compute::Watchdog",
                 "--resource-type", "OS::Nova::Flavor")
    assert "hw:watchdog_action" in flavor
    listed = json.loads(run(cloud, "demo", "openstack", "image", "metadef", "namespace",
                            "list", "-f", "json"))
    assert "OS::Compute::Watchdog" in {n["namespace"] for n in listed}, listed
    shown = run(cloud, "demo", "openstack", "image", "metadef", "property", "list",
                "OS::Compute::RandomNumberGenerator", "-f", "json")
    assert {"allowed", "rate_bytes", "rate_period"} <= {p["name"] for p in json.loads(shown)}
    types = json.loads(run(cloud, "demo", "openstack", "image", "metadef", "resource",
                           "type", "list", "-f", "json"))
    assert "OS::Nova::Flavor" in {t["Name"] for t in types}, types


def test_admins_manage_definitions_with_glance(cloud: ImageCloud, demo: Api) -> None:
    ns = "Strata::Test::Glance"
    run(cloud, "admin", "glance", "md-namespace-create", ns, "--display-name", "Test",
        "--visibility", "public", "--description", "made by glance")
    run(cloud, "admin", "glance", "md-property-create", ns, "--name", "speed", "--title",
        "Speed", "--type", "integer", "--schema", '{"minimum": 1}')
    assert "Speed" in run(cloud, "demo", "glance", "md-property-show", ns, "speed")
    run(cloud, "admin", "glance", "md-object-create", ns, "--name", "Box", "--schema",
        json.dumps({"description": "a box", "properties": {
            "width": {"title": "Width", "type": "number"}}, "required": ["width"]}))
    assert "Box" in run(cloud, "demo", "glance", "md-object-list", ns)
    assert "width" in run(cloud, "demo", "glance", "md-object-show", ns, "Box")
    # (glanceclient's --append sends a bool header its own encoder refuses: raw below)
    run(cloud, "admin", "glance", "md-tag-create-multiple", ns, "--names", "a,b")
    run(cloud, "admin", "glance", "md-tag-create", ns, "--name", "solo")
    tags = run(cloud, "demo", "glance", "md-tag-list", ns)
    assert all(t in tags for t in ("solo", "a", "b"))
    run(cloud, "admin", "glance", "md-resource-type-associate", ns, "--name",
        "OS::Glance::Image", "--prefix", "test_")
    run(cloud, "admin", "glance", "md-namespace-update", ns, "--description", "changed")
    shown = expect(demo.request("GET", f"/v2/metadefs/namespaces/{ns}",
                            params={"resource_type": "OS::Glance::Image"}))
    assert shown["description"] == "changed" and set(shown["properties"]) == {"test_speed"}
    assert shown["objects"][0]["required"] == ["test_width"]
    # members are readers of definitions: every change is refused
    refused = cli(cloud, "demo", "glance", "md-namespace-create", "Strata::Test::Nope")
    assert refused.returncode != 0 and "not authorized" in refused.stderr
    assert cli(cloud, "demo", "glance", "md-tag-delete", ns, "solo").returncode != 0
    run(cloud, "admin", "glance", "md-tag-delete", ns, "solo")
    run(cloud, "admin", "glance", "md-namespace-delete", ns)
    error_of(demo.request("GET", f"/v2/metadefs/namespaces/{ns}"), 404)


def test_metadef_calls_carry_exactly_the_documented_fields(admin: Api, demo: Api,
                                                           cloud: ImageCloud) -> None:
    base = "/v2/metadefs/namespaces"
    page = strict.check(expect(demo.request("GET", base, params={"limit": "3"})),
                        strict.NAMESPACES)
    assert len(page["namespaces"]) == 3 and "next" in page
    strict.check(expect(demo.request("GET", page["next"])), strict.NAMESPACES)
    body = {"namespace": "Strata::Strict", "visibility": "private", "protected": True,
            "properties": {"p": {"title": "P", "type": "string", "enum": ["a", "b"]}},
            "objects": [{"name": "O", "properties": {"q": {"title": "Q",
                                                           "type": "boolean"}}}],
            "tags": [{"name": "t"}],
            "resource_type_associations": [{"name": "OS::Nova::Flavor", "prefix": "s:"}]}
    r = admin.request("POST", base, json=body)
    created = strict.check(expect(r, 201), strict.NAMESPACE_CREATED)
    assert r.headers["Location"] == created["self"] == f"{base}/Strata::Strict"
    ns = f"{base}/Strata::Strict"
    detail = strict.check(expect(admin.request("GET", ns)), strict.NAMESPACE_DETAIL)
    assert detail["owner"] == admin.project_id and detail["tags"] == [{"name": "t"}]
    # private: another project does not see it, nor anything in it
    for path in (ns, f"{ns}/objects", f"{ns}/properties/p", f"{ns}/tags"):
        error_of(demo.request("GET", path), 404)
    assert "Strata::Strict" not in [n["namespace"] for n in expect(demo.request(
        "GET", base, params={"limit": "1000"}))["namespaces"]]
    strict.check(expect(admin.request("GET", f"{ns}/objects")), strict.OBJECTS)
    strict.check(expect(admin.request("GET", f"{ns}/objects/O")), strict.OBJECT)
    made = strict.check(expect(admin.request("POST", f"{ns}/objects", json={"name": "O2"}), 201),
                        strict.OBJECT)
    assert made["self"] == f"{ns}/objects/O2"
    strict.check(expect(admin.request("PUT", f"{ns}/objects/O2", json={
        "name": "O3", "description": "renamed"})), strict.OBJECT)
    strict.check(expect(admin.request("GET", f"{ns}/properties")), strict.PROPERTIES)
    strict.check(expect(admin.request("GET", f"{ns}/properties/p")), strict.PROPERTY)
    strict.check(expect(admin.request("POST", f"{ns}/properties", json={
        "name": "p2", "title": "P2", "type": "integer"}), 201), strict.PROPERTY)
    strict.check(expect(admin.request("PUT", f"{ns}/properties/p2", json={
        "name": "p2", "title": "P2", "type": "integer", "minimum": 0})), strict.PROPERTY)
    strict.check(expect(admin.request("GET", f"{ns}/tags")), strict.TAGS)
    strict.check(expect(admin.request("GET", f"{ns}/tags/t")), strict.TAG)
    strict.check(expect(admin.request("POST", f"{ns}/tags/t2"), 201), strict.TAG)
    strict.check(expect(admin.request("PUT", f"{ns}/tags/t2", json={"name": "t3"})), strict.TAG)
    strict.check(expect(admin.request("POST", f"{ns}/tags", json={"tags": [{"name": "x"}]},
                                  headers={"X-Openstack-Append": "True"}), 201), strict.TAGS)
    strict.check(expect(admin.request("GET", "/v2/metadefs/resource_types")),
                 strict.RESOURCE_TYPES)
    strict.check(expect(admin.request("GET", f"{ns}/resource_types")), strict.ASSOCIATIONS)
    strict.check(expect(admin.request("POST", f"{ns}/resource_types", json={
        "name": "OS::Glance::Image", "prefix": "g_"}), 201), strict.ASSOCIATION)
    updated = strict.check(expect(admin.request("PUT", ns, json={
        "namespace": "Strata::Strict", "visibility": "public", "protected": True})),
        strict.NAMESPACE)
    assert updated["visibility"] == "public" and "description" not in updated
    strict.check(expect(demo.request("GET", ns)), strict.NAMESPACE_DETAIL)  # public now
    # protected: nothing in it can be deleted
    for path in (ns, f"{ns}/objects/O", f"{ns}/properties/p", f"{ns}/tags/t",
                 f"{ns}/tags", f"{ns}/objects", f"{ns}/properties",
                 f"{ns}/resource_types/OS::Nova::Flavor"):
        assert "protected" in error_of(admin.request("DELETE", path), 403)
    error_of(admin.request("POST", base, json=body), 409)
    error_of(admin.request("POST", f"{ns}/tags/t"), 409)
    assert "read-only" in error_of(admin.request("POST", f"{ns}/objects", json={
        "name": "X", "self": "/x"}), 403)
    error_of(admin.request("POST", f"{ns}/properties", json={"name": "z", "type": "string"}),
          400)
    error_of(demo.request("POST", f"{ns}/tags/nope"), 403)
    expect(admin.request("PUT", ns, json={"namespace": "Strata::Strict"}))  # unprotected
    expect(admin.request("DELETE", ns), 204)
    error_of(admin.request("GET", ns), 404)
