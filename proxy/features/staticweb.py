"""Swift's staticweb middleware: a publicly readable container served as a web site.

It applies to ``GET``/``HEAD`` of a container or object by an anonymous
caller, through a temporary URL, or by anyone who sends ``X-Web-Mode: true``.
The container's metadata says what to do:

* ``X-Container-Meta-Web-Index`` (e.g. ``index.html``): ``/c/`` and ``/c/dir/``
  serve ``index.html`` / ``dir/index.html``; ``/c`` and ``/c/dir`` redirect
  (301) to the form with a slash.
* ``X-Container-Meta-Web-Listings: true``: where no index object exists, an
  HTML listing of the (pseudo-)directory (Swift's exact document, styled by
  ``-Web-Listings-CSS`` when set, titled by ``-Web-Listings-Label``); turned
  off, a 404 page that says so.
* ``X-Container-Meta-Web-Error`` (e.g. ``error.html``): a 404 (or 401 for a
  refused request) serves the object ``404error.html`` (``401error.html``)
  with that status.
* ``X-Container-Meta-Web-Directory-Type`` (default ``application/directory``):
  directory marker objects (empty, of that type) count as missing.

Listings need the container's read ACL to allow listings (``.rlistings``),
as in Swift. Subrequests go to the rest of the pipeline as the same caller.
"""

from __future__ import annotations

import html
import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlparse

from multidict import CIMultiDict

from common.http import ApiError
from proxy.auth import authorize_container
from proxy.errors import fail
from proxy.features.tempurl import STATICWEB_PAGE
from proxy.pipeline import Handler, SwiftRequest, SwiftResponse
from proxy.request import SwiftPath, is_true
from proxy.state import Info, ProxyState

HTML = "text/html; charset=UTF-8"
DEFAULT_DIR_TYPE = "application/directory"
MOVED_BODY = "<html><h1>Moved Permanently</h1><p>The resource has moved permanently.</p></html>"
# What a subrequest answered: a response, or the error it raised (rendered at the top).
Outcome = SwiftResponse | ApiError


def human_readable(value: int) -> str:
    """Swift's sizes in a listing: ``1023``, ``1Ki``, ``5Mi`` (rounded at each step)."""
    number = float(value)
    index = -1
    suffixes = "KMGTPEZY"
    while number >= 1024 and index + 1 < len(suffixes):
        index += 1
        number = round(number / 1024)
    if index == -1:
        return f"{int(number)}"
    return f"{round(number)}{suffixes[index]}i"


def status_of(outcome: Outcome) -> int:
    return outcome.status


def is_success(status: int) -> bool:
    return 200 <= status < 300


def is_redirection(status: int) -> bool:
    return 300 <= status < 400


async def attempt(handler: Handler, req: SwiftRequest) -> Outcome:
    try:
        return await handler(req)
    except ApiError as err:
        return err


async def give(outcome: Outcome) -> SwiftResponse:
    """Hand ``outcome`` to the client: an error is raised again, to be rendered at the top."""
    if isinstance(outcome, ApiError):
        raise outcome
    return outcome


async def discard(outcome: Outcome) -> None:
    if isinstance(outcome, SwiftResponse):
        await outcome.close()


def page(status: int, body: str, **headers: str) -> SwiftResponse:
    data = body.encode()
    return SwiftResponse.of(status, {"Content-Type": HTML, "Content-Length": str(len(data)),
                                     **headers}, data)


class WebConfig:
    """A container's ``X-Container-Meta-Web-*`` settings (all empty when it is missing)."""

    def __init__(self, info: Info) -> None:
        def meta(name: str) -> str:
            return info.get("X-Container-Meta-" + name).strip() if info.exists else ""

        self.index = meta("Web-Index")
        self.error = meta("Web-Error")
        self.listings = meta("Web-Listings")
        self.listings_label = meta("Web-Listings-Label")
        self.listings_css = meta("Web-Listings-Css")
        self.dir_type = meta("Web-Directory-Type")

    def css_href(self, prefix: str) -> str:
        """The style sheet's URL from a listing of ``prefix``: as given when absolute,
        else relative to the container."""
        if self.listings_css.startswith(("/", "http://", "https://")):
            return quote(self.listings_css, safe=":/")
        return "../" * prefix.count("/") + quote(self.listings_css)


