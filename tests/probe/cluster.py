"""A Strata cluster whose processes a probe test controls one by one.

`strata up` supervises and restarts its children; probe tests need the
opposite: to SIGKILL a storage node and keep it down, then bring it back. So
this starts the same services directly (``python -m identity``,
``python -m objectstore --node N``, ``python -m proxy``) after the same
``prepare`` step that ``strata up`` runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.conftest import strata_ports

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ProbeCluster:
    home: Path
    nodes: int = 3
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRATA_", "OS_"))}
        env.update(strata_ports())
        env.update({
            "STRATA_HOME": str(self.home),
            "STRATA_IDENTITY_PASSWORD_HASH_TIME_COST": "1",
            "STRATA_IDENTITY_PASSWORD_HASH_MEMORY_KIB": "8192",
            "STRATA_OBJECTSTORE_NODES": str(self.nodes),
            "STRATA_OBJECTSTORE_PART_POWER": "6",
            "STRATA_OBJECTSTORE_NODE_TIMEOUT": "5",
            "STRATA_OBJECTSTORE_CONN_TIMEOUT": "1",
            "STRATA_IMAGESTORE_ENABLED": "false",  # only the object store is probed here
            "STRATA_BLOCKSTORE_ENABLED": "false",
            "STRATA_NETWORK_ENABLED": "false",
            "STRATA_DASHBOARD_ENABLED": "false",
            "STRATA_EC2_ENABLED": "false",
            "STRATA_COMPUTE_ENABLED": "false",
            "PYTHONPATH": str(REPO),
        })
        env.update(self.env)
        self.env = env

    # -- processes ----------------------------------------------------------

    @property
    def var(self) -> Path:
        return self.home / "var"

    def port(self, name: str) -> int:
        if name.startswith("storage-"):
            return int(self.env["STRATA_OBJECTSTORE_PORT"]) + int(name.split("-")[1]) - 1
        return int(self.env[f"STRATA_{name.upper()}_PORT"])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    def start(self, name: str) -> None:
        args = {"identity": ["identity"], "proxy": ["proxy"]}.get(name)
        if args is None:
            args = ["objectstore", "--node", name.split("-")[1]]
        log = (self.var / "log").joinpath(f"{name}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", *args], env=self.env, cwd=REPO,
            stdout=log.open("ab"), stderr=subprocess.STDOUT)
        self._wait_healthy(name)

    def _wait_healthy(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: see {self.var / 'log' / name}.log")
            try:
                if requests.get(self.url(name) + "/healthcheck", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not become healthy")

    def start_all(self) -> None:
        subprocess.run(
            [sys.executable, "-c",
             "from common import config; from objectstore.setup import prepare; "
             "prepare(config.load())"], env=self.env, cwd=REPO, check=True)
        self.start("identity")
        for n in range(1, self.nodes + 1):
            self.start(f"storage-{n}")
        self.start("proxy")

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    # -- client side --------------------------------------------------------

    def demo_password(self) -> str:
        return str(json.loads((self.var / "secrets.json").read_text())["demo_password"])

    def auth(self) -> tuple[str, str]:
        r = requests.get(self.url("proxy") + "/auth/v1.0", headers={
            "X-Auth-User": "demo:demo", "X-Auth-Key": self.demo_password()}, timeout=30)
        r.raise_for_status()
        return r.headers["X-Storage-Url"], r.headers["X-Auth-Token"]

    def data_files(self, obj_hash: str) -> list[Path]:
        """Every live .data file of an object on every node's disks."""
        root = self.var / "objectstore"
        return sorted(p for p in root.glob(f"node*/*/objects/*/{obj_hash[-3:]}/{obj_hash}/*.data"))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
