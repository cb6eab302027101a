"""Container and account ACLs, TempURL and FormPost, with the real clients.

ACLs are set with the real ``swift`` CLI (``swift post -r/-w``) and by raw
HTTP; TempURLs are made with ``swift tempurl`` and used anonymously over
HTTP; FormPost forms are signed here, as a web application would, and
posted as a browser would. Besides the demo user (owner of its account) the
tests use two users made through Keystone: alice, in the demo project with
a role that means nothing to Swift, and bob, a member of another project.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import openstack
import pytest
import requests

from tests.functional.swift.conftest import StrataInstance, SwiftUser, check_response

SWIFT = str(Path(sys.executable).with_name("swift"))
TEMPURL_INVALID = "401 Unauthorized: Temp URL invalid\n"
KEY = "account-secret-key"


# -- fixtures and helpers ----------------------------------------------------------


class People:
    """alice (demo project, role ``observer``) and bob (member of another project)."""

    def __init__(self, strata: StrataInstance) -> None:
        rc = strata.openrc("openrc")
        self.auth = rc["OS_AUTH_URL"].rstrip("/")
        user = {"name": rc["OS_USERNAME"], "domain": {"name": "Default"},
                "password": rc["OS_PASSWORD"]}
        project = {"name": rc["OS_PROJECT_NAME"], "domain": {"name": "Default"}}
        body: dict[str, Any] = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": project}}}
        r = requests.post(self.auth + "/auth/tokens", json=body, timeout=30)
        assert r.status_code == 201, r.text
        self.h = {"X-Auth-Token": r.headers["X-Subject-Token"]}
        demo_project = self._one("projects", "demo")
        observer = self._create("roles", {"name": "observer"})
        member = self._one("roles", "member")
        self.other = self._create("projects", {"name": "other", "domain_id": "default"})
        alice = self._create("users", {"name": "alice", "password": "alice-pw",
                                       "domain_id": "default"})
        bob = self._create("users", {"name": "bob", "password": "bob-pw",
                                     "domain_id": "default"})
        self._grant(demo_project["id"], alice["id"], observer["id"])
        self._grant(self.other["id"], bob["id"], member["id"])
        self.alice = strata.v1_login("alice", "alice-pw", "demo")
        self.bob = strata.v1_login("bob", "bob-pw", "other")
        self.bob_user_id: str = bob["id"]

    def _one(self, kind: str, name: str) -> dict[str, Any]:
        r = requests.get(f"{self.auth}/{kind}", headers=self.h, params={"name": name},
                         timeout=30)
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()[kind][0]
        return found

    def _create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        r = requests.post(f"{self.auth}/{kind}", headers=self.h, timeout=30,
                          json={kind[:-1]: body})
        assert r.status_code == 201, r.text
        made: dict[str, Any] = r.json()[kind[:-1]]
        return made

    def _grant(self, project: str, user: str, role: str) -> None:
        r = requests.put(f"{self.auth}/projects/{project}/users/{user}/roles/{role}",
                         headers=self.h, timeout=30)
        assert r.status_code == 204, r.text


@pytest.fixture(scope="module")
def people(strata_swift: StrataInstance) -> People:
    return People(strata_swift)


def on(url: str, token: str = "") -> SwiftUser:
    """Requests to the account at ``url`` with ``token`` ("" for an anonymous caller)."""
    user = SwiftUser(token, url)
    user.session.hooks["response"].append(check_response)
    return user


def anonymous(demo: SwiftUser) -> SwiftUser:
    return on(demo.url)


def run_swift(strata: StrataInstance, *args: str) -> subprocess.CompletedProcess[str]:
    env = strata.client_env(strata.openrc("demo-openrc"))
    return subprocess.run([SWIFT, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def swift(strata: StrataInstance, *args: str) -> str:
    proc = run_swift(strata, *args)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def stat(strata: StrataInstance, *args: str) -> dict[str, str]:
    fields = {}
    for line in swift(strata, "stat", *args).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def put(user: SwiftUser, path: str, data: bytes, **headers: str) -> requests.Response:
    return user.request("PUT", path, data=data, headers=headers)


def fresh_container(demo: SwiftUser, name: str, *objects: tuple[str, bytes]) -> None:
    assert demo.request("PUT", f"/{name}").status_code in (201, 202)
    for obj, data in objects:
        assert put(demo, f"/{name}/{quote(obj)}", data).status_code == 201


def container_acls(demo: SwiftUser, container: str) -> tuple[str | None, str | None]:
    r = demo.request("HEAD", f"/{container}")
    assert r.status_code == 204
    return r.headers.get("X-Container-Read"), r.headers.get("X-Container-Write")


# -- container read ACLs -----------------------------------------------------------------


def test_public_container_with_listings(strata_swift: StrataInstance, demo: SwiftUser) -> None:
    fresh_container(demo, "site", ("index.html", b"<h1>hi</h1>"), ("css/a.css", b"a{}"))
    swift(strata_swift, "post", "-r", ".r:*,.rlistings", "site")
    assert stat(strata_swift, "site")["Read ACL"] == ".r:*,.rlistings"
    anon = anonymous(demo)
    r = anon.request("GET", "/site/index.html")
    assert r.status_code == 200 and r.content == b"<h1>hi</h1>"
    r = anon.request("GET", "/site", params={"format": "json"})
    assert r.status_code == 200
    assert [o["name"] for o in r.json()] == ["css/a.css", "index.html"]
    r = anon.request("GET", "/site")
    assert r.status_code == 200 and r.text == "css/a.css\nindex.html\n"
    # as in Swift, a trailing slash still names the container
    r = anon.request("GET", "/site/")
    assert r.status_code == 200 and r.text == "css/a.css\nindex.html\n"
    assert anon.request("HEAD", "/site").status_code == 204
    # the ACL itself stays the owner's business
    assert "X-Container-Read" not in anon.request("HEAD", "/site").headers
    # reading is all: no writes, no account listing
    assert put(anon, "/site/evil.html", b"x").status_code == 401
    assert anon.request("DELETE", "/site/index.html").status_code == 401
    assert anon.request("GET", "").status_code == 401
    assert demo.names("site") == ["css/a.css", "index.html"]


def test_referrer_without_listings(strata_swift: StrataInstance, demo: SwiftUser) -> None:
    fresh_container(demo, "assets", ("logo.png", b"\x89PNG"))
    swift(strata_swift, "post", "-r", ".r:*", "assets")
    anon = anonymous(demo)
    r = anon.request("GET", "/assets/logo.png")
    assert r.status_code == 200 and r.content == b"\x89PNG"
    assert anon.request("HEAD", "/assets/logo.png").status_code == 200
    r = anon.request("GET", "/assets")
    assert r.status_code == 401
    assert r.text == ("<html><h1>Unauthorized</h1><p>This server could not verify that you "
                      "are authorized to access the document you requested.</p></html>")
    assert anon.request("HEAD", "/assets").status_code == 401
    assert anon.request("GET", "/assets/missing").status_code == 404
    # only some referrers
    swift(strata_swift, "post", "-r", ".r:.example.com,.r:-bad.example.com", "assets")
    assert container_acls(demo, "assets")[0] == ".r:.example.com,.r:-bad.example.com"
    ok = anon.request("GET", "/assets/logo.png",
                      headers={"Referer": "https://www.example.com/page"})
    assert ok.status_code == 200
    for referer in ("https://bad.example.com/", "https://example.org/", ""):
        r = anon.request("GET", "/assets/logo.png",
                         headers={"Referer": referer} if referer else {})
        assert r.status_code == 401, referer


def test_user_grant(strata_swift: StrataInstance, demo: SwiftUser, people: People) -> None:
    fresh_container(demo, "shared", ("doc.txt", b"for alice"))
    swift(strata_swift, "post", "-r", "demo:alice", "shared")
    assert container_acls(demo, "shared") == ("demo:alice", None)
    alice = on(demo.url, people.alice.token)
    bob = on(demo.url, people.bob.token)
    anon = anonymous(demo)
    r = alice.request("GET", "/shared/doc.txt")
    assert r.status_code == 200 and r.content == b"for alice"
    assert alice.names("shared") == ["doc.txt"]
    # alice has no role Swift knows on the account: nothing beyond the container
    assert alice.request("GET", "").status_code == 403
    assert put(alice, "/shared/new.txt", b"x").status_code == 403
    assert alice.request("DELETE", "/shared/doc.txt").status_code == 403
    r = bob.request("GET", "/shared/doc.txt")
    assert r.status_code == 403
    assert r.text == "<html><h1>Forbidden</h1><p>Access was denied to this resource.</p></html>"
    assert bob.request("GET", "/shared").status_code == 403
    assert anon.request("GET", "/shared/doc.txt").status_code == 401
    # ids work as well as names; "*" for any user of a project
    swift(strata_swift, "post", "-r", f"{people.other['id']}:*", "shared")
    assert bob.request("GET", "/shared/doc.txt").status_code == 200
    assert alice.request("GET", "/shared/doc.txt").status_code == 403
    assert demo.request("GET", "/shared/doc.txt").status_code == 200


def test_write_acl(strata_swift: StrataInstance, demo: SwiftUser, people: People) -> None:
    fresh_container(demo, "dropbox", ("existing", b"old"))
    swift(strata_swift, "post", "-w", "demo:alice", "dropbox")
    assert container_acls(demo, "dropbox") == (None, "demo:alice")
    alice = on(demo.url, people.alice.token)
    bob = on(demo.url, people.bob.token)
    r = put(alice, "/dropbox/from-alice", b"hello from alice")
    assert r.status_code == 201
    assert r.headers["Etag"] == hashlib.md5(b"hello from alice").hexdigest()
    got = demo.request("GET", "/dropbox/from-alice")
    assert got.status_code == 200 and got.content == b"hello from alice"
    r = alice.request("POST", "/dropbox/from-alice", headers={"X-Object-Meta-Who": "alice"})
    assert r.status_code == 202
    assert demo.request("HEAD", "/dropbox/from-alice").headers["X-Object-Meta-Who"] == "alice"
    # write is not read, and not container metadata
    assert alice.request("GET", "/dropbox/existing").status_code == 403
    assert alice.request("GET", "/dropbox").status_code == 403
    r = alice.request("POST", "/dropbox", headers={"X-Container-Meta-X": "1"})
    assert r.status_code == 403
    assert put(bob, "/dropbox/from-bob", b"x").status_code == 403
    assert put(anonymous(demo), "/dropbox/anon", b"x").status_code == 401
    assert alice.request("DELETE", "/dropbox/existing").status_code == 204
    assert demo.names("dropbox") == ["from-alice"]
    # the CLI uploads as alice too (v1 auth)
    src = Path(strata_swift.home) / "alice-upload.txt"
    src.write_bytes(b"cli upload")
    env = strata_swift.client_env()
    proc = subprocess.run(
        [SWIFT, "-A", strata_swift.proxy_url + "/auth/v1.0", "-U", "demo:alice", "-K",
         "alice-pw", "--os-storage-url", demo.url, "upload", "--skip-container-put",
         "--leave-segments", "--object-name", "cli.txt", "dropbox", str(src)],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert demo.request("GET", "/dropbox/cli.txt").content == b"cli upload"


@pytest.mark.parametrize(("header", "value", "message"), [
    ("X-Container-Read", ".r:",
     "No host/domain value after referrer designation in ACL: '.r:'"),
    ("X-Container-Read", ".rx:foo", "Unknown designator '.rx' in ACL: '.rx:foo'"),
    ("X-Container-Read", ".r:*,.ref:", "No host/domain value after referrer designation "
                                       "in ACL: '.ref:'"),
    ("X-Container-Write", ".r:*", "Referrers not allowed in write ACL: '.r:*'"),
    ("X-Container-Write", "demo:alice,.referrer:example.com",
     "Referrers not allowed in write ACL: '.referrer:example.com'"),
])
def test_malformed_container_acl(demo: SwiftUser, header: str, value: str,
                                 message: str) -> None:
    fresh_container(demo, "strict")
    r = demo.request("POST", "/strict", headers={
        "X-Container-Read": "demo:alice", "X-Container-Write": "demo:alice"})
    assert r.status_code == 204
    r = demo.request("POST", "/strict", headers={header: value, "X-Container-Meta-New": "1"})
    assert r.status_code == 400
    assert r.text == message
    head = demo.request("HEAD", "/strict").headers
    assert head["X-Container-Read"] == "demo:alice"
    assert head["X-Container-Write"] == "demo:alice"
    assert "X-Container-Meta-New" not in head
    # nor on a new container
    r = demo.request("PUT", "/strict-new", headers={header: value})
    assert r.status_code == 400 and r.text == message
    assert demo.request("HEAD", "/strict-new").status_code == 404


def test_malformed_acl_through_the_cli(strata_swift: StrataInstance, demo: SwiftUser) -> None:
    fresh_container(demo, "cli-acl")
    swift(strata_swift, "post", "-r", ".r:*", "cli-acl")
    proc = run_swift(strata_swift, "post", "-r", ".r:", "cli-acl")
    assert proc.returncode == 1
    assert "400 Bad Request" in proc.stderr
    # swiftclient quotes the start of the body
    assert "No host/domain value after referrer designation in ACL" in proc.stderr
    proc = run_swift(strata_swift, "post", "-w", ".r:*", "cli-acl")
    assert proc.returncode == 1 and "Referrers not allowed in write ACL" in proc.stderr
    assert stat(strata_swift, "cli-acl")["Read ACL"] == ".r:*"
    assert stat(strata_swift, "cli-acl")["Write ACL"] == ""


def test_acl_is_cleaned_as_swift(demo: SwiftUser) -> None:
    fresh_container(demo, "clean")
    r = demo.request("POST", "/clean", headers={
        "X-Container-Read": ".referrer : *.example.com , ,demo:alice,.rlistings"})
    assert r.status_code == 204
    assert container_acls(demo, "clean")[0] == ".r:.example.com,demo:alice,.rlistings"
    assert demo.request("POST", "/clean", headers={"X-Container-Read": ""}
                        ).status_code == 204
    assert container_acls(demo, "clean")[0] is None


def test_non_owner_cannot_set_or_see_acls(demo: SwiftUser, people: People) -> None:
    fresh_container(demo, "guarded", ("o", b"o"))
    assert demo.request("POST", "/guarded", headers={
        "X-Container-Read": "demo:alice,.rlistings", "X-Container-Write": "demo:alice",
        "X-Container-Meta-Color": "blue"}).status_code == 204
    alice = on(demo.url, people.alice.token)
    r = alice.request("HEAD", "/guarded")
    assert r.status_code == 204
    assert r.headers["X-Container-Meta-Color"] == "blue"
    assert "X-Container-Read" not in r.headers and "X-Container-Write" not in r.headers
    r = alice.request("GET", "/guarded")
    assert r.status_code == 200 and "X-Container-Read" not in r.headers
    r = alice.request("POST", "/guarded", headers={"X-Container-Read": ".r:*"})
    assert r.status_code == 403
    # bob, read-write on the whole account, may change metadata but not the ACLs
    grant = json.dumps({"read-write": [people.other["id"]]})
    assert demo.request("POST", "", headers={"X-Account-Access-Control": grant}
                        ).status_code == 204
    try:
        bob = on(demo.url, people.bob.token)
        r = bob.request("POST", "/guarded", headers={
            "X-Container-Read": ".r:*", "X-Container-Write": "", "X-Container-Meta-Color": "red"})
        assert r.status_code == 204
        head = demo.request("HEAD", "/guarded").headers
        assert head["X-Container-Read"] == "demo:alice,.rlistings"
        assert head["X-Container-Write"] == "demo:alice"
        assert head["X-Container-Meta-Color"] == "red"
        seen = bob.request("HEAD", "/guarded").headers
        assert "X-Container-Read" not in seen and "X-Container-Write" not in seen
        assert anonymous(demo).request("GET", "/guarded/o").status_code == 401
    finally:
        assert demo.request("POST", "", headers={"X-Account-Access-Control": ""}
                            ).status_code == 204


# -- account ACLs -----------------------------------------------------------------------


def test_account_acl_levels(demo: SwiftUser, people: People) -> None:
    fresh_container(demo, "acct", ("o", b"account data"))
    bob = on(demo.url, people.bob.token)
    other = people.other["id"]
    assert bob.request("GET", "").status_code == 403

    def set_acl(acl: dict[str, list[str]]) -> None:
        r = demo.request("POST", "", headers={"X-Account-Access-Control": json.dumps(acl)})
        assert r.status_code == 204

    try:
        set_acl({"read-only": [other]})
        head = demo.request("HEAD", "").headers
        assert head["X-Account-Access-Control"] == json.dumps(
            {"read-only": [other]}, separators=(",", ":"))
        r = bob.request("GET", "", params={"format": "json"})
        assert r.status_code == 200 and "acct" in [c["name"] for c in r.json()]
        assert "X-Account-Access-Control" not in r.headers
        assert bob.request("GET", "/acct/o").content == b"account data"
        assert bob.names("acct") == ["o"]
        assert put(bob, "/acct/bob", b"x").status_code == 403
        assert bob.request("PUT", "/bob-made").status_code == 403
        assert bob.request("POST", "", headers={"X-Account-Meta-A": "1"}).status_code == 403

        set_acl({"read-write": [f"{other}:{people.bob_user_id}"]})
        assert put(bob, "/acct/bob", b"by bob").status_code == 201
        assert bob.request("PUT", "/bob-made").status_code == 201
        assert bob.request("DELETE", "/acct/bob").status_code == 204
        assert bob.request("DELETE", "/bob-made").status_code == 204
        assert bob.request("POST", "", headers={"X-Account-Meta-A": "1"}).status_code == 403
        assert "X-Account-Access-Control" not in bob.request("HEAD", "").headers

        set_acl({"admin": [other], "read-only": ["nobody"]})
        r = bob.request("POST", "", headers={"X-Account-Meta-Set-By": "bob"})
        assert r.status_code == 204
        head = bob.request("HEAD", "").headers
        assert head["X-Account-Meta-Set-By"] == "bob"
        assert head["X-Account-Access-Control"] == (
            f'{{"admin":["{other}"],"read-only":["nobody"]}}')
        r = bob.request("POST", "/acct", headers={"X-Container-Read": ".r:*"})
        assert r.status_code == 204
        assert container_acls(demo, "acct")[0] == ".r:*"
        # alice is in no list: her project's name is not her project's id
        assert on(demo.url, people.alice.token).request("GET", "").status_code == 403
    finally:
        r = demo.request("POST", "", headers={"X-Account-Access-Control": "",
                                              "X-Remove-Account-Meta-Set-By": "x"})
        assert r.status_code == 204
    assert "X-Account-Access-Control" not in demo.request("HEAD", "").headers
    assert bob.request("GET", "").status_code == 403
    assert put(bob, "/acct/late", b"x").status_code == 403


@pytest.mark.parametrize(("value", "reason"), [
    ("not json", "Syntax error in input ('not json')"),
    ('["admin"]', "Syntax error in input ('[\"admin\"]')"),
    ('{"admin": "bob"}', 'Value for key "admin" must be a list'),
    ('{"owner": ["bob"]}', 'Key "owner" not recognized'),
    ('{"read-only": [1]}', 'Elements of "read-only" list must be strings'),
])
def test_malformed_account_acl(demo: SwiftUser, people: People, value: str,
                               reason: str) -> None:
    good = json.dumps({"read-only": [people.other["id"]]}, separators=(",", ":"))
    assert demo.request("POST", "", headers={"X-Account-Access-Control": good}
                        ).status_code == 204
    try:
        r = demo.request("POST", "", headers={"X-Account-Access-Control": value,
                                              "X-Account-Meta-Tried": "yes"})
        assert r.status_code == 400
        assert r.text == f"X-Account-Access-Control invalid: {reason}\n\nInput: {value}\n"
        head = demo.request("HEAD", "").headers
        assert head["X-Account-Access-Control"] == good
        assert "X-Account-Meta-Tried" not in head
    finally:
        demo.request("POST", "", headers={"X-Account-Access-Control": ""})


# -- TempURL ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(strata_swift: StrataInstance, demo: SwiftUser) -> str:
    """The demo account with a Temp-URL key, and a container ``tu`` of objects."""
    swift(strata_swift, "post", "-m", f"Temp-URL-Key:{KEY}")
    fresh_container(demo, "tu", ("report.pdf", b"%PDF-1.4 report"),
                    ("docs/a.txt", b"doc a"), ("docs/b.txt", b"doc b"), ("other.txt", b"other"))
    r = put(demo, "/tu/meta.txt", b"with metadata", **{
        "X-Object-Meta-Secret": "hidden", "X-Object-Meta-Public-Color": "green",
        "Content-Disposition": "inline; filename=own.txt"})
    assert r.status_code == 201
    return "tu"


def tempurl(strata: StrataInstance, *args: str) -> str:
    """``swift tempurl ...``: the path and query it prints."""
    out = swift(strata, "tempurl", *args).strip()
    assert out.startswith("/v1/"), out
    return out


def anon_get(strata: StrataInstance, path_qs: str, method: str = "GET",
             **kw: Any) -> requests.Response:
    r = requests.request(method, strata.proxy_url + path_qs, timeout=60, **kw)
    check_response(r)
    return r


def assert_invalid(r: requests.Response, account: str, method: str = "GET") -> None:
    assert r.status_code == 401
    assert r.text == ("" if method == "HEAD" else TEMPURL_INVALID)
    assert r.headers["Www-Authenticate"] == f'Swift realm="{account}"'
    assert r.headers["Content-Type"] == "text/html; charset=UTF-8"


def test_info_lists_tempurl_and_formpost(strata_swift: StrataInstance) -> None:
    info = requests.get(strata_swift.proxy_url + "/info", timeout=30).json()
    assert info["tempurl"] == {
        "methods": ["GET", "HEAD", "PUT", "POST", "DELETE"],
        "incoming_remove_headers": ["x-timestamp", "x-open-expired"],
        "incoming_allow_headers": [],
        "outgoing_remove_headers": ["x-object-meta-*"],
        "outgoing_allow_headers": ["x-object-meta-public-*"],
        "allowed_digests": ["sha1", "sha256", "sha512"], "deprecated_digests": ["sha1"],
    }
    assert info["formpost"] == {"allowed_digests": ["sha1", "sha256", "sha512"],
                                "deprecated_digests": ["sha1"]}


def test_tempurl_get_from_the_cli(strata_swift: StrataInstance, demo: SwiftUser,
                                  keyed: str) -> None:
    path = f"/v1/{demo.account}/tu/report.pdf"
    url = tempurl(strata_swift, "GET", "3600", path, KEY)
    query = parse_qs(urlsplit(url).query)
    assert len(query["temp_url_sig"][0]) == 64  # sha256 by default
    expires = int(query["temp_url_expires"][0])
    assert 3590 < expires - time.time() <= 3600
    r = anon_get(strata_swift, url)
    assert r.status_code == 200 and r.content == b"%PDF-1.4 report"
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf")
    assert r.headers["Expires"] == time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                 time.gmtime(expires))
    assert r.headers["Content-Type"] == "application/pdf"
    # a HEAD passes with a GET signature
    r = anon_get(strata_swift, url, "HEAD")
    assert r.status_code == 200 and r.headers["Content-Length"] == "15"
    # filename= and inline
    r = anon_get(strata_swift, url + "&filename=My+Report.pdf")
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"My Report.pdf\"; filename*=UTF-8''My%20Report.pdf")
    r = anon_get(strata_swift, url + "&inline")
    assert r.status_code == 200 and r.headers["Content-Disposition"] == "inline"
    # the full URL form and --iso8601 work as well
    full = swift(strata_swift, "tempurl", "--iso8601", "GET", "600",
                 demo.url + "/tu/report.pdf", KEY).strip()
    assert "temp_url_expires=20" in full and full.startswith(strata_swift.proxy_url)
    r = requests.get(full, timeout=60)
    assert r.status_code == 200 and r.content == b"%PDF-1.4 report"


def test_tempurl_refusals(strata_swift: StrataInstance, demo: SwiftUser, keyed: str) -> None:
    acct = demo.account
    path = f"/v1/{acct}/tu/report.pdf"
    url = tempurl(strata_swift, "GET", "3600", path, KEY)
    base, query = url.split("?", 1)
    sig = parse_qs(query)["temp_url_sig"][0]
    tampered = url.replace(sig, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    assert_invalid(anon_get(strata_swift, tampered), acct)
    assert_invalid(anon_get(strata_swift, tampered, "HEAD"), acct, "HEAD")
    # the same signature for another object, method, or a later expiry
    assert_invalid(anon_get(strata_swift, url.replace("report.pdf", "other.txt")), acct)
    assert_invalid(anon_get(strata_swift, url, "PUT", data=b"overwrite"), acct)
    assert_invalid(anon_get(strata_swift, url, "DELETE"), acct)
    expires = parse_qs(query)["temp_url_expires"][0]
    assert_invalid(anon_get(strata_swift, url.replace(expires, str(int(expires) + 1))), acct)
    # a wrong key, a missing part, a container or account path
    wrong = tempurl(strata_swift, "GET", "3600", path, "not-the-key")
    assert_invalid(anon_get(strata_swift, wrong), acct)
    assert_invalid(anon_get(strata_swift, f"{base}?temp_url_sig={sig}"), acct)
    assert_invalid(anon_get(strata_swift, f"{base}?temp_url_expires={expires}"), acct)
    assert_invalid(anon_get(strata_swift, f"/v1/{acct}/tu?{query}"), acct)
    assert_invalid(anon_get(strata_swift, f"/v1/{acct}?{query}"), acct)
    # sha1 is deprecated but allowed by default, as in Swift; sha512 too
    sha1 = tempurl(strata_swift, "--digest", "sha1", "GET", "3600", path, KEY)
    assert anon_get(strata_swift, sha1).status_code == 200
    sha512 = tempurl(strata_swift, "--digest", "sha512", "GET", "3600", path, KEY)
    assert anon_get(strata_swift, sha512).status_code == 200
    # nothing was changed by any of it
    assert demo.request("GET", "/tu/report.pdf").content == b"%PDF-1.4 report"


def test_tempurl_expires(strata_swift: StrataInstance, demo: SwiftUser, keyed: str) -> None:
    path = f"/v1/{demo.account}/tu/report.pdf"
    past = tempurl(strata_swift, "--absolute", "GET", str(int(time.time()) - 60), path, KEY)
    assert_invalid(anon_get(strata_swift, past), demo.account)
    short = tempurl(strata_swift, "GET", "2", path, KEY)
    assert anon_get(strata_swift, short).status_code == 200
    time.sleep(3)
    assert_invalid(anon_get(strata_swift, short), demo.account)


def test_tempurl_hides_private_metadata(strata_swift: StrataInstance, demo: SwiftUser,
                                        keyed: str) -> None:
    url = tempurl(strata_swift, "GET", "600", f"/v1/{demo.account}/tu/meta.txt", KEY)
    r = anon_get(strata_swift, url)
    assert r.status_code == 200 and r.content == b"with metadata"
    assert r.headers["X-Object-Meta-Public-Color"] == "green"
    assert "X-Object-Meta-Secret" not in r.headers
    # the object's own Content-Disposition wins over the default
    assert r.headers["Content-Disposition"] == "inline; filename=own.txt"
    assert demo.request("HEAD", "/tu/meta.txt").headers["X-Object-Meta-Secret"] == "hidden"


def test_tempurl_put_and_delete(strata_swift: StrataInstance, demo: SwiftUser,
                                keyed: str) -> None:
    path = f"/v1/{demo.account}/tu/uploaded.bin"
    url = tempurl(strata_swift, "PUT", "600", path, KEY)
    data = bytes(range(256)) * 40
    r = anon_get(strata_swift, url, "PUT", data=data,
                 headers={"X-Object-Meta-Via": "tempurl", "Content-Type": "x/y"})
    assert r.status_code == 201
    assert r.headers["Etag"] == hashlib.md5(data).hexdigest()
    got = demo.request("GET", "/tu/uploaded.bin")
    assert got.content == data and got.headers["X-Object-Meta-Via"] == "tempurl"
    assert got.headers["Content-Type"] == "x/y"
    # no pointer to other data through a write URL
    r = anon_get(strata_swift, url, "PUT", data=b"",
                 headers={"X-Object-Manifest": "tu/report"})
    assert r.status_code == 400
    assert r.text == "The header 'X-Object-Manifest' is not allowed in this tempurl"
    assert demo.request("GET", "/tu/uploaded.bin").content == data
    # the PUT URL reads nothing; a GET URL writes nothing
    assert_invalid(anon_get(strata_swift, url), demo.account)
    get_url = tempurl(strata_swift, "GET", "600", path, KEY)
    assert_invalid(anon_get(strata_swift, get_url, "PUT", data=b"x"), demo.account)
    delete_url = tempurl(strata_swift, "DELETE", "600", path, KEY)
    assert anon_get(strata_swift, delete_url, "DELETE").status_code == 204
    assert demo.request("HEAD", "/tu/uploaded.bin").status_code == 404


def test_tempurl_container_key(strata_swift: StrataInstance, demo: SwiftUser,
                               keyed: str) -> None:
    fresh_container(demo, "ckeyed", ("o.txt", b"container keyed"))
    swift(strata_swift, "post", "-m", "Temp-URL-Key:container-key", "ckeyed")
    # only the owner sees the key
    assert demo.request("HEAD", "/ckeyed").headers[
        "X-Container-Meta-Temp-Url-Key"] == "container-key"
    url = tempurl(strata_swift, "GET", "600", f"/v1/{demo.account}/ckeyed/o.txt",
                  "container-key")
    r = anon_get(strata_swift, url)
    assert r.status_code == 200 and r.content == b"container keyed"
    # the container's key opens nothing outside it; the account's key still works
    other = tempurl(strata_swift, "GET", "600", f"/v1/{demo.account}/tu/report.pdf",
                    "container-key")
    assert_invalid(anon_get(strata_swift, other), demo.account)
    by_account = tempurl(strata_swift, "GET", "600", f"/v1/{demo.account}/ckeyed/o.txt", KEY)
    assert anon_get(strata_swift, by_account).status_code == 200
    # Temp-URL-Key-2 as well (key rotation)
    swift(strata_swift, "post", "-m", "Temp-URL-Key-2:second-key", "ckeyed")
    second = tempurl(strata_swift, "GET", "600", f"/v1/{demo.account}/ckeyed/o.txt",
                     "second-key")
    assert anon_get(strata_swift, second).status_code == 200


def test_a_container_key_reaches_no_segments_elsewhere(strata_swift: StrataInstance,
                                                       demo: SwiftUser, keyed: str) -> None:
    """A large object behind a container-key TempURL: segments in the same
    container are read, segments in another container are not (Swift's
    authorize_same_container); the account key reaches both."""
    fresh_container(demo, "lo-here", ("seg-1", b"a" * 10), ("seg-2", b"b" * 10))
    fresh_container(demo, "lo-segments", ("seg-1", b"c" * 10))
    swift(strata_swift, "post", "-m", "Temp-URL-Key:lo-key", "lo-here")
    assert put(demo, "/lo-here/inside", b"", **{
        "X-Object-Manifest": "lo-here/seg-"}).status_code == 201
    assert put(demo, "/lo-here/outside", b"", **{
        "X-Object-Manifest": "lo-segments/seg-"}).status_code == 201
    inside = tempurl(strata_swift, "GET", "600", f"/v1/{demo.account}/lo-here/inside",
                     "lo-key")
    r = anon_get(strata_swift, inside)
    assert r.status_code == 200 and r.content == b"a" * 10 + b"b" * 10
    outside = tempurl(strata_swift, "GET", "600", f"/v1/{demo.account}/lo-here/outside",
                      "lo-key")
    r = anon_get(strata_swift, outside)
    assert r.status_code == 401  # the segment listing was refused: nothing leaks
    assert b"c" * 10 not in r.content
    by_account = tempurl(strata_swift, "GET", "600", f"/v1/{demo.account}/lo-here/outside",
                         KEY)
    r = anon_get(strata_swift, by_account)
    assert r.status_code == 200 and r.content == b"c" * 10


def test_tempurl_prefix(strata_swift: StrataInstance, demo: SwiftUser, keyed: str) -> None:
    url = tempurl(strata_swift, "--prefix-based", "GET", "600",
                  f"/v1/{demo.account}/tu/docs/", KEY)
    base, query = url.split("?", 1)
    assert base == f"/v1/{demo.account}/tu/docs/"
    assert "temp_url_prefix=docs%2F" in query or "temp_url_prefix=docs/" in query
    for name, data in (("a.txt", b"doc a"), ("b.txt", b"doc b")):
        r = anon_get(strata_swift, f"{base}{name}?{query}")
        assert r.status_code == 200 and r.content == data
        assert r.headers["Content-Disposition"] == (
            f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}")
    assert anon_get(strata_swift, f"{base}missing?{query}").status_code == 404
    assert_invalid(anon_get(strata_swift, f"/v1/{demo.account}/tu/other.txt?{query}"),
                   demo.account)
    assert_invalid(anon_get(strata_swift, f"/v1/{demo.account}/tu/docsx?{query}"),
                   demo.account)


def test_tempurl_ignores_other_query_parameters(strata_swift: StrataInstance,
                                                demo: SwiftUser, keyed: str) -> None:
    url = tempurl(strata_swift, "GET", "600", f"/v1/{demo.account}/tu/report.pdf", KEY)
    r = anon_get(strata_swift, url + "&format=json&multipart-manifest=get")
    assert r.status_code == 200 and r.content == b"%PDF-1.4 report"


# -- FormPost ---------------------------------------------------------------------------


def form_signature(path: str, redirect: str, max_size: int, max_count: int, expires: int,
                   key: str = KEY, digest: str = "sha256") -> str:
    body = f"{path}\n{redirect}\n{max_size}\n{max_count}\n{expires}"
    return hmac.new(key.encode(), body.encode(), digest).hexdigest()


def form(path: str, *, redirect: str = "", max_size: int = 1024, max_count: int = 5,
         expires: int | None = None, key: str = KEY, **extra: str) -> dict[str, str]:
    expires = int(time.time()) + 600 if expires is None else expires
    fields = {"max_file_size": str(max_size), "max_file_count": str(max_count),
              "expires": str(expires),
              "signature": form_signature(path, redirect, max_size, max_count, expires, key),
              **extra}
    if redirect:
        fields["redirect"] = redirect
    return fields


def post_form(strata: StrataInstance, path: str, fields: dict[str, str],
              files: list[tuple[str, tuple[str, bytes, str]]]) -> requests.Response:
    """As a browser does: multipart/form-data, the fields first, then the files."""
    parts: list[tuple[str, tuple[str | None, bytes | str] | tuple[str, bytes, str]]] = [
        (name, (None, value)) for name, value in fields.items()]
    parts += files
    r = requests.post(strata.proxy_url + path, files=parts, timeout=60,
                      allow_redirects=False)
    check_response(r)
    return r


@pytest.fixture(scope="module")
def inbox(demo: SwiftUser, keyed: str) -> str:
    fresh_container(demo, "inbox")
    return "inbox"


def test_formpost_two_files(strata_swift: StrataInstance, demo: SwiftUser, inbox: str) -> None:
    path = f"/v1/{demo.account}/inbox/up/"
    r = post_form(strata_swift, path, form(path), [
        ("file1", ("a.txt", b"first file", "text/plain")),
        ("file2", ("b.bin", b"\x00\x01second", "application/x-thing")),
    ])
    assert r.status_code == 201
    assert r.text == "201 Created"
    assert r.headers["Content-Type"] == "text/plain"
    a = demo.request("GET", "/inbox/up/a.txt")
    assert a.content == b"first file" and a.headers["Content-Type"] == "text/plain"
    b = demo.request("GET", "/inbox/up/b.bin")
    assert b.content == b"\x00\x01second"
    assert b.headers["Content-Type"] == "application/x-thing"
    assert demo.names("inbox", prefix="up/") == ["up/a.txt", "up/b.bin"]


def test_formpost_redirect_and_container_root(strata_swift: StrataInstance, demo: SwiftUser,
                                              inbox: str) -> None:
    for path in (f"/v1/{demo.account}/inbox/", f"/v1/{demo.account}/inbox"):
        redirect = "https://app.example.com/done?x=1"
        fields = form(path, redirect=redirect, x_delete_after="3600")
        r = post_form(strata_swift, path, fields,
                      [("f", ("root.txt", b"at the root", "text/plain"))])
        assert r.status_code == 303
        location = "https://app.example.com/done?x=1&status=201&message="
        assert r.headers["Location"] == location
        assert r.text == (f'<html><body><p><a href="{location}">'
                          "Click to continue...</a></p></body></html>")
        got = demo.request("GET", "/inbox/root.txt")
        assert got.content == b"at the root" and "X-Delete-At" in got.headers


def test_formpost_container_key_and_sha512(strata_swift: StrataInstance, demo: SwiftUser,
                                           inbox: str) -> None:
    swift(strata_swift, "post", "-m", "Temp-URL-Key:inbox-key", "inbox")
    path = f"/v1/{demo.account}/inbox/ck-"
    expires = int(time.time()) + 60
    sig = form_signature(path, "", 100, 1, expires, "inbox-key", "sha512")
    fields = {"max_file_size": "100", "max_file_count": "1", "expires": str(expires),
              "signature": sig}
    r = post_form(strata_swift, path, fields, [("f", ("x.txt", b"sha512 signed", "text/plain"))])
    assert r.status_code == 201 and r.text == "201 Created"
    assert demo.request("GET", "/inbox/ck-x.txt").content == b"sha512 signed"


def test_formpost_refusals(strata_swift: StrataInstance, demo: SwiftUser, inbox: str) -> None:
    acct = demo.account
    path = f"/v1/{acct}/inbox/bad/"
    one = [("file", ("x.txt", b"12345", "text/plain"))]

    def unauthorized(r: requests.Response, message: str) -> None:
        assert r.status_code == 401
        assert r.text == f"FormPost: {message}"
        assert r.headers["Www-Authenticate"] == f'Swift realm="{acct}"'
        assert r.headers["Content-Type"] == "text/html; charset=UTF-8"

    unauthorized(post_form(strata_swift, path, form(path, key="wrong"), one),
                 "Invalid Signature")
    unauthorized(post_form(strata_swift, path, form(path, expires=int(time.time()) - 1), one),
                 "Form Expired")
    tampered = {**form(path), "max_file_size": "999999"}
    unauthorized(post_form(strata_swift, path, tampered, one), "Invalid Signature")
    # signed for one prefix, posted to another
    unauthorized(post_form(strata_swift, f"/v1/{acct}/inbox/elsewhere/", form(path), one),
                 "Invalid Signature")
    r = post_form(strata_swift, path, {**form(path), "max_file_size": "big"}, one)
    assert r.status_code == 400 and r.text == "FormPost: max_file_size not an integer"
    assert r.headers["Content-Type"] == "text/plain"
    r = post_form(strata_swift, path, {**form(path), "expires": "soon"}, one)
    assert r.status_code == 400 and r.text == "FormPost: expired not an integer"
    r = post_form(strata_swift, path, {**form(path), "x_delete_at": "x"}, one)
    assert r.status_code == 400
    assert r.text == "FormPost: x_delete_at not an integer: Unix timestamp required."
    # too large: nothing of it is stored
    r = post_form(strata_swift, path, form(path, max_size=4), one)
    assert r.status_code == 400 and r.text == "FormPost: max_file_size exceeded"
    # too many: the first is stored, the rest refused
    r = post_form(strata_swift, path, form(path, max_count=1), [
        ("f1", ("one.txt", b"1", "text/plain")), ("f2", ("two.txt", b"2", "text/plain"))])
    assert r.status_code == 400
    assert r.text == "400 Bad Request\r\nFormPost: Max File Count Exceeded"
    r = post_form(strata_swift, path, form(path, redirect="https://x.example/r"), [])
    assert r.status_code == 303
    assert r.headers["Location"] == ("https://x.example/r?status=400&"
                                     "message=no%20files%20to%20process")
    r = post_form(strata_swift, path, form(path), [])
    assert r.status_code == 400 and r.text == "400 Bad Request\r\nFormPost: No Files To Process"
    # a container that does not exist: the upload's own 404
    missing = f"/v1/{acct}/no-such-box/"
    r = post_form(strata_swift, missing, form(missing), one)
    assert r.status_code == 404
    assert r.text == "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"
    # a broken form
    r = requests.post(strata_swift.proxy_url + path, data=b"garbage without boundary",
                      headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
                      timeout=60)
    assert r.status_code == 400 and r.text == "FormPost: invalid starting boundary"
    assert demo.names("inbox", prefix="bad/") == ["bad/one.txt"]
    assert demo.request("HEAD", "/no-such-box").status_code == 404


def test_formpost_leaves_other_posts_alone(demo: SwiftUser, inbox: str) -> None:
    assert put(demo, "/inbox/plain", b"p").status_code == 201
    r = demo.request("POST", "/inbox/plain", headers={"X-Object-Meta-K": "v",
                                                     "Content-Type": "text/plain"})
    assert r.status_code == 202
    assert demo.request("HEAD", "/inbox/plain").headers["X-Object-Meta-K"] == "v"


# -- openstacksdk ----------------------------------------------------------------------


def test_openstacksdk_acl_and_metadata(strata_swift: StrataInstance, people: People) -> None:
    rc = strata_swift.openrc("demo-openrc")
    conn = openstack.connect(
        auth_url=rc["OS_AUTH_URL"], username=rc["OS_USERNAME"], password=rc["OS_PASSWORD"],
        project_name=rc["OS_PROJECT_NAME"], user_domain_name=rc["OS_USER_DOMAIN_NAME"],
        project_domain_name=rc["OS_PROJECT_DOMAIN_NAME"], region_name=rc["OS_REGION_NAME"],
        interface=rc["OS_INTERFACE"], identity_api_version="3")
    store = conn.object_store
    store.create_container(name="sdk-acl")
    store.create_object(container="sdk-acl", name="o.txt", data=b"sdk data")
    store.set_container_metadata("sdk-acl", read_ACL=".r:*,.rlistings",
                                 write_ACL="demo:alice", color="teal")
    meta = store.get_container_metadata("sdk-acl")
    assert meta.read_ACL == ".r:*,.rlistings"
    assert meta.write_ACL == "demo:alice"
    assert meta.metadata == {"color": "teal"}
    endpoint = store.get_endpoint()
    assert endpoint is not None
    r = requests.get(endpoint + "/sdk-acl/o.txt", timeout=30)
    assert r.status_code == 200 and r.content == b"sdk data"
    alice = on(endpoint, people.alice.token)
    assert put(alice, "/sdk-acl/alice.txt", b"a").status_code == 201
    store.set_object_metadata("o.txt", container="sdk-acl", reviewed="yes", owner="demo")
    ometa = store.get_object_metadata("o.txt", container="sdk-acl")
    assert ometa.metadata == {"reviewed": "yes", "owner": "demo"}
    # the sdk signs temporary URLs with sha1, which Swift still allows by default
    store.set_account_temp_url_key(KEY)
    account = endpoint.rsplit("/", 1)[1]
    url = str(store.generate_temp_url(f"/v1/{account}/sdk-acl/o.txt", 600, "GET",
                                      temp_url_key=KEY))
    assert len(parse_qs(urlsplit(url).query)["temp_url_sig"][0]) == 40
    r = anon_get(strata_swift, url)
    assert r.status_code == 200 and r.content == b"sdk data"


def test_tempurl_on_a_container_root_is_staticwebs(strata_swift: StrataInstance,
                                                   demo: SwiftUser, keyed: str) -> None:
    """A prefix-based temporary URL with an empty prefix names a container; StaticWeb
    answers it as Swift's does: 301 to the slash form, then its listing, whose links
    repeat the temporary URL's parameters as they came (an ISO 8601 expiry too)."""
    fresh_container(demo, "webtu", ("index.txt", b"i"), ("sub/a.txt", b"a"))
    assert demo.request("POST", "/webtu", headers={
        "X-Container-Meta-Web-Listings": "true"}).status_code == 204
    url = tempurl(strata_swift, "--prefix-based", "--iso8601", "GET", "600",
                  f"/v1/{demo.account}/webtu/", KEY)
    base, query = url.split("?", 1)
    assert base == f"/v1/{demo.account}/webtu/"
    expires = next(v for k, v in (p.split("=", 1) for p in query.split("&"))
                   if k == "temp_url_expires")
    assert "T" in unquote(expires)  # the ISO form, as the CLI made it
    r = anon_get(strata_swift, f"/v1/{demo.account}/webtu?{query}", allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"].endswith(f"/v1/{demo.account}/webtu/")
    r = anon_get(strata_swift, f"{base}?{query}")
    assert r.status_code == 200 and "Listing of" in r.text
    assert r.headers["Content-Disposition"] == "inline"
    shown = quote(unquote(expires))
    assert f'href="./index%2Etxt?temp_url_prefix=&amp;temp_url_expires={shown}' in r.text
    assert 'href="./sub/?temp_url_prefix=' in r.text
    # a container StaticWeb does not serve is no temporary URL's business
    plain_url = tempurl(strata_swift, "--prefix-based", "GET", "600",
                        f"/v1/{demo.account}/tu/", KEY)
    assert_invalid(anon_get(strata_swift, plain_url), demo.account)
