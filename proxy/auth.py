"""Who is calling the proxy, and may they do this?

Tokens are Keystone tokens, checked through identity's TokenValidator (cached,
so a request costs no identity round trip). A project's account is
``AUTH_<project_id>``; on it, ``member`` and ``admin`` may do everything a
Swift operator may, ``reader`` may read, and any other role nothing. The
``service`` role (Strata's own services) may use every account. Everyone
else is judged by the account's ACL (``X-Account-Access-Control``) and the
container's read/write ACLs (``proxy/acl.py`` holds Swift's rules); the
``authorize_*`` functions apply them, and mark account owners in
``request.env["owner"]`` so that owner-only headers are kept for them.

``GET /auth/v1.0`` (``X-Auth-User: <project>:<user>``, ``X-Auth-Key``) trades
a password for a token and the storage URL, so ``swift -A -U -K`` works.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from identity.client import IdentityUnavailable, TokenInfo, TokenValidator, password_auth_body
from proxy import acl
from proxy.client import RESELLER_PREFIX as RESELLER_PREFIX  # re-exported for proxy.s3
from proxy.errors import fail

OPERATOR_ROLES = frozenset({"admin", "member"})
READER_ROLES = frozenset({"reader"})
RESELLER_ROLES = frozenset({"service", "ResellerAdmin"})
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Caller:
    """The authenticated user (or None for an anonymous request)."""

    info: TokenInfo | None
    token: str = ""

    @property
    def anonymous(self) -> bool:
        return self.info is None

    @property
    def reseller(self) -> bool:
        return self.info is not None and bool(self.info.roles & RESELLER_ROLES)

    def owns(self, account: str) -> bool:
        """Operator (member/admin) of the account's project, or a reseller."""
        if self.info is None:
            return False
        if self.reseller:
            return True
        return (account == RESELLER_PREFIX + (self.info.project_id or "")
                and bool(self.info.roles & OPERATOR_ROLES))

    def reads(self, account: str) -> bool:
        if self.owns(account):
            return True
        return (self.info is not None
                and account == RESELLER_PREFIX + (self.info.project_id or "")
                and bool(self.info.roles & READER_ROLES))


async def identify(request: web.Request, validator: TokenValidator) -> Caller:
    token = request.headers.get("X-Auth-Token") or request.headers.get("X-Storage-Token")
    if not token:
        return Caller(None)
    try:
        info = await validator.validate(token)
    except IdentityUnavailable as exc:
        raise fail(503, f"Identity is unavailable: {exc}") from None
    if info is None:
        if request.method == "OPTIONS":
            return Caller(None)  # a CORS preflight is answered whoever asks, as Swift does
        raise fail(401)
    return Caller(info, token)


def deny(caller: Caller) -> Exception:
    """401 for someone who did not say who they are, 403 for someone who did."""
    return fail(401) if caller.anonymous else fail(403)


# Headers only an account's owners (and account-ACL admins) may set or see,
# as Swift's ``swift_owner_headers``.
OWNER_HEADERS = frozenset({
    "x-container-read", "x-container-write", "x-container-sync-key", "x-container-sync-to",
    "x-account-meta-temp-url-key", "x-account-meta-temp-url-key-2",
    "x-container-meta-temp-url-key", "x-container-meta-temp-url-key-2",
    "x-account-access-control",
})


class _Info(Protocol):
    """What a cached account/container HEAD offers (``proxy.state.Info``)."""

    def get(self, name: str, default: str = "") -> str: ...


class _Request(Protocol):
    method: str
    headers: Any
    env: dict[str, Any]

    @property
    def caller(self) -> Caller: ...

    @property
    def path(self) -> Any: ...


def identity(caller: Caller) -> acl.Identity | None:
    info = caller.info
    if info is None:
        return None
    return acl.Identity(project_id=info.project_id, project_name=info.project_name,
                        user_id=info.user_id, user_name=info.user_name,
                        roles=tuple(info.roles), user_domain_id=info.user_domain_id,
                        project_domain_id=info.project_domain_id)


def _project_of(account: str) -> str | None:
    return account[len(RESELLER_PREFIX):] if account.startswith(RESELLER_PREFIX) else None


def account_level(caller: Caller, account_info: _Info | None) -> acl.AccessLevel | None:
    """The caller's level in the account's ``X-Account-Access-Control``, if any."""
    if account_info is None or caller.anonymous:
        return None
    raw = account_info.get("X-Account-Access-Control")
    if not raw:
        return None
    try:
        parsed = acl.parse_account_acl(raw)
    except acl.AclError:
        return None  # only valid ACLs are ever stored; be safe anyway
    return acl.account_access_level(parsed, identity(caller))


