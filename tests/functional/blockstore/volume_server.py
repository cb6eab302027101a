"""A real Strata for the block store's tests: ``strata up -d`` of a private instance
(identity, image service with a file store, block store with its own tgtd on free
ports), users in three projects, and the real iSCSI clients (libiscsi's tools,
QEMU's ``iscsi://`` driver) to reach the volumes it exports."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cloud import running_strata
from tests.functional.imagestore.image_server import ImageCloud

INITIATOR = "iqn.1994-05.org.strata:compute-1"
OTHER_INITIATOR = "iqn.1994-05.org.strata:intruder"


@dataclass
class VolumeApi:
    """Raw HTTP to the Block Storage API as one user, at one microversion."""

    base: str  # http://host:port/v3/<project>
    token: str
    project_id: str
    microversion: str = "3.70"

    def request(self, method: str, path: str, *, version: str | None = None,
                token: str | None = None, **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        headers.setdefault("X-Auth-Token", self.token if token is None else token)
        headers.setdefault("OpenStack-API-Version", f"volume {version or self.microversion}")
        kw.setdefault("timeout", 60)
        return requests.request(method, self.base + path, headers=headers, **kw)

    def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("size", 1)
        r = self.request("POST", "/volumes", json={"volume": body})
        assert r.status_code == 202, r.text
        vol: dict[str, Any] = r.json()["volume"]
        return self.wait(vol["id"])

    def show(self, vid: str) -> dict[str, Any]:
        r = self.request("GET", f"/volumes/{vid}")
        assert r.status_code == 200, r.text
        vol: dict[str, Any] = r.json()["volume"]
        return vol

    def wait(self, vid: str, kind: str = "volumes", until: tuple[str, ...] = (
            "available", "in-use", "error"), timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            r = self.request("GET", f"/{kind}/{vid}")
            assert r.status_code == 200, r.text
            item: dict[str, Any] = r.json()[kind[:-1]]
            if item["status"] in until:
                return item
            assert time.monotonic() < deadline, f"{kind} {vid} stuck in {item['status']}"
            time.sleep(0.2)

    def wait_gone(self, vid: str, kind: str = "volumes", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.request("GET", f"/{kind}/{vid}").status_code != 404:
            assert time.monotonic() < deadline, f"{kind} {vid} not deleted"
            time.sleep(0.2)

    def action(self, vid: str, name: str, args: Any, **kw: Any) -> requests.Response:
        return self.request("POST", f"/volumes/{vid}/action", json={name: args}, **kw)


class VolumeCloud(ImageCloud):
    @property
    def volume_url(self) -> str:
        return f"http://127.0.0.1:{self.env['STRATA_BLOCKSTORE_PORT']}"

    @property
    def portal(self) -> str:
        return f"127.0.0.1:{self.env['STRATA_BLOCKSTORE_ISCSI_PORT']}"

    def volumes(self, who: str) -> VolumeApi:
        api = self.api(who)
        return VolumeApi(f"{self.volume_url}/v3/{api.project_id}", api.token, api.project_id)

    def blockstore_pid(self) -> int | None:
        """The pid of this instance's block store service (``python -m blockstore`` with
        this instance's ``STRATA_HOME``), or None."""
        home = f"STRATA_HOME={self.env['STRATA_HOME']}".encode()
        return _find_process(lambda proc, argv: argv[1:3] == [b"-m", b"blockstore"] and
                             home in (proc / "environ").read_bytes().split(b"\0"))

    def sessions(self, iqn: str) -> int:
        """Initiator sessions logged in to the target, as this instance's tgtd lists them."""
        r = run("tgtadm", "-C", self.env["STRATA_BLOCKSTORE_TGTD_CONTROL_PORT"], "--lld",
                "iscsi", "--mode", "target", "--op", "show")
        assert r.returncode == 0, r.stderr
        blocks = ("\n" + r.stdout).split("\nTarget ")
        mine = [b for b in blocks if b.split("\n", 1)[0].endswith(" " + iqn)]
        return mine[0].count("I_T nexus:") if mine else 0

    def tgtd_pid(self) -> int | None:
        """The pid of this instance's tgtd (found by its control port), or None."""
        control = self.env["STRATA_BLOCKSTORE_TGTD_CONTROL_PORT"].encode()
        return _find_process(lambda _, argv: argv[0].endswith(b"tgtd") and control in argv)


def osc(cloud: VolumeCloud, who: str, *args: str, check: bool = True) -> Any:
    """``openstack <args> -f json`` as ``who``: its JSON (with ``check``), else the run."""
    r = subprocess.run(["openstack", *args, "-f", "json"], env=cloud.client_env(who),
                       capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout) if r.stdout.strip() else None
    return r


