"""Domain-specific configuration over raw HTTP (no client has commands for it),
on SQLite and PostgreSQL."""

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


def config_of(*groups: str) -> dict[str, Any]:
    return strict.obj(config=strict.obj(**{g: {"type": "object"} for g in groups}))


def test_domain_config_lifecycle(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    dom = requests.post(identity.v3 + "/domains", headers=h,
                        json={"domain": {"name": unique("d")}}).json()["domain"]
    url = f"{identity.v3}/domains/{dom['id']}/config"
    assert_keystone_error(requests.get(url, headers=h), 404)
    config = {"identity": {"driver": "ldap"},
              "ldap": {"url": "ldap://ldap.example.org", "user_tree_dn": "ou=Users,dc=ex",
                       "password": "s3cret"}}
    r = requests.put(url, headers=h, json={"config": config})
    shown = strict.ok(r, 201, config_of("identity", "ldap"))["config"]
    assert shown == {"identity": {"driver": "ldap"},  # the password is never shown
                     "ldap": {"url": "ldap://ldap.example.org", "user_tree_dn": "ou=Users,dc=ex"}}
    assert strict.ok(requests.get(url, headers=h), 200, config_of("identity", "ldap"))[
        "config"] == shown
    assert strict.ok(requests.get(f"{url}/ldap", headers=h), 200, config_of("ldap"))[
        "config"] == {"ldap": shown["ldap"]}
    assert requests.get(f"{url}/ldap/url", headers=h).json() == {
        "config": {"url": "ldap://ldap.example.org"}}
    assert_keystone_error(requests.get(f"{url}/ldap/password", headers=h), 404)
    assert_keystone_error(requests.get(f"{url}/ldap/user_filter", headers=h), 404)
    # update one option, one group, the whole
    r = requests.patch(f"{url}/ldap/url", headers=h,
                       json={"config": {"url": "ldap://other.example.org"}})
    assert strict.ok(r, 200, config_of("identity", "ldap"))["config"]["ldap"]["url"] == \
        "ldap://other.example.org"
    r = requests.patch(f"{url}/ldap", headers=h, json={"config": {"ldap": {
        "user_filter": "(objectClass=person)"}}})
    assert r.json()["config"]["ldap"]["user_filter"] == "(objectClass=person)"
    r = requests.patch(url, headers=h, json={"config": {"identity": {"list_limit": 100}}})
    assert r.json()["config"]["identity"] == {"driver": "ldap", "list_limit": 100}
    # replacing it all answers 200
    r = requests.put(url, headers=h, json={"config": {"identity": {"driver": "sql"}}})
    assert strict.ok(r, 200, config_of("identity"))["config"] == {"identity": {"driver": "sql"}}
    # the rules: only identity and ldap, only their options, what is named is what is set
    for body in ({"config": {"assignment": {"driver": "sql"}}},
                 {"config": {"ldap": {"colour": "blue"}}},
                 {"config": {"ldap": {}}}, {"config": {"ldap": "url"}}):
        assert_keystone_error(requests.put(url, headers=h, json=body), 403)
    assert_keystone_error(requests.put(url, headers=h, json={"config": {}}), 400)
    assert_keystone_error(requests.put(url, headers=h, json={"configuration": {}}), 400)
    assert_keystone_error(requests.patch(f"{url}/identity", headers=h, json={"config": {
        "ldap": {"url": "x"}}}), 403)
    assert_keystone_error(requests.patch(f"{url}/identity/driver", headers=h, json={
        "config": {"list_limit": 5}}), 403)
    assert_keystone_error(requests.patch(f"{url}/ldap/url", headers=h, json={
        "config": {"url": "ldap://x"}}), 404)  # not set
    assert_keystone_error(requests.get(f"{url}/assignment", headers=h), 403)
    assert_keystone_error(requests.get(f"{url}/identity/colour", headers=h), 403)
    # delete an option, a group, the whole
    strict.ok(requests.put(url, headers=h, json={"config": config}), 200)
    strict.ok(requests.delete(f"{url}/ldap/url", headers=h), 204)
    assert "url" not in requests.get(f"{url}/ldap", headers=h).json()["config"]["ldap"]
    assert_keystone_error(requests.delete(f"{url}/ldap/url", headers=h), 404)
    strict.ok(requests.delete(f"{url}/ldap", headers=h), 204)
    assert_keystone_error(requests.get(f"{url}/ldap", headers=h), 404)
    strict.ok(requests.delete(url, headers=h), 204)
    assert_keystone_error(requests.get(url, headers=h), 404)
    assert_keystone_error(requests.delete(url, headers=h), 404)
    assert_keystone_error(requests.get(f"{identity.v3}/domains/nope/config", headers=h), 404)
    # members may not look
    demo, _ = identity.token("demo", "demo-secret", "demo")
    assert_keystone_error(requests.get(url, headers=hdr(demo)), 403)
    # a domain's configuration goes with the domain
    strict.ok(requests.put(url, headers=h, json={"config": config}), 201)
    requests.patch(f"{identity.v3}/domains/{dom['id']}", headers=h,
                   json={"domain": {"enabled": False}})
    strict.ok(requests.delete(f"{identity.v3}/domains/{dom['id']}", headers=h), 204)
    assert_keystone_error(requests.get(url, headers=h), 404)


def test_domain_config_defaults(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    base = identity.v3 + "/domains/config"
    every = strict.ok(requests.get(f"{base}/default", headers=h), 200,
                      config_of("identity", "ldap"))["config"]
    assert every["identity"]["driver"] == "sql"
    assert every["ldap"]["url"] == "ldap://localhost" and "password" not in every["ldap"]
    assert requests.get(f"{base}/ldap/default", headers=h).json() == {
        "config": {"ldap": every["ldap"]}}
    assert requests.get(f"{base}/ldap/user_tree_dn/default", headers=h).json() == {
        "config": {"user_tree_dn": None}}
    assert_keystone_error(requests.get(f"{base}/ldap/password/default", headers=h), 403)
    assert_keystone_error(requests.get(f"{base}/assignment/default", headers=h), 403)
    assert_keystone_error(requests.get(f"{base}/ldap/colour/default", headers=h), 403)
