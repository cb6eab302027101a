"""The pure parts of StaticWeb, CORS and quotas: sizes, style-sheet links, origins,
quota values, and the quota features' decisions before any storage node is asked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from multidict import CIMultiDict, MultiDict

from common.config import StrataConfig
from identity.client import TokenInfo
from proxy.auth import Caller
from proxy.features import cors, quotas, staticweb
from proxy.pipeline import SwiftRequest, SwiftResponse
from proxy.request import SwiftPath
from proxy.state import Info


@pytest.mark.parametrize(("size", "shown"), [
    (0, "0"), (1023, "1023"), (1024, "1Ki"), (2000, "2Ki"), (1535, "1Ki"), (1536, "2Ki"),
    (1048576, "1Mi"), (5 * 1024 ** 3, "5Gi"), (1024 ** 8, "1Yi"), (1024 ** 9, "1024Yi"),
])
def test_human_readable_sizes(size: int, shown: str) -> None:
    assert staticweb.human_readable(size) == shown


def web(**meta: str) -> staticweb.WebConfig:
    return staticweb.WebConfig(Info(204, {f"X-Container-Meta-{k}": v for k, v in meta.items()}))


def test_web_config_reads_and_strips_metadata() -> None:
    cfg = web(**{"Web-Index": " index.html ", "Web-Listings": "true"})
    assert (cfg.index, cfg.listings, cfg.error, cfg.dir_type) == ("index.html", "true", "", "")
    missing = staticweb.WebConfig(Info(404, {"X-Container-Meta-Web-Index": "index.html"}))
    assert missing.index == ""


@pytest.mark.parametrize(("css", "prefix", "href"), [
    ("style.css", "", "style.css"),
    ("style.css", "a/b/", "../../style.css"),
    ("my style.css", "a/", "../my%20style.css"),
    ("/abs/s.css", "a/", "/abs/s.css"),
    ("http://cdn.example/s t.css", "a/", "http://cdn.example/s%20t.css"),
])
def test_css_links(css: str, prefix: str, href: str) -> None:
    assert web(**{"Web-Listings-Css": css}).css_href(prefix) == href


class FakeState:
    """What the features read of the proxy's state: the config and cached HEADs."""

    def __init__(self, infos: dict[tuple[str, ...], Info] | None = None) -> None:
        self.cfg = StrataConfig()
        self.infos = infos or {}
        self.forgotten: list[tuple[str, ...]] = []

    async def info(self, txn: str, account: str, container: str | None = None) -> Info:
        key = (account,) if container is None else (account, container)
        return self.infos.get(key, Info(404))

    def forget(self, account: str, container: str | None = None) -> None:
        self.forgotten.append((account,) if container is None else (account, container))


def caller(*roles: str, project: str = "p") -> Caller:
    info = TokenInfo(user_id="u", user_name="u", user_domain_id="default", project_id=project,
                     project_name=project, project_domain_id="default",
                     roles=frozenset(roles), expires_at=0.0)
    return Caller(info, "tok")


def req(method: str, container: str | None = None, obj: str | None = None,
        who: Caller | None = None, length: int | None = None,
        **headers: str) -> SwiftRequest:
    return SwiftRequest(method, SwiftPath("v1", "AUTH_p", container, obj),
                        CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}),
                        MultiDict(), content_length=length, caller=who or caller("member"))


async def reached(r: SwiftRequest) -> SwiftResponse:
    return SwiftResponse.of(201, {"X-Reached": "yes"})


def run(feature: Any, r: SwiftRequest) -> SwiftResponse:
    out: SwiftResponse = asyncio.run(feature(r, reached))
    return out


def test_origins() -> None:
    settings = cors.Settings(FakeState())  # type: ignore[arg-type]
    info = cors.CorsInfo(Info(204, {
        "X-Container-Meta-Access-Control-Allow-Origin": " http://a.example  http://b.example "}))
    assert settings.origin_allowed(info, "http://a.example")
    assert settings.origin_allowed(info, "http://b.example")
    assert not settings.origin_allowed(info, "http://c.example")
    assert not info.wildcard
    settings.allow_origin = ["http://c.example"]
    assert settings.origin_allowed(info, "http://c.example")
    star = cors.CorsInfo(Info(204, {"X-Container-Meta-Access-Control-Allow-Origin": " * "}))
    assert star.wildcard and settings.origin_allowed(star, "http://anyone")
    assert cors.CorsInfo(Info(404)).allow_origin is None


