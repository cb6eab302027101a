"""The ``strata`` command end to end: real supervisor, real identity service."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from common.daemon import group_members, process_alive
from common.health import probe
from tests.conftest import strata_ports

REPO = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("strata")
STRATA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "common.cli"]

OPENRC_KEYS = (
    "OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME",
    "OS_PROJECT_DOMAIN_NAME", "OS_IDENTITY_API_VERSION", "OS_REGION_NAME", "OS_INTERFACE",
)


def strata(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STRATA, *args], env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )


def var(env: dict[str, str]) -> Path:
    return Path(env["STRATA_HOME"]) / "var"


def identity_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['STRATA_IDENTITY_PORT']}"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def kill_leftovers(env: dict[str, str]) -> None:
    """Last resort after a failed test: kill the daemon's process group."""
    pidfile = var(env) / "run" / "strata.pid"
    with contextlib.suppress(OSError, ValueError):
        os.killpg(int(pidfile.read_text()), signal.SIGKILL)


def read_openrc(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["bash", "-c", f'. "{path}" && env -0'], capture_output=True, check=True
    ).stdout.decode()
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("OS_")}


@pytest.fixture
def detached(strata_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``strata_env``, with ``strata down`` (and a kill) after the test."""
    yield strata_env
    strata("down", env=strata_env)
    kill_leftovers(strata_env)


def test_help() -> None:
    env = dict(os.environ)
    top = strata("--help", env=env)
    assert top.returncode == 0
    for name in ("up", "down", "status", "test"):
        assert name in top.stdout
        sub = strata(name, "--help", env=env)
        assert sub.returncode == 0, sub.stderr
        assert f"usage: strata {name}" in sub.stdout and "examples:" in sub.stdout


def test_no_command_or_unknown_option_is_a_usage_error(strata_env: dict[str, str]) -> None:
    assert strata(env=strata_env).returncode == 2
    result = strata("status", "--bogus", env=strata_env)
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[identity\nport = 1\n", "not valid TOML"),
        ("[identity]\nprot = 5000\n", "unknown option 'prot'"),
        ("[identity]\ntoken_expiration = 'long'\n", "expected an integer"),
    ],
)
def test_bad_config_is_exit_2_with_message(
    strata_env: dict[str, str], tmp_path: Path, text: str, expected: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    for args in (("--config", str(cfg), "status"), ("up", "-d", "--config", str(cfg))):
        result = strata(*args, env=strata_env)
        assert result.returncode == 2, result
        assert "strata: configuration error:" in result.stderr and expected in result.stderr
        assert "Traceback" not in result.stderr
    missing = strata("--config", str(tmp_path / "nope.toml"), "status", env=strata_env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_up_detached_status_down(detached: dict[str, str]) -> None:
    env = detached
    port = int(env["STRATA_IDENTITY_PORT"])
    up = strata("up", "-d", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "source" in up.stdout and "openstack token issue" in up.stdout
    assert "openstack ec2 credentials create" in up.stdout  # how to get an S3 key
    assert identity_url(env) in up.stdout

    status = strata("status", env=env)
    assert status.returncode == 0, status.stdout
    line = next(ln for ln in status.stdout.splitlines() if "identity" in ln)
    assert " up " in line and identity_url(env) in line

    for name, user, project in (("openrc", "admin", "admin"), ("demo-openrc", "demo", "demo")):
        path = var(env) / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        values = read_openrc(path)
        assert set(OPENRC_KEYS) <= set(values)
        assert values["OS_AUTH_URL"] == identity_url(env) + "/v3"
        assert values["OS_USERNAME"] == user and values["OS_PROJECT_NAME"] == project
        assert values["OS_IDENTITY_API_VERSION"] == "3" and values["OS_INTERFACE"] == "public"
        assert values["OS_PASSWORD"]
    assert stat.S_IMODE((var(env) / "secrets.json").stat().st_mode) == 0o600
    assert (var(env) / "log" / "identity.log").stat().st_size > 0
    pid = int((var(env) / "run" / "strata.pid").read_text())

    again = strata("up", "-d", env=env)
    assert again.returncode == 0 and f"already running (supervisor pid {pid})" in again.stdout

    down = strata("down", env=env)
    assert down.returncode == 0 and f"pid {pid}" in down.stdout
    assert not port_open(port)
    assert not (var(env) / "run" / "strata.pid").exists()
    assert not process_alive(pid) and not group_members(pid)
    after = strata("status", env=env)
    assert after.returncode == 3 and "DOWN" in after.stdout


def test_down_when_nothing_runs(strata_env: dict[str, str]) -> None:
    result = strata("down", env=strata_env)
    assert result.returncode == 0 and "not running" in result.stdout


def test_foreground_up_stops_on_sigint(strata_env: dict[str, str]) -> None:
    env = strata_env
    proc = subprocess.Popen(
        [*STRATA, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not probe(identity_url(env) + "/healthcheck"):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "identity did not come up"
            time.sleep(0.2)
        deadline = time.monotonic() + 10
        while not (var(env) / "openrc").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out
    assert "Strata is up" in out and "Press Ctrl-C" in out
    assert re.search(r"^identity +\| ", out, re.M) and re.search(r"^strata +\| ", out, re.M)
    assert "all services stopped" in out
    assert not port_open(int(env["STRATA_IDENTITY_PORT"]))
    assert "identity" in (var(env) / "log" / "identity.log").read_text()


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
def test_service_that_cannot_start_is_named(detached: dict[str, str], detach: bool) -> None:
    env = detached
    port = int(env["STRATA_IDENTITY_PORT"])
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = strata("up", *(["-d"] if detach else []), env=env)
    assert result.returncode == 1, result
    assert "could not start Strata: identity exited with status 1 while starting" in (
        result.stderr
    )
    assert "address already in use" in result.stderr
    assert not (var(env) / "run" / "strata.pid").exists()


def test_bootstrap_script_runs_status(tmp_path: Path) -> None:
    """``./strata`` from another directory: bootstrap (already installed), then the CLI."""
    stamp = REPO / ".venv" / ".strata-installed"
    before = stamp.stat().st_mtime_ns if stamp.exists() else None
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    ports = strata_ports()
    port = ports["STRATA_IDENTITY_PORT"]
    env.update(STRATA_VAR_DIR=str(tmp_path / "var"), **ports)
    started = time.monotonic()
    result = subprocess.run(
        [str(REPO / "strata"), "status"], env=env, cwd=tmp_path, capture_output=True,
        text=True, timeout=600, check=False,
    )
    assert result.returncode == 3, result
    assert re.search(rf"identity +DOWN +http://127.0.0.1:{port}\n", result.stdout)
    assert (tmp_path / "var" / "secrets.json").exists()
    if before is not None and stamp.stat().st_mtime_ns == before:
        assert "installing" not in result.stderr
        assert time.monotonic() - started < 30


def _osc(openrc: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "STRATA_"))}
    env.update(openrc)
    osc = str(Path(sys.executable).with_name("openstack"))
    return subprocess.run([osc, *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_openrc_drives_the_openstack_cli_and_data_survives_restart(
        detached: dict[str, str]) -> None:
    """The issue's acceptance run: up -d, source var/openrc, openstack …, down, up -d."""
    env = detached
    assert strata("up", "-d", env=env).returncode == 0
    admin = read_openrc(var(env) / "openrc")
    demo = read_openrc(var(env) / "demo-openrc")

    def ok(openrc: dict[str, str], *args: str) -> str:
        proc = _osc(openrc, *args)
        assert proc.returncode == 0, f"openstack {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    token = ok(admin, "token", "issue", "-f", "value", "-c", "id").strip()
    catalog = ok(admin, "catalog", "list", "-f", "value", "-c", "Type").split()
    assert {"identity", "object-store", "s3", "network"} <= set(catalog)
    ok(admin, "project", "create", "kept")
    ok(admin, "user", "create", "--password", "carol-pw", "carol")
    ok(admin, "role", "add", "--user", "carol", "--project", "kept", "member")
    assert "carol" in ok(admin, "role", "assignment", "list", "--names")
    carol = {**admin, "OS_USERNAME": "carol", "OS_PASSWORD": "carol-pw",
             "OS_PROJECT_NAME": "kept"}
    access = ok(carol, "ec2", "credentials", "create", "-f", "value", "-c", "access").strip()
    assert ok(demo, "token", "issue", "-f", "value", "-c", "id").strip()
    denied = _osc(demo, "user", "create", "--password", "x", "mallory")
    assert denied.returncode != 0 and "403" in denied.stderr

    assert strata("down", env=env).returncode == 0
    assert strata("up", "-d", env=env).returncode == 0
    # the same passwords, project, grant, credential, and even the token still hold
    assert read_openrc(var(env) / "openrc") == admin
    assert "kept" in ok(admin, "project", "list")
    assert ok(carol, "token", "issue", "-f", "value", "-c", "project_id").strip()
    assert access in ok(carol, "ec2", "credentials", "list")
    r = requests.get(admin["OS_AUTH_URL"] + "/auth/tokens",
                     headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=30)
    assert r.status_code == 200
    ok(admin, "token", "revoke", token)
    r = requests.get(admin["OS_AUTH_URL"] + "/projects", headers={"X-Auth-Token": token},
                     timeout=30)
    assert r.status_code == 401
