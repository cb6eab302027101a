"""Worker threads for the blocking calls of an event loop (disk, fsync, SQLite).

``loop.run_in_executor`` over a ``ThreadPoolExecutor`` builds, per call, a
``concurrent.futures.Future`` (with its own condition variable and lock), a
work item, and an asyncio future chained to it through two callbacks. A
storage node makes a few such calls per object it writes, and that
bookkeeping was a tenth of its event-loop time under small-object load. This
pool hands the worker the asyncio future itself: the worker runs the call
and settles the future through ``call_soon_threadsafe``, and nothing else.

Cancelling the awaiting task does not stop a call a worker has started (as
with ``run_in_executor``); the result is then dropped.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

_Job = tuple[Callable[..., Any], tuple[Any, ...],
             asyncio.AbstractEventLoop | None, "asyncio.Future[Any] | None"]


class ThreadPool:
    """``workers`` threads, started on first use, serving ``run`` and ``submit``."""

    def __init__(self, workers: int, name: str) -> None:
        if workers < 1:
            raise ValueError("a thread pool needs at least one worker")
        self.workers = workers
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self._closed = False

    def _ensure_started(self) -> None:
        """Start the workers on first use; refuse once the pool is shut down."""
        if self._closed:
            raise RuntimeError(f"thread pool {self.name} is shut down")
        if self._threads:
            return
        with self._start_lock:
            if self._closed:
                raise RuntimeError(f"thread pool {self.name} is shut down")
            if not self._threads:
                for i in range(self.workers):
                    t = threading.Thread(target=self._work, name=f"{self.name}_{i}",
                                         daemon=True)
                    t.start()
                    self._threads.append(t)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args, loop, fut = job
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the awaiting coroutine
                if loop is None or fut is None:
                    log.exception("%s: background call %r failed", self.name, fn)
                    continue
                try:
                    loop.call_soon_threadsafe(_settle, fut, False, exc)
                except RuntimeError:  # the loop is closed: nobody is waiting
                    pass
                continue
            if loop is not None and fut is not None:
                try:
                    loop.call_soon_threadsafe(_settle, fut, True, result)
                except RuntimeError:
                    pass

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker thread; its result or exception."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, args, loop, fut))
        return await fut

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on a worker and forget it (a failure is logged)."""
        self._ensure_started()
        self._jobs.put((fn, args, None, None))

    def shutdown(self, wait: bool = True) -> None:
        """Let queued calls finish, then stop the workers."""
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for t in threads:
                t.join()


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():  # the awaiting task was cancelled
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


__all__ = ["ThreadPool"]
