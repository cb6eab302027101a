"""The host agent's triggering on a real SQLite database: a pass at start, wakes that
coalesce, the periodic resync, retries after a failure, the ports' status settled.

The data path here is a recording implementation of the contract
(``network.dataplane.model.DataPath``): it keeps every state it is given, so the
agent's calls are what is checked."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.config import NetworkConfig
from common.db import Database, migrate
from network import agent as agent_mod
from network import models as m
from network.agent import HostAgent
from network.core import networks, ports, subnets
from network.core.base import Ctx
from network.dataplane.model import DesiredState
from network.policy import Caller

MIGRATIONS = Path(__file__).resolve().parents[3] / "network" / "migrations"
# a member that, like compute's service user, may bind ports to hosts
BINDER = Caller("u-compute", "p-alice", frozenset({"member", "service"}))


class Recording:
    """A data path that records what it is asked to apply (and can be held or fail)."""

    def __init__(self) -> None:
        self.states: list[DesiredState] = []
        self.calls = 0
        self.failures_left = 0
        self.release = asyncio.Event()
        self.release.set()
        self.closed = False

    async def apply(self, state: DesiredState) -> None:
        self.calls += 1
        await asyncio.wait_for(self.release.wait(), 10)
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("the kernel said no")
        self.states.append(state)

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'network.db'}"
    migrate(url, MIGRATIONS)
    database = Database(url)
    yield database
    database.close()


def _make_port(db: Database, host: str) -> str:
    def work(s: Session) -> str:
        ctx = Ctx(s, BINDER, NetworkConfig(), "hv1", instant_active=False)
        net = networks.create_network(ctx, {"name": "n"})
        subnets.create_subnet(ctx, {"network_id": net.id, "cidr": "10.0.0.0/24",
                                    "ip_version": 4})
        return ports.create_port(ctx, {"network_id": net.id, "host": host}).id
    return db.run_sync(work)


async def _until(cond: Callable[[], bool], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def _running(db: Database, plane: Recording,
                   resync_interval: float = 3600) -> AsyncIterator[HostAgent]:
    """The agent of host hv1, started; stopped at the end."""
    agent = HostAgent(db, plane, instance="t1", host="hv1", resync_interval=resync_interval)
    await agent.start()
    try:
        yield agent
    finally:
        await agent.stop()


async def test_passes_plug_ports_and_coalesce(db: Database) -> None:
    plane = Recording()
    port = _make_port(db, "hv1")
    async with _running(db, plane) as agent:
        await _until(lambda: agent.passes == 1)
        (state,) = plane.states
        assert state.instance == "t1" and state.host == "hv1"
        assert port in {p.id for p in state.ports}
        statuses = db.run_sync(lambda s: {i: st for i, st in s.execute(
            select(m.Port.id, m.Port.status))})
        assert statuses[port] == "ACTIVE"  # bound here, and the data path has it
        assert set(statuses.values()) == {"ACTIVE"}  # the DHCP port is this host's too
        # ten wakes while a pass is held give one more pass, not ten
        plane.release.clear()
        agent.wake()
        await _until(lambda: plane.calls == 2)
        for _ in range(10):
            agent.wake()
        plane.release.set()
        await _until(lambda: agent.idle.is_set())
        assert agent.passes == 3 and plane.calls == 3


async def test_resync_and_retry_after_failure(db: Database,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_mod, "RETRY_FIRST", 0.05)
    plane = Recording()
    plane.failures_left = 2
    async with _running(db, plane, resync_interval=0.2) as agent:
        await _until(lambda: agent.passes >= 1)
        assert agent.failures == 2 and "kernel said no" in agent.last_error
        await _until(lambda: agent.passes >= 3)  # no wake: the periodic resync
    assert plane.calls == agent.passes + agent.failures


def _status(db: Database, port: str) -> str:
    return db.run_sync(lambda s: s.scalar(select(m.Port.status).where(m.Port.id == port)))


def _update(db: Database, port: str, attrs: dict[str, object]) -> None:
    def work(s: Session) -> None:
        ctx = Ctx(s, BINDER, NetworkConfig(), "hv1", instant_active=False)
        ports.update_port(ctx, s.get_one(m.Port, port), attrs)
    db.run_sync(work)


async def test_a_port_changed_during_a_pass_waits_for_its_own(db: Database) -> None:
    """A pass read the state before the port was bound again: it must not mark the port
    ACTIVE (the data path has not seen the new binding); the pass that follows does."""
    plane = Recording()
    port = _make_port(db, "hv1")
    async with _running(db, plane) as agent:
        await _until(lambda: agent.passes == 1)
        plane.release.clear()
        agent.wake()
        await _until(lambda: plane.calls == 2)  # pass 2 read the state, and is held
        _update(db, port, {"host": "hv1"})  # bound again meanwhile: DOWN until applied
        assert _status(db, port) == "DOWN"
        plane.release.set()
        await _until(lambda: agent.passes == 2)
        assert _status(db, port) == "DOWN"  # pass 2 did not carry this binding
        agent.wake()  # as the API does after the update
        await _until(lambda: agent.passes == 3)
        assert _status(db, port) == "ACTIVE"


async def test_an_administratively_down_port_is_reported_down(db: Database) -> None:
    plane = Recording()
    port = _make_port(db, "hv1")
    elsewhere = _make_port(db, "hv2")
    async with _running(db, plane) as agent:
        await _until(lambda: agent.passes == 1)
        assert (_status(db, port), _status(db, elsewhere)) == ("ACTIVE", "DOWN")
        _update(db, port, {"admin_state_up": False})
        agent.wake()
        await _until(lambda: agent.passes == 2)
        assert _status(db, port) == "DOWN"
        _update(db, port, {"admin_state_up": True})
        agent.wake()
        await _until(lambda: agent.passes == 3)
        assert _status(db, port) == "ACTIVE"
        assert _status(db, elsewhere) == "DOWN"  # another host's to report
