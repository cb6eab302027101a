#!/usr/bin/env python3
"""Time to a running tiny guest through the compute API: from ``POST /servers`` to
ACTIVE, to the guest's first serial console line and to its ready marker, booting
from the image (a qcow2 overlay on the cached base) and from a volume (the image
copied to an iSCSI volume of the block store); then N servers (default 10) launched
at once on this one host (``min_count``/``max_count``), until all are ACTIVE and all
have printed, and after their deletion a check that nothing was left: no server,
domain, instance directory, port or volume.

Runs as root (libvirtd, the network data path, tgtd): a private Strata with
identity, the image service (file store), the block store, the networking service
with its data path and compute on libvirt, the tiny guest uploaded as ``tiny``
(``strata image tiny``, built once per machine), servers as the demo user on
``private``. Times are the API's (no client start-up); QEMU TCG unless
``--virt-type kvm``/``auto``.

    .venv/bin/python bench/compute_bench.py            # one of each, then 10 at once
    .venv/bin/python bench/compute_bench.py --many 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libvirt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from private_strata import STRATA, free_port, private_strata  # beside this file

from network.dataplane import DataPlane

READY = "STRATA-TINY-READY"
NANO = "42"
WITHIN = 900.0  # seconds anything may take on a loaded two-core machine


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def until(probe: Callable[[], Any], what: str, within: float = WITHIN,
          every: float = 0.25) -> Any:
    deadline = time.monotonic() + within
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise SystemExit(f"compute bench: {what} did not happen within {within:g}s")
        time.sleep(every)


class Api:
    """The demo user on one service (compute at microversion 2.79)."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update({"X-Auth-Token": token,
                                     "OpenStack-API-Version": "compute 2.79"})

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.session.request(method, self.base + path, timeout=60, **kw)
        if r.status_code != status:
            raise SystemExit(f"compute bench: {method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    def status(self, path: str) -> int:
        return self.session.get(self.base + path, timeout=60).status_code


def login(env: dict[str, str], user: str) -> tuple[str, str]:
    """(token, project id) of ``user`` from its openrc in the private Strata."""
    rc = Path(env["STRATA_HOME"]) / "var" / ("openrc" if user == "admin" else "demo-openrc")
    out = subprocess.run(["bash", "-c", f'. "{rc}" && env -0'], capture_output=True,
                         check=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    os_env = dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    r = requests.post(os_env["OS_AUTH_URL"].rstrip("/") + "/auth/tokens", timeout=30, json={
        "auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": os_env["OS_USERNAME"], "domain": {"id": "default"},
            "password": os_env["OS_PASSWORD"]}}},
            "scope": {"project": {"name": os_env["OS_PROJECT_NAME"],
                                  "domain": {"id": "default"}}}}})
    r.raise_for_status()
    return r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]


def console(nova: Api, uuid: str) -> str:
    out: str = nova.call("POST", f"/v2.1/servers/{uuid}/action",
                         json={"os-getConsoleOutput": {}})["output"]
    return out


def watch(nova: Api, ids: list[str], started: float) -> dict[str, list[float]]:
    """Seconds from ``started`` until each server was ACTIVE, printed its first console
    line and its ready marker."""
    seen: dict[str, dict[str, float]] = {i: {} for i in ids}
    deadline = started + WITHIN
    while any(len(s) < 3 for s in seen.values()):
        if time.monotonic() > deadline:
            raise SystemExit(f"compute bench: servers not ready within {WITHIN:g}s: {seen}")
        for uuid, marks in seen.items():
            if "active" not in marks:
                srv = nova.call("GET", f"/v2.1/servers/{uuid}")["server"]
                if srv["status"] == "ERROR":
                    raise SystemExit(f"compute bench: {uuid} ERROR: {srv.get('fault')}")
                if srv["status"] == "ACTIVE":
                    marks["active"] = time.monotonic() - started
            if "active" in marks and len(marks) < 3:
                out = console(nova, uuid)
                if out.strip() and "first" not in marks:
                    marks["first"] = time.monotonic() - started
                if READY in out:
                    marks["ready"] = time.monotonic() - started
        time.sleep(0.25)
    return {k: [round(seen[i][k], 1) for i in ids] for k in ("active", "first", "ready")}


