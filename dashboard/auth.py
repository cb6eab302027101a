"""Logging in, switching project and logging out, through Keystone's own API.

A login is a password authentication for an *unscoped* token (kept to
re-scope when the user switches project: Keystone never re-scopes a scoped
token), the projects it may reach (``GET /v3/auth/projects``), then a token
scoped to one of them (the token method), whose body carries the roles and
the catalog the pages use. Logging out revokes both tokens.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from common.errors import Unauthorized
from common.httpclient import RemoteError, RemoteUnauthorized
from dashboard.apis import IdentityApi
from dashboard.session import Endpoint, Project, Session, SessionStore


class LoginFailed(Unauthorized):
    """The user name, password or domain was not accepted (the message says so)."""


def _expiry(body: dict[str, Any]) -> float:
    stamp = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return stamp.replace(tzinfo=UTC).timestamp()


def endpoints_of(catalog: list[dict[str, Any]], region: str) -> dict[str, Endpoint]:
    """The public endpoint of each service type (in ``region`` when it has one there)."""
    out: dict[str, Endpoint] = {}
    for svc in catalog:
        public = [e for e in svc.get("endpoints", []) if e.get("interface") == "public"]
        chosen = next((e for e in public if e.get("region_id") == region), None) or \
            (public[0] if public else None)
        if chosen is not None and svc.get("type") not in out:
            out[svc["type"]] = Endpoint(svc["type"], svc.get("name", ""), chosen["url"],
                                        chosen.get("region_id") or "")
    return out


class Keystone:
    """Identity's token calls for the dashboard (no token of its own: each call carries
    the user's password or token)."""

    def __init__(self, http: aiohttp.ClientSession, identity_url: str, region: str) -> None:
        self._http = http
        self.url = identity_url.rstrip("/") + "/v3"
        self.region = region

    def _api(self, token: str = "") -> IdentityApi:
        return IdentityApi(self.url, token, session=self._http, read_timeout=60)

    async def _issue(self, auth: dict[str, Any], nocatalog: bool = False) -> \
            tuple[str, dict[str, Any]]:
        path = "/auth/tokens" + ("?nocatalog" if nocatalog else "")
        reply = await self._api().fetch("POST", self.url + path, ok=(201,),
                                        data=json.dumps({"auth": auth}),
                                        headers={"Content-Type": "application/json"})
        body: dict[str, Any] = json.loads(reply.body)["token"]
        return reply.headers["X-Subject-Token"], body

    async def login(self, store: SessionStore, user: str, password: str,
                    domain: str) -> Session:
        """A new session for ``user`` of ``domain`` (a name or an id); LoginFailed when
        identity does not accept them or the user has no project to work in."""
        dom = {"id": domain} if domain == "default" else {"name": domain}
        auth = {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": dom, "password": password}}}, "scope": "unscoped"}
        try:
            unscoped, body = await self._issue(auth, nocatalog=True)
        except RemoteUnauthorized:
            raise LoginFailed("Invalid user name, password or domain.") from None
        except RemoteError as exc:
            if exc.answered in (400, 404):
                raise LoginFailed("Invalid user name, password or domain.") from None
            raise
        projects = await self.projects(unscoped)
        if not projects:
            await self.revoke(unscoped)
            raise LoginFailed("You have no role on any project; ask an administrator for "
                              "one.")
        default = body["user"].get("default_project_id")
        first = next((p for p in projects if p.id == default), projects[0])
        session = Session(
            id=store.new_id(), csrf=store.new_id(), user_id=body["user"]["id"],
            user_name=body["user"]["name"],
            domain_id=body["user"]["domain"]["id"],
            domain_name=body["user"]["domain"].get("name", ""), unscoped_token=unscoped,
            token="", expires_at=_expiry(body), project=first, roles=frozenset(),
            endpoints={}, projects=projects, region=self.region)
        try:
            await self.scope(session, first)
        except BaseException:
            await self.revoke(unscoped)
            raise
        return session

    async def projects(self, token: str) -> list[Project]:
        doc = await self._api(token).get("/auth/projects")
        found = [Project(p["id"], p["name"], p.get("domain_id", ""))
                 for p in doc.get("projects", [])]
        return sorted(found, key=lambda p: (p.name.lower(), p.id))

    async def scope(self, session: Session, project: Project) -> None:
        """Give the session a token scoped to ``project`` (revoking its previous one)."""
        auth = {"identity": {"methods": ["token"], "token": {"id": session.unscoped_token}},
                "scope": {"project": {"id": project.id}}}
        token, body = await self._issue(auth)
        old = session.token
        session.token = token
        session.expires_at = _expiry(body)
        session.project = Project(body["project"]["id"], body["project"]["name"],
                                  body["project"].get("domain", {}).get("id", ""))
        session.roles = frozenset(r["name"] for r in body.get("roles", []))
        session.endpoints = endpoints_of(body.get("catalog", []), self.region)
        if old:
            await self.revoke(old)

    async def revoke(self, token: str) -> bool:
        """Revoke a token with itself (a user may revoke their own); False when identity
        did not (it was already invalid, or identity could not be reached)."""
        api = self._api(token)
        try:
            await api.fetch("DELETE", self.url + "/auth/tokens", ok=(204,),
                            headers={"X-Subject-Token": token})
        except RemoteError:
            return False
        return True

    async def logout(self, session: Session) -> None:
        tokens = [t for t in (session.token, session.unscoped_token) if t]
        await asyncio.gather(*(self.revoke(t) for t in tokens))


def seconds_left(session: Session) -> float:
    return session.expires_at - time.time()
