"""Probe: the DB replicator, updater and expirer converge a real cluster.

``strata up -d`` starts identity, three storage nodes and the proxy as real
processes; the daemons run every second. A node is made unavailable with
SIGSTOP (the supervisor restarts a child that exits, so stopping it is the
way to take it away) and resumed with SIGCONT; the tests then look at the
SQLite files and object files on disk directly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from tests.functional.test_cli import kill_leftovers, read_openrc, strata, var

T = TypeVar("T")
DEADLINE = 60.0


@pytest.fixture
def cluster_env(strata_env: dict[str, str]) -> Iterator[dict[str, str]]:
    env = dict(strata_env)
    env.update(
        STRATA_OBJECTSTORE_PART_POWER="6",
        STRATA_OBJECTSTORE_REPLICATOR_INTERVAL="1",
        STRATA_OBJECTSTORE_UPDATER_INTERVAL="1",
        STRATA_OBJECTSTORE_EXPIRER_INTERVAL="1",
        STRATA_OBJECTSTORE_NODE_TIMEOUT="3",
        STRATA_OBJECTSTORE_CONN_TIMEOUT="1",
    )
    up = strata("up", "-d", env=env, timeout=180)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield env
    finally:
        for pid in storage_pids(env).values():  # never leave a node stopped
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
        strata("down", env=env)
        kill_leftovers(env)


class Swift:
    """Just enough of a Swift client: v1 auth as the demo user, then requests."""

    def __init__(self, env: dict[str, str]) -> None:
        password = read_openrc(var(env) / "demo-openrc")["OS_PASSWORD"]
        proxy = f"http://127.0.0.1:{env['STRATA_PROXY_PORT']}"
        r = requests.get(f"{proxy}/auth/v1.0", timeout=30,
                         headers={"X-Auth-User": "demo:demo", "X-Auth-Key": password})
        assert r.status_code // 100 == 2, r.text
        self.url = r.headers["X-Storage-Url"]
        self.token = r.headers["X-Auth-Token"]

    def __call__(self, method: str, path: str = "", data: bytes | None = None,
                 headers: dict[str, str] | None = None) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", data=data, timeout=60,
                                headers={"X-Auth-Token": self.token, **(headers or {})})


def eventually(check: Callable[[], T | None], what: str, deadline: float = DEADLINE) -> T:
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        try:
            last = check()
        except (OSError, sqlite3.Error, requests.RequestException) as exc:
            last = exc
        if last:
            return last  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {deadline}s (last: {last!r})")


def storage_pids(env: dict[str, str]) -> dict[int, int]:
    """node number -> pid of that storage node of this instance."""
    home = f"STRATA_HOME={env['STRATA_HOME']}".encode()
    found: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"objectstore" not in argv or b"--node" not in argv:
                continue
            if home not in (proc / "environ").read_bytes().split(b"\0"):
                continue
        except OSError:
            continue
        found[int(argv[argv.index(b"--node") + 1])] = int(proc.name)
    return found


def container_dbs(env: dict[str, str], node: int, container: str) -> list[Path]:
    out = []
    for db in (var(env) / "objectstore" / f"node{node}").glob("*/containers/*/*/*/*.db"):
        with contextlib.closing(sqlite3.connect(db)) as conn:
            if conn.execute("SELECT container FROM info").fetchone()[0] == container:
                out.append(db)
    return out


def db_rows(db: Path) -> tuple[set[str], bool]:
    """(live object names, deleted?) read straight from the file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM object WHERE deleted = 0")}
        put, dele = conn.execute("SELECT put_timestamp, delete_timestamp FROM info").fetchone()
    return names, dele > put and not names


def test_account_stats_converge(cluster_env: dict[str, str]) -> None:
    swift = Swift(cluster_env)
    assert swift("PUT", "/stats").status_code in (201, 202)
    for n in range(4):
        assert swift("PUT", f"/stats/o{n}", data=b"x" * (10 + n)).status_code == 201
    assert swift("PUT", "/other").status_code in (201, 202)
    assert swift("PUT", "/other/big", data=b"y" * 1000).status_code == 201

    def converged() -> bool:
        h = swift("HEAD").headers
        return (h.get("X-Account-Object-Count") == "5"
                and h.get("X-Account-Bytes-Used") == str(10 + 11 + 12 + 13 + 1000)
                and h.get("X-Account-Container-Count") == "2")

    eventually(converged, "account HEAD shows the objects and bytes")
    listing = {c["name"]: c for c in swift("GET", "", headers={"Accept": "application/json"})
               .json()}
    assert listing["stats"]["count"] == 4 and listing["other"]["bytes"] == 1000


def test_expiring_object_goes_away(cluster_env: dict[str, str]) -> None:
    swift = Swift(cluster_env)
    assert swift("PUT", "/exp").status_code in (201, 202)
    r = swift("PUT", "/exp/brief", data=b"short-lived", headers={"X-Delete-After": "2"})
    assert r.status_code == 201
    assert swift("PUT", "/exp/stays", data=b"long-lived").status_code == 201
    started = time.monotonic()
    objects = var(cluster_env) / "objectstore"
    assert eventually(lambda: len(list(objects.glob("node*/*/objects/**/*.data"))) >= 6,
                      "both objects on disk")

    def listed() -> list[str]:
        return [o["name"] for o in
                swift("GET", "/exp", headers={"Accept": "application/json"}).json()]

    eventually(lambda: swift("GET", "/exp/brief").status_code == 404, "GET hides it")
    eventually(lambda: listed() == ["stays"], "the listing drops it", deadline=30)
    eventually(lambda: len(list(objects.glob("node*/*/objects/**/*.data"))) == 3
               and len(list(objects.glob("node*/*/objects/**/*.ts"))) == 3,
               ".data files replaced by tombstones", deadline=30)
    assert time.monotonic() - started < 40
    assert swift("GET", "/exp/stays").content == b"long-lived"


def test_stopped_node_catches_up_and_deletes_stick(cluster_env: dict[str, str]) -> None:
    swift = Swift(cluster_env)
    assert swift("PUT", "/doomed").status_code in (201, 202)
    eventually(lambda: container_dbs(cluster_env, 3, "doomed"), "doomed DB on node 3")
    pids = storage_pids(cluster_env)
    assert set(pids) == {1, 2, 3}, pids
    os.kill(pids[3], signal.SIGSTOP)
    try:
        assert swift("PUT", "/fresh").status_code in (201, 202)
        names = {f"obj-{n}" for n in range(3)}
        for name in sorted(names):
            assert swift("PUT", f"/fresh/{name}", data=name.encode()).status_code == 201
        assert swift("DELETE", "/doomed").status_code == 204
    finally:
        os.kill(pids[3], signal.SIGCONT)

    def caught_up() -> bool:
        dbs = container_dbs(cluster_env, 3, "fresh")
        return bool(dbs) and all(db_rows(db)[0] == names for db in dbs)

    eventually(caught_up, "node 3's DB of the new container has every row")
    eventually(lambda: all(db_rows(db)[1] for db in container_dbs(cluster_env, 3, "doomed")),
               "node 3 learns of the delete")
    time.sleep(3)  # a few more passes: nothing brings it back
    for node in (1, 2, 3):
        dbs = container_dbs(cluster_env, node, "doomed")
        assert dbs and all(db_rows(db)[1] for db in dbs), node
    assert swift("HEAD", "/doomed").status_code == 404
    listing = [c["name"] for c in swift("GET", "", headers={"Accept": "application/json"})
               .json()]
    assert "doomed" not in listing and "fresh" in listing
