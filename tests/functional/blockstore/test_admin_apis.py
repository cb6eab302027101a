"""The block store's admin APIs on a real Strata (``strata up -d``), driven by the real
clients where they cover them (``openstack volume qos ...``, ``openstack volume type
... --private/--project``, ``cinder get-pools``) and by raw HTTP with strict schemas:
QoS specs, back-end pools, hosts, extensions, quota class sets, private volume
types, and quotas (every key shown may be set, and is enforced)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from tests.functional.blockstore import api_spec
from tests.functional.blockstore.volume_server import (
    VolumeApi,
    VolumeCloud,
    cli,
    osc,
    volume_cloud,
)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VolumeCloud]:
    with volume_cloud(tmp_path_factory) as c:
        c.add_third_user()
        yield c


def strict(spec: api_spec.Spec, call: str, body: Any, *, admin: bool = True,
           version: tuple[int, int] = api_spec.LATEST) -> None:
    jsonschema.validate(body, api_spec.schema(spec, call, version, admin))


# -- QoS specs ------------------------------------------------------------------------


def test_qos_specs_with_the_openstack_client(cloud: VolumeCloud, admin: VolumeApi) -> None:
    made = osc(cloud, "admin", "volume", "qos", "create", "--consumer", "front-end",
               "--property", "read_iops_sec=2000", "silver")
    assert made["consumer"] == "front-end" and made["properties"] == {"read_iops_sec": "2000"}
    vtype = osc(cloud, "admin", "volume", "type", "create", "silver-type")
    assert cli(cloud, "admin", "openstack", "volume", "qos", "set", "--property",
               "write_iops_sec=1000", "silver").returncode == 0
    assert cli(cloud, "admin", "openstack", "volume", "qos", "associate", "silver",
               "silver-type").returncode == 0
    shown = osc(cloud, "admin", "volume", "qos", "show", "silver")
    assert shown["associations"] == ["silver-type"]
    assert shown["properties"] == {"read_iops_sec": "2000", "write_iops_sec": "1000"}
    # the type shows its QoS spec (admins, show and list: not in create's answer)
    r = admin.request("GET", f"/types/{vtype['id']}")
    assert r.json()["volume_type"]["qos_specs_id"] == made["id"]
    # raw: the views and the association list
    for version in ((3, 0), api_spec.LATEST):
        v = f"{version[0]}.{version[1]}"
        body = admin.request("GET", f"/qos-specs/{made['id']}", version=v).json()
        assert set(body) == {"qos_specs", "links"}
        strict(api_spec.QOS_SPECS, "show", body["qos_specs"], version=version)
        for spec in admin.request("GET", "/qos-specs", version=v).json()["qos_specs"]:
            strict(api_spec.QOS_SPECS, "list", spec, version=version)
    r = admin.request("GET", f"/qos-specs/{made['id']}/associations")
    assert r.json() == {"qos_associations": [
        {"association_type": "volume_type", "name": "silver-type", "id": vtype["id"]}]}
    # a type has at most one QoS spec; in use, a spec is deleted only with force
    other = admin.request("POST", "/qos-specs", json={"qos_specs": {"name": "bronze"}})
    assert other.status_code == 200, other.text
    bronze = other.json()["qos_specs"]
    assert bronze["consumer"] == "back-end" and bronze["specs"] == {}
    r = admin.request("GET", f"/qos-specs/{bronze['id']}/associate",
                      params={"vol_type_id": vtype["id"]})
    assert r.status_code == 400 and "already associated" in r.json()["badRequest"]["message"]
    r = admin.request("DELETE", f"/qos-specs/{made['id']}")
    assert r.status_code == 400 and "in use" in r.json()["badRequest"]["message"]
    assert cli(cloud, "admin", "openstack", "volume", "qos", "unset", "--property",
               "read_iops_sec", "silver").returncode == 0
    assert osc(cloud, "admin", "volume", "qos", "show", "silver")["properties"] == {
        "write_iops_sec": "1000"}
    r = admin.request("DELETE", f"/qos-specs/{made['id']}", params={"force": "true"})
    assert r.status_code == 202, r.text
    assert admin.request("GET", f"/types/{vtype['id']}").json()["volume_type"][
        "qos_specs_id"] is None
    assert cli(cloud, "admin", "openstack", "volume", "qos", "delete", "bronze").returncode == 0


def test_qos_specs_bad_input_and_policy(demo: VolumeApi, admin: VolumeApi) -> None:
    r = demo.request("POST", "/qos-specs", json={"qos_specs": {"name": "mine"}})
    assert r.status_code == 403 and "forbidden" in r.json()
    assert demo.request("GET", "/qos-specs").status_code == 403
    for body in ({"name": ""}, {"name": "x", "consumer": "anywhere"},
                 {"name": "x", "iops": ["not", "a", "string"]}):
        r = admin.request("POST", "/qos-specs", json={"qos_specs": body})
        assert r.status_code == 400 and "badRequest" in r.json(), body
    r = admin.request("POST", "/qos-specs", json={"qos_specs": {"name": "dup"}})
    assert r.status_code == 200
    qid = r.json()["qos_specs"]["id"]
    r = admin.request("POST", "/qos-specs", json={"qos_specs": {"name": "dup"}})
    assert r.status_code == 409 and "conflictingRequest" in r.json()
    r = admin.request("PUT", f"/qos-specs/{qid}/delete_keys", json={"keys": ["missing"]})
    assert r.status_code == 404
    r = admin.request("GET", f"/qos-specs/{qid}/associate")
    assert r.status_code == 400 and "Volume Type id" in r.json()["badRequest"]["message"]
    r = admin.request("GET", f"/qos-specs/{qid}/associate", params={"vol_type_id": "nope"})
    assert r.status_code == 404
    assert admin.request("GET", "/qos-specs/00000000-no").status_code == 404
    assert admin.request("DELETE", f"/qos-specs/{qid}").status_code == 202
    assert admin.request("GET", f"/qos-specs/{qid}").status_code == 404


# -- pools, hosts, extensions -----------------------------------------------------------


def test_get_pools_with_the_cinder_client(cloud: VolumeCloud, demo: VolumeApi,
                                          admin: VolumeApi) -> None:
    r = cli(cloud, "admin", "cinder", "get-pools")
    assert r.returncode == 0, r.stderr
    assert "127.0.0.1@file#file" in r.stdout
    r = cli(cloud, "admin", "cinder", "get-pools", "--detail")
    assert r.returncode == 0, r.stderr
    for word in ("total_capacity_gb", "free_capacity_gb", "storage_protocol", "iSCSI",
                 "volume_backend_name"):
        assert word in r.stdout, r.stdout
    for version in ((3, 0), api_spec.LATEST):
        v = f"{version[0]}.{version[1]}"
        brief = admin.request("GET", "/scheduler-stats/get_pools", version=v).json()
        (pool,) = brief["pools"]
        strict(api_spec.POOL, "list", pool, version=version)
        detail = admin.request("GET", "/scheduler-stats/get_pools", version=v,
                               params={"detail": "true"})
        (pool,) = detail.json()["pools"]
        strict(api_spec.POOL, "detail", pool, version=version)
    caps = pool["capabilities"]
    assert caps["total_capacity_gb"] >= caps["free_capacity_gb"] > 0
    assert caps["storage_protocol"] == "iSCSI" and caps["volume_backend_name"] == "file"
    # filters (3.28 name, 3.35 volume type)
    r = admin.request("GET", "/scheduler-stats/get_pools", params={"name": "elsewhere"})
    assert r.json()["pools"] == []
    r = admin.request("GET", "/scheduler-stats/get_pools", version="3.27",
                      params={"name": "elsewhere"})
    assert len(r.json()["pools"]) == 1
    r = admin.request("GET", "/scheduler-stats/get_pools",
                      params={"volume_type": "__DEFAULT__"})
    assert len(r.json()["pools"]) == 1
    r = demo.request("GET", "/scheduler-stats/get_pools")
    assert r.status_code == 403


def test_hosts(demo: VolumeApi, admin: VolumeApi) -> None:
    vid = demo.create(size=1, name="hosted")["id"]
    for version in ((3, 0), api_spec.LATEST):
        r = admin.request("GET", "/os-hosts", version=f"{version[0]}.{version[1]}")
        assert r.status_code == 200, r.text
        hosts = r.json()["hosts"]
        for h in hosts:
            strict(api_spec.HOST, "list", h, version=version)
    assert {h["service"] for h in hosts} == {"cinder-scheduler", "cinder-volume"}
    volume_host = next(h["host_name"] for h in hosts if h["service"] == "cinder-volume")
    r = admin.request("GET", f"/os-hosts/{volume_host}")
    assert r.status_code == 200, r.text
    resources = [e["resource"] for e in r.json()["host"]]
    total = resources[0]
    assert total["project"] == "(total)" and int(total["volume_count"]) >= 1
    mine = next(e for e in resources if e["project"] == demo.project_id)
    assert int(mine["total_volume_gb"]) >= 1
    assert admin.request("GET", "/os-hosts/no-such-host").status_code == 404
    assert demo.request("GET", "/os-hosts").status_code == 403
    assert admin.request("GET", "/os-hosts", params={"zone": "elsewhere"}).json() == {
        "hosts": []}
    assert demo.request("DELETE", f"/volumes/{vid}").status_code == 202


def test_extensions(demo: VolumeApi) -> None:
    r = demo.request("GET", "/extensions")
    assert r.status_code == 200, r.text
    exts = r.json()["extensions"]
    aliases = {e["alias"] for e in exts}
    assert {"os-hosts", "qos-specs", "os-quota-class-sets", "os-volume-type-access",
            "scheduler-stats", "os-volume-manage", "os-snapshot-manage"} <= aliases
    for e in exts:
        assert set(e) == {"alias", "name", "description", "links", "namespace", "updated"}


# -- quota class sets and quotas ----------------------------------------------------------


def test_quota_class_sets_set_every_projects_defaults(cloud: VolumeCloud, demo: VolumeApi,
                                                      admin: VolumeApi) -> None:
    third = cloud.volumes("third")
    r = admin.request("GET", "/os-quota-class-sets/default")
    assert r.status_code == 200, r.text
    cls = r.json()["quota_class_set"]
    assert cls["id"] == "default" and cls["volumes"] == 10 and cls["groups"] == 10
    assert "per_volume_gigabytes" in cls and "volumes___DEFAULT__" in cls
    r = admin.request("PUT", "/os-quota-class-sets/default", json={"quota_class_set": {
        "volumes": 3, "not_a_quota": 5}})
    assert r.status_code == 200, r.text
    assert r.json()["quota_class_set"]["volumes"] == 3 and "id" not in r.json()[
        "quota_class_set"]
    # a project without limits of its own now starts from the class
    r = third.request("GET", f"/os-quota-sets/{third.project_id}/defaults")
    assert r.json()["quota_set"]["volumes"] == 3
    assert third.request("GET", f"/os-quota-sets/{third.project_id}").json()[
        "quota_set"]["volumes"] == 3
    r = admin.request("PUT", "/os-quota-class-sets/default",
                      json={"quota_class_set": {"volumes": "many"}})
    assert r.status_code == 400
    assert demo.request("GET", "/os-quota-class-sets/default").status_code == 403
    assert demo.request("PUT", "/os-quota-class-sets/default",
                        json={"quota_class_set": {"volumes": 99}}).status_code == 403
    r = admin.request("PUT", "/os-quota-class-sets/default",
                      json={"quota_class_set": {"volumes": 10}})
    assert r.status_code == 200


def test_every_quota_key_may_be_set_and_is_enforced(cloud: VolumeCloud,
                                                    admin: VolumeApi) -> None:
    third = cloud.volumes("third")
    p = third.project_id
    r = admin.request("POST", "/types", json={"volume_type": {"name": "metered"}})
    assert r.status_code == 200, r.text
    type_id = r.json()["volume_type"]["id"]
    shown = third.request("GET", f"/os-quota-sets/{p}").json()["quota_set"]
    keys = set(shown) - {"id"}
    assert {"volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes",
            "per_volume_gigabytes", "groups", "volumes_metered", "gigabytes_metered",
            "snapshots_metered"} <= keys
    r = admin.request("PUT", f"/os-quota-sets/{p}",
                      json={"quota_set": {k: 7 for k in keys}})
    assert r.status_code == 200, r.text
    assert all(r.json()["quota_set"][k] == 7 for k in keys)
    assert "id" not in r.json()["quota_set"]
    usage = third.request("GET", f"/os-quota-sets/{p}", params={"usage": "true"}).json()
    for k in keys:
        assert set(usage["quota_set"][k]) == {"limit", "in_use", "reserved"}, k
    r = admin.request("PUT", f"/os-quota-sets/{p}", json={"quota_set": {
        "per_volume_gigabytes": 2, "volumes_metered": 2, "gigabytes_metered": 3,
        "snapshots_metered": 0, "groups": 0}})
    assert r.status_code == 200, r.text

    def over(r: Any, quota: str) -> None:
        assert r.status_code == 413, r.text
        assert f"'{quota}'" in r.json()["overLimit"]["message"] or \
            f" {quota} quota" in r.json()["overLimit"]["message"], r.text

    def metered(size: int) -> Any:
        return third.request("POST", "/volumes", json={"volume": {
            "size": size, "volume_type": "metered"}})

    over(third.request("POST", "/volumes", json={"volume": {"size": 3}}),
         "per_volume_gigabytes")
    vol = third.create(size=2, volume_type="metered")
    over(metered(2), "gigabytes_metered")
    over(third.action(vol["id"], "os-extend", {"new_size": 3}), "per_volume_gigabytes")
    assert admin.request("PUT", f"/os-quota-sets/{p}", json={"quota_set": {
        "volumes_metered": 1, "gigabytes_metered": 10}}).status_code == 200
    over(metered(1), "volumes_metered")
    over(third.request("POST", "/snapshots", json={"snapshot": {"volume_id": vol["id"]}}),
         "snapshots_metered")
    r = admin.request("POST", "/group_types", version="3.11",
                      json={"group_type": {"name": "quota-gt"}})
    assert r.status_code == 200, r.text
    group_type_id = r.json()["group_type"]["id"]
    over(third.request("POST", "/groups", version="3.13", json={"group": {
        "group_type": "quota-gt", "volume_types": ["metered"]}}), "groups")
    # a limit below what is used is refused, others keep their value
    r = admin.request("PUT", f"/os-quota-sets/{p}", json={"quota_set": {
        "volumes_metered": 0, "snapshots": 5}})
    assert r.status_code == 400 and "volumes_metered" in r.json()["badRequest"]["message"]
    assert third.request("GET", f"/os-quota-sets/{p}").json()["quota_set"]["snapshots"] == 7
    for bad in ({"no_such_quota": 1}, {"volumes": -2}, {"volumes": True}):
        r = admin.request("PUT", f"/os-quota-sets/{p}", json={"quota_set": bad})
        assert r.status_code == 400, bad
    assert third.request("DELETE", f"/volumes/{vol['id']}").status_code == 202
    third.wait_gone(vol["id"])
    assert admin.request("DELETE", f"/os-quota-sets/{p}").status_code == 200
    assert third.request("GET", f"/os-quota-sets/{p}").json()["quota_set"][
        "per_volume_gigabytes"] == -1
    assert admin.request("DELETE", f"/types/{type_id}").status_code == 202
    assert admin.request("DELETE", f"/group_types/{group_type_id}",
                         version="3.11").status_code == 202


# -- private volume types -----------------------------------------------------------------


def test_private_volume_types_with_the_openstack_client(cloud: VolumeCloud, demo: VolumeApi,
                                                        admin: VolumeApi) -> None:
    third = cloud.volumes("third")
    made = osc(cloud, "admin", "volume", "type", "create", "--private", "--project", "demo",
               "hidden")
    assert made["is_public"] is False
    # demo sees it and may use it; third does not even see it
    assert "hidden" in [t["Name"] for t in osc(cloud, "demo", "volume", "type", "list")]
    assert "hidden" not in [t["Name"] for t in osc(cloud, "third", "volume", "type", "list")]
    vol = demo.create(size=1, volume_type="hidden")
    assert vol["volume_type"] == "hidden"
    r = third.request("POST", "/volumes", json={"volume": {"size": 1, "volume_type": "hidden"}})
    assert r.status_code == 404 and "hidden" in r.json()["itemNotFound"]["message"]
    assert third.request("GET", f"/types/{made['id']}").status_code == 404
    # shared with third too, then no more
    assert cli(cloud, "admin", "openstack", "volume", "type", "set", "--project", "third",
               "hidden").returncode == 0
    shown = osc(cloud, "admin", "volume", "type", "show", "hidden")
    assert set(shown["access_project_ids"]) == {demo.project_id, third.project_id}
    assert third.request("GET", f"/types/{made['id']}").status_code == 200
    r = admin.request("GET", f"/types/{made['id']}/os-volume-type-access")
    assert sorted(a["project_id"] for a in r.json()["volume_type_access"]) == sorted(
        [demo.project_id, third.project_id])
    assert cli(cloud, "admin", "openstack", "volume", "type", "unset", "--project", "third",
               "hidden").returncode == 0
    assert third.request("GET", f"/types/{made['id']}").status_code == 404
    # listing filters (admins): public (the default), private, all
    names = lambda **q: [t["name"] for t in admin.request(  # noqa: E731
        "GET", "/types", params=q).json()["volume_types"]]
    assert "hidden" not in names() and "hidden" in names(is_public="false")
    assert "__DEFAULT__" not in names(is_public="false")
    assert {"hidden", "__DEFAULT__"} <= set(names(is_public="none"))
    # bad requests
    action = f"/types/{made['id']}/action"
    r = admin.request("POST", action, json={"addProjectAccess": {"project": demo.project_id}})
    assert r.status_code == 409
    r = admin.request("POST", action, json={"removeProjectAccess": {"project": "nobody"}})
    assert r.status_code == 404
    r = admin.request("POST", action, json={"addProjectAccess": {}})
    assert r.status_code == 400
    r = demo.request("POST", action, json={"addProjectAccess": {"project": "x"}})
    assert r.status_code == 403
    default = admin.request("GET", "/types/default").json()["volume_type"]["id"]
    assert admin.request("GET", f"/types/{default}/os-volume-type-access").status_code == 404
    assert demo.request("DELETE", f"/volumes/{vol['id']}").status_code == 202
    demo.wait_gone(vol["id"])
    assert cli(cloud, "admin", "openstack", "volume", "type", "delete",
               "hidden").returncode == 0
