"""Account and container requests: quorum writes, listings in json/xml/plain."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from objectstore.protocol import (
    ACCOUNT_DEVICE,
    ACCOUNT_HOST,
    ACCOUNT_PARTITION,
    ACCOUNTS,
    POLICY_DEFAULT,
    POLICY_INDEX,
)
from proxy.auth import (
    Caller,
    authorize_account,
    authorize_container,
    deny,
    owner_headers_filter,
    prepare_acl_headers,
)
from proxy.backend import node_addr, node_path, open_read
from proxy.errors import fail
from proxy.listings import finish_entries, listing_format, listing_query, render_listing
from proxy.pipeline import SwiftRequest, SwiftResponse
from proxy.quorum import decide, read_failure
from proxy.request import SwiftPath, check_metadata
from proxy.state import Info, ProxyState, answers_only, new_timestamp, policy_of


def _meta_headers(request: SwiftRequest, kind: str) -> dict[str, str]:
    """Headers a client may set on an account/container, passed to the nodes."""
    out: dict[str, str] = {}
    allowed = {"container": ("x-container-meta-", "x-container-sysmeta-", "x-container-read",
                             "x-container-write", "x-versions-location", "x-history-location"),
               "account": ("x-account-meta-", "x-account-sysmeta-",
                           "x-account-access-control")}[kind]
    for k, v in request.headers.items():
        lk = k.lower()
        if lk.startswith(allowed):
            out[k] = v
        elif lk.startswith(f"x-remove-{kind}-meta-"):
            out[f"X-{kind.title()}-Meta-" + k[len(f"x-remove-{kind}-meta-"):]] = ""
    return out


def _client_headers(node_headers: Any, kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    shown = CONTAINER_HEADERS if kind == "container" else ACCOUNT_HEADERS
    for k, v in node_headers.items():
        lk = k.lower()
        if lk.startswith(f"x-{kind}-") or lk in shown:
            out[k] = v
    return out


# Headers of a node's account or container answer shown to clients, besides
# X-<Kind>-* (its stats and metadata).
ACCOUNT_HEADERS = frozenset({"x-timestamp", "x-put-timestamp"})
CONTAINER_HEADERS = frozenset({*ACCOUNT_HEADERS, "x-versions-location", "x-history-location",
                               "last-modified"})


async def _read(st: ProxyState, request: SwiftRequest, kind: str, path: SwiftPath,
                query: dict[str, str] | None) -> tuple[int, dict[str, str], bytes]:
    pl = st.place(kind, path.account, path.container)
    method = "GET" if query is not None else "HEAD"
    qs = "?" + urlencode(query, quote_via=quote) if query else ""
    async with open_read(st.backend, pl, method,
                         lambda n: node_path(f"{kind}s", n, pl.part, path.account,
                                             path.container) + qs,
                         {"X-Trans-Id": request.txn},
                         lambda s: s // 100 == 2) as (r, seen):
        if r is None:
            return read_failure(seen, len(pl.primaries)), {}, b""
        return r.status, dict(r.headers), await r.read()


async def get_or_head(st: ProxyState, request: SwiftRequest, path: SwiftPath,
                      kind: str, caller: Caller) -> SwiftResponse:
    query = listing_query(request.query, kind, st.cfg.proxy.container_listing_limit) \
        if request.method == "GET" else None
    status, node_headers, body = await _read(st, request, kind, path, query)
    if status == 404 and kind == "account" and st.cfg.proxy.account_autocreate \
            and caller.owns(path.account):
        status, body = 204, b"[]"
        node_headers = {"X-Account-Container-Count": "0", "X-Account-Object-Count": "0",
                        "X-Account-Bytes-Used": "0", "X-Timestamp": new_timestamp(),
                        "X-Put-Timestamp": new_timestamp()}
    if status // 100 != 2:
        raise fail(status)
    headers = owner_headers_filter(_client_headers(node_headers, kind),
                                   bool(request.env.get("owner")))
    if kind == "container":  # its storage policy by name, as Swift shows it
        headers["X-Storage-Policy"] = st.policy_name(policy_of(Info(status, node_headers)))
    fmt = listing_format(request.query, request.headers.get("Accept", ""))
    if request.method == "HEAD":
        ctype = {"json": "application/json", "xml": "application/xml",
                 "plain": "text/plain"}[fmt]
        return SwiftResponse.of(204, headers={**headers,
                                                 "Content-Type": f"{ctype}; charset=utf-8"})
    body = body or b"[]"
    items = finish_entries(body, path.version, path.account) if kind == "container" else None
    if fmt == "json" and items is None:  # the nodes' JSON as it is
        return SwiftResponse.of(200, body=body, headers={
            **headers, "Content-Type": "application/json; charset=utf-8"})
    if items is None:
        items = json.loads(body)
    name = path.container if kind == "container" else path.account
    out, ctype = render_listing(items, fmt, kind, name or "")
    if fmt == "plain" and not items:
        return SwiftResponse.of(204, headers={**headers, "Content-Type": ctype})
    return SwiftResponse.of(200, body=out, headers={**headers, "Content-Type": ctype})


async def ensure_account(st: ProxyState, request: SwiftRequest, caller: Caller,
                         account: str) -> None:
    info = await st.info(request.txn, account, recheck_missing=True)
    if info.exists:
        return
    if info.status != 404:
        raise fail(503)
    if not (st.cfg.proxy.account_autocreate and (caller.owns(account) or
                                                 request.env.get("owner"))):
        raise fail(404)
    pl = st.place("account", account)
    ts = new_timestamp()
    results = await st.backend.fan_out(
        pl, "PUT", lambda n: node_path(ACCOUNTS, n, pl.part, account),
        lambda i, n: {"X-Timestamp": ts, "X-Trans-Id": request.txn})
    status, _ = decide(answers_only(results), len(pl.primaries))
    if status // 100 != 2:
        raise fail(503)
    st.forget(account)


async def write(st: ProxyState, request: SwiftRequest, path: SwiftPath, kind: str,
                caller: Caller) -> SwiftResponse:
    ts = new_timestamp()
    headers = {"X-Timestamp": ts, "X-Trans-Id": request.txn,
               **prepare_acl_headers(_meta_headers(request, kind),
                                     bool(request.env.get("owner")))}
    if kind == "container" and request.method == "PUT":
        headers.update(policy_headers(st, request))
    pl = st.place(kind, path.account, path.container)
    if kind == "container":
        apl = st.place("account", path.account)

        def headers_for(i: int, node: Any) -> dict[str, str]:
            a = apl.primaries[i % len(apl.primaries)]
            return {**headers, ACCOUNT_HOST: node_addr(a), ACCOUNT_DEVICE: a["device"],
                    ACCOUNT_PARTITION: str(apl.part)}
    else:
        def headers_for(i: int, node: Any) -> dict[str, str]:
            return headers

    results = await st.backend.fan_out(
        pl, request.method, lambda n: node_path(f"{kind}s", n, pl.part, path.account,
                                                path.container), headers_for)
    status, agreeing = decide(answers_only(results), len(pl.primaries))
    st.forget(path.account, path.container)
    if status // 100 == 2:
        if request.method == "POST":
            status = 204
        return SwiftResponse.of(status, headers={"Content-Type": "text/html; charset=UTF-8"})
    raise fail(status, agreeing[0].reason.strip() if status == 400 and agreeing else "")


def policy_headers(st: ProxyState, request: SwiftRequest) -> dict[str, str]:
    """A container PUT's storage policy for the container servers: the one it names
    (``X-Storage-Policy``; 400 for no such policy), and the default for a container
    that does not exist yet."""
    out = {POLICY_DEFAULT: str(st.cfg.objectstore.default_policy().index)}
    name = request.headers.get("X-Storage-Policy")
    if name:
        out[POLICY_INDEX] = str(st.policy_named(name))
    return out


async def handle(st: ProxyState, request: SwiftRequest) -> SwiftResponse:
    path = request.path
    caller = request.caller
    kind = path.kind
    method = request.method
    account = None if caller.owns(path.account) else await st.info(request.txn, path.account)
    if kind == "account":
        if method in ("GET", "HEAD"):
            authorize_account(request, account)
            return await get_or_head(st, request, path, kind, caller)
        if method == "POST":
            authorize_account(request, account)
            if not request.env.get("owner"):
                raise deny(caller)
            check_metadata(request.headers, "account", st.cfg.proxy)
            await ensure_account(st, request, caller, path.account)
            return await write(st, request, path, kind, caller)
        if method in ("PUT", "DELETE"):
            if caller.reseller:
                request.env["owner"] = True
                return await write(st, request, path, kind, caller)
            raise deny(caller) if caller.anonymous else fail(405)
        raise fail(405)
    if request.pre_authorized:
        pass
    elif account is None:
        authorize_container(request, None, None)  # the owner: no ACL to read
    else:
        container = await st.info(request.txn, path.account, path.container) \
            if method in ("GET", "HEAD") else None
        authorize_container(request, container, account)
    if method in ("GET", "HEAD"):
        return await get_or_head(st, request, path, kind, caller)
    if method in ("PUT", "POST"):
        check_metadata(request.headers, "container", st.cfg.proxy)
        if method == "PUT":
            policy_headers(st, request)  # a policy that does not exist: 400 first
            await ensure_account(st, request, caller, path.account)
        return await write(st, request, path, kind, caller)
    if method == "DELETE":
        return await write(st, request, path, kind, caller)
    raise fail(405)
