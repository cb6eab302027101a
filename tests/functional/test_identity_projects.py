"""Projects beyond CRUD: tags, the hierarchy, OS-INHERIT's inherited grants, and
Keystone's validation of names and domains; raw HTTP against strict schemas, on
SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import quote

import requests

from tests.functional import strict
from tests.functional.identity_server import (
    DEMO_PASSWORD,
    IdentityServer,
    assert_keystone_error,
    hdr,
    unique,
)

TAGS = strict.obj(tags=strict.array(strict.STR), links=strict.SELF)
INHERITED_ASSIGNMENT = strict.obj(
    role=strict.obj(id=strict.STR), user=strict.obj(id=strict.STR),
    scope=strict.obj(domain=strict.obj(id=strict.STR),
                     **{"OS-INHERIT:inherited_to": {"const": "projects"}}),
    links=strict.obj(assignment=strict.STR))


def test_project_tags(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    project = identity.new_project(admin, tags=["alpha"])
    url = f"{identity.v3}/projects/{project['id']}/tags"
    assert strict.ok(requests.get(url, headers=h), 200, TAGS)["tags"] == ["alpha"]
    r = requests.put(f"{url}/beta gamma", headers=h)
    assert strict.ok(r, 201, TAGS)["tags"] == ["alpha", "beta gamma"]
    assert r.headers["Location"] == f"{url}/{quote('beta gamma', safe='')}"
    strict.ok(requests.put(f"{url}/beta gamma", headers=h), 201)  # idempotent
    strict.ok(requests.get(f"{url}/alpha", headers=h), 204)
    assert requests.head(f"{url}/alpha", headers=h).status_code == 204
    assert_keystone_error(requests.get(f"{url}/Alpha", headers=h), 404)  # case-sensitive
    assert requests.get(f"{identity.v3}/projects/{project['id']}",
                        headers=h).json()["project"]["tags"] == ["alpha", "beta gamma"]
    r = requests.put(url, headers=h, json={"tags": ["one", "two"]})
    assert strict.ok(r, 200, TAGS)["tags"] == ["one", "two"]
    strict.ok(requests.delete(f"{url}/one", headers=h), 204)
    assert_keystone_error(requests.delete(f"{url}/one", headers=h), 404)
    strict.ok(requests.delete(url, headers=h), 204)
    assert strict.ok(requests.get(url, headers=h), 200, TAGS)["tags"] == []
    # the rules: no ',' or '/', at most 255 characters, 80 tags, each once
    for bad in (["a,b"], ["a/b"], ["x" * 256], [""], ["same", "same"],
                [f"t{i}" for i in range(81)]):
        assert_keystone_error(requests.put(url, headers=h, json={"tags": bad}), 400)
        r = requests.patch(f"{identity.v3}/projects/{project['id']}", headers=h,
                           json={"project": {"tags": bad}})
        assert_keystone_error(r, 400)
    assert_keystone_error(requests.put(f"{url}/a,b", headers=h), 400)
    assert_keystone_error(requests.put(f"{url}/a%2Fb", headers=h), 400)
    strict.ok(requests.put(url, headers=h, json={"tags": [f"t{i}" for i in range(80)]}), 200)
    assert_keystone_error(requests.put(f"{url}/one-more", headers=h), 400)
    assert_keystone_error(requests.put(url, headers=h, json={"tag": []}), 400)
    assert_keystone_error(requests.get(f"{identity.v3}/projects/nope/tags", headers=h), 404)


def test_project_tag_policy_and_filters(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    p1 = identity.new_project(admin, tags=["red", "shared"])
    p2 = identity.new_project(admin, tags=["blue", "shared"])
    p3 = identity.new_project(admin)

    def listed(**query: str) -> set[str]:
        r = requests.get(identity.v3 + "/projects", headers=h, params=query)
        return {p["id"] for p in r.json()["projects"]} & {p1["id"], p2["id"], p3["id"]}

    assert listed(tags="shared") == {p1["id"], p2["id"]}
    assert listed(tags="shared,red") == {p1["id"]}
    assert listed(**{"tags-any": "red,blue"}) == {p1["id"], p2["id"]}
    assert listed(**{"not-tags": "shared,red"}) == {p2["id"], p3["id"]}
    assert listed(**{"not-tags-any": "red,blue"}) == {p3["id"]}
    assert listed(tags="shared", **{"tags-any": "blue"}) == {p2["id"]}
    # a project's members set its tags; members of other projects do not
    demo, body = identity.token("demo", DEMO_PASSWORD, "demo")
    demo_tags = f"{identity.v3}/projects/{body['project']['id']}/tags"
    strict.ok(requests.put(f"{demo_tags}/mine", headers=hdr(demo)), 201)
    assert "mine" in requests.get(demo_tags, headers=hdr(demo)).json()["tags"]
    strict.ok(requests.delete(f"{demo_tags}/mine", headers=hdr(demo)), 204)
    assert_keystone_error(requests.put(f"{identity.v3}/projects/{p1['id']}/tags/x",
                                       headers=hdr(demo)), 403)
    assert_keystone_error(requests.get(f"{identity.v3}/projects/{p1['id']}/tags",
                                       headers=hdr(demo)), 403)


def test_names_and_domains_are_validated(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    for kind in ("domains", "projects"):
        member = kind[:-1]
        r = requests.post(f"{identity.v3}/{kind}", headers=h,
                          json={member: {"name": "x" * 65}})
        assert_keystone_error(r, 400)
        r = requests.post(f"{identity.v3}/{kind}", headers=h,
                          json={member: {"name": unique("n").ljust(64, "n")}})
        assert r.status_code == 201, r.text
        made = r.json()[member]
        r = requests.patch(f"{identity.v3}/{kind}/{made['id']}", headers=h,
                           json={member: {"name": "y" * 65}})
        assert_keystone_error(r, 400)
    # users and groups keep 255 characters
    strict.ok(requests.post(identity.v3 + "/users", headers=h,
                            json={"user": {"name": unique("u").ljust(200, "u")}}), 201)
    for kind in ("users", "groups", "projects"):
        r = requests.post(f"{identity.v3}/{kind}", headers=h, json={
            kind[:-1]: {"name": unique("x"), "domain_id": "no-such-domain"}})
        assert_keystone_error(r, 404)


def test_project_hierarchy(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    top = identity.new_project(admin)
    mid = identity.new_project(admin, parent_id=top["id"])
    leaf = identity.new_project(admin, parent_id=mid["id"])
    assert strict.check(leaf, strict.PROJECT)["parent_id"] == mid["id"]
    assert top["parent_id"] == "default" and top["is_domain"] is False
    # a domain may be named as the parent of a top-level project
    beside = identity.new_project(admin, parent_id="default")
    assert beside["parent_id"] == "default" and beside["domain_id"] == "default"
    r = requests.get(f"{identity.v3}/projects/{leaf['id']}?parents_as_ids", headers=h)
    assert r.json()["project"]["parents"] == {mid["id"]: {top["id"]: {"default": None}}}
    r = requests.get(f"{identity.v3}/projects/{top['id']}?subtree_as_ids", headers=h)
    assert r.json()["project"]["subtree"] == {mid["id"]: {leaf["id"]: None}}
    # the *_as_list forms show the projects the caller has a role on
    user = identity.new_user(admin)
    identity.grant(admin, f"projects/{mid['id']}/users/{user['id']}/roles/"
                          f"{identity.role_id(admin, 'reader')}")
    tok, _ = identity.token(user["name"], "pw", mid["name"])
    r = requests.get(f"{identity.v3}/projects/{mid['id']}?parents_as_list&subtree_as_list",
                     headers=hdr(tok))
    shown = r.json()["project"]
    assert shown["parents"] == [] and shown["subtree"] == []
    r = requests.get(f"{identity.v3}/projects/{leaf['id']}?parents_as_list", headers=h)
    assert r.status_code == 200
    assert_keystone_error(requests.get(
        f"{identity.v3}/projects/{leaf['id']}?parents_as_list&parents_as_ids", headers=h), 400)
    # listing by parent; projects acting as domains
    r = requests.get(identity.v3 + "/projects", headers=h, params={"parent_id": mid["id"]})
    assert [p["id"] for p in r.json()["projects"]] == [leaf["id"]]
    r = requests.get(identity.v3 + "/projects", headers=h, params={"is_domain": "true"})
    domains = r.json()["projects"]
    assert "default" in {d["id"] for d in domains}
    assert all(strict.check(d, strict.PROJECT)["is_domain"] for d in domains)
    # the rules: parent exists, same domain, at most five levels, parent stays
    assert_keystone_error(requests.post(identity.v3 + "/projects", headers=h, json={
        "project": {"name": unique("x"), "parent_id": "nope"}}), 404)
    dom = requests.post(identity.v3 + "/domains", headers=h,
                        json={"domain": {"name": unique("d")}}).json()["domain"]
    assert_keystone_error(requests.post(identity.v3 + "/projects", headers=h, json={
        "project": {"name": unique("x"), "parent_id": top["id"], "domain_id": dom["id"]}}),
        400)
    assert_keystone_error(requests.post(identity.v3 + "/projects", headers=h, json={
        "project": {"name": unique("x"), "is_domain": True}}), 400)
    l4 = identity.new_project(admin, parent_id=leaf["id"])
    l5 = identity.new_project(admin, parent_id=l4["id"])
    assert_keystone_error(requests.post(identity.v3 + "/projects", headers=h, json={
        "project": {"name": unique("x"), "parent_id": l5["id"]}}), 403)
    assert_keystone_error(requests.patch(f"{identity.v3}/projects/{leaf['id']}", headers=h,
                                         json={"project": {"parent_id": top["id"]}}), 403)
    assert_keystone_error(requests.delete(f"{identity.v3}/projects/{mid['id']}", headers=h),
                          403)  # it has children


def _inherit_url(identity: IdentityServer, target: str, tid: str, actor: str, aid: str,
                 role: str = "") -> str:
    tail = f"/{role}/inherited_to_projects" if role else "/inherited_to_projects"
    return f"{identity.v3}/OS-INHERIT/{target}/{tid}/{actor}/{aid}/roles{tail}"


def test_os_inherit(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    dom = requests.post(identity.v3 + "/domains", headers=h,
                        json={"domain": {"name": unique("d")}}).json()["domain"]
    top = identity.new_project(admin, domain_id=dom["id"])
    child = identity.new_project(admin, parent_id=top["id"])
    user = identity.new_user(admin, domain_id=dom["id"])
    reader, member = identity.role_id(admin, "reader"), identity.role_id(admin, "member")

    # a domain grant inherited to projects: every project of the domain, not the domain
    url = _inherit_url(identity, "domains", dom["id"], "users", user["id"], reader)
    assert requests.head(url, headers=h).status_code == 404
    strict.ok(requests.put(url, headers=h), 204)
    strict.ok(requests.head(url, headers=h), 204)
    strict.ok(requests.get(url, headers=h), 204)
    listed = strict.ok(requests.get(_inherit_url(identity, "domains", dom["id"], "users",
                                                 user["id"]), headers=h), 200, strict.ROLES)
    assert [r["id"] for r in listed["roles"]] == [reader]
    # not a direct grant on the domain
    r = requests.get(f"{identity.v3}/domains/{dom['id']}/users/{user['id']}/roles", headers=h)
    assert r.json()["roles"] == []
    r = requests.post(identity.v3 + "/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": user["id"], "password": "pw"}}},
        "scope": {"domain": {"id": dom["id"]}}}})
    assert_keystone_error(r, 401)
    for project in (top, child):
        r = requests.post(identity.v3 + "/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "id": user["id"], "password": "pw"}}},
            "scope": {"project": {"id": project["id"]}}}})
        assert r.status_code == 201, r.text
        assert [x["name"] for x in r.json()["token"]["roles"]] == ["reader"]
    r = requests.get(identity.v3 + "/role_assignments", headers=h,
                     params={"user.id": user["id"]})
    (a,) = r.json()["role_assignments"]
    strict.check(a, INHERITED_ASSIGNMENT)
    assert a["links"]["assignment"] == url
    r = requests.get(identity.v3 + "/role_assignments", headers=h, params={
        "user.id": user["id"], "scope.OS-INHERIT:inherited_to": "projects"})
    assert len(r.json()["role_assignments"]) == 1
    r = requests.get(identity.v3 + "/role_assignments?effective", headers=h,
                     params={"user.id": user["id"]})
    eff = r.json()["role_assignments"]
    assert {(x["scope"]["project"]["id"], x["role"]["id"]) for x in eff} == {
        (top["id"], reader), (child["id"], reader)}
    assert all(x["links"]["assignment"] == url and "OS-INHERIT:inherited_to" not in x["scope"]
               for x in eff)
    r = requests.get(identity.v3 + "/role_assignments?effective", headers=h,
                     params={"user.id": user["id"], "scope.project.id": child["id"]})
    assert [x["scope"]["project"]["id"] for x in r.json()["role_assignments"]] == [child["id"]]
    # a project grant inherited to its subtree, through a group: the children only
    group = requests.post(identity.v3 + "/groups", headers=h, json={"group": {
        "name": unique("g"), "domain_id": dom["id"]}}).json()["group"]
    identity.grant(admin, f"groups/{group['id']}/users/{user['id']}")
    gurl = _inherit_url(identity, "projects", top["id"], "groups", group["id"], member)
    strict.ok(requests.put(gurl, headers=h), 204)
    r = requests.get(identity.v3 + "/role_assignments?effective&include_names", headers=h,
                     params={"user.id": user["id"], "role.id": member})
    got = r.json()["role_assignments"]
    assert [(x["scope"]["project"]["id"], x["links"]["membership"]) for x in got] == [
        (child["id"], f"{identity.v3}/groups/{group['id']}/users/{user['id']}")]
    assert got[0]["role"]["name"] == "member" and got[0]["scope"]["project"]["name"] == \
        child["name"]
    r = requests.get(identity.v3 + "/role_assignments?effective&include_subtree", headers=h,
                     params={"scope.project.id": top["id"], "user.id": user["id"]})
    scopes = {(x["scope"]["project"]["id"], x["role"]["id"]) for x in r.json()["role_assignments"]}
    assert (child["id"], member) in scopes and (top["id"], member) not in scopes
    assert_keystone_error(requests.get(identity.v3 + "/role_assignments?include_subtree",
                                       headers=h), 400)
    assert_keystone_error(requests.get(identity.v3 + "/role_assignments?effective",
                                       headers=h, params={"group.id": group["id"]}), 400)
    # the projects the user may scope to include the inherited ones
    r = requests.get(f"{identity.v3}/users/{user['id']}/projects", headers=h)
    assert {p["id"] for p in r.json()["projects"]} == {top["id"], child["id"]}
    # revoke both; the tokens' roles go with them
    strict.ok(requests.delete(gurl, headers=h), 204)
    strict.ok(requests.delete(url, headers=h), 204)
    assert_keystone_error(requests.delete(url, headers=h), 404)
    assert requests.get(identity.v3 + "/role_assignments", headers=h, params={
        "user.id": user["id"]}).json()["role_assignments"] == []
    # unknown targets, actors, roles
    for bad in (_inherit_url(identity, "domains", "nope", "users", user["id"], reader),
                _inherit_url(identity, "projects", top["id"], "groups", "nope", reader),
                _inherit_url(identity, "projects", top["id"], "users", user["id"], "nope"),
                _inherit_url(identity, "regions", top["id"], "users", user["id"], reader)):
        assert_keystone_error(requests.put(bad, headers=h), 404)
