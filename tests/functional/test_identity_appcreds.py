"""Application credentials and access rules over raw HTTP, against strict
response schemas, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import time
from typing import Any

import requests

from tests.functional import strict
from tests.functional.identity_server import (
    IdentityServer,
    assert_keystone_error,
    hdr,
    unique,
)

ROLE_REF = strict.obj(id=strict.STR, name=strict.STR, domain_id={"type": "null"})
RULE = strict.obj(id=strict.STR, service=strict.STR, method=strict.STR, path=strict.STR)
EXPIRY = {"type": ["string", "null"],
          "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$"}
CRED_FIELDS: dict[str, Any] = dict(
    id=strict.STR, name=strict.STR, description=strict.STR_OR_NULL, expires_at=EXPIRY,
    project_id=strict.STR, roles=strict.array(ROLE_REF), access_rules=strict.array(RULE),
    unrestricted=strict.BOOL, links=strict.SELF)
CREATED = strict.obj(application_credential=strict.obj(secret=strict.STR, **CRED_FIELDS))
SHOWN = strict.obj(application_credential=strict.obj(**CRED_FIELDS))
LISTED = strict.obj(application_credentials=strict.array(strict.obj(**CRED_FIELDS)),
                    links=strict.COLLECTION_LINKS)
ACCESS_RULE = strict.obj(id=strict.STR, service=strict.STR, method=strict.STR,
                         path=strict.STR, links=strict.SELF)
APP_CRED_TOKEN = strict.token(
    project=strict.obj(id=strict.STR, name=strict.STR, domain=strict.ID_NAME),
    is_domain=strict.BOOL, roles=strict.array(strict.ID_NAME, minItems=1),
    catalog=strict.CATALOG,
    application_credential={"type": "object", "properties": {
        "id": strict.STR, "name": strict.STR, "restricted": strict.BOOL,
        "access_rules": strict.array(RULE)}, "required": ["id", "name", "restricted"],
        "additionalProperties": False})


class Member:
    """A fresh user holding ``member`` on a fresh project, and its token."""

    def __init__(self, identity: IdentityServer, admin: str) -> None:
        self.identity = identity
        self.user = identity.new_user(admin)
        self.project = identity.new_project(admin)
        self.member_role = identity.role_id(admin, "member")
        self.grant_path = (f"projects/{self.project['id']}/users/{self.user['id']}/roles/"
                           f"{self.member_role}")
        identity.grant(admin, self.grant_path)
        self.token, _ = identity.token(self.user["name"], "pw", self.project["name"])
        self.base = f"{identity.v3}/users/{self.user['id']}/application_credentials"

    def create(self, token: str | None = None, **body: Any) -> requests.Response:
        body.setdefault("name", unique("cred"))
        return requests.post(self.base, headers=hdr(token or self.token),
                             json={"application_credential": body})


def cred_auth(identity: IdentityServer, ref: dict[str, Any],
              scope: Any = None) -> requests.Response:
    auth: dict[str, Any] = {"identity": {"methods": ["application_credential"],
                                         "application_credential": ref}}
    if scope is not None:
        auth["scope"] = scope
    return requests.post(identity.v3 + "/auth/tokens", json={"auth": auth})


def test_create_list_show_delete(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    me = Member(identity, admin)
    expires = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2)).replace(
        microsecond=0)
    made = strict.ok(me.create(
        name="backup", description="nightly backups", roles=[{"name": "reader"}],
        expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        access_rules=[{"service": "object-store", "method": "PUT", "path": "/v1/**"}]),
        201, CREATED)["application_credential"]
    assert made["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000000")
    assert [r["name"] for r in made["roles"]] == ["reader"]
    assert made["project_id"] == me.project["id"] and made["unrestricted"] is False
    assert len(made["secret"]) >= 64
    assert made["links"]["self"] == f"{me.base}/{made['id']}"
    # no roles asked for: the token's; a secret given is used as is
    second = strict.ok(me.create(name="all-mine", secret="my-own-secret", unrestricted=True),
                       201, CREATED)["application_credential"]
    assert second["secret"] == "my-own-secret"
    assert {r["name"] for r in second["roles"]} == {"member", "reader"}
    # the secret is shown once
    shown = strict.ok(requests.get(f"{me.base}/{made['id']}", headers=hdr(me.token)), 200,
                      SHOWN)["application_credential"]
    assert shown["access_rules"] == made["access_rules"]
    listed = strict.ok(requests.get(me.base, headers=hdr(me.token)), 200, LISTED)
    assert {c["name"] for c in listed["application_credentials"]} == {"backup", "all-mine"}
    only = strict.ok(requests.get(me.base, headers=hdr(me.token), params={"name": "backup"}),
                     200, LISTED)
    assert [c["id"] for c in only["application_credentials"]] == [made["id"]]
    assert requests.head(f"{me.base}/{made['id']}", headers=hdr(me.token)).status_code == 200
    # access rules are the user's and are shared
    rules_url = f"{identity.v3}/users/{me.user['id']}/access_rules"
    rules = strict.ok(requests.get(rules_url, headers=hdr(me.token)), 200, strict.obj(
        access_rules=strict.array(ACCESS_RULE), links=strict.COLLECTION_LINKS))
    (rule,) = rules["access_rules"]
    strict.ok(requests.get(f"{rules_url}/{rule['id']}", headers=hdr(me.token)), 200,
              strict.obj(access_rule=ACCESS_RULE))
    reuse = strict.ok(me.create(access_rules=[{"id": rule["id"]}], roles=[{"name": "member"}]),
                      201, CREATED)["application_credential"]
    assert reuse["access_rules"] == [{k: rule[k] for k in ("id", "service", "method", "path")}]
    assert_keystone_error(requests.delete(f"{rules_url}/{rule['id']}", headers=hdr(me.token)),
                          403)  # still in use
    for cred in (made, second, reuse):
        strict.ok(requests.delete(f"{me.base}/{cred['id']}", headers=hdr(me.token)), 204)
    assert_keystone_error(requests.get(f"{me.base}/{made['id']}", headers=hdr(me.token)), 404)
    strict.ok(requests.delete(f"{rules_url}/{rule['id']}", headers=hdr(me.token)), 204)
    assert_keystone_error(requests.get(f"{rules_url}/{rule['id']}", headers=hdr(me.token)), 404)


def test_bad_requests(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    me = Member(identity, admin)
    strict.ok(me.create(name="taken"), 201)
    assert_keystone_error(me.create(name="taken"), 409)
    assert_keystone_error(me.create(roles=[{"name": "admin"}]), 404)  # not held
    assert_keystone_error(me.create(roles=[{"name": "no-such-role"}]), 404)
    assert_keystone_error(me.create(expires_at="yesterday"), 400)
    assert_keystone_error(me.create(expires_at="2001-01-01T00:00:00Z"), 400)
    assert_keystone_error(me.create(access_rules=[{"service": "compute", "method": "BREW",
                                                   "path": "/"}]), 400)
    assert_keystone_error(me.create(access_rules=[{"id": "not-mine"}]), 404)
    assert_keystone_error(me.create(surprise=True), 400)
    assert_keystone_error(requests.post(me.base, headers=hdr(me.token), json={}), 400)
    # only for oneself, and only with a project-scoped token
    other = identity.new_user(admin)
    r = requests.post(f"{identity.v3}/users/{other['id']}/application_credentials",
                      headers=hdr(admin), json={"application_credential": {"name": "x"}})
    assert_keystone_error(r, 403)
    unscoped, _ = identity.token(me.user["name"], "pw", None)
    assert_keystone_error(me.create(unscoped), 400)
    # nobody else's credentials are visible to a member
    assert_keystone_error(requests.get(f"{identity.v3}/users/{other['id']}/application_"
                                       "credentials", headers=hdr(me.token)), 403)
    # ... but an admin sees them
    assert requests.get(me.base, headers=hdr(admin)).status_code == 200
    assert_keystone_error(requests.get(f"{me.base}/nope", headers=hdr(me.token)), 404)


def test_authenticate_and_what_ends_it(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    me = Member(identity, admin)
    made = me.create(name="app", roles=[{"name": "reader"}]).json()["application_credential"]
    r = cred_auth(identity, {"id": made["id"], "secret": made["secret"]})
    body = strict.ok(r, 201, strict.obj(token=APP_CRED_TOKEN))["token"]
    assert body["methods"] == ["application_credential"]
    assert [x["name"] for x in body["roles"]] == ["reader"]
    assert body["project"]["id"] == me.project["id"]
    assert body["application_credential"] == {"id": made["id"], "name": "app",
                                              "restricted": True}
    tok = r.headers["X-Subject-Token"]
    # by name and user, and with the credential's own project as scope
    r = cred_auth(identity, {"name": "app", "secret": made["secret"], "user": {
        "name": me.user["name"], "domain": {"id": "default"}}},
        {"project": {"id": me.project["id"]}})
    assert r.status_code == 201, r.text
    # wrong secret, unknown credential, another scope
    assert_keystone_error(cred_auth(identity, {"id": made["id"], "secret": "x"}), 401)
    assert_keystone_error(cred_auth(identity, {"id": "nope", "secret": "x"}), 401)
    assert_keystone_error(cred_auth(identity, {"id": made["id"], "secret": made["secret"]},
                                    {"project": {"name": "demo",
                                                 "domain": {"id": "default"}}}), 401)
    # the delegated roles are all the token has: a reader cannot write
    assert_keystone_error(requests.post(f"{identity.v3}/projects", headers=hdr(tok),
                                        json={"project": {"name": unique("x")}}), 403)
    # restricted: cannot make or delete credentials; unrestricted can
    assert_keystone_error(me.create(tok), 403)
    assert_keystone_error(requests.delete(f"{me.base}/{made['id']}", headers=hdr(tok)), 403)
    free = me.create(name="free", unrestricted=True).json()["application_credential"]
    free_tok = cred_auth(identity, {"id": free["id"], "secret": free["secret"]}).headers[
        "X-Subject-Token"]
    child = strict.ok(me.create(free_tok, name="child"), 201, CREATED)["application_credential"]
    assert {r["name"] for r in child["roles"]} == {"member", "reader"}

    # losing the role on the project deletes the credentials there: 401 and 404
    strict.ok(requests.delete(f"{identity.v3}/{me.grant_path}", headers=hdr(admin)), 204)
    assert_keystone_error(cred_auth(identity, {"id": made["id"], "secret": made["secret"]}),
                          401)
    r = requests.get(identity.v3 + "/auth/tokens", headers=hdr(admin, **{"X-Subject-Token": tok}))
    assert_keystone_error(r, 404)
    assert requests.get(me.base, headers=hdr(admin)).json()["application_credentials"] == []


def test_expiry_and_user_deletion(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    me = Member(identity, admin)
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=3)
    short = me.create(expires_at=soon.isoformat()).json()["application_credential"]
    r = cred_auth(identity, {"id": short["id"], "secret": short["secret"]})
    assert r.status_code == 201
    expires = datetime.datetime.strptime(r.json()["token"]["expires_at"],
                                         "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC)
    assert expires <= soon  # a token never outlives its credential
    time.sleep(max(0.0, (soon - datetime.datetime.now(datetime.UTC)).total_seconds()) + 0.5)
    assert_keystone_error(cred_auth(identity, {"id": short["id"], "secret": short["secret"]}),
                          401)
    # a role held through a group counts while the user is in the group
    group = requests.post(identity.v3 + "/groups", headers=hdr(admin), json={
        "group": {"name": unique("grp")}}).json()["group"]
    other = identity.new_project(admin)
    identity.grant(admin, f"projects/{other['id']}/groups/{group['id']}/roles/"
                          f"{identity.role_id(admin, 'reader')}")
    membership = f"groups/{group['id']}/users/{me.user['id']}"
    identity.grant(admin, membership)
    there, _ = identity.token(me.user["name"], "pw", other["name"])
    via = me.create(there).json()["application_credential"]
    via_tok = cred_auth(identity, {"id": via["id"], "secret": via["secret"]}).headers[
        "X-Subject-Token"]
    strict.ok(requests.delete(f"{identity.v3}/{membership}", headers=hdr(admin)), 204)
    r = requests.get(identity.v3 + "/auth/tokens",
                     headers=hdr(admin, **{"X-Subject-Token": via_tok}))
    assert_keystone_error(r, 404)
    assert_keystone_error(cred_auth(identity, {"id": via["id"], "secret": via["secret"]}), 401)
    # deleting the user ends its credentials and their tokens
    kept = me.create(roles=[{"name": "member"}]).json()["application_credential"]
    tok = cred_auth(identity, {"id": kept["id"], "secret": kept["secret"]}).headers[
        "X-Subject-Token"]
    strict.ok(requests.delete(f"{identity.v3}/users/{me.user['id']}", headers=hdr(admin)), 204)
    r = requests.get(identity.v3 + "/auth/tokens", headers=hdr(admin, **{"X-Subject-Token": tok}))
    assert_keystone_error(r, 404)
    assert_keystone_error(cred_auth(identity, {"id": kept["id"], "secret": kept["secret"]}),
                          401)
