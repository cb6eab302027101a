"""Object storage on one node: the contract, a disk implementation and an
in-memory reference implementation (one shared test suite runs on both:
tests/functional/objectstore/test_object_backends.py).

An object lives in a *hash directory* ``objects/<part>/<suffix>/<hash>/``
holding at most one ``<ts>.data`` (bytes, metadata in xattrs), one newer
``<ts>.meta`` (metadata from a POST) or one ``<ts>.ts`` (tombstone). The
newest timestamp wins; older files are removed after every write.

A write goes to ``tmp/``, is fsynced, gets its metadata as xattrs, is renamed
into place, and the hash directory (and any directory the write created) is
fsynced: once :meth:`ObjectBackend.commit` returns, the object survives a
crash. Everything here is synchronous (servers call it through a thread pool)
except :meth:`ObjectBackend.put_small` and :meth:`ObjectBackend.delete_small`,
which run their quick steps on the caller's event loop and hand only the
fsyncs to a thread (see ``Sync``).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import io
import json
import os
import tempfile
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from common.atomicfile import fsync_all
from objectstore.node import fsync_dir
from objectstore.protocol import LOCK_KEYS, OBJECTS, POST_HEADERS, datadir

METADATA_VERSION = 1
XATTR_KEY = "user.strata.meta"
XATTR_CHUNK = 3800  # ext4 keeps ~4 KiB of xattrs per inode block: split beyond that
COMPRESSED = b"\x00zlib\x00"  # prefix of metadata stored compressed (JSON never starts so)


class DiskFileError(Exception):
    pass


class QuarantineError(DiskFileError):
    """The files of an object are unreadable or inconsistent."""


@dataclass
class ObjectState:
    """What one hash directory holds right now, newest first."""

    data_timestamp: str | None = None
    meta_timestamp: str | None = None
    tombstone_timestamp: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    data_path: str | None = None  # (a string: built per request, pathlib costs)
    handle: Any = None  # the implementation's own reference to the data

    @property
    def exists(self) -> bool:
        return self.data_timestamp is not None

    @property
    def newest(self) -> str | None:
        stamps = [t for t in (self.data_timestamp, self.meta_timestamp,
                              self.tombstone_timestamp) if t]
        return max(stamps) if stamps else None

    @property
    def length(self) -> int:
        return int(self.metadata.get("Content-Length", 0))

    @property
    def etag(self) -> str:
        return str(self.metadata.get("ETag", ""))


class Writer(ABC):
    """Bytes of one new object on their way to disk."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.length = 0

    @abstractmethod
    def _write(self, chunk: bytes) -> None: ...

    def write(self, chunk: bytes) -> None:
        self._write(chunk)
        self.md5.update(chunk)
        self.length += len(chunk)

    @property
    def etag(self) -> str:
        return self.md5.hexdigest()

    @abstractmethod
    def abort(self) -> None: ...


# Makes the given file descriptors durable (fsync each), then runs the optional
# callable, off the event loop: a storage node passes a thread-pool call. The quick
# steps of a small write (create, write 64 KiB, set xattrs, mkdir, rename) stay on
# the loop; the waits for the disk go to a thread, and so does removing the files a
# write made obsolete, when there are any (the unlink of a .data file waits for the
# filesystem's journal while other writes' fsyncs commit it: on the loop it blocked
# a quarter of a node's time under DELETEs; a storage node does not wait for it, and
# batches it with other writes', see NodeContext.sync). Each trip to a thread under load costs
# the GIL changing hands at every syscall the thread makes, which was a third of a
# node's time per PUT, so a write makes two trips, one per group of fsyncs, and
# gives the worker no other syscalls.
Sync = Callable[[list[int], Callable[[], None] | None], Awaitable[None]]
# One step of a durable write: file descriptors to fsync, then what to do after.
Step = tuple[list[int], Callable[[], None] | None]


