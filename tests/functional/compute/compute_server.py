"""A real Strata for the compute service's tests: ``strata up -d`` of a private instance
with identity, the image service (file store), the block store, the networking
service (its data path when a module asks) and compute, the tiny guest uploaded as
``tiny``, and raw HTTP helpers for the compute API at any microversion."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import libvirt
import openstack
import pytest
import requests
from openstack.connection import Connection

from common.config import StrataConfig
from compute.host import ensure_libvirtd
from compute.tinyguest import default_cache_dir
from network.hostcheck import describe, missing_parts
from tests.cloud import STRATA, running_strata
from tests.functional.imagestore.image_server import Api
from tests.functional.network.dataplane.conftest import sweep
from tests.functional.network.network_server import NetworkCloud

# A cloud for compute: no object store (images in a directory), compute on QEMU TCG.
COMPUTE = {"STRATA_OBJECTSTORE_ENABLED": "false", "STRATA_PROXY_ENABLED": "false",
           "STRATA_IMAGESTORE_STORE": "file", "STRATA_COMPUTE_ENABLED": "true",
           "STRATA_COMPUTE_VIRT_TYPE": "qemu", "STRATA_COMPUTE_SHUTDOWN_TIMEOUT": "5",
           "STRATA_COMPUTE_RESYNC_INTERVAL": "2", "STRATA_COMPUTE_REPORT_INTERVAL": "2"}
# The flavor m1.nano (128 MiB) and a public key the tests import.
NANO = "42"
ED25519 = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDR6wbJ2Vjs1ZmtsvfXzYrTmOGmkUZcZuv0JAbc7Khx8 "
           "test@strata")


def unavailable(reason: str) -> None:
    """Skip with the reason; under CI a missing machine feature is a failure, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def require_guests() -> None:
    """Real guests on real networks need libvirtd and the network data path: skip (fail
    under CI) with the reason where either cannot run."""
    why = ensure_libvirtd()
    if why:
        unavailable(f"libvirt cannot run here: {why}")
    missing = missing_parts()
    if missing:
        unavailable(describe(missing))


def _exact(value: Any) -> Any:
    """A strict JSON schema of ``value``'s shape: every key required, no other allowed."""
    if isinstance(value, dict):
        return {"type": "object", "required": sorted(value),
                "additionalProperties": False,
                "properties": {k: {} for k in value}}
    return {}


