"""Zero-copy file responses that work on every event loop.

asyncio's own loop implements ``loop.sendfile``; uvloop, which the services run
on, does not. There the transport's buffer is drained first (so the response
head goes out before the body) and ``os.sendfile`` runs in a worker thread on a
duplicate of the socket's descriptor, waiting for the socket to take more with
``poll``. The event loop does not write to that connection meanwhile: the
handler is awaiting this very call.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import select
from collections.abc import Awaitable, Callable
from typing import IO, Any

# How long the client may leave the socket unwritable before we give up on it.
STALL_TIMEOUT = 60.0
CHUNK = 1 << 16


def _sendfile_blocking(fd: int, file_fd: int, offset: int, count: int,
                       stall_timeout: float, f: IO[bytes] | None = None) -> None:
    """Runs in a worker thread; ``fd`` is its own duplicate, closed here, and so is
    ``f`` when given (once sent, or failed)."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        while count > 0:
            try:
                sent = os.sendfile(fd, file_fd, offset, count)
            except BlockingIOError:
                sent = -1
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise ConnectionResetError("client went away") from exc
            except OSError as exc:
                if exc.errno in (errno.ENOTCONN, errno.ESHUTDOWN):
                    raise ConnectionResetError("client went away") from exc
                raise
            if sent == 0:
                raise EOFError("the file ended before the bytes it should hold")
            if sent > 0:
                offset += sent
                count -= sent
                continue
            ready = poller.poll(int(stall_timeout * 1000))
            if not ready:
                raise TimeoutError("client stopped reading")
            if ready[0][1] & (select.POLLERR | select.POLLHUP):
                raise ConnectionResetError("client went away")
    finally:
        os.close(fd)
        if f is not None:
            f.close()


# Runs a blocking call on a worker thread and runs every call it accepts, even when
# the awaiting task is cancelled (as common.threadpool.ThreadPool.run does).
Runner = Callable[..., Awaitable[Any]]


async def sendfile(transport: asyncio.Transport, f: IO[bytes], offset: int, count: int,
                   stall_timeout: float = STALL_TIMEOUT, run: Runner | None = None) -> None:
    """Send ``count`` bytes of ``f`` from ``offset`` down ``transport``.

    Without ``run`` the caller keeps ``f`` open and closes it; the worker is one of
    the loop's executor. With ``run`` (see :data:`Runner`), ``f`` is closed here,
    on the same worker that sends it when one does: a large object's read then
    costs one hand-off to a thread, not one to send and another to close (and the
    last close of a file deleted meanwhile, which frees its blocks, stays off the
    event loop).
    """
    loop = asyncio.get_running_loop()
    handed = False
    try:
        try:
            await loop.sendfile(transport, f, offset, count)
            return
        except NotImplementedError:
            pass
        sock = transport.get_extra_info("socket")
        try:
            file_fd = f.fileno()
        except (OSError, AttributeError, io.UnsupportedOperation):
            file_fd = -1
        if sock is None or file_fd < 0:
            await _copy(transport, f, offset, count)
            return
        await _drained(transport)
        if transport.is_closing():
            raise ConnectionResetError("client went away")
        # Duplicated here, on the loop's thread, while the connection is known to be
        # open: the copy stays valid even if the loop closes the connection meanwhile.
        fd = os.dup(sock.fileno())
        if run is None:
            await loop.run_in_executor(None, _sendfile_blocking, fd, file_fd, offset, count,
                                       stall_timeout)
        else:
            handed = True
            await run(_sendfile_blocking, fd, file_fd, offset, count, stall_timeout, f)
    finally:
        if run is not None and not handed:
            await run(f.close)


async def _drained(transport: asyncio.Transport, below: int = 0) -> None:
    while transport.get_write_buffer_size() > below:
        if transport.is_closing():
            raise ConnectionResetError("client went away")
        await asyncio.sleep(0.001)


async def _copy(transport: asyncio.Transport, f: IO[bytes], offset: int, count: int) -> None:
    """For file objects without a descriptor (in-memory test backends)."""
    f.seek(offset)
    while count > 0:
        chunk = f.read(min(count, CHUNK))
        if not chunk:
            raise EOFError("the file ended before the bytes it should hold")
        if transport.is_closing():
            raise ConnectionResetError("client went away")
        transport.write(chunk)
        count -= len(chunk)
        await _drained(transport, below=4 * CHUNK)