class ObjectBackend(ABC):
    """The contract every object storage implementation keeps."""

    async def put_small(self, device: str, part: str, obj_hash: str, timestamp: str,
                        body: bytes, metadata: dict[str, Any], sync: Sync) -> None:
        """:meth:`commit` of a whole small body, durably, from an event loop that
        hands ``sync`` the waits (a store with none to wait for just writes)."""
        writer = self.writer(device)
        try:
            writer.write(body)
            self.commit(writer, device, part, obj_hash, timestamp, metadata)
        except BaseException:
            writer.abort()
            raise

    async def delete_small(self, device: str, part: str, obj_hash: str, timestamp: str,
                           metadata: dict[str, Any], sync: Sync) -> None:
        """:meth:`write_tombstone` from an event loop, as :meth:`put_small`."""
        self.write_tombstone(device, part, obj_hash, timestamp, metadata)

    def read_cached(self, st: ObjectState) -> bytes | None:
        """The object's bytes when they can be had without waiting for a disk (an
        event loop may call this), else None: then :meth:`open` them on a thread."""
        return None

    @abstractmethod
    def writer(self, device: str) -> Writer:
        """A writer for a new object's bytes on ``device``."""

    @abstractmethod
    def commit(self, writer: Writer, device: str, part: str, obj_hash: str,
               timestamp: str, metadata: dict[str, Any]) -> None:
        """Make the written bytes the object's ``timestamp`` version, durably."""

    @abstractmethod
    def write_meta(self, device: str, part: str, obj_hash: str, timestamp: str,
                   metadata: dict[str, Any]) -> None:
        """Record newer metadata (a POST) for the object, durably."""

    @abstractmethod
    def write_tombstone(self, device: str, part: str, obj_hash: str, timestamp: str,
                        metadata: dict[str, Any]) -> None:
        """Record a delete at ``timestamp``, durably."""

    @abstractmethod
    def state(self, device: str, part: str, obj_hash: str) -> ObjectState:
        """The newest data, metadata and tombstone of the object."""

    @abstractmethod
    def open(self, st: ObjectState) -> IO[bytes]:
        """The object's bytes for reading (a real file where there is one)."""

    @abstractmethod
    def quarantine(self, device: str, part: str, obj_hash: str) -> None:
        """Take the object's files out of service (corrupt); replication rebuilds it."""

    @abstractmethod
    def for_policy(self, policy: int) -> ObjectBackend:
        """The same kind of store for storage policy ``policy``'s objects (0: this one):
        the same devices, its own place on them, so two policies never mix."""


def post_replaces(key: str) -> bool:
    """Whether a POST replaces header ``key`` (protocol.POST_HEADERS, X-Object-Meta-*)."""
    k = key.lower()
    return k.startswith("x-object-meta-") or k in POST_HEADERS


def merged_metadata(data_meta: dict[str, Any], post_meta: dict[str, Any] | None) -> dict[str, Any]:
    """The data's metadata with a newer POST's applied (it may also set Content-Type,
    and the lock metadata it names)."""
    if not post_meta:
        return dict(data_meta)
    out = {k: v for k, v in data_meta.items() if not post_replaces(k)}
    out.update({k: v for k, v in post_meta.items()
                if post_replaces(k) or k == "Content-Type" or k in LOCK_KEYS})
    return out


# --- on disk -------------------------------------------------------------------------------


def hash_dir(device_path: Path, part: str, obj_hash: str, data_dir: str = OBJECTS) -> Path:
    """``<device>/<data_dir>/<part>/<suffix>/<hash>`` (``objects`` for policy 0,
    ``objects-<N>`` for policy N)."""
    return Path(hash_dir_name(str(device_path), part, obj_hash, data_dir))


def hash_dir_name(device_path: str, part: str, obj_hash: str, data_dir: str = OBJECTS) -> str:
    """:func:`hash_dir` as a string (the node's hot paths: pathlib's joins cost more
    than the syscalls of a small write)."""
    return f"{device_path}/{data_dir}/{part}/{obj_hash[-3:]}/{obj_hash}"


class MetadataTooLarge(DiskFileError):
    """The filesystem cannot hold this much metadata beside the object."""


# json.dumps with separators builds an encoder per call: one, kept (every write uses it)
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def encode_metadata(metadata: dict[str, Any]) -> bytes:
    """Versioned JSON; zlib-compressed (marked ``COMPRESSED``) when it would not fit
    one xattr block, since ext4 keeps all of an inode's xattrs in a single 4 KiB
    block and Swift allows 4 KiB of user metadata on top of ours."""
    blob = _COMPACT.encode({"v": METADATA_VERSION, "m": metadata}).encode()
    if len(blob) > XATTR_CHUNK:
        blob = COMPRESSED + zlib.compress(blob, 6)
    return blob


