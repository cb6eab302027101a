"""System scope: role grants on the system, system-scoped tokens, their place in
/v3/role_assignments and /v3/auth/system, and the policy of system readers and
admins; raw HTTP against strict response schemas, on SQLite and PostgreSQL."""

from __future__ import annotations

import requests

from tests.functional import strict
from tests.functional.identity_server import (
    ADMIN_PASSWORD,
    DEMO_PASSWORD,
    IdentityServer,
    assert_keystone_error,
    hdr,
    unique,
)

SYSTEM_TOKEN = strict.token(system=strict.obj(all={"const": True}),
                            roles=strict.array(strict.ID_NAME, minItems=1),
                            catalog=strict.CATALOG)
SYSTEM_SCOPES = strict.obj(system=strict.array(strict.obj(all={"const": True})),
                           links=strict.SELF)
ASSIGNMENT = strict.obj(role=strict.obj(id=strict.STR), user=strict.obj(id=strict.STR),
                        scope=strict.obj(system=strict.obj(all={"const": True})),
                        links=strict.obj(assignment=strict.STR))


def test_system_grants_tokens_and_assignments(identity: IdentityServer) -> None:
    admin, admin_body = identity.token()
    h = hdr(admin)
    user = identity.new_user(admin)
    reader = identity.role_id(admin, "reader")
    grant = f"{identity.v3}/system/users/{user['id']}/roles/{reader}"
    assert requests.head(grant, headers=h).status_code == 404
    # no role on the system: no system token, and no system scope offered
    r = identity.password_auth(user["name"], "pw", {"system": {"all": True}})
    assert_keystone_error(r, 401)
    strict.ok(requests.put(grant, headers=h), 204)
    strict.ok(requests.put(grant, headers=h), 204)  # idempotent
    strict.ok(requests.head(grant, headers=h), 204)
    strict.ok(requests.get(grant, headers=h), 204)
    listed = strict.ok(requests.get(f"{identity.v3}/system/users/{user['id']}/roles",
                                    headers=h), 200, strict.ROLES)
    assert [x["name"] for x in listed["roles"]] == ["reader"]
    # unknown user or role
    assert_keystone_error(requests.put(f"{identity.v3}/system/users/nobody/roles/{reader}",
                                       headers=h), 404)
    assert_keystone_error(requests.put(f"{identity.v3}/system/users/{user['id']}/roles/nope",
                                       headers=h), 404)

    tok, body = identity.system_token(user["name"], "pw")
    strict.check(body, SYSTEM_TOKEN)
    assert [x["name"] for x in body["roles"]] == ["reader"]
    assert "identity" in {s["type"] for s in body["catalog"]}
    # validation shows the same scope; ?nocatalog leaves the catalog out
    r = requests.get(identity.v3 + "/auth/tokens?nocatalog",
                     headers=hdr(admin, **{"X-Subject-Token": tok}))
    shown = strict.ok(r, 200, strict.obj(token=strict.token(
        system=strict.obj(all={"const": True}), roles=strict.array(strict.ID_NAME))))
    assert shown["token"]["user"]["id"] == user["id"]
    scopes = strict.ok(requests.get(identity.v3 + "/auth/system", headers=hdr(tok)), 200,
                       SYSTEM_SCOPES)
    assert scopes["system"] == [{"all": True}]
    demo, _ = identity.token("demo", DEMO_PASSWORD, "demo")
    none = strict.ok(requests.get(identity.v3 + "/auth/system", headers=hdr(demo)), 200,
                     SYSTEM_SCOPES)
    assert none["system"] == []

    # /v3/role_assignments shows the system grant, with names on request
    r = requests.get(identity.v3 + "/role_assignments", headers=h,
                     params={"scope.system": "all", "user.id": user["id"]})
    strict.ok(r, 200)
    (a,) = r.json()["role_assignments"]
    strict.check(a, ASSIGNMENT)
    assert a["links"]["assignment"] == grant
    r = requests.get(identity.v3 + "/role_assignments?include_names", headers=h,
                     params={"scope.system": "all", "user.id": user["id"]})
    (a,) = r.json()["role_assignments"]
    assert a["role"]["name"] == "reader" and a["user"]["name"] == user["name"]
    assert a["user"]["domain"] == {"id": "default", "name": "Default"}
    # the bootstrap admin is a system admin, as keystone-manage bootstrap makes it
    r = requests.get(identity.v3 + "/role_assignments?effective&include_names", headers=h,
                     params={"scope.system": "all", "user.id": admin_body["user"]["id"]})
    assert {x["role"]["name"] for x in r.json()["role_assignments"]} == {
        "admin", "member", "reader"}
    assert all(x["scope"] == {"system": {"all": True}} for x in r.json()["role_assignments"])
    # filtering by one scope only
    assert_keystone_error(requests.get(identity.v3 + "/role_assignments", headers=h, params={
        "scope.system": "all", "scope.project.id": "x"}), 400)

    # the token dies with the grant
    strict.ok(requests.delete(grant, headers=h), 204)
    assert_keystone_error(requests.delete(grant, headers=h), 404)
    r = requests.get(identity.v3 + "/auth/tokens", headers=hdr(admin, **{"X-Subject-Token": tok}))
    assert_keystone_error(r, 404)


