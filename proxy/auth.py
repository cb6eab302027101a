"""Who is calling the proxy, and may they do this?

Tokens are Keystone tokens, checked through identity's TokenValidator (cached,
so a request costs no identity round trip). A project's account is
``AUTH_<project_id>``; on it, ``member`` and ``admin`` may do everything a
Swift operator may, ``reader`` may read, and any other role nothing. The
``service`` role (Strata's own services) may use every account. Container
ACLs, for everyone else, are applied by :func:`authorize` through the
container's read/write ACL strings.

``GET /auth/v1.0`` (``X-Auth-User: <project>:<user>``, ``X-Auth-Key``) trades
a password for a token and the storage URL, so ``swift -A -U -K`` works.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from identity.client import IdentityUnavailable, TokenInfo, TokenValidator, password_auth_body
from proxy.errors import fail

RESELLER_PREFIX = "AUTH_"
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
        raise fail(401)
    return Caller(info, token)


def deny(caller: Caller) -> Exception:
    """401 for someone who did not say who they are, 403 for someone who did."""
    return fail(401) if caller.anonymous else fail(403)


def _acl_grants(acl: str, caller: Caller) -> bool:
    """Does a container ACL (``X-Container-Read/-Write``) name this caller?"""
    info = caller.info
    for item in (a.strip() for a in acl.split(",")):
        if not item or item.startswith("."):
            continue  # referrer and listing grants: applied by the ACL feature
        if info is None:
            continue
        if ":" in item:
            project, user = item.split(":", 1)
            if project in ("*", info.project_id, info.project_name) and \
                    user in ("*", info.user_id, info.user_name):
                return True
        elif item in (info.project_id, info.project_name):
            return True
    return False


def authorize(caller: Caller, method: str, account: str, *, container_read: str = "",
              container_write: str = "", kind: str = "object") -> None:
    """Raise 401/403 unless ``caller`` may make this request."""
    if method in READ_METHODS:
        if caller.reads(account):
            return
        if kind == "object" and _acl_grants(container_read, caller):
            return
    else:
        if caller.owns(account):
            return
        if kind == "object" and _acl_grants(container_write, caller):
            return
    raise deny(caller)


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
