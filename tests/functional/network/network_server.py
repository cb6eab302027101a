"""A real Strata for the networking service's tests: ``strata up -d`` of a private
instance (identity and the networking service, its data path off unless asked),
users in three projects and a reader, and raw HTTP helpers for the API."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.cloud import running_strata
from tests.functional.imagestore.image_server import Api, ImageCloud

READER_PASSWORD = "reader-secret"
ONLY_NETWORK = {"STRATA_OBJECTSTORE_ENABLED": "false", "STRATA_PROXY_ENABLED": "false",
                "STRATA_IMAGESTORE_ENABLED": "false", "STRATA_BLOCKSTORE_ENABLED": "false",
                "STRATA_COMPUTE_ENABLED": "false"}


@dataclass
class Net(Api):
    """Raw HTTP to the Networking API as one user."""

    def get(self, path: str, **kw: Any) -> Any:
        r = self.request("GET", "/v2.0" + path, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def make(self, collection: str, member: str, **body: Any) -> dict[str, Any]:
        r = self.request("POST", f"/v2.0/{collection}", json={member: body})
        assert r.status_code == 201, r.text
        made: dict[str, Any] = r.json()[member]
        return made

    def put(self, path: str, body: Any, status: int = 200) -> Any:
        r = self.request("PUT", "/v2.0" + path, json=body)
        assert r.status_code == status, r.text
        return r.json() if r.content else None

    def delete(self, path: str) -> None:
        r = self.request("DELETE", "/v2.0" + path)
        assert r.status_code == 204, r.text

    def fails(self, method: str, path: str, status: int, kind: str,
              **kw: Any) -> dict[str, Any]:
        """The Neutron error body of a call that must fail with ``status`` and ``kind``."""
        r = self.request(method, "/v2.0" + path, **kw)
        assert r.status_code == status, r.text
        err: dict[str, Any] = r.json()["NeutronError"]
        assert err["type"] == kind, err
        assert set(err) == {"type", "message", "detail"} and err["message"]
        return err

    def ids(self, collection: str, **params: Any) -> list[str]:
        return [x["id"] for x in self.get(f"/{collection}", params=params)[
            collection.replace("-", "_")]]


class NetworkCloud(ImageCloud):
    @property
    def network_url(self) -> str:
        return self.url("network")

    def net(self, who: str) -> Net:
        """``admin``, ``demo``, ``third`` (a member of project ``third``) or ``reader``
        (the reader role on project ``demo``)."""
        if who == "reader":
            token, project = self.login("reader", READER_PASSWORD, "demo")
            return Net(self.network_url, token, project)
        api = self.api(who)
        return Net(self.network_url, api.token, api.project_id)

    def add_reader(self) -> None:
        token, _ = self.login("admin", str(self.secrets["admin_password"]), "admin")
        h = {"X-Auth-Token": token}
        v3 = self.identity_url + "/v3"
        u = requests.post(v3 + "/users", headers=h, timeout=30, json={"user": {
            "name": "reader", "domain_id": "default", "password": READER_PASSWORD}})
        assert u.status_code == 201, u.text
        projects = requests.get(v3 + "/projects", headers=h, params={"name": "demo"},
                                timeout=30).json()["projects"]
        role = requests.get(v3 + "/roles", headers=h, params={"name": "reader"},
                            timeout=30).json()["roles"][0]["id"]
        g = requests.put(f"{v3}/projects/{projects[0]['id']}/users/{u.json()['user']['id']}"
                         f"/roles/{role}", headers=h, timeout=30)
        assert g.status_code == 204, g.text

    def osc(self, who: str, *args: str, check: bool = True) -> Any:
        """``openstack <args> -f json`` as ``who``; the parsed output (None when empty)."""
        r = subprocess.run(["openstack", *args, "-f", "json"], env=self.client_env(who),
                           capture_output=True, text=True, timeout=120, check=False)
        assert r.returncode == 0, f"openstack {' '.join(args)}: {r.stdout}{r.stderr}"
        return json.loads(r.stdout) if r.stdout.strip() else None

    def osc_plain(self, who: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openstack", *args], env=self.client_env(who),
                              capture_output=True, text=True, timeout=120, check=False)


@contextlib.contextmanager
def network_cloud(tmp: pytest.TempPathFactory, **extra: str) -> Iterator[NetworkCloud]:
    """``strata up -d`` of identity and the networking service; down afterwards."""
    with running_strata(tmp, "strata-network", **{**ONLY_NETWORK, **extra}) as env:
        yield NetworkCloud(env)
