"""Identity's client: how other Strata services check tokens and act as the service user.

:class:`TokenValidator` validates a user's token with ``GET /v3/auth/tokens``
(authenticating itself as the internal service user), and keeps the answer,
good or bad, for ``cache_seconds`` (never past the token's expiry). So a
request costs no identity round trip while its token is cached, and a
revocation is seen by other services within ``cache_seconds``. Concurrent
checks of the same token share one request.

Every service builds its validator with :func:`service_validator`: the one
place that knows the internal service account (``SERVICE_USER`` in
``SERVICE_PROJECT``, made by identity's bootstrap, its password among the
generated secrets). The same validator is that account for service-to-service
calls: :meth:`TokenValidator.service_token` is its token (renewed before it
expires) and :meth:`TokenValidator.service_project_id` its project, whose
object store account holds what services keep there (images, backups).

:func:`check_signature` is how the S3 and EC2 fronts learn who signed a request
with an EC2 credential: they compute the string to sign, identity (which holds
the secrets) checks the signature and answers the user, project and roles, and
for the EC2 front a token of them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from common.config import StrataConfig
from common.errors import Unauthorized, Unavailable

log = logging.getLogger(__name__)

SERVICE_USER = "strata-service"  # the internal user every service acts as
SERVICE_PROJECT = "service"  # its project (the user holds the ``service`` role there)


class IdentityUnavailable(Unavailable):
    """Identity could not be asked (down, timing out, or refusing our service user).

    Clients are told only that identity is unavailable (503); ``str()`` keeps the
    detail for the log."""

    def __init__(self, detail: str) -> None:
        super().__init__("The identity service is unavailable; try again later.")
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class TokenInfo:
    user_id: str
    user_name: str
    user_domain_id: str
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    roles: frozenset[str]
    expires_at: float

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> TokenInfo:
        project = body.get("project") or {}
        expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        return cls(
            user_id=body["user"]["id"],
            user_name=body["user"]["name"],
            user_domain_id=body["user"]["domain"]["id"],
            project_id=project.get("id"),
            project_name=project.get("name"),
            project_domain_id=(project.get("domain") or {}).get("id"),
            roles=frozenset(r["name"] for r in body.get("roles", [])),
            expires_at=expires.replace(tzinfo=UTC).timestamp(),
        )


def password_auth_body(user: str, password: str, project: str,
                       domain: str = "default") -> dict[str, Any]:
    return {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": domain}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": domain}}},
    }}


class TokenValidator:
    def __init__(
        self, session: aiohttp.ClientSession, identity_url: str, *, user: str,
        password: str, project: str, cache_seconds: float = 30, max_entries: int = 65536,
        timeout: float = 10,
    ) -> None:
        self._session = session
        self._url = identity_url.rstrip("/") + "/v3/auth/tokens"
        self._auth = password_auth_body(user, password, project)
        self._cache_seconds = cache_seconds
        self._max = max_entries
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._cache: OrderedDict[str, tuple[float, TokenInfo | None]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[TokenInfo | None]] = {}
        self._service_token: tuple[str, float] | None = None
        self._service_lock = asyncio.Lock()
        self._service_project: str | None = None

    async def validate(self, token: str) -> TokenInfo | None:
        """The token's identity and roles, or None when it is not valid."""
        if not token or len(token) > 8192:
            return None
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            self._cache.move_to_end(key)
            return hit[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[TokenInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            info = await self._ask(token)
            ttl = self._cache_seconds
            if info is not None:
                ttl = min(ttl, info.expires_at - time.time())
            self._remember(key, time.monotonic() + ttl, info)
            fut.set_result(info)
            return info
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[key]

    def _remember(self, key: str, until: float, info: TokenInfo | None) -> None:
        self._cache[key] = (until, info)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    async def service_token(self) -> str:
        """A token of the internal service user (cached until near its expiry)."""
        token = self._fresh_service_token()
        if token is not None:
            return token  # the common case, asked on every S3 request: no lock
        return await self._service()

    def _fresh_service_token(self) -> str | None:
        """The cached service token while it has more than a minute to live."""
        token = self._service_token
        return token[0] if token and token[1] > time.time() + 60 else None

    async def service_project_id(self) -> str:
        """The id of the service user's project (asked once, then remembered)."""
        if self._service_project is None:
            info = await self.validate(await self.service_token())
            if info is None or info.project_id is None:
                raise IdentityUnavailable(
                    "identity does not validate the service user's own token")
            self._service_project = info.project_id
        return self._service_project

    async def _service(self, force: bool = False) -> str:
        async with self._service_lock:
            token = None if force else self._fresh_service_token()
            if token is not None:
                return token
            try:
                async with self._session.post(self._url + "?nocatalog", json=self._auth,
                                              timeout=self._timeout) as r:
                    if r.status != 201:
                        raise IdentityUnavailable(
                            f"identity refused the service user ({r.status})")
                    body = await r.json()
                    token = r.headers["X-Subject-Token"]
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise IdentityUnavailable(f"identity is unreachable: {exc}") from exc
            info = TokenInfo.from_body(body["token"])
            self._service_token = (token, info.expires_at)
            return token

    async def projects_of_email(self, email: str) -> list[str]:
        """The projects of the users whose ``email`` attribute is ``email`` (compared
        without case): each one's default project, else the projects it has a role on
        (as the service user; the S3 front resolves ACL grants by e-mail with it)."""
        base = self._url[:-len("/auth/tokens")]
        found: list[str] = []
        for user in (await self._get_as_service(base + "/users")).get("users", []):
            if str(user.get("email") or "").lower() != email.lower():
                continue
            if user.get("default_project_id"):
                found.append(str(user["default_project_id"]))
                continue
            body = await self._get_as_service(f"{base}/users/{user['id']}/projects")
            found += [str(p["id"]) for p in body.get("projects", [])]
        return sorted(set(found))

    async def _get_as_service(self, url: str) -> dict[str, Any]:
        for attempt in (0, 1):
            headers = {"X-Auth-Token": await self._service(force=attempt == 1)}
            try:
                async with self._session.get(url, headers=headers,
                                             timeout=self._timeout) as r:
                    if r.status == 200:
                        return dict(await r.json())
                    if r.status == 401 and attempt == 0:
                        continue
                    raise IdentityUnavailable(f"identity answered {r.status} for {url}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise IdentityUnavailable(f"identity is unreachable: {exc}") from exc
        raise IdentityUnavailable("identity keeps refusing the service token")

    async def _ask(self, token: str) -> TokenInfo | None:
        for attempt in (0, 1):
            service = await self._service(force=attempt == 1)
            headers = {"X-Auth-Token": service, "X-Subject-Token": token}
            try:
                async with self._session.get(self._url + "?nocatalog", headers=headers,
                                             timeout=self._timeout) as r:
                    if r.status == 200:
                        return TokenInfo.from_body((await r.json())["token"])
                    if r.status == 404:
                        return None
                    if r.status == 401 and attempt == 0:
                        continue  # our own token went stale: get a new one, once
                    raise IdentityUnavailable(f"identity answered {r.status}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise IdentityUnavailable(f"identity is unreachable: {exc}") from exc
        raise IdentityUnavailable("identity keeps refusing the service token")


def service_validator(cfg: StrataConfig, session: aiohttp.ClientSession) -> TokenValidator:
    """The token validator of a Strata service, acting as the internal service user:
    how every service that checks tokens (and calls others as itself) is set up."""
    return TokenValidator(session, cfg.identity_url(), user=SERVICE_USER,
                          password=cfg.secrets["service_password"], project=SERVICE_PROJECT,
                          cache_seconds=cfg.identity.token_cache_seconds)


class SignatureRefused(Unauthorized):
    """Identity did not accept a request's signature: ``unknown_key`` when no EC2
    credential has the access key, else the signature does not match (or the
    credential's user can no longer act)."""

    def __init__(self, message: str, *, unknown_key: bool) -> None:
        super().__init__(message)
        self.unknown_key = unknown_key


@dataclass(frozen=True)
class SignatureCheck:
    """Who signed a request: the token body identity answered, the token it issued
    (with ``issue_token``) and the SigV4 signing key of the request's scope (when a
    service asked)."""

    info: TokenInfo
    token: str | None = None
    signing_key: bytes | None = None


async def check_signature(
    session: aiohttp.ClientSession, identity_url: str, *, access: str, signature: str,
    string_to_sign: str, service_token: str | None = None, method: str | None = None,
    issue_token: bool = False, limit: float = 10, scope: str | None = None,
) -> SignatureCheck:
    """Ask identity whether ``signature`` is the EC2 credential ``access``'s over
    ``string_to_sign`` (SigV4, or SigV2 with ``method``: ``HmacSHA1`` or
    ``HmacSHA256``).

    With ``service_token`` a SigV4 answer carries the scope's signing key; with
    ``issue_token`` identity issues a token for the credential's user and project
    (``/v3/ec2tokens``); with ``scope`` (``<date>/<region>/s3/aws4_request``) the
    string to sign is signed with that scope's SigV4 key as it is (an S3 POST
    policy). ``limit`` bounds the whole call, in seconds. Raises
    :class:`SignatureRefused` when identity says no, :class:`IdentityUnavailable`
    when it cannot be asked."""
    creds: dict[str, str] = {
        "access": access, "signature": signature,
        "token": base64.b64encode(string_to_sign.encode()).decode()}
    if method is not None:
        creds["signature_method"] = method
    if scope is not None:
        creds["scope"] = scope
    headers = {"X-Auth-Token": service_token} if service_token else {}
    url = identity_url.rstrip("/") + ("/v3/ec2tokens" if issue_token else "/v3/s3tokens")
    try:
        async with session.post(url, json={"credentials": creds}, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=limit)) as r:
            data: Any = await r.json(content_type=None)
            status = r.status
            token = r.headers.get("X-Subject-Token")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise IdentityUnavailable(f"identity is unreachable: {exc}") from exc
    if not isinstance(data, dict):
        raise IdentityUnavailable(f"identity answered {status} with no JSON object")
    if status == 401:
        message = str((data.get("error") or {}).get("message", ""))
        raise SignatureRefused(message or "The signature was not accepted.",
                               unknown_key="access key" in message.lower())
    if status != 200:
        raise IdentityUnavailable(f"identity answered {status} to a signature check")
    key = data.get("signing_key")
    return SignatureCheck(TokenInfo.from_body(data["token"]), token,
                          bytes.fromhex(key) if isinstance(key, str) else None)
