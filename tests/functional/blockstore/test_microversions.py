"""Microversion-exact answers of a real block store (``strata up -d``), checked with strict
JSON schemas (exactly the fields of the microversion asked for: every one required,
no other allowed) built from ``api_spec``: each view at 3.0, the latest, every
version that adds a field and the one before it, for a member and an admin; the
attachments API at the microversions Nova uses; routes that a microversion brings
(404 before it); and Cinder's errors for bad filters and sort keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from tests.functional.blockstore import api_spec
from tests.functional.blockstore.volume_server import (
    INITIATOR,
    VolumeApi,
    VolumeCloud,
    as_admin_in,
    volume_cloud,
)

Version = tuple[int, int]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VolumeCloud]:
    with volume_cloud(tmp_path_factory) as c:
        c.add_third_user()
        admin = c.volumes("admin")
        for who in ("demo", "admin", "third"):  # room for the many volumes made here
            project = c.volumes(who).project_id
            r = admin.request("PUT", f"/os-quota-sets/{project}", json={"quota_set": {
                "volumes": -1, "snapshots": -1, "gigabytes": -1}})
            assert r.status_code == 200, r.text
        yield c


def ver(v: Version) -> str:
    return f"{v[0]}.{v[1]}"


class Checker:
    """Collects every answer that is not exactly its microversion's schema."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def check(self, spec: api_spec.Spec, call: str, version: Version, admin: bool,
              body: dict[str, Any]) -> None:
        schema = api_spec.schema(spec, call, version, admin)
        if not jsonschema.Draft7Validator(schema).is_valid(body):
            self.failures.append(api_spec.mismatch(spec, call, version, admin, body)
                                 or f"{call} at {ver(version)}: schema refused {body}")

    def done(self) -> None:
        assert not self.failures, "\n".join(self.failures)


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.status_code} {r.text}"
    return r.json() if r.content else None


def test_volume_views_follow_the_microversion(demo: VolumeApi, admin: VolumeApi) -> None:
    c, spec = Checker(), api_spec.VOLUME
    made: list[tuple[VolumeApi, str]] = []
    for version in spec.versions():
        v = ver(version)
        for api, is_admin in ((demo, False), (as_admin_in(admin, demo), True)):
            name = f"mv-{v}-{is_admin}"
            body = ok(api.request("POST", "/volumes", version=v, json={"volume": {
                "size": 1, "name": name}}), 202)["volume"]
            made.append((api, body["id"]))
            c.check(spec, "create", version, is_admin, body)
            api.wait(body["id"])
            c.check(spec, "show", version, is_admin,
                    ok(api.request("GET", f"/volumes/{body['id']}", version=v))["volume"])
            c.check(spec, "update", version, is_admin, ok(api.request(
                "PUT", f"/volumes/{body['id']}", version=v,
                json={"volume": {"description": "d"}}))["volume"])
            for call, path in (("detail", "/volumes/detail"), ("list", "/volumes")):
                (listed,) = ok(api.request("GET", path, version=v,
                                           params={"name": name}))["volumes"]
                c.check(spec, call, version, is_admin, listed)
    for api, vid in made:
        assert api.request("DELETE", f"/volumes/{vid}").status_code == 202
    c.done()


def test_snapshot_views_follow_the_microversion(demo: VolumeApi, admin: VolumeApi) -> None:
    c, spec = Checker(), api_spec.SNAPSHOT
    vid = demo.create(size=1, name="snap-source")["id"]
    made = []
    for version in spec.versions():
        v = ver(version)
        for api, is_admin in ((demo, False), (as_admin_in(admin, demo), True)):
            name = f"ms-{v}-{is_admin}"
            body = ok(api.request("POST", "/snapshots", version=v, json={"snapshot": {
                "volume_id": vid, "name": name}}), 202)["snapshot"]
            made.append(body["id"])
            c.check(spec, "create", version, is_admin, body)
            api.wait(body["id"], "snapshots")
            c.check(spec, "show", version, is_admin, ok(api.request(
                "GET", f"/snapshots/{body['id']}", version=v))["snapshot"])
            c.check(spec, "update", version, is_admin, ok(api.request(
                "PUT", f"/snapshots/{body['id']}", version=v,
                json={"snapshot": {"description": "d"}}))["snapshot"])
            for call, path in (("detail", "/snapshots/detail"), ("list", "/snapshots")):
                (listed,) = ok(api.request("GET", path, version=v, params={
                    "name": name, "all_tenants": "1"}))["snapshots"]
                c.check(spec, call, version, is_admin, listed)
    for sid in made:
        assert demo.request("DELETE", f"/snapshots/{sid}").status_code == 202
    for sid in made:
        demo.wait_gone(sid, "snapshots")
    assert demo.request("DELETE", f"/volumes/{vid}").status_code == 202
    c.done()