def _grant_by_account(request: _Request, account: str, account_info: _Info | None,
                      *, container: bool) -> bool:
    """Owner, reader, or an account ACL grant; marks owners (``env["owner"]``)."""
    caller = request.caller
    if caller.owns(account):
        request.env["owner"] = True
        return True
    level = account_level(caller, account_info)
    if level == "admin":
        request.env["owner"] = True
        return True
    if request.method in READ_METHODS and caller.reads(account):
        return True
    return acl.account_level_allows(level, request.method, container=container)


def authorize_account(request: _Request, account_info: _Info | None) -> None:
    """Account GET/HEAD/POST: owners, readers and account-ACL grantees."""
    account = request.path.account
    caller = request.caller
    if caller.owns(account) or account_level(caller, account_info) == "admin":
        request.env["owner"] = True
        return
    if request.method in READ_METHODS and (
            caller.reads(account) or account_level(caller, account_info) is not None):
        return
    raise deny(caller)


def authorize_container(request: _Request, container_info: _Info | None,
                        account_info: _Info | None) -> None:
    """A request on a container itself (listing, HEAD, PUT/POST/DELETE)."""
    account = request.path.account
    if _grant_by_account(request, account, account_info, container=True):
        return
    if request.method in READ_METHODS and container_info is not None:
        try:
            if acl.container_read_allows(
                    container_info.get("X-Container-Read"), identity(request.caller),
                    request.headers.get("Referer"), True,
                    account_project_id=_project_of(account)):
                return
        except acl.AclError:
            pass
    raise deny(request.caller)


def authorize_object(request: _Request, container_info: _Info,
                     account_info: _Info | None) -> None:
    """An object request: the account's grants, then the container's ACLs."""
    account = request.path.account
    if _grant_by_account(request, account, account_info, container=True):
        return
    who = identity(request.caller)
    try:
        if request.method in READ_METHODS:
            if acl.container_read_allows(
                    container_info.get("X-Container-Read"), who,
                    request.headers.get("Referer"), False,
                    account_project_id=_project_of(account)):
                return
        elif request.method in ("PUT", "POST", "DELETE", "COPY") and \
                acl.container_write_allows(container_info.get("X-Container-Write"), who,
                                           account_project_id=_project_of(account)):
            return
    except acl.AclError:
        pass
    raise deny(request.caller)


def prepare_acl_headers(headers: dict[str, str], owner: bool) -> dict[str, str]:
    """Check and normalise the ACL headers of a write; drop owner-only ones
    unless ``owner``. Malformed ACLs are a 400 with Swift's message."""
    out: dict[str, str] = {}
    for k, v in headers.items():
        lk = k.lower()
        if lk in OWNER_HEADERS and not owner:
            continue
        try:
            if lk in ("x-container-read", "x-container-write"):
                v = acl.clean_container_acl(v, write=lk == "x-container-write")
            elif lk == "x-account-access-control" and v.strip():
                parsed = acl.parse_account_acl(v)
                # an empty ACL ({}) is no ACL: stored as none, as Swift shows it
                v = "" if parsed.is_empty else acl.format_account_acl(parsed)
        except acl.AclError as exc:
            if lk == "x-account-access-control":
                raise fail(400, acl.account_acl_error_body(exc, v)) from None
            raise fail(400, exc.message) from None
        out[k] = v
    return out


def owner_headers_filter(headers: dict[str, str], owner: bool) -> dict[str, str]:
    """What a response may show: owner-only headers are hidden from others."""
    if owner:
        return headers
    return {k: v for k, v in headers.items() if k.lower() not in OWNER_HEADERS}


async def v1_auth(request: web.Request, session: aiohttp.ClientSession, identity_url: str,
                  storage_url: str) -> web.Response:
    """``GET /auth/v1.0``: swift's v1.0 authentication on top of Keystone."""
    user = request.headers.get("X-Auth-User") or request.headers.get("X-Storage-User") or ""
    key = request.headers.get("X-Auth-Key") or request.headers.get("X-Storage-Pass") or ""
    if ":" not in user or not key:
        raise fail(401)
    project, name = user.split(":", 1)
    body = password_auth_body(name, key, project)
    try:
        async with session.post(identity_url.rstrip("/") + "/v3/auth/tokens?nocatalog",
                                json=body) as r:
            if r.status in (400, 401, 403, 404):
                raise fail(401)
            if r.status != 201:
                raise fail(503, "Identity is unavailable.")
            token = r.headers["X-Subject-Token"]
            data: dict[str, Any] = (await r.json())["token"]
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise fail(503, f"Identity is unavailable: {exc}") from None
    info = TokenInfo.from_body(data)
    url = f"{storage_url.rstrip('/')}/v1/{RESELLER_PREFIX}{info.project_id}"
    return web.Response(status=200, text="", headers={
        "X-Auth-Token": token, "X-Storage-Token": token, "X-Storage-Url": url,
        "X-Auth-Token-Expires": str(max(0, int(info.expires_at - time.time()))),
    })
