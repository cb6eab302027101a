"""common.threadpool: results, errors, fire-and-forget calls, cancellation, shutdown."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from common.threadpool import ThreadPool


async def test_run_returns_the_result_from_a_worker_thread() -> None:
    pool = ThreadPool(2, "t")
    try:
        name = await pool.run(lambda: threading.current_thread().name)
        assert name.startswith("t_") and name != threading.current_thread().name
        assert await pool.run(pow, 2, 10) == 1024
    finally:
        pool.shutdown()


async def test_run_raises_what_the_call_raised() -> None:
    pool = ThreadPool(1, "t")
    try:
        with pytest.raises(FileNotFoundError):
            await pool.run(open, "/nonexistent/file")
    finally:
        pool.shutdown()


async def test_calls_run_concurrently_up_to_the_worker_count() -> None:
    pool = ThreadPool(4, "t")
    try:
        start = time.monotonic()
        await asyncio.gather(*(pool.run(time.sleep, 0.2) for _ in range(4)))
        assert time.monotonic() - start < 0.6  # four at once, not 0.8 s one by one
    finally:
        pool.shutdown()


async def test_submit_runs_in_the_background_and_shutdown_waits_for_it() -> None:
    pool = ThreadPool(1, "t")
    done: list[int] = []
    pool.submit(lambda: (time.sleep(0.1), done.append(1)))
    pool.submit(lambda: 1 / 0)  # logged, and the worker carries on
    pool.submit(done.append, 2)
    pool.shutdown(wait=True)
    assert done == [1, 2]


async def test_a_cancelled_wait_drops_the_result_and_the_pool_carries_on() -> None:
    pool = ThreadPool(1, "t")
    try:
        task = asyncio.ensure_future(pool.run(time.sleep, 0.2))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await pool.run(lambda: "still serving") == "still serving"
    finally:
        pool.shutdown()


async def test_a_shut_down_pool_refuses_work() -> None:
    pool = ThreadPool(1, "t")
    pool.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        await pool.run(int)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(int)
    with pytest.raises(ValueError):
        ThreadPool(0, "none")
