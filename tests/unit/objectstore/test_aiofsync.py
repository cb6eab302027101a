"""Small writes' fsyncs through the kernel's AIO, and the worker threads where it refuses."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from objectstore.aiofsync import AioFsync, Refused
from objectstore.node import NodeContext
from tests.unit.objectstore.cluster import settled


def _aio_or_skip() -> AioFsync:
    aio = AioFsync.open()
    if aio is None:
        pytest.skip("this kernel offers no native AIO fsync (Linux 4.18+, io_setup "
                    "allowed): the node fsyncs on worker threads here")
    return aio


@pytest.fixture
def files(tmp_path: Path) -> Iterator[list[int]]:
    """A written file and two directories, open."""
    (tmp_path / "d").mkdir()
    fd = os.open(tmp_path / "d" / "f", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"x" * 4096)
    fds = [fd, os.open(tmp_path / "d", os.O_RDONLY | os.O_DIRECTORY),
           os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)]
    yield fds
    for f in fds:
        os.close(f)


def _bad_fd() -> int:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    return r  # closed: no such descriptor


async def test_files_and_directories_fsync_through_the_kernel(files: list[int],
                                                               tmp_path: Path) -> None:
    aio = _aio_or_skip()
    try:
        assert await aio.probe(tmp_path)
        await aio.fsync_all(files[:1])
        await aio.fsync_all(files)
        await asyncio.gather(*(aio.fsync_all([fd]) for fd in files * 20))  # many at once
    finally:
        aio.close()


async def test_a_descriptor_the_kernel_will_not_take_is_refused(files: list[int]) -> None:
    aio = _aio_or_skip()
    r, w = os.pipe()
    try:
        with pytest.raises(Refused) as bad:
            await aio.fsync_all([_bad_fd()])
        assert bad.value.errno == errno.EBADF
        with pytest.raises(Refused) as pipe:  # a pipe has no fsync
            await aio.fsync_all([r])
        assert pipe.value.errno == errno.EINVAL
        with pytest.raises(Refused):  # the others of the call still complete
            await aio.fsync_all([files[0], r, files[1]])
        await aio.fsync_all(files)  # and the context still works
    finally:
        os.close(r)
        os.close(w)
        aio.close()


async def test_the_node_fsyncs_through_aio_and_runs_what_follows_on_a_worker(
        files: list[int], tmp_path: Path) -> None:
    _aio_or_skip().close()
    node = NodeContext(devices=tmp_path, hash_prefix=b"", hash_suffix=b"")
    ran_on: list[str] = []
    try:
        await node.sync(files, lambda: ran_on.append(threading.current_thread().name))
        assert node.fsyncs_through_aio
        assert await settled(lambda: bool(ran_on))  # soon after, not waited for
        assert ran_on[0] != threading.current_thread().name
        # a descriptor the kernel refuses goes to the threads, which say why it failed
        r, w = os.pipe()
        try:
            with pytest.raises(OSError) as pipe:
                await node.sync([files[0], r])
            assert pipe.value.errno == errno.EINVAL and not isinstance(pipe.value, Refused)
        finally:
            os.close(r)
            os.close(w)
        with pytest.raises(OSError) as bad:
            await node.sync([_bad_fd()], lambda: ran_on.append("not after a failure"))
        assert bad.value.errno == errno.EBADF and ran_on[1:] == []
    finally:
        await node.close()


async def test_what_follows_aio_fsyncs_goes_to_a_worker_in_batches(
        files: list[int], tmp_path: Path) -> None:
    """Each write's removal of the files it made obsolete used to be its own awaited
    call to a worker (with the removal, about 130 µs of a node's CPU per DELETE):
    now the writes of the last TIDY_DELAY share one call, and none waits for it."""
    _aio_or_skip().close()
    node = NodeContext(devices=tmp_path, hash_prefix=b"", hash_suffix=b"")
    awaited: list[str] = []  # calls handed to a worker and awaited
    batches: list[int] = []  # calls handed over and not awaited: removals in each
    ran: list[int] = []
    real_run, real_submit = node.executor.run, node.executor.submit

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        awaited.append(getattr(fn, "__name__", repr(fn)))
        return await real_run(fn, *args)

    def submit(fn: Callable[..., Any], *args: Any) -> None:
        batches.append(len(args[0]))
        real_submit(fn, *args)

    def fails() -> None:
        raise OSError(errno.EIO, "the disk said no")

    node.executor.run = run  # type: ignore[method-assign]
    node.executor.submit = submit  # type: ignore[method-assign]
    try:
        await node.sync(files)  # the AIO context, made and probed
        await asyncio.gather(*(node.sync(files, partial(ran.append, i)) for i in range(20)))
        assert await settled(lambda: len(ran) == 20)
        assert sorted(ran) == list(range(20)) and awaited == []
        # the old code: 20 awaited calls; here the fsyncs end together, and so do the
        # removals (a slow disk may split them across a TIDY_DELAY or two)
        assert sum(batches) == 20 and len(batches) <= 3, batches
        # a failing one is logged; the others of its batch still run
        await asyncio.gather(node.sync(files, fails), node.sync(files, partial(ran.append, 99)))
        assert await settled(lambda: 99 in ran)
        # what is still waiting when the node closes runs before its workers stop
        await node.sync(files, partial(ran.append, 100))
    finally:
        await node.close()
    assert ran[-1] == 100


async def test_the_node_uses_threads_when_aio_fsync_is_off(files: list[int],
                                                           tmp_path: Path) -> None:
    node = NodeContext(devices=tmp_path, hash_prefix=b"", hash_suffix=b"", aio_fsync=False)
    ran: list[bool] = []
    try:
        await node.sync(files, lambda: ran.append(True))
        assert ran == [True] and not node.fsyncs_through_aio
    finally:
        await node.close()


def test_a_node_moved_to_another_event_loop_gets_a_context_there(files: list[int],
                                                                 tmp_path: Path) -> None:
    node = NodeContext(devices=tmp_path, hash_prefix=b"", hash_suffix=b"")

    async def once() -> bool:
        _aio_or_skip().close()
        await node.sync(files)
        return node.fsyncs_through_aio

    assert asyncio.run(once())
    assert asyncio.run(once())  # a second loop: the first one's context is not used
    asyncio.run(node.close())
