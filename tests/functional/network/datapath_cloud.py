"""A private Strata with the network data path on, for the end-to-end tests (as root).

``strata up -d`` runs identity and the networking service, whose host agent
converges this machine to the database under a fresh instance tag. Namespaces
stand in for guests: a port made through the API and bound to the service's agent
host (``binding:host_id``, as compute binds them) is plugged by a test-side
``DataPlane`` of the same instance tag (``plug_namespace_port``: a veth whose
host end is the port's tap, marked as the port's, so the service's agent keeps it
while the port exists and removes it with the port). A small aiohttp server on the
configured metadata socket stands in for compute's metadata service.

Everything the cloud made on the host goes at the end, even after a failure:
``strata down``, then the data path's own teardown for the instance (namespaces
with their helpers, devices, tables, files), then a forced sweep; anything that
was still there is reported as an error of the fixture.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from network.dataplane import DataPlane, names
from network.dataplane.model import Port
from tests.functional.network.dataplane.conftest import (
    Driver,
    MetadataUpstream,
    leftovers,
    pids_naming,
    sweep,
)
from tests.functional.network.dataplane.guests import Guests
from tests.functional.network.network_server import NetworkCloud, network_cloud

T = TypeVar("T")
WITHIN = 60.0  # seconds a change through the API may take to reach the host (a loaded one)


def eventually(probe: Callable[[], T | None], what: str, within: float = WITHIN,
               every: float = 0.3) -> T:
    """``probe()``'s first truthy answer; fails naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f}s waiting for {what}", pytrace=False)
        time.sleep(every)


def _lines(*argv: str) -> list[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.splitlines()


@dataclass(frozen=True)
class Snapshot:
    """What the instance has on the host, as comparable text."""

    namespaces: tuple[str, ...]
    devices: tuple[str, ...]  # "<namespace or root> <name> <master> <alias> <addresses>"
    tables: str  # root tables of the instance, then each namespace's ruleset
    routes: tuple[str, ...]
    helpers: tuple[int, ...]


@dataclass
class Guest:
    netns: str
    port: dict[str, Any]
    lease: dict[str, str]

    @property
    def ip(self) -> str:
        return str(self.port["fixed_ips"][0]["ip_address"])


@dataclass
class DataPathCloud:
    cloud: NetworkCloud
    instance: str
    host: str  # the service's agent host: ports bound to it are this host's to plug
    plane: DataPlane  # the test's: plugs guests beside the service's own data path
    driver: Driver
    guests: Guests
    upstream: MetadataUpstream
    plugged: dict[str, str] = field(default_factory=dict)  # port id -> guest namespace

    # -- the API

    def osc(self, who: str, *args: str) -> Any:
        return self.cloud.osc(who, *args)

    def cli(self, who: str, *args: str) -> None:
        """An ``openstack`` command that prints nothing on success."""
        r = self.cloud.osc_plain(who, *args)
        assert r.returncode == 0, f"openstack {' '.join(args)}: {r.stdout}{r.stderr}"

    def port(self, port_id: str) -> dict[str, Any]:
        port: dict[str, Any] = self.cloud.net("admin").get(f"/ports/{port_id}")["port"]
        return port

    def bind(self, port_id: str) -> dict[str, Any]:
        """Bind the port to the agent's host as compute does (a privileged caller sets
        ``binding:host_id``), then wait until the data path has it (ACTIVE)."""
        self.cloud.net("admin").put(f"/ports/{port_id}", {"port": {"binding:host_id": self.host}})
        return self.wait_status(port_id, "ACTIVE")

    def wait_status(self, port_id: str, status: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            port = self.port(port_id)
            return port if port["status"] == status else None
        return eventually(probe, f"port {port_id} {status}")

    # -- guests

    def plug(self, port: dict[str, Any], name: str) -> str:
        """A namespace standing in for a guest, plugged into the port (bound and ACTIVE)."""
        netns = self.guests.new(name)
        model = Port(id=port["id"], network_id=port["network_id"],
                     project_id=port["project_id"], mac_address=port["mac_address"],
                     fixed_ips=())
        self.driver.call(self.plane.plug_namespace_port(model, netns))
        self.plugged[port["id"]] = netns
        return netns

    def guest(self, port_id: str, name: str) -> Guest:
        """Bind, plug and take a DHCP lease: a guest on the port."""
        port = self.bind(port_id)
        netns = self.plug(port, name)
        lease = eventually(lambda: self.guests.dhcp(netns), f"a DHCP lease in {name}")
        return Guest(netns, port, lease)

    # -- the host

    @property
    def outside(self) -> str:
        return names.external_namespace(self.instance)

    @property
    def run_dir(self) -> Path:
        return self.cloud.var / "network"

    def router_ns(self, router_id: str) -> str:
        return names.router_namespace(self.instance, router_id)

    def dhcp_ns(self, network_id: str) -> str:
        return names.dhcp_namespace(self.instance, network_id)

    def namespaces(self) -> set[str]:
        return {line.split()[0] for line in _lines("ip", "netns", "list")
                if line.startswith(f"{self.instance}-")}

    def helpers(self) -> list[int]:
        return sorted(pids_naming(self.run_dir / self.instance))

    def snapshot(self) -> Snapshot:
        netns = sorted(self.namespaces())
        devices, routes = [], []
        for ns in (None, *netns):
            where = ["-n", ns] if ns else []
            for line in _lines("ip", *where, "-o", "-d", "link", "show"):
                alias = re.search(r" alias (\S+)", line)
                if ns is None and not (alias and alias.group(1).startswith(
                        names.alias_prefix(self.instance))):
                    continue
                name = line.split(":")[1].strip().split("@")[0]
                master = re.search(r" master (\S+)", line)
                addresses = sorted(a.split()[3] for a in _lines("ip", *where, "-o", "addr",
                                                                  "show", "dev", name))
                devices.append(f"{ns or 'root'} {name} {master and master.group(1)} "
                               f"{alias and alias.group(1)} {' '.join(addresses)}")
            if ns:
                routes += [f"{ns} {r}" for r in _lines("ip", "-n", ns, "route", "show")]
        table = names.nft_table(self.instance)
        tables = "".join(subprocess.run(["nft", "list", "table", family, table],
                                        capture_output=True, text=True).stdout
                         for family in ("inet", "bridge"))
        for ns in netns:
            tables += subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "ruleset"],
                                     capture_output=True, text=True).stdout
        return Snapshot(tuple(netns), tuple(sorted(devices)), tables, tuple(sorted(routes)),
                        tuple(self.helpers()))

    def settle(self, anchor: str) -> None:
        """Wait until a pass of the agent started after everything done so far has
        finished: the bound port ``anchor`` is bound again (to the same host, which
        changes nothing on the host) and is ACTIVE once such a pass applied it."""
        self.cloud.net("admin").put(f"/ports/{anchor}", {"port": {"binding:host_id": self.host}})
        self.wait_status(anchor, "ACTIVE")

    # -- the service

    def network_pid(self) -> int:
        log = (self.cloud.var / "log" / "strata.log").read_text()
        found = re.findall(r"started network \(pid (\d+)\)", log)
        assert found, "the supervisor never started the networking service"
        return int(found[-1])

    def kill_service(self) -> None:
        """SIGKILL the networking service (no clean stop: its helpers run on) and wait
        until the supervisor has started it again and it answers."""
        old = self.network_pid()
        os.kill(old, signal.SIGKILL)
        eventually(lambda: self.network_pid() != old, "the networking service restarted")

        def answers() -> bool:
            with contextlib.suppress(requests.RequestException):
                return requests.get(self.cloud.network_url + "/", timeout=5).status_code == 200
            return False
        eventually(answers, "the restarted networking service to answer")


