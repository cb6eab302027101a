"""OS-OAUTH1: OAuth 1.0a delegation (consumers, request tokens, access tokens).

Signatures (HMAC-SHA1 only, as Keystone) are checked by oauthlib against the
secrets kept here, encrypted with the credential keys; a nonce is accepted once
while its timestamp is acceptable (oauthlib's ten minutes). Everything runs in
the database thread; no HTTP here.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from cryptography.fernet import MultiFernet
from oauthlib.oauth1 import (
    SIGNATURE_HMAC_SHA1,
    AccessTokenEndpoint,
    RequestTokenEndpoint,
    RequestValidator,
    ResourceEndpoint,
)
from sqlalchemy import delete
from sqlalchemy.orm import Session

from identity import core, grants
from identity import models as m
from identity.errors import Unauthorized, ValidationError

# Keystone's default [oauth1] request_token_duration and access_token_duration.
REQUEST_TOKEN_SECONDS = 28800
ACCESS_TOKEN_SECONDS = 86400
HEX = set(string.hexdigits.lower())
T = TypeVar("T", m.OAuthRequestToken, m.OAuthAccessToken)
VERIFIER_CHARS = string.ascii_letters + string.digits


def new_key() -> str:
    return secrets.token_hex(16)


def new_verifier() -> str:
    return "".join(secrets.choice(VERIFIER_CHARS) for _ in range(8))


class Validator(RequestValidator):
    """oauthlib's questions, answered from the identity database."""

    def __init__(self, s: Session, crypto: MultiFernet) -> None:
        super().__init__()
        self.s = s
        self.crypto = crypto

    # --- formats ---
    @property
    def enforce_ssl(self) -> bool:
        return False  # TLS is the front's business, as in Keystone

    @property
    def allowed_signature_methods(self) -> tuple[str, ...]:
        return (SIGNATURE_HMAC_SHA1,)

    @property
    def nonce_length(self) -> tuple[int, int]:
        return 8, 64

    def _key(self, key: str) -> bool:
        return len(key) == 32 and set(key) <= HEX

    def check_client_key(self, client_key: str) -> bool:
        return self._key(client_key)

    def check_request_token(self, request_token: str) -> bool:
        return self._key(request_token)

    def check_access_token(self, request_token: str) -> bool:
        return self._key(request_token)

    def check_verifier(self, verifier: str) -> bool:
        return len(verifier) == 8 and set(verifier) <= set(VERIFIER_CHARS)

    # Stand-ins that keep a failed check as slow as a good one.
    dummy_client = "0" * 32
    dummy_request_token = "0" * 32
    dummy_access_token = "0" * 32

    def _secret(self, sealed: str | None) -> str:
        if sealed is None:
            return secrets.token_hex(16)
        return self.crypto.decrypt(sealed.encode()).decode()

    # --- consumers ---
    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return self.s.get(m.OAuthConsumer, client_key) is not None

    def get_client_secret(self, client_key: str, request: Any) -> str:
        consumer = self.s.get(m.OAuthConsumer, client_key)
        return self._secret(consumer.encrypted_secret if consumer else None)

    def get_default_realms(self, client_key: str, request: Any) -> list[str]:
        return []

    def get_realms(self, token: str, request: Any) -> list[str]:
        return []

    def validate_requested_realms(self, client_key: str, realms: list[str],
                                  request: Any) -> bool:
        return True

    def validate_realms(self, client_key: str, token: str, request: Any,
                        uri: str | None = None, realms: list[str] | None = None) -> bool:
        return True

    def validate_redirect_uri(self, client_key: str, redirect_uri: str, request: Any) -> bool:
        return True  # out of band ("oob"), as Keystone

    def validate_timestamp_and_nonce(self, client_key: str, timestamp: str, nonce: str,
                                     request: Any, request_token: str | None = None,
                                     access_token: str | None = None) -> bool:
        now = core.naive(time.time())
        self.s.execute(delete(m.OAuthNonce).where(
            m.OAuthNonce.seen_at < now - timedelta(seconds=2 * self.timestamp_lifetime)))
        if self.s.get(m.OAuthNonce, (client_key, nonce)) is not None:
            return False
        self.s.add(m.OAuthNonce(consumer_id=client_key, nonce=nonce, seen_at=now))
        self.s.flush()
        return True

    def _owned(self, model: type[T], client_key: str, token: str) -> T | None:
        """A consumer's request or access token (None for another consumer's)."""
        row = self.s.get(model, token)
        return row if row is not None and row.consumer_id == client_key else None

    # --- request tokens ---
    def _request_token(self, client_key: str, token: str) -> m.OAuthRequestToken | None:
        return self._owned(m.OAuthRequestToken, client_key, token)

    def validate_request_token(self, client_key: str, token: str, request: Any) -> bool:
        return self._request_token(client_key, token) is not None

    def get_request_token_secret(self, client_key: str, token: str, request: Any) -> str:
        row = self._request_token(client_key, token)
        return self._secret(row.encrypted_secret if row else None)

    def validate_verifier(self, client_key: str, token: str, verifier: str,
                          request: Any) -> bool:
        row = self._request_token(client_key, token)
        return (row is not None and row.verifier is not None
                and secrets.compare_digest(row.verifier, verifier))

    # --- access tokens ---
    def _access_token(self, client_key: str, token: str) -> m.OAuthAccessToken | None:
        return self._owned(m.OAuthAccessToken, client_key, token)

    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        return self._access_token(client_key, token) is not None

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        row = self._access_token(client_key, token)
        return self._secret(row.encrypted_secret if row else None)


Signed = tuple[str, str, dict[str, str]]  # uri, method, headers