class StaticWebRequest:
    """One request StaticWeb handles (Swift's ``_StaticWebContext``)."""

    def __init__(self, sw: StaticWeb, req: SwiftRequest, nxt: Handler) -> None:
        self.sw = sw
        self.st = sw.st
        self.req = req
        self.nxt = nxt
        path = req.path
        assert path.container is not None
        self.container: str = path.container
        self.web = WebConfig(Info(404))

    def sub_path(self, obj: str | None) -> SwiftPath:
        p = self.req.path
        return SwiftPath(p.version, p.account, self.container, obj)

    def same_request(self, obj: str) -> SwiftRequest:
        """The client's own request (method, headers, query), for another object."""
        return replace(self.req, path=self.sub_path(obj), headers=CIMultiDict(self.req.headers),
                       env={**self.req.env, "staticweb": True})

    def get_request(self, path: SwiftPath, query: dict[str, str] | None = None) -> SwiftRequest:
        """A fresh GET as the same caller (Swift's ``make_env``)."""
        headers = {k: v for k, v in self.req.headers.items()
                   if k.lower() in ("x-auth-token", "referer", "user-agent", "host")}
        return self.req.sub("GET", path, headers=headers, query=query, source="staticweb")

    async def load_config(self) -> Info:
        info = await self.st.info(self.req.txn, self.req.path.account, self.container)
        self.web = WebConfig(info)
        return info

    @property
    def ends_with_slash(self) -> bool:
        if self.req.path.obj is not None:
            return self.req.path.obj.endswith("/")
        return str(self.req.env.get("raw_path", "")).endswith("/")

    def shown_path(self) -> str:
        p = self.req.path
        return f"/{p.version}/{p.account}/{self.container}/{p.obj or ''}"

    def made_here(self) -> None:
        """This answer is StaticWeb's own (what a container's temporary URL may get)."""
        self.req.env[STATICWEB_PAGE] = True

    def redirect_with_slash(self) -> SwiftResponse:
        p = self.req.path
        where = quote(f"/{p.version}/{p.account}/{self.container}"
                      + (f"/{p.obj}" if p.obj else "") + "/")
        scheme, host = "http", self.req.headers.get("Host", "")
        if self.sw.url_base:
            base = urlparse(self.sw.url_base)
            scheme, host = base.scheme or scheme, base.netloc or host
        location = f"{scheme}://{host}{where}" if host else where
        self.made_here()
        return page(301, MOVED_BODY, Location=location)

    async def error_response(self, outcome: Outcome) -> SwiftResponse:
        """``outcome``, or with ``-Web-Error`` set, the ``<status><error>`` object
        served with ``outcome``'s status when it exists."""
        if not self.web.error:
            return await give(outcome)
        status = status_of(outcome)
        err_page = await attempt(self.nxt, self.get_request(
            self.sub_path(f"{status}{self.web.error}")))
        if isinstance(err_page, SwiftResponse) and is_success(err_page.status):
            await discard(outcome)
            err_page.status = status
            return err_page
        await discard(err_page)
        return await give(outcome)

    async def handle_container(self) -> SwiftResponse:
        req = self.req
        info = await self.load_config()
        if not req.pre_authorized:
            account = None if req.caller.owns(req.path.account) else \
                await self.st.info(req.txn, req.path.account)
            try:
                authorize_container(req, info if info.exists else None, account)
            except ApiError as err:
                return await self.error_response(err)
        web = self.web
        if not web.listings and not web.index:
            if is_true(req.headers.get("X-Web-Mode")):
                raise fail(404)
            return await self.nxt(req)
        if not self.ends_with_slash:
            return self.redirect_with_slash()
        if not web.index:
            return await self.listing("")
        resp = await attempt(self.nxt, self.same_request(web.index))
        status = status_of(resp)
        if status == 404:
            await discard(resp)
            return await self.listing("")
        if not is_success(status) and not is_redirection(status):
            return await self.error_response(resp)
        return await give(resp)

    async def handle_object(self) -> SwiftResponse:
        req = self.req
        obj = req.path.obj or ""
        resp = await attempt(self.nxt, replace(req, env={**req.env, "staticweb": True}))
        status = status_of(resp)
        await self.load_config()
        web = self.web
        if is_success(status) or is_redirection(status):
            assert isinstance(resp, SwiftResponse)
            dir_type = web.dir_type or DEFAULT_DIR_TYPE
            try:
                length = int(resp.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if resp.headers.get("Content-Type") == dir_type and length <= 1:
                status = 404  # a directory marker: as if it were not there
            else:
                return resp
        if status != 404:
            return await give(resp)  # Swift serves error pages for 404s only here
        if not web.listings and not web.index:
            return await give(resp)
        await discard(resp)
        if web.index:
            index_path = obj if obj.endswith("/") else obj + "/"
            found = await attempt(self.nxt, self.same_request(index_path + web.index))
            status = status_of(found)
            if is_success(status) or is_redirection(status):
                if not self.ends_with_slash:
                    await discard(found)
                    return self.redirect_with_slash()
                return await give(found)
            if status != 404:
                return await self.error_response(found)
            await discard(found)
        if not self.ends_with_slash:
            probe = await attempt(self.nxt, self.get_request(
                self.sub_path(None),
                {"limit": "1", "delimiter": "/", "prefix": obj + "/", "format": "json"}))
            listed: list[Any] = []
            if isinstance(probe, SwiftResponse):
                body = await probe.read()
                if is_success(probe.status) and body:
                    listed = json.loads(body)
            else:
                probe = fail(404)
            if not is_success(status_of(probe)) or not listed:
                return await self.error_response(fail(404))
            return self.redirect_with_slash()
        return await self.listing(obj)

    def label(self) -> str:
        shown = self.shown_path()
        if self.web.listings_label:
            return "{}/{}".format(self.web.listings_label, "/".join(shown.split("/")[4:]))
        return shown

    async def listing(self, prefix: str) -> SwiftResponse:
        """The HTML listing of ``prefix`` (Swift's document), or why there is none."""
        web = self.web
        label = html.escape(self.label())
        if not is_true(web.listings):
            body = f"<!DOCTYPE html>\n<html>\n<head>\n<title>Listing of {label}</title>\n"
            if web.listings_css:
                body += ('  <link rel="stylesheet" type="text/css" '
                         f'href="{web.css_href(prefix)}" />\n')
            else:
                body += ('  <style type="text/css">\n'
                         "   h1 {font-size: 1em; font-weight: bold;}\n"
                         "   p {font-size: 2}\n"
                         "  </style>\n")
            body += ("</head>\n<body>"
                     "  <h1>Web Listing Disabled</h1>"
                     "   <p>The owner of this web site has disabled web listing."
                     "   <p>If you are the owner of this web site, you can enable"
                     "   web listing by setting X-Container-Meta-Web-Listings.</p>")
            if web.index:
                body += ("<h1>Index File Not Found</h1>"
                         " <p>The owner of this web site has set "
                         f" <b>X-Container-Meta-Web-Index: {web.index}</b>. "
                         " However, this file is not found.</p>")
            body += " </body>\n</html>\n"
            return await self.error_response(page(404, body))
        query = {"delimiter": "/", "format": "json"}
        if prefix:
            query["prefix"] = prefix
        got = await attempt(self.nxt, self.get_request(self.sub_path(None), query))
        if not is_success(status_of(got)):
            return await self.error_response(got)
        assert isinstance(got, SwiftResponse)
        raw = await got.read()
        items: list[dict[str, Any]] = json.loads(raw) if raw else []
        if prefix and not items:
            return await self.error_response(fail(404))
        tempurl_qs, tempurl_prefix = self.tempurl_query()
        self.made_here()
        return page(200, self.render(label, prefix, items, tempurl_qs, tempurl_prefix))

    def tempurl_query(self) -> tuple[str, str]:
        """For a listing reached through a prefix-based temporary URL: the query its
        links carry, and the prefix (no link leads above it)."""
        grant = self.req.env.get("tempurl")
        if grant is None or grant.prefix is None:
            return "", ""
        expires = self.req.query.get("temp_url_expires") or str(grant.expires)
        parts = [f"temp_url_prefix={quote(grant.prefix)}",
                 f"temp_url_expires={quote(expires)}",
                 f"temp_url_sig={self.req.query.get('temp_url_sig', '')}"]
        if grant.ip_range:
            parts.append(f"temp_url_ip_range={quote(grant.ip_range)}")
        if grant.inline:
            parts.append("inline")
        return "?" + "&amp;".join(parts), grant.prefix

    def render(self, label: str, prefix: str, items: list[dict[str, Any]], tempurl_qs: str,
               tempurl_prefix: str) -> str:
        web = self.web
        out = ["<!DOCTYPE html>\n<html>\n <head>\n", f"  <title>Listing of {label}</title>\n"]
        if web.listings_css:
            out.append(f'  <link rel="stylesheet" type="text/css" href="{web.css_href(prefix)}"'
                       " />\n")
        else:
            out.append('  <style type="text/css">\n'
                       "   h1 {font-size: 1em; font-weight: bold;}\n"
                       "   th {text-align: left; padding: 0px 1em 0px 1em;}\n"
                       "   td {padding: 0px 1em 0px 1em;}\n"
                       "   a {text-decoration: none;}\n"
                       "  </style>\n")
        out.append(" </head>\n <body>\n"
                   f'  <h1 id="title">Listing of {label}</h1>\n'
                   '  <table id="listing">\n'
                   '   <tr id="heading">\n'
                   '    <th class="colname">Name</th>\n'
                   '    <th class="colsize">Size</th>\n'
                   '    <th class="coldate">Date</th>\n'
                   "   </tr>\n")
        if len(prefix) > len(tempurl_prefix):
            out.append(_row('id="parent" class="item"', f"../{tempurl_qs}", "../"))
        for item in items:
            if "subdir" in item:
                subdir = str(item["subdir"])[len(prefix):]
                out.append(_row('class="item subdir"', f"./{link(subdir)}{tempurl_qs}",
                                html.escape(subdir)))
        for item in items:
            if "name" in item:
                name = str(item["name"])[len(prefix):]
                types = " ".join("type-" + html.escape(t.lower())
                                 for t in str(item.get("content_type", "")).split("/"))
                modified = html.escape(str(item.get("last_modified", ""))) \
                    .split(".")[0].replace("T", " ")
                out.append(_row(f'class="item {types}"', f"./{link(name)}{tempurl_qs}",
                                html.escape(name), human_readable(int(item["bytes"])),
                                modified))
        out.append("  </table>\n </body>\n</html>\n")
        return "".join(out)


def link(name: str) -> str:
    """A listing's link to ``name``, relative to the listing (``./name``): quoted, with
    its dots escaped too, so a name such as ``..`` or ``.x`` is never a path step."""
    return quote(name).replace(".", "%2E")


def _row(attrs: str, href: str, text: str, size: str = "&nbsp;", date: str = "&nbsp;") -> str:
    """One row of Swift's HTML listing."""
    return (f"   <tr {attrs}>\n"
            f'    <td class="colname"><a href="{href}">{text}</a></td>\n'
            f'    <td class="colsize">{size}</td>\n'
            f'    <td class="coldate">{date}</td>\n'
            "   </tr>\n")


class StaticWeb:
    name: str | None = "staticweb"

    def __init__(self, st: ProxyState, url_base: str) -> None:
        self.st = st
        self.url_base = url_base

    def info(self) -> dict[str, Any]:
        return {}

    def applies(self, req: SwiftRequest) -> bool:
        if req.method not in ("GET", "HEAD") or req.path.container is None or req.is_sub \
                or req.env.get("staticweb"):
            return False
        return bool(req.caller.anonymous or req.env.get("tempurl") is not None
                    or is_true(req.headers.get("X-Web-Mode")))

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if not self.applies(req):
            return await next_handler(req)
        ctx = StaticWebRequest(self, req, next_handler)
        if req.path.obj is not None:
            return await ctx.handle_object()
        return await ctx.handle_container()


def make(st: ProxyState) -> StaticWeb | None:
    cfg = st.cfg.proxy
    return StaticWeb(st, cfg.staticweb_url_base) if cfg.staticweb else None
