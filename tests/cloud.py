"""A real private Strata for functional tests: ``strata up -d`` on free ports in a
home of its own, ``strata down`` afterwards (whether the tests passed or not).

Each service's tests build their fixture on :func:`running_strata` and extend
:class:`Cloud` with what they need (users, API helpers).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import strata_ports

_SCRIPT = Path(sys.executable).with_name("strata")
STRATA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "common.cli"]
# Fast password hashing and a small ring: test instances start in seconds. The network
# data path stays off (no bridges, namespaces or nftables rules) unless a test asks, and
# so does the dashboard (one process less to start; its own tests turn it on).
TEST_SETTINGS = {
    "STRATA_IDENTITY_PASSWORD_HASH_TIME_COST": "1",
    "STRATA_IDENTITY_PASSWORD_HASH_MEMORY_KIB": "8192",
    "STRATA_OBJECTSTORE_PART_POWER": "6",
    "STRATA_NETWORK_DATAPLANE": "false",
    "STRATA_DASHBOARD_ENABLED": "false",
    # compute (libvirt, an agent) only in the clouds of the tests that ask for it
    "STRATA_COMPUTE_ENABLED": "false",
    "STRATA_COMPUTE_VIRT_TYPE": "qemu",
}


def strata(*args: str, env: dict[str, str], timeout: float = 180) -> \
        subprocess.CompletedProcess[str]:
    return subprocess.run([*STRATA, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def read_openrc(path: Path) -> dict[str, str]:
    """The ``OS_*`` variables a user gets from ``source <path>``."""
    out = subprocess.run(
        ["bash", "-c", f'. "{path}" && env -0'], capture_output=True, check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    ).stdout.decode()
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("OS_")}


def kill_leftovers(var: Path) -> None:
    """SIGKILL whatever a failed ``up``/``down`` left behind (the supervisor's group)."""
    with contextlib.suppress(OSError, ValueError):
        os.killpg(int((var / "run" / "strata.pid").read_text()), signal.SIGKILL)


@dataclass
class Cloud:
    """A running private Strata, known by the environment its commands ran with."""

    env: dict[str, str]

    @property
    def home(self) -> Path:
        return Path(self.env["STRATA_HOME"])

    @property
    def var(self) -> Path:
        return self.home / "var"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.env[f'STRATA_{service.upper()}_PORT']}"

    @property
    def proxy_url(self) -> str:
        return self.url("proxy")

    @property
    def identity_url(self) -> str:
        return self.url("identity")

    @property
    def secrets(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.var / "secrets.json").read_text())
        return data

    def service_pids(self, module: str) -> list[int]:
        """The processes of this cloud running ``python -m <module>`` (the
        supervisor's process group, whose leader's pid ``up`` wrote down)."""
        group = int((self.var / "run" / "strata.pid").read_text())
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
                if os.getpgid(int(entry.name)) != group:
                    continue
            except OSError:  # gone meanwhile
                continue
            if any(a == b"-m" and b == module.encode() for a, b in itertools.pairwise(args)):
                pids.append(int(entry.name))
        return pids

    def login(self, user: str, password: str, project: str) -> tuple[str, str]:
        """(token, project id) of a password login scoped to ``project``."""
        r = requests.post(self.identity_url + "/v3/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]


@contextlib.contextmanager
def running_strata(tmp: pytest.TempPathFactory, prefix: str,
                   **settings: str) -> Iterator[dict[str, str]]:
    """The environment of a private ``strata up -d`` with ``settings``; down afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    env.update(TEST_SETTINGS, **settings)
    try:
        for attempt in range(3):
            # a port free when chosen may be taken (e.g. as some connection's
            # ephemeral port) before the service binds it: then try new ports,
            # in a new home (the rings built at first start name the ports)
            env.update(strata_ports(), STRATA_HOME=str(tmp.mktemp(prefix)))
            var = Path(env["STRATA_HOME"]) / "var"
            up = strata("up", "-d", env=env)
            if up.returncode == 0:
                break
            strata("down", env=env)
            kill_leftovers(var)
            if "address already in use" not in up.stderr or attempt == 2:
                log = var / "log" / "strata.log"
                tail = log.read_text()[-4000:] if log.exists() else ""
                pytest.fail(f"strata up -d failed ({up.returncode}):\n{up.stdout}{up.stderr}"
                            f"\n{tail}", pytrace=False)
        yield env
    finally:
        if "STRATA_HOME" in env:  # never the default home
            strata("down", env=env)
            kill_leftovers(Path(env["STRATA_HOME"]) / "var")
