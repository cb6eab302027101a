"""Probe: the object replicator and auditor converge a real cluster.

The cluster is what an operator runs: ``strata up -d`` (supervisor, identity,
storage nodes, proxy), with the daemons set to act every second. The tests
take nodes down, write through the proxy with the demo user, and look at the
nodes' disks directly.

Taking a node down: the supervisor restarts a child that dies, so the test
first freezes the supervisor (SIGSTOP), then SIGKILLs the storage node: its
port is closed (connections refused, as for a crashed host) for as long as
the supervisor stays frozen. SIGCONT lets the supervisor notice the death
and restart the node, as it would in production. Services log at WARNING so
that the frozen supervisor's pipes cannot fill up meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from common.daemon import group_members
from objectstore.diskfile import read_xattr_metadata
from rings.hashing import hash_path
from rings.ring import Ring
from tests.conftest import free_port, free_port_range

_SCRIPT = Path(sys.executable).with_name("strata")
STRATA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "common.cli"]
CONVERGE = 60.0  # seconds the daemons get to repair things


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def wait_for(what: str, check: Callable[[], bool], timeout: float = CONVERGE) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Cluster:
    env: dict[str, str]
    nodes: int
    url: str = ""
    token: str = ""

    @property
    def var(self) -> Path:
        return Path(self.env["STRATA_HOME"]) / "var"

    def strata(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*STRATA, *args], env=self.env, capture_output=True, text=True,
                              timeout=180, check=False)

    def node_port(self, n: int) -> int:
        return int(self.env["STRATA_OBJECTSTORE_PORT"]) + n - 1

    def supervisor(self) -> int:
        return int((self.var / "run" / "strata.pid").read_text())

    def node_pid(self, n: int) -> int:
        for pid in group_members(self.supervisor()):
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"objectstore" in argv and b"--node" in argv \
                        and argv[argv.index(b"--node") + 1] == str(n).encode():
                    return pid
        raise AssertionError(f"storage node {n} is not running")

    @contextlib.contextmanager
    def node_down(self, n: int) -> Iterator[None]:
        """Storage node ``n`` killed and kept down for the duration of the block."""
        sup = self.supervisor()
        os.kill(sup, signal.SIGSTOP)
        try:
            os.kill(self.node_pid(n), signal.SIGKILL)
            wait_for(f"node {n} to stop answering", lambda: not port_open(self.node_port(n)),
                     10)
            yield
        finally:
            os.kill(sup, signal.SIGCONT)
        wait_for(f"node {n} to be restarted", lambda: self.healthy(n), 60)

    def healthy(self, n: int) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.node_port(n)}/healthcheck",
                                timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def auth(self) -> None:
        out = subprocess.run(["bash", "-c", f'. "{self.var / "demo-openrc"}" && env -0'],
                             capture_output=True, check=True).stdout.decode()
        rc = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
        proxy = f"http://127.0.0.1:{self.env['STRATA_PROXY_PORT']}"
        r = requests.get(f"{proxy}/auth/v1.0", timeout=30, headers={
            "X-Auth-User": f"{rc['OS_PROJECT_NAME']}:{rc['OS_USERNAME']}",
            "X-Auth-Key": rc["OS_PASSWORD"]})
        r.raise_for_status()
        self.url, self.token = r.headers["X-Storage-Url"], r.headers["X-Auth-Token"]

    def request(self, method: str, path: str, data: bytes | None = None) -> requests.Response:
        return requests.request(method, f"{self.url}/{path}", data=data, timeout=30,
                                headers={"X-Auth-Token": self.token})

    @property
    def account(self) -> str:
        return self.url.rsplit("/", 1)[1]

    def ring(self) -> Ring:
        secrets = json.loads((self.var / "secrets.json").read_text())
        return Ring(self.var / "rings" / "object.ring.gz",
                    str(secrets["hash_path_prefix"]).encode(),
                    str(secrets["hash_path_suffix"]).encode())

    def obj_hash(self, container: str, obj: str) -> str:
        ring = self.ring()
        return hash_path(self.account, container, obj, hash_prefix=ring.hash_prefix,
                         hash_suffix=ring.hash_suffix)

    def data_files(self, obj_hash: str) -> list[Path]:
        """Every live .data file of one object, on every device of every node."""
        root = self.var / "objectstore"
        return sorted(root.glob(f"node*/*/objects/*/{obj_hash[-3:]}/{obj_hash}/*.data"))

    def good_copies(self, obj_hash: str, digest: str) -> list[Path]:
        out = []
        for path in self.data_files(obj_hash):
            with contextlib.suppress(OSError):
                if md5(path.read_bytes()) == digest:
                    out.append(path)
        return out


def start(tmp: Path, nodes: int) -> Cluster:
    home = tmp / "home"
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRATA_", "OS_"))}
    env.update({
        "STRATA_HOME": str(home),
        "STRATA_IDENTITY_PORT": str(free_port()),
        "STRATA_PROXY_PORT": str(free_port()),
        "STRATA_OBJECTSTORE_PORT": str(free_port_range(nodes)),
        "STRATA_OBJECTSTORE_NODES": str(nodes),
        "STRATA_OBJECTSTORE_PART_POWER": "6",
        "STRATA_OBJECTSTORE_REPLICATOR_INTERVAL": "1",
        "STRATA_OBJECTSTORE_AUDITOR_INTERVAL": "1",
        "STRATA_OBJECTSTORE_NODE_TIMEOUT": "5",
        "STRATA_OBJECTSTORE_CONN_TIMEOUT": "1",
        "STRATA_IDENTITY_PASSWORD_HASH_TIME_COST": "1",
        "STRATA_IDENTITY_PASSWORD_HASH_MEMORY_KIB": "8192",
        "STRATA_LOG_LEVEL": "WARNING",
        # only the object store is probed here
        "STRATA_IMAGESTORE_ENABLED": "false",
        "STRATA_BLOCKSTORE_ENABLED": "false",
        "STRATA_NETWORK_ENABLED": "false",
        "STRATA_DASHBOARD_ENABLED": "false",
        "STRATA_EC2_ENABLED": "false",
        "STRATA_COMPUTE_ENABLED": "false",
    })
    cluster = Cluster(env, nodes)
    result = cluster.strata("up", "-d")
    if result.returncode != 0:
        stop(cluster)
        raise AssertionError(f"strata up -d failed:\n{result.stdout}{result.stderr}")
    cluster.auth()
    return cluster


def stop(cluster: Cluster) -> None:
    pidfile = cluster.var / "run" / "strata.pid"
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pidfile.read_text()), signal.SIGCONT)
    cluster.strata("down")
    with contextlib.suppress(OSError, ValueError):
        os.killpg(int(pidfile.read_text()), signal.SIGKILL)


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = start(tmp_path_factory.mktemp("three"), 3)
    try:
        yield cluster
    finally:
        stop(cluster)


@pytest.fixture
def four(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start(tmp_path, 4)
    try:
        yield cluster
    finally:
        stop(cluster)


def test_a_node_that_missed_writes_gets_its_replicas_back(three: Cluster) -> None:
    c = three
    assert c.request("PUT", "missed").status_code == 201
    bodies = {f"o{i:02d}": os.urandom(1000 + i * 37) for i in range(20)}
    with c.node_down(2):
        for name, body in bodies.items():
            r = c.request("PUT", f"missed/{name}", body)
            assert r.status_code == 201, (name, r.status_code, r.text)
        for name in bodies:  # three nodes, one down: two replicas, no handoff
            assert len(c.data_files(c.obj_hash("missed", name))) == 2
    hashes = {name: c.obj_hash("missed", name) for name in bodies}
    wait_for("three good replicas of every object", lambda: all(
        len(c.good_copies(hashes[name], md5(body))) == 3 for name, body in bodies.items()))
    node2 = c.var / "objectstore" / "node2"
    for name in bodies:
        assert any(p.is_relative_to(node2) for p in c.data_files(hashes[name]))
        r = c.request("GET", f"missed/{name}")
        assert r.status_code == 200 and r.content == bodies[name]


def test_a_corrupted_replica_is_quarantined_and_rebuilt(three: Cluster) -> None:
    c = three
    assert c.request("PUT", "audit").status_code == 201
    body = os.urandom(200_000)
    digest = md5(body)
    assert c.request("PUT", "audit/victim", body).status_code == 201
    obj_hash = c.obj_hash("audit", "victim")
    copies = c.good_copies(obj_hash, digest)
    assert len(copies) == 3
    bad = copies[1]
    device = bad.parents[4]  # <device>/objects/<part>/<suffix>/<hash>/<ts>.data
    with open(bad, "r+b") as f:  # flip one byte, metadata untouched
        f.seek(12345)
        byte = f.read(1)[0]
        f.seek(12345)
        f.write(bytes([byte ^ 0x01]))
    quarantined = device / "quarantined" / "objects"

    def is_quarantined() -> bool:
        return any(md5(p.read_bytes()) != digest
                   for p in quarantined.glob(f"{obj_hash}*/*.data"))

    wait_for("the auditor to quarantine the bad replica", is_quarantined)

    def rebuilt() -> bool:
        r = c.request("GET", "audit/victim")  # reads stay right throughout
        assert r.status_code == 200 and md5(r.content) == digest
        files = c.data_files(obj_hash)
        return len(files) == 3 and len(c.good_copies(obj_hash, digest)) == 3

    wait_for("the replicator to rebuild three good replicas", rebuilt)
    assert bad.exists() and md5(bad.read_bytes()) == digest  # rebuilt in the same place
    xattrs = read_xattr_metadata(bad)
    assert xattrs["ETag"] == digest and xattrs["Content-Length"] == str(len(body))


def test_a_handoff_drains_home(four: Cluster) -> None:
    c = four
    assert c.request("PUT", "handoff").status_code == 201
    ring = c.ring()
    down = 1
    down_port = c.node_port(down)
    bodies: dict[str, bytes] = {}
    primaries: dict[str, set[str]] = {}
    i = 0
    while len(bodies) < 10:  # objects with a primary on the node that goes down
        name = f"h{i:03d}"
        i += 1
        part = ring.get_part(c.account, "handoff", name)
        nodes = ring.get_part_nodes(part)
        if any(n["port"] == down_port for n in nodes):
            bodies[name] = os.urandom(3000 + i)
            primaries[name] = {n["device"] for n in nodes}
    hashes = {name: c.obj_hash("handoff", name) for name in bodies}

    def devices(name: str) -> list[str]:
        return sorted(p.parents[4].name for p in c.data_files(hashes[name]))

    with c.node_down(down):
        for name, body in bodies.items():
            r = c.request("PUT", f"handoff/{name}", body)
            assert r.status_code == 201, (name, r.status_code, r.text)
        for name in bodies:  # the down primary's replica went to a handoff device
            on = devices(name)
            assert len(on) == 3, (name, on)
            assert any(d not in primaries[name] for d in on), (name, on, primaries[name])

    def home() -> bool:
        return all(sorted(primaries[name]) == devices(name)
                   and len(c.good_copies(hashes[name], md5(body))) == 3
                   for name, body in bodies.items())

    wait_for("every handoff replica to move to its primary and leave the handoff", home)
    for name, body in bodies.items():
        r = c.request("GET", f"handoff/{name}")
        assert r.status_code == 200 and r.content == body