def cli(cloud: VolumeCloud, who: str, program: str, *args: str
        ) -> subprocess.CompletedProcess[str]:
    """A client program (``openstack``, ``cinder``) run as ``who``, unchecked."""
    return subprocess.run([program, *args], env=cloud.client_env(who), capture_output=True,
                          text=True, timeout=120, check=False)


def as_admin_in(admin: VolumeApi, project: VolumeApi) -> VolumeApi:
    """The admin's token on another project's URLs."""
    return VolumeApi(admin.base.rsplit("/", 1)[0] + "/" + project.project_id, admin.token,
                     project.project_id)


def _find_process(match: Callable[[Path, list[bytes]], bool]) -> int | None:
    """The pid of a process whose ``/proc/<pid>`` and argv ``match`` (None if none)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if match(proc, (proc / "cmdline").read_bytes().split(b"\0")):
                return int(proc.name)
    return None


@contextlib.contextmanager
def volume_cloud(tmp: pytest.TempPathFactory, **extra: str) -> Iterator[VolumeCloud]:
    """``strata up -d`` of identity, a file-store image service and the block store
    (its own tgtd on free ports); ``strata down`` afterwards."""
    settings = {"STRATA_OBJECTSTORE_ENABLED": "false", "STRATA_PROXY_ENABLED": "false",
                "STRATA_IMAGESTORE_STORE": "file",
                "STRATA_BLOCKSTORE_TARGET_CHECK_INTERVAL": "1", **extra}
    with running_strata(tmp, "strata-volumes", **settings) as env:
        yield VolumeCloud(env)


# -- the real iSCSI clients ----------------------------------------------------------


def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def iscsi_url(data: dict[str, Any], password: str | None = None) -> str:
    pw = data["auth_password"] if password is None else password
    return (f"iscsi://{data['auth_username']}%{pw}@{data['target_portal']}/"
            f"{data['target_iqn']}/{data['target_lun']}")


def iscsi_ls(data: dict[str, Any], initiator: str = INITIATOR) -> str:
    """``iscsi-ls -s``: discovery, then a login (CHAP) to each target to list its LUNs.
    Returns this volume's target block of the listing ('' when it is not there); other
    volumes' targets (other CHAP secrets) fail their login and are left out."""
    r = run("iscsi-ls", "-s", "-i", initiator,
            f"iscsi://{data['auth_username']}%{data['auth_password']}@{data['target_portal']}")
    blocks = ("\n" + r.stdout).split("\nTarget:")
    mine = [b for b in blocks if b.startswith(data["target_iqn"] + " ")]
    return mine[0] if mine else ""


def read_capacity(data: dict[str, Any], initiator: str = INITIATOR,
                  *, may_fail: bool = False) -> int | None:
    """``iscsi-readcapacity16``: the LUN's size in bytes (None if it failed and
    ``may_fail``)."""
    r = run("iscsi-readcapacity16", "-s", "-i", initiator, iscsi_url(data))
    if may_fail and r.returncode != 0:
        return None
    assert r.returncode == 0, r.stdout + r.stderr
    return int(r.stdout.strip())


def iscsi_image_opts(portal: str, iqn: str, lun: int, user: str, password: str,
                     initiator: str) -> str:
    """QEMU ``--image-opts`` for a LUN through QEMU's own ``iscsi`` driver, with CHAP."""
    opts = {"driver": "raw", "file.driver": "iscsi", "file.transport": "tcp",
            "file.portal": portal, "file.target": iqn, "file.lun": str(lun),
            "file.user": user, "file.password": password, "file.initiator-name": initiator}
    return ",".join(f"{k}={v.replace(',', ',,')}" for k, v in opts.items())


def image_opts(data: dict[str, Any], password: str | None = None,
               initiator: str = INITIATOR) -> str:
    """``iscsi_image_opts`` of Cinder's connection data."""
    return iscsi_image_opts(data["target_portal"], data["target_iqn"], int(data["target_lun"]),
                            data["auth_username"],
                            data["auth_password"] if password is None else password, initiator)


def qemu_io(data: dict[str, Any], *commands: str, password: str | None = None,
            initiator: str = INITIATOR) -> subprocess.CompletedProcess[str]:
    argv = ["qemu-io"]
    for c in commands:
        argv += ["-c", c]
    argv += ["--image-opts", image_opts(data, password, initiator)]
    return run(*argv)


def iscsi_sha256(data: dict[str, Any], scratch: Path) -> str:
    """SHA-256 of every byte of the volume, read over iSCSI (``qemu-img convert`` to
    a raw file in ``scratch``, removed after)."""
    out = scratch / "volume-copy.raw"
    r = run("qemu-img", "convert", "--image-opts", image_opts(data), "-O", "raw", str(out),
            timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    digest = hashlib.sha256()
    with out.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    out.unlink()
    return digest.hexdigest()


def io_ok(r: subprocess.CompletedProcess[str]) -> bool:
    return r.returncode == 0 and "Pattern verification failed" not in r.stdout + r.stderr
