"""A private Strata with its dashboard on, and what the dashboard's tests need of it:
its URL, the bootstrap users' passwords, users of their own made through identity."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.cloud import Cloud, running_strata


class DashCloud(Cloud):
    @property
    def dashboard_url(self) -> str:
        return self.url("dashboard")

    def password(self, user: str) -> str:
        return str(self.secrets[f"{user}_password"])

    def admin_headers(self) -> dict[str, str]:
        token, _ = self.login("admin", self.password("admin"), "admin")
        return {"X-Auth-Token": token}

    def identity(self, method: str, path: str, *, ok: int = 200,
                 **kw: Any) -> Any:
        r = requests.request(method, self.identity_url + "/v3" + path,
                             headers=self.admin_headers(), timeout=30, **kw)
        assert r.status_code == ok, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def add_user(self, name: str, password: str, project: str, role: str) -> str:
        """A user with ``role`` on ``project``; its id."""
        user = self.identity("POST", "/users", ok=201, json={"user": {
            "name": name, "password": password, "domain_id": "default"}})["user"]
        self.grant(user["id"], project, role)
        return str(user["id"])

    def project_id(self, name: str) -> str:
        return str(self.identity("GET", "/projects", params={"name": name})
                   ["projects"][0]["id"])

    def grant(self, user_id: str, project: str, role: str) -> None:
        rid = self.identity("GET", "/roles", params={"name": role})["roles"][0]["id"]
        self.identity("PUT", f"/projects/{self.project_id(project)}/users/{user_id}"
                      f"/roles/{rid}", ok=204)

    def set_enabled(self, user_id: str, enabled: bool) -> None:
        """Disabling a user revokes every token it holds (as Keystone does)."""
        self.identity("PATCH", f"/users/{user_id}", json={"user": {"enabled": enabled}})

    def validate(self, token: str) -> int:
        """Identity's answer to validating ``token``: 200, or 404 once revoked."""
        r = requests.get(self.identity_url + "/v3/auth/tokens", timeout=30, headers={
            **self.admin_headers(), "X-Subject-Token": token})
        return r.status_code


@contextlib.contextmanager
def dashboard_cloud(tmp: pytest.TempPathFactory, **settings: str) -> Iterator[DashCloud]:
    with running_strata(tmp, "strata-dashboard", STRATA_DASHBOARD_ENABLED="true",
                        **settings) as env:
        yield DashCloud(env)
