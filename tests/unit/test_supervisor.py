"""The supervisor, daemon helpers, openrc files, package checks and the CLI registry.

Real processes throughout: a tiny stand-in service (an http.server in a module
written to a temp dir) plays the part of a Strata service.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from common import daemon, debpkg
from common.cli import build_parser, discover
from common.commands.testing import run_steps
from common.config import StrataConfig
from common.health import probe
from common.openrc import write_openrc_files
from common.services import ServiceSpec, all_services
from common.supervisor import StartupError, Supervisor, describe_exit, tail
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]

FAKE_SERVICE = textwrap.dedent(
    """
    import http.server, os, signal, sys, time

    mode = os.environ.get("FAKE_MODE", "serve")
    print(f"fake starting in mode {mode}", flush=True)
    if mode == "fail":
        print("boom: cannot start", flush=True)
        sys.exit(3)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "silent":
        time.sleep(600)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, fmt, *args):
            print("fake request", fmt % args, flush=True)

    port = int(os.environ["STRATA_IDENTITY_PORT"])
    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()
    """
)

FAKE = ServiceSpec(name="fake", module="fakesvc", section="identity")


def make_supervisor(
    tmp_path: Path, mode: str, **kwargs: float
) -> tuple[Supervisor, StrataConfig]:
    moddir = tmp_path / "mods"
    moddir.mkdir(exist_ok=True)
    (moddir / "fakesvc.py").write_text(FAKE_SERVICE)
    cfg = StrataConfig(home=tmp_path)
    cfg.identity.port = free_port()
    env = dict(os.environ, PYTHONPATH=str(moddir), FAKE_MODE=mode,
               STRATA_IDENTITY_PORT=str(cfg.identity.port))
    out = (tmp_path / "supervisor.out").open("w")
    return Supervisor(cfg, [FAKE], env, out=out, **kwargs), cfg


async def test_child_that_exits_during_startup_is_named_with_log_tail(tmp_path: Path) -> None:
    sup, cfg = make_supervisor(tmp_path, "fail")
    with pytest.raises(StartupError) as info:
        await sup.run()
    message = str(info.value)
    assert message.startswith("fake exited with status 3 while starting")
    assert "boom: cannot start" in message
    assert "boom: cannot start" in (cfg.var_path / "log" / "fake.log").read_text()


async def test_child_that_never_answers_times_out(tmp_path: Path) -> None:
    sup, _ = make_supervisor(tmp_path, "silent", start_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(StartupError, match=r"fake did not answer http://127\.0\.0\.1:\d+/"):
        await sup.run()
    assert time.monotonic() - started < 15
    assert sup.children[0].proc is not None
    assert sup.children[0].proc.returncode is not None  # stopped on the way out


async def test_restarts_a_dead_child_then_stops_cleanly(tmp_path: Path) -> None:
    sup, cfg = make_supervisor(tmp_path, "serve")
    ready = asyncio.Event()
    task = asyncio.create_task(sup.run(on_ready=ready.set))
    await asyncio.wait_for(ready.wait(), 30)
    child = sup.children[0]
    assert child.proc is not None
    first = child.proc.pid
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not (child.proc.pid != first and await asyncio.to_thread(probe, FAKE.health_url(cfg))):
        assert time.monotonic() < deadline, "the child was not restarted"
        await asyncio.sleep(0.1)
    assert child.restarts == 1
    second = child.proc.pid
    sup.request_stop()
    assert await asyncio.wait_for(task, 30) == 0
    assert child.proc.returncode is not None
    assert not daemon.process_alive(second)
    output = (tmp_path / "supervisor.out").read_text()
    assert "was killed by SIGKILL" in output and "restarting in 1s" in output
    assert "fake   | fake starting in mode serve" in output
    log = (cfg.var_path / "log" / "fake.log").read_text()
    assert log.count("fake starting in mode serve") == 2


async def test_a_child_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    sup, _ = make_supervisor(tmp_path, "stubborn", stop_timeout=1.0)
    ready = asyncio.Event()
    task = asyncio.create_task(sup.run(on_ready=ready.set))
    await asyncio.wait_for(ready.wait(), 30)
    sup.request_stop()
    assert await asyncio.wait_for(task, 30) == 0
    proc = sup.children[0].proc
    assert proc is not None and proc.returncode == -signal.SIGKILL


def test_tail_and_describe_exit(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3) == "line 97\nline 98\nline 99"
    assert tail(tmp_path / "missing.log") == ""
    assert describe_exit(2) == "exited with status 2"
    assert describe_exit(-signal.SIGTERM) == "was killed by SIGTERM"


def test_zombie_counts_as_dead() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while daemon.process_alive(proc.pid):  # exited but not reaped yet: a zombie
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.wait()
    assert daemon.process_alive(os.getpid())


def test_openrc_files(tmp_path: Path) -> None:
    cfg = StrataConfig(home=tmp_path)
    cfg.secrets = {"admin_password": "adm 'pw", "demo_password": "demopw"}
    admin, demo = write_openrc_files(cfg)
    for path in (admin, demo):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = admin.read_text()
    assert "export OS_AUTH_URL=http://127.0.0.1:5000/v3\n" in text
    assert "export OS_USERNAME=admin\n" in text
    assert "export OS_REGION_NAME=RegionOne\n" in text
    # Sourcing it gives back exactly the values.
    shown = subprocess.run(
        ["bash", "-c", f". {admin} && printf '%s|%s|%s' \"$OS_PASSWORD\" "
         "\"$OS_PROJECT_NAME\" \"$OS_IDENTITY_API_VERSION\""],
        capture_output=True, text=True, check=True,
    ).stdout
    assert shown == "adm 'pw|admin|3"
    assert "OS_USERNAME=demo\n" in demo.read_text()
    cfg.identity.demo_user = ""
    assert write_openrc_files(cfg) == [admin]
    assert not demo.exists()


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="not a Debian system")
def test_dpkg_check() -> None:
    assert debpkg.missing(["dpkg", "dpkg"]) == []
    assert debpkg.missing(["strata-no-such-package"]) == ["strata-no-such-package"]
    assert debpkg.ensure([], "nothing") == []
    assert debpkg.ensure(["dpkg"], "already there") == []


def test_services_declare_debian_packages() -> None:
    specs = all_services(StrataConfig())
    assert [s.name for s in specs] == ["identity", "storage-1", "storage-2", "storage-3",
                                       "proxy", "imagestore", "blockstore", "network",
                                       "compute", "ec2"]
    # compute stays off until its API exists; its entry installs and starts libvirt.
    compute = specs[-2]
    assert not compute.enabled(StrataConfig())
    assert "libvirt-daemon-system" in compute.debian_packages
    assert compute.prepare == "compute.host:prepare"
    for spec in specs:
        assert isinstance(spec.debian_packages, tuple)
    ports = [s.health_url(StrataConfig()) for s in specs]
    assert len(set(ports)) == len(ports)


def test_pytest_collecting_nothing_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    results = run_steps(
        [("ok", [sys.executable, "-c", "pass"]),
         ("pytest", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                     str(tmp_path / "empty")])],
        cwd=tmp_path,
    )
    assert results == [("ok", 0), ("pytest", 5)]


def test_command_registry() -> None:
    commands = discover()
    names = [c.name for c in commands]
    assert {"up", "down", "status", "test"} <= set(names)
    assert len(names) == len(set(names))
    for cmd in commands:
        assert cmd.description and cmd.examples, cmd.name
    parser = build_parser(commands)
    args = parser.parse_args(["--config", "x.toml", "up", "-d"])
    assert args.config == "x.toml" and args.detach
    args = parser.parse_args(["status", "--config", "y.toml"])
    assert args.config == "y.toml"


def test_bootstrap_script_is_executable_bash() -> None:
    script = REPO / "strata"
    assert script.stat().st_mode & stat.S_IXUSR
    assert script.read_text().splitlines()[0] in ("#!/usr/bin/env bash", "#!/bin/bash")
    ci = REPO / ".ci" / "run"
    assert ci.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in ci.read_text()
    for path in (script, ci):
        subprocess.run(["bash", "-n", str(path)], check=True)
