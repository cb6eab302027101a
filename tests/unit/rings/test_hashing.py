from __future__ import annotations

import hashlib

import pytest

from rings.hashing import hash_path, hash_path_digest, name_path, partition_of


def test_name_paths() -> None:
    assert name_path("a") == "/a"
    assert name_path("a", "c") == "/a/c"
    assert name_path("a", "c", "o/with/slashes") == "/a/c/o/with/slashes"
    with pytest.raises(ValueError, match="container"):
        name_path("a", None, "o")
    with pytest.raises(ValueError, match="account"):
        name_path("")


def test_hash_path_is_md5_of_prefix_path_suffix() -> None:
    expected = hashlib.md5(b"pre/AUTH_x/c\xc3\xa9/obj" + b"suf").hexdigest()
    assert hash_path("AUTH_x", "cé", "obj", hash_prefix=b"pre", hash_suffix=b"suf") == expected
    assert hash_path_digest("AUTH_x").hex() == hashlib.md5(b"/AUTH_x").hexdigest()


def test_partition_is_top_bits() -> None:
    digest = bytes([0b10110000, 0, 0, 0]) + bytes(12)
    assert partition_of(digest, 4) == 0b1011
    assert partition_of(digest, 0) == 0
    assert partition_of(digest, 32) == 0b10110000 << 24
    with pytest.raises(ValueError):
        partition_of(digest, 33)
