"""Server-side copy, symlinks, versioned writes and bulk operations against a real
Strata, as OpenStack Swift answers them: the ``swift`` command line where it has
a command for it, plain HTTP for the rest (and for every error case)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from urllib.parse import quote

import requests

from tests.functional.swift.conftest import StrataInstance, SwiftUser

SWIFT = str(Path(sys.executable).with_name("swift"))
HTML = "text/html; charset=UTF-8"
NOT_FOUND = "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"
FORBIDDEN = "<html><h1>Forbidden</h1><p>Access was denied to this resource.</p></html>"


def swift_cli(strata_swift: StrataInstance, *args: str) -> str:
    """``swift <args>`` as the demo user, after ``source var/demo-openrc``."""
    env = strata_swift.client_env(strata_swift.openrc("demo-openrc"))
    proc = subprocess.run([SWIFT, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, f"swift {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def make_container(user: SwiftUser, name: str, headers: dict[str, str] | None = None) -> str:
    r = user.request("PUT", f"/{name}", headers=headers)
    assert r.status_code in (201, 202), r.text
    return name


def put(user: SwiftUser, container: str, name: str, data: bytes = b"data",
        headers: dict[str, str] | None = None) -> requests.Response:
    r = user.request("PUT", f"/{container}/{quote(name)}", data=data, headers=headers)
    return r


def meta(r: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in r.headers.items() if k.lower().startswith("x-object-meta-")}


def names(user: SwiftUser, container: str, **query: str) -> list[str]:
    r = user.request("GET", f"/{container}", params={"format": "json", **query})
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return [i["name"] for i in r.json()]


def assert_error(r: requests.Response, status: int, body: str,
                 content_type: str = HTML) -> None:
    assert (r.status_code, r.text) == (status, body)
    assert r.headers["Content-Type"] == content_type


# -- server-side copy ------------------------------------------------------------------


def test_copy_verb_keeps_metadata_and_adds_the_request_s(demo: SwiftUser) -> None:
    c = make_container(demo, "copy-src")
    d = make_container(demo, "copy-dst")
    r = put(demo, c, "from é", b"hello copy", {
        "X-Object-Meta-Color": "blue", "X-Object-Meta-Size": "s", "Content-Type": "text/x-src",
        "Content-Disposition": "attachment; filename=a.txt"})
    assert r.status_code == 201
    src = demo.request("HEAD", f"/{c}/{quote('from é')}")
    r = demo.request("COPY", f"/{c}/{quote('from é')}", headers={
        "Destination": f"{d}/{quote('to ü')}", "X-Object-Meta-Size": "xl"})
    assert r.status_code == 201, r.text
    assert r.headers["X-Copied-From"] == quote(f"{c}/from é")
    assert r.headers["X-Copied-From-Account"] == demo.account
    assert r.headers["X-Copied-From-Last-Modified"] == src.headers["Last-Modified"]
    assert r.headers["ETag"] == md5(b"hello copy")
    assert meta(r) == {"x-object-meta-color": "blue", "x-object-meta-size": "xl"}
    got = demo.request("GET", f"/{d}/{quote('to ü')}")
    assert got.content == b"hello copy"
    assert got.headers["Content-Type"] == "text/x-src"
    assert got.headers["Content-Disposition"] == "attachment; filename=a.txt"
    assert meta(got) == {"x-object-meta-color": "blue", "x-object-meta-size": "xl"}
    # the source is untouched
    assert meta(demo.request("HEAD", f"/{c}/{quote('from é')}"))["x-object-meta-size"] == "s"


def test_put_with_x_copy_from_and_fresh_metadata(demo: SwiftUser) -> None:
    c = make_container(demo, "copy-src")
    assert put(demo, c, "fresh", b"abc", {"X-Object-Meta-Old": "1",
                                          "Content-Type": "text/plain"}).status_code == 201
    r = demo.request("PUT", f"/{c}/fresh-copy", headers={
        "X-Copy-From": f"/{c}/fresh", "X-Fresh-Metadata": "true", "X-Object-Meta-New": "2",
        "Content-Length": "0"})
    assert r.status_code == 201, r.text
    assert r.headers["X-Copied-From"] == f"{c}/fresh"
    got = demo.request("GET", f"/{c}/fresh-copy")
    assert got.content == b"abc" and meta(got) == {"x-object-meta-new": "2"}
    assert got.headers["Content-Type"] == "text/plain"
    # the request's Content-Type wins over the source's
    r = demo.request("PUT", f"/{c}/typed-copy", headers={
        "X-Copy-From": f"{c}/fresh", "Content-Type": "application/x-mine"}, data=b"")
    assert r.status_code == 201
    got = demo.request("HEAD", f"/{c}/typed-copy")
    assert got.headers["Content-Type"] == "application/x-mine"
    assert meta(got) == {"x-object-meta-old": "1"}


def test_copy_streams_a_large_object(demo: SwiftUser) -> None:
    c = make_container(demo, "copy-src")
    data = os.urandom(5 * 1024 * 1024 + 3)
    assert put(demo, c, "big", data).status_code == 201
    r = demo.request("COPY", f"/{c}/big", headers={"Destination": f"/{c}/big-copy"})
    assert r.status_code == 201 and r.headers["ETag"] == md5(data)
    got = demo.request("GET", f"/{c}/big-copy")
    assert md5(got.content) == md5(data) and len(got.content) == len(data)


def test_swift_cli_copy(strata_swift: StrataInstance, demo: SwiftUser) -> None:
    c = make_container(demo, "cli-copy")
    assert put(demo, c, "orig", b"from the cli", {"X-Object-Meta-A": "1"}).status_code == 201
    swift_cli(strata_swift, "copy", "-d", f"/{c}/dup", "-m", "B:2", c, "orig")
    got = demo.request("GET", f"/{c}/dup")
    assert got.content == b"from the cli"
    assert meta(got) == {"x-object-meta-a": "1", "x-object-meta-b": "2"}
    swift_cli(strata_swift, "copy", "-d", f"/{c}/fresh", "-M", "-m", "C:3", c, "orig")
    assert meta(demo.request("HEAD", f"/{c}/fresh")) == {"x-object-meta-c": "3"}


def test_copy_errors(demo: SwiftUser) -> None:
    c = make_container(demo, "copy-bad")
    assert put(demo, c, "src", b"x").status_code == 201
    assert_error(demo.request("COPY", f"/{c}/src"), 412, "Destination header required")
    form = "Destination header must be of the form <container name>/<object name>"
    for bad in ("no-object", "/only-container", f"{c}/", "/"):
        assert_error(demo.request("COPY", f"/{c}/src", headers={"Destination": bad}), 412, form)
    assert_error(demo.request("COPY", f"/{c}/src", headers={
        "Destination": f"{c}/x", "Destination-Account": "a/b"}), 412,
        "Account name cannot contain slashes")
    assert_error(demo.request("PUT", f"/{c}/dst", headers={"X-Copy-From": "nocontainer"},
                              data=b""), 412,
                 "X-Copy-From header must be of the form <container name>/<object name>")
    assert_error(demo.request("PUT", f"/{c}/dst", headers={"X-Copy-From": f"{c}/src"},
                              data=b"a body"), 400,
                 "Copy requests require a zero byte body", "text/plain")
    # a missing source: 404, and nothing written
    assert_error(demo.request("COPY", f"/{c}/missing", headers={"Destination": f"{c}/dst"}),
                 404, NOT_FOUND)
    assert_error(demo.request("PUT", f"/{c}/dst", headers={"X-Copy-From": f"{c}/missing"},
                              data=b""), 404, NOT_FOUND)
    # a missing destination container
    assert demo.request("COPY", f"/{c}/src", headers={
        "Destination": "no-such-container/dst"}).status_code == 404
    assert names(demo, c) == ["src"]
    # COPY is an object verb only
    assert demo.request("COPY", f"/{c}", headers={"Destination": f"{c}/x"}).status_code == 405


def test_copy_across_accounts_needs_rights_on_both(demo: SwiftUser, admin: SwiftUser) -> None:
    theirs = make_container(admin, "private-src")
    assert put(admin, theirs, "secret", b"admin data").status_code == 201
    mine = make_container(demo, "copy-xacct")
    assert put(demo, mine, "own", b"demo data").status_code == 201
    # reading their object: 403, nothing stored
    r = demo.request("PUT", f"/{mine}/stolen", data=b"", headers={
        "X-Copy-From": f"{theirs}/secret", "X-Copy-From-Account": admin.account})
    assert_error(r, 403, FORBIDDEN)
    r = demo.request("COPY", f"/{mine}/own", headers={
        "Destination": f"{theirs}/planted", "Destination-Account": admin.account})
    assert_error(r, 403, FORBIDDEN)
    assert names(demo, mine) == ["own"] and names(admin, theirs) == ["secret"]
    # once they let anyone read it, the copy works
    assert admin.request("POST", f"/{theirs}", headers={
        "X-Container-Read": ".r:*"}).status_code == 204
    r = demo.request("PUT", f"/{mine}/shared", data=b"", headers={
        "X-Copy-From": f"{theirs}/secret", "X-Copy-From-Account": admin.account})
    assert r.status_code == 201 and r.headers["X-Copied-From-Account"] == admin.account
    assert demo.request("GET", f"/{mine}/shared").content == b"admin data"


# -- symlinks -------------------------------------------------------------------------


def test_symlink_follow_and_show(demo: SwiftUser) -> None:
    c = make_container(demo, "links")
    assert put(demo, c, "target", b"pointed at", {"X-Object-Meta-T": "1",
                                                  "Content-Type": "text/x-t"}).status_code == 201
    r = demo.request("PUT", f"/{c}/link", data=b"", headers={"X-Symlink-Target": f"{c}/target"})
    assert r.status_code == 201, r.text
    got = demo.request("GET", f"/{c}/link")
    assert got.status_code == 200 and got.content == b"pointed at"
    assert got.headers["Content-Location"] == f"/v1/{demo.account}/{c}/target"
    assert got.headers["Content-Type"] == "text/x-t" and meta(got) == {"x-object-meta-t": "1"}
    head = demo.request("HEAD", f"/{c}/link")
    assert head.status_code == 200 and head.headers["Content-Length"] == "10"
    for method in ("GET", "HEAD"):
        own = demo.request(method, f"/{c}/link", params={"symlink": "get"})
        assert own.status_code == 200 and own.headers["Content-Length"] == "0"
        assert own.headers["X-Symlink-Target"] == f"{c}/target"
        assert own.headers["Content-Type"] == "application/symlink"
        assert "X-Symlink-Target-Account" not in own.headers
        assert not any(k.lower().startswith("x-object-sysmeta") for k in own.headers)
    # a range of the target through the link
    part = demo.request("GET", f"/{c}/link", headers={"Range": "bytes=0-4"})
    assert part.status_code == 206 and part.content == b"point"
    # deleting the link leaves the target
    assert demo.request("DELETE", f"/{c}/link").status_code == 204
    assert demo.request("GET", f"/{c}/target").content == b"pointed at"


def test_symlink_chains_loops_and_dangling(demo: SwiftUser) -> None:
    c = make_container(demo, "chains")
    assert put(demo, c, "end", b"the end").status_code == 201

    def link(name: str, target: str) -> None:
        r = demo.request("PUT", f"/{c}/{name}", data=b"", headers={"X-Symlink-Target": target})
        assert r.status_code == 201, r.text

    link("l1", f"{c}/end")
    link("l2", f"{c}/l1")
    link("l3", f"{c}/l2")
    assert demo.request("GET", f"/{c}/l2").content == b"the end"
    too_many = "Too many levels of symbolic links, maximum allowed is 2"
    assert_error(demo.request("GET", f"/{c}/l3"), 409, too_many, "text/plain")
    link("ping", f"{c}/pong")
    link("pong", f"{c}/ping")
    assert_error(demo.request("GET", f"/{c}/ping"), 409, too_many, "text/plain")
    assert demo.request("HEAD", f"/{c}/ping").status_code == 409
    link("dangling", f"{c}/nothing-here")
    r = demo.request("GET", f"/{c}/dangling")
    assert r.status_code == 404
    assert r.headers["Content-Location"] == f"/v1/{demo.account}/{c}/nothing-here"


def test_static_symlinks(demo: SwiftUser) -> None:
    c = make_container(demo, "static")
    assert put(demo, c, "t", b"v1 body", {"Content-Type": "text/x-v1"}).status_code == 201
    etag = md5(b"v1 body")
    r = demo.request("PUT", f"/{c}/s", data=b"", headers={
        "X-Symlink-Target": f"{c}/t", "X-Symlink-Target-Etag": f'"{etag}"'})
    assert r.status_code == 201, r.text
    own = demo.request("HEAD", f"/{c}/s", params={"symlink": "get"})
    assert own.headers["X-Symlink-Target-Etag"] == etag
    assert own.headers["X-Symlink-Target-Bytes"] == "7"
    assert own.headers["Content-Type"] == "text/x-v1"  # the target's, when not given
    assert demo.request("GET", f"/{c}/s").content == b"v1 body"
    # the target changes: the static link no longer answers
    assert put(demo, c, "t", b"v2 body").status_code == 201
    assert_error(demo.request("GET", f"/{c}/s"), 409,
                 f"Object Etag {md5(b'v2 body')!r} does not match X-Symlink-Target-Etag "
                 f"header {etag!r}", "text/plain")
    # made against a wrong ETag, or a missing target: 409, nothing stored
    r = demo.request("PUT", f"/{c}/wrong", data=b"", headers={
        "X-Symlink-Target": f"{c}/t", "X-Symlink-Target-Etag": etag})
    assert r.status_code == 409 and r.headers["Content-Location"] == f"/v1/{demo.account}/{c}/t"
    r = demo.request("PUT", f"/{c}/nowhere", data=b"", headers={
        "X-Symlink-Target": f"{c}/absent", "X-Symlink-Target-Etag": etag})
    assert_error(r, 409, "X-Symlink-Target does not exist", "text/plain")
    assert_error(demo.request("PUT", f"/{c}/badtag", data=b"", headers={
        "X-Symlink-Target": f"{c}/t", "X-Symlink-Target-Etag": 'a"b'}), 400,
        "Bad X-Symlink-Target-Etag format", "text/plain")
    assert sorted(names(demo, c)) == ["s", "t"]


def test_symlink_errors_and_post(demo: SwiftUser, admin: SwiftUser) -> None:
    c = make_container(demo, "link-errors")
    assert put(demo, c, "t", b"t").status_code == 201
    form = "X-Symlink-Target header must be of the form <container name>/<object name>"
    assert_error(demo.request("PUT", f"/{c}/l", data=b"x", headers={
        "X-Symlink-Target": f"{c}/t"}), 400, "Symlink requests require a zero byte body",
        "text/plain")
    assert_error(demo.request("PUT", f"/{c}/l", data=b"", headers={
        "X-Symlink-Target": f"/{c}/t"}), 412, form, "text/plain")
    assert_error(demo.request("PUT", f"/{c}/l", data=b"", headers={
        "X-Symlink-Target": "just-a-name"}), 412, form)
    assert_error(demo.request("PUT", f"/{c}/l", data=b"", headers={
        "X-Symlink-Target": f"{c}/l"}), 400, "Symlink cannot target itself", "text/plain")
    assert_error(demo.request("PUT", f"/{c}/l", data=b"", headers={
        "X-Symlink-Target": f"{c}/t", "X-Symlink-Target-Account": "x/y"}), 412,
        "Account name cannot contain slashes")
    assert_error(demo.request("POST", f"/{c}/t", headers={"X-Symlink-Target": f"{c}/t"}), 400,
                 "A PUT request is required to set a symlink target", "text/plain")
    assert names(demo, c) == ["t"]
    # a link into another account: shown, and followed with the reader's rights
    r = demo.request("PUT", f"/{c}/away", data=b"", headers={
        "X-Symlink-Target": "private/obj", "X-Symlink-Target-Account": admin.account})
    assert r.status_code == 201
    own = demo.request("HEAD", f"/{c}/away", params={"symlink": "get"})
    assert own.headers["X-Symlink-Target-Account"] == admin.account
    assert_error(demo.request("GET", f"/{c}/away"), 403, FORBIDDEN)
    # POST to a link: applied to the link, answered 307 to the target
    r = demo.request("POST", f"/{c}/away", headers={"X-Object-Meta-Note": "n"},
                     allow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"] == f"/v1/{admin.account}/private/obj"
    assert r.text == ("The requested POST was applied to a symlink. POST directly to the "
                      "target to apply requested metadata.")
    own = demo.request("HEAD", f"/{c}/away", params={"symlink": "get"})
    assert meta(own) == {"x-object-meta-note": "n"}
    assert demo.request("POST", f"/{c}/t", headers={"X-Object-Meta-A": "b"}).status_code == 202


def test_copy_of_a_symlink(demo: SwiftUser) -> None:
    c = make_container(demo, "copy-links")
    assert put(demo, c, "t", b"target bytes").status_code == 201
    assert demo.request("PUT", f"/{c}/l", data=b"", headers={
        "X-Symlink-Target": f"{c}/t"}).status_code == 201
    # a plain copy reads through the link
    assert demo.request("COPY", f"/{c}/l", headers={"Destination": f"{c}/as-object"}
                        ).status_code == 201
    got = demo.request("GET", f"/{c}/as-object", params={"symlink": "get"})
    assert got.content == b"target bytes" and "X-Symlink-Target" not in got.headers
    # ?symlink=get copies the link itself
    assert demo.request("COPY", f"/{c}/l", params={"symlink": "get"},
                        headers={"Destination": f"{c}/as-link"}).status_code == 201
    got = demo.request("GET", f"/{c}/as-link", params={"symlink": "get"})
    assert got.content == b"" and got.headers["X-Symlink-Target"] == f"{c}/t"
    assert demo.request("GET", f"/{c}/as-link").content == b"target bytes"


# -- versioned writes ------------------------------------------------------------------


def test_versions_location_stack_mode(strata_swift: StrataInstance, demo: SwiftUser) -> None:
    make_container(demo, "vers")
    swift_cli(strata_swift, "post", "-H", "X-Versions-Location: vers", "docs")
    head = demo.request("HEAD", "/docs")
    assert head.headers["X-Versions-Location"] == "vers"
    assert "X-History-Location" not in head.headers
    name = "report ü.txt"
    prefix = f"{len(name.encode()):03x}{name}/"
    for body in (b"v1", b"v2", b"v3"):
        assert put(demo, "docs", name, body).status_code == 201
    kept = names(demo, "vers")
    assert len(kept) == 2 and all(k.startswith(prefix) for k in kept)
    assert [demo.request("GET", f"/vers/{quote(k)}").content for k in kept] == [b"v1", b"v2"]
    assert demo.request("GET", f"/docs/{quote(name)}").content == b"v3"
    # each DELETE restores the previous version
    for expect in (b"v2", b"v1"):
        assert demo.request("DELETE", f"/docs/{quote(name)}").status_code == 204
        assert demo.request("GET", f"/docs/{quote(name)}").content == expect
    assert names(demo, "vers") == []
    assert demo.request("DELETE", f"/docs/{quote(name)}").status_code == 204
    assert demo.request("GET", f"/docs/{quote(name)}").status_code == 404
    # a copy onto a versioned object keeps the overwritten one too
    assert put(demo, "docs", "a", b"first").status_code == 201
    assert put(demo, "docs", "b", b"second").status_code == 201
    assert demo.request("COPY", "/docs/b", headers={"Destination": "docs/a"}).status_code == 201
    assert [demo.request("GET", f"/vers/{quote(k)}").content
            for k in names(demo, "vers", prefix="001a/")] == [b"first"]
    # removing the location stops versioning
    assert demo.request("POST", "/docs", headers={
        "X-Remove-Versions-Location": "x"}).status_code == 204
    assert "X-Versions-Location" not in demo.request("HEAD", "/docs").headers
    assert put(demo, "docs", "b", b"third").status_code == 201
    assert names(demo, "vers", prefix="001b/") == []


def test_history_location(demo: SwiftUser) -> None:
    make_container(demo, "hist")
    make_container(demo, "logged", {"X-History-Location": "hist"})
    head = demo.request("HEAD", "/logged")
    assert head.headers["X-History-Location"] == "hist"
    assert "X-Versions-Location" not in head.headers
    assert put(demo, "logged", "o", b"one").status_code == 201
    assert put(demo, "logged", "o", b"two").status_code == 201
    assert demo.request("DELETE", "/logged/o").status_code == 204
    assert demo.request("GET", "/logged/o").status_code == 404
    listing = demo.request("GET", "/hist", params={"format": "json"}).json()
    assert [i["name"][:5] for i in listing] == ["001o/"] * 3
    assert [demo.request("GET", f"/hist/{quote(i['name'])}").content
            for i in listing[:2]] == [b"one", b"two"]
    assert listing[2]["content_type"] == "application/x-deleted;swift_versions_deleted=1"
    assert listing[2]["bytes"] == 0
    # switching modes leaves one location
    assert demo.request("POST", "/logged", headers={
        "X-Versions-Location": "hist"}).status_code == 204
    head = demo.request("HEAD", "/logged")
    assert head.headers["X-Versions-Location"] == "hist"
    assert "X-History-Location" not in head.headers


def test_versioning_errors(strata_swift: StrataInstance, demo: SwiftUser) -> None:
    make_container(demo, "vers-errors")
    r = demo.request("POST", "/vers-errors", headers={
        "X-Versions-Location": "a", "X-History-Location": "b"})
    assert_error(r, 400, "Only one of x-versions-location or x-history-location may be "
                         "specified", "text/plain")
    assert_error(demo.request("PUT", "/vers-new", headers={
        "X-Versions-Location": "a", "X-History-Location": "b"}), 400,
        "Only one of x-versions-location or x-history-location may be specified", "text/plain")
    assert demo.request("HEAD", "/vers-new").status_code == 404
    assert_error(demo.request("POST", "/vers-errors", headers={
        "X-Versions-Location": "a/b"}), 412, "Container name cannot contain slashes")
    head = demo.request("HEAD", "/vers-errors")
    assert "X-Versions-Location" not in head.headers and "X-History-Location" not in head.headers
    # a versions container that does not exist: the overwrite is refused (412)
    assert demo.request("POST", "/vers-errors", headers={
        "X-Versions-Location": "never-made"}).status_code == 204
    assert put(demo, "vers-errors", "o", b"1").status_code == 201
    assert_error(put(demo, "vers-errors", "o", b"2"), 412,
                 "<html><h1>Precondition Failed</h1><p>A precondition for this request was "
                 "not met.</p></html>")
    assert demo.request("GET", "/vers-errors/o").content == b"1"
    info = requests.get(strata_swift.proxy_url + "/info", timeout=30).json()
    assert info["versioned_writes"] == {"allowed_flags": ["x-versions-location",
                                                          "x-history-location"]}
    assert info["symlink"] == {"symloop_max": 2, "static_links": True}
    assert info["bulk_delete"] == {"max_deletes_per_request": 10000, "max_failed_deletes": 1000}
    assert info["bulk_upload"] == {"max_containers_per_extraction": 10000,
                                   "max_failed_extractions": 1000}


# -- bulk delete -----------------------------------------------------------------------


def bulk_delete(user: SwiftUser, lines: list[str], accept: str | None = None,
                content_type: str = "text/plain") -> requests.Response:
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    body = "\n".join(quote(line) for line in lines).encode()
    return user.request("POST", "", params={"bulk-delete": ""}, data=body, headers=headers)


def test_bulk_delete_formats(demo: SwiftUser) -> None:
    c = make_container(demo, "bulk-del")
    for n in ("a", "b é", "c/d"):
        assert put(demo, c, n, b"x").status_code == 201
    r = bulk_delete(demo, [f"/{c}/a", f"/{c}/missing"], "application/json")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json() == {"Response Status": "200 OK", "Response Body": "",
                        "Number Deleted": 1, "Number Not Found": 1, "Errors": []}
    # a non-empty container cannot go: 409 for it, the object before it still goes
    r = bulk_delete(demo, [f"/{c}", f"{c}/b é"])
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/plain"
    assert r.text == ("Number Deleted: 1\nNumber Not Found: 0\nResponse Body: \n"
                      "Response Status: 400 Bad Request\nErrors:\n"
                      f"/{c}, 409 Conflict\n")
    r = bulk_delete(demo, [f"/{c}/c/d", f"/{c}"], "application/xml")
    assert r.headers["Content-Type"] == "application/xml"
    assert r.text == ("<delete>\n<number_deleted>2</number_deleted>\n"
                      "<number_not_found>0</number_not_found>\n<response_body></response_body>\n"
                      "<response_status>200 OK</response_status>\n<errors>\n</errors>\n"
                      "</delete>\n")
    assert demo.request("HEAD", f"/{c}").status_code == 404


def test_bulk_delete_bad_input(demo: SwiftUser, admin: SwiftUser) -> None:
    c = make_container(demo, "bulk-bad")
    assert put(demo, c, "keep", b"x").status_code == 201
    r = bulk_delete(demo, [f"/{c}/keep"] + [f"/{c}/o{i}" for i in range(10000)],
                    "application/json")
    assert r.status_code == 200
    assert r.json() == {"Response Status": "413 Request Entity Too Large",
                        "Response Body": "Maximum Bulk Deletes: 10000 per request",
                        "Number Deleted": 0, "Number Not Found": 0, "Errors": []}
    r = bulk_delete(demo, [f"/{c}/keep"], "application/json", content_type="application/json")
    assert r.json()["Response Status"] == "406 Not Acceptable"
    r = bulk_delete(demo, [f"/{c}/keep"], "image/png")
    assert r.status_code == 200 and r.headers["Content-Type"] == HTML
    assert r.text.startswith("Number Deleted: 0\nNumber Not Found: 0\nResponse Body: \n"
                             "Response Status: 406 Not Acceptable\n")
    r = bulk_delete(demo, [], "application/json")
    assert r.json() == {"Response Status": "400 Bad Request",
                        "Response Body": "Invalid bulk delete.",
                        "Number Deleted": 0, "Number Not Found": 0, "Errors": []}
    # someone else's objects: 403 for each, nothing deleted
    theirs = make_container(admin, "bulk-theirs")
    assert put(admin, theirs, "t", b"x").status_code == 201
    body = f"/{theirs}/t".encode()
    r = requests.post(demo.url.rsplit("/", 1)[0] + "/" + admin.account, params={
        "bulk-delete": ""}, data=body, headers={"X-Auth-Token": demo.token,
                                               "Accept": "application/json",
                                               "Content-Type": "text/plain"}, timeout=60)
    assert r.json() == {"Response Status": "400 Bad Request", "Response Body": "",
                        "Number Deleted": 0, "Number Not Found": 0,
                        "Errors": [[f"/{theirs}/t", "403 Forbidden"]]}
    assert names(admin, theirs) == ["t"] and names(demo, c) == ["keep"]


def test_swift_cli_delete_uses_bulk_delete(strata_swift: StrataInstance,
                                           demo: SwiftUser) -> None:
    c = make_container(demo, "cli-bulk")
    for i in range(5):
        assert put(demo, c, f"o{i}", b"x").status_code == 201
    out = swift_cli(strata_swift, "delete", c)
    assert sorted(out.split()) == sorted([c] + [f"o{i}" for i in range(5)])
    assert demo.request("HEAD", f"/{c}").status_code == 404


# -- extract archive ---------------------------------------------------------------------


def tar_of(files: dict[str, bytes], mode: str = "w",
           pax: dict[str, dict[str, str]] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(mode=mode, fileobj=buf, format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.pax_headers = (pax or {}).get(name, {})
            tar.addfile(info, io.BytesIO(data))
        d = tarfile.TarInfo("somedir")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
    return buf.getvalue()


def extract(user: SwiftUser, path: str, body: bytes, kind: str = "tar",
            headers: dict[str, str] | None = None) -> requests.Response:
    return user.request("PUT", path, params={"extract-archive": kind}, data=body,
                        headers={"Accept": "application/json", **(headers or {})})


def test_extract_archive(demo: SwiftUser) -> None:
    big = os.urandom(3 * 1024 * 1024 + 5)
    files = {"ea-one/a.txt": b"alpha", "ea-one/dir/b.bin": big, "ea-two/c.txt": b"gamma",
             "top-level.txt": b"ignored"}
    pax = {"ea-one/a.txt": {"SCHILY.xattr.user.mime_type": "text/x-alpha",
                            "SCHILY.xattr.user.meta.colour": "red"}}
    r = extract(demo, "", tar_of(files, pax=pax), headers={"X-Object-Meta-All": "yes"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert json.loads(r.text) == {"Response Status": "201 Created", "Response Body": "",
                                  "Number Files Created": 3, "Errors": []}
    got = demo.request("GET", "/ea-one/a.txt")
    assert got.content == b"alpha" and got.headers["Content-Type"] == "text/x-alpha"
    assert meta(got) == {"x-object-meta-colour": "red", "x-object-meta-all": "yes"}
    assert md5(demo.request("GET", "/ea-one/dir/b.bin").content) == md5(big)
    assert names(demo, "ea-two") == ["c.txt"]
    # into a container and pseudo-folder, compressed
    make_container(demo, "ea-dest")
    for kind, mode in (("tar.gz", "w:gz"), ("tar.bz2", "w:bz2")):
        r = extract(demo, f"/ea-dest/{kind}", tar_of({"x/y.txt": b"why", "z": b"zed"}, mode),
                    kind)
        assert json.loads(r.text)["Number Files Created"] == 2, r.text
    assert names(demo, "ea-dest") == ["tar.bz2/x/y.txt", "tar.bz2/z", "tar.gz/x/y.txt",
                                      "tar.gz/z"]
    r = extract(demo, "/ea-dest", tar_of({"p.txt": b"p"}), headers={"Accept": "text/plain"})
    assert r.text == ("Number Files Created: 1\nResponse Body: \nResponse Status: 201 Created\n"
                      "Errors:\n")


def test_extract_archive_bad_input(demo: SwiftUser, admin: SwiftUser) -> None:
    make_container(demo, "ea-bad")

    def outcome(r: requests.Response) -> tuple[str, str]:
        assert r.status_code == 200
        doc = json.loads(r.text)
        return doc["Response Status"], doc["Response Body"]

    assert outcome(extract(demo, "/ea-bad", b"this is not a tar file" * 50)) == (
        "400 Bad Request", "Invalid Tar File: invalid header")
    assert outcome(extract(demo, "/ea-bad", b"garbage" * 50, "tar.gz")) == (
        "400 Bad Request", "Invalid Tar File: not a gzip file")
    assert outcome(extract(demo, "/ea-bad", b"garbage" * 50, "tar.bz2")) == (
        "400 Bad Request", "Invalid Tar File: invalid compressed data")
    whole = tar_of({"t/a": os.urandom(200000)})
    assert outcome(extract(demo, "/ea-bad", whole[:100000])) == (
        "400 Bad Request", "Invalid Tar File: unexpected end of data")
    assert outcome(extract(demo, "", tar_of({"only-top.txt": b"x"}))) == (
        "400 Bad Request", "Invalid Tar File: No Valid Files")
    assert names(demo, "ea-bad") == []
    r = demo.request("PUT", "/ea-bad", params={"extract-archive": "zip"}, data=b"x")
    assert_error(r, 400, "Unsupported archive format")
    # into someone else's account: each file fails with 403
    r = requests.put(demo.url.rsplit("/", 1)[0] + "/" + admin.account + "/ea-theirs",
                     params={"extract-archive": "tar"}, data=tar_of({"f": b"x"}),
                     headers={"X-Auth-Token": demo.token, "Accept": "application/json"},
                     timeout=60)
    assert json.loads(r.text) == {
        "Response Status": "400 Bad Request", "Response Body": "",
        "Number Files Created": 0,
        "Errors": [[quote(f"/v1/{admin.account}/ea-theirs"), "403 Forbidden"],
                   ["ea-theirs/f", "403 Forbidden"]]}
    assert admin.request("HEAD", "/ea-theirs").status_code == 404


def test_copy_of_large_objects(demo: SwiftUser) -> None:
    c = make_container(demo, "copy-lo")
    segs = [b"a" * 1024 * 1024, b"b" * 1024 * 1024, b"tail"]
    for i, data in enumerate(segs):
        assert put(demo, c, f"seg/{i}", data).status_code == 201
    whole = b"".join(segs)
    # a dynamic large object: a plain copy is the joined bytes, a manifest copy the manifest
    assert put(demo, c, "dlo", b"", {"X-Object-Manifest": f"{c}/seg/"}).status_code == 201
    assert demo.request("COPY", f"/{c}/dlo", headers={"Destination": f"{c}/dlo-bytes"}
                        ).status_code == 201
    got = demo.request("GET", f"/{c}/dlo-bytes")
    assert got.content == whole and "X-Object-Manifest" not in got.headers
    r = demo.request("COPY", f"/{c}/dlo", params={"multipart-manifest": "get"},
                     headers={"Destination": f"{c}/dlo-manifest"})
    assert r.status_code == 201
    got = demo.request("GET", f"/{c}/dlo-manifest", params={"multipart-manifest": "get"})
    assert got.headers["X-Object-Manifest"] == f"{c}/seg/" and got.content == b""
    assert demo.request("GET", f"/{c}/dlo-manifest").content == whole
    # a static large object, likewise
    manifest = [{"path": f"/{c}/seg/{i}", "etag": md5(d), "size_bytes": len(d)}
                for i, d in enumerate(segs)]
    r = demo.request("PUT", f"/{c}/slo", params={"multipart-manifest": "put"},
                     data=json.dumps(manifest))
    assert r.status_code == 201, r.text
    assert demo.request("COPY", f"/{c}/slo", headers={"Destination": f"{c}/slo-bytes"}
                        ).status_code == 201
    got = demo.request("GET", f"/{c}/slo-bytes")
    assert got.content == whole and "X-Static-Large-Object" not in got.headers
    r = demo.request("COPY", f"/{c}/slo", params={"multipart-manifest": "get"},
                     headers={"Destination": f"{c}/slo-manifest"})
    assert r.status_code == 201, r.text
    got = demo.request("GET", f"/{c}/slo-manifest")
    assert got.content == whole and got.headers["X-Static-Large-Object"] == "True"
    # links to large objects read as the large objects
    for lo in ("slo", "dlo"):
        assert demo.request("PUT", f"/{c}/link-{lo}", data=b"", headers={
            "X-Symlink-Target": f"{c}/{lo}"}).status_code == 201
        got = demo.request("GET", f"/{c}/link-{lo}")
        assert got.status_code == 200 and got.content == whole, lo


def test_symlinks_in_listings(demo: SwiftUser) -> None:
    """JSON listings show a link's target (symlink_path), and for a static link the
    target's ETag and size; a static link to an SLO carries its slo_etag."""
    c = make_container(demo, "linklist")
    assert put(demo, c, "target", b"target body").status_code == 201
    assert demo.request("PUT", f"/{c}/dyn", data=b"",
                        headers={"X-Symlink-Target": f"{c}/target"}).status_code == 201
    assert demo.request("PUT", f"/{c}/static", data=b"", headers={
        "X-Symlink-Target": f"{c}/target",
        "X-Symlink-Target-Etag": md5(b"target body")}).status_code == 201
    part = b"p" * 1000
    assert put(demo, c, "seg", part).status_code == 201
    manifest = json.dumps([{"path": f"/{c}/seg", "etag": md5(part)}]).encode()
    assert demo.request("PUT", f"/{c}/slo?multipart-manifest=put", data=manifest
                        ).status_code == 201
    slo_etag = md5(md5(part).encode())
    # as in Swift, a static link names the manifest's own ETag
    manifest_etag = demo.request("HEAD", f"/{c}/slo").headers["X-Manifest-Etag"]
    assert demo.request("PUT", f"/{c}/to-slo", data=b"", headers={
        "X-Symlink-Target": f"{c}/slo", "X-Symlink-Target-Etag": manifest_etag}
                        ).status_code == 201
    assert demo.request("GET", f"/{c}/to-slo").content == part
    rows = {r["name"]: r for r in demo.request(
        "GET", f"/{c}", params={"format": "json"}).json()}
    base = f"/v1/{demo.account}/{c}"
    assert rows["dyn"]["symlink_path"] == f"{base}/target"
    assert rows["dyn"]["hash"] == md5(b"")
    assert "symlink_etag" not in rows["dyn"]
    assert (rows["static"]["symlink_path"], rows["static"]["symlink_etag"],
            rows["static"]["symlink_bytes"]) == (f"{base}/target", md5(b"target body"), 11)
    assert (rows["to-slo"]["symlink_path"], rows["to-slo"]["symlink_bytes"],
            rows["to-slo"]["slo_etag"]) == (f"{base}/slo", 1000, f'"{slo_etag}"')
    assert "symlink_path" not in rows["target"] and "symlink_path" not in rows["slo"]
    xml = demo.request("GET", f"/{c}", params={"format": "xml"}).text
    assert "symlink" not in xml.replace("application/symlink", "")
