"""The identity HTTP API, driven over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import requests
from botocore.auth import S3SigV4Auth, S3SigV4PostAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.functional.identity_server import (
    ADMIN_PASSWORD,
    DEMO_PASSWORD,
    IdentityServer,
    assert_keystone_error,
    hdr,
    unique,
)

# --- discovery and tokens ------------------------------------------------------------


def test_version_discovery(identity: IdentityServer) -> None:
    r = requests.get(identity.url + "/")
    assert r.status_code == 300
    (v,) = r.json()["versions"]["values"]
    assert v["id"].startswith("v3.") and v["status"] == "stable"
    assert v["links"][0]["href"] == identity.v3 + "/"
    r = requests.get(identity.v3)
    assert r.status_code == 200 and r.json()["version"]["id"] == v["id"]
    assert r.headers["X-Openstack-Request-Id"].startswith("req-")


def test_password_token_scoped_by_name_has_roles_and_catalog(identity: IdentityServer) -> None:
    _token, body = identity.token()
    assert body["methods"] == ["password"]
    assert body["user"]["name"] == "admin" and body["user"]["domain"]["id"] == "default"
    assert body["project"]["name"] == "admin"
    assert {r["name"] for r in body["roles"]} == {"admin", "member", "reader"}
    types = {s["type"] for s in body["catalog"]}
    assert "identity" in types
    (ident,) = [s for s in body["catalog"] if s["type"] == "identity"]
    assert {e["interface"] for e in ident["endpoints"]} == {"public", "internal", "admin"}
    assert all(e["region"] == "RegionOne" and e["url"] == identity.v3
               for e in ident["endpoints"])
    issued = time.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    expires = time.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert 3500 < time.mktime(expires) - time.mktime(issued) <= 3600


def test_scope_by_project_id_and_user_id(identity: IdentityServer) -> None:
    _, body = identity.token()
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": body["user"]["id"], "password": ADMIN_PASSWORD}}},
        "scope": {"project": {"id": body["project"]["id"]}}}}
    r = requests.post(identity.v3 + "/auth/tokens?nocatalog", json=auth)
    assert r.status_code == 201
    assert r.json()["token"]["project"]["id"] == body["project"]["id"]
    assert "catalog" not in r.json()["token"]


def test_unscoped_and_domain_scoped_tokens(identity: IdentityServer) -> None:
    token, body = identity.token(project=None)
    assert "project" not in body and "roles" not in body and "catalog" not in body
    # unscoped tokens list the projects the user may scope to
    r = requests.get(identity.v3 + "/auth/projects", headers=hdr(token))
    assert r.status_code == 200
    assert "admin" in {p["name"] for p in r.json()["projects"]}
    # a catalog needs a scope
    assert_keystone_error(requests.get(identity.v3 + "/auth/catalog", headers=hdr(token)), 403)
    # domain scope without a role on the domain is refused
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}},
        "scope": {"domain": {"id": "default"}}}}
    assert_keystone_error(requests.post(identity.v3 + "/auth/tokens", json=auth), 401)


def test_token_method_rescopes_unscoped_token(identity: IdentityServer) -> None:
    unscoped, first = identity.token(project=None)
    auth = {"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}},
                     "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    r = requests.post(identity.v3 + "/auth/tokens", json=auth)
    assert r.status_code == 201, r.text
    body = r.json()["token"]
    assert body["project"]["name"] == "admin"
    assert set(body["methods"]) == {"password", "token"}
    assert body["audit_ids"][1] == first["audit_ids"][0]
    assert body["expires_at"] <= first["expires_at"]


def test_validate_check_and_revoke(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    demo, demo_body = identity.token("demo", DEMO_PASSWORD, "demo")
    r = requests.get(identity.v3 + "/auth/tokens", headers=hdr(admin, **{"X-Subject-Token": demo}))
    assert r.status_code == 200
    assert r.headers["X-Subject-Token"] == demo
    assert r.json()["token"]["user"]["name"] == "demo"
    assert {x["name"] for x in r.json()["token"]["roles"]} == {"member", "reader"}
    r = requests.head(identity.v3 + "/auth/tokens", headers=hdr(admin, **{"X-Subject-Token": demo}))
    assert r.status_code == 200
    # a member may validate its own token, but not somebody else's
    r = requests.get(identity.v3 + "/auth/tokens", headers=hdr(demo, **{"X-Subject-Token": admin}))
    assert_keystone_error(r, 403)
    # revoke: validation says 404, use says 401
    r = requests.delete(identity.v3 + "/auth/tokens",
                        headers=hdr(admin, **{"X-Subject-Token": demo}))
    assert r.status_code == 204
    r = requests.get(identity.v3 + "/auth/tokens", headers=hdr(admin, **{"X-Subject-Token": demo}))
    assert_keystone_error(r, 404)
    r = requests.head(identity.v3 + "/auth/tokens", headers=hdr(admin, **{"X-Subject-Token": demo}))
    assert r.status_code == 404
    r = requests.get(identity.v3 + f"/users/{demo_body['user']['id']}", headers=hdr(demo))
    err = assert_keystone_error(r, 401)
    assert "authentication" in err["message"]
    assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")
    # other tokens of the same user are unaffected
    demo2, _ = identity.token("demo", DEMO_PASSWORD, "demo")
    r = requests.get(identity.v3 + f"/users/{demo_body['user']['id']}", headers=hdr(demo2))
    assert r.status_code == 200


def test_forged_and_garbage_tokens(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    raw = bytearray(base64.urlsafe_b64decode(admin + "=" * (-len(admin) % 4)))
    raw[40] ^= 0x01
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for bad in (forged, "garbage", "x" * 9000, admin[:-4]):
        r = requests.get(identity.v3 + "/auth/tokens",
                         headers=hdr(admin, **{"X-Subject-Token": bad}))
        assert_keystone_error(r, 404)
        assert_keystone_error(requests.get(identity.v3 + "/projects", headers=hdr(bad)), 401)


def test_authentication_failures(identity: IdentityServer) -> None:
    def attempt(user: dict[str, Any], scope: Any = None) -> requests.Response:
        auth: dict[str, Any] = {"identity": {"methods": ["password"],
                                             "password": {"user": user}}}
        if scope is not None:
            auth["scope"] = scope
        return requests.post(identity.v3 + "/auth/tokens", json={"auth": auth})

    dom = {"id": "default"}
    assert_keystone_error(attempt({"name": "admin", "domain": dom, "password": "wrong"}), 401)
    assert_keystone_error(attempt({"name": "nobody", "domain": dom, "password": "x"}), 401)
    assert_keystone_error(
        attempt({"name": "admin", "domain": {"id": "nodomain"}, "password": ADMIN_PASSWORD}),
        401)
    assert_keystone_error(attempt(
        {"name": "admin", "domain": dom, "password": ADMIN_PASSWORD},
        {"project": {"name": "no-such-project", "domain": dom}}), 401)
    # demo has no role on the admin project
    assert_keystone_error(attempt(
        {"name": "demo", "domain": dom, "password": DEMO_PASSWORD},
        {"project": {"name": "admin", "domain": dom}}), 401)
    r = requests.post(identity.v3 + "/auth/tokens", json={"auth": {"identity": {
        "methods": ["totp"], "totp": {}}}})
    assert_keystone_error(r, 401)


def test_malformed_requests(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    r = requests.post(identity.v3 + "/auth/tokens", data=b"{not json",
                      headers={"Content-Type": "application/json"})
    assert "Malformed JSON" in assert_keystone_error(r, 400)["message"]
    r = requests.post(identity.v3 + "/auth/tokens", json={"auth": {}})
    assert "identity" in assert_keystone_error(r, 400)["message"]
    r = requests.post(identity.v3 + "/auth/tokens", data=b"",
                      headers={"Content-Type": "application/json"})
    assert_keystone_error(r, 400)
    r = requests.post(identity.v3 + "/projects", json={"project": {"name": 5}},
                      headers=hdr(admin))
    assert "project.name" in assert_keystone_error(r, 400)["message"]
    r = requests.post(identity.v3 + "/projects", data=b"\xff\xfe",
                      headers=hdr(admin, **{"Content-Type": "application/json"}))
    assert_keystone_error(r, 400)


def test_oversize_bodies_are_413(identity: IdentityServer) -> None:
    big = b"{" + b" " * (10 * 1024 * 1024) + b"}"
    r = requests.post(identity.v3 + "/auth/tokens", data=big,
                      headers={"Content-Type": "application/json"})
    assert_keystone_error(r, 413)

    def chunks() -> Any:
        for _ in range(160):
            yield b" " * 65536

    r = requests.post(identity.v3 + "/auth/tokens", data=chunks(),
                      headers={"Content-Type": "application/json"})
    assert_keystone_error(r, 413)


def test_missing_token_unknown_route_and_method(identity: IdentityServer) -> None:
    assert_keystone_error(requests.get(identity.v3 + "/projects"), 401)
    assert_keystone_error(requests.get(identity.v3 + "/auth/tokens"), 401)
    admin, _ = identity.token()
    assert_keystone_error(requests.get(identity.v3 + "/nothing-here", headers=hdr(admin)), 404)
    assert_keystone_error(requests.get(identity.v3 + "/projects/nope", headers=hdr(admin)), 404)
    assert_keystone_error(requests.put(identity.v3 + "/projects", headers=hdr(admin)), 405)


# --- resources ------------------------------------------------------------------------


def test_project_user_role_lifecycle(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    pname, uname = unique("proj"), unique("user")
    r = requests.post(identity.v3 + "/projects", headers=h,
                      json={"project": {"name": pname, "description": "d", "tags": ["t"]}})
    assert r.status_code == 201, r.text
    project = r.json()["project"]
    assert project["domain_id"] == "default" and project["tags"] == ["t"]
    assert project["links"]["self"] == f"{identity.v3}/projects/{project['id']}"
    r = requests.post(identity.v3 + "/projects", headers=h, json={"project": {"name": pname}})
    assert_keystone_error(r, 409)
    r = requests.get(identity.v3 + "/projects", headers=h, params={"name": pname})
    assert [p["id"] for p in r.json()["projects"]] == [project["id"]]
    r = requests.post(identity.v3 + "/users", headers=h, json={"user": {
        "name": uname, "password": "pw-1", "email": "u@example.org",
        "default_project_id": project["id"]}})
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    assert user["email"] == "u@example.org" and "password" not in user
    role = requests.get(identity.v3 + "/roles", headers=h,
                        params={"name": "member"}).json()["roles"][0]
    grant = f"{identity.v3}/projects/{project['id']}/users/{user['id']}/roles/{role['id']}"
    assert requests.head(grant, headers=h).status_code == 404
    assert requests.put(grant, headers=h).status_code == 204
    assert requests.head(grant, headers=h).status_code == 204
    r = requests.get(f"{identity.v3}/projects/{project['id']}/users/{user['id']}/roles",
                     headers=h)
    assert [x["name"] for x in r.json()["roles"]] == ["member"]
    # the default project scopes a token when none is asked for
    r = requests.post(identity.v3 + "/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": uname, "domain": {"id": "default"}, "password": "pw-1"}}}}})
    assert r.status_code == 201 and r.json()["token"]["project"]["id"] == project["id"]
    user_token = r.headers["X-Subject-Token"]
    r = requests.get(f"{identity.v3}/users/{user['id']}/projects", headers=hdr(user_token))
    assert [p["name"] for p in r.json()["projects"]] == [pname]
    # disabling the project invalidates its tokens
    r = requests.patch(f"{identity.v3}/projects/{project['id']}", headers=h,
                       json={"project": {"enabled": False}})
    assert r.status_code == 200 and r.json()["project"]["enabled"] is False
    r = requests.get(identity.v3 + "/auth/tokens",
                     headers=hdr(admin, **{"X-Subject-Token": user_token}))
    assert r.status_code == 404
    requests.patch(f"{identity.v3}/projects/{project['id']}", headers=h,
                   json={"project": {"enabled": True}})
    # removing the role: the token no longer validates
    assert requests.delete(grant, headers=h).status_code == 204
    assert requests.delete(grant, headers=h).status_code == 404
    r = requests.get(identity.v3 + "/auth/tokens",
                     headers=hdr(admin, **{"X-Subject-Token": user_token}))
    assert r.status_code == 404
    assert requests.delete(f"{identity.v3}/users/{user['id']}", headers=h).status_code == 204
    assert requests.get(f"{identity.v3}/users/{user['id']}", headers=h).status_code == 404
    assert requests.delete(f"{identity.v3}/projects/{project['id']}",
                           headers=h).status_code == 204


def test_disabled_user_cannot_authenticate_and_loses_tokens(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    uname = unique("user")
    demo_project = requests.get(identity.v3 + "/projects", headers=h,
                                params={"name": "demo"}).json()["projects"][0]
    user = requests.post(identity.v3 + "/users", headers=h, json={"user": {
        "name": uname, "password": "pw"}}).json()["user"]
    reader = requests.get(identity.v3 + "/roles", headers=h,
                          params={"name": "reader"}).json()["roles"][0]
    requests.put(f"{identity.v3}/projects/{demo_project['id']}/users/{user['id']}/roles/"
                 f"{reader['id']}", headers=h)
    tok, body = identity.token(uname, "pw", "demo")
    assert [r["name"] for r in body["roles"]] == ["reader"]
    r = requests.patch(f"{identity.v3}/users/{user['id']}", headers=h,
                       json={"user": {"enabled": False}})
    assert r.status_code == 200
    assert_keystone_error(requests.get(f"{identity.v3}/users/{user['id']}", headers=hdr(tok)),
                          401)
    r = requests.post(identity.v3 + "/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "id": user["id"], "password": "pw"}}}}})
    assert_keystone_error(r, 401)


def test_change_own_password_revokes_tokens(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    uname = unique("user")
    user = requests.post(identity.v3 + "/users", headers=h, json={"user": {
        "name": uname, "password": "old-pw"}}).json()["user"]
    tok, _ = identity.token(uname, "old-pw", None)
    url = f"{identity.v3}/users/{user['id']}/password"
    r = requests.post(url, headers=hdr(tok), json={"user": {
        "original_password": "wrong", "password": "new-pw"}})
    assert_keystone_error(r, 401)
    r = requests.post(url, headers=hdr(tok), json={"user": {
        "original_password": "old-pw", "password": "new-pw"}})
    assert r.status_code == 204
    assert_keystone_error(requests.get(f"{identity.v3}/users/{user['id']}", headers=hdr(tok)),
                          401)
    identity.token(uname, "new-pw", None)
    # nobody changes another user's password this way, not even an admin
    r = requests.post(url, headers=h, json={"user": {
        "original_password": "new-pw", "password": "x"}})
    assert_keystone_error(r, 403)


def test_member_policy(identity: IdentityServer) -> None:
    demo, body = identity.token("demo", DEMO_PASSWORD, "demo")
    h = hdr(demo)
    me = body["user"]["id"]
    for method, path, data in [
        ("post", "/users", {"user": {"name": unique("x")}}),
        ("post", "/projects", {"project": {"name": unique("x")}}),
        ("get", "/projects", None),
        ("get", "/users", None),
        ("post", "/roles", {"role": {"name": unique("x")}}),
        ("get", "/role_assignments", None),
        ("post", "/services", {"service": {"type": "x"}}),
    ]:
        r = requests.request(method, identity.v3 + path, headers=h, json=data)
        assert_keystone_error(r, 403)
    assert requests.get(f"{identity.v3}/users/{me}", headers=h).status_code == 200
    r = requests.get(f"{identity.v3}/role_assignments", headers=h, params={"user.id": me})
    assert r.status_code == 200
    assert {a["scope"]["project"]["id"] for a in r.json()["role_assignments"]} == {
        body["project"]["id"]}
    assert requests.get(f"{identity.v3}/projects/{body['project']['id']}",
                        headers=h).status_code == 200
    assert requests.get(identity.v3 + "/regions", headers=h).status_code == 200


def test_groups_and_effective_assignments(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    group = requests.post(identity.v3 + "/groups", headers=h,
                          json={"group": {"name": unique("grp")}}).json()["group"]
    user = requests.post(identity.v3 + "/users", headers=h, json={"user": {
        "name": unique("user"), "password": "pw"}}).json()["user"]
    project = requests.post(identity.v3 + "/projects", headers=h, json={"project": {
        "name": unique("proj")}}).json()["project"]
    member = requests.get(identity.v3 + "/roles", headers=h,
                          params={"name": "member"}).json()["roles"][0]
    mu = f"{identity.v3}/groups/{group['id']}/users/{user['id']}"
    assert requests.head(mu, headers=h).status_code == 404
    assert requests.put(mu, headers=h).status_code == 204
    assert requests.head(mu, headers=h).status_code == 204
    r = requests.get(f"{identity.v3}/groups/{group['id']}/users", headers=h)
    assert [u["id"] for u in r.json()["users"]] == [user["id"]]
    r = requests.get(f"{identity.v3}/users/{user['id']}/groups", headers=h)
    assert [g["id"] for g in r.json()["groups"]] == [group["id"]]
    r = requests.put(f"{identity.v3}/projects/{project['id']}/groups/{group['id']}/roles/"
                     f"{member['id']}", headers=h)
    assert r.status_code == 204
    # direct listing shows the group; effective shows the user, via the group
    r = requests.get(identity.v3 + "/role_assignments", headers=h,
                     params={"scope.project.id": project["id"]})
    (a,) = r.json()["role_assignments"]
    assert a["group"]["id"] == group["id"] and a["role"]["id"] == member["id"]
    r = requests.get(identity.v3 + "/role_assignments?effective&include_names", headers=h,
                     params={"scope.project.id": project["id"]})
    got = r.json()["role_assignments"]
    assert {x["role"]["name"] for x in got} == {"member", "reader"}
    assert all(x["user"]["id"] == user["id"] and "membership" in x["links"] for x in got)
    assert got[0]["scope"]["project"]["name"] == project["name"]
    # the user can now scope to the project through the group
    _, body = identity.token(user["name"], "pw", project["name"])
    assert {x["name"] for x in body["roles"]} == {"member", "reader"}
    assert requests.delete(mu, headers=h).status_code == 204
    assert requests.delete(f"{identity.v3}/groups/{group['id']}", headers=h).status_code == 204


def test_domains_regions_services_endpoints(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    dom = requests.post(identity.v3 + "/domains", headers=h,
                        json={"domain": {"name": unique("dom")}}).json()["domain"]
    p = requests.post(identity.v3 + "/projects", headers=h, json={"project": {
        "name": "inside", "domain_id": dom["id"]}})
    assert p.status_code == 201 and p.json()["project"]["parent_id"] == dom["id"]
    assert_keystone_error(requests.delete(f"{identity.v3}/domains/{dom['id']}", headers=h), 403)
    requests.patch(f"{identity.v3}/domains/{dom['id']}", headers=h,
                   json={"domain": {"enabled": False}})
    assert requests.delete(f"{identity.v3}/domains/{dom['id']}", headers=h).status_code == 204
    assert requests.get(f"{identity.v3}/projects/{p.json()['project']['id']}",
                        headers=h).status_code == 404

    region = unique("Region")
    r = requests.post(identity.v3 + "/regions", headers=h, json={"region": {"id": region}})
    assert r.status_code == 201 and r.json()["region"]["id"] == region
    assert_keystone_error(
        requests.post(identity.v3 + "/regions", headers=h, json={"region": {"id": region}}),
        409)
    svc = requests.post(identity.v3 + "/services", headers=h, json={"service": {
        "type": "widget", "name": "widgets"}}).json()["service"]
    ep = requests.post(identity.v3 + "/endpoints", headers=h, json={"endpoint": {
        "service_id": svc["id"], "interface": "public", "url": "http://127.0.0.1:9999/w",
        "region_id": region}})
    assert ep.status_code == 201, ep.text
    assert ep.json()["endpoint"]["region"] == region
    r = requests.post(identity.v3 + "/endpoints", headers=h, json={"endpoint": {
        "service_id": svc["id"], "interface": "sideways", "url": "http://x"}})
    assert_keystone_error(r, 400)
    r = requests.post(identity.v3 + "/endpoints", headers=h, json={"endpoint": {
        "service_id": "nope", "interface": "public", "url": "http://x"}})
    assert_keystone_error(r, 400)
    _, body = identity.token()
    assert "widget" in {s["type"] for s in body["catalog"]}
    assert requests.delete(f"{identity.v3}/services/{svc['id']}", headers=h).status_code == 204
    _, body = identity.token()
    assert "widget" not in {s["type"] for s in body["catalog"]}
    r = requests.get(identity.v3 + "/endpoints", headers=h, params={"interface": "admin"})
    assert r.status_code == 200 and all(e["interface"] == "admin" for e in r.json()["endpoints"])


# --- credentials ---------------------------------------------------------------------------


def test_ec2_credentials_and_signature_verification(identity: IdentityServer) -> None:
    demo, body = identity.token("demo", DEMO_PASSWORD, "demo")
    me, project = body["user"]["id"], body["project"]["id"]
    base = f"{identity.v3}/users/{me}/credentials/OS-EC2"
    r = requests.post(base, headers=hdr(demo), json={"tenant_id": project})
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]
    assert cred["tenant_id"] == project and len(cred["access"]) == 32
    r = requests.get(base, headers=hdr(demo))
    assert cred["access"] in {c["access"] for c in r.json()["credentials"]}
    assert requests.get(f"{base}/{cred['access']}", headers=hdr(demo)).status_code == 200
    # generic credentials API shows the same credential, blob and all, to its owner
    r = requests.get(identity.v3 + "/credentials", headers=hdr(demo), params={"type": "ec2"})
    blobs = [json.loads(c["blob"]) for c in r.json()["credentials"]]
    assert cred["secret"] in {b["secret"] for b in blobs}
    # a member cannot make credentials for projects it has no role on
    _admin, admin_body = identity.token()
    r = requests.post(base, headers=hdr(demo), json={"tenant_id": admin_body["project"]["id"]})
    assert_keystone_error(r, 403)
    # ... nor look at somebody else's
    r = requests.get(f"{identity.v3}/users/{admin_body['user']['id']}/credentials/OS-EC2",
                     headers=hdr(demo))
    assert_keystone_error(r, 403)

    # a SigV4 request signed by botocore verifies; a wrong secret does not
    def s3tokens(secret: str, token: str = "") -> requests.Response:
        req = AWSRequest(method="GET", url="http://127.0.0.1:8080/bucket/key",
                         headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        signer = S3SigV4Auth(Credentials(cred["access"], secret), "s3", "RegionOne")
        signer.add_auth(req)
        signature = req.headers["Authorization"].rsplit("Signature=", 1)[1]
        del req.headers["Authorization"]
        sts = signer.string_to_sign(req, signer.canonical_request(req))
        return requests.post(identity.v3 + "/s3tokens", headers=hdr(token) if token else {},
                             json={"credentials": {
                                 "access": cred["access"], "signature": signature,
                                 "token": base64.b64encode(sts.encode()).decode()}})

    r = s3tokens(cred["secret"])
    assert r.status_code == 200, r.text
    assert "signing_key" not in r.json()  # only a service gets the scope's signing key
    assert "signing_key" not in s3tokens(cred["secret"], demo).json()
    r = s3tokens(cred["secret"], _admin)
    day = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
    key = ("AWS4" + cred["secret"]).encode()
    for part in (day, "RegionOne", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert r.json()["signing_key"] == key.hex()
    assert_keystone_error(s3tokens(cred["secret"], "forged-token"), 401)
    tok = r.json()["token"]
    assert tok["project"]["id"] == project and tok["user"]["id"] == me
    assert {x["name"] for x in tok["roles"]} == {"member", "reader"}
    assert_keystone_error(s3tokens("0" * 32), 401)
    r = requests.post(identity.v3 + "/s3tokens", json={"credentials": {
        "access": "unknown", "signature": "x", "token": "eA=="}})
    assert_keystone_error(r, 401)
    r = requests.post(identity.v3 + "/s3tokens", json={"credentials": {
        "access": cred["access"], "signature": "x", "token": "%%%"}})
    assert_keystone_error(r, 401)
    # delete; then it is gone, and signature checks fail
    assert requests.delete(f"{base}/{cred['access']}", headers=hdr(demo)).status_code == 204
    assert requests.get(f"{base}/{cred['access']}", headers=hdr(demo)).status_code == 404
    assert_keystone_error(s3tokens(cred["secret"]), 401)


def demo_ec2_credential(identity: IdentityServer) -> tuple[str, str, str, str, str]:
    """demo's token, user id and project id, and a new EC2 credential's access and secret."""
    demo, body = identity.token("demo", DEMO_PASSWORD, "demo")
    me, project = body["user"]["id"], body["project"]["id"]
    r = requests.post(f"{identity.v3}/users/{me}/credentials/OS-EC2", headers=hdr(demo),
                      json={"tenant_id": project})
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]
    return demo, me, project, cred["access"], cred["secret"]


def test_s3tokens_check_a_post_policy_with_its_scope(identity: IdentityServer) -> None:
    """An S3 browser upload's policy is signed as it is with the SigV4 key of the
    form's credential scope: ``scope`` says which; a service also gets that key."""
    _, _, project, access, secret = demo_ec2_credential(identity)
    req = AWSRequest(method="POST", url="http://127.0.0.1:8080/bucket")
    req.context["s3-presign-post-fields"] = {"key": "k"}
    req.context["s3-presign-post-policy"] = {"expiration": "2030-01-01T00:00:00Z",
                                             "conditions": [{"key": "k"}]}
    S3SigV4PostAuth(Credentials(access, secret), "s3", "RegionOne").add_auth(req)
    fields = req.context["s3-presign-post-fields"]
    scope = fields["x-amz-credential"].split("/", 1)[1]

    def check(signature: str, scope: str | None, token: str = "") -> requests.Response:
        creds = {"access": access, "signature": signature, "token": base64.b64encode(
            fields["policy"].encode()).decode()}
        if scope is not None:
            creds["scope"] = scope
        return requests.post(identity.v3 + "/s3tokens", json={"credentials": creds},
                             headers=hdr(token) if token else {})

    r = check(fields["x-amz-signature"], scope)
    assert r.status_code == 200, r.text
    assert r.json()["token"]["project"]["id"] == project
    assert "signing_key" not in r.json()
    admin, _ = identity.token()
    key = bytes.fromhex(check(fields["x-amz-signature"], scope, admin).json()["signing_key"])
    assert hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest() == \
        fields["x-amz-signature"]
    assert_keystone_error(check(fields["x-amz-signature"], None), 401)  # no scope: not SigV4
    other_day = "20200101/" + scope.split("/", 1)[1]
    assert_keystone_error(check(fields["x-amz-signature"], other_day), 401)
    assert_keystone_error(check(fields["x-amz-signature"], "RegionOne/s3"), 401)
    r = requests.post(identity.v3 + "/s3tokens", json={"credentials": {
        "access": access, "signature": "x", "token": "eA==", "scope": ""}})
    assert_keystone_error(r, 400)


