"""A real private Strata (``strata up -d``) for the Swift API acceptance tests.

``strata_swift`` is module-scoped: each test module gets one instance of its
own (private ``STRATA_HOME``, free ports, a small ring) and ``strata down``
stops it when the module is done, whether its tests passed or not.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import strata_ports

_SCRIPT = Path(sys.executable).with_name("strata")
STRATA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "common.cli"]
TXN_RE = re.compile(r"tx[0-9a-f]{21}-[0-9a-f]{10}")


def read_openrc(path: Path) -> dict[str, str]:
    """The ``OS_*`` variables a user gets from ``source <path>``."""
    out = subprocess.run(
        ["bash", "-c", f'. "{path}" && env -0'], capture_output=True, check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    ).stdout.decode()
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("OS_")}


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
class StrataInstance:
    env: dict[str, str]

    @property
    def home(self) -> Path:
        return Path(self.env["STRATA_HOME"])

    @property
    def var(self) -> Path:
        return self.home / "var"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.env['STRATA_PROXY_PORT']}"

    @property
    def proxy_port(self) -> int:
        return int(self.env["STRATA_PROXY_PORT"])

    @property
    def secrets(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.var / "secrets.json").read_text())
        return data

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


def _strata(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STRATA, *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def _kill_leftovers(var: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.killpg(int((var / "run" / "strata.pid").read_text()), signal.SIGKILL)


@pytest.fixture(scope="module")
def strata_swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataInstance]:
    """``strata up -d`` of a private instance for the module; ``strata down`` after it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    env.update(
        STRATA_IDENTITY_PASSWORD_HASH_TIME_COST="1",
        STRATA_IDENTITY_PASSWORD_HASH_MEMORY_KIB="8192",
        STRATA_OBJECTSTORE_PART_POWER="6",
        STRATA_PROXY_S3_DOMAIN="s3.localhost",  # S3 virtual-hosted style: <bucket>.s3.localhost
    )
    instance = StrataInstance(env)
    try:
        for attempt in range(3):
            # a port free when chosen may be taken (e.g. as some connection's
            # ephemeral port) before the service binds it: then try new ports,
            # in a new home (the rings built at first start name the ports)
            env.update(strata_ports(), STRATA_HOME=str(tmp_path_factory.mktemp("strata-swift")))
            up = _strata("up", "-d", env=env)
            if up.returncode == 0:
                break
            _strata("down", env=env)
            _kill_leftovers(instance.var)
            if "address already in use" not in up.stderr or attempt == 2:
                log = instance.var / "log" / "strata.log"
                tail = log.read_text()[-4000:] if log.exists() else ""
                pytest.fail(f"strata up -d failed ({up.returncode}):\n{up.stdout}{up.stderr}"
                            f"\n{tail}", pytrace=False)
        yield instance
    finally:
        if "STRATA_HOME" in env:  # never the default home
            _strata("down", env=env)
            _kill_leftovers(instance.var)


@pytest.fixture(scope="module")
def demo(strata_swift: StrataInstance) -> SwiftUser:
    return strata_swift.user("demo")


@pytest.fixture(scope="module")
def admin(strata_swift: StrataInstance) -> SwiftUser:
    return strata_swift.user("admin")
