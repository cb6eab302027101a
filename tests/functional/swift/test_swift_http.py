"""Swift v1 semantics and every bad input of issue #3, over raw HTTP, on a real Strata.

Each bad request must get Swift's status *and* leave nothing stored: every
test looks again (GET, HEAD, listing, or the disk) after the refusal. Every
response of the checked sessions also goes through ``check_response``
(transaction id format, ``X-Openstack-Request-Id``, no ``X-Backend-*``).
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import gzip
import hashlib
import http.client
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote
from xml.etree import ElementTree as ET

import pytest
import requests

from tests.functional.swift.conftest import TXN_RE, StrataInstance, SwiftUser, check_response


@pytest.fixture(scope="module")
def box(demo: SwiftUser) -> str:
    """A container of the demo user for the object tests."""
    assert demo.request("PUT", "/box").status_code in (201, 202)
    return "box"


def put(user: SwiftUser, container: str, name: str, data: bytes = b"data",
        headers: dict[str, str] | None = None) -> requests.Response:
    """PUT with ``name`` percent-encoded here (so ``/`` stays a separator)."""
    return user.request("PUT", f"/{container}/{quote(name)}", data=data, headers=headers)


def get(user: SwiftUser, container: str, name: str,
        headers: dict[str, str] | None = None) -> requests.Response:
    return user.request("GET", f"/{container}/{quote(name)}", headers=headers)


def assert_absent(user: SwiftUser, container: str, name: str) -> None:
    """Not readable and not listed."""
    assert get(user, container, name).status_code == 404
    assert name not in user.names(container, prefix=name[:20])


# -- names ------------------------------------------------------------------

def test_object_name_over_1024_bytes_is_400(demo: SwiftUser, box: str) -> None:
    longest = "é" * 512  # 1024 bytes: allowed
    assert put(demo, box, longest).status_code == 201
    assert get(demo, box, longest).content == b"data"
    too_long = "é" * 512 + "x"
    r = put(demo, box, too_long)
    assert r.status_code == 400 and b"1025" in r.content
    assert too_long not in demo.names(box, prefix="é")
    assert demo.request("DELETE", f"/{box}/{quote(longest)}").status_code == 204


def test_container_name_over_256_bytes_is_400(demo: SwiftUser) -> None:
    assert demo.request("PUT", "/" + "c" * 256).status_code == 201
    assert demo.request("PUT", "/" + "c" * 257).status_code == 400
    assert demo.request("HEAD", "/" + "c" * 257).status_code == 400
    listed = demo.containers()
    assert "c" * 256 in listed and "c" * 257 not in listed
    assert demo.request("DELETE", "/" + "c" * 256).status_code == 204


def test_container_name_with_slash_is_400(demo: SwiftUser) -> None:
    r = demo.request("PUT", "/slash%2Fname")
    assert r.status_code == 400
    listed = demo.containers()
    assert not {"slash/name", "slash", "name"} & set(listed)
    assert demo.request("HEAD", "/slash").status_code == 404


def test_dot_dot_and_nul_never_escape_the_devices(strata_swift: StrataInstance,
                                                  demo: SwiftUser, box: str) -> None:
    home = strata_swift.home
    store = strata_swift.var / "objectstore"

    def files() -> set[Path]:
        return {p for p in home.rglob("*") if p.is_file()}

    before = files()
    names = {"../../../../etc/passwd-x": b"one", "a/../../b": b"two",
             "./x/./../y": b"three"}
    for name, data in names.items():
        r = demo.request("PUT", f"/{box}/{quote(name, safe='')}", data=data)
        assert r.status_code == 201, (name, r.status_code, r.text)
    # a client that sends the dot segments literally (http.client does not normalize)
    conn = http.client.HTTPConnection("127.0.0.1", strata_swift.proxy_port, timeout=30)
    try:
        conn.request("PUT", f"/v1/{demo.account}/{box}/lit/../../../../z", body=b"four",
                     headers={"X-Auth-Token": demo.token})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 201
    finally:
        conn.close()
    names["lit/../../../../z"] = b"four"

    nul = demo.request("PUT", f"/{box}/x%00y", data=b"nul")
    assert nul.status_code == 412
    assert demo.request("GET", f"/{box}/x%00y").status_code == 412
    assert demo.request("PUT", "/nul%00box").status_code == 412

    for name, data in names.items():
        r = demo.request("GET", f"/{box}/{quote(name, safe='')}")
        assert r.status_code == 200 and r.content == data, name
    listed = demo.names(box)
    assert set(names) <= set(listed)
    assert not any("\x00" in n or n in ("x", "y", "xy") for n in listed)

    created = files() - before
    outside = {p for p in created
               if store not in p.parents and p.parent != strata_swift.var / "log"}
    assert not outside, outside
    leaf_names = {"passwd-x", "b", "y", "z", "x\x00y"}
    assert not {p.name for p in created} & leaf_names
    assert not Path("/etc/passwd-x").exists()
    for name in names:
        demo.request("DELETE", f"/{box}/{quote(name, safe='')}")


# -- bodies -----------------------------------------------------------------

@pytest.mark.parametrize("declared", [100000, 1000], ids=["streamed", "small"])
def test_body_shorter_than_content_length_stores_nothing(
        strata_swift: StrataInstance, demo: SwiftUser, box: str, declared: int) -> None:
    name = f"short-{declared}"
    path = f"/v1/{demo.account}/{box}/{name}"
    with socket.create_connection(("127.0.0.1", strata_swift.proxy_port), timeout=10) as s:
        s.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {demo.token}\r\n"
                  f"Content-Length: {declared}\r\n\r\n".encode() + b"0123456789")
        time.sleep(0.2)
    # the proxy logs the request once it has given up on it: a client disconnect (499)
    log = strata_swift.var / "log" / "proxy.log"
    deadline = time.monotonic() + 10
    while f'"PUT {path}" 499' not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)
    assert_absent(demo, box, name)


def test_etag_mismatch_is_422_and_nothing_stored(demo: SwiftUser, box: str) -> None:
    data = os.urandom(100)
    r = put(demo, box, "tagged", data, {"ETag": hashlib.md5(b"other").hexdigest()})
    assert r.status_code == 422
    assert_absent(demo, box, "tagged")
    big = os.urandom(300 * 1024)  # streamed to the nodes
    r = put(demo, box, "tagged-big", big, {"ETag": hashlib.md5(b"other").hexdigest()})
    assert r.status_code == 422
    assert_absent(demo, box, "tagged-big")
    r = put(demo, box, "tagged", data, {"ETag": hashlib.md5(data).hexdigest()})
    assert r.status_code == 201 and r.headers["ETag"] == hashlib.md5(data).hexdigest()


def test_content_encoded_bodies_are_stored_as_sent(demo: SwiftUser, box: str) -> None:
    """Content-Encoding describes the object: no server on the way decompresses it."""
    data = gzip.compress(b"compressed text " * 1000)
    for encoding in ("gzip", "deflate", "br"):
        r = put(demo, box, f"encoded-{encoding}", data, {"Content-Encoding": encoding})
        assert r.status_code == 201, r.text
        assert r.headers["ETag"] == hashlib.md5(data).hexdigest()
        got = demo.request("GET", f"/{box}/encoded-{encoding}", stream=True)
        assert got.headers["Content-Encoding"] == encoding
        assert got.raw.read(decode_content=False) == data


@pytest.mark.parametrize(("headers", "ok"), [
    ({"X-Object-Meta-V": "v" * 256}, True),
    ({"X-Object-Meta-V": "v" * 257}, False),
    ({f"X-Object-Meta-K{i}": "v" for i in range(90)}, True),
    ({f"X-Object-Meta-K{i}": "v" for i in range(91)}, False),
    ({f"X-Object-Meta-M{i:02}": "v" * 253 for i in range(16)}, True),  # 4096 bytes
    ({**{f"X-Object-Meta-M{i:02}": "v" * 253 for i in range(16)}, "X-Object-Meta-Q": "x"},
     False),
    ({"X-Object-Meta-" + "n" * 128: "v"}, True),
    ({"X-Object-Meta-" + "n" * 129: "v"}, False),
], ids=["value-256", "value-257", "count-90", "count-91", "total-4096", "total-4098",
        "name-128", "name-129"])
def test_metadata_limits(strata_swift: StrataInstance, demo: SwiftUser, box: str,
                         headers: dict[str, str], ok: bool,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http.client, "_MAXHEADERS", 1000)  # 90 metadata headers and more
    name = f"meta-{uuid.uuid4().hex[:8]}"
    r = put(demo, box, name, b"m", headers)
    if ok:
        assert r.status_code == 201, r.text
        got = demo.request("HEAD", f"/{box}/{name}")
        assert {k.lower() for k in headers} <= {k.lower() for k in got.headers}
        assert all(got.headers[k] == v for k, v in headers.items())
        demo.request("DELETE", f"/{box}/{name}")
        return
    assert r.status_code == 400, r.text
    assert_absent(demo, box, name)
    # the same rules hold for a POST to an existing object and for containers
    assert put(demo, box, name, b"m").status_code == 201
    assert demo.request("POST", f"/{box}/{name}", headers=headers).status_code == 400
    kept = demo.request("HEAD", f"/{box}/{name}")
    assert not any(k.lower().startswith("x-object-meta-") for k in kept.headers)
    demo.request("DELETE", f"/{box}/{name}")
    cheaders = {k.replace("X-Object-", "X-Container-"): v for k, v in headers.items()}
    assert demo.request("POST", f"/{box}", headers=cheaders).status_code == 400
    chead = demo.request("HEAD", f"/{box}")
    assert not any(k.lower().startswith("x-container-meta-") for k in chead.headers)


# -- ranges and conditional requests ---------------------------------------

BODY = bytes(range(65, 91)) * 4  # 104 bytes of A-Z, no line breaks


@pytest.fixture(scope="module")
def ranged(demo: SwiftUser, box: str) -> str:
    assert put(demo, box, "ranged", BODY, {"Content-Type": "text/x-letters"}
               ).status_code == 201
    return "ranged"


def test_ranges(demo: SwiftUser, box: str, ranged: str) -> None:
    r = get(demo, box, ranged, {"Range": "bytes=200-300"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(BODY)}"

    r = get(demo, box, ranged, {"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == BODY[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(BODY)}"
    r = get(demo, box, ranged, {"Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == BODY[-5:]
    r = get(demo, box, ranged, {"Range": "bytes=100-"})
    assert r.status_code == 206 and r.content == BODY[100:]

    wanted = [(0, 2), (50, 59), (100, 103)]
    spec = ",".join(f"{a}-{b}" for a, b in wanted)
    r = get(demo, box, ranged, {"Range": f"bytes={spec}"})
    assert r.status_code == 206
    ctype = r.headers["Content-Type"]
    assert ctype.startswith("multipart/byteranges")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + r.content)
    assert msg.is_multipart()
    parts = list(msg.iter_parts())
    assert len(parts) == len(wanted)
    for part, (a, b) in zip(parts, wanted, strict=True):
        assert part["Content-Range"] == f"bytes {a}-{b}/{len(BODY)}"
        assert part.get_content_type() == "text/x-letters"
        assert part.get_payload(decode=True) == BODY[a:b + 1]


def test_conditional_get(demo: SwiftUser, box: str, ranged: str) -> None:
    head = demo.request("HEAD", f"/{box}/{ranged}")
    etag, modified = head.headers["ETag"], head.headers["Last-Modified"]
    assert etag == hashlib.md5(BODY).hexdigest()

    assert get(demo, box, ranged, {"If-None-Match": etag}).status_code == 304
    assert get(demo, box, ranged, {"If-None-Match": f'"{etag}"'}).status_code == 304
    assert get(demo, box, ranged, {"If-None-Match": "nope"}).content == BODY
    assert get(demo, box, ranged, {"If-Match": "nope"}).status_code == 412
    assert get(demo, box, ranged, {"If-Match": etag}).content == BODY
    assert get(demo, box, ranged, {"If-Match": "*"}).status_code == 200

    past = formatdate(time.time() - 86400 * 365, usegmt=True)
    future = formatdate(time.time() + 86400 * 365, usegmt=True)
    assert get(demo, box, ranged, {"If-Modified-Since": past}).content == BODY
    assert get(demo, box, ranged, {"If-Modified-Since": modified}).status_code == 304
    # as Swift: not modified since a later date, even one in the future
    assert get(demo, box, ranged, {"If-Modified-Since": future}).status_code == 304
    assert get(demo, box, ranged, {"If-Unmodified-Since": past}).status_code == 412
    assert get(demo, box, ranged, {"If-Unmodified-Since": modified}).status_code == 200
    assert demo.request("HEAD", f"/{box}/{ranged}",
                        headers={"If-None-Match": etag}).status_code == 304


# -- auth ---------------------------------------------------------------------

def test_tokens_and_accounts(demo: SwiftUser, admin: SwiftUser, box: str) -> None:
    assert put(demo, box, "private").status_code == 201
    for path in ("", f"/{box}", f"/{box}/private"):
        for method in ("GET", "HEAD"):
            assert demo.request(method, path, token="").status_code == 401, path
            assert demo.request(method, path, token="garbage-token").status_code == 401
            # someone else's account, both ways round
            assert demo.request(method, path, token=admin.token).status_code == 403, path
        assert admin.request("GET", path.replace(box, "x"), token=demo.token
                             ).status_code == 403
    assert demo.request("PUT", f"/{box}/sneaky", token="", data=b"x").status_code == 401
    assert demo.request("PUT", f"/{box}/sneaky", token=admin.token, data=b"x"
                        ).status_code == 403
    assert demo.request("DELETE", f"/{box}/private", token=admin.token).status_code == 403
    assert demo.request("PUT", "/admins-box", token=admin.token).status_code == 403
    assert demo.request("POST", "", token="", headers={"X-Account-Meta-A": "1"}
                        ).status_code == 401
    assert_absent(demo, box, "sneaky")
    assert get(demo, box, "private").content == b"data"
    assert "admins-box" not in demo.containers()


def test_client_backend_headers_are_ignored(strata_swift: StrataInstance,
                                            demo: SwiftUser, box: str) -> None:
    started = time.time()
    sneaky = {
        "X-Backend-Replication": "True",
        "X-Backend-Container-Host": "127.0.0.1:1",
        "X-Backend-Container-Device": "elsewhere",
        "X-Backend-Container-Partition": "0",
        "X-Backend-Storage-Policy-Index": "7",
        "X-Backend-Timestamp": "1000000000.00000",
        "X-Timestamp": "1000000000.00000",
    }
    r = put(demo, box, "backend-hdrs", b"payload", sneaky)
    assert r.status_code == 201
    head = demo.request("HEAD", f"/{box}/backend-hdrs", headers=sneaky)
    assert head.status_code == 200
    assert float(head.headers["X-Timestamp"]) >= started - 1
    # the container update went to the real container servers, not the client's host
    assert "backend-hdrs" in demo.names(box, prefix="backend")
    assert demo.request("DELETE", f"/{box}/backend-hdrs", headers=sneaky).status_code == 204
    assert get(demo, box, "backend-hdrs").status_code == 404
    assert not (strata_swift.var / "elsewhere").exists()


# -- listings -----------------------------------------------------------------

LISTED = ["a", "b/1", "b/2", "c", "d/x/y", "é e"]


@pytest.fixture(scope="module")
def listed(demo: SwiftUser) -> Iterator[str]:
    assert demo.request("PUT", "/listing").status_code == 201
    for i, name in enumerate(LISTED):
        assert put(demo, "listing", name, b"x" * i).status_code == 201
    yield "listing"


def plain(user: SwiftUser, container: str, **query: str) -> list[str]:
    r = user.request("GET", f"/{container}", params=query)
    assert r.status_code in (200, 204), r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    return r.text.splitlines()


def test_listing_formats(demo: SwiftUser, listed: str) -> None:
    assert plain(demo, listed) == LISTED
    r = demo.request("GET", f"/{listed}", params={"format": "json"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    rows = r.json()
    assert [row["name"] for row in rows] == LISTED
    for i, row in enumerate(rows):
        assert row["bytes"] == i and row["hash"] == hashlib.md5(b"x" * i).hexdigest()
        assert row["content_type"] and row["last_modified"]
    assert demo.request("GET", f"/{listed}", headers={"Accept": "application/json"}
                        ).json() == rows

    r = demo.request("GET", f"/{listed}", params={"format": "xml"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "container" and root.get("name") == listed
    objs = root.findall("object")
    assert [o.findtext("name") for o in objs] == LISTED
    assert [int(o.findtext("bytes") or "-1") for o in objs] == list(range(len(LISTED)))
    assert all(o.findtext("hash") and o.findtext("last_modified") for o in objs)

    r = demo.request("GET", f"/{listed}", params={"format": "xml", "delimiter": "/"})
    root = ET.fromstring(r.content)
    assert [el.get("name") for el in root.findall("subdir")] == ["b/", "d/"]
    assert [el.findtext("name") for el in root.findall("subdir")] == ["b/", "d/"]
    assert [o.findtext("name") for o in root.findall("object")] == ["a", "c", "é e"]


@pytest.mark.parametrize(("query", "expected"), [
    ({"limit": "2"}, ["a", "b/1"]),
    ({"marker": "b/1"}, ["b/2", "c", "d/x/y", "é e"]),
    ({"end_marker": "c"}, ["a", "b/1", "b/2"]),
    ({"marker": "a", "end_marker": "d"}, ["b/1", "b/2", "c"]),
    ({"reverse": "true"}, list(reversed(LISTED))),
    ({"reverse": "true", "marker": "c"}, ["b/2", "b/1", "a"]),
    ({"reverse": "true", "limit": "2"}, ["é e", "d/x/y"]),
    ({"prefix": "b/"}, ["b/1", "b/2"]),
    ({"delimiter": "/"}, ["a", "b/", "c", "d/", "é e"]),
    ({"prefix": "d/", "delimiter": "/"}, ["d/x/"]),
    ({"prefix": "d/x/", "delimiter": "/"}, ["d/x/y"]),
    ({"prefix": "zzz"}, []),
    ({"limit": "10000"}, LISTED),
])
def test_listing_queries(demo: SwiftUser, listed: str, query: dict[str, str],
                         expected: list[str]) -> None:
    assert plain(demo, listed, **query) == expected
    assert demo.names(listed, **query) == expected


def test_listing_limits_and_empty(demo: SwiftUser, listed: str) -> None:
    assert demo.request("GET", f"/{listed}", params={"limit": "10001"}).status_code == 412
    assert demo.request("GET", "", params={"limit": "10001"}).status_code == 412
    assert demo.request("PUT", "/empty").status_code in (201, 202)
    r = demo.request("GET", "/empty")
    assert r.status_code == 204 and r.content == b""
    r = demo.request("GET", "/empty", params={"format": "json"})
    assert r.status_code == 200 and r.json() == []
    r = demo.request("GET", "/empty", params={"format": "xml"})
    assert r.status_code == 200 and not list(ET.fromstring(r.content))
    head = demo.request("HEAD", f"/{listed}")
    assert head.status_code == 204
    assert head.headers["X-Container-Object-Count"] == str(len(LISTED))
    assert head.headers["X-Container-Bytes-Used"] == str(sum(range(len(LISTED))))

    accounts = demo.request("GET", "", params={"format": "json"}).json()
    # (its count and bytes reach the account later, as in Swift: not checked here)
    assert listed in [c["name"] for c in accounts]
    assert plain(demo, "", prefix="emp") == ["empty"]
    assert demo.request("DELETE", "/empty").status_code == 204
    assert demo.request("DELETE", f"/{listed}").status_code == 409  # not empty


# -- the rest -----------------------------------------------------------------

def test_info_and_healthcheck(strata_swift: StrataInstance) -> None:
    r = requests.get(strata_swift.proxy_url + "/info", timeout=30)
    check_response(r)
    assert r.status_code == 200
    info = r.json()["swift"]
    assert info["max_file_size"] >= 5 * 1024**3
    assert info["max_object_name_length"] == 1024
    assert info["max_container_name_length"] == 256
    assert info["max_meta_count"] == 90
    assert info["max_meta_name_length"] == 128 and info["max_meta_value_length"] == 256
    assert info["max_meta_overall_size"] == 4096
    assert info["container_listing_limit"] == 10000
    # account ACLs, advertised as tempauth does (clients look there)
    assert r.json()["tempauth"] == {"account_acls": True}
    assert r.json()["keystoneauth"] == {"account_acls": True}
    assert info["allow_open_expired"] is False
    r = requests.get(strata_swift.proxy_url + "/healthcheck", timeout=30)
    assert r.status_code == 200


def test_transaction_ids(strata_swift: StrataInstance, demo: SwiftUser, box: str) -> None:
    seen = set()
    responses: list[Any] = [
        demo.request("HEAD", ""), demo.request("GET", f"/{box}"),
        demo.request("GET", f"/{box}/missing"), demo.request("GET", "", token=""),
        demo.request("PUT", "/" + "c" * 300),
        requests.get(strata_swift.proxy_url + "/v1/AUTH_nobody", timeout=30),
        requests.get(strata_swift.proxy_url + "/info", timeout=30),
    ]
    for r in responses:
        txn = r.headers["X-Trans-Id"]
        assert TXN_RE.fullmatch(txn) and r.headers["X-Openstack-Request-Id"] == txn
        seen.add(txn)
    assert len(seen) == len(responses)
    # a client cannot choose the id
    r = demo.request("HEAD", "", headers={"X-Trans-Id": "tx" + "0" * 21 + "-" + "0" * 10,
                                          "X-Openstack-Request-Id": "req-mine"})
    assert r.headers["X-Trans-Id"] != "tx" + "0" * 21 + "-" + "0" * 10


def test_object_post_replaces_metadata_and_content_type(demo: SwiftUser, box: str) -> None:
    r = put(demo, box, "posted", b"body", {"X-Object-Meta-Old": "1", "X-Object-Meta-Keep": "k",
                                           "Content-Type": "text/plain"})
    assert r.status_code == 201
    r = demo.request("POST", f"/{box}/posted", headers={
        "X-Object-Meta-New": "2", "X-Object-Meta-Keep": "again", "Content-Type": "text/x-new"})
    assert r.status_code == 202
    for method in ("HEAD", "GET"):
        got = demo.request(method, f"/{box}/posted")
        meta = {k.lower(): v for k, v in got.headers.items()
                if k.lower().startswith("x-object-meta-")}
        assert meta == {"x-object-meta-new": "2", "x-object-meta-keep": "again"}
        assert got.headers["Content-Type"] == "text/x-new"
        assert got.headers["ETag"] == hashlib.md5(b"body").hexdigest()
    assert get(demo, box, "posted").content == b"body"
    row = next(i for i in demo.request("GET", f"/{box}", params={
        "format": "json", "prefix": "posted"}).json() if i["name"] == "posted")
    assert row["bytes"] == 4
    assert demo.request("POST", f"/{box}/never-put", headers={"X-Object-Meta-A": "1"}
                        ).status_code == 404
    assert_absent(demo, box, "never-put")


def test_delete_at_rules(demo: SwiftUser, box: str) -> None:
    """Swift's X-Delete-At/-After checks, its cap on the time, and X-If-Delete-At."""
    now = int(time.time())
    for headers, words in (({"X-Delete-At": str(now - 10)}, "X-Delete-At in past"),
                           ({"X-Delete-After": "-5"}, "X-Delete-After in past"),
                           ({"X-Delete-At": "soon"}, "Non-integer X-Delete-At"),
                           ({"X-Delete-After": "1.5"}, "Non-integer X-Delete-After")):
        r = put(demo, box, "bad-at", b"x", headers)
        assert r.status_code == 400 and r.text == words, (headers, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("text/plain")
    assert_absent(demo, box, "bad-at")
    # beyond the year 2286 is clamped to Swift's ten digits
    assert put(demo, box, "far", b"x", {"X-Delete-At": "99999999999"}).status_code == 201
    assert get(demo, box, "far").headers["X-Delete-At"] == "9999999999"
    assert demo.request("POST", f"/{box}/far", headers={"X-Delete-At": str(now - 1)}
                        ).status_code == 400
    assert get(demo, box, "far").headers["X-Delete-At"] == "9999999999"
    soon = now + 3600
    r = put(demo, box, "later", b"new", {"X-Delete-At": str(soon)})
    assert r.status_code == 201
    got = get(demo, box, "later")
    assert got.content == b"new" and got.headers["X-Delete-At"] == str(soon)
    # X-If-Delete-At: checked by the object servers, as Swift's
    r = demo.request("DELETE", f"/{box}/later", headers={"X-If-Delete-At": "later"})
    assert r.status_code == 400 and r.text == "Bad X-If-Delete-At header value"
    r = demo.request("DELETE", f"/{box}/later", headers={"X-If-Delete-At": str(soon + 1)})
    assert r.status_code == 412 and r.text == "X-If-Delete-At and X-Delete-At do not match"
    assert get(demo, box, "later").content == b"new"
    assert demo.request("DELETE", f"/{box}/later", headers={"X-If-Delete-At": str(soon)}
                        ).status_code == 204
    # deleted: its X-Delete-At is gone with it
    assert demo.request("DELETE", f"/{box}/later", headers={"X-If-Delete-At": str(soon)}
                        ).status_code == 412
    assert demo.request("DELETE", f"/{box}/never", headers={"X-If-Delete-At": str(soon)}
                        ).status_code == 404
    # once its time has come an object is gone, X-Backend-Replication or not
    r = put(demo, box, "expiring", b"old", {"X-Delete-After": "2"})
    assert r.status_code == 201
    assert get(demo, box, "expiring").content == b"old"
    time.sleep(2.5)
    assert get(demo, box, "expiring").status_code == 404
    assert get(demo, box, "expiring", {"X-Backend-Replication": "True"}).status_code == 404
    assert demo.request("HEAD", f"/{box}/expiring").status_code == 404


def _new_member(strata_swift: StrataInstance) -> tuple[str, str, str]:
    """A fresh project and member user, made through Keystone as the admin."""
    rc = strata_swift.openrc("openrc")
    auth = rc["OS_AUTH_URL"].rstrip("/")
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": rc["OS_USERNAME"], "domain": {"name": "Default"},
        "password": rc["OS_PASSWORD"]}}}, "scope": {"project": {
            "name": rc["OS_PROJECT_NAME"], "domain": {"name": "Default"}}}}}
    r = requests.post(auth + "/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    h = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    suffix = uuid.uuid4().hex[:8]
    project = requests.post(auth + "/projects", headers=h, timeout=30, json={
        "project": {"name": f"fresh-{suffix}", "domain_id": "default"}}).json()["project"]
    user = requests.post(auth + "/users", headers=h, timeout=30, json={
        "user": {"name": f"fresh-{suffix}", "password": "fresh-pw",
                 "domain_id": "default"}}).json()["user"]
    roles = requests.get(auth + "/roles", headers=h, params={"name": "member"},
                         timeout=30).json()["roles"]
    r = requests.put(f"{auth}/projects/{project['id']}/users/{user['id']}/roles/"
                     f"{roles[0]['id']}", headers=h, timeout=30)
    assert r.status_code == 204, r.text
    return project["name"], user["name"], "fresh-pw"


def test_account_autocreate_for_the_owner(strata_swift: StrataInstance,
                                          demo: SwiftUser) -> None:
    project, user, password = _new_member(strata_swift)
    fresh = strata_swift.v1_login(user, password, project)
    for method in ("HEAD", "GET"):
        r = fresh.request(method, "")
        assert r.status_code == 204, (method, r.status_code)
        assert r.headers["X-Account-Container-Count"] == "0"
        assert r.headers["X-Account-Object-Count"] == "0"
        assert r.headers["X-Account-Bytes-Used"] == "0"
    r = fresh.request("GET", "", params={"format": "json"})
    assert r.status_code == 200 and r.json() == []
    # not for someone else: the demo user sees a 403, not an empty account
    assert fresh.request("HEAD", "", token=demo.token).status_code == 403
    # and the first container creates the account for real
    assert fresh.request("PUT", "/first").status_code == 201
    assert fresh.containers() == ["first"]
    assert fresh.request("HEAD", "").headers["X-Account-Container-Count"] == "1"


# -- robustness: header sizes, bytes that are not UTF-8, the request line ------------------

def raw_request(strata_swift: StrataInstance, head: bytes, body: bytes = b"",
                reads: int = 1) -> list[tuple[int, dict[str, str], bytes]]:
    """Send ``head`` (request line and headers, without the blank line) and ``body``
    as raw bytes, on one connection ``reads`` times; each answer's (status,
    headers, body)."""
    answers = []
    with socket.create_connection(("127.0.0.1", strata_swift.proxy_port), timeout=30) as s:
        for _ in range(reads):
            s.sendall(head + b"\r\n\r\n" + body)
            resp = http.client.HTTPResponse(s, method=head.split(b" ", 1)[0].decode())
            resp.begin()
            data = resp.read()
            answers.append((resp.status, {k.lower(): v for k, v in resp.getheaders()}, data))
    return answers


def _acl_of_size(size: int) -> str:
    """An account ACL whose stored (normalized) form is exactly ``size`` bytes."""
    from proxy.acl import format_account_acl, parse_account_acl

    grantees = [f"{i:032x}" for i in range((size - 20) // 35)]
    value = json.dumps({"read-only": grantees}, separators=(",", ":"))
    pad = size - len(format_account_acl(parse_account_acl(value)))
    assert pad >= 0
    grantees[0] += "x" * pad
    value = json.dumps({"read-only": grantees}, separators=(",", ":"))
    assert len(format_account_acl(parse_account_acl(value))) == size
    return value


def test_an_acl_at_swifts_header_limit_leaves_the_account_readable(
        demo: SwiftUser, box: str) -> None:
    """8192 bytes is allowed; the proxy then reads the nodes' answers carrying it,
    and never serves an empty account in place of one it could not read."""
    acl = _acl_of_size(8192)
    r = demo.request("POST", "", headers={"X-Account-Access-Control": acl})
    assert r.status_code == 204, r.text
    try:
        head = demo.request("HEAD", "")
        assert head.status_code == 204
        assert head.headers["X-Account-Access-Control"] == acl
        assert int(head.headers["X-Account-Container-Count"]) >= 1
        assert box in demo.containers()
        too_long = _acl_of_size(8193)
        r = demo.request("POST", "", headers={"X-Account-Access-Control": too_long})
        assert r.status_code == 400
        assert r.text == "Header value too long: X-Account-Access-Control"
        assert demo.request("HEAD", "").headers["X-Account-Access-Control"] == acl
    finally:
        # "{}" is no ACL: stored as none, and no header shown
        assert demo.request("POST", "", headers={"X-Account-Access-Control": "{}"}
                            ).status_code == 204
    assert "X-Account-Access-Control" not in demo.request("HEAD", "").headers


def test_object_headers_up_to_swifts_limit_are_read_back(demo: SwiftUser, box: str) -> None:
    disposition = "attachment; filename=" + "d" * (8192 - len("attachment; filename="))
    r = put(demo, box, "long-header", b"x", {"Content-Disposition": disposition})
    assert r.status_code == 201, r.text
    got = get(demo, box, "long-header")
    assert got.status_code == 200 and got.headers["Content-Disposition"] == disposition
    r = put(demo, box, "too-long-header", b"x", {"Content-Disposition": disposition + "d"})
    assert r.status_code == 400 and r.text == "Header value too long: Content-Disposition"
    assert_absent(demo, box, "too-long-header")


@pytest.mark.parametrize("path", ["", "/box", "/box/meta-bytes"],
                         ids=["account", "container", "object"])
def test_metadata_that_is_not_utf8_is_400(demo: SwiftUser, box: str, path: str) -> None:
    kind = ("account", "container", "object")[path.count("/")]
    if kind == "object":
        assert put(demo, box, "meta-bytes", b"m").status_code == 201
    # requests sends bytes values as they are
    bad = cast(dict[str, str], {f"X-{kind.title()}-Meta-Bad": b"caf\xe9 \xff"})
    for method in ("POST", "PUT") if kind != "account" else ("POST",):
        r = demo.request(method, path, headers=bad, data=b"m" if kind == "object" else None)
        assert r.status_code == 400, (method, r.status_code, r.text)
        assert r.text == "Metadata must be valid UTF-8"
    head = demo.request("HEAD", path)
    assert head.ok and f"X-{kind.title()}-Meta-Bad" not in head.headers
    if kind == "object":
        r = put(demo, box, "ctype-bytes", b"m",
                cast(dict[str, str], {"Content-Type": b"text/\xff"}))
        assert r.status_code == 400 and r.text == "Invalid Content-Type"
        assert_absent(demo, box, "ctype-bytes")


@pytest.mark.parametrize("kind", ["account", "container"])
def test_metadata_totals_count_what_is_stored(demo: SwiftUser, box: str, kind: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Swift's limits hold for the stored metadata and the new together."""
    monkeypatch.setattr(http.client, "_MAXHEADERS", 1000)
    path = "" if kind == "account" else f"/{box}"
    prefix = f"X-{kind.title()}-Meta-"
    first = {f"{prefix}T{i:02}": "v" * 250 for i in range(16)}  # 16 * 253 = 4048 bytes
    assert demo.request("POST", path, headers=first).status_code == 204
    try:
        r = demo.request("POST", path, headers={f"{prefix}More": "v" * 100})
        assert r.status_code == 400 and r.text == "Total metadata too large; max 4096"
        # replacing a value by a shorter one, or removing one, is within the limit
        assert demo.request("POST", path, headers={f"{prefix}T00": "v" * 100,
                                                   f"{prefix}More": "v" * 100}
                            ).status_code == 204
        many = {f"{prefix}N{i:02}": "n" for i in range(90 - 17 + 1)}
        r = demo.request("POST", path, headers=many)
        assert r.status_code == 400 and r.text == "Too many metadata items; max 90"
        head = demo.request("HEAD", path)
        assert not any(k.startswith(f"{prefix}N") for k in head.headers)
        assert head.headers[f"{prefix}More"] == "v" * 100
    finally:
        gone = {f"X-Remove-{kind.title()}-Meta-" + k[len(prefix):]: "x"
                for k in [*first, f"{prefix}More"]}
        assert demo.request("POST", path, headers=gone).status_code == 204


def test_raw_utf8_in_the_request_path(strata_swift: StrataInstance, demo: SwiftUser,
                                      box: str) -> None:
    """Swift takes the path's bytes as they come; only invalid UTF-8 or a NUL is 412."""
    auth = f"Host: x\r\nX-Auth-Token: {demo.token}\r\nContent-Length: 3".encode()
    name = "raw-é-名"
    path = f"/v1/{demo.account}/{box}/{name}".encode()
    # a plain request first: the connection then switches parsers mid-way
    answers = raw_request(strata_swift, b"GET /v1/" + demo.account.encode() + b"/" +
                          box.encode() + b"?limit=1 HTTP/1.1\r\n" + auth.replace(
                              b"Content-Length: 3", b"Accept: text/plain"))
    assert answers[0][0] == 200
    with socket.create_connection(("127.0.0.1", strata_swift.proxy_port), timeout=30) as s:
        for head, body in ((b"HEAD /v1/" + demo.account.encode() + b" HTTP/1.1\r\n" +
                            auth.replace(b"Content-Length: 3", b"X-A: b"), b""),
                           (b"PUT " + path + b" HTTP/1.1\r\n" + auth, b"abc"),
                           (b"GET " + path + b" HTTP/1.1\r\n" + auth.replace(
                               b"Content-Length: 3", b"X-A: b"), b"")):
            s.sendall(head + b"\r\n\r\n" + body)
            resp = http.client.HTTPResponse(s, method=head.split(b" ", 1)[0].decode())
            resp.begin()
            data = resp.read()
            assert resp.status in (200, 201, 204), (head, resp.status, data)
        assert data == b"abc"
    assert get(demo, box, name).content == b"abc"
    assert name in demo.names(box, prefix="raw-")
    for bad in (b"/bad-\xff-byte", b"/bad-%FF-escape", b"/bad-%00-nul"):
        [(status, _headers, body)] = raw_request(
            strata_swift, b"PUT /v1/" + demo.account.encode() + b"/" + box.encode() + bad +
            b" HTTP/1.1\r\n" + auth, b"abc")
        assert status == 412 and body == b"Invalid UTF8 or contains NULL", (bad, status, body)
    assert not [n for n in demo.names(box, prefix="bad-")]


def test_put_without_a_length_is_411(strata_swift: StrataInstance, demo: SwiftUser,
                                     box: str) -> None:
    head = (f"PUT /v1/{demo.account}/{box}/no-length HTTP/1.1\r\nHost: x\r\n"
            f"X-Auth-Token: {demo.token}").encode()
    [(status, headers, body)] = raw_request(strata_swift, head)
    assert status == 411 and body == b"Missing Content-Length header."
    assert headers["content-type"].startswith("text/plain")
    assert_absent(demo, box, "no-length")


def test_bad_urls_and_error_bodies(strata_swift: StrataInstance, demo: SwiftUser,
                                   box: str) -> None:
    for method, path in (("PUT", "/v1"), ("GET", "/v1/"), ("HEAD", "/v1.0")):
        r = demo.session.request(method, strata_swift.proxy_url + path,
                                 headers={"X-Auth-Token": demo.token}, timeout=30)
        assert r.status_code == 412, (method, path, r.status_code)
        if method != "HEAD":
            assert r.text == "Bad URL"
    # Swift's own words, not wrapped in an HTML page
    r = demo.request("GET", f"/{box}", params={"limit": "10001"})
    assert r.status_code == 412 and r.text == "Maximum limit is 10000"
    r = demo.request("GET", "/x%FFy")
    assert r.status_code == 412 and r.text == "Invalid UTF8 or contains NULL"
    # a 401 says where to authenticate, as swob's does
    r = demo.request("GET", f"/{box}", token="")
    assert r.status_code == 401
    assert r.headers["Www-Authenticate"] == f'Swift realm="{demo.account}"'


def test_empty_answers_and_connections(demo: SwiftUser, box: str) -> None:
    """Swift's 204s say Content-Length: 0; a keep-alive request is answered so."""
    assert demo.request("PUT", "/empty-204").status_code in (201, 202)
    assert put(demo, box, "to-delete").status_code == 201
    for method, path in (("HEAD", ""), ("HEAD", f"/{box}"), ("GET", "/empty-204"),
                         ("POST", f"/{box}"), ("DELETE", f"/{box}/to-delete"),
                         ("DELETE", "/empty-204")):
        r = demo.request(method, path, headers={"Connection": "keep-alive"})
        assert r.status_code == 204, (method, path, r.status_code)
        assert r.headers.get("Content-Length") == "0", (method, path, r.headers)
        assert r.headers.get("Connection") == "keep-alive", (method, path, r.headers)


# -- behaviours users hit every day ---------------------------------------------------------

def listed_row(user: SwiftUser, container: str, name: str) -> dict[str, Any]:
    rows = user.request("GET", f"/{container}", params={"format": "json", "prefix": name}
                        ).json()
    return next(r for r in rows if r.get("name") == name)


def test_post_updates_the_listing(demo: SwiftUser, box: str) -> None:
    """As Swift's object server, a POST sends its container update: the listing shows
    the new Content-Type, and the time of the change as last_modified."""
    assert put(demo, box, "retyped", b"12345", {"Content-Type": "text/plain"}
               ).status_code == 201
    before = listed_row(demo, box, "retyped")
    assert before["content_type"] == "text/plain"
    time.sleep(1.1)
    assert demo.request("POST", f"/{box}/retyped", headers={"Content-Type": "image/png"}
                        ).status_code == 202
    after = listed_row(demo, box, "retyped")
    assert after["content_type"] == "image/png"
    assert (after["hash"], after["bytes"]) == (hashlib.md5(b"12345").hexdigest(), 5)
    assert after["last_modified"] > before["last_modified"]
    # a POST without Content-Type keeps the type
    assert demo.request("POST", f"/{box}/retyped", headers={"X-Object-Meta-A": "1"}
                        ).status_code == 202
    assert listed_row(demo, box, "retyped")["content_type"] == "image/png"


def test_container_last_modified(demo: SwiftUser) -> None:
    started = time.time()
    assert demo.request("PUT", "/dated").status_code == 201
    for method in ("HEAD", "GET"):
        r = demo.request(method, "/dated")
        stamp = email.utils.parsedate_to_datetime(r.headers["Last-Modified"]).timestamp()
        assert started - 2 <= stamp <= time.time() + 2, (method, r.headers)


def test_if_none_match_star_on_put(demo: SwiftUser, box: str) -> None:
    r = put(demo, box, "only-once", b"first", {"If-None-Match": "*"})
    assert r.status_code == 201
    r = put(demo, box, "only-once", b"second", {"If-None-Match": "*"})
    assert r.status_code == 412
    assert get(demo, box, "only-once").content == b"first"
    etag = hashlib.md5(b"first").hexdigest()
    r = put(demo, box, "only-once", b"third", {"If-None-Match": etag})
    assert r.status_code == 400 and r.text == "If-None-Match only supports *"
    assert get(demo, box, "only-once").content == b"first"
    # once deleted it may be made again
    assert demo.request("DELETE", f"/{box}/only-once").status_code == 204
    assert put(demo, box, "only-once", b"again", {"If-None-Match": "*"}).status_code == 201


def test_listing_details(demo: SwiftUser, box: str) -> None:
    assert demo.request("PUT", "/details").status_code == 201
    names = ["a::b::c", "a::b::d", "a::x", "a:y", "dir/", "dir/one", "dir/sub/two", "top"]
    for name in names:
        assert put(demo, "details", name).status_code == 201
    # a delimiter of more than one character, as Swift's
    assert demo.names("details", delimiter="::") == ["a::", "a:y", "dir/", "dir/one",
                                                     "dir/sub/two", "top"]
    assert demo.names("details", prefix="a::", delimiter="::") == ["a::b::", "a::x"]
    assert demo.names("details", delimiter="::", reverse="true")[:2] == ["top",
                                                                          "dir/sub/two"]
    # path=: what is directly in a pseudo-directory, without its marker or deeper names
    assert demo.names("details", path="dir") == ["dir/one"]
    assert demo.names("details", path="") == ["a::b::c", "a::b::d", "a::x", "a:y", "dir/",
                                              "top"]
    # a limit that is not a number is ignored; a NUL in a marker is answered
    assert plain(demo, "details", limit="many") == names
    assert demo.names("details", marker="dir\x00") == ["dir/", "dir/one", "dir/sub/two",
                                                       "top"]
    assert demo.request("GET", "", params={"marker": "\x00", "format": "json"}
                        ).status_code == 200


def test_account_listing_fields(demo: SwiftUser, box: str) -> None:
    r = demo.request("GET", "", params={"format": "json", "prefix": box})
    row = next(c for c in r.json() if c["name"] == box)
    assert set(row) == {"name", "count", "bytes", "last_modified", "storage_policy"}
    root = ET.fromstring(demo.request("GET", "", params={"format": "xml"}).content)
    assert root.tag == "account" and root.get("name") == demo.account
    el = next(c for c in root.findall("container") if c.findtext("name") == box)
    assert [child.tag for child in el] == ["name", "count", "bytes", "last_modified",
                                           "storage_policy"]
    root = ET.fromstring(demo.request("GET", "", params={"format": "xml",
                                                         "delimiter": "-"}).content)
    assert all(list(sub) == [] and sub.get("name") for sub in root.findall("subdir"))


def test_ranges_with_spaces_and_both_preconditions(demo: SwiftUser, box: str,
                                                    ranged: str) -> None:
    r = get(demo, box, ranged, {"Range": "bytes = 3 - 7"})
    assert r.status_code == 206 and r.content == BODY[3:8]
    head = demo.request("HEAD", f"/{box}/{ranged}")
    etag = head.headers["ETag"]
    past = formatdate(time.time() - 86400 * 365, usegmt=True)
    # If-Unmodified-Since counts even when If-Match matches, as Swift's swob
    r = get(demo, box, ranged, {"If-Match": etag, "If-Unmodified-Since": past})
    assert r.status_code == 412
    assert get(demo, box, ranged, {"If-Match": etag, "If-Unmodified-Since":
                                   head.headers["Last-Modified"]}).status_code == 200


# -- storage policies ---------------------------------------------------------------------

def wait_for(check: Any, timeout: float = 30.0) -> Any:
    """``check()`` once it is true (polled; background updates take a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_storage_policies(strata_swift: StrataInstance, demo: SwiftUser) -> None:
    info = requests.get(strata_swift.proxy_url + "/info", timeout=30).json()
    assert info["swift"]["policies"] == [
        {"name": "Policy-0", "aliases": "Policy-0", "default": True},
        {"name": "silver", "aliases": "silver"}]
    # the default policy when none is asked; another when one is
    assert demo.request("PUT", "/plain-policy").status_code == 201
    assert demo.request("PUT", "/silvered", headers={"X-Storage-Policy": "Silver"}
                        ).status_code == 201
    for method in ("HEAD", "GET"):
        assert demo.request(method, "/plain-policy").headers["X-Storage-Policy"] == "Policy-0"
        assert demo.request(method, "/silvered").headers["X-Storage-Policy"] == "silver"
    # an unknown policy is 400 and makes nothing; a live container keeps its policy
    r = demo.request("PUT", "/bronzed", headers={"X-Storage-Policy": "bronze"})
    assert r.status_code == 400 and r.text == "Invalid X-Storage-Policy 'bronze'"
    assert demo.request("HEAD", "/bronzed").status_code == 404
    assert demo.request("PUT", "/silvered", headers={"X-Storage-Policy": "Policy-0"}
                        ).status_code == 409
    assert demo.request("PUT", "/silvered").status_code == 202
    assert demo.request("HEAD", "/silvered").headers["X-Storage-Policy"] == "silver"
    # a silver object lives on two replicas, in the policy's own directories
    data = os.urandom(5000)
    assert put(demo, "silvered", "o", data).status_code == 201
    assert get(demo, "silvered", "o").content == data
    assert demo.names("silvered") == ["o"]
    store = strata_swift.var / "objectstore"
    digest = hashlib.md5(data).hexdigest()

    def copies(datadir: str) -> int:
        found = 0
        for f in store.glob(f"node*/*/{datadir}/*/*/*/*.data"):
            found += hashlib.md5(f.read_bytes()).hexdigest() == digest
        return found

    assert (copies("objects-1"), copies("objects")) == (2, 0)
    # the account counts by policy, and lists each container's
    def by_policy() -> dict[str, str]:
        head = demo.request("HEAD", "")
        return {k.lower(): v for k, v in head.headers.items()
                if k.lower().startswith("x-account-storage-policy-")}

    wanted = {"x-account-storage-policy-silver-container-count": "1",
              "x-account-storage-policy-silver-object-count": "1",
              "x-account-storage-policy-silver-bytes-used": "5000"}
    got = wait_for(lambda: wanted.items() <= by_policy().items() and by_policy())
    assert got, by_policy()
    listed = demo.request("GET", "", params={"format": "json"})
    assert wanted.items() <= {k.lower(): v for k, v in listed.headers.items()}.items()
    assert int(got["x-account-storage-policy-policy-0-container-count"]) >= 1
    rows = {c["name"]: c for c in demo.request("GET", "", params={"format": "json"}).json()}
    assert rows["silvered"]["storage_policy"] == "silver"
    assert rows["plain-policy"]["storage_policy"] == "Policy-0"
    # deleted, the name may be taken again with another policy
    assert demo.request("DELETE", "/silvered/o").status_code == 204
    assert demo.request("DELETE", "/silvered").status_code == 204
    assert demo.request("PUT", "/silvered", headers={"X-Storage-Policy": "Policy-0"}
                        ).status_code == 201
    assert demo.request("HEAD", "/silvered").headers["X-Storage-Policy"] == "Policy-0"
