"""StaticWeb, CORS and quotas against a real Strata, as a Swift user sees them.

A web site is published with the real ``swift`` command line and read
anonymously with ``requests`` and with headless Chromium (Debian's
``chromium``, installed by ``strata test``); CORS is checked as a browser's
preflight and actual requests would meet it; quotas through uploads by the
account's owner and settings by a reseller (Strata's ``service`` user).
"""

from __future__ import annotations

import hashlib
import html
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.functional.swift.conftest import (
    StrataInstance,
    SwiftUser,
    check_response,
    strata_instance,
)

STORAGE_DOMAIN = "swift.localhost"


@pytest.fixture(scope="module")
def strata_swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataInstance]:
    """This module's instance serves containers as host names (domain_remap) and lets
    clients open expired objects (allow_open_expired)."""
    with strata_instance(tmp_path_factory, STRATA_PROXY_STORAGE_DOMAIN=STORAGE_DOMAIN,
                         STRATA_PROXY_ALLOW_OPEN_EXPIRED="true") as instance:
        yield instance

SWIFT = str(Path(sys.executable).with_name("swift"))
HTML = "text/html; charset=UTF-8"
MOVED = "<html><h1>Moved Permanently</h1><p>The resource has moved permanently.</p></html>"
NOT_FOUND = "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"
UNAUTHORIZED = ("<html><h1>Unauthorized</h1><p>This server could not verify that you are "
                "authorized to access the document you requested.</p></html>")
FORBIDDEN = "<html><h1>Forbidden</h1><p>Access was denied to this resource.</p></html>"
BAD_REQUEST = ("<html><h1>Bad Request</h1><p>The server could not comply with the request "
               "since it is either malformed or otherwise incorrect.</p></html>")
ALLOW = "DELETE, GET, HEAD, OPTIONS, POST, PUT"

INDEX = b'<html><head><title>Home</title></head><body><h1 id="welcome">Welcome</h1></body></html>'
SUB_INDEX = b'<html><body><p id="sub">In sub</p></body></html>'
ERROR_404 = b'<html><body><h1 id="oops">Nothing here</h1></body></html>'
SITE = {
    "index.html": INDEX,
    "sub/index.html": SUB_INDEX,
    "sub/page.html": b"<html><body>page</body></html>",
    "404error.html": ERROR_404,
    "docs/a.txt": b"a" * 2000,
    "docs/b c.txt": b"bc\n",
    "docs/deep/x.txt": b"x",
}


def anon(user: SwiftUser) -> SwiftUser:
    """The same account, asked by nobody in particular (no token)."""
    out = SwiftUser("", user.url)
    out.session.hooks["response"].append(check_response)
    return out