def test_volume_type_views_hide_qos_specs_id_but_on_show_and_list(
        demo: VolumeApi, admin: VolumeApi) -> None:
    c, spec = Checker(), api_spec.VOLUME_TYPE
    for version in [(3, 0), api_spec.LATEST]:
        v = ver(version)
        body = ok(admin.request("POST", "/types", version=v, json={"volume_type": {
            "name": f"mt-{v}", "extra_specs": {"volume_backend_name": "file"}}}))["volume_type"]
        c.check(spec, "create", version, True, body)
        c.check(spec, "update", version, True, ok(admin.request(
            "PUT", f"/types/{body['id']}", version=v,
            json={"volume_type": {"description": "d"}}))["volume_type"])
        for api, is_admin in ((admin, True), (demo, False)):
            shown = ok(api.request("GET", f"/types/{body['id']}", version=v))["volume_type"]
            c.check(spec, "show", version, is_admin, shown)
            assert shown["extra_specs"] == ({"volume_backend_name": "file"} if is_admin
                                            else {})
            listed = [t for t in ok(api.request("GET", "/types", version=v))["volume_types"]
                      if t["id"] == body["id"]]
            c.check(spec, "list", version, is_admin, listed[0])
        assert admin.request("DELETE", f"/types/{body['id']}").status_code == 202
    c.done()


def test_services_follow_the_microversion(admin: VolumeApi) -> None:
    c = Checker()
    for version in sorted(set(api_spec.SERVICE_VOLUME.versions())
                          | set(api_spec.SERVICE_SCHEDULER.versions())):
        services = ok(admin.request("GET", "/os-services", version=ver(version)))["services"]
        by_binary = {s["binary"]: s for s in services}
        assert set(by_binary) == {"cinder-scheduler", "cinder-volume"}
        c.check(api_spec.SERVICE_SCHEDULER, "list", version, True,
                by_binary["cinder-scheduler"])
        c.check(api_spec.SERVICE_VOLUME, "list", version, True, by_binary["cinder-volume"])
    c.done()
    r = admin.request("GET", "/os-services", params={"binary": "cinder-volume"})
    assert [s["binary"] for s in ok(r)["services"]] == ["cinder-volume"]


def test_transfer_views_follow_the_microversion(cloud: VolumeCloud, demo: VolumeApi) -> None:
    c, spec = Checker(), api_spec.TRANSFER
    third = cloud.volumes("third")
    for version in spec.versions():
        v = ver(version)
        path = "/volume-transfers" if version >= (3, 55) else "/os-volume-transfer"
        vid = demo.create(size=1, name=f"tr-{v}")["id"]
        body = ok(demo.request("POST", path, version=v, json={"transfer": {
            "volume_id": vid, "name": f"t-{v}"}}), 202)["transfer"]
        c.check(spec, "create", version, False, body)
        c.check(spec, "show", version, False,
                ok(demo.request("GET", f"{path}/{body['id']}", version=v))["transfer"])
        for call, sub in (("detail", "/detail"), ("list", "")):
            listed = [t for t in ok(demo.request("GET", path + sub, version=v))["transfers"]
                      if t["id"] == body["id"]]
            c.check(spec, call, version, False, listed[0])
        accepted = ok(third.request("POST", f"{path}/{body['id']}/accept", version=v,
                                    json={"accept": {"auth_key": body["auth_key"]}}), 202)
        c.check(spec, "accept", version, False, accepted["transfer"])
        assert third.request("DELETE", f"/volumes/{vid}").status_code == 202
    c.done()
    # /volume-transfers is 3.55+
    r = demo.request("GET", "/volume-transfers", version="3.54")
    assert r.status_code == 404 and "itemNotFound" in r.json()


def test_attachments_at_the_microversions_nova_uses(demo: VolumeApi) -> None:
    """Nova reserves (3.27: no connector), updates with its connector, completes (3.44)
    and deletes; it asks for a read-only attachment with ``mode`` (3.54)."""
    c, spec = Checker(), api_spec.ATTACHMENT
    instance = "33333333-4444-5555-6666-777777777777"
    connector = {"initiator": INITIATOR, "ip": "127.0.0.1", "host": "compute-1"}
    vid = demo.create(size=1, name="nova-versions")["id"]
    for version in ((3, 27), (3, 43), (3, 44), (3, 53), (3, 54), api_spec.LATEST):
        v = ver(version)
        body = ok(demo.request("POST", "/attachments", version=v, json={"attachment": {
            "volume_uuid": vid, "instance_uuid": instance, "mode": "ro"}}))["attachment"]
        c.check(spec, "create", version, False, body)
        assert body["status"] == "reserved" and demo.show(vid)["status"] == "reserved"
        # mode is taken from 3.54; before, the attachment is read-write
        assert body["attach_mode"] == ("ro" if version >= (3, 54) else "rw"), v
        updated = ok(demo.request("PUT", f"/attachments/{body['id']}", version=v,
                                  json={"attachment": {"connector": connector}}))["attachment"]
        c.check(spec, "update", version, False, updated)
        assert updated["connection_info"]["driver_volume_type"] == "iscsi"
        c.check(spec, "show", version, False, ok(demo.request(
            "GET", f"/attachments/{body['id']}", version=v))["attachment"])
        for call, path in (("list", "/attachments"), ("detail", "/attachments/detail")):
            (listed,) = ok(demo.request("GET", path, version=v,
                                        params={"volume_id": vid}))["attachments"]
            c.check(spec, call, version, False, listed)
        r = demo.request("POST", f"/attachments/{body['id']}/action", version=v,
                         json={"os-complete": None})
        if version >= (3, 44):
            assert r.status_code == 204, r.text
            assert demo.show(vid)["status"] == "in-use"
        else:
            assert r.status_code == 404 and "itemNotFound" in r.json(), r.text
        left = ok(demo.request("DELETE", f"/attachments/{body['id']}", version=v))
        assert left == {"attachments": []}
        assert demo.show(vid)["status"] == "available"
    c.done()
    r = demo.request("GET", "/attachments", version="3.26")
    assert r.status_code == 404 and "itemNotFound" in r.json()
    assert demo.request("DELETE", f"/volumes/{vid}").status_code == 202


