"""The dashboard's own HTTP behaviour, its app served on loopback (plain and TLS) with no
cloud behind it: redirects to the login page, cookies, CSRF on the login form, security
headers. Everything a login needs identity for is in ``test_dashboard.py``."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.config import StrataConfig
from dashboard.server import build_app
from dashboard.session import LOGIN_COOKIE, SESSION_COOKIE
from tests.conftest import free_port


def config(**dashboard: object) -> StrataConfig:
    cfg = StrataConfig()
    cfg.identity.port = free_port()  # nothing answers there: identity is "down"
    for key, value in dashboard.items():
        setattr(cfg.dashboard, key, value)
    return cfg


def tls_context(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts for a self-signed certificate of 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    client = ssl.create_default_context(cafile=str(tmp / "cert.pem"))
    return server, client


async def serve(cfg: StrataConfig, tls: ssl.SSLContext | None = None) -> \
        tuple[web.AppRunner, str]:
    runner = web.AppRunner(build_app(cfg))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
    return runner, f"{'https' if tls else 'http'}://127.0.0.1:{port}"


@pytest.fixture
async def dashboard() -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    runner, url = await serve(config())
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        yield http, url
    await runner.cleanup()


def cookies(resp: aiohttp.ClientResponse) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


async def test_pages_need_a_session_and_the_login_page_keeps_the_path(
        dashboard: tuple[aiohttp.ClientSession, str]) -> None:
    http, url = dashboard
    async with http.get(url + "/project/volumes/?x=1", allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"] == "/auth/login?next=/project/volumes/%3Fx%3D1"
    # htmx asks for a fragment: it is told to load the login page as a whole
    async with http.get(url + "/project/volumes/", headers={"HX-Request": "true"},
                        allow_redirects=False) as r:
        assert r.status == 200 and r.headers["HX-Redirect"].startswith("/auth/login?next=")
    # an unknown session id is no session
    async with http.get(url + "/admin/", allow_redirects=False,
                        headers={"Cookie": f"{SESSION_COOKIE}=forged"}) as r:
        assert r.status == 303 and r.headers["Location"] == "/auth/login?next=/admin/"
    # a POST without a session changes nothing and goes to the login page too
    async with http.post(url + "/project/volumes/create", data={"size": "1"},
                         allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/auth/login")
    async with http.get(url + "/") as r:  # followed to the login page
        assert r.status == 200 and r.url.path == "/auth/login"
        assert 'name="next" value="/"' in await r.text()


async def test_the_login_page_sets_its_csrf_cookie_and_security_headers(
        dashboard: tuple[aiohttp.ClientSession, str]) -> None:
    http, url = dashboard
    async with http.get(url + "/auth/login?next=//evil.example/") as r:
        assert r.status == 200
        text = await r.text()
        jar = cookies(r)
        h = r.headers
    morsel = jar[LOGIN_COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and not morsel["secure"]
    assert morsel["path"] == "/auth/"
    assert f'name="csrf_token" value="{morsel.value}"' in text
    assert 'name="next" value="/project/"' in text  # never another site
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert "script-src 'self'" in h["Content-Security-Policy"]
    assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
    assert h["Cache-Control"] == "no-store" and h["Server-Timing"].startswith("app;dur=")
    # a second login page in the same browser keeps the same secret
    async with http.get(url + "/auth/login",
                        headers={"Cookie": f"{LOGIN_COOKIE}={morsel.value}"}) as r:
        assert LOGIN_COOKIE not in cookies(r) or cookies(r)[LOGIN_COOKIE].value == morsel.value


@pytest.mark.parametrize("token", [None, "", "forged-token-value"])
async def test_a_login_without_the_right_csrf_token_is_403_and_sets_no_session(
        dashboard: tuple[aiohttp.ClientSession, str], token: str | None) -> None:
    http, url = dashboard
    async with http.get(url + "/auth/login") as r:
        secret = cookies(r)[LOGIN_COOKIE].value
    form = {"username": "demo", "password": "pw", "domain": "Default"}
    if token is not None:
        form["csrf_token"] = token
    async with http.post(url + "/auth/login", data=form, allow_redirects=False,
                         headers={"Cookie": f"{LOGIN_COOKIE}={secret}"}) as r:
        assert r.status == 403
        assert "CSRF" in await r.text()
        assert SESSION_COOKIE not in cookies(r)
    # the right token but no cookie (another site's form) is refused too
    async with http.post(url + "/auth/login", data={**form, "csrf_token": secret},
                         allow_redirects=False) as r:
        assert r.status == 403 and SESSION_COOKIE not in cookies(r)


async def test_identity_down_is_a_readable_error_and_no_session(
        dashboard: tuple[aiohttp.ClientSession, str]) -> None:
    http, url = dashboard
    async with http.get(url + "/auth/login") as r:
        secret = cookies(r)[LOGIN_COOKIE].value
    async with http.post(url + "/auth/login", allow_redirects=False, data={
            "username": "demo", "password": "pw", "domain": "Default",
            "csrf_token": secret}, headers={"Cookie": f"{LOGIN_COOKIE}={secret}"}) as r:
        assert r.status == 503
        text = await r.text()
        assert "Identity could not be asked" in text and "unreachable" in text
        assert SESSION_COOKIE not in cookies(r)
    async with http.post(url + "/auth/login", allow_redirects=False, data={
            "username": "", "password": "", "csrf_token": secret},
            headers={"Cookie": f"{LOGIN_COOKIE}={secret}"}) as r:
        assert r.status == 400 and "Enter your user name and password" in await r.text()


async def test_cookies_are_secure_over_tls(tmp_path: Path) -> None:
    server_tls, client_tls = tls_context(tmp_path)
    runner, url = await serve(config(), server_tls)
    try:
        async with aiohttp.ClientSession() as http, \
                http.get(url + "/auth/login", ssl=client_tls) as r:
            morsel = cookies(r)[LOGIN_COOKIE]
            assert r.status == 200 and morsel["secure"] and morsel["httponly"]
    finally:
        await runner.cleanup()


async def test_secure_cookies_behind_a_tls_proxy() -> None:
    runner, url = await serve(config(secure_cookies=True))
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/auth/login") as r:
            assert cookies(r)[LOGIN_COOKIE]["secure"]
    finally:
        await runner.cleanup()


async def test_static_files_and_unknown_paths(
        dashboard: tuple[aiohttp.ClientSession, str]) -> None:
    http, url = dashboard
    async with http.get(url + "/static/htmx.min.js") as r:
        assert r.status == 200 and "htmx" in (await r.text())[:200]
    async with http.get(url + "/static/nothing.js") as r:
        assert r.status == 404
    async with http.get(url + "/healthcheck") as r:
        assert r.status == 200
