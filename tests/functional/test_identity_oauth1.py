"""OS-OAUTH1 over raw HTTP, with requests signed by oauthlib's client: consumers,
request and access tokens, authenticating with an access token, and a user's
access tokens; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import requests
from oauthlib import oauth1

from tests.functional import strict
from tests.functional.identity_server import (
    DEMO_PASSWORD,
    IdentityServer,
    assert_keystone_error,
    hdr,
)

CONSUMER = strict.obj(id=strict.STR, description=strict.STR_OR_NULL, links=strict.SELF)
ACCESS_TOKEN = strict.obj(id=strict.STR, consumer_id=strict.STR, project_id=strict.STR,
                          authorizing_user_id=strict.STR, expires_at=strict.TIME,
                          links=strict.obj(self=strict.STR, roles=strict.STR))
OAUTH_TOKEN = strict.token(
    project=strict.obj(id=strict.STR, name=strict.STR, domain=strict.ID_NAME),
    is_domain=strict.BOOL, roles=strict.array(strict.ID_NAME, minItems=1),
    catalog=strict.CATALOG,
    **{"OS-OAUTH1": strict.obj(access_token_id=strict.STR, consumer_id=strict.STR)})


def signed_post(url: str, consumer: dict[str, Any], headers: dict[str, str] | None = None,
                **client: Any) -> requests.Response:
    """POST ``url`` with an OAuth 1.0a HMAC-SHA1 Authorization header."""
    signer = oauth1.Client(consumer["id"], client_secret=consumer["secret"],
                           signature_method=oauth1.SIGNATURE_HMAC, **client)
    _, signed, _ = signer.sign(url, http_method="POST", headers=headers or {})
    return requests.post(url, headers=signed)


def form(r: requests.Response) -> dict[str, str]:
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    body = dict(parse_qsl(r.text))
    assert set(body) == {"oauth_token", "oauth_token_secret", "oauth_expires_at"}
    return body


def test_consumers(identity: IdentityServer) -> None:
    admin, _ = identity.token()
    h = hdr(admin)
    url = identity.v3 + "/OS-OAUTH1/consumers"
    made = strict.ok(requests.post(url, headers=h, json={"consumer": {"description": "d"}}),
                     201, strict.obj(consumer=strict.obj(secret=strict.STR, id=strict.STR,
                                                         description=strict.STR_OR_NULL,
                                                         links=strict.SELF)))["consumer"]
    bare = strict.ok(requests.post(url, headers=h, json={}), 201)
    assert bare is None
    shown = strict.ok(requests.get(f"{url}/{made['id']}", headers=h), 200,
                      strict.obj(consumer=CONSUMER))["consumer"]
    assert shown == {k: made[k] for k in ("id", "description", "links")}
    listed = strict.ok(requests.get(url, headers=h), 200, strict.obj(
        consumers=strict.array(CONSUMER), links=strict.COLLECTION_LINKS))
    assert made["id"] in {c["id"] for c in listed["consumers"]}
    r = requests.patch(f"{url}/{made['id']}", headers=h, json={"consumer": {"description": "e"}})
    assert strict.ok(r, 200, strict.obj(consumer=CONSUMER))["consumer"]["description"] == "e"
    assert_keystone_error(requests.patch(f"{url}/{made['id']}", headers=h, json={
        "consumer": {"secret": "mine"}}), 400)
    assert_keystone_error(requests.post(url, headers=h, json={"consumer": {"secret": "x"}}), 400)
    demo, _ = identity.token("demo", DEMO_PASSWORD, "demo")
    assert_keystone_error(requests.post(url, headers=hdr(demo), json={}), 403)
    strict.ok(requests.delete(f"{url}/{made['id']}", headers=h), 204)
    assert_keystone_error(requests.get(f"{url}/{made['id']}", headers=h), 404)


def test_delegation_flow(identity: IdentityServer) -> None:
    admin, admin_body = identity.token()
    h = hdr(admin)
    project_id = admin_body["project"]["id"]
    me = admin_body["user"]["id"]
    consumer = requests.post(identity.v3 + "/OS-OAUTH1/consumers", headers=h,
                             json={"consumer": {}}).json()["consumer"]
    rt_url = identity.v3 + "/OS-OAUTH1/request_token"
    want = {"Requested-Project-Id": project_id}

    # a request token, for a signed request naming a project
    rt = form(signed_post(rt_url, consumer, want, callback_uri="oob"))
    assert_keystone_error(signed_post(rt_url, consumer, callback_uri="oob"), 400)
    assert_keystone_error(signed_post(rt_url, consumer, {"Requested-Project-Id": "nope"},
                                      callback_uri="oob"), 404)
    assert_keystone_error(signed_post(rt_url, {**consumer, "secret": "wrong"}, want,
                                      callback_uri="oob"), 401)
    assert_keystone_error(signed_post(rt_url, {"id": "0" * 32, "secret": "x"}, want,
                                      callback_uri="oob"), 401)
    assert_keystone_error(requests.post(rt_url, headers=want), 400)  # not signed
    # a signed request is good once
    signer = oauth1.Client(consumer["id"], client_secret=consumer["secret"],
                           callback_uri="oob")
    _, replayed, _ = signer.sign(rt_url, http_method="POST", headers=want)
    assert requests.post(rt_url, headers=replayed).status_code == 201
    assert_keystone_error(requests.post(rt_url, headers=replayed), 401)

    # not authorized yet: no access token
    at_url = identity.v3 + "/OS-OAUTH1/access_token"
    assert_keystone_error(signed_post(
        at_url, consumer, resource_owner_key=rt["oauth_token"],
        resource_owner_secret=rt["oauth_token_secret"], verifier="abcdefgh"), 401)
    # the user authorizes roles it holds
    auth_url = f"{identity.v3}/OS-OAUTH1/authorize/{rt['oauth_token']}"
    assert_keystone_error(requests.put(auth_url, headers=h, json={"roles": []}), 400)
    assert_keystone_error(requests.put(f"{identity.v3}/OS-OAUTH1/authorize/nope", headers=h,
                                       json={"roles": [{"name": "member"}]}), 404)
    service = identity.role_id(admin, "service")
    assert_keystone_error(requests.put(auth_url, headers=h, json={"roles": [{"id": service}]}),
                          401)
    r = requests.put(auth_url, headers=h, json={"roles": [{"name": "reader"}]})
    verifier = strict.ok(r, 200, strict.obj(token=strict.obj(oauth_verifier=strict.STR)))[
        "token"]["oauth_verifier"]
    assert_keystone_error(requests.put(auth_url, headers=h,
                                       json={"roles": [{"name": "reader"}]}), 401)
    # exchange it, with the verifier, for an access token (once)
    assert_keystone_error(signed_post(
        at_url, consumer, resource_owner_key=rt["oauth_token"],
        resource_owner_secret=rt["oauth_token_secret"], verifier="wrongxyz"), 401)
    at = form(signed_post(at_url, consumer, resource_owner_key=rt["oauth_token"],
                          resource_owner_secret=rt["oauth_token_secret"], verifier=verifier))
    assert_keystone_error(signed_post(
        at_url, consumer, resource_owner_key=rt["oauth_token"],
        resource_owner_secret=rt["oauth_token_secret"], verifier=verifier), 401)

    # authenticate with it: a token with the delegated role only
    def oauth_token() -> requests.Response:
        url = identity.v3 + "/auth/tokens"
        signer = oauth1.Client(consumer["id"], client_secret=consumer["secret"],
                               resource_owner_key=at["oauth_token"],
                               resource_owner_secret=at["oauth_token_secret"])
        _, headers, _ = signer.sign(url, http_method="POST")
        return requests.post(url, headers=headers, json={"auth": {"identity": {
            "methods": ["oauth1"], "oauth1": {}}}})

    r = oauth_token()
    body = strict.ok(r, 201, strict.obj(token=OAUTH_TOKEN))["token"]
    assert body["methods"] == ["oauth1"] and [x["name"] for x in body["roles"]] == ["reader"]
    assert body["OS-OAUTH1"] == {"access_token_id": at["oauth_token"],
                                 "consumer_id": consumer["id"]}
    assert body["user"]["id"] == me and body["project"]["id"] == project_id
    delegated = r.headers["X-Subject-Token"]
    assert_keystone_error(requests.get(identity.v3 + "/users", headers=hdr(delegated)), 403)
    # an OAuth token cannot be exchanged, nor authorize request tokens
    r = requests.post(identity.v3 + "/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": delegated}}}})
    assert_keystone_error(r, 403)
    rt2 = form(signed_post(rt_url, consumer, want, callback_uri="oob"))
    assert_keystone_error(requests.put(f"{identity.v3}/OS-OAUTH1/authorize/"
                                       f"{rt2['oauth_token']}", headers=hdr(delegated),
                                       json={"roles": [{"name": "reader"}]}), 403)

    # the user's access tokens
    base = f"{identity.v3}/users/{me}/OS-OAUTH1/access_tokens"
    listed = strict.ok(requests.get(base, headers=h), 200, strict.obj(
        access_tokens=strict.array(ACCESS_TOKEN), links=strict.COLLECTION_LINKS))
    assert at["oauth_token"] in {t["id"] for t in listed["access_tokens"]}
    one = strict.ok(requests.get(f"{base}/{at['oauth_token']}", headers=h), 200,
                    strict.obj(access_token=ACCESS_TOKEN))["access_token"]
    assert one["consumer_id"] == consumer["id"] and one["project_id"] == project_id
    roles = strict.ok(requests.get(f"{base}/{at['oauth_token']}/roles", headers=h), 200,
                      strict.ROLES)
    reader = identity.role_id(admin, "reader")
    assert [x["id"] for x in roles["roles"]] == [reader]
    strict.ok(requests.get(f"{base}/{at['oauth_token']}/roles/{reader}", headers=h), 200,
              strict.obj(role=strict.ROLE))
    assert_keystone_error(requests.get(f"{base}/{at['oauth_token']}/roles/{service}",
                                       headers=h), 404)
    demo, demo_body = identity.token("demo", DEMO_PASSWORD, "demo")
    assert_keystone_error(requests.get(base, headers=hdr(demo)), 403)
    assert_keystone_error(requests.get(f"{identity.v3}/users/{demo_body['user']['id']}/"
                                       f"OS-OAUTH1/access_tokens/{at['oauth_token']}",
                                       headers=hdr(demo)), 404)
    # revoking it ends the consumer's tokens
    strict.ok(requests.delete(f"{base}/{at['oauth_token']}", headers=h), 204)
    r = requests.get(identity.v3 + "/auth/tokens",
                     headers=hdr(admin, **{"X-Subject-Token": delegated}))
    assert_keystone_error(r, 404)
    assert_keystone_error(oauth_token(), 401)
