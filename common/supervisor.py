"""The process supervisor behind ``strata up``.

It starts every enabled service as a child ``python -m <module>`` (same
interpreter), streams each child's output line by line to its own output with
the service name as prefix and appends it to ``<var>/log/<service>.log``, waits
until every health URL answers 200, and then watches: a child that dies is
reported loudly and restarted with exponential backoff. SIGINT or SIGTERM stop
it: children get SIGTERM, then SIGKILL after ``stop_timeout`` seconds.

Start-up is strict: a child that exits, or does not become healthy within
``start_timeout`` seconds, makes :meth:`Supervisor.run` raise
:class:`StartupError`, naming the service and quoting the tail of its log.
The exception is an *optional* service (``ServiceSpec.optional``: compute, which
a host without libvirt cannot run): it is reported DOWN with the reason (the last
line of its log), the reason is kept in ``<var>/run/<service>.down`` for
``strata status``, it is not restarted, and the rest of the cloud goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from common.config import StrataConfig
from common.health import probe
from common.services import ServiceSpec

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0  # a child that ran this long before dying restarts at BACKOFF_FIRST
LINE_LIMIT = 1 << 20


class StartupError(Exception):
    """A service did not come up; the message names it and quotes its log."""

    def __init__(
        self, service: str, reason: str, log_path: Path | None = None, since: int = 0
    ) -> None:
        self.service = service
        self.reason = reason
        self.log_path = log_path
        message = f"{service} {reason}"
        if log_path is not None:
            excerpt = tail(log_path, since=since)
            if excerpt:
                indented = "\n".join("    " + line for line in excerpt.splitlines())
                message += f"\n  last lines of {log_path}:\n{indented}"
            else:
                message += f" ({log_path} is empty)"
        super().__init__(message)


def tail(path: Path, lines: int = 20, since: int = 0) -> str:
    """The last ``lines`` lines of ``path`` (from byte ``since`` on), '' if none."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(since, size - 64 * 1024))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def down_path(cfg: StrataConfig, service: str) -> Path:
    """Where the supervisor keeps why an optional service could not start."""
    return cfg.var_path / "run" / f"{service}.down"


def down_reason(cfg: StrataConfig, service: str) -> str | None:
    """Why the optional ``service`` is DOWN, when the supervisor recorded it."""
    try:
        return down_path(cfg, service).read_text().strip() or None
    except OSError:
        return None


