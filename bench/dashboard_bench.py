#!/usr/bin/env python3
"""How fast the dashboard's pages answer with a project full of things.

Starts a private Strata (``strata up -d`` on free ports, state in a temporary
directory, the network API without its host data path, compute on its in-memory
hypervisor), fills project demo with ``--volumes`` volumes and ``--instances``
instances on its network (its quotas raised by the admin) and one container with
``--objects`` objects, logs in to the dashboard as demo and as admin (the login
form, its CSRF token and session cookie, as a browser does), then fetches each page
``--rounds`` times after two warm-up fetches and prints each page's median, 90th
percentile and worst time, in milliseconds, as JSON. The time is the whole request
seen by a client on loopback: the dashboard's own work plus the API calls it makes
for the page. The issue asks for any page under 200 ms with 100 instances, 100
volumes and 1,000 objects in a container.

    .venv/bin/python bench/dashboard_bench.py [--volumes 100] [--instances 100] \
        [--objects 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from private_strata import private_strata  # noqa: E402  (beside this file)

from tests.conftest import strata_ports  # noqa: E402  (the repository's own port picker)

CONTAINER = "bench"
DEMO_PAGES = ("/project/", "/project/instances/", "/project/instances/launch",
              "/project/key_pairs/", "/project/volumes/", "/project/snapshots/", "/project/images/",
              "/project/containers/", f"/project/containers/{CONTAINER}/",
              "/project/networks/", "/project/network_topology/",
              "/project/security_groups/", "/project/api_access/", "/project/usage.csv")
ADMIN_PAGES = ("/admin/", "/admin/usage.csv", "/admin/instances/", "/admin/hypervisors/",
               "/admin/flavors/", "/admin/volumes/", "/admin/images/", "/admin/networks/",
               "/admin/projects/", "/admin/users/", "/admin/info/")


def log(msg: str) -> None:
    print(f"[dashboard-bench] {msg}", file=sys.stderr, flush=True)


async def gather_bounded(jobs: list[Awaitable[Any]], width: int) -> None:
    gate = asyncio.Semaphore(width)

    async def one(job: Awaitable[Any]) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(j) for j in jobs))


class Cloud:
    def __init__(self, home: Path, session: aiohttp.ClientSession, identity: str) -> None:
        secrets = json.loads((home / "var" / "secrets.json").read_text())
        self.passwords = {u: str(secrets[f"{u}_password"]) for u in ("admin", "demo")}
        self.http = session
        self.identity = identity
        self.urls: dict[str, str] = {}

    async def token(self, user: str) -> tuple[str, str]:
        """A token of ``user`` scoped to the project of the same name, and its project id."""
        req = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": self.passwords[user]}}},
            "scope": {"project": {"name": user, "domain": {"id": "default"}}}}}
        async with self.http.post(self.identity + "/v3/auth/tokens", json=req) as r:
            assert r.status == 201, await r.text()
            body = await r.json()
        token = body["token"]
        self.urls = {s["type"]: next(e["url"] for e in s["endpoints"]
                                     if e["interface"] == "public") for s in token["catalog"]}
        return r.headers["X-Subject-Token"], token["project"]["id"]

    async def fill(self, volumes: int, instances: int, objects: int) -> None:
        admin, _ = await self.token("admin")
        cinder_admin = self.urls["volumev3"].rstrip("/")  # .../v3/<admin's project>
        demo, demo_pid = await self.token("demo")
        cinder = self.urls["volumev3"].rstrip("/")
        nova = self.urls["compute"].rstrip("/")
        quota = {"quota_set": {"volumes": volumes + 10, "gigabytes": volumes + 100}}
        async with self.http.put(f"{cinder_admin}/os-quota-sets/{demo_pid}", json=quota,
                                 headers={"X-Auth-Token": admin}) as r:
            assert r.status == 200, await r.text()
        quota = {"quota_set": {"instances": instances + 10, "cores": instances + 10,
                               "ram": 128 * (instances + 10)}}
        async with self.http.put(f"{nova}/os-quota-sets/{demo_pid}", json=quota,
                                 headers={"X-Auth-Token": admin}) as r:
            assert r.status == 200, await r.text()
        started = time.monotonic()
        if instances:
            await self.servers(demo, instances)
            log(f"{instances} instances in {time.monotonic() - started:.0f} s")

        async def volume(i: int) -> None:
            body = {"volume": {"size": 1, "name": f"vol-{i:03d}"}}
            async with self.http.post(cinder + "/volumes", json=body,
                                      headers={"X-Auth-Token": demo}) as r:
                assert r.status == 202, await r.text()

        swift = self.urls["object-store"].rstrip("/")
        async with self.http.put(f"{swift}/{CONTAINER}", headers={"X-Auth-Token": demo}) as r:
            assert r.status in (201, 202), await r.text()

        async def obj(i: int) -> None:
            async with self.http.put(f"{swift}/{CONTAINER}/file-{i:04d}.txt",
                                     data=f"object {i}\n".encode(),
                                     headers={"X-Auth-Token": demo}) as r:
                assert r.status == 201, await r.text()

        started = time.monotonic()
        await gather_bounded([volume(i) for i in range(volumes)], 8)
        await gather_bounded([obj(i) for i in range(objects)], 16)
        while True:  # until no volume is still being created
            async with self.http.get(cinder + "/volumes/detail",
                                     headers={"X-Auth-Token": demo}) as r:
                states = [v["status"] for v in (await r.json())["volumes"]]
            if states.count("available") >= volumes:
                break
            if "error" in states:
                raise SystemExit("a volume went to error")
            await asyncio.sleep(2)
        log(f"{volumes} volumes and {objects} objects in {time.monotonic() - started:.0f} s")


    async def servers(self, token: str, count: int) -> None:
        """``count`` m1.nano servers of a small raw image on a network of their own, in
        multiple-creates of 20; until all are ACTIVE."""
        glance = self.urls["image"].rstrip("/")
        nova = self.urls["compute"].rstrip("/")
        auth = {"X-Auth-Token": token}
        body = {"name": "bench", "disk_format": "raw", "container_format": "bare"}
        async with self.http.post(glance + "/v2/images", json=body, headers=auth) as r:
            assert r.status == 201, await r.text()
            image = (await r.json())["id"]
        async with self.http.put(f"{glance}/v2/images/{image}/file", data=bytes(1 << 20),
                                 headers={**auth,
                                          "Content-Type": "application/octet-stream"}) as r:
            assert r.status == 204, await r.text()
        # a network of their own: the bootstrap's private subnet is small
        neutron = self.urls["network"].rstrip("/") + "/v2.0"
        async with self.http.post(neutron + "/networks", json={"network": {
                "name": "bench"}}, headers=auth) as r:
            assert r.status == 201, await r.text()
            net = (await r.json())["network"]["id"]
        async with self.http.post(neutron + "/subnets", json={"subnet": {
                "network_id": net, "cidr": "10.90.0.0/22", "ip_version": 4}},
                headers=auth) as r:
            assert r.status == 201, await r.text()
        version = {**auth, "OpenStack-API-Version": "compute 2.36"}
        for first in range(0, count, 20):
            n = min(20, count - first)
            server = {"name": f"vm-{first:03d}", "imageRef": image, "flavorRef": "42",
                      "min_count": n, "max_count": n, "networks": [{"uuid": net}]}
            async with self.http.post(nova + "/servers", json={"server": server},
                                      headers=version) as r:
                assert r.status == 202, await r.text()
        while True:  # until every server is built
            async with self.http.get(nova + "/servers/detail", headers=auth) as r:
                states = [s["status"] for s in (await r.json())["servers"]]
            if states.count("ACTIVE") >= count:
                return
            if "ERROR" in states:
                raise SystemExit("a server went to ERROR")
            await asyncio.sleep(2)


async def dashboard_login(base: str, user: str, password: str) -> aiohttp.ClientSession:
    """A client session logged in through the login form, as a browser is."""
    # unsafe: keep cookies of an IP address host (127.0.0.1), which a browser does
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(base + "/auth/login") as r:
        page = await r.text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the login page"
    form = {"csrf_token": found.group(1), "next": "/project/", "username": user,
            "password": password, "domain": "Default"}
    async with session.post(base + "/auth/login", data=form, allow_redirects=False) as r:
        assert r.status in (302, 303), f"login of {user}: {r.status} {await r.text()}"
    return session


async def time_pages(session: aiohttp.ClientSession, base: str, pages: tuple[str, ...],
                     rounds: int) -> dict[str, dict[str, float]]:
    out = {}
    for path in pages:
        times = []
        for i in range(rounds + 2):
            started = time.perf_counter()
            async with session.get(base + path, allow_redirects=False) as r:
                await r.read()
                assert r.status == 200, f"{path}: {r.status}"
            if i >= 2:  # two warm-up fetches
                times.append((time.perf_counter() - started) * 1000)
        times.sort()
        out[path] = {"median_ms": round(statistics.median(times), 1),
                     "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
                     "max_ms": round(times[-1], 1)}
        log(f"{path}: median {out[path]['median_ms']} ms")
    return out


async def run(args: argparse.Namespace, home: Path, identity: str,
              dashboard: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        cloud = Cloud(home, http, identity)
        await cloud.fill(args.volumes, args.instances, args.objects)
    timings: dict[str, Any] = {}
    for user, pages in (("demo", DEMO_PAGES), ("admin", ADMIN_PAGES)):
        session = await dashboard_login(dashboard, user, cloud.passwords[user])
        async with session:
            timings[user] = await time_pages(session, dashboard, pages, args.rounds)
    worst = max(t["median_ms"] for pages in timings.values() for t in pages.values())
    return {"volumes": args.volumes, "instances": args.instances, "objects": args.objects,
            "rounds": args.rounds,
            "worst_median_ms": worst, "pages": timings}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--volumes", type=int, default=100)
    p.add_argument("--instances", type=int, default=100)
    p.add_argument("--objects", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=20, help="timed fetches of each page")
    p.add_argument("--keep", action="store_true", help="leave Strata running afterwards")
    args = p.parse_args()
    with private_strata("dashboard", args.keep, **strata_ports(),
                        STRATA_NETWORK_DATAPLANE="false",
                        STRATA_DASHBOARD_ENABLED="true", STRATA_COMPUTE_ENABLED="true",
                        STRATA_COMPUTE_VIRT_DRIVER="memory",
                        STRATA_EC2_ENABLED="false") as (home, env):
        identity = f"http://127.0.0.1:{env['STRATA_IDENTITY_PORT']}"
        dashboard = f"http://127.0.0.1:{env['STRATA_DASHBOARD_PORT']}"
        result = asyncio.run(run(args, home, identity, dashboard))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
