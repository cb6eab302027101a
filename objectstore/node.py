"""What every server and daemon of one storage node shares."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from common.atomicfile import fsync_all, fsync_dir
from common.config import StrataConfig
from common.threadpool import ThreadPool
from objectstore.aiofsync import AioFsync, Refused
from objectstore.changes import Changes
from objectstore.protocol import OBJECTS, ring_file
from rings.ring import Ring, RingError

T = TypeVar("T")
log = logging.getLogger(__name__)

MOUNT_CHECK_INTERVAL = 1.0  # seconds a device directory is trusted to still be there
# How long the removals of files that durable writes made obsolete wait, to go to a
# worker thread together (NodeContext.sync).
TIDY_DELAY = 0.05


def node_root(cfg: StrataConfig, node: int) -> Path:
    """The directory holding local node ``node``'s devices (one directory each)."""
    return cfg.devices_path / f"node{node}"


def load_ring(cfg: StrataConfig, kind: str) -> Ring | None:
    """The runtime ring of ``kind`` (never the builder); None, logged, when unreadable."""
    try:
        return Ring(ring_file(cfg, kind), cfg.hash_prefix(), cfg.hash_suffix())
    except (OSError, RingError) as exc:
        log.error("cannot load the %s ring: %s", kind, exc)
        return None


class DeviceError(Exception):
    """The device named in a request is not one this node serves (or is unmounted)."""


