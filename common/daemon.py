"""``strata up -d`` and ``strata down``: the supervisor as a background daemon.

The daemon is ``python -m common.cli [--config PATH] up --supervise`` started
in a new session (so it is the leader of a process group holding every
service), with stdin on /dev/null and stdout/stderr appended to
``<var>/log/strata.log``. Files under ``<var>/run``:

* ``strata.pid`` -- the daemon's pid, written by the command that started it;
* ``strata.ready`` -- the daemon's pid, written by the daemon once every
  service answered its health check;
* ``strata.failed`` -- why start-up failed, written by the daemon before it
  exits, shown by the command that started it.

The pid and ready files are removed by the daemon when it exits and by ``strata down``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common.config import StrataConfig
from common.supervisor import START_TIMEOUT, STOP_TIMEOUT, tail


class DaemonError(Exception):
    """The daemon could not be started or stopped; the message says why."""


def run_dir(cfg: StrataConfig) -> Path:
    return cfg.var_path / "run"


def pid_path(cfg: StrataConfig) -> Path:
    return run_dir(cfg) / "strata.pid"


def ready_path(cfg: StrataConfig) -> Path:
    return run_dir(cfg) / "strata.ready"


def failed_path(cfg: StrataConfig) -> Path:
    return run_dir(cfg) / "strata.failed"


def log_path(cfg: StrataConfig) -> Path:
    return cfg.var_path / "log" / "strata.log"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def write_pid(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, path)


def remove_if_ours(path: Path, pid: int) -> None:
    """Remove a pid/ready file, but only when it still names ``pid``."""
    if read_pid(path) == pid:
        path.unlink(missing_ok=True)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode().split()


def process_alive(pid: int) -> bool:
    """True when ``pid`` runs (a zombie nobody reaped yet counts as gone)."""
    fields = _stat_fields(pid)
    if fields is not None:
        return fields[0] != "Z"
    if Path("/proc/self/stat").exists():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def is_supervisor(pid: int) -> bool:
    """Does ``pid`` run our daemon (and not some process that reused the pid)?"""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return process_alive(pid)  # no /proc to ask: trust the pid file
    return b"common.cli" in argv and b"--supervise" in argv


def running_pid(cfg: StrataConfig) -> int | None:
    """The pid of the running daemon, or None (a stale pid file is removed)."""
    path = pid_path(cfg)
    pid = read_pid(path)
    if pid is None:
        return None
    if process_alive(pid) and is_supervisor(pid):
        return pid
    path.unlink(missing_ok=True)
    ready_path(cfg).unlink(missing_ok=True)
    return None


def start(
    cfg: StrataConfig,
    config_arg: str | None,
    env: dict[str, str],
    timeout: float = START_TIMEOUT + 15,
) -> int:
    """Start the daemon and return its pid once every service is healthy.

    Raises :class:`DaemonError` with the tail of ``strata.log`` when the daemon
    exits first (e.g. a service did not come up) or ``timeout`` passes.
    """
    log = log_path(cfg)
    log.parent.mkdir(parents=True, exist_ok=True)
    run_dir(cfg).mkdir(parents=True, exist_ok=True)
    ready_path(cfg).unlink(missing_ok=True)
    failed_path(cfg).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "common.cli"]
    if config_arg:
        cmd += ["--config", str(Path(config_arg).resolve())]
    cmd += ["up", "--supervise"]
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(cfg.home),
            start_new_session=True,
        )
    write_pid(pid_path(cfg), proc.pid)
    deadline = time.monotonic() + timeout
    while True:
        if read_pid(ready_path(cfg)) == proc.pid:
            proc.returncode = 0  # it lives on without us; do not warn about it
            return proc.pid
        returncode = proc.poll()
        if returncode is not None:
            remove_if_ours(pid_path(cfg), proc.pid)
            try:
                reason = failed_path(cfg).read_text().rstrip()
                failed_path(cfg).unlink()
            except OSError:
                reason = (
                    f"the supervisor exited with status {returncode}; "
                    f"last lines of {log}:\n{tail(log, 40, since=offset)}"
                )
            raise DaemonError(f"could not start Strata: {reason}\n(full log: {log})")
        if time.monotonic() > deadline:
            _kill_group(proc.pid)
            proc.wait()
            remove_if_ours(pid_path(cfg), proc.pid)
            raise DaemonError(
                f"Strata did not become ready within {timeout:.0f} seconds; stopped it.\n"
                f"Last lines of {log}:\n{tail(log, 40, since=offset)}"
            )
        time.sleep(0.2)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def stop(cfg: StrataConfig, timeout: float = STOP_TIMEOUT + 10) -> int | None:
    """Stop the daemon and its services; the pid stopped, or None if none ran.

    SIGTERM to the daemon, which stops its services; whatever of its process
    group is still alive after ``timeout`` seconds is killed.
    """
    pid = running_pid(cfg)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process_alive(pid) or group_members(pid):
        if time.monotonic() > deadline:
            _kill_group(pid)
            time.sleep(0.5)
            if process_alive(pid) or group_members(pid):
                raise DaemonError(f"could not stop the Strata supervisor (pid {pid})")
            break
        time.sleep(0.1)
    pid_path(cfg).unlink(missing_ok=True)
    ready_path(cfg).unlink(missing_ok=True)
    return pid
