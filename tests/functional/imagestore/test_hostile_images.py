"""The image corpus through every way into the image service, against a real Strata.

Each valid image (every accepted format) becomes ``active``; each hostile
one (tests/imagecorpus.py: every class of issue 15 and those refused
before) is refused with a 4xx and a reason and leaves nothing but a
``queued`` image: by ``PUT /file``, by the real ``glance`` client reading
standard input, and by the interoperable import (``glance-direct``), whose
task (``GET /v2/images/{id}/tasks``, ``glance image-tasks``) says why.
One cloud serves the whole module.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.imagestore.image_server import Api, ImageCloud, running_cloud
from tests.imagecorpus import DRIVERS, HOSTILE, VALID, Sample, build, qemu_info


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageCloud]:
    with running_cloud(tmp_path_factory) as c:
        yield c


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample]:
    return build(tmp_path_factory.mktemp("corpus"))


def virtual_size(sample: Sample) -> int:
    info, err = qemu_info(sample.path, DRIVERS[sample.disk_format])
    assert info is not None, err
    size = info["virtual-size"]
    assert isinstance(size, int)
    return size


def left_queued(cloud: ImageCloud, demo: Api, image_id: str) -> dict[str, Any]:
    """The image is ``queued`` with no data, and the store holds nothing of it."""
    img = demo.show(image_id)
    assert img["status"] == "queued", img
    assert img["size"] is None and img["checksum"] is None and img["virtual_size"] is None
    assert not [o for o in cloud.service_objects() if image_id in o]
    return img


def wait_import(demo: Api, image_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        img = demo.show(image_id)
        if img["status"] not in ("importing", "uploading") or time.monotonic() > deadline:
            return img
        time.sleep(0.1)


def test_put_file(cloud: ImageCloud, demo: Api, corpus: dict[str, Sample]) -> None:
    for name in (*VALID, *HOSTILE):
        sample = corpus[name]
        iid = demo.create(name=f"put-{name}", disk_format=sample.disk_format)["id"]
        r = demo.upload(iid, sample.path.read_bytes())
        if sample.hostile:
            assert r.status_code == 400, (name, r.status_code, r.text)
            message = r.json()["error"]["message"]
            assert "image rejected" in message or "disk_format" in message, (name, message)
            left_queued(cloud, demo, iid)
        else:
            assert r.status_code == 204, (name, r.text)
            img = demo.show(iid)
            assert img["status"] == "active", (name, img)
            assert img["virtual_size"] == virtual_size(sample), name


def glance(cloud: ImageCloud, *args: str, stdin: bytes | None = None) -> \
        subprocess.CompletedProcess[str]:
    r = subprocess.run(["glance", *args], env=cloud.client_env("demo"), input=stdin,
                       capture_output=True, timeout=180, check=False)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(errors="replace"),
                                       r.stderr.decode(errors="replace"))


def image_id_of(output: str, name: str, demo: Api) -> str:
    found = [i["id"] for i in demo.request("GET", "/v2/images", params={"name": name}
                                           ).json()["images"]]
    assert len(found) == 1, (name, output)
    return str(found[0])


def test_glance_client_from_stdin(cloud: ImageCloud, demo: Api,
                                  corpus: dict[str, Sample]) -> None:
    for name in (*VALID, *HOSTILE):
        sample = corpus[name]
        r = glance(cloud, "image-create", "--name", f"stdin-{name}", "--disk-format",
                   sample.disk_format, "--container-format", "bare",
                   stdin=sample.path.read_bytes())
        iid = image_id_of(r.stdout + r.stderr, f"stdin-{name}", demo)
        if sample.hostile:
            assert r.returncode != 0, (name, r.stdout)
            # glanceclient prints the 400's message: "HTTP image rejected: ..."
            assert "image rejected" in r.stderr or "disk_format" in r.stderr, (name, r.stderr)
            left_queued(cloud, demo, iid)
        else:
            assert r.returncode == 0, (name, r.stderr)
            img = demo.show(iid)
            assert img["status"] == "active" and img["virtual_size"] == virtual_size(sample)


def test_glance_direct_import(cloud: ImageCloud, demo: Api,
                              corpus: dict[str, Sample]) -> None:
    body = {"method": {"name": "glance-direct"}}
    started: dict[str, str] = {}
    for name in (*VALID, *HOSTILE):
        sample = corpus[name]
        iid = demo.create(name=f"import-{name}", disk_format=sample.disk_format)["id"]
        r = demo.request("PUT", f"/v2/images/{iid}/stage", data=sample.path.read_bytes(),
                         headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 204, (name, r.text)
        r = demo.request("POST", f"/v2/images/{iid}/import", json=body)
        assert r.status_code == 202, (name, r.text)
        started[name] = iid
    for name, iid in started.items():
        sample = corpus[name]
        img = wait_import(demo, iid)
        r = demo.request("GET", f"/v2/images/{iid}/tasks")
        assert r.status_code == 200, r.text
        tasks = r.json()["tasks"]
        assert len(tasks) == 1 and tasks[0]["type"] == "api_image_import", tasks
        task = tasks[0]
        assert task["image_id"] == iid and task["owner"] == demo.project_id
        assert task["input"]["import_req"] == body and task["expires_at"]
        if sample.hostile:
            assert img["status"] == "queued", (name, img)
            assert img["os_glance_failed_import"] == "swift"
            assert task["status"] == "failure", (name, task)
            assert "image rejected" in task["message"] or "disk_format" in task["message"]
            left_queued(cloud, demo, iid)
        else:
            assert img["status"] == "active", (name, img, task)
            assert task["status"] == "success" and task["message"] == ""
            assert task["result"] == {"image_id": iid}
            assert img["virtual_size"] == virtual_size(sample), name


def test_the_glance_client_shows_why_an_import_failed(cloud: ImageCloud, demo: Api,
                                                      corpus: dict[str, Sample]) -> None:
    sample = corpus["vmdk-createtype-in-comment"]
    r = glance(cloud, "image-create-via-import", "--name", "via-import", "--disk-format",
               "vmdk", "--container-format", "bare", "--import-method", "glance-direct",
               stdin=sample.path.read_bytes())
    assert r.returncode == 0, r.stderr
    iid = image_id_of(r.stdout, "via-import", demo)
    assert wait_import(demo, iid)["status"] == "queued"
    r = glance(cloud, "image-tasks", iid)  # the client checks for v2.12 in /versions
    assert r.returncode == 0, r.stderr
    assert "failure" in r.stdout and "createType" in r.stdout, r.stdout
    r = glance(cloud, "image-tasks", "00000000-0000-0000-0000-000000000000")
    assert r.returncode != 0 and "not found" in (r.stderr + r.stdout)


def test_a_project_sees_only_its_own_tasks_of_an_image(cloud: ImageCloud, demo: Api,
                                                      corpus: dict[str, Sample]) -> None:
    """Glance's task visibility: another project that sees the image sees none of the
    owner's tasks; an unknown image is 404."""
    iid = demo.create(name="public-one", visibility="community", disk_format="qcow2")["id"]
    assert demo.request("PUT", f"/v2/images/{iid}/stage",
                        data=corpus["qcow2-backing-absolute"].path.read_bytes(),
                        headers={"Content-Type": "application/octet-stream"}
                        ).status_code == 204
    assert demo.request("POST", f"/v2/images/{iid}/import",
                        json={"method": {"name": "glance-direct"}}).status_code == 202
    wait_import(demo, iid)
    assert len(demo.request("GET", f"/v2/images/{iid}/tasks").json()["tasks"]) == 1
    admin = cloud.api("admin")
    assert len(admin.request("GET", f"/v2/images/{iid}/tasks").json()["tasks"]) == 1
    cloud.add_third_user()
    third = cloud.api("third")
    r = third.request("GET", f"/v2/images/{iid}/tasks")
    assert r.status_code == 200 and r.json() == {"tasks": []}
    assert third.request("GET", "/v2/images/nope/tasks").status_code == 404
