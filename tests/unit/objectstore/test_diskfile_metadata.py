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


@pytest.mark.parametrize("extra", [0, 1, 500])
def test_metadata_over_several_xattrs_reads_back_with_no_extra_lookup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: int) -> None:
    """Where a filesystem holds bigger xattrs (XFS), a blob spans several chunks of
    XATTR_CHUNK bytes; the reader stops at the first short chunk and asks for one
    more name only after a full one (the common one-chunk case: one lookup)."""
    from objectstore import diskfile
    blob = diskfile.encode_metadata({"X-Object-Meta-K": "v" * 40})  # plain JSON
    # pad the JSON with spaces (still valid JSON) to exactly N chunks + extra bytes
    size = 2 * diskfile.XATTR_CHUNK + extra
    blob = blob[:-1] + b" " * (size - len(blob)) + blob[-1:]
    chunks = {diskfile.XATTR_KEY + (str(i) if i else ""): blob[o:o + diskfile.XATTR_CHUNK]
              for i, o in enumerate(range(0, len(blob), diskfile.XATTR_CHUNK))}
    asked: list[str] = []

    def getxattr(path: object, name: str) -> bytes:
        asked.append(name)
        if name not in chunks:
            raise OSError(61, "No data available")
        return chunks[name]

    monkeypatch.setattr(diskfile.os, "getxattr", getxattr)
    assert read_xattr_metadata(tmp_path)["X-Object-Meta-K"] == "v" * 40
    assert len(asked) == len(chunks) + (1 if extra == 0 else 0)
    asked.clear()
    chunks = {diskfile.XATTR_KEY: encode_metadata({"A": "b"})}
    assert read_xattr_metadata(tmp_path) == {"A": "b"}
    assert asked == [diskfile.XATTR_KEY]
