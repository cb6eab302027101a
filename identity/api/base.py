"""What every identity handler shares: app state, authentication, Keystone errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
from aiohttp import web
from cryptography.fernet import Fernet, MultiFernet

from common.config import StrataConfig
from common.db import Database
from common.http import ErrorFormat, json_body, openstack_error_format_for
from identity import core
from identity.errors import TokenNotFound, Unauthorized, ValidationError
from identity.passwords import Passwords
from identity.tokens import TokenCodec


@dataclass
class IdentityState:
    cfg: StrataConfig
    db: Database
    codec: TokenCodec
    passwords: Passwords
    credential_crypto: MultiFernet

    @property
    def base_url(self) -> str:
        return self.cfg.identity_url()

    def link(self, *parts: str) -> dict[str, str]:
        return {"self": "/".join([self.base_url, "v3", *parts])}

    @classmethod
    def create(cls, cfg: StrataConfig) -> IdentityState:
        return cls(
            cfg=cfg,
            db=Database(cfg.identity_db_url()),
            codec=TokenCodec(cfg.secrets["token_keys"]),
            passwords=Passwords(cfg.identity.password_hash_time_cost,
                                cfg.identity.password_hash_memory_kib),
            credential_crypto=MultiFernet(
                [Fernet(k.encode()) for k in cfg.secrets["credential_keys"]]),
        )


STATE: web.AppKey[IdentityState] = web.AppKey("identity_state", IdentityState)


def state(request: web.Request) -> IdentityState:
    return request.app[STATE]


def keystone_error_format_for(base_url: str) -> ErrorFormat:
    """Keystone's ``{"error": {"code", "title", "message"}}`` body."""
    return openstack_error_format_for(base_url)


CTX: web.RequestKey[core.AuthContext] = web.RequestKey("identity_ctx", core.AuthContext)


async def authenticate(request: web.Request) -> core.AuthContext:
    """The caller's context from X-Auth-Token; 401 when missing or not valid."""
    if CTX in request:
        return request[CTX]
    token = request.headers.get("X-Auth-Token", "")
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    st = state(request)
    try:
        validated = await st.db.run(lambda s: core.validate(s, st.codec, token))
    except TokenNotFound:
        raise Unauthorized("The request you have made requires authentication.") from None
    ctx = core.context_of(token, validated)
    request[CTX] = ctx
    return ctx


async def body_of(request: web.Request, schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON body, validated against ``schema``; 400 with the reason otherwise."""
    data = await json_body(request)
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "request body"
        raise ValidationError(f"Invalid input for field '{where}': {exc.message}") from None
    assert isinstance(data, dict)
    return data


def json_response(data: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers)


def shown(request: web.Request, key: str, data: Any) -> web.Response:
    """``{key: data}``, or an empty 200 for a HEAD (aiohttp routes HEAD to GET)."""
    if request.method == "HEAD":
        return web.Response(status=200)
    return json_response({key: data})


def no_content() -> web.Response:
    return web.Response(status=204)


def flag(value: str) -> bool:
    """Keystone's boolean query parameters: anything but 0/false/no/off is true."""
    return value.lower() not in ("0", "false", "no", "off")
