"""Fixtures of the data path tests: real namespaces, bridges, nftables, dnsmasq.

The tests are synchronous; each data path runs on an event loop of its own
in a background thread (:class:`Driver`), so that a test can block on
``ping`` or ``udhcpc`` while the data path's helpers are supervised. Every
fixture removes what it made, even when the test fails, and then sweeps the
host for anything left with the test instance's tag.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from network.dataplane import DataPlane
from tests.functional.network.dataplane.guests import Guests

T = TypeVar("T")


class Driver:
    """An event loop in a thread; ``call`` runs a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 180.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def new_instance() -> str:
    return "t" + secrets.token_hex(2)[:3]


def leftovers(instance: str, run_dir: Path) -> list[str]:
    """What of ``instance`` is still on the host: namespaces, devices (root and
    in any namespace of ours), nftables tables, processes naming the run dir."""
    found = []
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"namespace {line.split()[0]}" for line in names.splitlines()
              if line.startswith(f"{instance}-")]
    links = subprocess.run(["ip", "-d", "link", "show"], capture_output=True, text=True).stdout
    found += [f"device with alias {line.split()[1]}" for line in links.splitlines()
              if line.strip().startswith(f"alias strata:{instance}:")]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    found += [line for line in tables.splitlines() if line.endswith(f"strata_{instance}")]
    found += [f"process {pid}" for pid in pids_naming(run_dir)]
    return found


def pids_naming(path: Path) -> list[int]:
    """Processes with ``path`` (a test's own temporary directory) on their command line."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(path).encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def sweep(instance: str, run_dir: Path) -> None:
    """Remove by force whatever of ``instance`` a failed test left."""
    for pid in pids_naming(run_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in names.splitlines():
        if line.startswith(f"{instance}-"):
            subprocess.run(["ip", "netns", "delete", line.split()[0]], capture_output=True)
    links = subprocess.run(["ip", "-o", "-d", "link", "show"], capture_output=True,
                           text=True).stdout
    for line in links.splitlines():
        if f"alias strata:{instance}:" in line:
            name = line.split(":")[1].strip().split("@")[0]
            subprocess.run(["ip", "link", "delete", name], capture_output=True)
    for family in ("inet", "bridge"):
        subprocess.run(["nft", "delete", "table", family, f"strata_{instance}"],
                       capture_output=True)


class Planes:
    """Data paths made by a test; each torn down (then swept) at the end."""

    def __init__(self, driver: Driver, workdir: Path) -> None:
        self.driver = driver
        self.workdir = workdir
        self.made: list[DataPlane] = []

    def new(self, instance: str | None = None, run_dir: Path | None = None) -> DataPlane:
        plane = DataPlane(instance or new_instance(), run_dir or self.workdir / "run")
        self.made.append(plane)
        return plane

    def close(self) -> None:
        for plane in self.made:
            try:
                self.driver.call(plane.teardown())
                self.driver.call(plane.close())
            finally:
                sweep(plane.instance, plane.home)


@pytest.fixture(scope="module")
def driver() -> Iterator[Driver]:
    d = Driver()
    yield d
    d.close()


@pytest.fixture(scope="module")
def planes(datapath_ready: None, driver: Driver,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planes]:
    p = Planes(driver, tmp_path_factory.mktemp("dataplane"))
    yield p
    p.close()


@pytest.fixture(scope="module")
def guests(datapath_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guests]:
    g = Guests(tmp_path_factory.mktemp("guests"))
    yield g
    g.cleanup()


class MetadataUpstream:
    """A real aiohttp server on a UNIX socket standing in for the metadata
    service; it answers with what it was asked and records the headers."""

    def __init__(self, driver: Driver, socket_path: Path) -> None:
        self.driver = driver
        self.path = socket_path
        self.requests: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append({"method": request.method, "path": request.path_qs,
                              "body": body.decode(), **dict(request.headers)})
        if request.path.endswith("/missing"):
            return web.Response(status=404, text="no such thing")
        return web.json_response({"path": request.path_qs, "instance": "i-1"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self.path)).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture(scope="module")
def metadata_upstream(driver: Driver,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadataUpstream]:
    # a short path: UNIX socket paths are limited to 107 bytes
    directory = Path(subprocess.run(["mktemp", "-d", "/tmp/mdXXXXXX"], capture_output=True,
                                    text=True, check=True).stdout.strip())
    upstream = MetadataUpstream(driver, directory / "md.sock")
    driver.call(upstream.start())
    yield upstream
    driver.call(upstream.stop())
    (directory / "md.sock").unlink(missing_ok=True)
    directory.rmdir()