def _expired(when: datetime | None) -> bool:
    return when is not None and when <= m.utcnow()


class Issuer(Validator):
    """The validator of the two token-granting calls, which keeps what they grant."""

    def __init__(self, s: Session, crypto: MultiFernet, project_id: str = "") -> None:
        super().__init__(s, crypto)
        self.project_id = project_id
        self.issued: tuple[m.OAuthRequestToken | m.OAuthAccessToken, str] | None = None

    def _seal(self, secret: str) -> str:
        return self.crypto.encrypt(secret.encode()).decode()

    def save_request_token(self, token: Any, request: Any) -> None:  # a dict (stub: str)
        row = m.OAuthRequestToken(
            id=token["oauth_token"], encrypted_secret=self._seal(token["oauth_token_secret"]),
            consumer_id=request.client_key, requested_project_id=self.project_id, role_ids=[],
            expires_at=m.utcnow() + timedelta(seconds=REQUEST_TOKEN_SECONDS))
        self.s.add(row)
        self.issued = (row, token["oauth_token_secret"])

    def validate_request_token(self, client_key: str, token: str, request: Any) -> bool:
        """Only an authorized, unexpired request token is exchanged."""
        row = self._request_token(client_key, token)
        return (row is not None and row.authorizing_user_id is not None
                and not _expired(row.expires_at))

    def save_access_token(self, token: Any, request: Any) -> None:  # a dict, as above
        rt = self.s.get(m.OAuthRequestToken, request.resource_owner_key)
        assert rt is not None and rt.authorizing_user_id is not None  # validated above
        row = m.OAuthAccessToken(
            id=token["oauth_token"], encrypted_secret=self._seal(token["oauth_token_secret"]),
            consumer_id=rt.consumer_id, authorizing_user_id=rt.authorizing_user_id,
            project_id=rt.requested_project_id, role_ids=list(rt.role_ids),
            expires_at=m.utcnow() + timedelta(seconds=ACCESS_TOKEN_SECONDS))
        self.s.add(row)
        self.issued = (row, token["oauth_token_secret"])

    def invalidate_request_token(self, client_key: str, request_token: str,
                                 request: Any) -> None:
        row = self.s.get(m.OAuthRequestToken, request_token)
        if row is not None:
            self.s.delete(row)


def _issued(issuer: Issuer, status: int, body: str | None) -> tuple[Any, str]:
    if status == 200 and issuer.issued is not None:
        issuer.s.flush()
        return issuer.issued
    reason = dict(parse_qsl(body or "")).get("error_description", "")
    if status == 400:
        raise ValidationError(f"The OAuth request is not valid: {reason}".rstrip(": "))
    raise Unauthorized("The OAuth signature, consumer or token is not valid.")


def create_request_token(s: Session, crypto: MultiFernet, signed: Signed,
                         project_id: str) -> tuple[m.OAuthRequestToken, str]:
    """A consumer's signed request for a request token to ``project_id``."""
    core.get_or_404(s, m.Project, project_id, "project")
    issuer = Issuer(s, crypto, project_id)
    uri, method, headers = signed
    endpoint = RequestTokenEndpoint(issuer, token_generator=new_key)
    _, body, status = endpoint.create_request_token_response(uri, method, "", headers)
    row, secret = _issued(issuer, status, body)
    assert isinstance(row, m.OAuthRequestToken)
    return row, secret


def authorize(s: Session, request_token_id: str, user_id: str,
              refs: list[dict[str, Any]]) -> str:
    """The user delegates some of its roles on the token's project; the verifier."""
    token = core.get_or_404(s, m.OAuthRequestToken, request_token_id, "request token")
    if _expired(token.expires_at):
        raise Unauthorized("The request token has expired.")
    if token.authorizing_user_id is not None:
        raise Unauthorized("The request token has already been authorized.")
    held = grants.effective_role_ids_on_project(s, user_id, token.requested_project_id)
    role_ids: list[str] = []
    for ref in refs:
        role = grants.find_role(s, ref)
        if role.id not in held:
            raise Unauthorized(f"User {user_id} does not have role {role.id} on project "
                               f"{token.requested_project_id}.")
        role_ids.append(role.id)
    verifier = new_verifier()
    token.authorizing_user_id = user_id
    token.role_ids = sorted(set(role_ids))
    token.verifier = verifier
    return verifier


def create_access_token(s: Session, crypto: MultiFernet,
                        signed: Signed) -> tuple[m.OAuthAccessToken, str]:
    """A consumer's signed exchange of an authorized request token (and verifier)."""
    issuer = Issuer(s, crypto)
    uri, method, headers = signed
    endpoint = AccessTokenEndpoint(issuer, token_generator=new_key)
    _, body, status = endpoint.create_access_token_response(uri, method, "", headers)
    row, secret = _issued(issuer, status, body)
    assert isinstance(row, m.OAuthAccessToken)
    return row, secret


def verify_access(s: Session, crypto: MultiFernet, signed: Signed) -> m.OAuthAccessToken:
    """The access token a consumer's signed token request uses, if all is well."""
    uri, method, headers = signed
    valid, request = ResourceEndpoint(Validator(s, crypto)).validate_protected_resource_request(
        uri, http_method=method, body="", headers=headers)
    if not valid or request is None:
        raise Unauthorized("The OAuth signature, consumer or access token is not valid.")
    return core.live_access_token(s, request.resource_owner_key)


def requested_project(headers: Mapping[str, str]) -> str:
    """The project a request token is asked for (a case-insensitive ``headers``)."""
    project = headers.get("Requested-Project-Id", "")
    if not project:
        raise ValidationError("A request token needs the Requested-Project-Id header.")
    return project
