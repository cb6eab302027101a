"""A real private Strata (``strata up -d``) for the Swift API acceptance tests.

``strata_swift`` is module-scoped: each test module gets one instance of its
own (private ``STRATA_HOME``, free ports, a small ring) and ``strata down``
stops it when the module is done, whether its tests passed or not.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.cloud import Cloud, read_openrc, running_strata

TXN_RE = re.compile(r"tx[0-9a-f]{21}-[0-9a-f]{10}")


def check_response(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Every proxy answer: a Swift transaction id, echoed as the OpenStack request id,
    and no internal ``X-Backend-*`` header."""
    txn = resp.headers.get("X-Trans-Id", "")
    assert TXN_RE.fullmatch(txn), f"{resp.request.method} {resp.url}: X-Trans-Id {txn!r}"
    assert resp.headers.get("X-Openstack-Request-Id") == txn
    leaked = [k for k in resp.headers if k.lower().startswith("x-backend-")]
    assert not leaked, f"{resp.request.method} {resp.url} leaks {leaked}"


@dataclass
class SwiftUser:
    """A token and storage URL from ``/auth/v1.0``, and a checked requests session."""

    token: str
    url: str
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def account(self) -> str:
        return self.url.rsplit("/", 1)[1]

    def request(self, method: str, path: str = "", *, token: str | None = None,
                headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        """``method`` on ``<storage url><path>``; ``path`` is sent as given (already
        percent-encoded); the user's token unless ``token`` says otherwise ("" for none)."""
        h = dict(headers or {})
        tok = self.token if token is None else token
        if tok:
            h["X-Auth-Token"] = tok
        kw.setdefault("timeout", 60)
        return self.session.request(method, self.url + path, headers=h, **kw)

    def names(self, container: str, **query: str) -> list[str]:
        r = self.request("GET", "/" + container, params={"format": "json", **query})
        assert r.status_code == 200, r.text
        return [i.get("name", i.get("subdir")) for i in r.json()]

    def containers(self) -> list[str]:
        r = self.request("GET", "", params={"format": "json"})
        assert r.status_code in (200, 204), r.text
        return [i["name"] for i in r.json()] if r.status_code == 200 else []


@dataclass
class StrataInstance(Cloud):
    @property
    def proxy_port(self) -> int:
        return int(self.env["STRATA_PROXY_PORT"])

    def openrc(self, name: str = "demo-openrc") -> dict[str, str]:
        return read_openrc(self.var / name)

    def client_env(self, openrc: dict[str, str] | None = None) -> dict[str, str]:
        """Our environment without any ``OS_*``/``ST_*``/``STRATA_*``, plus ``openrc``."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OS_", "ST_", "STRATA_"))}
        env.update(openrc or {})
        return env

    def v1_login(self, user: str, password: str, project: str | None = None) -> SwiftUser:
        r = requests.get(self.proxy_url + "/auth/v1.0", timeout=30, headers={
            "X-Auth-User": f"{project or user}:{user}", "X-Auth-Key": password})
        assert r.status_code == 200, r.text
        sw = SwiftUser(r.headers["X-Auth-Token"], r.headers["X-Storage-Url"])
        sw.session.hooks["response"].append(check_response)
        return sw

    def user(self, who: str) -> SwiftUser:
        """``demo`` or ``admin``, logged in through ``/auth/v1.0``."""
        return self.v1_login(who, str(self.secrets[f"{who}_password"]))


@contextlib.contextmanager
def strata_instance(tmp: pytest.TempPathFactory, name: str = "strata-swift",
                    **settings: str) -> Iterator[StrataInstance]:
    """``strata up -d`` of a private instance (S3 virtual-hosted style on
    ``<bucket>.s3.localhost``, and ``settings``); ``strata down`` after it."""
    with running_strata(tmp, name, STRATA_PROXY_S3_DOMAIN="s3.localhost", **settings) as env:
        yield StrataInstance(env)


@pytest.fixture(scope="module")
def strata_swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataInstance]:
    """A private instance for the module."""
    with strata_instance(tmp_path_factory) as instance:
        yield instance


@pytest.fixture(scope="module")
def demo(strata_swift: StrataInstance) -> SwiftUser:
    return strata_swift.user("demo")


@pytest.fixture(scope="module")
def admin(strata_swift: StrataInstance) -> SwiftUser:
    return strata_swift.user("admin")
