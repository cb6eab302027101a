"""OS-EP-FILTER over raw HTTP: endpoint groups, project associations and the
filtered catalog of project-scoped tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import requests

from tests.functional import strict
from tests.functional.identity_server import (
    IdentityServer,
    assert_keystone_error,
    hdr,
    unique,
)

BASE = "/OS-EP-FILTER"
GROUP = strict.obj(id=strict.STR, name=strict.STR, description=strict.STR,
                   filters={"type": "object"}, links=strict.SELF)
GROUPS = strict.obj(endpoint_groups=strict.array(GROUP), links=strict.COLLECTION_LINKS)
ENDPOINTS = strict.obj(endpoints=strict.array(strict.ENDPOINT), links=strict.COLLECTION_LINKS)
PROJECTS = strict.obj(projects=strict.array(strict.PROJECT), links=strict.COLLECTION_LINKS)


def _widget(identity: IdentityServer, admin: str) -> dict[str, Any]:
    """A service with a public and an internal endpoint."""
    h = hdr(admin)
    svc = requests.post(identity.v3 + "/services", headers=h, json={"service": {
        "type": unique("widget"), "name": "widgets"}}).json()["service"]
    eps = {}
    for iface in ("public", "internal"):
        eps[iface] = requests.post(identity.v3 + "/endpoints", headers=h, json={"endpoint": {
            "service_id": svc["id"], "interface": iface, "region_id": "RegionOne",
            "url": f"http://127.0.0.1:9/{iface}/$(project_id)s"}}).json()["endpoint"]
    return {"service": svc, "endpoints": eps}


def _catalog(identity: IdentityServer, user: str, password: str,
             project: str) -> list[dict[str, Any]]:
    r = identity.password_auth(user, password, {"project": {"name": project,
                                                            "domain": {"id": "default"}}})
    assert r.status_code == 201, r.text
    return list(r.json()["token"]["catalog"])


def test_endpoint_groups_crud(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    url = identity.v3 + BASE + "/endpoint_groups"
    w = _widget(identity, admin)
    made = strict.ok(requests.post(url, headers=h, json={"endpoint_group": {
        "name": "internal widgets", "description": "d",
        "filters": {"service_id": w["service"]["id"], "interface": "internal"}}}),
        201, strict.obj(endpoint_group=GROUP))["endpoint_group"]
    assert made["links"]["self"] == f"{url}/{made['id']}"
    strict.ok(requests.get(f"{url}/{made['id']}", headers=h), 200,
              strict.obj(endpoint_group=GROUP))
    assert requests.head(f"{url}/{made['id']}", headers=h).status_code == 200
    assert made["id"] in {g["id"] for g in strict.ok(requests.get(url, headers=h), 200,
                                                       GROUPS)["endpoint_groups"]}
    got = strict.ok(requests.get(f"{url}/{made['id']}/endpoints", headers=h), 200, ENDPOINTS)
    assert [e["id"] for e in got["endpoints"]] == [w["endpoints"]["internal"]["id"]]
    r = requests.patch(f"{url}/{made['id']}", headers=h, json={"endpoint_group": {
        "name": "widgets", "filters": {"service_id": w["service"]["id"]}}})
    assert strict.ok(r, 200, strict.obj(endpoint_group=GROUP))["endpoint_group"]["name"] == \
        "widgets"
    got = strict.ok(requests.get(f"{url}/{made['id']}/endpoints", headers=h), 200, ENDPOINTS)
    assert len(got["endpoints"]) == 2
    for bad in ({"colour": "red"}, {"interface": "sideways"}, {"service_id": 5}):
        assert_keystone_error(requests.post(url, headers=h, json={"endpoint_group": {
            "name": "bad", "filters": bad}}), 400)
    assert_keystone_error(requests.post(url, headers=h, json={"endpoint_group": {
        "name": "no filters"}}), 400)
    demo, _ = identity.token("demo", "demo-secret", "demo")
    assert_keystone_error(requests.post(url, headers=hdr(demo), json={"endpoint_group": {
        "name": "x", "filters": {}}}), 403)
    strict.ok(requests.delete(f"{url}/{made['id']}", headers=h), 204)
    assert_keystone_error(requests.get(f"{url}/{made['id']}", headers=h), 404)


def test_associations_filter_the_catalog(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    w = _widget(identity, admin)
    user = identity.new_user(admin)
    project = identity.new_project(admin)
    identity.grant(admin, f"projects/{project['id']}/users/{user['id']}/roles/"
                          f"{identity.role_id(admin, 'member')}")
    full = _catalog(identity, user["name"], "pw", project["name"])
    assert len(full) > 1

    # one endpoint associated directly: the catalog is that endpoint alone
    internal = w["endpoints"]["internal"]
    assoc = f"{identity.v3}{BASE}/projects/{project['id']}/endpoints/{internal['id']}"
    assert requests.head(assoc, headers=h).status_code == 404
    strict.ok(requests.put(assoc, headers=h), 204)
    strict.ok(requests.head(assoc, headers=h), 204)
    strict.ok(requests.get(assoc, headers=h), 204)
    (svc,) = _catalog(identity, user["name"], "pw", project["name"])
    assert [e["id"] for e in svc["endpoints"]] == [internal["id"]]
    assert svc["endpoints"][0]["url"] == f"http://127.0.0.1:9/internal/{project['id']}"
    listed = strict.ok(requests.get(f"{identity.v3}{BASE}/projects/{project['id']}/endpoints",
                                    headers=h), 200, ENDPOINTS)
    assert [e["id"] for e in listed["endpoints"]] == [internal["id"]]
    on = strict.ok(requests.get(f"{identity.v3}{BASE}/endpoints/{internal['id']}/projects",
                                headers=h), 200, PROJECTS)
    assert [p["id"] for p in on["projects"]] == [project["id"]]

    # plus an endpoint group of every public endpoint
    url = identity.v3 + BASE + "/endpoint_groups"
    group = requests.post(url, headers=h, json={"endpoint_group": {
        "name": "public", "filters": {"interface": "public"}}}).json()["endpoint_group"]
    gp = f"{url}/{group['id']}/projects/{project['id']}"
    assert requests.head(gp, headers=h).status_code == 404
    strict.ok(requests.put(gp, headers=h), 204)
    shown = strict.ok(requests.get(gp, headers=h), 200, strict.obj(project=strict.PROJECT))
    assert shown["project"]["id"] == project["id"]
    assert requests.head(gp, headers=h).status_code == 200
    got = strict.ok(requests.get(f"{url}/{group['id']}/projects", headers=h), 200, PROJECTS)
    assert [p["id"] for p in got["projects"]] == [project["id"]]
    got = strict.ok(requests.get(f"{identity.v3}{BASE}/projects/{project['id']}/"
                                 "endpoint_groups", headers=h), 200, GROUPS)
    assert [g["id"] for g in got["endpoint_groups"]] == [group["id"]]
    catalog = _catalog(identity, user["name"], "pw", project["name"])
    ifaces = {(s["id"], e["interface"]) for s in catalog for e in s["endpoints"]}
    assert (w["service"]["id"], "internal") in ifaces
    assert {i for s, i in ifaces if s != w["service"]["id"]} == {"public"}
    # /v3/auth/catalog is filtered the same way
    tok = identity.password_auth(user["name"], "pw", {"project": {"id": project["id"]}})
    r = requests.get(identity.v3 + "/auth/catalog",
                     headers=hdr(tok.headers["X-Subject-Token"]))
    assert r.json()["catalog"] == catalog
    # other projects still see everything
    _, admin_body = identity.token()
    assert any(e["interface"] == "admin" for s in admin_body["catalog"] for e in s["endpoints"])

    # removing the associations gives the whole catalog back
    strict.ok(requests.delete(gp, headers=h), 204)
    assert_keystone_error(requests.delete(gp, headers=h), 404)
    strict.ok(requests.delete(assoc, headers=h), 204)
    assert_keystone_error(requests.delete(assoc, headers=h), 404)
    assert len(_catalog(identity, user["name"], "pw", project["name"])) == len(full)
    # unknown projects, endpoints and groups
    for bad in (f"{identity.v3}{BASE}/projects/nope/endpoints/{internal['id']}",
                f"{identity.v3}{BASE}/projects/{project['id']}/endpoints/nope",
                f"{url}/nope/projects/{project['id']}", f"{url}/{group['id']}/projects/nope"):
        assert_keystone_error(requests.put(bad, headers=h), 404)
    # deleting the endpoint or the project drops its associations
    strict.ok(requests.put(assoc, headers=h), 204)
    strict.ok(requests.delete(f"{identity.v3}/endpoints/{internal['id']}", headers=h), 204)
    got = requests.get(f"{identity.v3}{BASE}/projects/{project['id']}/endpoints", headers=h)
    assert got.json()["endpoints"] == []
