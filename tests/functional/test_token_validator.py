"""identity.client.TokenValidator: how other services check tokens, against a real identity."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import requests

from identity.client import IdentityUnavailable, TokenValidator
from tests.functional.identity_server import DEMO_PASSWORD, IdentityServer, make_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IdentityServer]:
    srv = make_server(tmp_path / "home")
    srv.start()
    yield srv
    srv.stop()


def service_password(srv: IdentityServer) -> str:
    secrets = json.loads((srv.home / "var" / "secrets.json").read_text())
    return str(secrets["service_password"])


def count_validations(srv: IdentityServer) -> int:
    return srv.log.read_text().count('"GET /v3/auth/tokens"')


async def test_validates_caches_and_sees_revocation(server: IdentityServer) -> None:
    demo, body = server.token("demo", DEMO_PASSWORD, "demo")
    async with aiohttp.ClientSession() as session:
        v = TokenValidator(session, server.url, user="strata-service",
                           password=service_password(server), project="service",
                           cache_seconds=1)
        info = await v.validate(demo)
        assert info is not None
        assert info.user_name == "demo" and info.project_name == "demo"
        assert info.project_id == body["project"]["id"]
        assert info.roles == {"member", "reader"}
        assert await v.validate("not-a-token") is None
        before = count_validations(server)
        # concurrent checks of one cached token make no identity calls
        results = await asyncio.gather(*(v.validate(demo) for _ in range(20)))
        assert all(r == info for r in results)
        assert count_validations(server) == before
        # revocation is seen once the cache entry ages out
        admin, _ = server.token()
        r = requests.delete(server.v3 + "/auth/tokens",
                            headers={"X-Auth-Token": admin, "X-Subject-Token": demo})
        assert r.status_code == 204
        await asyncio.sleep(1.2)
        assert await v.validate(demo) is None


async def test_cache_answers_while_identity_is_down(server: IdentityServer) -> None:
    demo, _ = server.token("demo", DEMO_PASSWORD, "demo")
    async with aiohttp.ClientSession() as session:
        v = TokenValidator(session, server.url, user="strata-service",
                           password=service_password(server), project="service",
                           cache_seconds=60, timeout=2)
        assert await v.validate(demo) is not None
        server.stop()
        info = await v.validate(demo)  # from the cache: no round trip needed
        assert info is not None and info.user_name == "demo"
        with pytest.raises(IdentityUnavailable):
            await v.validate(demo + "x")


async def test_wrong_service_password_is_reported(server: IdentityServer) -> None:
    demo, _ = server.token("demo", DEMO_PASSWORD, "demo")
    async with aiohttp.ClientSession() as session:
        v = TokenValidator(session, server.url, user="strata-service", password="wrong",
                           project="service")
        with pytest.raises(IdentityUnavailable, match="refused the service user"):
            await v.validate(demo)


async def test_system_scoped_tokens_validate_without_a_project(server: IdentityServer) -> None:
    """Other services see a system-scoped token as its user and roles, no project."""
    token, body = server.system_token()
    assert body["system"] == {"all": True}
    async with aiohttp.ClientSession() as session:
        v = TokenValidator(session, server.url, user="strata-service",
                           password=service_password(server), project="service")
        info = await v.validate(token)
        assert info is not None
        assert info.user_name == "admin" and info.roles == {"admin", "member", "reader"}
        assert info.project_id is None and info.project_name is None
        assert info.project_domain_id is None
