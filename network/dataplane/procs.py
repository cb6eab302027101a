"""The long-running helpers of the data path (dnsmasq, metadata proxies):
started inside their namespace, watched, restarted when they die.

Each runs as ``ip netns exec <namespace> <argv>`` in a session of its own
(so a Ctrl-C aimed at the service does not take the data path down with
it), its output appended to a log file in the run directory. One of its
arguments always names a path inside the run directory: that is how a
restarted data path recognises (and stops) the helpers a previous one left
running, even without pid files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from network.dataplane.errors import DataPathError
from network.dataplane.links import kill_pids

log = logging.getLogger("network.dataplane")

NETNS_DIR = "/run/netns"  # where iproute2 keeps named namespaces
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 30.0  # a helper that ran this long restarts at BACKOFF_FIRST
READY_TIMEOUT = 10.0


@dataclass(frozen=True)
class ProcSpec:
    key: str  # unique among the helpers, e.g. "dhcp-<network id>"
    netns: str
    argv: tuple[str, ...]
    log_path: Path
    env: tuple[tuple[str, str], ...] = ()
    ready_fd: bool = False  # the helper writes a byte to fd 3 once it serves
    # the helper writes its pid here once it serves (dnsmasq's --pid-file: written
    # after its signal handlers and sockets are set up, so a reload is safe from then)
    pid_file: Path | None = None


class _Managed:
    def __init__(self, spec: ProcSpec, proc: asyncio.subprocess.Process) -> None:
        self.spec = spec
        self.proc = proc
        self.stopping = False
        self.task: asyncio.Task[None] | None = None


class Processes:
    """The helpers of one data path, by key."""

    def __init__(self, owner: Path) -> None:
        self.owner = owner  # every helper's command line names a path under it
        self._managed: dict[str, _Managed] = {}

    def keys(self) -> set[str]:
        return set(self._managed)

    def pid(self, key: str) -> int | None:
        managed = self._managed.get(key)
        return managed.proc.pid if managed is not None else None

    async def ensure(self, spec: ProcSpec) -> bool:
        """Start the helper unless it runs with this very spec; True when (re)started."""
        managed = self._managed.get(spec.key)
        if managed is not None and managed.spec == spec and managed.proc.returncode is None:
            return False
        if managed is not None:
            await self.stop(spec.key)
        proc = await _spawn(spec)
        managed = _Managed(spec, proc)
        self._managed[spec.key] = managed
        managed.task = asyncio.create_task(self._watch(managed), name=f"watch {spec.key}")
        return True

    def reload(self, key: str) -> None:
        """SIGHUP the helper (dnsmasq re-reads its hosts and options files)."""
        managed = self._managed.get(key)
        if managed is not None and managed.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                managed.proc.send_signal(signal.SIGHUP)

    async def stop(self, key: str) -> None:
        managed = self._managed.pop(key, None)
        if managed is None:
            return
        managed.stopping = True
        if managed.task is not None:
            managed.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await managed.task
        if managed.proc.returncode is None:
            await kill_pids([managed.proc.pid])
            with contextlib.suppress(ProcessLookupError):
                await managed.proc.wait()

    async def stop_all_except(self, keep: Iterable[str]) -> None:
        keep = set(keep)
        for key in sorted(set(self._managed) - keep):
            await self.stop(key)

    async def detach(self) -> None:
        """Stop watching; the helpers go on running (a new data path takes them over)."""
        for managed in self._managed.values():
            managed.stopping = True
            if managed.task is not None:
                managed.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await managed.task
        self._managed.clear()

    async def stop_strays(self) -> list[int]:
        """Stop helpers of this owner that this object did not start (left by a
        previous data path); returns their pids."""
        mine = {m.proc.pid for m in self._managed.values()}
        marker = str(self.owner) + os.sep
        strays = [pid for pid, argv in _processes() if pid not in mine and pid != os.getpid()
                  and any(marker in arg for arg in argv)]
        if strays:
            log.info("data path: stopping %d helper(s) of a previous run", len(strays))
            await kill_pids(strays)
        return strays

    async def _watch(self, managed: _Managed) -> None:
        backoff = BACKOFF_FIRST
        loop = asyncio.get_running_loop()
        spec = managed.spec
        while True:
            started = loop.time()
            code = await managed.proc.wait()
            if managed.stopping:
                return
            if loop.time() - started > STABLE_AFTER:
                backoff = BACKOFF_FIRST
            why = f"exited with status {code} ({_last_line(spec.log_path)})"
            while True:
                if not await asyncio.to_thread(namespace_exists, spec.netns):
                    # removed under it (by hand, or with its processes by another data
                    # path of this instance): "ip netns exec" could only fail (status
                    # 255). The next pass makes the namespace again, and the helper too.
                    log.warning("data path: %s %s; its namespace %s is gone, so it is not "
                                "restarted", spec.key, why, spec.netns)
                    return
                log.warning("data path: %s %s; restarting in %.1fs", spec.key, why, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                try:
                    managed.proc = await _spawn(spec)
                    break
                except DataPathError as exc:
                    why = f"did not start again: {exc}"


def namespace_exists(netns: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, netns))


def _last_line(path: Path) -> str:
    """The last line a helper wrote to its log (why it exited, usually)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 400))
            lines = fh.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "nothing logged"