@dataclass
class NodeContext:
    """One storage node: its devices directory, thread pool and HTTP client.

    ``devices`` holds one directory per device (``<devices>/<device>/``).
    Blocking file and SQLite work goes through :meth:`run` so the event loop
    never waits on a disk.
    """

    devices: Path
    hash_prefix: bytes
    hash_suffix: bytes
    node_timeout: float = 10.0
    conn_timeout: float = 2.0
    workers: int = 24  # the default of [objectstore] io_threads
    aio_fsync: bool = True  # the default of [objectstore] aio_fsync
    reclaim_age: float = 7 * 24 * 3600.0  # seconds tombstones are kept
    # Swift's limits on an account's or container's user metadata, stored and new
    # together (the proxy's max_meta_count / max_meta_overall_size)
    max_meta_count: int = 90
    max_meta_overall_size: int = 4096
    # The storage policies' names, by index (the account server shows them)
    policies: tuple[str, ...] = ("Policy-0",)
    executor: ThreadPool = field(init=False)
    # What client writes changed here and the replicators have yet to push
    # (objectstore/changes.py): DB files, and object partition directories.
    changed_dbs: Changes[Path] = field(default_factory=Changes, init=False)
    changed_parts: Changes[Path] = field(default_factory=Changes, init=False)
    # Container DBs whose object count, bytes or timestamps may have changed since
    # the updater last reported them to their account (objectstore/updater.py).
    stats_changed: set[Path] = field(default_factory=set, init=False)
    _session: aiohttp.ClientSession | None = field(default=None, init=False)
    # (device, data dir, partition) -> its directory, as partition_changed marks it
    _part_paths: dict[tuple[str, str, str], Path] = field(default_factory=dict, init=False)
    # device name -> (path, monotonic time its mount was last seen)
    _mounted: dict[str, tuple[Path, float]] = field(default_factory=dict, init=False)
    # the kernel AIO context small writes fsync through, made on the first sync
    # (None: worker threads, when aio_fsync is off or the kernel has none)
    _aio: AioFsync | None = field(default=None, init=False)
    _aio_loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    # what sync was given to run after fsyncs through AIO, waiting for TIDY_DELAY
    _tidy: list[Callable[[], None]] = field(default_factory=list, init=False)
    _tidy_handle: asyncio.TimerHandle | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.executor = ThreadPool(self.workers, "node-io")

    def device_path(self, device: str) -> Path:
        """The directory of ``device``; refuses names that could escape ``devices``."""
        if not device or device in (".", "..") or "/" in device or "\x00" in device:
            raise DeviceError(f"bad device name {device!r}")
        now = time.monotonic()
        seen = self._mounted.get(device)
        if seen is not None and now - seen[1] < MOUNT_CHECK_INTERVAL:
            return seen[0]  # checked within the last second: no stat per request
        path = self.devices / device
        if not path.is_dir():
            self._mounted.pop(device, None)
            raise DeviceError(f"device {device} is not mounted here")
        self._mounted[device] = (path, now)
        return path

    def db_changed(self, db_path: Path) -> None:
        """A client write changed the DB at ``db_path``: the DB replicator pushes it, and
        the updater reports a container's new stats, on their next passes."""
        self.changed_dbs.mark(db_path)
        if db_path.parents[3].name == "containers":  # <kind>/<part>/<suffix>/<hash>/x.db
            self.stats_changed.add(db_path)

    def partition_changed(self, device: str, part: str, data_dir: str = OBJECTS) -> None:
        """An object of ``device``'s partition ``part`` of ``data_dir`` (its storage
        policy's: ``objects``, ``objects-<N>``) changed here (written, deleted,
        quarantined): that policy's object replicator pushes it on its next pass."""
        key = (device, data_dir, part)
        path = self._part_paths.get(key)
        if path is None:  # one Path per partition: pathlib's joins and hash, once
            path = self._part_paths[key] = self.devices / device / data_dir / part
        self.changed_parts.mark(path)

    def local_devices(self) -> list[str]:
        if not self.devices.is_dir():
            return []
        return sorted(d.name for d in self.devices.iterdir() if d.is_dir())

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.executor.run(fn, *args)

    async def sync(self, fds: list[int], then: Callable[[], None] | None = None) -> None:
        """fsync each of ``fds``, then call ``then`` on a worker thread (it removes the
        files the write made obsolete). The fsyncs go through the kernel's AIO where
        it has it (objectstore/aiofsync.py), else, with ``then``, on a worker thread.

        After AIO fsyncs, ``then`` is not waited for: it joins the others of the next
        :data:`TIDY_DELAY` and they go to a worker in one call. Handed over one by one
        and awaited, the removals cost a node about 130 µs of CPU per DELETE (a sixth
        of its DELETE; most of it the wake-ups and the GIL changing hands), batched
        about 70 µs. What ``then`` removes is already superseded by a file that is on
        disk, so nothing waits for it (a node that stops first leaves it to the
        replicator, whose next pass over the suffix the write marked removes it)."""
        loop = asyncio.get_running_loop()
        aio = self._aio if loop is self._aio_loop else await self._open_aio(loop)
        if aio is not None:
            try:
                await aio.fsync_all(fds)
            except Refused:  # nothing failed, but the kernel would not take one
                pass
            else:
                if then is not None:
                    self._tidy.append(then)
                    if self._tidy_handle is None:
                        self._tidy_handle = loop.call_later(TIDY_DELAY, self._tidy_now)
                return
        await self.executor.run(fsync_all, fds, then)

    def _tidy_now(self) -> None:
        """Hand what :meth:`sync` gathered to a worker, in one call (now, when its
        timer has yet to fire)."""
        if self._tidy_handle is not None:
            self._tidy_handle.cancel()
        self._tidy_handle = None
        batch, self._tidy = self._tidy, []
        if batch:
            self.executor.submit(_run_each, batch)

    async def _open_aio(self, loop: asyncio.AbstractEventLoop) -> AioFsync | None:
        """The AIO context of ``loop`` (its completions arrive there), made and
        probed on the devices directory once per loop."""
        if self._aio is not None:  # made on another loop (tests run several)
            self._aio.close()
        self._tidy_now()  # that loop's timer may never fire now
        self._aio, self._aio_loop = None, loop
        if not self.aio_fsync:
            return None
        aio = AioFsync.open()
        if aio is None:
            return None
        # (a write on this loop that gets here during the probe finds None: threads)
        if not await aio.probe(self.devices) or self._aio_loop is not loop:
            aio.close()  # the probe failed, or the node closed or moved meanwhile
            return None
        self._aio = aio
        return aio

    @property
    def fsyncs_through_aio(self) -> bool:
        """Whether small writes' fsyncs go through the kernel's AIO (after the first)."""
        return self._aio is not None

    @property
    def session(self) -> aiohttp.ClientSession:
        """A shared client session for node-to-node calls (updates, replication)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, limit_per_host=64),
                timeout=aiohttp.ClientTimeout(total=None, connect=self.conn_timeout,
                                              sock_read=self.node_timeout),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # no cookies between our services
            )
        return self._session

    @property
    def call_timeout(self) -> aiohttp.ClientTimeout:
        """For one whole node-to-node call: ``node_timeout`` in all, connected
        within ``conn_timeout``."""
        return aiohttp.ClientTimeout(total=self.node_timeout, connect=self.conn_timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._aio is not None:
            self._aio.close()
        self._aio, self._aio_loop = None, None
        self._tidy_now()  # queued before the shutdown, which lets it run
        self.executor.shutdown(wait=True)


def _run_each(calls: list[Callable[[], None]]) -> None:
    """Each of ``calls``; one that fails is logged and the others still run."""
    for call in calls:
        try:
            call()
        except Exception:
            log.exception("removing obsolete files failed (the replicator retries)")


NODE: web.AppKey[NodeContext] = web.AppKey("node", NodeContext)

DaemonStart = Callable[[web.Application], Coroutine[Any, Any, None] | None]
Pass = Callable[[], Awaitable[Any]]  # one pass of a daemon


def background_task(start: DaemonStart) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` running the coroutine ``start(app)`` returns (None: nothing to
    run) for the app's lifetime, cancelled and awaited when the app stops."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        coro = start(app)
        task = asyncio.create_task(coro) if coro is not None else None
        yield
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return ctx


def periodic(name: str, interval: float, make: Callable[[web.Application], Pass | None]
             ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A daemon as a ``cleanup_ctx``: its pass every ``interval`` seconds (0 or less:
    off). ``make(app)`` gives the pass, or None when it cannot run on this node."""

    def start(app: web.Application) -> Coroutine[Any, Any, None] | None:
        if interval <= 0:
            return None
        once = make(app)
        if once is None:
            return None
        log.info("%s running every %.1fs", name, interval)
        return run_every(name, interval, once)

    return background_task(start)