def swift(strata: StrataInstance, *args: str, cwd: Path | None = None) -> str:
    env = strata.client_env(strata.openrc("demo-openrc"))
    proc = subprocess.run([SWIFT, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


@pytest.fixture(scope="module")
def site(strata_swift: StrataInstance, demo: SwiftUser,
         tmp_path_factory: pytest.TempPathFactory) -> str:
    """The ``site`` container, published with the swift CLI as Swift's docs say."""
    src = tmp_path_factory.mktemp("site")
    for name, data in SITE.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    swift(strata_swift, "post", "-r", ".r:*,.rlistings", "site")
    swift(strata_swift, "post", "-m", "web-index:index.html", "-m", "web-error:error.html",
          "-m", "web-listings: true", "site")
    uploaded = swift(strata_swift, "upload", "site", ".", cwd=src)
    assert set(uploaded.splitlines()) == set(SITE)
    return "site"


def listing_rows(demo: SwiftUser, container: str, prefix: str) -> list[dict[str, Any]]:
    r = demo.request("GET", f"/{container}", params={"format": "json", "prefix": prefix,
                                                      "delimiter": "/"})
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


def link(name: str) -> str:
    """Swift's staticweb link to a listed name: quoted, dots escaped too."""
    return quote(name).replace(".", "%2E")


def expected_listing(label: str, prefix: str, rows: list[dict[str, Any]], *,
                     css: str | None = None) -> str:
    """Swift's listing document, written out independently of the proxy's code."""
    head = "<!DOCTYPE html>\n<html>\n <head>\n" \
           f"  <title>Listing of {html.escape(label)}</title>\n"
    if css is None:
        head += ('  <style type="text/css">\n'
                 "   h1 {font-size: 1em; font-weight: bold;}\n"
                 "   th {text-align: left; padding: 0px 1em 0px 1em;}\n"
                 "   td {padding: 0px 1em 0px 1em;}\n"
                 "   a {text-decoration: none;}\n"
                 "  </style>\n")
    else:
        head += f'  <link rel="stylesheet" type="text/css" href="{css}" />\n'
    body = (" </head>\n <body>\n"
            f'  <h1 id="title">Listing of {html.escape(label)}</h1>\n'
            '  <table id="listing">\n'
            '   <tr id="heading">\n'
            '    <th class="colname">Name</th>\n'
            '    <th class="colsize">Size</th>\n'
            '    <th class="coldate">Date</th>\n'
            "   </tr>\n")
    if prefix:
        body += ('   <tr id="parent" class="item">\n'
                 '    <td class="colname"><a href="../">../</a></td>\n'
                 '    <td class="colsize">&nbsp;</td>\n'
                 '    <td class="coldate">&nbsp;</td>\n'
                 "   </tr>\n")
    for row in rows:
        if "subdir" in row:
            name = row["subdir"][len(prefix):]
            body += ('   <tr class="item subdir">\n'
                     f'    <td class="colname"><a href="./{link(name)}">'
                     f"{name}</a></td>\n"
                     '    <td class="colsize">&nbsp;</td>\n'
                     '    <td class="coldate">&nbsp;</td>\n'
                     "   </tr>\n")
    for row in rows:
        if "name" in row:
            name = row["name"][len(prefix):]
            kind, sub = row["content_type"].split("/")
            size = {2000: "2Ki"}.get(row["bytes"], str(row["bytes"]))
            date = row["last_modified"].split(".")[0].replace("T", " ")
            body += (f'   <tr class="item type-{kind} type-{sub}">\n'
                     f'    <td class="colname"><a href="./{link(name)}">'
                     f"{name}</a></td>\n"
                     f'    <td class="colsize">{size}</td>\n'
                     f'    <td class="coldate">{date}</td>\n'
                     "   </tr>\n")
    return head + body + "  </table>\n </body>\n</html>\n"


# -- StaticWeb ------------------------------------------------------------------------------


def test_container_redirects_to_slash_then_serves_index(
        strata_swift: StrataInstance, demo: SwiftUser, site: str) -> None:
    web = anon(demo)
    r = web.request("GET", "/site", allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"] == f"{demo.url}/site/"
    assert r.headers["Content-Type"] == HTML
    assert r.text == MOVED
    r = web.request("GET", "/site/")
    assert r.status_code == 200
    assert r.content == INDEX
    assert r.headers["Content-Type"] == "text/html"
    assert r.headers["Content-Length"] == str(len(INDEX))
    # HEAD: the same answer without a body
    r = web.request("HEAD", "/site/")
    assert (r.status_code, r.content, r.headers["Content-Length"]) == (200, b"", str(len(INDEX)))
    # requests follows the redirect as a browser would
    r = web.request("GET", "/site")
    assert (r.status_code, r.content) == (200, INDEX)


def test_pseudo_directory_index_and_redirect(demo: SwiftUser, site: str) -> None:
    web = anon(demo)
    r = web.request("GET", "/site/sub", allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"] == f"{demo.url}/site/sub/"
    r = web.request("GET", "/site/sub/")
    assert (r.status_code, r.content) == (200, SUB_INDEX)
    r = web.request("GET", "/site/sub/page.html")
    assert (r.status_code, r.content) == (200, SITE["sub/page.html"])


def test_listing_of_pseudo_directory(demo: SwiftUser, site: str) -> None:
    web = anon(demo)
    r = web.request("GET", "/site/docs", allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"] == f"{demo.url}/site/docs/"
    r = web.request("GET", "/site/docs/")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == HTML
    rows = listing_rows(demo, "site", "docs/")
    assert [row.get("name", row.get("subdir")) for row in rows] == [
        "docs/a.txt", "docs/b c.txt", "docs/deep/"]
    label = f"/v1/{demo.account}/site/docs/"
    assert r.text == expected_listing(label, "docs/", rows)
    # links relative to the listing, as Swift's: ./name, dots escaped
    assert '<a href="./b%20c%2Etxt">b c.txt</a>' in r.text
    r = web.request("HEAD", "/site/docs/")
    assert (r.status_code, r.content) == (200, b"")
    assert r.headers["Content-Length"] == str(len(expected_listing(label, "docs/", rows)))


def test_custom_error_page(demo: SwiftUser, site: str) -> None:
    web = anon(demo)
    for path in ("/site/missing.html", "/site/nowhere/", "/site/nowhere"):
        r = web.request("GET", path, allow_redirects=False)
        assert r.status_code == 404, path
        assert r.content == ERROR_404, path
        assert r.headers["Content-Type"] == "text/html"
    r = web.request("HEAD", "/site/missing.html")
    assert (r.status_code, r.content) == (404, b"")


def test_owner_sees_the_api_unless_web_mode(demo: SwiftUser, site: str) -> None:
    r = demo.request("GET", "/site")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "index.html\n" in r.text
    r = demo.request("GET", "/site/", headers={"X-Web-Mode": "true"})
    assert (r.status_code, r.content) == (200, INDEX)
    r = demo.request("GET", "/site/docs/", headers={"X-Web-Mode": "true"})
    assert r.status_code == 200
    assert r.text.startswith("<!DOCTYPE html>")
    r = demo.request("GET", "/site/missing", headers={"X-Web-Mode": "true"})
    assert (r.status_code, r.content) == (404, ERROR_404)
    # not a web site: X-Web-Mode answers 404 rather than an API listing
    assert demo.request("PUT", "/plain").status_code == 201
    r = demo.request("GET", "/plain/", headers={"X-Web-Mode": "true"})
    assert (r.status_code, r.text) == (404, NOT_FOUND)


def test_root_listing_with_css_and_label(demo: SwiftUser) -> None:
    assert demo.request("PUT", "/files", headers={
        "X-Container-Read": ".r:*,.rlistings", "X-Container-Meta-Web-Listings": "true",
        "X-Container-Meta-Web-Listings-CSS": "style.css"}).status_code == 201
    for name in ("one.txt", "d/two.txt", "style.css"):
        assert demo.request("PUT", f"/files/{name}", data=b"12345").status_code == 201
    web = anon(demo)
    r = web.request("GET", "/files/")
    assert r.status_code == 200, r.text
    rows = listing_rows(demo, "files", "")
    assert r.text == expected_listing(f"/v1/{demo.account}/files/", "", rows, css="style.css")
    r = web.request("GET", "/files/d/")
    rows = listing_rows(demo, "files", "d/")
    assert r.text == expected_listing(f"/v1/{demo.account}/files/d/", "d/", rows,
                                      css="../style.css")
    assert demo.request("POST", "/files", headers={
        "X-Container-Meta-Web-Listings-Label": "example.com",
        "X-Remove-Container-Meta-Web-Listings-CSS": "x"}).status_code == 204
    r = web.request("GET", "/files/d/")
    assert r.text == expected_listing("example.com/d/", "d/", rows)


def test_listings_off_and_no_index(demo: SwiftUser) -> None:
    assert demo.request("PUT", "/noindex", headers={
        "X-Container-Read": ".r:*,.rlistings", "X-Container-Meta-Web-Index": "index.html",
        "X-Container-Meta-Web-Listings": "off"}).status_code == 201
    assert demo.request("PUT", "/noindex/a.txt", data=b"a").status_code == 201
    r = anon(demo).request("GET", "/noindex/")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == HTML
    label = f"/v1/{demo.account}/noindex/"
    assert r.text == (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f"<title>Listing of {label}</title>\n"
        '  <style type="text/css">\n'
        "   h1 {font-size: 1em; font-weight: bold;}\n"
        "   p {font-size: 2}\n"
        "  </style>\n"
        "</head>\n<body>"
        "  <h1>Web Listing Disabled</h1>"
        "   <p>The owner of this web site has disabled web listing."
        "   <p>If you are the owner of this web site, you can enable"
        "   web listing by setting X-Container-Meta-Web-Listings.</p>"
        "<h1>Index File Not Found</h1>"
        " <p>The owner of this web site has set "
        " <b>X-Container-Meta-Web-Index: index.html</b>. "
        " However, this file is not found.</p>"
        " </body>\n</html>\n")
    # objects are served as usual
    assert anon(demo).request("GET", "/noindex/a.txt").content == b"a"


def test_listing_needs_rlistings(demo: SwiftUser) -> None:
    assert demo.request("PUT", "/objonly", headers={
        "X-Container-Read": ".r:*", "X-Container-Meta-Web-Index": "index.html",
        "X-Container-Meta-Web-Error": "error.html"}).status_code == 201
    assert demo.request("PUT", "/objonly/index.html", data=INDEX).status_code == 201
    web = anon(demo)
    r = web.request("GET", "/objonly/")
    assert (r.status_code, r.text) == (401, UNAUTHORIZED)
    assert web.request("GET", "/objonly/index.html").content == INDEX
    # with a 401 page, that page is the answer (with the 401 status)
    assert demo.request("PUT", "/objonly/401error.html", data=b"go away").status_code == 201
    r = web.request("GET", "/objonly/")
    assert (r.status_code, r.content) == (401, b"go away")
    # a private container: nothing at all
    assert demo.request("PUT", "/private", headers={
        "X-Container-Meta-Web-Index": "index.html"}).status_code == 201
    r = web.request("GET", "/private/")
    assert (r.status_code, r.text) == (401, UNAUTHORIZED)


def test_directory_marker_counts_as_directory(demo: SwiftUser, site: str) -> None:
    assert demo.request("PUT", "/site/marked", data=b"", headers={
        "Content-Type": "application/directory"}).status_code == 201
    assert demo.request("PUT", "/site/marked/f.txt", data=b"f").status_code == 201
    web = anon(demo)
    r = web.request("GET", "/site/marked", allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"] == f"{demo.url}/site/marked/"
    r = web.request("GET", "/site/marked/")
    assert r.status_code == 200
    assert '<a href="./f%2Etxt">f.txt</a>' in r.text


def chromium_dom(url: str, profile: Path) -> str:
    exe = shutil.which("chromium")
    assert exe, "chromium is missing: `strata test` installs the Debian package chromium"
    proc = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_chromium_renders_site(demo: SwiftUser, site: str, tmp_path: Path) -> None:
    dom = chromium_dom(f"{demo.url}/site", tmp_path / "profile")
    assert "<title>Home</title>" in dom
    assert '<h1 id="welcome">Welcome</h1>' in dom
    dom = chromium_dom(f"{demo.url}/site/docs/", tmp_path / "profile")
    assert f'<h1 id="title">Listing of /v1/{demo.account}/site/docs/</h1>' in dom
    assert '<td class="colname"><a href="./a%2Etxt">a.txt</a></td>' in dom
    assert '<td class="colsize">2Ki</td>' in dom
    assert '<td class="colname"><a href="./deep/">deep/</a></td>' in dom
    assert '<tr id="parent" class="item">' in dom
    dom = chromium_dom(f"{demo.url}/site/missing.html", tmp_path / "profile")
    assert '<h1 id="oops">Nothing here</h1>' in dom


# -- CORS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cors(demo: SwiftUser) -> str:
    assert demo.request("PUT", "/cors", headers={
        "X-Container-Meta-Access-Control-Allow-Origin": "http://good.example http://also.example",
        "X-Container-Meta-Access-Control-Max-Age": "600",
        "X-Container-Meta-Access-Control-Expose-Headers": "X-Custom-One"}).status_code == 201
    assert demo.request("PUT", "/cors/obj", data=b"data",
                        headers={"X-Object-Meta-Color": "blue"}).status_code == 201
    return "cors"


def test_preflight_allowed(demo: SwiftUser, cors: str) -> None:
    web = anon(demo)
    r = web.request("OPTIONS", "/cors/obj", headers={
        "Origin": "http://good.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "x-auth-token, content-type"})
    assert r.status_code == 200, r.text
    assert r.content == b""
    assert r.headers["Allow"] == ALLOW
    assert r.headers["Access-Control-Allow-Origin"] == "http://good.example"
    assert r.headers["Access-Control-Allow-Methods"] == ALLOW
    assert r.headers["Access-Control-Allow-Headers"] == "x-auth-token, content-type"
    assert r.headers["Access-Control-Max-Age"] == "600"
    assert r.headers["Vary"] == "Origin, Access-Control-Request-Headers"
    # the container itself, and a token changes nothing
    r = demo.request("OPTIONS", "/cors", headers={
        "Origin": "http://also.example", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "http://also.example"
    assert r.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Headers" not in r.headers
    # a stale or forged token does not stop a preflight (browsers send none anyway)
    r = web.request("OPTIONS", "/cors/obj", token="gAAAAAforged", headers={
        "Origin": "http://good.example", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "http://good.example"


def test_preflight_denied(demo: SwiftUser, cors: str) -> None:
    web = anon(demo)
    for headers in ({"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
                    {"Origin": "http://good.example"},
                    {"Origin": "http://good.example", "Access-Control-Request-Method": "FOO"}):
        r = web.request("OPTIONS", "/cors/obj", headers=headers)
        assert r.status_code == 401, headers
        assert r.text == UNAUTHORIZED
        assert r.headers["Allow"] == ALLOW
        assert "Access-Control-Allow-Origin" not in r.headers
    # a container without CORS metadata, and one that does not exist
    for path in ("/site/index.html", "/nothere/obj"):
        r = web.request("OPTIONS", path, headers={
            "Origin": "http://good.example", "Access-Control-Request-Method": "GET"})
        assert r.status_code == 401, path


def test_options_without_origin_and_on_account(demo: SwiftUser, cors: str) -> None:
    web = anon(demo)
    for path in ("/cors/obj", "/cors", ""):
        r = web.request("OPTIONS", path)
        assert r.status_code == 200, path
        assert r.headers["Allow"] == ALLOW
        assert "Access-Control-Allow-Origin" not in r.headers
    r = web.request("OPTIONS", "", headers={"Origin": "http://good.example",
                                            "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers


def test_actual_requests_get_cors_headers(demo: SwiftUser, cors: str) -> None:
    r = demo.request("GET", "/cors/obj", headers={"Origin": "http://good.example"})
    assert (r.status_code, r.content) == (200, b"data")
    assert r.headers["Access-Control-Allow-Origin"] == "http://good.example"
    assert r.headers["Vary"] == "Origin"
    assert r.headers["Access-Control-Expose-Headers"] == ", ".join(sorted([
        "cache-control", "content-language", "content-type", "expires", "last-modified",
        "pragma", "etag", "x-timestamp", "x-trans-id", "x-openstack-request-id",
        "x-object-meta-color", "x-custom-one"]))
    # an error from the object store too
    r = demo.request("GET", "/cors/missing", headers={"Origin": "http://also.example"})
    assert r.status_code == 404
    assert r.headers["Access-Control-Allow-Origin"] == "http://also.example"
    # a write, and the container
    r = demo.request("PUT", "/cors/new", data=b"n", headers={"Origin": "http://good.example"})
    assert r.status_code == 201
    assert r.headers["Access-Control-Allow-Origin"] == "http://good.example"
    r = demo.request("HEAD", "/cors", headers={"Origin": "http://good.example"})
    assert r.status_code == 204
    assert "x-container-meta-access-control-max-age" in \
        r.headers["Access-Control-Expose-Headers"].split(", ")
    # strict_cors_mode: an origin not allowed gets nothing; no Origin, nothing
    for headers in ({"Origin": "http://evil.example"}, {}):
        r = demo.request("GET", "/cors/obj", headers=headers)
        assert r.status_code == 200
        assert "Access-Control-Allow-Origin" not in r.headers
        assert "Access-Control-Expose-Headers" not in r.headers


def test_wildcard_origin(demo: SwiftUser) -> None:
    assert demo.request("PUT", "/anyorigin", headers={
        "X-Container-Read": ".r:*",
        "X-Container-Meta-Access-Control-Allow-Origin": "*"}).status_code == 201
    assert demo.request("PUT", "/anyorigin/o", data=b"o").status_code == 201
    web = anon(demo)
    r = web.request("OPTIONS", "/anyorigin/o", headers={
        "Origin": "http://who.ever", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in r.headers
    assert "Access-Control-Max-Age" not in r.headers
    r = web.request("GET", "/anyorigin/o", headers={"Origin": "http://who.ever"})
    assert (r.status_code, r.content) == (200, b"o")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in r.headers


# -- quotas ----------------------------------------------------------------------------------


def test_container_bytes_quota(demo: SwiftUser) -> None:
    assert demo.request("PUT", "/qbytes").status_code == 201
    assert demo.request("POST", "/qbytes", headers={
        "X-Container-Meta-Quota-Bytes": "10"}).status_code == 204
    assert demo.request("PUT", "/qbytes/a", data=b"123456").status_code == 201
    r = demo.request("PUT", "/qbytes/b", data=b"12345")
    assert r.status_code == 413
    assert r.text == "Upload exceeds quota."
    assert r.headers["Content-Type"] == HTML
    assert demo.request("PUT", "/qbytes/c", data=b"1234").status_code == 201
    r = demo.request("PUT", "/qbytes/d", data=b"1")
    assert (r.status_code, r.text) == (413, "Upload exceeds quota.")
    assert demo.names("qbytes") == ["a", "c"]
    # a caller who may not write learns nothing about the quota
    r = anon(demo).request("PUT", "/qbytes/e", data=b"12345678901")
    assert (r.status_code, r.text) == (401, UNAUTHORIZED)
    # server-side copies count too
    r = demo.request("PUT", "/qbytes/copy", headers={"X-Copy-From": "qbytes/a"})
    assert (r.status_code, r.text) == (413, "Upload exceeds quota.")
    assert demo.names("qbytes") == ["a", "c"]


def test_container_count_quota(demo: SwiftUser) -> None:
    assert demo.request("PUT", "/qcount", headers={
        "X-Container-Meta-Quota-Count": "2"}).status_code == 201
    assert demo.request("PUT", "/qcount/1", data=b"x").status_code == 201
    assert demo.request("PUT", "/qcount/2", data=b"x").status_code == 201
    r = demo.request("PUT", "/qcount/3", data=b"")
    assert (r.status_code, r.text) == (413, "Upload exceeds quota.")
    assert demo.names("qcount") == ["1", "2"]
    # raising the quota lets the upload in
    assert demo.request("POST", "/qcount", headers={
        "X-Container-Meta-Quota-Count": "3"}).status_code == 204
    assert demo.request("PUT", "/qcount/3", data=b"").status_code == 201


def test_container_quota_must_be_integer(demo: SwiftUser) -> None:
    r = demo.request("PUT", "/qbad", headers={"X-Container-Meta-Quota-Bytes": "ten"})
    assert (r.status_code, r.text) == (400, "Invalid bytes quota.")
    assert r.headers["Content-Type"] == HTML
    assert demo.request("HEAD", "/qbad").status_code == 404  # nothing made
    assert demo.request("PUT", "/qbad").status_code == 201
    for header, body in (("X-Container-Meta-Quota-Bytes", "Invalid bytes quota."),
                         ("X-Container-Meta-Quota-Count", "Invalid count quota.")):
        for value in ("-1", "1.5", "1e3"):
            r = demo.request("POST", "/qbad", headers={header: value})
            assert (r.status_code, r.text) == (400, body), (header, value)
    r = demo.request("HEAD", "/qbad")
    assert "X-Container-Meta-Quota-Bytes" not in r.headers
    assert "X-Container-Meta-Quota-Count" not in r.headers


@pytest.fixture(scope="module")
def reseller(strata_swift: StrataInstance) -> SwiftUser:
    """Strata's own ``service`` user: a reseller, as Swift's ResellerAdmin."""
    return strata_swift.v1_login("strata-service", str(strata_swift.secrets["service_password"]),
                                 "service")


def test_only_resellers_set_account_quotas(strata_swift: StrataInstance, demo: SwiftUser,
                                           reseller: SwiftUser) -> None:
    admin = strata_swift.user("admin")
    for user in (demo, admin):
        for header in ("X-Account-Meta-Quota-Bytes", "X-Account-Quota-Bytes",
                       "X-Account-Quota-Count", "X-Remove-Account-Quota-Bytes",
                       "X-Account-Quota-Bytes-Policy-Policy-0"):
            r = user.request("POST", "", headers={header: "100"})
            assert (r.status_code, r.text) == (403, FORBIDDEN), header
        r = user.request("HEAD", "")
        assert "X-Account-Quota-Bytes" not in r.headers
        assert "X-Account-Meta-Quota-Bytes" not in r.headers
    # a reseller's value must be a number
    r = reseller.session.post(demo.url, headers={"X-Auth-Token": reseller.token,
                                                 "X-Account-Quota-Bytes": "lots"}, timeout=30)
    assert (r.status_code, r.text) == (400, BAD_REQUEST)
    assert "X-Account-Quota-Bytes" not in demo.request("HEAD", "").headers


def test_account_quotas(strata_swift: StrataInstance, reseller: SwiftUser) -> None:
    # the admin user's account: nothing else in this module writes to it
    admin = strata_swift.user("admin")

    def as_reseller(method: str, path: str = "", **headers: str) -> requests.Response:
        return reseller.session.request(method, admin.url + path, timeout=30,
                                        headers={"X-Auth-Token": reseller.token, **headers})

    assert admin.request("PUT", "/box").status_code == 201
    assert as_reseller("POST", **{"X-Account-Quota-Bytes": "5"}).status_code == 204
    r = admin.request("HEAD", "")
    assert r.headers["X-Account-Quota-Bytes"] == "5"
    r = admin.request("PUT", "/box/big", data=b"0123456789")
    assert (r.status_code, r.text) == (413, "Upload exceeds quota.")
    assert admin.request("PUT", "/box/small", data=b"012").status_code == 201
    # resellers are not held by quotas
    assert as_reseller("PUT", "/box/by-reseller", data=b"0123456789").status_code == 201

    assert as_reseller("POST", **{"X-Remove-Account-Quota-Bytes": "x",
                                  "X-Account-Quota-Count": "0"}).status_code == 204
    r = admin.request("HEAD", "")
    assert "X-Account-Quota-Bytes" not in r.headers
    assert r.headers["X-Account-Quota-Count"] == "0"
    r = admin.request("PUT", "/box/one-more", data=b"")
    assert (r.status_code, r.text) == (413, "Upload exceeds quota.")

    # the older name still works, for resellers, and is kept as metadata too
    assert as_reseller("POST", **{"X-Remove-Account-Quota-Count": "x",
                                  "X-Account-Meta-Quota-Bytes": "4"}).status_code == 204
    r = admin.request("GET", "", params={"format": "json"})
    assert r.headers["X-Account-Quota-Bytes"] == "4"
    assert r.headers["X-Account-Meta-Quota-Bytes"] == "4"
    assert "X-Account-Quota-Count" not in r.headers
    r = admin.request("PUT", "/box/five", data=b"01234")
    assert (r.status_code, r.text) == (413, "Upload exceeds quota.")
    # per policy
    assert as_reseller("POST", **{"X-Remove-Account-Quota-Bytes": "x",
                                  "X-Remove-Account-Meta-Quota-Bytes": "x",
                                  "X-Account-Quota-Bytes-Policy-Policy-0": "2"}
                       ).status_code == 204
    r = admin.request("HEAD", "")
    assert r.headers["X-Account-Quota-Bytes-Policy-Policy-0"] == "2"
    assert "X-Account-Quota-Bytes" not in r.headers
    r = admin.request("PUT", "/box/three", data=b"012")
    assert (r.status_code, r.text) == (413, "Upload exceeds policy quota.")
    assert as_reseller("POST", **{"X-Remove-Account-Quota-Bytes-Policy-Policy-0": "x"}
                       ).status_code == 204
    assert admin.request("PUT", "/box/three", data=b"012").status_code == 201
    assert sorted(admin.names("box")) == ["by-reseller", "small", "three"]


def test_info_lists_the_features(strata_swift: StrataInstance) -> None:
    info = requests.get(strata_swift.proxy_url + "/info", timeout=30).json()
    assert info["staticweb"] == {}
    assert info["container_quotas"] == {}
    assert info["account_quotas"] == {}
    assert info["swift"]["strict_cors_mode"] is True
    assert "cors" not in info


# -- issue 16: domain_remap, etag_quoter, allow_open_expired ---------------------------------

def host_of(user: SwiftUser, container: str | None = None) -> str:
    """The host name domain_remap reads as ``container`` (or the account) of ``user``."""
    account = user.account.replace("_", "-", 1)
    return ".".join([*([container] if container else []), account, STORAGE_DOMAIN])


def by_host(strata: StrataInstance, host: str, path: str, **kw: Any) -> requests.Response:
    r = requests.get(strata.proxy_url + path, headers={"Host": host, **kw.pop("headers", {})},
                     timeout=30, **kw)
    check_response(r)
    return r


def test_domain_remap_serves_a_site_at_its_host_name(strata_swift: StrataInstance,
                                                      demo: SwiftUser, site: str) -> None:
    host = host_of(demo, site)
    r = by_host(strata_swift, host, "/")
    assert r.status_code == 200 and r.content == INDEX
    r = by_host(strata_swift, host, "/sub/page.html")
    assert r.status_code == 200 and r.content == b"<html><body>page</body></html>"
    # redirects name the path the client asked for, on its host
    r = by_host(strata_swift, host, "/docs", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == f"http://{host}/docs/"
    r = by_host(strata_swift, host, "/docs/")
    assert r.status_code == 200 and "Listing of" in r.text
    # browsers lower-case host names; an account alone is the account
    assert by_host(strata_swift, host.lower(), "/index.html").content == INDEX
    r = by_host(strata_swift, host_of(demo), "/", headers={"X-Auth-Token": demo.token})
    assert r.status_code == 200 and site in r.text.splitlines()
    r = by_host(strata_swift, f"x.{host}", "/")
    assert r.status_code == 400 and r.text == "Bad domain in host header"
    # other hosts are not remapped; /info says it is there
    info = requests.get(strata_swift.proxy_url + "/info", timeout=30).json()
    assert info["domain_remap"] == {"default_reseller_prefix": None}


def test_etag_quoter(strata_swift: StrataInstance, demo: SwiftUser) -> None:
    assert demo.request("PUT", "/quoted").status_code in (201, 202)
    assert demo.request("PUT", "/quoted/o", data=b"body").status_code == 201
    etag = hashlib.md5(b"body").hexdigest()
    assert demo.request("HEAD", "/quoted/o").headers["Etag"] == etag
    assert demo.request("POST", "/quoted", headers={"X-Container-Rfc-Compliant-Etags": "true"}
                        ).status_code == 204
    assert demo.request("HEAD", "/quoted").headers["X-Container-Rfc-Compliant-Etags"] == "True"
    for method in ("HEAD", "GET"):
        assert demo.request(method, "/quoted/o").headers["Etag"] == f'"{etag}"'
    # the account's setting counts where the container says nothing; the container's wins
    assert demo.request("POST", "", headers={"X-Account-Rfc-Compliant-Etags": "yes"}
                        ).status_code == 204
    try:
        assert demo.request("POST", "/quoted", headers={
            "X-Container-Rfc-Compliant-Etags": "false"}).status_code == 204
        assert demo.request("HEAD", "/quoted/o").headers["Etag"] == etag
        assert demo.request("POST", "/quoted", headers={
            "X-Remove-Container-Rfc-Compliant-Etags": "x"}).status_code == 204
        assert "X-Container-Rfc-Compliant-Etags" not in demo.request("HEAD", "/quoted").headers
        assert demo.request("HEAD", "/quoted/o").headers["Etag"] == f'"{etag}"'
    finally:
        assert demo.request("POST", "", headers={"X-Account-Rfc-Compliant-Etags": ""}
                            ).status_code == 204
    assert demo.request("HEAD", "/quoted/o").headers["Etag"] == etag
    info = requests.get(strata_swift.proxy_url + "/info", timeout=30).json()
    assert info["etag_quoter"] == {"enable_by_default": False}


def test_open_expired(strata_swift: StrataInstance, demo: SwiftUser) -> None:
    assert demo.request("PUT", "/expiring").status_code in (201, 202)
    r = demo.request("PUT", "/expiring/o", data=b"soon gone", headers={"X-Delete-After": "1"})
    assert r.status_code == 201
    time.sleep(1.5)
    assert demo.request("GET", "/expiring/o").status_code == 404
    opened = {"X-Open-Expired": "true"}
    r = demo.request("GET", "/expiring/o", headers=opened)
    assert r.status_code == 200 and r.content == b"soon gone"
    assert demo.request("HEAD", "/expiring/o", headers=opened).status_code == 200
    # a POST may give it a new time
    later = str(int(time.time()) + 3600)
    assert demo.request("POST", "/expiring/o", headers={**opened, "X-Delete-At": later}
                        ).status_code == 202
    assert demo.request("GET", "/expiring/o").content == b"soon gone"
    info = requests.get(strata_swift.proxy_url + "/info", timeout=30).json()
    assert info["swift"]["allow_open_expired"] is True
