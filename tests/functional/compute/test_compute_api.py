"""The compute API with a real cloud whose hypervisor is the in-memory reference driver:
every rule but the guest itself (images are fetched and overlays made for real, ports
made on the networking service, volumes attached through the block store), so the
API's microversions, errors, quotas, scheduling and states are checked fast. Real
guests boot in ``test_compute_guests.py``."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import datetime
from typing import Any

import aiohttp
import pytest
import requests

from compute.virt import configdrive
from tests.cloud import strata
from tests.functional.compute.compute_server import (
    ED25519,
    NANO,
    ComputeCloud,
    Nova,
    instance_files,
)


@pytest.fixture(scope="module")
def cloud(memory_cloud: ComputeCloud) -> ComputeCloud:
    return memory_cloud


def boot(cloud: ComputeCloud, nova: Nova, name: str, **server: Any) -> dict[str, Any]:
    made = nova.create(**{"name": name, "imageRef": cloud.tiny, "flavorRef": NANO, **server})
    return nova.wait(made["id"], "ACTIVE", within=120)


# -- versions, microversions, errors ---------------------------------------------------------


def test_version_discovery_and_microversion_headers(cloud: ComputeCloud, demo: Nova) -> None:
    root = demo.request("GET", "/", token="")
    assert root.status_code == 200
    assert [v["id"] for v in root.json()["versions"]] == ["v2.1"]
    v21 = demo.request("GET", "/v2.1", token="").json()["version"]
    assert (v21["min_version"], v21["version"], v21["status"]) == ("2.1", "2.79", "CURRENT")
    r = demo.call("GET", "/flavors", version="2.53")
    assert r.headers["OpenStack-API-Version"] == "compute 2.53"
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.53"
    assert "OpenStack-API-Version" in r.headers["Vary"]
    assert demo.call("GET", "/flavors", version=None).headers[
        "OpenStack-API-Version"] == "compute 2.1"
    assert demo.call("GET", "/flavors", version="latest").headers[
        "X-OpenStack-Nova-API-Version"] == "2.79"
    legacy = demo.request("GET", "/v2.1/flavors",
                          headers={"X-OpenStack-Nova-API-Version": "2.12"})
    assert legacy.headers["OpenStack-API-Version"] == "compute 2.12"
    assert "maximum is 2.79" in demo.fails("GET", "/flavors", 406, "notAcceptable",
                                           version="2.80")
    assert "invalid format" in demo.fails("GET", "/flavors", 400, "badRequest",
                                          version="two")
    assert demo.fails("GET", "/flavors", 401, "unauthorized", token="x")
    # the project-scoped form of the URL, for older clients
    assert demo.ok("GET", f"/{demo.project_id}/flavors")["flavors"]
    assert demo.fails("GET", "/0123456789abcdef/flavors", 403, "forbidden")


# -- flavors and key pairs ------------------------------------------------------------------


def test_flavors_with_the_openstack_client(cloud: ComputeCloud, demo: Nova,
                                           admin: Nova) -> None:
    listed = {f["Name"]: f for f in cloud.osc("demo", "flavor", "list")}
    assert {"m1.nano", "m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"} <= \
        set(listed)
    assert (listed["m1.nano"]["RAM"], listed["m1.nano"]["VCPUs"],
            listed["m1.nano"]["Disk"]) == (128, 1, 1)
    made = cloud.osc("admin", "flavor", "create", "--ram", "256", "--vcpus", "1", "--disk",
                     "2", "--private", "--property", "hw:cpu_policy=shared", "f.private")
    assert made["os-flavor-access:is_public"] is False
    assert "f.private" not in {f["Name"] for f in cloud.osc("demo", "flavor", "list")}
    assert demo.fails("GET", f"/flavors/{made['id']}", 404, "itemNotFound")
    grant = cloud.osc_plain("admin", "flavor", "set", "--project", demo.project_id,
                            "f.private")
    assert grant.returncode == 0, grant.stderr
    assert demo.ok("GET", f"/flavors/{made['id']}")["flavor"]["extra_specs"] == {
        "hw:cpu_policy": "shared"}
    assert admin.ok("GET", f"/flavors/{made['id']}/os-flavor-access")["flavor_access"] == [
        {"flavor_id": made["id"], "tenant_id": demo.project_id}]
    # swap is "" before 2.75 and 0 from it; extra_specs appear at 2.61
    old = demo.ok("GET", f"/flavors/{NANO}", version="2.74")["flavor"]
    assert old["swap"] == "" and "extra_specs" in old
    assert demo.ok("GET", f"/flavors/{NANO}", version="2.75")["flavor"]["swap"] == 0
    assert "extra_specs" not in demo.ok("GET", f"/flavors/{NANO}", version="2.60")["flavor"]
    assert "description" not in demo.ok("GET", "/flavors", version="2.54")["flavors"][0]
    assert "Policy doesn't allow" in demo.fails(
        "POST", "/flavors", 403, "forbidden",
        json={"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 1}})
    assert "already exists" in admin.fails(
        "POST", "/flavors", 409, "conflictingRequest",
        json={"flavor": {"name": "m1.nano", "ram": 1, "vcpus": 1, "disk": 1}})
    assert admin.fails("POST", "/flavors", 400, "badRequest",
                       json={"flavor": {"name": "bad", "ram": 0, "vcpus": 1, "disk": 1}})
    cloud.osc_plain("admin", "flavor", "delete", "f.private")
    assert admin.fails("GET", f"/flavors/{made['id']}", 404, "itemNotFound")


def test_keypairs_imported_and_generated(cloud: ComputeCloud, demo: Nova,
                                         tmp_path: Any) -> None:
    key = tmp_path / "k.pub"
    key.write_text(ED25519 + "\n")
    made = cloud.osc("demo", "keypair", "create", "--public-key", str(key), "cli-key")
    assert made["name"] == "cli-key" and made["type"] == "ssh"
    assert made["fingerprint"].count(":") == 15
    generated = demo.call("POST", "/os-keypairs", version="2.1",
                          json={"keypair": {"name": "made"}})
    assert generated.status_code == 200  # 2.1 answers 200, 2.2 and later 201
    body = generated.json()["keypair"]
    assert body["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert "type" not in body
    at22 = demo.ok("POST", "/os-keypairs", 201, version="2.2",
                   json={"keypair": {"name": "made22"}})["keypair"]
    assert at22["type"] == "ssh"
    listed = demo.ok("GET", "/os-keypairs")["keypairs"]
    assert {k["keypair"]["name"] for k in listed} == {"imported", "cli-key", "made",
                                                      "made22"}
    demo.exact(listed[0]["keypair"], {"name", "public_key", "fingerprint", "type"})
    paged = demo.ok("GET", "/os-keypairs", version="2.35", params={"limit": 1})
    assert paged["keypairs"][0]["keypair"]["name"] == "cli-key"  # by name
    assert len(paged["keypairs"]) == 1 and paged["keypairs_links"][0]["rel"] == "next"
    shown = demo.ok("GET", "/os-keypairs/imported")["keypair"]
    assert shown["public_key"] == ED25519 and shown["user_id"]
    assert "already exists" in demo.fails("POST", "/os-keypairs", 409, "conflictingRequest",
                                          json={"keypair": {"name": "imported",
                                                            "public_key": ED25519}})
    assert "Keypair data is invalid" in demo.fails(
        "POST", "/os-keypairs", 400, "badRequest",
        json={"keypair": {"name": "bad", "public_key": "ssh-rsa nonsense"}})
    assert demo.call("DELETE", "/os-keypairs/made22").status_code == 204
    assert demo.call("DELETE", "/os-keypairs/made", version="2.1").status_code == 202
    assert demo.fails("GET", "/os-keypairs/made", 404, "itemNotFound")


# -- servers ---------------------------------------------------------------------------------


def test_sdk_creates_and_waits_for_a_server(cloud: ComputeCloud, demo: Nova) -> None:
    conn = cloud.sdk("demo")
    try:
        server = conn.compute.create_server(name="sdk", image_id=cloud.tiny,
                                            flavor_id=NANO, networks="none")
        server = conn.compute.wait_for_server(server, wait=120)
        assert server.status == "ACTIVE" and server.flavor.original_name == "m1.nano"
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)
    finally:
        conn.close()


BASE = {"id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image",
        "flavor", "created", "updated", "addresses", "accessIPv4", "accessIPv6", "links",
        "OS-DCF:diskConfig", "progress", "OS-EXT-AZ:availability_zone", "config_drive",
        "key_name", "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at",
        "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state",
        "os-extended-volumes:volumes_attached"}
ADMIN = {"OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:instance_name",
         "OS-EXT-SRV-ATTR:hypervisor_hostname"}
ADMIN_23 = {"OS-EXT-SRV-ATTR:reservation_id", "OS-EXT-SRV-ATTR:launch_index",
            "OS-EXT-SRV-ATTR:hostname", "OS-EXT-SRV-ATTR:kernel_id",
            "OS-EXT-SRV-ATTR:ramdisk_id", "OS-EXT-SRV-ATTR:root_device_name",
            "OS-EXT-SRV-ATTR:user_data"}


def test_server_views_have_exactly_each_microversions_fields(
        cloud: ComputeCloud, demo: Nova, admin: Nova) -> None:
    srv = boot(cloud, demo, "views", key_name="imported", metadata={"k": "v"})
    uuid_ = srv["id"]
    for version, extra in (("2.1", set()), ("2.8", set()), ("2.9", {"locked"}),
                           ("2.19", {"locked", "description"}),
                           ("2.26", {"locked", "description", "tags"}),
                           ("2.63", {"locked", "description", "tags",
                                     "trusted_image_certificates"}),
                           ("2.71", {"locked", "description", "tags",
                                     "trusted_image_certificates", "server_groups"}),
                           ("2.79", {"locked", "description", "tags",
                                     "trusted_image_certificates", "server_groups",
                                     "locked_reason"})):
        shown = demo.server(uuid_, version=version)
        demo.exact(shown, BASE | extra)
        minor = int(version.split(".")[1])
        admin_extra = ADMIN | (ADMIN_23 if minor >= 3 else set()) | (
            {"host_status"} if minor >= 16 else set())
        demo.exact(admin.server(uuid_, version=version), BASE | extra | admin_extra)
    old, new = demo.server(uuid_, version="2.46"), demo.server(uuid_, version="2.47")
    assert set(old["flavor"]) == {"id", "links"} and old["flavor"]["id"] == NANO
    assert new["flavor"] == {"vcpus": 1, "ram": 128, "disk": 1, "ephemeral": 0, "swap": 0,
                             "original_name": "m1.nano", "extra_specs": {}}
    assert admin.server(uuid_, version="2.16")["host_status"] == "UP"
    assert new["key_name"] == "imported" and new["config_drive"] == ""
    assert new["OS-EXT-STS:power_state"] == 1 and new["hostId"]
    assert new["image"]["id"] == cloud.tiny
    brief = demo.ok("GET", "/servers")["servers"]
    demo.exact(brief[0], {"id", "name", "links"})


def test_listing_filters_paging_update_metadata_and_tags(cloud: ComputeCloud, demo: Nova,
                                                          admin: Nova) -> None:
    made = [boot(cloud, demo, name)["id"] for name in ("list-a", "list-b", "other")]
    names = [s["name"] for s in demo.ok("GET", "/servers/detail",
                                        params={"name": "^list-"})["servers"]]
    assert sorted(names) == ["list-a", "list-b"]
    assert {s["id"] for s in demo.ok("GET", "/servers", params={"status": "active"})[
        "servers"]} >= set(made)
    assert demo.ok("GET", "/servers", params={"status": "SHUTOFF"})["servers"] == []
    assert len(demo.ok("GET", "/servers", params={"flavor": NANO})["servers"]) >= 3
    page = demo.ok("GET", "/servers", params={"limit": 2})
    assert len(page["servers"]) == 2 and page["servers_links"][0]["rel"] == "next"
    rest = demo.ok("GET", "/servers", params={"limit": 100,
                                              "marker": page["servers"][-1]["id"]})
    assert not {s["id"] for s in rest["servers"]} & {s["id"] for s in page["servers"]}
    assert "marker" in demo.fails("GET", "/servers", 400, "badRequest",
                                  params={"marker": str(uuid.uuid4())})
    assert "unexpected" in demo.fails("GET", "/servers", 400, "badRequest",
                                      params={"colour": "red"})
    assert demo.ok("GET", "/servers", version="2.74", params={"colour": "red"})
    assert "get_all_tenants" in demo.fails("GET", "/servers", 403, "forbidden",
                                           params={"all_tenants": "1"})
    assert set(made) <= {s["id"] for s in admin.ok(
        "GET", "/servers", params={"all_tenants": "1"})["servers"]}
    assert admin.ok("GET", "/servers")["servers"] == []  # admin's own project: none
    renamed = demo.ok("PUT", f"/servers/{made[2]}", json={"server": {
        "name": "renamed", "description": "d"}})["server"]
    assert renamed["name"] == "renamed" and renamed["description"] == "d"
    demo.exact(demo.ok("PUT", f"/servers/{made[2]}", version="2.74", json={
        "server": {"name": "renamed"}})["server"],
        {"id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image",
         "flavor", "created", "updated", "addresses", "accessIPv4", "accessIPv6", "links",
         "OS-DCF:diskConfig", "progress", "locked", "description", "tags",
         "trusted_image_certificates", "locked_reason"})
    meta = f"/servers/{made[0]}/metadata"
    assert demo.ok("POST", meta, json={"metadata": {"a": "1", "b": "2"}})["metadata"] == {
        "a": "1", "b": "2"}
    assert demo.ok("PUT", meta, json={"metadata": {"c": "3"}})["metadata"] == {"c": "3"}
    assert demo.ok("PUT", meta + "/d", json={"meta": {"d": "4"}}) == {"meta": {"d": "4"}}
    assert demo.ok("GET", meta + "/d") == {"meta": {"d": "4"}}
    assert demo.call("DELETE", meta + "/d").status_code == 204
    assert demo.fails("GET", meta + "/d", 404, "itemNotFound")
    assert "mismatch" in demo.fails("PUT", meta + "/x", 400, "badRequest",
                                    json={"meta": {"y": "1"}})
    tags = f"/servers/{made[0]}/tags"
    assert demo.fails("GET", tags, 404, "itemNotFound", version="2.25")
    assert demo.call("PUT", tags + "/red").status_code == 201
    assert demo.call("PUT", tags + "/red").status_code == 204
    assert demo.ok("PUT", tags, json={"tags": ["blue", "green"]})["tags"] == [
        "blue", "green"]
    assert demo.call("GET", tags + "/blue").status_code == 204
    tagged = demo.ok("GET", "/servers", params={"tags": "blue"})["servers"]
    assert [s["id"] for s in tagged] == [made[0]]
    assert demo.ok("GET", "/servers", params={"not-tags": "blue", "name": "^list-"})[
        "servers"][0]["id"] == made[1]
    assert demo.call("DELETE", tags).status_code == 204
    assert demo.ok("GET", tags)["tags"] == []
    for server in made:
        assert demo.call("DELETE", f"/servers/{server}").status_code == 204
    for server in made:
        demo.gone(server)
    since = demo.ok("GET", "/servers/detail", params={"changes-since": "2000-01-01T00:00:00Z",
                                                      "name": "^list-"})["servers"]
    assert {s["status"] for s in since} == {"DELETED"}


def test_actions_follow_novas_state_table(cloud: ComputeCloud, demo: Nova,
                                          admin: Nova) -> None:
    srv = boot(cloud, demo, "actions")
    sid = srv["id"]
    assert "vm_state active" in demo.fails("POST", f"/servers/{sid}/action", 409,
                                           "conflictingRequest", json={"os-start": None})
    for action, status in (("os-stop", "SHUTOFF"), ("os-start", "ACTIVE"),
                           ("pause", "PAUSED"), ("unpause", "ACTIVE"),
                           ("suspend", "SUSPENDED"), ("resume", "ACTIVE")):
        demo.action(sid, action)
        demo.wait(sid, status)
    demo.action(sid, "reboot", {"type": "SOFT"})
    demo.wait(sid, "ACTIVE")
    demo.action(sid, "os-stop")
    demo.wait(sid, "SHUTOFF")
    assert "vm_state stopped" in demo.fails("POST", f"/servers/{sid}/action", 409,
                                            "conflictingRequest",
                                            json={"reboot": {"type": "SOFT"}})
    demo.action(sid, "reboot", {"type": "HARD"})  # hard reboot also starts a stopped one
    assert demo.wait(sid, "ACTIVE")["OS-EXT-STS:power_state"] == 1
    assert "is not one of" in demo.fails("POST", f"/servers/{sid}/action", 400, "badRequest",
                                         json={"reboot": {"type": "gently"}})
    assert "no such action" in demo.fails("POST", f"/servers/{sid}/action", 400,
                                          "badRequest", json={"levitate": None})
    assert "not implemented" in demo.fails("POST", f"/servers/{sid}/action", 501,
                                           "notImplemented", json={"rescue": None})
    demo.action(sid, "lock", {"locked_reason": "maintenance"})
    locked = demo.server(sid)
    assert locked["locked"] is True and locked["locked_reason"] == "maintenance"
    assert "is locked" in demo.fails("POST", f"/servers/{sid}/action", 409,
                                     "conflictingRequest", json={"os-stop": None})
    assert "is locked" in demo.fails("DELETE", f"/servers/{sid}", 409, "conflictingRequest")
    demo.action(sid, "unlock")
    out = demo.console(sid)
    assert f"STRATA-MEMORY: boot 1 {sid}" in out and len(out.splitlines()) >= 3
    assert len(demo.console(sid, 1).splitlines()) == 1
    actions = demo.ok("GET", f"/servers/{sid}/os-instance-actions")["instanceActions"]
    assert [a["action"] for a in actions][:3] == ["unlock", "lock", "reboot"]
    assert actions[-1]["action"] == "create"
    demo.exact(actions[0], {"action", "instance_uuid", "message", "project_id",
                            "request_id", "start_time", "user_id", "updated_at"})
    create = actions[-1]["request_id"]
    event_names = [e["event"] for e in demo.ok(
        "GET", f"/servers/{sid}/os-instance-actions/{create}")["instanceAction"]["events"]]
    assert event_names == ["conductor_schedule_and_build_instances",
                           "compute__do_build_and_run_instance"]
    old = demo.ok("GET", f"/servers/{sid}/os-instance-actions/{create}", version="2.50")
    assert "events" not in old["instanceAction"]  # non-admins see events from 2.51
    assert "events" in admin.ok("GET", f"/servers/{sid}/os-instance-actions/{create}",
                                version="2.50")["instanceAction"]
    demo.action(sid, "rebuild", {"imageRef": cloud.tiny, "name": "rebuilt"})
    rebuilt = demo.wait(sid, "ACTIVE")
    assert rebuilt["name"] == "rebuilt"
    assert "STRATA-MEMORY: boot 1" in demo.console(sid)  # a new guest
    assert demo.call("DELETE", f"/servers/{sid}").status_code == 204
    demo.gone(sid)


def test_bad_requests_are_refused_with_nothing_made(cloud: ComputeCloud, demo: Nova,
                                                    admin: Nova) -> None:
    before = {s["id"] for s in admin.ok("GET", "/servers", params={"all_tenants": "1"})[
        "servers"]}

    def refused(status: int, fault: str, **server: Any) -> str:
        body = {"name": "bad", "imageRef": cloud.tiny, "flavorRef": NANO,
                "networks": "none", **server}
        return demo.fails("POST", "/servers", status, fault, json={"server": body})

    assert "could not be found" in refused(400, "badRequest", imageRef=str(uuid.uuid4()))
    assert "Flavor 999 could not be found" in refused(400, "badRequest", flavorRef="999")
    assert "Network" in refused(400, "badRequest", networks=[{"uuid": str(uuid.uuid4())}])
    assert "Invalid key_name" in refused(400, "badRequest", key_name="nobody")
    assert "base 64" in refused(400, "badRequest", user_data="%%% not base64 %%%")
    assert "65535" in refused(400, "badRequest", user_data="QUFB" * 20000)
    assert "availability zone" in refused(400, "badRequest", availability_zone="mars")
    assert "'networks' is a required property" in demo.fails(
        "POST", "/servers", 400, "badRequest",
        json={"server": {"name": "n", "imageRef": cloud.tiny, "flavorRef": NANO}})
    # an image whose min_disk the flavor cannot hold
    images = cloud.api("demo")
    big = images.create(name="needs-big-disk", min_disk=5)
    assert images.upload(big["id"], b"\0" * 4096).status_code == 204
    assert "smaller than the minimum size" in refused(400, "badRequest", imageRef=big["id"])
    # quotas: 403 naming the quota
    admin.ok("PUT", f"/os-quota-sets/{demo.project_id}",
             json={"quota_set": {"instances": 0}})
    try:
        assert "Quota exceeded for instances" in refused(403, "forbidden")
    finally:
        admin.ok("PUT", f"/os-quota-sets/{demo.project_id}",
                 json={"quota_set": {"instances": 10}})
    assert "metadata_items" in refused(403, "forbidden",
                                       metadata={f"k{i}": "v" for i in range(129)})
    after = {s["id"] for s in admin.ok("GET", "/servers", params={"all_tenants": "1"})[
        "servers"]}
    assert after == before


def test_no_valid_host_is_an_error_with_a_fault_and_delete_works(
        cloud: ComputeCloud, demo: Nova, admin: Nova) -> None:
    flavor = admin.ok("POST", "/flavors", json={"flavor": {
        "name": "huge", "ram": 40000, "vcpus": 1, "disk": 1}})["flavor"]  # > the host
    srv = demo.create(name="too-big", imageRef=cloud.tiny, flavorRef=flavor["id"])
    failed = demo.wait(srv["id"], "ERROR")
    assert failed["fault"]["message"].startswith("No valid host was found")
    assert failed["fault"]["code"] == 500 and "details" not in failed["fault"]
    assert "details" in admin.server(srv["id"])["fault"]
    assert demo.call("DELETE", f"/servers/{srv['id']}").status_code == 204
    demo.gone(srv["id"])
    # deleting a server still building works too
    building = demo.create(name="short-lived", imageRef=cloud.tiny, flavorRef=NANO)
    assert demo.call("DELETE", f"/servers/{building['id']}").status_code == 204
    demo.gone(building["id"])
    admin.call("DELETE", f"/flavors/{flavor['id']}")


def test_multiple_create_with_a_reservation(cloud: ComputeCloud, demo: Nova) -> None:
    made = demo.ok("POST", "/servers", 202, json={"server": {
        "name": "many", "imageRef": cloud.tiny, "flavorRef": NANO, "networks": "none",
        "min_count": 2, "max_count": 3, "return_reservation_id": True}})
    reservation = made["reservation_id"]
    found = demo.ok("GET", "/servers/detail",
                    params={"reservation_id": reservation})["servers"]
    assert sorted(s["name"] for s in found) == ["many-1", "many-2", "many-3"]
    for server in found:
        demo.wait(server["id"], "ACTIVE")
        demo.call("DELETE", f"/servers/{server['id']}")
    for server in found:
        demo.gone(server["id"])


# -- quotas, limits, usage, hosts, groups -----------------------------------------------------


def test_quotas_limits_and_usage(cloud: ComputeCloud, demo: Nova, admin: Nova) -> None:
    quota = demo.ok("GET", f"/os-quota-sets/{demo.project_id}")["quota_set"]
    demo.exact(quota, {"id", "instances", "cores", "ram", "metadata_items", "key_pairs",
                       "server_groups", "server_group_members"})
    old = demo.ok("GET", f"/os-quota-sets/{demo.project_id}", version="2.35")["quota_set"]
    assert {"floating_ips", "security_groups", "injected_files"} <= set(old)
    detail = demo.ok("GET", f"/os-quota-sets/{demo.project_id}/detail")["quota_set"]
    assert detail["instances"]["limit"] == 10 and "in_use" in detail["cores"]
    assert demo.ok("GET", f"/os-quota-sets/{demo.project_id}/defaults")["quota_set"][
        "ram"] == 51200
    assert "Policy doesn't allow" in demo.fails(
        "PUT", f"/os-quota-sets/{demo.project_id}", 403, "forbidden",
        json={"quota_set": {"cores": 1}})
    assert demo.fails("GET", f"/os-quota-sets/{admin.project_id}", 403, "forbidden")
    updated = admin.ok("PUT", f"/os-quota-sets/{demo.project_id}",
                       json={"quota_set": {"cores": 7}})["quota_set"]
    assert updated["cores"] == 7 and "id" not in updated
    assert admin.call("DELETE", f"/os-quota-sets/{demo.project_id}").status_code == 202
    assert demo.ok("GET", f"/os-quota-sets/{demo.project_id}")["quota_set"]["cores"] == 20
    srv = boot(cloud, demo, "counted")
    absolute = demo.ok("GET", "/limits")["limits"]["absolute"]
    assert absolute["totalInstancesUsed"] >= 1 and absolute["totalRAMUsed"] >= 128
    assert "maxPersonality" not in absolute and "maxImageMeta" in demo.ok(
        "GET", "/limits", version="2.38")["limits"]["absolute"]
    time.sleep(1.0)
    usage = cloud.osc("demo", "usage", "show")
    servers = usage["Servers"]  # the client shows a count or the usages, by its version
    assert (len(servers) if isinstance(servers, list) else servers) >= 1
    assert float(usage["CPU Hours"]) > 0
    listing = admin.ok("GET", "/os-simple-tenant-usage", params={"detailed": "1"})
    mine = [u for u in listing["tenant_usages"] if u["tenant_id"] == demo.project_id]
    assert mine and any(s["instance_id"] == srv["id"] for s in mine[0]["server_usages"])
    assert demo.fails("GET", "/os-simple-tenant-usage", 403, "forbidden")
    demo.call("DELETE", f"/servers/{srv['id']}")


USAGE_TOTALS = {"tenant_id", "start", "stop", "total_hours", "total_local_gb_usage",
                "total_memory_mb_usage", "total_vcpus_usage"}
SERVER_USAGE = {"instance_id", "name", "tenant_id", "flavor", "hours", "memory_mb", "vcpus",
                "local_gb", "started_at", "ended_at", "state", "uptime"}


def _usage_pages(nova: Nova, path: str, key: str, **params: str) -> list[dict[str, Any]]:
    """Each page of a usage at 2.40, following the ``next`` links to the end."""
    pages = []
    r = nova.call("GET", path, version="2.40", params=params)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) <= {key, f"{key}_links"}, body
        pages.append(body)
        if f"{key}_links" not in body:
            return pages
        (link,) = body[f"{key}_links"]
        assert link["rel"] == "next" and link["href"].startswith(nova.base + "/v2.1/")
        r = nova.request("GET", link["href"].removeprefix(nova.base),
                         headers={"OpenStack-API-Version": "compute 2.40"})


def test_usage_shapes_through_the_client_and_paged_from_2_40(cloud: ComputeCloud, demo: Nova,
                                                              admin: Nova) -> None:
    nano = boot(cloud, demo, "use-nano")
    tiny = boot(cloud, demo, "use-tiny", flavorRef="1")  # m1.tiny: 512 MiB, 1 vCPU, 1 GiB
    time.sleep(1.0)
    mine = f"/os-simple-tenant-usage/{demo.project_id}"
    before = demo.ok("GET", mine)["tenant_usage"]
    demo.exact(before, USAGE_TOTALS | {"server_usages"})
    rows = {u["instance_id"]: u for u in before["server_usages"]}
    for row in rows.values():
        demo.exact(row, SERVER_USAGE)
    n, t = rows[nano["id"]], rows[tiny["id"]]
    assert (n["name"], n["flavor"], n["memory_mb"], n["vcpus"], n["local_gb"], n["state"]) == \
        ("use-nano", "m1.nano", 128, 1, 1, "active")
    assert (t["flavor"], t["memory_mb"], t["vcpus"], t["local_gb"]) == ("m1.tiny", 512, 1, 1)
    assert n["tenant_id"] == demo.project_id and n["ended_at"] is None
    assert isinstance(n["hours"], float) and 0 < n["hours"] < 1
    assert isinstance(n["uptime"], int) and n["uptime"] >= 1
    datetime.strptime(n["started_at"], "%Y-%m-%dT%H:%M:%S.%f")
    datetime.strptime(before["stop"], "%Y-%m-%dT%H:%M:%S.%f")
    # the totals: each server's hours times its size, summed
    for total, size in (("total_hours", None), ("total_memory_mb_usage", "memory_mb"),
                        ("total_vcpus_usage", "vcpus"), ("total_local_gb_usage", "local_gb")):
        assert before[total] == pytest.approx(sum(
            u["hours"] * (u[size] if size else 1) for u in rows.values()))
    # the client shows the same figures (read between two readings of the API)
    shown = cloud.osc("demo", "usage", "show")
    listed = [u for u in cloud.osc("admin", "usage", "list")
              if u["Project"] == demo.project_id]
    after = demo.ok("GET", mine)["tenant_usage"]
    assert shown["Project"] == demo.project_id
    assert {u["instance_id"] for u in shown["Servers"]} == set(rows)
    for column, total in (("CPU Hours", "total_vcpus_usage"),
                          ("RAM MB-Hours", "total_memory_mb_usage"),
                          ("Disk GB-Hours", "total_local_gb_usage")):
        for figures in (shown, *listed):
            assert before[total] <= float(figures[column]) <= after[total], (column, figures)
    table = cloud.osc_plain("admin", "usage", "list")
    assert table.returncode == 0 and " demo " in table.stdout, table.stdout + table.stderr
    # 2.40 pages by server, oldest first: one a page with limit=1, linked to the next
    order = [u["instance_id"] for u in after["server_usages"]]
    pages = _usage_pages(demo, mine, "tenant_usage", limit="1")
    assert [p["tenant_usage"]["server_usages"][0]["instance_id"]
            for p in pages if p["tenant_usage"]] == order
    assert pages[-1] == {"tenant_usage": {}}  # the last full page still links to one more
    assert "marker=" in demo.ok("GET", mine, version="2.40", params={"limit": "1"})[
        "tenant_usage_links"][0]["href"]
    everyone = admin.ok("GET", "/os-simple-tenant-usage", version="2.39",
                        params={"detailed": "1"})["tenant_usages"]
    paged = _usage_pages(admin, "/os-simple-tenant-usage", "tenant_usages", limit="1",
                         detailed="1")
    assert sorted(u["server_usages"][0]["instance_id"] for p in paged
                  for u in p["tenant_usages"]) == sorted(
        s["instance_id"] for u in everyone for s in u["server_usages"])
    # before 2.40 there are no links, and limit and marker are not paging parameters
    old = demo.ok("GET", mine, version="2.39", params={"limit": "1", "marker": "x"})
    assert set(old) == {"tenant_usage"} and len(old["tenant_usage"]["server_usages"]) == \
        len(order)
    assert "Marker nope could not be found" in demo.fails(
        "GET", mine, 400, "badRequest", version="2.40", params={"marker": "nope"})
    assert "is not a 'integer'" in demo.fails(
        "GET", mine, 400, "badRequest", version="2.40", params={"limit": "many"})
    # a deleted server counts until its termination, as terminated
    demo.ok("DELETE", f"/servers/{tiny['id']}", 204)
    demo.gone(tiny["id"])
    ended = {u["instance_id"]: u for u in demo.ok("GET", mine)["tenant_usage"][
        "server_usages"]}[tiny["id"]]
    assert ended["state"] == "terminated" and ended["ended_at"] is not None
    time.sleep(0.5)
    again = {u["instance_id"]: u for u in demo.ok("GET", mine)["tenant_usage"][
        "server_usages"]}[tiny["id"]]
    assert again["hours"] == ended["hours"]
    demo.ok("DELETE", f"/servers/{nano['id']}", 204)
    demo.gone(nano["id"])


def _ws_status(url: str, origin: str | None = None) -> int | None:
    """The HTTP status that refused a websocket to ``url`` (None: it was accepted)."""
    async def attempt() -> int | None:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, origin=origin,
                                              timeout=aiohttp.ClientWSTimeout(ws_close=5)):
                    return None
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status
    return asyncio.run(attempt())


def test_remote_consoles_hand_out_one_time_urls(cloud: ComputeCloud, demo: Nova) -> None:
    srv = boot(cloud, demo, "consoled")
    path = f"/servers/{srv['id']}/remote-consoles"
    proxy = f"http://127.0.0.1:{cloud.env['STRATA_COMPUTE_CONSOLE_PORT']}"

    def ask(protocol: str, kind: str, **kw: Any) -> Any:
        return demo.ok("POST", path, json={"remote_console": {"protocol": protocol,
                                                              "type": kind}}, **kw)

    made = ask("vnc", "novnc")["remote_console"]
    demo.exact(made, {"protocol", "type", "url"})
    assert (made["protocol"], made["type"]) == ("vnc", "novnc")
    assert made["url"].startswith(f"{proxy}/vnc_lite.html?path=%3Ftoken%3D")
    token = made["url"].split("%3D", 1)[1]
    serial = ask("serial", "serial", version="2.6")["remote_console"]
    assert serial["url"].startswith(f"ws://127.0.0.1:{cloud.env['STRATA_COMPUTE_CONSOLE_PORT']}"
                                    "/?token=")
    legacy = demo.action(srv["id"], "os-getVNCConsole", {"type": "novnc"}, status=200)
    assert list(legacy) == ["console"] and set(legacy["console"]) == {"type", "url"}
    assert legacy["console"]["type"] == "novnc" and "%3Ftoken%3D" in legacy["console"]["url"]
    assert demo.action(srv["id"], "os-getSerialConsole", {"type": "serial"}, status=200)[
        "console"]["url"].startswith("ws://")
    # strata status lists the proxy under compute
    status = strata("status", env=cloud.env)
    assert f"up    {proxy}  (console proxy)" in status.stdout, status.stdout + status.stderr
    # the client prints the URL
    shown = cloud.osc("demo", "console", "url", "show", "consoled")
    assert shown["type"] == "novnc" and shown["url"].startswith(f"{proxy}/vnc_lite.html?")
    # bad requests: Nova's 400s, and no remote-consoles before 2.6
    def bad(body: Any, **kw: Any) -> str:
        return demo.fails("POST", path, 400, "badRequest", json=body, **kw)

    assert "Unavailable console type spice-html5." in bad(
        {"remote_console": {"protocol": "spice", "type": "spice-html5"}})
    assert "Invalid console type serial" in bad(
        {"remote_console": {"protocol": "vnc", "type": "serial"}})
    assert "protocol" in bad({"remote_console": {"protocol": "telnet", "type": "novnc"}})
    assert "protocol" in bad({"remote_console": {"protocol": "mks", "type": "webmks"}},
                             version="2.7")
    assert "remote_console" in bad({"console": {}})
    demo.fails("POST", path, 404, "itemNotFound", version="2.5",
               json={"remote_console": {"protocol": "vnc", "type": "novnc"}})
    cloud.add_reader()  # a reader of the project sees the server, opens no console
    assert cloud.nova("reader").server(srv["id"])["id"] == srv["id"]
    cloud.nova("reader").fails("POST", path, 403, "forbidden",
                               json={"remote_console": {"protocol": "vnc", "type": "novnc"}})
    demo.fails("POST", f"/servers/{uuid.uuid4()}/remote-consoles", 404, "itemNotFound",
               json={"remote_console": {"protocol": "vnc", "type": "novnc"}})
    assert "Unavailable console type spice-html5." in demo.fails(
        "POST", f"/servers/{srv['id']}/action", 400, "badRequest",
        json={"os-getSPICEConsole": {"type": "spice-html5"}})
    # the proxy: no token, a bad one, then a used one are refused before any upgrade
    assert _ws_status(f"{proxy}/") == 400
    assert _ws_status(f"{proxy}/?token=not-a-token") == 403
    # a page of another site cannot open it (and the token is not spent)
    assert _ws_status(f"{proxy}/?token={token}", origin="http://elsewhere.example") == 403
    first = _ws_status(f"{proxy}/?token={token}", origin=proxy)
    assert first != 403  # redeemed (the memory driver's console is no real VNC server)
    assert _ws_status(f"{proxy}/?token={token}") == 403
    page = requests.get(f"{proxy}/vnc_lite.html", timeout=10)
    assert page.status_code in (200, 404) and (page.status_code == 200 or
                                               "novnc" in page.text)
    # a stopped server has no console: Nova's 409
    demo.action(srv["id"], "os-stop")
    demo.wait(srv["id"], "SHUTOFF")
    assert "while it is in vm_state stopped" in demo.fails(
        "POST", path, 409, "conflictingRequest",
        json={"remote_console": {"protocol": "vnc", "type": "novnc"}})
    assert "get_serial_console" in demo.fails(
        "POST", f"/servers/{srv['id']}/action", 409, "conflictingRequest",
        json={"os-getSerialConsole": {"type": "serial"}})
    # a deleted server's tokens open nothing
    late = ask_after_start(demo, srv["id"], path)
    demo.ok("DELETE", f"/servers/{srv['id']}", 204)
    demo.gone(srv["id"])
    assert _ws_status(f"{proxy}/?token={late}") == 403


def ask_after_start(demo: Nova, uuid: str, path: str) -> str:
    """A fresh console token of the server, once it runs again."""
    demo.action(uuid, "os-start")
    demo.wait(uuid, "ACTIVE")
    url: str = demo.ok("POST", path, json={"remote_console": {
        "protocol": "vnc", "type": "novnc"}})["remote_console"]["url"]
    return url.split("%3D", 1)[1]


def test_hypervisors_services_zones_and_groups(cloud: ComputeCloud, demo: Nova,
                                               admin: Nova) -> None:
    assert [z["zoneName"] for z in demo.ok("GET", "/os-availability-zone")[
        "availabilityZoneInfo"]] == ["nova"]
    detail = admin.ok("GET", "/os-availability-zone/detail")["availabilityZoneInfo"]
    assert {z["zoneName"] for z in detail} == {"nova", "internal"}
    hvs = admin.ok("GET", "/os-hypervisors/detail", version="2.27")["hypervisors"]
    assert len(hvs) == 1 and isinstance(hvs[0]["cpu_info"], str) and \
        isinstance(hvs[0]["id"], int)
    hv = admin.ok("GET", "/os-hypervisors/detail", version="2.53",
                  params={"with_servers": "true"})["hypervisors"][0]
    assert isinstance(hv["cpu_info"], dict) and len(hv["id"]) == 36
    assert hv["state"] == "up" and hv["hypervisor_type"] == "memory"
    stats = admin.ok("GET", "/os-hypervisors/statistics")["hypervisor_statistics"]
    assert stats["count"] == 1 and stats["vcpus"] == hv["vcpus"]
    assert demo.fails("GET", "/os-hypervisors", 403, "forbidden")
    services = admin.ok("GET", "/os-services", version="2.53")["services"]
    binaries = {s["binary"]: s for s in services}
    assert {"nova-compute", "nova-scheduler", "nova-conductor"} <= set(binaries)
    compute = binaries["nova-compute"]
    assert compute["state"] == "up" and compute["zone"] == "nova"
    # a disabled compute service takes no new server
    admin.ok("PUT", f"/os-services/{compute['id']}", version="2.53",
             json={"status": "disabled", "disabled_reason": "test"})
    try:
        srv = demo.create(name="nowhere", imageRef=cloud.tiny, flavorRef=NANO)
        assert demo.wait(srv["id"], "ERROR")["fault"]["message"].startswith("No valid host")
        demo.call("DELETE", f"/servers/{srv['id']}")
    finally:
        admin.ok("PUT", f"/os-services/{compute['id']}", version="2.53",
                 json={"status": "enabled"})
    # server groups: anti-affinity on a cloud of one host holds one server
    group = demo.ok("POST", "/os-server-groups", version="2.64", json={"server_group": {
        "name": "apart", "policy": "anti-affinity"}})["server_group"]
    demo.exact(group, {"id", "name", "members", "project_id", "user_id", "policy", "rules"})
    old = demo.ok("GET", f"/os-server-groups/{group['id']}", version="2.1")["server_group"]
    assert old["policies"] == ["anti-affinity"] and "policy" not in old
    hint = {"os:scheduler_hints": {"group": group["id"]}}
    first = demo.ok("POST", "/servers", 202, json={"server": {
        "name": "g1", "imageRef": cloud.tiny, "flavorRef": NANO, "networks": "none"},
        **hint})["server"]
    demo.wait(first["id"], "ACTIVE")
    second = demo.ok("POST", "/servers", 202, json={"server": {
        "name": "g2", "imageRef": cloud.tiny, "flavorRef": NANO, "networks": "none"},
        **hint})["server"]
    assert demo.wait(second["id"], "ERROR")["fault"]["message"].startswith("No valid host")
    assert demo.server(first["id"])["server_groups"] == [group["id"]]
    members = demo.ok("GET", f"/os-server-groups/{group['id']}")["server_group"]["members"]
    assert set(members) == {first["id"], second["id"]}
    for server in (first, second):
        demo.call("DELETE", f"/servers/{server['id']}")
    assert demo.call("DELETE", f"/os-server-groups/{group['id']}").status_code == 204
    assert "policy" in demo.fails("POST", "/os-server-groups", 400, "badRequest",
                                  version="2.64", json={"server_group": {
                                      "name": "x", "policy": "together"}})


# -- volumes and networks ---------------------------------------------------------------


def test_volumes_attach_detach_and_boot_from_volume(cloud: ComputeCloud, demo: Nova) -> None:
    srv = boot(cloud, demo, "with-volume")
    sid = srv["id"]
    volume = cloud.osc("demo", "volume", "create", "--size", "1", "data")
    cloud.wait_for(lambda: cloud.osc("demo", "volume", "show", volume["id"])["status"] ==
                   "available", "the volume")
    attached = demo.ok("POST", f"/servers/{sid}/os-volume_attachments", json={
        "volumeAttachment": {"volumeId": volume["id"]}})["volumeAttachment"]
    demo.exact(attached, {"id", "serverId", "volumeId", "device", "tag",
                          "delete_on_termination"})
    assert attached["device"] == "/dev/vdb" and attached["delete_on_termination"] is False
    cloud.wait_for(lambda: cloud.osc("demo", "volume", "show", volume["id"])["status"] ==
                   "in-use", "the attachment")
    assert demo.server(sid)["os-extended-volumes:volumes_attached"] == [
        {"id": volume["id"], "delete_on_termination": False}]
    listed = demo.ok("GET", f"/servers/{sid}/os-volume_attachments",
                     version="2.69")["volumeAttachments"]
    demo.exact(listed[0], {"id", "serverId", "volumeId", "device"})
    assert "already attached" in demo.fails(
        "POST", f"/servers/{sid}/os-volume_attachments", 400, "badRequest",
        json={"volumeAttachment": {"volumeId": volume["id"]}})
    assert demo.call("DELETE", f"/servers/{sid}/os-volume_attachments/{volume['id']}"
                     ).status_code == 202
    cloud.wait_for(lambda: cloud.osc("demo", "volume", "show", volume["id"])["status"] ==
                   "available", "the detach")
    assert demo.ok("GET", f"/servers/{sid}/os-volume_attachments")["volumeAttachments"] == []
    assert demo.fails("DELETE", f"/servers/{sid}/os-volume_attachments/{volume['id']}", 404,
                      "itemNotFound")
    demo.call("DELETE", f"/servers/{sid}")
    # boot from a volume made from the image, deleted with the server
    bfv = demo.create(name="bfv", imageRef="", flavorRef=NANO, block_device_mapping_v2=[{
        "uuid": cloud.tiny, "source_type": "image", "destination_type": "volume",
        "boot_index": 0, "volume_size": 1, "delete_on_termination": True}])
    shown = demo.wait(bfv["id"], "ACTIVE", within=180)
    assert shown["image"] == ""
    root = shown["os-extended-volumes:volumes_attached"][0]["id"]
    assert cloud.osc("demo", "volume", "show", root)["status"] == "in-use"
    assert "root device" in demo.fails(
        "DELETE", f"/servers/{bfv['id']}/os-volume_attachments/{root}", 400, "badRequest")
    demo.call("DELETE", f"/servers/{bfv['id']}")
    demo.gone(bfv["id"])
    cloud.wait_for(lambda: cloud.osc_plain("demo", "volume", "show", root).returncode != 0,
                   "the root volume's deletion")
    cloud.osc_plain("demo", "volume", "delete", volume["id"])


def test_ports_on_the_networking_service(cloud: ComputeCloud, demo: Nova) -> None:
    net = cloud.net("demo")
    private = net.get("/networks", params={"name": "private"})["networks"][0]
    srv = demo.create(name="on-private", imageRef=cloud.tiny, flavorRef=NANO,
                      networks=[{"uuid": private["id"]}])
    shown = demo.wait(srv["id"], "ACTIVE")
    (address,) = shown["addresses"]["private"]
    assert address["OS-EXT-IPS:type"] == "fixed" and address["version"] == 4
    port = net.get("/ports", params={"device_id": srv["id"]})["ports"][0]
    assert port["mac_address"] == address["OS-EXT-IPS-MAC:mac_addr"]
    assert port["device_owner"] == "compute:nova" and port["project_id"] == demo.project_id
    bound = cloud.net("admin").get(f"/ports/{port['id']}")["port"]
    assert bound["binding:host_id"] == cloud.log("compute").split(" scheduled on ", 1)[
        1].split()[0]
    assert shown["security_groups"] == [{"name": "default"}]
    assert demo.ok("GET", "/servers", params={"ip": address["addr"].rsplit(".", 1)[0]})[
        "servers"]
    # a group added to the server goes on its port
    group = net.make("security-groups", "security_group", name="extra")
    demo.action(srv["id"], "addSecurityGroup", {"name": "extra"})
    assert group["id"] in net.get(f"/ports/{port['id']}")["port"]["security_groups"]
    demo.action(srv["id"], "removeSecurityGroup", {"name": "extra"})
    assert group["id"] not in net.get(f"/ports/{port['id']}")["port"]["security_groups"]
    # 'auto' picks the project's one network; a given port is bound, then unbound
    own = net.make("ports", "port", network_id=private["id"], name="mine")
    with_port = demo.create(name="with-port", imageRef=cloud.tiny, flavorRef=NANO,
                            networks=[{"port": own["id"]}])
    demo.wait(with_port["id"], "ACTIVE")
    assert net.get(f"/ports/{own['id']}")["port"]["device_id"] == with_port["id"]
    assert "still in use" in demo.fails("POST", "/servers", 409, "conflictingRequest",
                                        json={"server": {
                                            "name": "x", "imageRef": cloud.tiny,
                                            "flavorRef": NANO,
                                            "networks": [{"port": own["id"]}]}})
    auto = demo.create(name="auto", imageRef=cloud.tiny, flavorRef=NANO, networks="auto")
    assert "private" in demo.wait(auto["id"], "ACTIVE")["addresses"]
    for server in (srv, with_port, auto):
        demo.call("DELETE", f"/servers/{server['id']}")
    for server in (srv, with_port, auto):
        demo.gone(server["id"])
    assert net.get("/ports", params={"device_id": srv["id"]})["ports"] == []
    kept = cloud.net("admin").get(f"/ports/{own['id']}")["port"]
    assert kept["device_id"] == "" and kept["binding:host_id"] == ""


def test_user_data_and_config_drive_reach_the_drive(cloud: ComputeCloud, demo: Nova) -> None:
    script = b"#!/bin/sh\necho hello\n"
    srv = boot(cloud, demo, "drive", config_drive=True, key_name="imported",
               user_data=base64.b64encode(script).decode(), metadata={"role": "web"})
    files = configdrive.read_iso(instance_files(cloud, srv["id"]) / "disk.config")
    meta = json.loads(files["openstack/latest/meta_data.json"])
    assert meta["uuid"] == srv["id"] and meta["meta"] == {"role": "web"}
    assert meta["public_keys"] == {"imported": ED25519}
    assert files["openstack/latest/user_data"] == script
    assert json.loads(files["ec2/latest/meta-data.json"])["instance-type"] == "m1.nano"
    demo.call("DELETE", f"/servers/{srv['id']}")
    demo.gone(srv["id"])
    assert not instance_files(cloud, srv["id"]).exists()
