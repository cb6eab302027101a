#!/usr/bin/env python3
"""What the EC2 front costs over the native API it stands on: volumes, or instances.

Starts a private Strata (identity, the image service on its file store, the block
store, the networking service without its data path, and the EC2 front, on free
ports), makes an EC2 credential for ``demo`` as ``openstack ec2 credentials
create`` does, and times, alternating the two each round:

- a create round trip (the request until its answer, not until ``available``):
  boto3's ``CreateVolume`` against ``POST /v3/{project}/volumes``;
- a listing of ``--count`` volumes: ``DescribeVolumes`` against ``GET
  /v3/{project}/volumes/detail`` (the front asks for the same listing, then maps
  ids and reads tags).

The EC2 side is timed through boto3 (signing, XML parsing: what its users pay),
the native side through ``requests`` with a token (JSON parsing); the signature
check is cached by the front after the first request of a day, as the S3 front's
is. Medians of ``--rounds`` rounds are printed as JSON. It deletes what it made.

With ``--instances`` the same is done for servers, compute running on its in-memory
hypervisor (every step but the guest): ``RunInstances`` of one ``m1.nano`` against
``POST /v2.1/servers``, and ``DescribeInstances`` against ``GET
/v2.1/servers/detail`` (the front asks for that listing and the deleted servers of
the last hour, maps ids, reservations, groups and tags).

    .venv/bin/python bench/ec2_bench.py                  # 100 volumes, 10 rounds
    .venv/bin/python bench/ec2_bench.py --count 20 --rounds 3   # quick look
    .venv/bin/python bench/ec2_bench.py --instances      # 100 instances
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from identity.client import password_auth_body
from tests.conftest import strata_ports

STRATA = str(Path(sys.executable).with_name("strata"))


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    answer = call()
    return time.perf_counter() - start, answer


class Collection:
    """A native collection (``volumes``, ``servers``) at ``url`` with demo's token."""

    collection = ""
    deleted = (204, 404)  # the statuses of a DELETE

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.headers["X-Auth-Token"] = token

    def listing(self) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.url}/{self.collection}/detail", timeout=120)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()[self.collection]
        return items

    def delete(self, uuid: str) -> None:
        r = self.http.delete(f"{self.url}/{self.collection}/{uuid}", timeout=60)
        assert r.status_code in self.deleted, r.text


class Native(Collection):
    """The block store's volumes API with demo's token."""

    collection = "volumes"
    deleted = (202, 404)

    def __init__(self, env: dict[str, str], token: str, project: str) -> None:
        super().__init__(f"http://127.0.0.1:{env['STRATA_BLOCKSTORE_PORT']}/v3/{project}",
                         token)

    def create(self, name: str) -> str:
        r = self.http.post(self.url + "/volumes", json={"volume": {"size": 1, "name": name}},
                           timeout=60)
        assert r.status_code == 202, r.text
        return str(r.json()["volume"]["id"])

    def status(self, uuid: str) -> str:
        r = self.http.get(f"{self.url}/volumes/{uuid}", timeout=60)
        return str(r.json()["volume"]["status"]) if r.status_code == 200 else "gone"


class NativeCompute(Collection):
    """The compute API's servers with demo's token (``auto`` network, as RunInstances)."""

    collection = "servers"

    def __init__(self, env: dict[str, str], token: str) -> None:
        super().__init__(f"http://127.0.0.1:{env['STRATA_COMPUTE_PORT']}/v2.1", token)
        self.http.headers["OpenStack-API-Version"] = "compute 2.79"
        self.image = ""

    def create(self, name: str, count: int = 1) -> None:
        r = self.http.post(self.url + "/servers", timeout=120, json={"server": {
            "name": name, "imageRef": self.image, "flavorRef": "42", "networks": "auto",
            "min_count": count, "max_count": count}})
        assert r.status_code == 202, r.text


