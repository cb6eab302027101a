"""Fingerprints of public keys: what is not a key is a 400, whatever its first word."""

from __future__ import annotations

import pytest

from common.errors import BadRequest
from compute.core.keypairs import fingerprint

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDR6wbJ2Vjs1ZmtsvfXzYrTmOGmkUZcZuv0JAbc7Khx8 x"


def test_a_key_has_nova_s_md5_fingerprint() -> None:
    fp = fingerprint(ED25519)
    assert len(fp.split(":")) == 16


@pytest.mark.parametrize("text", ["not a key at all", "ssh-rsa !!!", "one", "x509 abc"])
def test_what_is_not_a_key_is_invalid(text: str) -> None:
    with pytest.raises(BadRequest, match="failed to generate fingerprint"):
        fingerprint(text)