def gone(api: Api, path: str) -> None:
    until(lambda: api.status(path) == 404, f"{path} deleted")


def delete(nova: Api, ids: list[str]) -> float:
    started = time.monotonic()
    for uuid in ids:
        nova.call("DELETE", f"/v2.1/servers/{uuid}", 204)
    for uuid in ids:
        gone(nova, f"/v2.1/servers/{uuid}")
    return round(time.monotonic() - started, 1)


def boot_one(nova: Api, cinder: Api, name: str, server: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    made = nova.call("POST", "/v2.1/servers", 202, json={"server": {
        "name": name, "flavorRef": NANO, **server}})["server"]
    marks = watch(nova, [made["id"]], started)
    volumes = [a["id"] for a in nova.call("GET", f"/v2.1/servers/{made['id']}")["server"][
        "os-extended-volumes:volumes_attached"]]
    result = {k: v[0] for k, v in marks.items()}
    result["delete_s"] = delete(nova, [made["id"]])
    for vol in volumes:  # delete_on_termination: the root volume goes with the server
        gone(cinder, f"/volumes/{vol}")
    log(f"{name}: {result}")
    return result


def boot_many(nova: Api, count: int, image: str, network: str) -> dict[str, Any]:
    started = time.monotonic()
    nova.call("POST", "/v2.1/servers", 202, json={"server": {
        "name": "bench-many", "imageRef": image, "flavorRef": NANO, "min_count": count,
        "max_count": count, "networks": [{"uuid": network}]}})
    ids = [s["id"] for s in nova.call("GET", "/v2.1/servers",
                                      params={"name": "^bench-many"})["servers"]]
    assert len(ids) == count, ids
    marks = watch(nova, ids, started)
    result: dict[str, Any] = {"servers": count}
    for key, values in marks.items():
        result[f"all_{key}_s"] = max(values)
        result[f"first_{key}_s"] = min(values)
    result["delete_s"] = delete(nova, ids)
    log(f"{count} at once: {result}")
    return result


def leftovers(home: Path, prefix: str, nova: Api, neutron: Api, cinder: Api) -> list[str]:
    """What the deleted servers left: servers, domains, instance directories, ports,
    volumes (each waited for a little: ports and taps go after the server)."""
    left: list[str] = []
    if nova.call("GET", "/v2.1/servers")["servers"]:
        left.append("servers")
    conn = libvirt.open("qemu:///system")
    try:
        domains = [d.name() for d in conn.listAllDomains() if d.name().startswith(prefix)]
    finally:
        conn.close()
    left += [f"domain {d}" for d in domains]
    instances = home / "var" / "compute" / "instances"
    left += [f"instance directory {p.name}" for p in instances.glob("*")] \
        if instances.exists() else []
    with contextlib.suppress(SystemExit):
        until(lambda: not neutron.call("GET", "/v2.0/ports", params={
            "device_owner": "compute:nova"})["ports"], "ports gone", within=60)
    left += [f"port {p['id']}" for p in neutron.call("GET", "/v2.0/ports", params={
        "device_owner": "compute:nova"})["ports"]]
    left += [f"volume {v['id']}" for v in cinder.call("GET", "/volumes")["volumes"]]
    return left


def run(env: dict[str, str], home: Path, prefix: str, many: int) -> dict[str, Any]:
    log("[compute-bench] uploading the tiny guest (strata image tiny)")
    subprocess.run([STRATA, "image", "tiny"], env=env, check=True, stdout=subprocess.DEVNULL)
    token, project = login(env, "demo")
    port = {s: env[f"STRATA_{s.upper()}_PORT"] for s in ("compute", "network", "imagestore",
                                                        "blockstore")}
    nova = Api(f"http://127.0.0.1:{port['compute']}", token)
    neutron = Api(f"http://127.0.0.1:{port['network']}", token)
    cinder = Api(f"http://127.0.0.1:{port['blockstore']}/v3/{project}", token)
    glance = Api(f"http://127.0.0.1:{port['imagestore']}", token)
    image = glance.call("GET", "/v2/images", params={"name": "tiny"})["images"][0]["id"]
    network = neutron.call("GET", "/v2.0/networks", params={"name": "private"})[
        "networks"][0]["id"]
    nets = [{"uuid": network}]
    result: dict[str, Any] = {
        "from_image": boot_one(nova, cinder, "bench-image", {"imageRef": image,
                                                            "networks": nets}),
        "from_volume": boot_one(nova, cinder, "bench-volume", {
            "networks": nets, "block_device_mapping_v2": [{
                "uuid": image, "source_type": "image", "destination_type": "volume",
                "boot_index": 0, "volume_size": 1, "delete_on_termination": True}]}),
        "at_once": boot_many(nova, many, image, network)}
    result["leftovers"] = leftovers(home, prefix, nova, neutron, cinder)
    return result


def remove(home: Path, prefix: str, instance: str) -> None:
    """After ``strata down``: the domains and data path it leaves for a restart."""
    with contextlib.suppress(libvirt.libvirtError):
        conn = libvirt.open("qemu:///system")
        try:
            for dom in conn.listAllDomains():
                if dom.name().startswith(prefix):
                    with contextlib.suppress(libvirt.libvirtError):
                        if dom.isActive():
                            dom.destroy()
                        dom.undefine()
        finally:
            conn.close()

    async def teardown() -> None:
        plane = DataPlane(instance, home / "var" / "network")
        try:
            await plane.teardown()
        finally:
            await plane.close()
    asyncio.run(teardown())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--many", type=int, default=10, help="servers launched at once")
    p.add_argument("--virt-type", default="qemu", choices=("qemu", "kvm", "auto"))
    p.add_argument("--keep", action="store_true", help="leave Strata running afterwards")
    args = p.parse_args()
    if os.geteuid() != 0:
        p.error("needs root (libvirtd, the network data path, tgtd)")
    tag = secrets.token_hex(2)
    instance, prefix = "c" + tag[:3], f"cbench{tag}-"
    ports = {f"STRATA_{name}_PORT": str(free_port()) for name in (
        "IDENTITY", "IMAGESTORE", "BLOCKSTORE", "BLOCKSTORE_ISCSI", "NETWORK", "COMPUTE",
        "COMPUTE_METADATA", "COMPUTE_CONSOLE")}
    settings = {**ports, "STRATA_BLOCKSTORE_TGTD_CONTROL_PORT": str(free_port()),
                "STRATA_OBJECTSTORE_ENABLED": "false", "STRATA_PROXY_ENABLED": "false",
                "STRATA_EC2_ENABLED": "false", "STRATA_DASHBOARD_ENABLED": "false",
                "STRATA_IMAGESTORE_STORE": "file", "STRATA_NETWORK_DATAPLANE": "true",
                "STRATA_NETWORK_INSTANCE": instance, "STRATA_COMPUTE_DOMAIN_PREFIX": prefix,
                "STRATA_COMPUTE_VIRT_TYPE": args.virt_type,
                "STRATA_COMPUTE_SHUTDOWN_TIMEOUT": "5"}
    with private_strata("compute", args.keep, lambda home: remove(home, prefix, instance),
                        **settings) as (home, env):
        result = run(env, home, prefix, args.many)
    print(json.dumps(result, indent=2))
    if result["leftovers"]:
        raise SystemExit(f"compute bench: deleted servers left {result['leftovers']}")


if __name__ == "__main__":
    main()