def prepare_compute(env: dict[str, str], native: Native) -> NativeCompute:
    """Demo's compute, with no instance quota and a small image of demo's uploaded."""
    compute = NativeCompute(env, str(native.http.headers["X-Auth-Token"]))
    r = login(env, "admin")
    project = native.url.rsplit("/", 1)[1]
    r = requests.put(f"{compute.url}/os-quota-sets/{project}", timeout=30,
                     headers={"X-Auth-Token": r.headers["X-Subject-Token"]},
                     json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
    assert r.status_code == 200, r.text
    images = f"http://127.0.0.1:{env['STRATA_IMAGESTORE_PORT']}/v2/images"
    r = compute.http.post(images, timeout=30, json={
        "name": "bench", "disk_format": "raw", "container_format": "bare"})
    assert r.status_code == 201, r.text
    compute.image = r.json()["id"]
    r = compute.http.put(f"{images}/{compute.image}/file", data=b"\0" * 65536, timeout=60,
                         headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    return compute


def wait_built(compute: NativeCompute) -> None:
    deadline = time.monotonic() + 1200
    while any(s["status"] == "BUILD" for s in compute.listing()):
        assert time.monotonic() < deadline, "servers stayed BUILD"
        time.sleep(1)


def run_instances(args: argparse.Namespace, ec2: Any, native: Native) -> dict[str, Any]:
    compute = prepare_compute(args.env, native)
    (ami,) = [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]
    creates: dict[str, list[float]] = {"ec2": [], "native": []}
    try:
        for n in range(args.rounds):
            seconds, _ = timed(lambda: ec2.run_instances(
                ImageId=ami, InstanceType="m1.nano", MinCount=1, MaxCount=1))
            creates["ec2"].append(seconds)
            seconds, _ = timed(lambda: compute.create(f"bench-{n}"))  # noqa: B023
            creates["native"].append(seconds)
            log(f"create round {n + 1}: ec2 {creates['ec2'][-1]:.3f}s, "
                f"native {creates['native'][-1]:.3f}s")
        missing = args.count - len(compute.listing())
        if missing > 0:
            compute.create("bench-fill", missing)
        wait_built(compute)
        count = len(compute.listing())
        lists = time_listings(args.rounds, count, compute.listing, lambda: sum(
            len(r["Instances"]) for r in ec2.describe_instances()["Reservations"]))
    finally:
        for server in compute.listing():
            compute.delete(server["id"])
    return summary("instances_listed", count, args.rounds, creates, lists)


def time_listings(rounds: int, count: int, native: Callable[[], list[Any]],
                  ec2: Callable[[], int]) -> dict[str, list[float]]:
    """The seconds of each round's EC2 and native listing (each must list ``count``)."""
    lists: dict[str, list[float]] = {"ec2": [], "native": []}
    for n in range(rounds):
        seconds, listed = timed(ec2)
        assert listed == count
        lists["ec2"].append(seconds)
        seconds, items = timed(native)
        assert len(items) == count
        lists["native"].append(seconds)
        log(f"list round {n + 1}: ec2 {lists['ec2'][-1]:.3f}s, "
            f"native {lists['native'][-1]:.3f}s")
    return lists


def summary(what: str, count: int, rounds: int, creates: dict[str, list[float]],
            lists: dict[str, list[float]]) -> dict[str, Any]:
    def med(xs: list[float]) -> float:
        return round(statistics.median(xs) * 1000, 1)

    return {what: count, "rounds": rounds,
            "create_ms_median": {"ec2": med(creates["ec2"]), "native": med(creates["native"])},
            "list_ms_median": {"ec2": med(lists["ec2"]), "native": med(lists["native"])},
            "list_ratio_ec2_over_native": round(
                statistics.median(lists["ec2"]) / statistics.median(lists["native"]), 2)}


def login(env: dict[str, str], who: str) -> requests.Response:
    """A token of ``who`` (``admin``, ``demo``) in their project: identity's answer."""
    secrets = json.loads((Path(env["STRATA_HOME"]) / "var" / "secrets.json").read_text())
    identity = f"http://127.0.0.1:{env['STRATA_IDENTITY_PORT']}"
    r = requests.post(identity + "/v3/auth/tokens", timeout=30, json=password_auth_body(
        who, secrets[f"{who}_password"], who))
    assert r.status_code == 201, r.text
    return r


def demo_client(env: dict[str, str]) -> tuple[Any, Native]:
    identity = f"http://127.0.0.1:{env['STRATA_IDENTITY_PORT']}"
    r = login(env, "demo")
    token, body = r.headers["X-Subject-Token"], r.json()["token"]
    user, project = body["user"]["id"], body["project"]["id"]
    r = requests.post(f"{identity}/v3/users/{user}/credentials/OS-EC2", timeout=30,
                      headers={"X-Auth-Token": token}, json={"tenant_id": project})
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]
    # room for the listing: the default quota is 10 volumes
    r = login(env, "admin")
    admin_project = r.json()["token"]["project"]["id"]
    r = requests.put(f"http://127.0.0.1:{env['STRATA_BLOCKSTORE_PORT']}/v3/{admin_project}"
                     f"/os-quota-sets/{project}", timeout=30,
                     headers={"X-Auth-Token": r.headers["X-Subject-Token"]},
                     json={"quota_set": {"volumes": -1, "gigabytes": -1}})
    assert r.status_code == 200, r.text
    ec2 = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{env['STRATA_EC2_PORT']}",
                       region_name="RegionOne", aws_access_key_id=cred["access"],
                       aws_secret_access_key=cred["secret"],
                       config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    return ec2, Native(env, token, project)


def wait_settled(native: Native, uuids: list[str]) -> None:
    """Until no volume is still being made (so listings compare like with like)."""
    deadline = time.monotonic() + 600
    while any(native.status(u) == "creating" for u in uuids):
        assert time.monotonic() < deadline, "volumes stayed 'creating'"
        time.sleep(0.5)


def run(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    ec2, native = demo_client(env)
    ec2.describe_volumes()  # the first signature check goes to identity; later ones not
    if args.instances:
        return run_instances(args, ec2, native)
    made: list[str] = []
    creates: dict[str, list[float]] = {"ec2": [], "native": []}
    try:
        for n in range(args.rounds):
            seconds, answer = timed(lambda: ec2.create_volume(Size=1, AvailabilityZone="nova"))
            creates["ec2"].append(seconds)
            ec2_made = answer["VolumeId"]
            seconds, uuid = timed(lambda: native.create(f"bench-{n}"))  # noqa: B023
            creates["native"].append(seconds)
            made.append(uuid)
            log(f"create round {n + 1}: ec2 {creates['ec2'][-1]:.3f}s, "
                f"native {creates['native'][-1]:.3f}s ({ec2_made})")
        # the EC2-made volumes are the block store's: the native listing has them all
        made = [v["id"] for v in native.listing()]
        while len(made) < args.count:
            made.append(native.create(f"bench-fill-{len(made)}"))
        wait_settled(native, made)
        count = len(native.listing())
        lists = time_listings(args.rounds, count, native.listing,
                              lambda: len(ec2.describe_volumes()["Volumes"]))
    finally:
        for uuid in made:
            native.delete(uuid)

    return summary("volumes_listed", count, args.rounds, creates, lists)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=100, help="volumes (instances) listed")
    p.add_argument("--instances", action="store_true", help="instances, not volumes")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--keep", action="store_true", help="leave Strata running afterwards")
    args = p.parse_args()
    home = Path(tempfile.mkdtemp(prefix="strata-ec2-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRATA_", "OS_"))}
    env.update(STRATA_HOME=str(home), STRATA_NETWORK_DATAPLANE="false",
               STRATA_IMAGESTORE_STORE="file", STRATA_OBJECTSTORE_ENABLED="false",
               STRATA_PROXY_ENABLED="false", STRATA_DASHBOARD_ENABLED="false",
               STRATA_COMPUTE_ENABLED="true" if args.instances else "false",
               STRATA_COMPUTE_VIRT_DRIVER="memory", **strata_ports())
    args.env = env
    log(f"starting Strata in {home}")
    subprocess.run([STRATA, "up", "-d"], env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        result = run(args, env)
    finally:
        if not args.keep:
            subprocess.run([STRATA, "down"], env=env, check=False, stdout=subprocess.DEVNULL)
            shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