def test_ec2tokens_issue_a_token_and_check_sigv2_hmac_sha256(
        identity: IdentityServer) -> None:
    """As Keystone's: ``/v3/ec2tokens`` answers a token of the credential's user and
    project (the EC2 front calls the native APIs with it); ``/v3/s3tokens`` does not.
    The EC2 Query API's SigV2 names its HMAC (``signature_method``)."""
    demo, me, project, access, secret = demo_ec2_credential(identity)
    sts = "POST\n127.0.0.1:8788\n/\nAWSAccessKeyId=" + access + "&Action=DescribeRegions"

    def check(path: str, digest: Any, method: str | None) -> requests.Response:
        sig = base64.b64encode(hmac.new(secret.encode(), sts.encode(), digest).digest())
        creds = {"access": access, "signature": sig.decode(),
                 "token": base64.b64encode(sts.encode()).decode()}
        if method:
            creds["signature_method"] = method
        return requests.post(identity.v3 + path, json={"credentials": creds})

    r = check("/ec2tokens", hashlib.sha256, "HmacSHA256")
    assert r.status_code == 200, r.text
    token = r.headers["X-Subject-Token"]
    assert r.json()["token"]["methods"] == ["ec2credential"]
    shown = requests.get(identity.v3 + "/auth/tokens",
                         headers={**hdr(demo), "X-Subject-Token": token})
    assert shown.status_code == 200, shown.text
    assert shown.json()["token"]["project"]["id"] == project
    assert shown.json()["token"]["user"]["id"] == me
    r = check("/s3tokens", hashlib.sha256, "HmacSHA256")
    assert r.status_code == 200 and "X-Subject-Token" not in r.headers
    assert check("/ec2tokens", hashlib.sha1, None).status_code == 200  # SHA-1 by default
    assert_keystone_error(check("/ec2tokens", hashlib.sha1, "HmacSHA256"), 401)
    assert_keystone_error(check("/ec2tokens", hashlib.sha256, None), 401)
    assert_keystone_error(check("/ec2tokens", hashlib.sha256, "HmacMD5"), 400)