async def each_guarded(items: Iterable[T], concurrency: int,
                       work: Callable[[T], Awaitable[None]],
                       what: Callable[[T], str]) -> int:
    """``work(item)`` for every item, ``concurrency`` at a time; one that fails is
    logged (``what(item)`` names it) and the rest go on. The number that failed."""
    sem = asyncio.Semaphore(max(1, concurrency))
    failed = 0

    async def one(item: T) -> None:
        nonlocal failed
        async with sem:
            try:
                await work(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                failed += 1
                log.exception("%s failed", what(item))

    await asyncio.gather(*(one(item) for item in items))
    return failed


async def run_every(name: str, interval: float, once: Callable[[], Any]) -> None:
    """Call ``once()`` (a coroutine function) every ``interval`` seconds until cancelled."""
    await asyncio.sleep(random.uniform(0, min(interval, 5.0)))
    while True:
        start = time.monotonic()
        try:
            await once()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s pass failed", name)
        elapsed = time.monotonic() - start
        await asyncio.sleep(max(interval - elapsed, 0.05) * random.uniform(0.9, 1.1))


__all__ = [
    "NODE", "DaemonStart", "DeviceError", "NodeContext", "Pass", "background_task",
    "each_guarded", "fsync_dir", "load_ring", "node_root", "periodic", "run_every",
]
