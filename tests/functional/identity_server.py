"""Start a real identity service process on loopback for functional tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "admin-secret"
DEMO_PASSWORD = "demo-secret"


def pick_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class IdentityServer:
    home: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def v3(self) -> str:
        return self.url + "/v3"

    def start(self, timeout: float = 60) -> None:
        self.log = self.home / "identity.log"
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "identity"], env=self.env, cwd=REPO,
            stdout=out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"identity exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/v3", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"identity did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def token(self, user: str = "admin", password: str = ADMIN_PASSWORD,
              project: str | None = "admin") -> tuple[str, dict[str, Any]]:
        auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}}}
        if project:
            auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
        else:
            auth["scope"] = "unscoped"
        r = requests.post(self.v3 + "/auth/tokens", json={"auth": auth}, timeout=30)
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"], r.json()["token"]

    def password_auth(self, user: str, password: str, scope: Any = None,
                      query: str = "") -> requests.Response:
        """POST /v3/auth/tokens for a user of the default domain, with any scope."""
        auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}}}
        if scope is not None:
            auth["scope"] = scope
        return requests.post(self.v3 + "/auth/tokens" + query, json={"auth": auth},
                             timeout=30)

    def system_token(self, user: str = "admin",
                     password: str = ADMIN_PASSWORD) -> tuple[str, dict[str, Any]]:
        r = self.password_auth(user, password, {"system": {"all": True}})
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"], r.json()["token"]

    def role_id(self, admin: str, name: str) -> str:
        r = requests.get(self.v3 + "/roles", headers=hdr(admin), params={"name": name},
                         timeout=30)
        return str(r.json()["roles"][0]["id"])

    def new_user(self, admin: str, password: str = "pw", **attrs: Any) -> dict[str, Any]:
        r = requests.post(self.v3 + "/users", headers=hdr(admin), timeout=30, json={
            "user": {"name": unique("user"), "password": password, **attrs}})
        assert r.status_code == 201, r.text
        return dict(r.json()["user"])

    def new_project(self, admin: str, **attrs: Any) -> dict[str, Any]:
        r = requests.post(self.v3 + "/projects", headers=hdr(admin), timeout=30, json={
            "project": {"name": unique("proj"), **attrs}})
        assert r.status_code == 201, r.text
        return dict(r.json()["project"])

    def grant(self, admin: str, path: str) -> None:
        """PUT a grant at ``path`` (below /v3), e.g. projects/P/users/U/roles/R."""
        r = requests.put(f"{self.v3}/{path}", headers=hdr(admin), timeout=30)
        assert r.status_code == 204, r.text

    def openrc_env(self, user: str = "admin", password: str = ADMIN_PASSWORD,
                   project: str = "admin") -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update({
            "OS_AUTH_URL": self.v3, "OS_USERNAME": user, "OS_PASSWORD": password,
            "OS_PROJECT_NAME": project, "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default", "OS_IDENTITY_API_VERSION": "3",
            "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "public",
        })
        return env


def hdr(token: str, **extra: str) -> dict[str, str]:
    return {"X-Auth-Token": token, **extra}


def assert_keystone_error(r: requests.Response, status: int) -> dict[str, Any]:
    """Keystone's error body with ``status``, and nothing of the server's insides."""
    assert r.status_code == status, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
    assert r.headers["Content-Type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == status
    assert err["title"] and err["message"]
    assert "Traceback" not in r.text and 'File "' not in r.text
    return dict(err)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_server(home: Path, database_url: str = "") -> IdentityServer:
    home.mkdir(parents=True, exist_ok=True)
    port = pick_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRATA_", "OS_"))}
    env.update({
        "STRATA_HOME": str(home),
        "STRATA_IDENTITY_PORT": str(port),
        "STRATA_IDENTITY_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "STRATA_IDENTITY_DEMO_PASSWORD": DEMO_PASSWORD,
        "STRATA_IDENTITY_PASSWORD_HASH_TIME_COST": "1",
        "STRATA_IDENTITY_PASSWORD_HASH_MEMORY_KIB": "8192",
        "PYTHONPATH": str(REPO),
    })
    if database_url:
        env["STRATA_IDENTITY_DATABASE_URL"] = database_url
    return IdentityServer(home=home, port=port, env=env)
