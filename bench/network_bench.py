#!/usr/bin/env python3
"""Time to a working tenant network: network + subnet + router (gateway on ``public``,
an interface on the subnet) + 10 ports bound to this host, until every port is
``ACTIVE``; and the nftables rules the data path writes per port.

Starts a private Strata (identity and the networking service only, on free ports)
and, each round, makes the topology through the Networking API with the admin's
token, binds the ports to this host as compute does, and waits until the
service reports them ``ACTIVE``: with the data path on (``--dataplane``) that is
after the host agent's ``DataPlane.apply`` has plugged them; without it, at once
(the API's own cost). With the data path on it also counts the lines of ``nft
list ruleset`` that name each port's tap (``nft_rules_per_port``: set and map
elements, since a port adds no rule of its own). Then it deletes what it made;
after ``strata down`` (which leaves the data path up, for a restart to take
over) the data path's teardown removes its namespaces, devices and tables.

    .venv/bin/python bench/network_bench.py                 # API alone, 5 rounds
    .venv/bin/python bench/network_bench.py --dataplane     # with the data path
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from private_strata import free_port, private_strata  # beside this file

from identity.client import password_auth_body
from network.dataplane import DataPlane
from network.dataplane.model import tap_name

PORTS = 10


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session, self.url, self.h = session, url + "/v2.0", {"X-Auth-Token": token}

    async def call(self, method: str, path: str, body: Any = None, ok: int = 200) -> Any:
        async with self.session.request(method, self.url + path, json=body,
                                        headers=self.h) as r:
            assert r.status == ok, f"{method} {path}: {r.status} {await r.text()}"
            return await r.json() if r.status != 204 else None


def nft_rules_naming(taps: list[str]) -> list[int]:
    if shutil.which("nft") is None:
        return []
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True,
                             check=False).stdout.splitlines()
    return [sum(1 for line in ruleset if tap in line) for tap in taps]


async def one_round(api: Api, n: int, public: str, host: str,
                    dataplane: bool) -> dict[str, Any]:
    start = time.perf_counter()
    net = (await api.call("POST", "/networks", {"network": {"name": f"bench-{n}"}},
                          201))["network"]
    sub = (await api.call("POST", "/subnets", {"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": f"10.{200 + n % 50}.0.0/24"}},
        201))["subnet"]
    router = (await api.call("POST", "/routers", {"router": {
        "name": f"bench-{n}", "external_gateway_info": {"network_id": public}}}, 201))["router"]
    await api.call("PUT", f"/routers/{router['id']}/add_router_interface",
                   {"subnet_id": sub["id"]})
    ports = []
    for i in range(PORTS):
        ports.append((await api.call("POST", "/ports", {"port": {
            "network_id": net["id"], "name": f"bench-{n}-{i}", "binding:host_id": host,
            "device_id": f"bench-vm-{n}-{i}", "device_owner": "compute:nova"}}, 201))["port"])
    made = time.perf_counter()
    while True:
        listed = (await api.call("GET", f"/ports?network_id={net['id']}"))["ports"]
        if all(p["status"] == "ACTIVE" for p in listed if p["device_owner"] == "compute:nova"):
            break
        assert time.perf_counter() - start < 300, "ports did not become ACTIVE"
        await asyncio.sleep(0.02)
    ready = time.perf_counter()
    rules = nft_rules_naming([tap_name(p["id"]) for p in ports]) if dataplane else []
    for p in ports:
        await api.call("DELETE", f"/ports/{p['id']}", ok=204)
    await api.call("PUT", f"/routers/{router['id']}/remove_router_interface",
                   {"subnet_id": sub["id"]})
    await api.call("DELETE", f"/routers/{router['id']}", ok=204)
    await api.call("DELETE", f"/networks/{net['id']}", ok=204)
    return {"api_s": made - start, "ready_s": ready - start, "rules": rules}


async def run(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    home = Path(env["STRATA_HOME"])
    creds = json.loads((home / "var" / "secrets.json").read_text())
    identity = f"http://127.0.0.1:{env['STRATA_IDENTITY_PORT']}"
    network = f"http://127.0.0.1:{env['STRATA_NETWORK_PORT']}"
    async with aiohttp.ClientSession() as session:
        async with session.post(identity + "/v3/auth/tokens", json=password_auth_body(
                "admin", creds["admin_password"], "admin")) as r:
            assert r.status == 201, await r.text()
            token = r.headers["X-Subject-Token"]
        api = Api(session, network, token)
        public = (await api.call("GET", "/networks?name=public"))["networks"][0]["id"]
        rounds = []
        for n in range(args.rounds):
            rounds.append(await one_round(api, n, public, socket.gethostname(),
                                          args.dataplane))
            log(f"round {n + 1}: {rounds[-1]}")
    rules = [x for r in rounds for x in r["rules"]]
    return {"dataplane": args.dataplane, "ports": PORTS, "rounds": len(rounds),
            "api_seconds_median": round(statistics.median(r["api_s"] for r in rounds), 3),
            "ready_seconds_median": round(statistics.median(r["ready_s"] for r in rounds), 3),
            "ready_seconds_max": round(max(r["ready_s"] for r in rounds), 3),
            "nft_rules_per_port": statistics.median(rules) if rules else None}


async def remove_dataplane(instance: str, run_dir: Path) -> None:
    plane = DataPlane(instance, run_dir)
    try:
        await plane.teardown()
    finally:
        await plane.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dataplane", action="store_true",
                   help="run the host data path (bridges, namespaces, nftables)")
    p.add_argument("--keep", action="store_true", help="leave Strata running afterwards")
    args = p.parse_args()
    if args.dataplane and os.geteuid() != 0:
        p.error("--dataplane needs root (it makes namespaces, bridges and nftables tables)")
    instance = "nb" + secrets.token_hex(1)  # this run's tag on the host's devices

    def remove(home: Path) -> None:
        if args.dataplane:
            asyncio.run(remove_dataplane(instance, home / "var" / "network"))

    settings = {f"STRATA_{s}_ENABLED": "false"
                for s in ("OBJECTSTORE", "PROXY", "IMAGESTORE", "BLOCKSTORE", "COMPUTE",
                          "EC2", "DASHBOARD")}
    with private_strata("network", args.keep, remove, **settings,
                        STRATA_IDENTITY_PORT=str(free_port()),
                        STRATA_NETWORK_PORT=str(free_port()),
                        STRATA_NETWORK_DATAPLANE="true" if args.dataplane else "false",
                        STRATA_NETWORK_INSTANCE=instance,
                        ) as (_, env):
        result = asyncio.run(run(args, env))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