def last_line(path: Path, since: int = 0) -> str:
    """The last non-empty line ``path`` got from byte ``since`` on ('' if none)."""
    lines = [ln.strip() for ln in tail(path, 20, since).splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def child_env(cfg: StrataConfig, config_path: str | None) -> dict[str, str]:
    """The environment of every service: ours, plus where Strata lives."""
    env = dict(os.environ)
    env["STRATA_HOME"] = str(cfg.home)
    if config_path:
        env["STRATA_CONFIG"] = str(Path(config_path).resolve())
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Child:
    spec: ServiceSpec
    log_path: Path
    proc: asyncio.subprocess.Process | None = None
    pump: asyncio.Task[None] | None = None
    started: float = 0.0
    log_offset: int = 0  # size of the log when the current process started
    restarts: int = 0
    backoff: float = BACKOFF_FIRST
    down: str | None = None  # why an optional service is not running


class Supervisor:
    """Runs ``specs`` until asked to stop. One instance per ``strata up``."""

    def __init__(
        self,
        cfg: StrataConfig,
        specs: Sequence[ServiceSpec],
        env: Mapping[str, str],
        out: TextIO | None = None,
        start_timeout: float = START_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.cfg = cfg
        self.env = dict(env)
        self.out = out if out is not None else sys.stdout
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        log_dir = cfg.var_path / "log"
        self.children = [Child(spec, log_dir / f"{spec.name}.log") for spec in specs]
        self.width = max([len(s.name) for s in specs] + [len("strata")])
        self.stopping = asyncio.Event()

    # -- output ------------------------------------------------------------

    def emit(self, name: str, text: str) -> None:
        try:
            self.out.write(f"{name:<{self.width}} | {text}\n")
            self.out.flush()
        except (OSError, ValueError):
            pass  # our own output went away (closed terminal); keep supervising

    def say(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        for line in text.splitlines() or [""]:
            self.emit("strata", f"{stamp} {line}")

    # -- lifecycle -----------------------------------------------------------

    def request_stop(self) -> None:
        if not self.stopping.is_set():
            self.say("stop requested; stopping services")
        self.stopping.set()

    async def run(self, on_ready: Callable[[], None] | None = None) -> int:
        """Start, wait for health, call ``on_ready``, supervise until stopped.

        Returns 0 after a requested stop; raises :class:`StartupError`.
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        watchers: list[asyncio.Task[None]] = []
        try:
            await self._check_ports_free()
            for child in self.children:
                await self._spawn(child)
            if not await self._wait_healthy():
                return 0
            if on_ready is not None:
                on_ready()
            watchers = [asyncio.create_task(self._watch(c)) for c in self.children
                        if c.down is None]
            await self.stopping.wait()
            return 0
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await self.stop_all()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _check_ports_free(self) -> None:
        for child in self.children:
            url = child.spec.health_url(self.cfg)
            if await asyncio.to_thread(probe, url, 1.0):
                raise StartupError(
                    child.spec.name,
                    f"cannot start: something already answers at {url} "
                    "(is Strata already running? see `strata status`, `strata down`)",
                )

    async def _spawn(self, child: Child) -> None:
        child.log_path.parent.mkdir(parents=True, exist_ok=True)
        child.down = None
        down_path(self.cfg, child.spec.name).unlink(missing_ok=True)
        child.log_offset = child.log_path.stat().st_size if child.log_path.exists() else 0
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", child.spec.module, *child.spec.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.env,
            cwd=str(self.cfg.home),
            limit=LINE_LIMIT,
        )
        child.proc = proc
        child.started = time.monotonic()
        child.pump = asyncio.create_task(self._pump(child, proc))
        self.say(f"started {child.spec.name} (pid {proc.pid}), log {child.log_path}")

    async def _pump(self, child: Child, proc: asyncio.subprocess.Process) -> None:
        """Copy the child's output to its log file and, prefixed, to ours.

        Whatever output is waiting is handled in one go (one write and one
        flush per chunk, not per line): a busy service logs a line per request.
        """
        assert proc.stdout is not None
        pending = b""
        with child.log_path.open("ab") as log:
            while True:
                chunk = await proc.stdout.read(1 << 16)
                if not chunk:
                    if pending:
                        self._copy(child, log, pending + b"\n")
                    return
                pending += chunk
                cut = pending.rfind(b"\n") + 1
                if cut:
                    self._copy(child, log, pending[:cut])
                    pending = pending[cut:]
                if len(pending) > LINE_LIMIT:  # a runaway line: pass it on as it is
                    self._copy(child, log, pending + b"\n")
                    pending = b""

    def _copy(self, child: Child, log: BinaryIO, lines: bytes) -> None:
        log.write(lines)
        log.flush()
        text = lines.decode("utf-8", errors="replace")
        prefix = f"{child.spec.name:<{self.width}} | "
        try:
            self.out.write("".join(prefix + line + "\n" for line in text.splitlines()))
            self.out.flush()
        except (OSError, ValueError):
            pass  # our own output went away (closed terminal); keep supervising

    async def _drain(self, child: Child) -> None:
        if child.pump is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(child.pump), 5.0)

    async def _wait_healthy(self) -> bool:
        """True once every child answers its health URL; False if a stop came first."""
        deadline = time.monotonic() + self.start_timeout
        pending = list(self.children)
        while pending:
            for child in list(pending):
                assert child.proc is not None
                if child.proc.returncode is not None:
                    await self._drain(child)
                    if child.spec.optional:
                        why = last_line(child.log_path, child.log_offset)
                        self._mark_down(child, f"{describe_exit(child.proc.returncode)} "
                                               f"while starting" + (f": {why}" if why else ""))
                        pending.remove(child)
                        continue
                    raise StartupError(
                        child.spec.name,
                        f"{describe_exit(child.proc.returncode)} while starting",
                        child.log_path,
                        child.log_offset,
                    )
                if await asyncio.to_thread(probe, child.spec.health_url(self.cfg)):
                    pending.remove(child)
                    self.say(f"{child.spec.name} is up at {child.spec.base_url(self.cfg)}")
            if not pending:
                break
            if time.monotonic() > deadline:
                for child in [c for c in pending if c.spec.optional]:
                    await self._stop([child])
                    self._mark_down(child, f"did not answer {child.spec.health_url(self.cfg)} "
                                           f"within {self.start_timeout:.0f} seconds")
                    pending.remove(child)
                if not pending:
                    break
                child = pending[0]
                raise StartupError(
                    child.spec.name,
                    f"did not answer {child.spec.health_url(self.cfg)} within "
                    f"{self.start_timeout:.0f} seconds",
                    child.log_path,
                    child.log_offset,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.2)
            if self.stopping.is_set():
                return False
        return True

    def _mark_down(self, child: Child, reason: str) -> None:
        """An optional service could not start: say why, keep the reason for ``strata
        status``, and go on without it."""
        child.down = reason
        path = down_path(self.cfg, child.spec.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(reason + "\n")
        self.say(f"{child.spec.name} is DOWN ({reason}); it is optional, so the other "
                 f"services go on without it (log {child.log_path})")

    async def _watch(self, child: Child) -> None:
        """Restart ``child`` whenever it dies, with backoff, until we stop."""
        while True:
            assert child.proc is not None
            returncode = await child.proc.wait()
            await self._drain(child)
            if self.stopping.is_set():
                return
            ran = time.monotonic() - child.started
            if ran >= STABLE_AFTER:
                child.backoff = BACKOFF_FIRST
            delay = child.backoff
            child.backoff = min(child.backoff * 2, BACKOFF_MAX)
            child.restarts += 1
            self.say(
                f"*** {child.spec.name} (pid {child.proc.pid}) {describe_exit(returncode)} "
                f"after {ran:.1f}s; restarting in {delay:.0f}s "
                f"(restart #{child.restarts}) ***"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                return
            await self._spawn(child)

    async def stop_all(self) -> None:
        """SIGTERM every running child, SIGKILL those still there after the timeout."""
        running = await self._stop(self.children)
        for child in self.children:
            await self._drain(child)
        if running:
            self.say("all services stopped")

    async def _stop(self, children: Sequence[Child]) -> list[Child]:
        """SIGTERM ``children`` that run, SIGKILL those still there after the timeout;
        the ones that were running."""
        running = [
            c for c in children if c.proc is not None and c.proc.returncode is None
        ]
        for child in running:
            assert child.proc is not None
            self.say(f"stopping {child.spec.name} (pid {child.proc.pid})")
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            assert child.proc is not None
            try:
                await asyncio.wait_for(
                    child.proc.wait(), max(0.1, deadline - time.monotonic())
                )
            except TimeoutError:
                self.say(
                    f"{child.spec.name} did not stop within {self.stop_timeout:.0f}s; killing it"
                )
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                await child.proc.wait()
        return running
