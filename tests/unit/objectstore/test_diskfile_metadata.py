"""Object metadata in xattrs: versioned JSON, compressed when one xattr block is too small."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from objectstore.diskfile import (
    COMPRESSED,
    DiskBackend,
    MetadataTooLarge,
    encode_metadata,
    read_xattr_metadata,
)

TS = "1700000000.00000"


def store(tmp_path: Path, meta: dict[str, str]) -> DiskBackend:
    (tmp_path / "d1").mkdir(exist_ok=True)
    backend = DiskBackend(tmp_path)
    writer = backend.writer("d1")
    writer.write(b"body")
    backend.commit(writer, "d1", "7", "a" * 32, TS, {
        "name": "/a/c/o", "X-Timestamp": TS, "Content-Length": "4", "ETag": writer.etag,
        "Content-Type": "text/plain", **meta})
    return backend


def test_small_metadata_is_plain_json(tmp_path: Path) -> None:
    assert not encode_metadata({"X-Object-Meta-A": "b"}).startswith(COMPRESSED)
    backend = store(tmp_path, {"X-Object-Meta-A": "b"})
    st = backend.state("d1", "7", "a" * 32)
    assert st.metadata["X-Object-Meta-A"] == "b"


def test_swift_sized_metadata_is_compressed_and_reads_back(tmp_path: Path) -> None:
    meta = {f"X-Object-Meta-M{i:02}": "v" * 253 for i in range(16)}  # Swift's 4096 bytes
    assert encode_metadata(meta).startswith(COMPRESSED)
    backend = store(tmp_path, meta)
    st = backend.state("d1", "7", "a" * 32)
    assert st.data_path is not None
    assert {k: st.metadata[k] for k in meta} == meta
    assert read_xattr_metadata(st.data_path)["X-Object-Meta-M15"] == "v" * 253


def test_incompressible_overflow_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    meta = {f"X-Object-Meta-R{i:02}": secrets.token_urlsafe(190) for i in range(40)}
    try:
        backend = store(tmp_path, meta)
    except MetadataTooLarge as exc:
        assert "metadata" in str(exc)
        assert list((tmp_path / "d1" / "tmp").iterdir()) == []
        assert not (tmp_path / "d1" / "objects").exists() or not any(
            (tmp_path / "d1" / "objects").rglob("*.data"))
        return
    # a filesystem with large xattrs (XFS) simply stores it
    st = backend.state("d1", "7", "a" * 32)
    assert {k: st.metadata[k] for k in meta} == meta


def test_corrupt_compressed_metadata_quarantines(tmp_path: Path) -> None:
    from objectstore.diskfile import QuarantineError

    f = tmp_path / "x.data"
    f.write_bytes(b"")
    os.setxattr(f, "user.strata.meta", COMPRESSED + b"not zlib")
    with pytest.raises(QuarantineError):
        read_xattr_metadata(f)
