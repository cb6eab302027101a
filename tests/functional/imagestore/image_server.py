"""A real Strata for the image service's tests: ``strata up -d`` of a private instance
(identity, object store and image service), extra image servers with other
settings beside it, users in three projects, and test images made with qemu-img."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cloud import Cloud, read_openrc, running_strata
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[3]
THIRD_PASSWORD = "third-secret"


@dataclass
class Api:
    """Raw HTTP to one image server as one user."""

    base: str
    token: str
    project_id: str
    session: requests.Session = field(default_factory=requests.Session)

    def request(self, method: str, path: str, *, token: str | None = None,
                headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        h = dict(headers or {})
        tok = self.token if token is None else token
        if tok:
            h["X-Auth-Token"] = tok
        kw.setdefault("timeout", 60)
        return self.session.request(method, self.base + path, headers=h, **kw)

    def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        r = self.request("POST", "/v2/images", json=body)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    def show(self, image_id: str) -> dict[str, Any]:
        r = self.request("GET", f"/v2/images/{image_id}")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    def upload(self, image_id: str, data: Any, **kw: Any) -> requests.Response:
        return self.request("PUT", f"/v2/images/{image_id}/file", data=data, headers={
            "Content-Type": "application/octet-stream"}, **kw)

    def patch(self, image_id: str, ops: list[dict[str, Any]],
              content_type: str = "application/openstack-images-v2.1-json-patch"
              ) -> requests.Response:
        return self.request("PATCH", f"/v2/images/{image_id}", data=json.dumps(ops),
                            headers={"Content-Type": content_type})

    def names(self, **params: Any) -> list[str]:
        r = self.request("GET", "/v2/images", params=params)
        assert r.status_code == 200, r.text
        return [i["name"] for i in r.json()["images"]]


@dataclass
class ImageCloud(Cloud):
    @property
    def image_url(self) -> str:
        return f"http://127.0.0.1:{self.env['STRATA_IMAGESTORE_PORT']}"

    def api(self, who: str, base: str | None = None) -> Api:
        """``admin``, ``demo`` or ``third`` (a member of project ``third``)."""
        password = THIRD_PASSWORD if who == "third" else str(self.secrets[f"{who}_password"])
        token, project = self.login(who, password, who)
        return Api(base or self.image_url, token, project)

    def openrc(self, who: str, project: str | None = None) -> dict[str, str]:
        """The ``OS_*`` variables of ``who`` (from var/openrc, or built for a user made
        by :meth:`add_user`, in ``project`` or the project of its own name)."""
        if who not in ("admin", "demo"):
            base = self.openrc("demo")
            base.update(OS_USERNAME=who, OS_PASSWORD=THIRD_PASSWORD,
                        OS_PROJECT_NAME=project or who)
            return base
        return read_openrc(self.var / ("openrc" if who == "admin" else "demo-openrc"))

    def client_env(self, who: str, project: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "STRATA_"))}
        env.update(self.openrc(who, project))
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        return env

    def service_objects(self, container: str = "images") -> list[str]:
        """Object names in the image service's container of the object store."""
        token, project = self.login("strata-service", str(self.secrets["service_password"]),
                                    "service")
        r = requests.get(f"{self.proxy_url}/v1/AUTH_{project}/{container}",
                         headers={"X-Auth-Token": token}, params={"format": "json"},
                         timeout=30)
        if r.status_code == 404:
            return []
        assert r.status_code in (200, 204), r.text
        return [o["name"] for o in r.json()] if r.status_code == 200 else []

    def add_third_user(self) -> None:
        """Project ``third`` with user ``third`` (role member), through Keystone's API."""
        self.add_user("third", "third", "member", new_project=True)

    def add_user(self, name: str, project: str, role: str, *,
                 new_project: bool = False) -> None:
        """User ``name`` (password THIRD_PASSWORD) with ``role`` on ``project`` (made
        first when ``new_project``), through Keystone's API."""
        token, _ = self.login("admin", str(self.secrets["admin_password"]), "admin")
        h = {"X-Auth-Token": token}
        v3 = self.identity_url + "/v3"
        if new_project:
            p = requests.post(v3 + "/projects", headers=h, timeout=30, json={"project": {
                "name": project, "domain_id": "default"}})
            assert p.status_code == 201, p.text
        projects = requests.get(v3 + "/projects", headers=h, params={"name": project},
                                timeout=30)
        project_id = projects.json()["projects"][0]["id"]
        u = requests.post(v3 + "/users", headers=h, timeout=30, json={"user": {
            "name": name, "domain_id": "default", "password": THIRD_PASSWORD}})
        assert u.status_code == 201, u.text
        roles = requests.get(v3 + "/roles", headers=h, params={"name": role}, timeout=30)
        role_id = roles.json()["roles"][0]["id"]
        g = requests.put(f"{v3}/projects/{project_id}/users/{u.json()['user']['id']}/roles/"
                         f"{role_id}", headers=h, timeout=30)
        assert g.status_code == 204, g.text

    def login_as(self, name: str, project: str, base: str | None = None) -> Api:
        """Raw HTTP as a user made by :meth:`add_user`."""
        token, project_id = self.login(name, THIRD_PASSWORD, project)
        return Api(base or self.image_url, token, project_id)


