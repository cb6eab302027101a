"""Key pairs: imported (OpenSSH public keys: RSA, ECDSA, ed25519; or x509 certificates)
or generated (an RSA key whose private half is answered once and never kept), per user.

Keys are read with ``cryptography`` so that a key pair holds a key a guest's
sshd can use; the fingerprint is the one Nova shows (MD5 of the key blob for SSH,
SHA-1 of the certificate for x509, colon-separated hex).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from compute import models as m
from compute.errors import Conflict, Invalid, ItemNotFound

_NAME = re.compile(r"^[a-zA-Z0-9 _-]+$")
_NAME_292 = re.compile(r"^[a-zA-Z0-9 _\-@.]+$")  # 2.92 also allows '@' and '.'
TYPES = ("ssh", "x509")


class KeypairNotFound(ItemNotFound):
    def __init__(self, name: str, user_id: str) -> None:
        super().__init__(f"Keypair {name} not found for user {user_id}")


def check_name(name: Any, *, relaxed: bool = False) -> str:
    pattern = _NAME_292 if relaxed else _NAME
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or not pattern.match(name) \
            or name != name.strip():
        raise Invalid(f"Invalid input for field/attribute name. Value: {name}. Keypair "
                      "names are 1-255 letters, digits, spaces, '_' or '-'"
                      + (", '@' or '.'" if relaxed else ""))
    return name


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def fingerprint(public_key: str, key_type: str = "ssh") -> str:
    """Nova's fingerprint of a public key (400 when it is not one)."""
    if key_type == "x509":
        try:
            cert = x509.load_pem_x509_certificate(public_key.encode())
        except ValueError:
            raise Invalid("Keypair data is invalid: failed to generate fingerprint") from None
        return _colon_hex(cert.fingerprint(_sha1()))
    words = public_key.strip().split()
    if len(words) < 2:
        raise Invalid("Keypair data is invalid: failed to generate fingerprint")
    try:
        serialization.load_ssh_public_key(" ".join(words[:2]).encode())
        blob = base64.b64decode(words[1], validate=True)
    except (ValueError, TypeError, UnsupportedAlgorithm,
            base64.binascii.Error):  # type: ignore[attr-defined]
        raise Invalid("Keypair data is invalid: failed to generate fingerprint") from None
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).digest())


def _sha1() -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA1()


@dataclass(frozen=True)
class Generated:
    public_key: str
    private_key: str


def generate(name: str, user_id: str) -> Generated:
    """A new RSA key pair (blocking: call in a worker thread)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return Generated(f"{public} Generated-by-Nova", private)


def create(s: Session, user_id: str, name: str, public_key: str, key_type: str) -> m.KeyPair:
    fp = fingerprint(public_key, key_type)
    if s.scalar(select(m.KeyPair.id).where(m.KeyPair.user_id == user_id,
                                           m.KeyPair.name == name)) is not None:
        raise Conflict(f"Key pair '{name}' already exists.")
    row = m.KeyPair(user_id=user_id, name=name, public_key=public_key, fingerprint=fp,
                    type=key_type)
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        raise Conflict(f"Key pair '{name}' already exists.") from None
    return row


def get(s: Session, user_id: str, name: str) -> m.KeyPair:
    row = s.scalar(select(m.KeyPair).where(m.KeyPair.user_id == user_id,
                                           m.KeyPair.name == name))
    if row is None:
        raise KeypairNotFound(name, user_id)
    return row


def listing(s: Session, user_id: str, *, limit: int | None = None,
            marker: str | None = None) -> tuple[list[m.KeyPair], bool]:
    rows = list(s.scalars(select(m.KeyPair).where(m.KeyPair.user_id == user_id)
                          .order_by(m.KeyPair.name)))
    if marker is not None:
        names = [r.name for r in rows]
        if marker not in names:
            raise Invalid(f"marker [{marker}] not found")
        rows = rows[names.index(marker) + 1:]
    more = limit is not None and len(rows) > limit
    return (rows[:limit] if limit is not None else rows), more


def delete(s: Session, user_id: str, name: str) -> None:
    s.delete(get(s, user_id, name))