def _processes() -> list[tuple[int, list[str]]]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        out.append((int(entry), [a.decode(errors="replace") for a in raw.split(b"\0") if a]))
    return out


async def _spawn(spec: ProcSpec) -> asyncio.subprocess.Process:
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(dict(spec.env))
    argv = list(spec.argv)
    read_fd = write_fd = -1
    if spec.ready_fd:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        argv += ["--ready-fd", str(write_fd)]
    if spec.pid_file is not None:
        spec.pid_file.unlink(missing_ok=True)  # a previous run's
    try:
        with open(spec.log_path, "ab") as logfile:  # noqa: ASYNC230 (a local file, opening)
            try:
                proc = await asyncio.create_subprocess_exec(
                    "ip", "netns", "exec", spec.netns, *argv,
                    stdin=asyncio.subprocess.DEVNULL, stdout=logfile, stderr=logfile,
                    start_new_session=True, env=env,
                    pass_fds=(write_fd,) if spec.ready_fd else ())
            except OSError as exc:
                raise DataPathError(f"cannot start {spec.argv[0]}: {exc.strerror}") from None
        try:
            if spec.ready_fd:
                os.close(write_fd)
                write_fd = -1
                await _wait_ready(spec, proc, read_fd)
            if spec.pid_file is not None:
                await _wait_pid_file(spec, proc, spec.pid_file)
        except BaseException:
            # not ready (or the caller gave up waiting): it must not run on unwatched
            await _end(proc)
            raise
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
    return proc


async def _wait_ready(spec: ProcSpec, proc: asyncio.subprocess.Process, fd: int) -> None:
    """Wait for the helper's ready byte; a helper that exits (its end of the
    pipe closes: end of file) or stays silent fails."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()
    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, wake)
    data = b""
    try:
        await asyncio.wait_for(readable, READY_TIMEOUT)
        data = os.read(fd, 1)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(fd)
    if data:
        return
    _not_started(spec)


async def _wait_pid_file(spec: ProcSpec, proc: asyncio.subprocess.Process, path: Path) -> None:
    """Wait until the helper wrote its pid to ``path`` (it runs in place of ``ip netns
    exec``, so the pid is the process's); one that exits or stays silent fails."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    delay = 0.005
    while proc.returncode is None and loop.time() < deadline:
        if _read_pid(path) == proc.pid:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
    _not_started(spec)


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        await kill_pids([proc.pid])
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()


def _not_started(spec: ProcSpec) -> NoReturn:
    tail = ""
    with contextlib.suppress(OSError):
        tail = spec.log_path.read_text(errors="replace")[-800:].strip()
    raise DataPathError(f"{spec.key} did not start ({' '.join(spec.argv[:3])}...): {tail}")


def python_argv(module: str, *args: str) -> tuple[str, ...]:
    """This interpreter running ``module``."""
    return (sys.executable, "-m", module, *args)