@pytest.mark.parametrize(("path", "first"), [
    ("/attachments", "3.27"), ("/messages", "3.3"), ("/groups", "3.13"),
    ("/group_types", "3.11"), ("/group_snapshots", "3.14"), ("/volumes/summary", "3.12"),
    ("/manageable_volumes?host=x", "3.8"), ("/volume-transfers", "3.55"),
])
def test_routes_a_microversion_brings_are_404_before_it(demo: VolumeApi, admin: VolumeApi,
                                                        path: str, first: str) -> None:
    api = admin if path.startswith("/manageable") else demo
    major, minor = first.split(".")
    before = f"{major}.{int(minor) - 1}"
    r = api.request("GET", path, version=before)
    assert r.status_code == 404 and "itemNotFound" in r.json(), r.text
    r = api.request("GET", path, version=first)
    assert r.status_code in (200, 404), r.text  # 404 only: the manageable host is not ours
    if path.startswith("/manageable"):
        assert "Service host" in r.json()["itemNotFound"]["message"]


def test_volume_summary(demo: VolumeApi) -> None:
    vid = demo.create(size=2, name="summed", metadata={"tier": "gold"})["id"]
    r = ok(demo.request("GET", "/volumes/summary", version="3.12"))["volume-summary"]
    assert set(r) == {"total_count", "total_size"} and r["total_count"] >= 1
    r = ok(demo.request("GET", "/volumes/summary", version="3.36"))["volume-summary"]
    assert set(r) == {"total_count", "total_size", "metadata"}
    assert r["metadata"]["tier"] == ["gold"]
    assert demo.request("DELETE", f"/volumes/{vid}").status_code == 202


# -- Cinder's errors ----------------------------------------------------------------------


def test_snapshot_of_a_null_volume_is_404_and_of_none_400(demo: VolumeApi) -> None:
    r = demo.request("POST", "/snapshots", json={"snapshot": {"volume_id": None}})
    assert r.status_code == 404 and "itemNotFound" in r.json(), r.text
    r = demo.request("POST", "/snapshots", json={"snapshot": {"name": "no volume"}})
    assert r.status_code == 400 and "volume_id" in r.json()["badRequest"]["message"]


@pytest.mark.parametrize(("path", "version"), [
    ("/volumes", "3.0"), ("/volumes/detail", "3.70"), ("/snapshots", "3.0"),
    ("/snapshots/detail", "3.70"), ("/attachments", "3.27"), ("/os-volume-transfer", "3.0"),
    ("/volume-transfers", "3.59"), ("/messages", "3.5"), ("/groups", "3.13"),
    ("/group_snapshots", "3.14"), ("/group_types", "3.11"), ("/types", "3.0"),
    ("/backups", "3.0"),
])
def test_an_invalid_sort_key_is_400(demo: VolumeApi, path: str, version: str) -> None:
    r = demo.request("GET", path, version=version, params={"sort_key": "no_such_key"})
    assert r.status_code == 400, r.text
    assert "sort key" in r.json()["badRequest"]["message"]
    r = demo.request("GET", path, version=version, params={"sort": "no_such_key:asc"})
    assert r.status_code == 400, r.text


def test_sort_keys_a_microversion_brings(demo: VolumeApi) -> None:
    assert demo.request("GET", "/snapshots", version="3.29",
                        params={"sort": "name:asc"}).status_code == 400
    assert demo.request("GET", "/snapshots", version="3.30",
                        params={"sort": "name:asc"}).status_code == 200


def test_bootable_filter_from_3_2(demo: VolumeApi) -> None:
    assert demo.request("GET", "/volumes", version="3.1",
                        params={"bootable": "maybe"}).status_code == 200
    r = demo.request("GET", "/volumes", version="3.2", params={"bootable": "maybe"})
    assert r.status_code == 400 and "bootable" in r.json()["badRequest"]["message"]


def test_requests_are_echoed_their_microversion(demo: VolumeApi) -> None:
    for v in ("3.0", "3.27", "3.70"):
        r = demo.request("GET", "/volumes", version=v)
        assert r.headers["OpenStack-API-Version"] == f"volume {v}"
    r = demo.request("GET", "/volumes", headers={"OpenStack-API-Version": ""})
    assert r.headers["OpenStack-API-Version"] == "volume 3.0"
