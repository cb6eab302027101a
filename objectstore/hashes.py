"""Suffix hashes: a cheap summary of a partition that two replicas can compare.

For every suffix directory ``objects/<part>/<suffix>/`` the hash is the MD5
of its hash directories' names, each followed by the sorted names of the
files the newest-wins rules keep in it (``<timestamp>.data|.meta|.ts``). Two
replicas with equal hashes for a suffix hold the same versions of the same
objects; an empty suffix has no hash at all.

The hashes of a partition are cached in ``objects/<part>/hashes.json``
(versioned JSON, replaced atomically). Every write into a suffix appends the
suffix to ``objects/<part>/hashes.invalid`` (:func:`diskfile.invalidate_suffix`);
the next :func:`get_hashes` recomputes exactly those suffixes. The cache is
only an optimisation: a missing, unreadable or old cache is rebuilt from the
directories, which is always safe. Computing holds an ``flock`` on the
partition directory so two computations never interleave.

Everything here is synchronous file work: callers run it in the node's pool.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from objectstore.diskfile import HASHES_INVALID, live_files

HASHES_FILE = "hashes.json"
HASHES_VERSION = 1
# A cache older than this is recomputed in full, in case an invalidation was lost
# (a crash between placing a file and marking its suffix).
DEFAULT_MAX_AGE = 24 * 3600.0
DEFAULT_RECLAIM_AGE = 7 * 24 * 3600.0  # as [objectstore] reclaim_age
_HEX = frozenset("0123456789abcdef")
# Hashing removes empty hash and suffix directories, but only ones untouched for
# this long: a writer may have just created one and be about to rename into it.
EMPTY_DIR_GRACE = 30.0

# Order in which a hash directory's files are sent: data before the metadata
# that applies to it.
_SEND_ORDER = {".data": 0, ".ts": 1, ".meta": 2}


def is_suffix(name: str) -> bool:
    return len(name) == 3 and set(name) <= _HEX


def is_hash(name: str) -> bool:
    return len(name) == 32 and set(name) <= _HEX


def is_partition(name: str) -> bool:
    return name.isdigit()


def extension(name: str) -> str:
    return name[name.rfind("."):] if "." in name else ""


def stamp(name: str) -> str:
    return name.rsplit(".", 1)[0]


def valid_file_name(name: str) -> bool:
    """``<timestamp>.data|.meta|.ts`` with a plausible timestamp (digits and a dot)."""
    ts, ext = stamp(name), extension(name)
    return (ext in _SEND_ORDER and bool(ts) and len(ts) < 40
            and all(c.isdigit() or c in "._" for c in ts) and ts[0].isdigit())


@contextlib.contextmanager
def locked_dir(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _rmdir_if_empty(path: Path, grace: float = 0.0) -> None:
    with contextlib.suppress(OSError):
        if grace <= 0 or time.time() - os.stat(path).st_mtime >= grace:
            path.rmdir()


def live_names(hash_dir: Path, cleanup: bool = False,
               reclaim_before: float | None = None) -> list[str]:
    """The sorted files a hash directory keeps; ``cleanup`` deletes the rest.

    A tombstone older than ``reclaim_before`` (a Unix time) has done its work:
    every replica has had ``reclaim_age`` to learn of the delete. It counts as
    gone, and ``cleanup`` removes it.
    """
    names = _listdir(hash_dir)
    keep = live_files(names)
    if reclaim_before is not None and len(keep) == 1:
        (only,) = keep
        if extension(only) == ".ts" and float(stamp(only)) < reclaim_before:
            keep = set()
    if cleanup:
        for name in names:
            if name not in keep:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(hash_dir / name)
    return sorted(keep)


def hash_suffix(suffix_dir: Path, cleanup: bool = True,
                reclaim_before: float | None = None) -> str | None:
    """The suffix's hash, or None when it holds no object files; ``cleanup`` deletes
    obsolete files, reclaimable tombstones and empty directories (after
    :data:`EMPTY_DIR_GRACE`)."""
    md5 = hashlib.md5(usedforsecurity=False)
    found = False
    for obj_hash in sorted(_listdir(suffix_dir)):
        if not is_hash(obj_hash):
            continue
        hdir = suffix_dir / obj_hash
        names = live_names(hdir, cleanup, reclaim_before)
        if not names:
            if cleanup:
                _rmdir_if_empty(hdir, EMPTY_DIR_GRACE)
            continue
        found = True
        md5.update(obj_hash.encode())
        for name in names:
            md5.update(b"/" + name.encode())
        md5.update(b"\n")
    if not found:
        if cleanup:
            _rmdir_if_empty(suffix_dir, EMPTY_DIR_GRACE)
        return None
    return md5.hexdigest()


def list_suffix(suffix_dir: Path, reclaim_before: float | None = None
                ) -> dict[str, list[str]]:
    """``{hash: [live file names]}`` of one suffix directory (what a peer compares).
    Reclaimable tombstones are left out: they are never sent anywhere again."""
    out: dict[str, list[str]] = {}
    for obj_hash in sorted(_listdir(suffix_dir)):
        if is_hash(obj_hash):
            names = live_names(suffix_dir / obj_hash, reclaim_before=reclaim_before)
            if names:
                out[obj_hash] = names
    return out


def list_partition(part_dir: Path, reclaim_before: float | None = None
                   ) -> dict[str, dict[str, list[str]]]:
    """``{suffix: {hash: [live file names]}}`` of a whole partition."""
    out: dict[str, dict[str, list[str]]] = {}
    for suffix in sorted(_listdir(part_dir)):
        if is_suffix(suffix):
            listing = list_suffix(part_dir / suffix, reclaim_before)
            if listing:
                out[suffix] = listing
    return out


def _take_invalid(part_dir: Path) -> set[str]:
    """The suffixes marked dirty since the last call (the mark file is emptied)."""
    try:
        fd = os.open(part_dir / HASHES_INVALID, os.O_RDWR)
    except FileNotFoundError:
        return set()
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    text = b"".join(chunks).decode("ascii", errors="replace")
    return {s for s in text.split() if is_suffix(s)}


def _load(part_dir: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((part_dir / HASHES_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    if (not isinstance(doc, dict) or doc.get("v") != HASHES_VERSION
            or not isinstance(doc.get("hashes"), dict)
            or not isinstance(doc.get("full_at"), int | float)):
        return None
    return doc


def _save(part_dir: Path, hashes: dict[str, str], full_at: float) -> None:
    blob = json.dumps({"v": HASHES_VERSION, "full_at": full_at, "hashes": hashes},
                      sort_keys=True, separators=(",", ":")).encode()
    fd, tmp = tempfile.mkstemp(dir=part_dir, prefix=".hashes-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, part_dir / HASHES_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def get_hashes(part_dir: Path, recalculate: Iterable[str] = (),
               max_age: float = DEFAULT_MAX_AGE, now: float | None = None,
               reclaim_age: float = DEFAULT_RECLAIM_AGE) -> dict[str, str]:
    """``{suffix: hash}`` of a partition: cached, with dirty and ``recalculate``
    suffixes recomputed (all of them when there is no usable cache). Tombstones
    older than ``reclaim_age`` are removed from the suffixes recomputed; the
    full recomputation every ``max_age`` reaches the rest."""
    if not part_dir.is_dir():
        return {}
    now = time.time() if now is None else now
    with locked_dir(part_dir):
        doc = _load(part_dir)
        dirty = _take_invalid(part_dir) | {s for s in recalculate if is_suffix(s)}
        if doc is None or now - float(doc["full_at"]) > max_age or now < float(doc["full_at"]):
            full_at = now
            hashes: dict[str, str] = {}
            todo = {s for s in _listdir(part_dir) if is_suffix(s)}
        else:
            full_at = float(doc["full_at"])
            hashes = {str(k): str(v) for k, v in doc["hashes"].items()}
            todo = dirty
        for suffix in sorted(todo):
            h = hash_suffix(part_dir / suffix, reclaim_before=now - reclaim_age)
            if h is None:
                hashes.pop(suffix, None)
            else:
                hashes[suffix] = h
        if todo or doc is None or full_at == now:
            _save(part_dir, hashes, full_at)
        return hashes


def missing_files(local: Iterable[str], remote: Iterable[str]) -> list[str]:
    """The local files of one object a peer lacks and would keep, in sending order.

    Applies the peer's own newest-wins rules: a file is sent only when the
    peer, given it, would keep it. So a newer tombstone or newer data on the
    peer beats older local data (nothing resurrects), and a ``.meta`` goes
    only where it would sit on top of a ``.data``.
    """
    have = live_files(list(remote))
    out: list[str] = []
    mine = sorted(live_files(list(local)), key=lambda n: (_SEND_ORDER.get(extension(n), 9), n))
    for name in mine:
        if name in have:
            continue
        trial = live_files([*have, name])
        if name not in trial:
            continue
        if name.endswith(".meta") and not any(n.endswith(".data") for n in trial):
            continue
        out.append(name)
        have = trial
    return out


def remove_files(part_dir: Path, listing: dict[str, dict[str, list[str]]]) -> int:
    """Delete exactly the files of ``listing`` (a handoff's data, now home) and the
    directories left empty; returns how many files went. New files stay."""
    removed = 0
    with locked_dir(part_dir):
        for suffix, objects in listing.items():
            sdir = part_dir / suffix
            for obj_hash, names in objects.items():
                hdir = sdir / obj_hash
                for name in names:
                    try:
                        os.unlink(hdir / name)
                        removed += 1
                    except FileNotFoundError:
                        pass
                _rmdir_if_empty(hdir)
            _rmdir_if_empty(sdir)
        if not any(is_suffix(n) for n in _listdir(part_dir)):
            for name in (HASHES_FILE, HASHES_INVALID):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(part_dir / name)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part_dir / HASHES_FILE)  # recomputed in full next time
    _rmdir_if_empty(part_dir)
    return removed