def test_preflight_without_origin_needs_no_container() -> None:
    resp = run(cors.make(FakeState()), req("OPTIONS", "c"))  # type: ignore[arg-type]
    assert resp.status == 200
    assert resp.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, POST, PUT"
    assert run(cors.make(FakeState()), req("GET", "c")).headers["X-Reached"] == "yes"  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "quota"), [
    ("10", 10), (" 7 ", 7), ("", -1), ("-1", -1), ("1.5", -1), ("²", -1), ("abc", -1)])
def test_stored_quota_values(value: str, quota: int) -> None:
    assert quotas.as_quota(value) == quota


@pytest.mark.parametrize(("header", "value", "body"), [
    ("X-Container-Meta-Quota-Bytes", "x", b"Invalid bytes quota."),
    ("X-Container-Meta-Quota-Bytes", "-5", b"Invalid bytes quota."),
    ("X-Container-Meta-Quota-Count", "1.0", b"Invalid count quota."),
    ("X-Container-Meta-Quota-Count", "\u0663", b"Invalid count quota."),
])
def test_container_quota_values_are_checked(header: str, value: str, body: bytes) -> None:
    feature = quotas.ContainerQuotas(FakeState())  # type: ignore[arg-type]
    for method in ("PUT", "POST"):
        resp = run(feature, req(method, "c", **{header: value}))
        assert (resp.status, resp.body) == (400, body)
    assert run(feature, req("POST", "c", **{header: "12"})).status == 201
    assert run(feature, req("POST", "c", **{header: ""})).status == 201


def test_container_quota_decision() -> None:
    st = FakeState({("AUTH_p", "c"): Info(204, {
        "X-Container-Meta-Quota-Bytes": "10", "X-Container-Bytes-Used": "6",
        "X-Container-Object-Count": "1", "X-Container-Meta-Quota-Count": "2"})})
    feature = quotas.ContainerQuotas(st)  # type: ignore[arg-type]
    assert run(feature, req("PUT", "c", "o", length=4)).status == 201
    assert st.forgotten == [("AUTH_p", "c")]
    resp = run(feature, req("PUT", "c", "o", length=5))
    assert (resp.status, resp.body) == (413, b"Upload exceeds quota.")
    counted = st.infos[("AUTH_p", "c")].headers  # a new HEAD answer (answers never change)
    st.infos[("AUTH_p", "c")] = Info(204, {**counted, "X-Container-Object-Count": "2"})
    assert run(feature, req("PUT", "c", "o", length=0)).status == 413


def test_account_quota_settings_are_for_resellers() -> None:
    feature = quotas.AccountQuotas(FakeState())  # type: ignore[arg-type]
    resp = run(feature, req("POST", X_Account_Meta_Quota_Bytes="5"))
    assert resp.status == 403
    resp = run(feature, req("POST", who=caller("service"), X_Account_Quota_Count="x"))
    assert resp.status == 400
    r = req("POST", who=caller("ResellerAdmin"), X_Account_Meta_Quota_Bytes="5",
            X_Remove_Account_Quota_Count="y", X_Account_Quota_Bytes_Policy_Policy_0="9")
    assert run(feature, r).status == 201
    assert r.headers["X-Account-Sysmeta-Quota-Bytes"] == "5"
    assert r.headers["X-Account-Sysmeta-Quota-Count"] == ""
    assert r.headers["X-Account-Sysmeta-Quota-Bytes-Policy-0"] == "9"
    assert "X-Account-Quota-Bytes-Policy-Policy-0" not in r.headers


def test_account_quota_decision() -> None:
    st = FakeState({("AUTH_p",): Info(204, {
        "X-Account-Sysmeta-Quota-Bytes": "10", "X-Account-Bytes-Used": "8",
        "X-Account-Object-Count": "3"})})
    feature = quotas.AccountQuotas(st)  # type: ignore[arg-type]
    assert run(feature, req("PUT", "c", "o", length=2)).status == 201
    resp = run(feature, req("PUT", "c", "o", length=3))
    assert (resp.status, resp.body) == (413, b"Upload exceeds quota.")
    assert run(feature, req("PUT", "c", "o", length=3, who=caller("service"))).status == 201
    st.infos[("AUTH_p",)] = Info(204, {"X-Account-Meta-Quota-Bytes": "1",
                                       "X-Account-Bytes-Used": "0"})
    assert run(feature, req("PUT", "c", "o", length=2)).status == 413
    st.infos[("AUTH_p",)] = Info(204, {"X-Account-Sysmeta-Quota-Count-Policy-0": "3",
                                       "X-Account-Object-Count": "3"})
    resp = run(feature, req("PUT", "c", "o", length=0))
    assert (resp.status, resp.body) == (413, b"Upload exceeds policy quota.")
