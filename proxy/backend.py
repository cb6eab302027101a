"""Talking to storage nodes: placement, handoffs, fan-out writes, failover reads."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import aiohttp
from yarl import URL

from objectstore import protocol
from proxy.quorum import Answer
from rings.ring import Node, Ring

log = logging.getLogger(__name__)

NO_AUTO_TYPE = ("Content-Type",)
QUEUE_DEPTH = 16  # chunks (up to 1 MiB each) buffered per replica while streaming a PUT


class NodeDown(Exception):
    """A node could not be reached at all (so a handoff may stand in for it)."""


def node_path(kind: str, node: Node, part: int, account: str, container: str | None = None,
              obj: str | None = None) -> str:
    """The path of a name on ``node`` (:func:`objectstore.protocol.node_path`)."""
    return protocol.node_path(kind, node["device"], part, account, container, obj)


def node_url(node: Node, path: str) -> URL:
    """The node's URL for an already percent-encoded ``path``, sent exactly as given.

    ``encoded=True`` keeps the client library from normalizing the path: an
    object named ``a/../b`` must reach the node as those segments, not as ``b``.
    """
    return URL(f"http://{node['ip']}:{node['port']}{path}", encoded=True)


def node_addr(node: Node) -> str:
    return f"{node['ip']}:{node['port']}"


@dataclass
class Placement:
    ring: Ring
    part: int
    primaries: list[Node]

    def handoffs(self) -> Iterator[Node]:
        return self.ring.get_more_nodes(self.part)

    def handoff_picker(self) -> Callable[[], Node | None]:
        """Handoffs for one write, never on a node that already holds a replica of it.

        Two replicas on one node would not survive that node, so a write whose
        primaries are down finds stand-ins only on other nodes; with too few
        nodes left it falls short of quorum (503) instead of faking durability.
        """
        used = {node_addr(n) for n in self.primaries}
        candidates = self.handoffs()

        def pick() -> Node | None:
            for node in candidates:
                addr = node_addr(node)
                if addr not in used:
                    used.add(addr)
                    return node
            return None

        return pick


class Backend:
    def __init__(self, session: aiohttp.ClientSession, conn_timeout: float,
                 node_timeout: float) -> None:
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=None, connect=conn_timeout,
                                             sock_connect=conn_timeout,
                                             sock_read=node_timeout)

    @staticmethod
    def place(ring: Ring, account: str, container: str | None = None,
              obj: str | None = None) -> Placement:
        part, nodes = ring.get_nodes(account, container, obj)
        return Placement(ring, part, list(nodes))

    async def call(self, node: Node, method: str, path: str, headers: dict[str, str],
                   body: bytes | None = None) -> tuple[Answer, bytes]:
        """One request with a small body; NodeDown when the node cannot be reached."""
        try:
            # aiohttp would add Content-Type: application/octet-stream to a POST of
            # no body, which an object server takes as the object's new type
            async with self.session.request(method, node_url(node, path), headers=headers,
                                            data=body, timeout=self.timeout,
                                            skip_auto_headers=NO_AUTO_TYPE) as r:
                data = await r.read()
                return Answer(r.status, dict(r.headers), node_addr(node),
                              _reason(r.status, data)), data
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError,
                ConnectionError) as exc:
            raise NodeDown(f"{node_addr(node)}: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("%s %s: %s", method, node_url(node, path), exc)
            return Answer(503, {}, node_addr(node)), b""

    async def fan_out(self, placement: Placement, method: str,
                      path_for: Callable[[Node], str],
                      headers_for: Callable[[int, Node], dict[str, str]],
                      body: bytes | None = None) -> list[tuple[Answer, bytes]]:
        """Send to every primary; a handoff stands in for each primary that is down."""
        next_handoff = placement.handoff_picker()

        async def one(i: int, node: Node) -> tuple[Answer, bytes]:
            while True:
                try:
                    answer, data = await self.call(node, method, path_for(node),
                                                   headers_for(i, node), body)
                    if answer.status != 507:
                        return answer, data
                except NodeDown as exc:
                    log.info("%s; trying a handoff", exc)
                nxt = next_handoff()
                if nxt is None:
                    return Answer(503), b""
                node = nxt

        return list(await asyncio.gather(*(one(i, n)
                                           for i, n in enumerate(placement.primaries))))

    async def stream_to_all(self, placement: Placement, path_for: Callable[[Node], str],
                            headers_for: Callable[[int, Node], dict[str, str]],
                            body: AsyncIterator[bytes], need: int) -> list[Answer]:
        """PUT a streamed body to every primary (handoffs for the ones down).

        Every replica is connected before the first byte is read from the
        client; then each chunk goes to every live replica. A replica that
        fails mid-stream is dropped; when fewer than ``need`` remain, the
        upload is abandoned and every answer is 503.
        """
        next_handoff = placement.handoff_picker()
        slots = [_Slot() for _ in placement.primaries]

        async def connect(i: int, node: Node) -> None:
            while True:
                slot = slots[i]
                slot.start(self, node, path_for(node), headers_for(i, node))
                await slot.wait_connected()
                if slot.connected:
                    return
                nxt = next_handoff()
                if nxt is None:
                    return
                node = nxt
                slots[i] = _Slot()

        await asyncio.gather(*(connect(i, n) for i, n in enumerate(placement.primaries)))
        live = [s for s in slots if s.connected]
        try:
            if len(live) < need:
                raise QuorumLost()
            async for chunk in body:
                for s in live:
                    await s.put(chunk)
                live = [s for s in live if s.alive]
                if len(live) < need:
                    raise QuorumLost()
            for s in live:
                await s.put(None)
            return [await s.answer() for s in slots]
        except BaseException:
            for s in slots:
                s.cancel()
            raise


def _reason(status: int, body: bytes) -> str:
    return body[:500].decode("utf-8", "replace") if 400 <= status < 500 else ""


class QuorumLost(Exception):
    """Fewer replicas than the write quorum are still taking a streamed upload."""


class _Slot:
    """One replica of a streamed PUT: a queue feeding an aiohttp request."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_DEPTH)
        self.connected = False
        self._connected = asyncio.Event()
        self.task: asyncio.Task[Answer] | None = None

    def start(self, backend: Backend, node: Node, path: str, headers: dict[str, str]) -> None:
        async def body() -> AsyncIterator[bytes]:
            self.connected = True
            self._connected.set()
            while True:
                chunk = await self.queue.get()
                if chunk is None:
                    return
                yield chunk

        async def run() -> Answer:
            try:
                async with backend.session.put(node_url(node, path), headers=headers,
                                               data=body(), timeout=backend.timeout) as r:
                    data = await r.read()
                    return Answer(r.status, dict(r.headers), node_addr(node),
                                  _reason(r.status, data))
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                log.warning("PUT %s: %s", node_url(node, path), exc)
                return Answer(503, {}, node_addr(node))
            except Exception:
                log.exception("PUT %s failed", node_url(node, path))
                return Answer(503, {}, node_addr(node))
            finally:
                self._connected.set()

        self.task = asyncio.create_task(run())

    async def wait_connected(self) -> None:
        await self._connected.wait()

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    async def put(self, chunk: bytes | None) -> None:
        if not self.alive:
            return
        try:
            self.queue.put_nowait(chunk)  # the usual case: room in the queue, no waiting
            return
        except asyncio.QueueFull:
            pass
        put = asyncio.ensure_future(self.queue.put(chunk))
        assert self.task is not None
        await asyncio.wait([put, self.task], return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()

    async def answer(self) -> Answer:
        if self.task is None:
            return Answer(503)
        return await self.task

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()


def shuffled(nodes: list[Node]) -> list[Node]:
    out = list(nodes)
    random.shuffle(out)
    return out


def read_order(pl: Placement) -> Iterator[tuple[Node, bool]]:
    """Replicas to read from, in order, each with whether it is a handoff: the
    primaries shuffled, then as many handoffs.

    Lazy: the handoffs (a walk of the ring) are only looked up when every primary
    failed, not for each of the reads a primary answers."""
    for node in shuffled(pl.primaries):
        yield node, False
    for node in itertools.islice(pl.handoffs(), len(pl.primaries)):
        yield node, True


@contextlib.asynccontextmanager
async def open_read(backend: Backend, pl: Placement, method: str,
                    path_for: Callable[[Node], str], headers: dict[str, str],
                    good: Callable[[int], bool]) -> AsyncIterator[
                        tuple[aiohttp.ClientResponse | None, list[Answer]]]:
    """The first replica whose answer ``good`` accepts, its response still open.

    Yields (response or None, every answer seen) so the caller can stream the
    body and, when no node was good, decide with :func:`proxy.quorum.read_failure`.
    A node whose answer cannot be read (its connection broke, or a head the
    client refuses) counts as a 503 from it.
    """
    seen: list[Answer] = []
    for node, handoff in read_order(pl):
        try:
            ctx = backend.session.request(method, node_url(node, path_for(node)),
                                          headers=headers, timeout=backend.timeout)
            r = await ctx.__aenter__()
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            (log.info if isinstance(exc, (aiohttp.ClientConnectorError, TimeoutError))
             else log.warning)("%s %s: %s", method, node_addr(node), exc)
            seen.append(Answer(503, {}, node_addr(node), handoff=handoff))
            continue
        answer = Answer(r.status, dict(r.headers), node_addr(node), handoff=handoff)
        seen.append(answer)
        if good(r.status):
            try:
                yield r, seen
            finally:
                await ctx.__aexit__(None, None, None)
            return
        await r.read()
        await ctx.__aexit__(None, None, None)
    yield None, seen
