"""identity.tokens: Fernet token payloads."""

from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet

from identity.errors import TokenNotFound
from identity.tokens import TokenCodec, TokenPayload, new_audit_id


def payload(**kw: object) -> TokenPayload:
    now = time.time()
    base: dict[str, object] = dict(user_id="u1", methods=("password",), issued_at=now,
                                   expires_at=now + 3600, audit_ids=(new_audit_id(),),
                                   project_id="p1")
    base.update(kw)
    return TokenPayload(**base)  # type: ignore[arg-type]


def test_round_trip() -> None:
    codec = TokenCodec([Fernet.generate_key().decode()])
    p = payload(domain_id=None)
    token = codec.encode(p)
    assert "=" not in token and len(token) < 400
    assert codec.decode(token) == p


def test_expired_tampered_and_foreign_tokens_are_refused() -> None:
    key = Fernet.generate_key().decode()
    codec = TokenCodec([key])
    token = codec.encode(payload(expires_at=time.time() - 1))
    with pytest.raises(TokenNotFound, match="expired"):
        codec.decode(token)
    good = codec.encode(payload())
    flipped = good[:30] + ("A" if good[30] != "A" else "B") + good[31:]
    for bad in (flipped, good[:-3], "", "é" * 10, "x" * 9000):
        with pytest.raises(TokenNotFound):
            codec.decode(bad)
    other = TokenCodec([Fernet.generate_key().decode()])
    with pytest.raises(TokenNotFound):
        other.decode(good)


def test_key_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = TokenCodec([old]).encode(payload())
    rotated = TokenCodec([new, old])
    assert rotated.decode(token).user_id == "u1"
    with pytest.raises(TokenNotFound):
        TokenCodec([new]).decode(token)


def test_audit_ids_are_unique_and_url_safe() -> None:
    ids = {new_audit_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 22 and "=" not in i and "/" not in i for i in ids)


def test_system_scope_and_delegation_extras_round_trip() -> None:
    codec = TokenCodec([Fernet.generate_key().decode()])
    p = payload(project_id=None, system="all")
    assert p.scoped and codec.decode(codec.encode(p)) == p
    delegated = payload(extras={"ac": "cred-id"})
    assert codec.decode(codec.encode(delegated)).extras == {"ac": "cred-id"}
    assert not payload(project_id=None).scoped