@contextlib.contextmanager
def datapath_cloud(tmp: pytest.TempPathFactory) -> Iterator[DataPathCloud]:
    instance = "e" + secrets.token_hex(2)[:3]
    driver = Driver()
    # a short path: a UNIX socket's is at most 107 bytes
    socket_dir = Path(tempfile.mkdtemp(prefix="md", dir="/tmp"))
    upstream = MetadataUpstream(driver, socket_dir / "md.sock")
    guests = Guests(tmp.mktemp("e2e-guests"))
    run_dir: Path | None = None
    try:
        driver.call(upstream.start())
        with network_cloud(tmp, STRATA_NETWORK_DATAPLANE="true",
                           STRATA_NETWORK_INSTANCE=instance,
                           STRATA_COMPUTE_METADATA_SOCKET=str(upstream.path)) as cloud:
            run_dir = cloud.var / "network"
            yield DataPathCloud(cloud, instance, socket.gethostname(),
                                DataPlane(instance, run_dir), driver, guests, upstream)
    finally:
        guests.cleanup()
        if run_dir is not None:
            _remove_instance(driver, instance, run_dir)
        driver.call(upstream.stop())
        driver.close()
        upstream.path.unlink(missing_ok=True)
        socket_dir.rmdir()


def _remove_instance(driver: Driver, instance: str, run_dir: Path) -> None:
    """After ``strata down``: the data path removes what is the instance's; a sweep
    takes whatever it could not, and the fixture fails naming it."""
    plane = DataPlane(instance, run_dir)
    try:
        driver.call(plane.teardown())
        driver.call(plane.close())
    finally:
        left = leftovers(instance, run_dir / instance)
        sweep(instance, run_dir / instance)
    assert not left, f"the data path's teardown left {left}"
