"""What the networking service's tests share: ``datapath_ready``, which skips (with
the reason) a test of the host data path where it cannot run, and fails it under CI."""

from __future__ import annotations

import asyncio
import os

import pytest

from network.dataplane import check


def _missing_reason() -> str | None:
    if os.geteuid() != 0:
        return "the data path tests need root"
    result = asyncio.run(check())
    return None if result.ok else result.message()


@pytest.fixture(scope="session")
def datapath_ready() -> None:
    reason = _missing_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the data path is required under CI: {reason}", pytrace=False)
    pytest.skip(f"data path tests skipped: {reason}")
