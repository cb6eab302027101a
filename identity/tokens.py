"""Token format: Fernet (AES-CBC + HMAC-SHA256) over a small versioned JSON payload.

A token names its user, scope (a project, a domain or the system), methods,
audit ids, issue and expiry times, and what it was delegated through (an
application credential or an OAuth access token, in ``extras``), and nothing
else: roles and the catalog are looked up when the token is validated, so that
a removed role or a disabled project takes effect at once. Keys rotate: the
first key signs, every key verifies.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from identity.errors import TokenNotFound

PAYLOAD_VERSION = 1
MAX_TOKEN_LENGTH = 8192


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    methods: tuple[str, ...]
    issued_at: float
    expires_at: float
    audit_ids: tuple[str, ...]
    project_id: str | None = None
    domain_id: str | None = None
    extras: dict[str, str] = field(default_factory=dict)
    system: str | None = None  # "all" for a system-scoped token

    @property
    def scoped(self) -> bool:
        return (self.project_id is not None or self.domain_id is not None
                or self.system is not None)


class TokenCodec:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one token key is needed")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def encode(self, payload: TokenPayload) -> str:
        body = {
            "v": PAYLOAD_VERSION,
            "u": payload.user_id,
            "m": list(payload.methods),
            "i": payload.issued_at,
            "e": payload.expires_at,
            "a": list(payload.audit_ids),
        }
        if payload.project_id:
            body["p"] = payload.project_id
        if payload.domain_id:
            body["d"] = payload.domain_id
        if payload.system:
            body["s"] = payload.system
        if payload.extras:
            body["x"] = payload.extras
        raw = json.dumps(body, separators=(",", ":")).encode()
        return self._fernet.encrypt(raw).decode().rstrip("=")

    def decode(self, token: str, *, now: float | None = None) -> TokenPayload:
        """The payload of a well-formed, authentic, unexpired token, else TokenNotFound."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise TokenNotFound("The token is not valid.")
        padded = token + "=" * (-len(token) % 4)
        try:
            raw = self._fernet.decrypt(padded.encode())
            body = json.loads(raw)
        except (InvalidToken, ValueError):
            raise TokenNotFound("The token is not valid.") from None
        if not isinstance(body, dict) or body.get("v") != PAYLOAD_VERSION:
            raise TokenNotFound("The token format is not supported.")
        try:
            payload = TokenPayload(
                user_id=str(body["u"]),
                methods=tuple(body["m"]),
                issued_at=float(body["i"]),
                expires_at=float(body["e"]),
                audit_ids=tuple(body["a"]),
                project_id=body.get("p"),
                domain_id=body.get("d"),
                extras=dict(body.get("x", {})),
                system=body.get("s"),
            )
        except (KeyError, TypeError, ValueError):
            raise TokenNotFound("The token is not valid.") from None
        if payload.expires_at <= (time.time() if now is None else now):
            raise TokenNotFound("The token has expired.")
        return payload