@dataclass
class Nova(Api):
    """Raw HTTP to the compute API as one user, at ``version`` (None: no header)."""

    version: str | None = "2.79"

    def call(self, method: str, path: str, *, version: str | None = "",
             **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        ver = self.version if version == "" else version
        if ver is not None:
            headers["OpenStack-API-Version"] = f"compute {ver}"
        return self.request(method, "/v2.1" + path, headers=headers, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.call(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def fails(self, method: str, path: str, status: int, fault: str, **kw: Any) -> str:
        """The message of a Nova error that must come with ``status`` and ``fault``."""
        r = self.call(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        body = r.json()
        assert list(body) == [fault], body
        assert set(body[fault]) == {"message", "code"} and body[fault]["code"] == status
        message: str = body[fault]["message"]
        return message

    def server(self, uuid: str, **kw: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.ok("GET", f"/servers/{uuid}", **kw)["server"]
        return data

    def create(self, **server: Any) -> dict[str, Any]:
        server.setdefault("networks", "none")
        data: dict[str, Any] = self.ok("POST", "/servers", 202,
                                       json={"server": server})["server"]
        return data

    def action(self, uuid: str, name: str, args: Any = None, status: int = 202,
               **kw: Any) -> Any:
        return self.ok("POST", f"/servers/{uuid}/action", status, json={name: args}, **kw)

    def wait(self, uuid: str, *statuses: str, within: float = 240.0,
             task: bool = True) -> dict[str, Any]:
        """The server once its status is one of ``statuses`` (and, with ``task``, no
        task is under way)."""
        deadline = time.monotonic() + within
        while True:
            srv = self.server(uuid)
            if srv["status"] in statuses and not (task and srv.get("OS-EXT-STS:task_state")):
                return srv
            assert srv["status"] != "ERROR" or "ERROR" in statuses, srv.get("fault")
            assert time.monotonic() < deadline, f"{uuid} still {srv['status']}: {srv}"
            time.sleep(0.5)

    def gone(self, uuid: str, within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        while self.call("GET", f"/servers/{uuid}").status_code != 404:
            assert time.monotonic() < deadline, f"{uuid} was not deleted"
            time.sleep(0.5)

    def console(self, uuid: str, length: int | None = None) -> str:
        out: str = self.action(uuid, "os-getConsoleOutput", {"length": length},
                               status=200)["output"]
        return out

    def until_console(self, uuid: str, text: str, within: float = 240.0) -> str:
        deadline = time.monotonic() + within
        out = ""
        while time.monotonic() < deadline:
            out = self.console(uuid)
            if text in out:
                return out
            time.sleep(1.0)
        raise AssertionError(f"{text!r} not on the console of {uuid} within {within:g}s:\n"
                             f"{out[-3000:]}")

    def exact(self, body: dict[str, Any], keys: set[str]) -> None:
        """``body`` has exactly ``keys`` (a strict schema: all required, no others)."""
        schema = _exact(dict.fromkeys(keys))
        jsonschema.validate(body, schema)


class ComputeCloud(NetworkCloud):
    tiny = ""  # the image id of the tiny guest, once uploaded (:meth:`upload_tiny`)

    @property
    def compute_url(self) -> str:
        return self.url("compute")

    def nova(self, who: str, version: str | None = "2.79") -> Nova:
        if who == "reader":
            net = self.net("reader")
            return Nova(self.compute_url, net.token, net.project_id, version=version)
        api = self.api(who)
        return Nova(self.compute_url, api.token, api.project_id, version=version)

    def sdk(self, who: str) -> Connection:
        """An openstacksdk connection as ``who`` (from their openrc)."""
        rc = self.openrc(who)
        return openstack.connect(
            auth_url=rc["OS_AUTH_URL"], username=rc["OS_USERNAME"],
            password=rc["OS_PASSWORD"], project_name=rc["OS_PROJECT_NAME"],
            user_domain_name="Default", project_domain_name="Default",
            region_name=rc["OS_REGION_NAME"])

    def upload_tiny(self) -> str:
        """``strata image tiny`` as admin (the guest built once per machine); its id,
        kept as :attr:`tiny`."""
        env = {**self.env, **self.openrc("admin"),
               "STRATA_TINY_CACHE": str(default_cache_dir())}
        r = subprocess.run([*STRATA, "image", "tiny"], env=env, capture_output=True,
                           text=True, timeout=900, check=False)
        if r.returncode != 0 and "cannot be built" in r.stderr:
            unavailable(f"the tiny guest cannot be built here: {r.stderr}")
        assert r.returncode == 0, r.stdout + r.stderr
        images = self.api("admin").request("GET", "/v2/images", params={"name": "tiny"})
        self.tiny = images.json()["images"][0]["id"]
        return self.tiny

    def log(self, service: str) -> str:
        return (self.var / "log" / f"{service}.log").read_text()

    def wait_for(self, check: Callable[[], bool], what: str, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while not check():
            assert time.monotonic() < deadline, f"{what} did not happen within {within:g}s"
            time.sleep(0.5)


@contextlib.contextmanager
def compute_cloud(tmp: pytest.TempPathFactory, **extra: str) -> Iterator[ComputeCloud]:
    """``strata up -d`` of a compute cloud; after ``strata down``, what it left on the
    host by design (guests and the network data path outlive their services, to be
    adopted at the next start) is removed: its domains, namespaces, devices, rules and
    helper processes."""
    settings = {**COMPUTE, **extra}
    home: Path | None = None
    try:
        with running_strata(tmp, "strata-compute", **settings) as env:
            home = Path(env["STRATA_HOME"])
            yield ComputeCloud(env)
    finally:
        if home is not None:
            cfg = StrataConfig(home=home)
            if settings.get("STRATA_COMPUTE_VIRT_DRIVER", "libvirt") == "libvirt":
                remove_domains(cfg.domain_prefix())
            if settings.get("STRATA_NETWORK_DATAPLANE") == "true":
                sweep(cfg.network_instance(), cfg.var_path)


def remove_domains(prefix: str) -> None:
    """Destroy and undefine every libvirt domain whose name starts with ``prefix``."""
    with contextlib.suppress(libvirt.libvirtError):
        conn = libvirt.open("qemu:///system")
        try:
            for dom in conn.listAllDomains():
                if not dom.name().startswith(prefix):
                    continue
                with contextlib.suppress(libvirt.libvirtError):
                    if dom.isActive():
                        dom.destroy()
                    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        finally:
            conn.close()


def instance_files(cloud: ComputeCloud, uuid: str) -> Path:
    return cloud.var / "compute" / "instances" / uuid