def test_ec2_credential_blob_may_change_its_access_key(identity: IdentityServer) -> None:
    """As Keystone: a PATCH may give an EC2 credential another access key (the id
    stays); what the credential is bound to (trust, application credential,
    OAuth access token) may not change."""
    demo, body = identity.token("demo", DEMO_PASSWORD, "demo")
    me, project = body["user"]["id"], body["project"]["id"]
    old = {"access": uuid.uuid4().hex, "secret": "s1", "trust_id": None}
    r = requests.post(identity.v3 + "/credentials", headers=hdr(demo), json={"credential": {
        "type": "ec2", "user_id": me, "project_id": project, "blob": json.dumps(old)}})
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]
    new = {**old, "access": uuid.uuid4().hex, "secret": "s2"}
    url = f"{identity.v3}/credentials/{cred['id']}"
    r = requests.patch(url, headers=hdr(demo), json={"credential": {"blob": json.dumps(new)}})
    assert r.status_code == 200, r.text
    assert r.json()["credential"]["id"] == cred["id"]
    assert json.loads(r.json()["credential"]["blob"])["access"] == new["access"]
    ec2 = f"{identity.v3}/users/{me}/credentials/OS-EC2"
    assert requests.get(f"{ec2}/{new['access']}", headers=hdr(demo)).json()[
        "credential"]["secret"] == "s2"
    assert_keystone_error(requests.get(f"{ec2}/{old['access']}", headers=hdr(demo)), 404)

    def s3token(access: str, secret: str) -> requests.Response:
        sts = "AWS4-HMAC-SHA256\n20260101T000000Z\n20260101/RegionOne/s3/aws4_request\nx"
        key = ("AWS4" + secret).encode()
        for part in ("20260101", "RegionOne", "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        return requests.post(identity.v3 + "/s3tokens", json={"credentials": {
            "access": access, "signature": sig,
            "token": base64.b64encode(sts.encode()).decode()}})

    assert s3token(new["access"], "s2").status_code == 200
    assert_keystone_error(s3token(old["access"], "s1"), 401)
    for locked in ("trust_id", "app_cred_id", "access_token_id"):
        r = requests.patch(url, headers=hdr(demo), json={"credential": {
            "blob": json.dumps({**new, locked: "something-else"})}})
        assert_keystone_error(r, 400)
    # another credential's access key is taken
    other = {"access": uuid.uuid4().hex, "secret": "s3"}
    requests.post(identity.v3 + "/credentials", headers=hdr(demo), json={"credential": {
        "type": "ec2", "user_id": me, "project_id": project, "blob": json.dumps(other)}})
    r = requests.patch(url, headers=hdr(demo), json={"credential": {
        "blob": json.dumps({**new, "access": other["access"]})}})
    assert_keystone_error(r, 409)
    assert requests.delete(url, headers=hdr(demo)).status_code == 204


def test_every_call_logs_one_line_with_its_request_id(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    r = requests.get(identity.v3 + "/projects", headers=hdr(admin))
    txn = r.headers["X-Openstack-Request-Id"]
    bad = requests.get(identity.v3 + "/projects", headers=hdr("bogus"))
    bad_txn = bad.headers["X-Openstack-Request-Id"]
    assert txn != bad_txn
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = identity.log.read_text()
        if bad_txn in log:
            break
        time.sleep(0.05)
    lines = [line for line in log.splitlines() if f"txn={txn}" in line]
    assert len(lines) == 1 and '"GET /v3/projects" 200' in lines[0]
    (bad_line,) = [line for line in log.splitlines() if f"txn={bad_txn}" in line]
    assert '"GET /v3/projects" 401' in bad_line
    assert admin not in log, "tokens must never be written to logs"