@contextlib.contextmanager
def running_cloud(tmp: pytest.TempPathFactory, **extra: str) -> Iterator[ImageCloud]:
    """``strata up -d`` of a private instance with ``extra`` settings; down afterwards."""
    with running_strata(tmp, "strata-images", **extra) as env:
        yield ImageCloud(env)


@contextlib.contextmanager
def extra_image_server(cloud: ImageCloud, name: str, **settings: str) -> Iterator[str]:
    """Another ``python -m imagestore`` of the same cloud, with its own database, port
    and ``settings`` (``STRATA_IMAGESTORE_*`` names without the prefix); yields its URL."""
    port = free_port()
    env = dict(cloud.env)
    env.update({f"STRATA_IMAGESTORE_{k.upper()}": v for k, v in settings.items()})
    env.update(STRATA_IMAGESTORE_PORT=str(port),
               STRATA_IMAGESTORE_DATABASE_URL=f"sqlite:///{cloud.var / (name + '.db')}",
               STRATA_IMAGESTORE_STAGING_DIR=str(cloud.var / (name + "-staging")))
    log = (cloud.var / "log" / f"{name}.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "imagestore"], env=env, cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"{name} exited: see {log.name}"
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(url + "/healthcheck", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def file_server(directory: Path) -> Iterator[str]:
    """A plain HTTP server on loopback serving ``directory`` (for web-download)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True, timeout=60)


def make_image(path: Path, fmt: str, size: str = "16M", *, content: bytes = b"") -> Path:
    """An image made by qemu-img (``content`` written at the start of its disk first)."""
    raw = path.with_suffix(".src.raw")
    qemu_img("create", "-f", "raw", str(raw), size)
    if content:
        with raw.open("r+b") as fh:
            fh.write(content)
    if fmt == "raw":
        raw.rename(path)
    else:
        qemu_img("convert", "-f", "raw", "-O", {"vhd": "vpc"}.get(fmt, fmt), str(raw),
                 str(path))
        raw.unlink()
    return path


def cli(cloud: ImageCloud, who: str, *args: str, project: str | None = None,
        stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """A real client's command (``glance ...``, ``openstack ...``) as ``who``."""
    r = subprocess.run(list(args), env=cloud.client_env(who, project), input=stdin,
                       capture_output=True, timeout=180, check=False)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(errors="replace"),
                                       r.stderr.decode(errors="replace"))


def expect(r: requests.Response, status: int = 200) -> Any:
    """The JSON body (None when empty) of a response that must have ``status``."""
    assert r.status_code == status, f"{r.status_code} {r.text}"
    return r.json() if r.content else None


def error_of(r: requests.Response, status: int) -> str:
    """The message of a Glance-style JSON error with ``status``."""
    assert r.status_code == status, f"{r.status_code} {r.text}"
    assert r.headers["Content-Type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == status
    message: str = err["message"]
    return message
