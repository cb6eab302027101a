"""Probe: storage nodes die (SIGKILL) while clients write; acknowledged data survives.

Real processes on loopback; the test looks at the nodes' disks directly.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from common import config
from rings.hashing import hash_path
from tests.probe.cluster import ProbeCluster, md5


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ProbeCluster]:
    c = ProbeCluster(tmp_path / "home")
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()


def object_hash(c: ProbeCluster, account: str, container: str, obj: str) -> str:
    secrets = config.ensure_secrets(config.StrataConfig(home=c.home))
    return hash_path(account, container, obj,
                     hash_prefix=str(secrets["hash_path_prefix"]).encode(),
                     hash_suffix=str(secrets["hash_path_suffix"]).encode())


def test_acknowledged_puts_survive_a_node_killed_mid_stream(cluster: ProbeCluster) -> None:
    url, token = cluster.auth()
    h = {"X-Auth-Token": token}
    assert requests.put(f"{url}/stream", headers=h, timeout=30).status_code == 201
    acked: dict[str, str] = {}
    lock = threading.Lock()
    killed = threading.Event()

    def put(i: int) -> None:
        body = os.urandom(2048 + i)
        name = f"obj-{i:04d}"
        try:
            r = requests.put(f"{url}/stream/{name}", data=body, headers=h, timeout=30)
        except requests.RequestException:
            return
        if r.status_code == 201:
            assert r.headers["ETag"] == md5(body)
            with lock:
                acked[name] = md5(body)
                if len(acked) == 60 and not killed.is_set():
                    killed.set()
                    cluster.kill("storage-2")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(300)))
    assert killed.is_set()
    # With one of three nodes gone, a quorum (2) remains: writes go on.
    assert len(acked) >= 290, f"only {len(acked)} of 300 PUTs were acknowledged"

    def check_all() -> None:
        for name, digest in acked.items():
            r = requests.get(f"{url}/stream/{name}", headers=h, timeout=30)
            assert r.status_code == 200, (name, r.status_code)
            assert md5(r.content) == digest, name

    check_all()  # node 2 still down
    cluster.start("storage-2")
    check_all()  # node 2 back (possibly missing what it never saw: reads fail over)
    account = url.rsplit("/", 1)[1]
    for name in list(acked)[:50]:
        copies = cluster.data_files(object_hash(cluster, account, "stream", name))
        assert len(copies) >= 2, (name, copies)


def test_two_nodes_down_refuses_writes_and_stores_nothing(cluster: ProbeCluster) -> None:
    url, token = cluster.auth()
    h = {"X-Auth-Token": token}
    assert requests.put(f"{url}/c", headers=h, timeout=30).status_code == 201
    assert requests.put(f"{url}/c/before", data=b"old", headers=h, timeout=30).status_code == 201
    cluster.kill("storage-1")
    cluster.kill("storage-3")
    account = url.rsplit("/", 1)[1]
    for i in range(10):
        body = os.urandom(1000)
        r = requests.put(f"{url}/c/refused-{i}", data=body, headers=h, timeout=30)
        assert r.status_code == 503, r.text
        # nothing half-visible: no replica anywhere, no readable object
        assert cluster.data_files(object_hash(cluster, account, "c", f"refused-{i}")) == []
        # two of its three primaries unreachable: Swift's 503, not a 404 it cannot know
        assert requests.get(f"{url}/c/refused-{i}", headers=h, timeout=30).status_code == 503
    big = os.urandom(3 << 20)  # a streamed upload is refused the same way
    r = requests.put(f"{url}/c/refused-big", data=big, headers=h, timeout=60)
    assert r.status_code == 503
    assert cluster.data_files(object_hash(cluster, account, "c", "refused-big")) == []
    # what was acknowledged before is still readable from the one node left
    r = requests.get(f"{url}/c/before", headers=h, timeout=30)
    assert r.status_code == 200 and r.content == b"old"
    cluster.start("storage-1")
    cluster.start("storage-3")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = requests.put(f"{url}/c/after", data=b"new", headers=h, timeout=30)
        if r.status_code == 201:
            break
        time.sleep(0.5)
    assert r.status_code == 201
    listing = requests.get(f"{url}/c?format=json", headers=h, timeout=30).json()
    assert not any(o["name"].startswith("refused") for o in listing)


def test_corrupt_replica_is_never_served(cluster: ProbeCluster) -> None:
    """A flipped byte on one disk: GETs stay correct before any auditor pass."""
    url, token = cluster.auth()
    h = {"X-Auth-Token": token}
    assert requests.put(f"{url}/c", headers=h, timeout=30).status_code == 201
    body = os.urandom(50_000)
    assert requests.put(f"{url}/c/o", data=body, headers=h, timeout=30).status_code == 201
    account = url.rsplit("/", 1)[1]
    copies = cluster.data_files(object_hash(cluster, account, "c", "o"))
    assert len(copies) == 3
    victim = copies[0]
    raw = bytearray(victim.read_bytes())
    raw[1234] ^= 0xFF
    victim.write_bytes(bytes(raw))  # same length, same xattrs, wrong bytes
    for _ in range(30):  # reads go to shuffled replicas: the bad one is hit too
        r = requests.get(f"{url}/c/o", headers=h, timeout=30)
        assert r.status_code == 200 and r.content == body
        r = requests.get(f"{url}/c/o", headers={**h, "Range": "bytes=1230-1240"}, timeout=30)
        assert r.status_code == 206 and r.content == body[1230:1241]
    # The corrupt bytes are out of service; the replicator may already have put a
    # good copy back at the same path.
    assert not victim.exists() or victim.read_bytes() == body, \
        "the corrupt replica should have been quarantined"
    quarantined = list((cluster.var / "objectstore").glob("node*/*/quarantined/objects/*"))
    assert quarantined