def write_xattr_metadata(fd: int, metadata: dict[str, Any]) -> None:
    blob = encode_metadata(metadata)
    chunks = [blob[i:i + XATTR_CHUNK] for i in range(0, len(blob), XATTR_CHUNK)] or [b""]
    try:
        for i, chunk in enumerate(chunks):
            os.setxattr(fd, XATTR_KEY + (str(i) if i else ""), chunk)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.E2BIG, errno.ERANGE):
            raise MetadataTooLarge(
                f"{len(blob)} bytes of metadata do not fit this filesystem's extended "
                "attributes; store less metadata (or put the devices on XFS)") from exc
        raise


def read_xattr_metadata(path: str | Path) -> dict[str, Any]:
    parts: list[bytes] = []
    i = 0
    while True:
        try:
            chunk = os.getxattr(path, XATTR_KEY + (str(i) if i else ""))
        except OSError as exc:
            if exc.errno in (errno.ENODATA, getattr(errno, "ENOATTR", errno.ENODATA)) and i:
                break
            raise QuarantineError(f"{path}: no metadata ({exc})") from exc
        parts.append(chunk)
        if len(chunk) < XATTR_CHUNK:
            break  # only a full chunk has another after it: no need to ask
        i += 1
    raw = b"".join(parts)
    try:
        if raw.startswith(COMPRESSED):
            raw = zlib.decompress(raw[len(COMPRESSED):])
        doc = json.loads(raw)
    except (ValueError, zlib.error) as exc:
        raise QuarantineError(f"{path}: metadata is not valid JSON") from exc
    if not isinstance(doc, dict) or doc.get("v") != METADATA_VERSION:
        raise QuarantineError(f"{path}: unknown metadata version")
    meta = doc["m"]
    assert isinstance(meta, dict)
    return meta


# Suffix hashes (objectstore/hashes.py) are cached per partition; every change
# to a suffix appends its name here so the next REPLICATE recomputes it.
HASHES_INVALID = "hashes.invalid"


def live_files(names: list[str]) -> set[str]:
    """The files of a hash directory that the newest-wins rules keep."""
    return {n for n in DiskBackend._classify(names) if n}


def invalidate_suffix(part_dir: str | Path, suffix: str) -> None:
    """Mark ``suffix`` of a partition dirty (cheap: one small locked append)."""
    try:
        fd = os.open(f"{part_dir}/{HASHES_INVALID}", os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                     0o644)
    except FileNotFoundError:
        return  # the partition is gone: nothing cached to invalidate
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{suffix}\n".encode())
    finally:
        os.close(fd)


# Start writeback of large uploads as they arrive, so the final fsync has little
# left to do (a big machine otherwise keeps gigabytes dirty until that fsync).
SYNC_EVERY = 8 << 20
SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writeback, do not wait


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's sync_file_range(2) through ctypes (Python's os module lacks it)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_sync_file_range = _load_sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Begin writing ``length`` bytes at ``offset`` to disk without waiting, and
    without dropping them from the page cache (a GET right after a PUT reads
    memory). Where sync_file_range is missing, fdatasync does it synchronously."""
    if _sync_file_range is None or _sync_file_range(fd, offset, length,
                                                    SYNC_FILE_RANGE_WRITE) != 0:
        os.fdatasync(fd)


_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def temp_file(tmp_dir: str | Path, prefix: str) -> tuple[int, str]:
    """A new temporary file in ``tmp_dir`` (created when missing), readable by its
    owner only, as ``tempfile.mkstemp`` makes one (whose name generator cost a
    twentieth of a node's time per small PUT)."""
    for _ in range(tempfile.TMP_MAX):
        name = f"{tmp_dir}/{prefix}{os.urandom(6).hex()}"
        try:
            return os.open(name, _TEMP_FLAGS, 0o600), name
        except FileExistsError:
            continue
        except FileNotFoundError:
            os.makedirs(tmp_dir, exist_ok=True)
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(tmp_dir))