def test_group_system_grants(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    group = requests.post(identity.v3 + "/groups", headers=h, json={"group": {
        "name": unique("grp")}}).json()["group"]
    user = identity.new_user(admin)
    identity.grant(admin, f"groups/{group['id']}/users/{user['id']}")
    member = identity.role_id(admin, "member")
    grant = f"{identity.v3}/system/groups/{group['id']}/roles/{member}"
    strict.ok(requests.put(grant, headers=h), 204)
    strict.ok(requests.head(grant, headers=h), 204)
    listed = strict.ok(requests.get(f"{identity.v3}/system/groups/{group['id']}/roles",
                                    headers=h), 200, strict.ROLES)
    assert [x["name"] for x in listed["roles"]] == ["member"]
    _, body = identity.system_token(user["name"], "pw")
    assert {x["name"] for x in body["roles"]} == {"member", "reader"}
    r = requests.get(identity.v3 + "/role_assignments", headers=h,
                     params={"scope.system": "all", "group.id": group["id"]})
    (a,) = r.json()["role_assignments"]
    assert a["group"] == {"id": group["id"]} and a["scope"] == {"system": {"all": True}}
    strict.ok(requests.delete(grant, headers=h), 204)
    assert_keystone_error(identity.password_auth(user["name"], "pw",
                                                 {"system": {"all": True}}), 401)


def test_system_scope_policy(identity: IdentityServer) -> None:
    """System readers and members read everything and change nothing; a system
    admin does everything; a project admin stays an admin (legacy)."""
    admin, admin_body = identity.token()
    admin_id = admin_body["user"]["id"]
    h = hdr(admin)
    users = {}
    for role in ("reader", "member"):
        u = identity.new_user(admin)
        identity.grant(admin, f"system/users/{u['id']}/roles/{identity.role_id(admin, role)}")
        users[role] = identity.system_token(u["name"], "pw")[0]
    for role, tok in users.items():
        for path in ("/users", "/projects", "/domains", "/role_assignments", "/groups",
                     "/services", "/endpoints", f"/system/users/{admin_id}/roles"):
            assert requests.get(identity.v3 + path, headers=hdr(tok)).status_code == 200, (
                role, path)
        for method, path, data in [
            ("post", "/projects", {"project": {"name": unique("x")}}),
            ("post", "/users", {"user": {"name": unique("x")}}),
            ("put", f"/system/users/{admin_id}/roles/{identity.role_id(admin, 'reader')}",
             None),
        ]:
            r = requests.request(method, identity.v3 + path, headers=hdr(tok), json=data)
            assert_keystone_error(r, 403)
    sysadmin, _ = identity.system_token()
    r = requests.post(identity.v3 + "/projects", headers=hdr(sysadmin),
                      json={"project": {"name": unique("by-system-admin")}})
    assert r.status_code == 201, r.text
    # a project admin keeps the legacy admin's rights
    r = requests.post(identity.v3 + "/projects", headers=h,
                      json={"project": {"name": unique("by-project-admin")}})
    assert r.status_code == 201
    # a project member still cannot read the system's grants
    demo, _ = identity.token("demo", DEMO_PASSWORD, "demo")
    r = requests.get(f"{identity.v3}/system/users/{admin_id}/roles", headers=hdr(demo))
    assert_keystone_error(r, 403)


def test_system_scope_requests_that_are_wrong(identity: IdentityServer) -> None:
    assert_keystone_error(identity.password_auth("admin", "wrong", {"system": {"all": True}}),
                          401)
    assert_keystone_error(identity.password_auth("admin", ADMIN_PASSWORD,
                                                 {"system": {"all": False}}), 401)
    r = identity.password_auth("admin", ADMIN_PASSWORD, {
        "system": {"all": True}, "project": {"name": "admin", "domain": {"id": "default"}}})
    assert_keystone_error(r, 400)
    # a system token cannot be rescoped to a project
    sys_tok, _ = identity.system_token()
    r = requests.post(identity.v3 + "/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": sys_tok}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    assert_keystone_error(r, 403)
    # ... but re-issued for the system it is
    r = requests.post(identity.v3 + "/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": sys_tok}}}})
    assert r.status_code == 201 and r.json()["token"]["system"] == {"all": True}
