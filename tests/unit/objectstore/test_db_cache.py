"""Group commit of concurrent row updates, and the LRU of open brokers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.timestamp import normalize
from objectstore.db import (
    BrokerCache,
    ContainerBroker,
    DatabaseNotFound,
    GroupCommitter,
)
from objectstore.node import NodeContext

TS = normalize(1_700_000_000)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[NodeContext]:
    ctx = NodeContext(devices=tmp_path, hash_prefix=b"p", hash_suffix=b"s")
    yield ctx
    await ctx.close()


def obj_row(name: str, t: float = 1) -> dict[str, object]:
    return {"name": name, "created_at": normalize(1_700_000_000 + t), "size": 3,
            "content_type": "text/plain", "etag": "e", "deleted": 0}


async def test_concurrent_rows_share_transactions(node: NodeContext, tmp_path: Path) -> None:
    broker = ContainerBroker(tmp_path / "c.db")
    broker.initialize(TS, "a", "c")
    committer = GroupCommitter(node.run)
    results = await asyncio.gather(*(committer.submit(broker, [obj_row(f"o{i:03d}")])
                                     for i in range(200)))
    assert all(results)
    assert broker.transactions == committer.commits
    assert broker.transactions < 20, broker.transactions  # far fewer than 200
    info = broker.get_info()
    assert (info.object_count, info.bytes_used) == (200, 600)
    assert len(broker.list_objects(1000)) == 200


async def test_each_waiter_sees_its_commit(node: NodeContext, tmp_path: Path) -> None:
    broker = ContainerBroker(tmp_path / "c.db")
    broker.initialize(TS, "a", "c")
    committer = GroupCommitter(node.run)

    async def put(i: int) -> int:
        await committer.submit(broker, [obj_row(f"x{i}")])
        # durably visible as soon as submit returns
        names = {o["name"] for o in await node.run(broker.list_objects, 1000)}
        return int(f"x{i}" in names)

    assert sum(await asyncio.gather(*(put(i) for i in range(50)))) == 50


async def test_errors_and_deleted_dbs(node: NodeContext, tmp_path: Path) -> None:
    committer = GroupCommitter(node.run)
    missing = ContainerBroker(tmp_path / "missing.db")
    with pytest.raises(DatabaseNotFound):
        await committer.submit(missing, [obj_row("o")])
    deleted = ContainerBroker(tmp_path / "deleted.db")
    deleted.initialize(TS, "a", "c")
    deleted.mark_deleted(normalize(1_700_000_005))
    assert not await committer.submit(deleted, [obj_row("o")])
    assert deleted.get_items_since(0, 10) == []
    await committer.close()


async def test_broker_cache_lru(node: NodeContext, tmp_path: Path) -> None:
    cache = BrokerCache(node, size=2)
    paths = [tmp_path / f"{i}.db" for i in range(3)]
    for p in paths:
        ContainerBroker(p).initialize(TS, "a", p.stem)
    b0 = cache.get(ContainerBroker, paths[0])
    assert cache.get(ContainerBroker, paths[0]) is b0
    b0.get_info()  # opens its connection
    cache.get(ContainerBroker, paths[1])
    cache.get(ContainerBroker, paths[2])  # evicts paths[0]
    assert len(cache) == 2
    assert cache.get(ContainerBroker, paths[0]) is not b0
    await asyncio.sleep(0.05)
    assert b0._conn is None  # closed on the pool
    assert b0.get_info().container == "0"  # and reopens if still used
    cache.forget(paths[0])
    await node.run(cache.close_all)
    assert len(cache) == 0
