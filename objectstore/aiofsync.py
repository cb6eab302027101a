"""fsync from the event loop through Linux's native AIO, no thread of ours waiting.

A small write's fsyncs used to wait on worker threads, and every trip cost the
GIL changing hands: the worker takes it to pick up the job, gives it up for the
fsync, takes it back to report the result, while the event loop holding it is
busy with other requests. py-spy and strace on a node under 4 KiB PUTs showed
about 40 futex calls per PUT, and the node's system time per PUT was larger
than its Python time. Linux (4.18 and later) runs an fsync submitted with
``io_submit`` on its own workqueue and reports the completion through an
eventfd the event loop watches, so the loop submits, goes on with other
requests, and settles the write when the eventfd says so.

The AIO calls are caio's (the Linux AIO binding aiofile is built on). Where the
kernel, a seccomp profile or the filesystem refuses AIO fsync, the same fsyncs
run on the node's worker threads, as before: :class:`AioFsync` is only used
where a probe fsync through it worked, and descriptors the kernel refuses to
take (:class:`Refused`) are fsynced there instead. An fsync the kernel took and
that then failed is never retried: the write fails (a second fsync after a
failed one can report success for data that never reached the disk).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

# In-flight fsyncs per node. caio's own semaphore holds further ones back; the
# kernel reserves this many event slots out of fs.aio-max-nr (65536 by default).
MAX_REQUESTS = 256


class Refused(OSError):
    """io_submit would not take the fsync (nothing was submitted for it)."""


class AioFsync:
    """fsync of file and directory descriptors through one kernel AIO context."""

    def __init__(self, context: Any) -> None:
        self._context = context

    @classmethod
    def open(cls) -> AioFsync | None:
        """A context on the running loop; None (with the reason logged) where this
        kernel or platform has no AIO fsync. Check it with :meth:`probe`."""
        try:
            from caio.linux_aio_asyncio import AsyncioContext
        except ImportError as exc:  # not Linux, or a kernel older than 4.18
            log.info("fsync runs on worker threads: no Linux AIO here (%s)", exc)
            return None
        try:
            context = AsyncioContext(max_requests=MAX_REQUESTS,
                                     loop=asyncio.get_running_loop(),  # type: ignore[no-untyped-call]
                                     deferred=True)
        except (OSError, SystemError, ValueError) as exc:  # io_setup refused (EAGAIN, EPERM)
            log.info("fsync runs on worker threads: io_setup failed (%s)", exc)
            return None
        return cls(context)

    async def probe(self, path: str | os.PathLike[str]) -> bool:
        """Whether an AIO fsync of the directory ``path`` works (False: logged)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            log.info("fsync runs on worker threads: cannot open %s (%s)", path, exc)
            return False
        try:
            await self._one(fd)
            return True
        except OSError as exc:
            log.info("fsync runs on worker threads: an AIO fsync of %s failed (%s)",
                     path, exc)
            return False
        finally:
            os.close(fd)

    async def _one(self, fd: int) -> None:
        try:
            await self._context.fsync(fd)
        except ValueError as exc:
            # io_submit refused the descriptor (EBADF, or EINVAL: no AIO fsync for
            # this kind of file): caio says so with a ValueError naming the errno
            code = errno.EBADF if "EBADF" in str(exc) else errno.EINVAL
            raise Refused(code, str(exc)) from exc
        except SystemError as exc:  # the fsync itself failed (caio keeps only the message)
            raise OSError(errno.EIO, f"fsync failed: {exc}") from exc
        except OSError as exc:
            if exc.errno is not None:
                raise
            # not submitted: io_submit stopped at another write's refused descriptor
            # in the same batch, before this one
            raise Refused(errno.EAGAIN, str(exc)) from exc

    async def fsync_all(self, fds: list[int]) -> None:
        """fsync every one of ``fds`` at once (a write's directories do not depend
        on one another's order), or raise the first failure once all are done:
        :class:`Refused` only when nothing failed but a refusal."""
        if len(fds) == 1:  # a file before its rename: no gather (a task per fd)
            await self._one(fds[0])
            return
        results = await asyncio.gather(*(self._one(fd) for fd in fds), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        failures.sort(key=lambda exc: isinstance(exc, Refused))  # real failures first
        if failures:
            raise failures[0]

    def close(self) -> None:
        """Stop watching for completions (fsyncs in flight still complete)."""
        try:
            self._context.close()
        except RuntimeError:  # its event loop is closed already
            pass