def _discard(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class DiskWriter(Writer):
    def __init__(self, tmp_dir: Path) -> None:
        super().__init__()
        self.fd, name = temp_file(tmp_dir, ".obj-")
        self.path = Path(name)
        self._unsynced = 0

    def _write(self, chunk: bytes) -> None:
        write_all(self.fd, chunk)
        self._unsynced += len(chunk)
        if self._unsynced >= SYNC_EVERY:
            start_writeback(self.fd, self.length + len(chunk) - self._unsynced,
                            self._unsynced)
            self._unsynced = 0

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.path.unlink(missing_ok=True)


class DiskBackend(ObjectBackend):
    def __init__(self, devices: Path, data_dir: str = OBJECTS) -> None:
        self.devices = devices
        self.data_dir = data_dir  # objects, objects-1, ...: one storage policy's
        # The write and read paths build their paths as strings: Python 3.11's
        # pathlib cost a seventh of a node's time per small PUT.
        self._devices = str(devices)

    def _hash_dir(self, device: str, part: str, obj_hash: str) -> str:
        return hash_dir_name(f"{self._devices}/{device}", part, obj_hash, self.data_dir)

    def for_policy(self, policy: int) -> DiskBackend:
        return self if policy == 0 else DiskBackend(self.devices, datadir(policy))

    def _dev(self, device: str) -> Path:
        return self.devices / device

    def writer(self, device: str) -> DiskWriter:
        return DiskWriter(self._dev(device) / "tmp")

    @classmethod
    def _mkdirs(cls, path: str) -> list[str]:
        """Create ``path`` and its missing parents; return the ones this call created.

        Tries ``path`` first (its parents usually exist: one syscall), and walks
        up only when a parent is missing.
        """
        try:
            os.mkdir(path)
        except FileExistsError:
            return []
        except FileNotFoundError:
            created = cls._mkdirs(os.path.dirname(path))
            try:
                os.mkdir(path)
            except FileExistsError:
                return created
            return [*created, path]
        return [path]

    def _place_steps(self, fd: int, tmp: str | Path, device: str, part: str, obj_hash: str,
                     name: str, metadata: dict[str, Any]) -> Generator[Step, None, None]:
        """Make ``tmp`` the file ``name`` of the object, durably, yielding the file
        descriptors to fsync before the next step and what to run after them (see
        :meth:`_place`).

        Order: metadata into xattrs and fsync the file (closed whatever
        happens), create the hash directory and any missing parents, rename the
        file into place, then fsync the hash directory and every directory that
        gained an entry, and after that (with them, on the worker) remove the files
        the new one made obsolete; last, mark the suffix for the replicator. Every
        change is on disk before the last step's fsyncs return.
        """
        hdir = self._hash_dir(device, part, obj_hash)
        try:
            write_xattr_metadata(fd, metadata)
            yield [fd], None
        finally:
            os.close(fd)
        created = self._mkdirs(hdir)
        target = f"{hdir}/{name}"
        try:
            os.replace(tmp, target)
        except FileNotFoundError:
            if not os.path.exists(tmp):
                raise
            created += self._mkdirs(hdir)  # removed as empty meanwhile (replicator)
            os.replace(tmp, target)
        # a directory this write made holds nothing older; a write into a fresh one
        # (most PUTs) sends its worker no more than the fsyncs
        cleanup = None if hdir in created else partial(self._cleanup, hdir)
        dir_fds: list[int] = []
        try:
            for d in (hdir, *(os.path.dirname(c) for c in reversed(created))):
                dir_fds.append(os.open(d, os.O_RDONLY | os.O_DIRECTORY))
            yield dir_fds, cleanup
        finally:
            for dfd in dir_fds:
                os.close(dfd)
        invalidate_suffix(f"{self._devices}/{device}/{self.data_dir}/{part}", obj_hash[-3:])

    def _place(self, fd: int, tmp: str | Path, device: str, part: str, obj_hash: str,
               name: str, metadata: dict[str, Any]) -> None:
        """:meth:`_place_steps`, fsyncing on this thread."""
        for fds, after in self._place_steps(fd, tmp, device, part, obj_hash, name, metadata):
            fsync_all(fds, after)

    async def _place_async(self, fd: int, tmp: str, device: str, part: str,
                           obj_hash: str, name: str, metadata: dict[str, Any],
                           sync: Sync) -> None:
        """:meth:`_place_steps` on the event loop, ``sync`` doing the fsyncs and
        what follows them."""
        steps = self._place_steps(fd, tmp, device, part, obj_hash, name, metadata)
        try:
            for fds, after in steps:
                await sync(fds, after)
        except BaseException:
            steps.close()  # closes what the step holds open
            _discard(tmp)
            raise

    async def put_small(self, device: str, part: str, obj_hash: str, timestamp: str,
                        body: bytes, metadata: dict[str, Any], sync: Sync) -> None:
        fd, tmp = temp_file(f"{self._devices}/{device}/tmp", ".obj-")
        try:
            write_all(fd, body)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        await self._place_async(fd, tmp, device, part, obj_hash, f"{timestamp}.data",
                                metadata, sync)

    def read_cached(self, st: ObjectState) -> bytes | None:
        """The object's bytes if the page cache holds all of them (read without
        waiting for the disk: RWF_NOWAIT), else None."""
        if st.data_path is None or not hasattr(os, "RWF_NOWAIT"):
            return None
        try:
            fd = os.open(st.data_path, os.O_RDONLY)
        except OSError:
            return None
        try:
            buf = bytearray(st.length + 1)
            n = os.preadv(fd, [buf], 0, os.RWF_NOWAIT)
        except OSError:  # EAGAIN: not cached; EOPNOTSUPP: the filesystem cannot say
            return None
        finally:
            os.close(fd)
        if n != st.length:
            return None  # short (partly cached, or the file is not what it says): the pool reads it
        return bytes(buf[:n])

    async def delete_small(self, device: str, part: str, obj_hash: str, timestamp: str,
                           metadata: dict[str, Any], sync: Sync) -> None:
        fd, tmp = temp_file(f"{self._devices}/{device}/tmp", ".meta-")
        await self._place_async(fd, tmp, device, part, obj_hash, f"{timestamp}.ts",
                                metadata, sync)

    def commit(self, writer: Writer, device: str, part: str, obj_hash: str,
               timestamp: str, metadata: dict[str, Any]) -> None:
        assert isinstance(writer, DiskWriter)
        fd, writer.fd = writer.fd, -1
        try:
            self._place(fd, writer.path, device, part, obj_hash, f"{timestamp}.data",
                        metadata)
        except BaseException:
            writer.path.unlink(missing_ok=True)
            raise

    def _small_file(self, device: str, part: str, obj_hash: str, name: str,
                    metadata: dict[str, Any]) -> None:
        fd, tmp = temp_file(self._dev(device) / "tmp", ".meta-")
        try:
            self._place(fd, Path(tmp), device, part, obj_hash, name, metadata)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_meta(self, device: str, part: str, obj_hash: str, timestamp: str,
                   metadata: dict[str, Any]) -> None:
        self._small_file(device, part, obj_hash, f"{timestamp}.meta", metadata)

    def write_tombstone(self, device: str, part: str, obj_hash: str, timestamp: str,
                        metadata: dict[str, Any]) -> None:
        self._small_file(device, part, obj_hash, f"{timestamp}.ts", metadata)

    def place_file(self, writer: Writer | None, device: str, part: str, obj_hash: str,
                   name: str, metadata: dict[str, Any]) -> None:
        """Store one file under its exact name (replication): ``writer`` holds the
        bytes of a ``.data``; ``.meta`` and ``.ts`` files have none."""
        if writer is None:
            self._small_file(device, part, obj_hash, name, metadata)
            return
        assert isinstance(writer, DiskWriter)
        fd, writer.fd = writer.fd, -1
        try:
            self._place(fd, writer.path, device, part, obj_hash, name, metadata)
        except BaseException:
            writer.path.unlink(missing_ok=True)
            raise

    @staticmethod
    def _stamp(name: str) -> str:
        return name.rsplit(".", 1)[0]

    @classmethod
    def _classify(cls, names: list[str]) -> tuple[str | None, str | None, str | None]:
        """(newest .data, newest .meta newer than it, newest .ts newer than the data)."""
        data = max((n for n in names if n.endswith(".data")), default=None)
        ts = max((n for n in names if n.endswith(".ts")), default=None)
        meta = max((n for n in names if n.endswith(".meta")), default=None)
        if ts and (not data or cls._stamp(ts) >= cls._stamp(data)):
            return None, None, ts
        if meta and data and cls._stamp(meta) <= cls._stamp(data):
            meta = None
        return data, meta, None

    def _cleanup(self, hdir: str) -> None:
        try:
            names = os.listdir(hdir)
        except FileNotFoundError:
            return
        keep = {n for n in self._classify(names) if n}
        for n in names:
            if n not in keep:
                try:
                    os.unlink(f"{hdir}/{n}")
                except FileNotFoundError:
                    pass

    def state(self, device: str, part: str, obj_hash: str) -> ObjectState:
        hdir = self._hash_dir(device, part, obj_hash)
        try:
            names = os.listdir(hdir)
        except FileNotFoundError:
            return ObjectState()
        data, meta, ts = self._classify(names)
        st = ObjectState()
        if ts:
            st.tombstone_timestamp = ts.rsplit(".", 1)[0]
            st.metadata = read_xattr_metadata(f"{hdir}/{ts}")
            return st
        if data:
            st.data_timestamp = data.rsplit(".", 1)[0]
            data_path = f"{hdir}/{data}"
            st.data_path = data_path
            data_meta = read_xattr_metadata(data_path)
            post_meta = None
            if meta:
                st.meta_timestamp = meta.rsplit(".", 1)[0]
                post_meta = read_xattr_metadata(f"{hdir}/{meta}")
            st.metadata = merged_metadata(data_meta, post_meta)
        return st

    def open(self, st: ObjectState) -> IO[bytes]:
        if st.data_path is None:
            raise DiskFileError("no data to open")
        return open(st.data_path, "rb")  # the caller closes it

    def quarantine(self, device: str, part: str, obj_hash: str) -> None:
        hdir = hash_dir(self._dev(device), part, obj_hash, self.data_dir)
        qdir = self._dev(device) / "quarantined" / self.data_dir
        qdir.mkdir(parents=True, exist_ok=True)
        target = qdir / obj_hash
        if target.exists():
            target = qdir / f"{obj_hash}-{os.urandom(4).hex()}"
        try:
            os.replace(hdir, target)
        except FileNotFoundError:
            return
        fsync_dir(hdir.parent)
        invalidate_suffix(hdir.parent.parent, hdir.parent.name)


# --- in memory (the reference the disk implementation is checked against) ------------


class MemoryWriter(Writer):
    def __init__(self) -> None:
        super().__init__()
        self.buf = io.BytesIO()

    def _write(self, chunk: bytes) -> None:
        self.buf.write(chunk)

    def abort(self) -> None:
        self.buf = io.BytesIO()


class MemoryBackend(ObjectBackend):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (device, part, hash) -> {"data": (ts, bytes, meta), "meta": (ts, meta), "ts": (ts, meta)}
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._policies: dict[int, MemoryBackend] = {0: self}

    def for_policy(self, policy: int) -> MemoryBackend:
        with self._lock:
            return self._policies.setdefault(policy, MemoryBackend())

    def writer(self, device: str) -> MemoryWriter:
        return MemoryWriter()

    def _put(self, key: tuple[str, str, str], kind: str, value: tuple[Any, ...]) -> None:
        """Keep the newest of each kind (the later of two with one timestamp, as a
        rename over the disk's file does), then apply the newest-wins rules."""
        with self._lock:
            entry = self._objects.setdefault(key, {})
            old = entry.get(kind)
            if old is None or value[0] >= old[0]:
                entry[kind] = value
            data, meta, ts = entry.get("data"), entry.get("meta"), entry.get("ts")
            if ts and (not data or ts[0] >= data[0]):
                entry.clear()  # a tombstone as new as the data (or with none) is all
                entry["ts"] = ts
                return
            entry.pop("ts", None)  # older than the data
            if meta and data and meta[0] <= data[0]:
                entry.pop("meta")  # a POST applies to older data only; kept until it comes

    def commit(self, writer: Writer, device: str, part: str, obj_hash: str,
               timestamp: str, metadata: dict[str, Any]) -> None:
        assert isinstance(writer, MemoryWriter)
        self._put((device, part, obj_hash), "data",
                  (timestamp, writer.buf.getvalue(), dict(metadata)))

    def write_meta(self, device: str, part: str, obj_hash: str, timestamp: str,
                   metadata: dict[str, Any]) -> None:
        self._put((device, part, obj_hash), "meta", (timestamp, dict(metadata)))

    def write_tombstone(self, device: str, part: str, obj_hash: str, timestamp: str,
                        metadata: dict[str, Any]) -> None:
        self._put((device, part, obj_hash), "ts", (timestamp, dict(metadata)))

    def state(self, device: str, part: str, obj_hash: str) -> ObjectState:
        with self._lock:
            entry = dict(self._objects.get((device, part, obj_hash), {}))
        st = ObjectState()
        if "ts" in entry:
            st.tombstone_timestamp, st.metadata = entry["ts"][0], dict(entry["ts"][1])
        elif "data" in entry:
            st.data_timestamp = entry["data"][0]
            post = None
            if "meta" in entry:
                st.meta_timestamp, post = entry["meta"]
            st.metadata = merged_metadata(entry["data"][2], post)
            st.handle = (device, part, obj_hash)
        return st

    def open(self, st: ObjectState) -> IO[bytes]:
        with self._lock:
            entry = self._objects.get(st.handle) if st.handle else None
            if not entry or "data" not in entry:
                raise DiskFileError("no data to open")
            return io.BytesIO(entry["data"][1])

    def quarantine(self, device: str, part: str, obj_hash: str) -> None:
        with self._lock:
            self._objects.pop((device, part, obj_hash), None)

