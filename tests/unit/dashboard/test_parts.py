"""The dashboard's pure parts: sessions, redirects, error wording, charts, the topology
layout, rule forms, the navigation (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import MultiDict

from common.errors import BadRequest
from common.httpclient import remote_error
from dashboard.apis import error_text
from dashboard.auth import endpoints_of
from dashboard.charts import Gauge, cinder_gauges, neutron_gauges, nova_gauges
from dashboard.nav import current_panel, navigation
from dashboard.session import EXPIRY_MARGIN, Endpoint, Project, Session, SessionStore
from dashboard.topology import layout
from dashboard.views import busy, when
from dashboard.views.security import rule_body
from dashboard.web import login_url, safe_next


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def session(store: SessionStore, *, expires: float, roles: set[str] | None = None,
            endpoints: dict[str, Endpoint] | None = None) -> Session:
    return Session(id=store.new_id(), csrf=store.new_id(), user_id="u", user_name="demo",
                   domain_id="default", domain_name="Default", unscoped_token="t0",
                   token="t1", expires_at=expires, project=Project("p", "demo"),
                   roles=frozenset(roles or {"member", "reader"}),
                   endpoints=endpoints or {}, projects=[Project("p", "demo")])


def test_a_session_ends_when_its_token_expires_or_it_sits_idle() -> None:
    clock = Clock()
    store = SessionStore(idle_timeout=600, max_sessions=10, clock=clock)
    s = session(store, expires=clock.now + 3600)
    store.add(s)
    assert store.get(s.id) == (s, False)
    clock.now += 599
    assert store.get(s.id) == (s, False)  # used: idle time starts again
    clock.now += 601
    assert store.get(s.id) == (None, True)  # idle too long: ended, and gone
    assert store.get(s.id) == (None, False)

    t = session(store, expires=clock.now + 100)
    store.add(t)
    clock.now += 100 - EXPIRY_MARGIN - 1
    assert store.get(t.id)[0] is t
    clock.now += 2  # within the margin before the token's expiry
    assert store.get(t.id) == (None, True)
    assert store.get(None) == (None, False) and store.get("nope") == (None, False)


def test_the_store_keeps_the_most_recently_used_sessions() -> None:
    clock = Clock()
    store = SessionStore(idle_timeout=600, max_sessions=2, clock=clock)
    a, b, c = (session(store, expires=5000) for _ in range(3))
    store.add(a)
    store.add(b)
    assert store.get(a.id)[0] is a  # a used last: b goes first
    store.add(c)
    assert len(store) == 2 and store.get(b.id) == (None, False)
    assert store.get(a.id)[0] is a and store.get(c.id)[0] is c


def test_roles_imply_as_keystone_s_do() -> None:
    store = SessionStore(idle_timeout=600, max_sessions=2)
    reader = session(store, expires=5000, roles={"reader"})
    member = session(store, expires=5000, roles={"member"})
    admin = session(store, expires=5000, roles={"admin"})
    assert reader.has_role("reader") and not reader.can_write and not reader.is_admin
    assert member.can_write and member.has_role("reader") and not member.is_admin
    assert admin.is_admin and admin.can_write and admin.has_role("reader")


def test_messages_for_the_next_page_are_taken_once() -> None:
    s = session(SessionStore(idle_timeout=600, max_sessions=2), expires=5000)
    for i in range(12):
        s.flash("info", f"m{i}")
    assert [m for _, m in s.take_flashes()] == [f"m{i}" for i in range(2, 12)]
    assert s.take_flashes() == []


@pytest.mark.parametrize(("value", "expected"), [
    ("/project/volumes/", "/project/volumes/"),
    ("/project/containers/c/?prefix=a%2F", "/project/containers/c/?prefix=a%2F"),
    ("//evil.example/x", "/"), ("https://evil.example/", "/"), ("javascript:alert(1)", "/"),
    ("/\\evil.example", "/"), ("", "/"), (None, "/"), ("relative", "/"),
])
def test_next_is_only_ever_a_local_path(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_the_login_url_keeps_the_path() -> None:
    assert login_url("/project/volumes/?x=1") == "/auth/login?next=/project/volumes/%3Fx%3D1"
    assert login_url("/admin/", expired=True) == "/auth/login?next=/admin/&expired=1"


@pytest.mark.parametrize(("status", "body", "text"), [
    (400, '{"badRequest": {"message": "Invalid volume: size", "code": 400}}',
     "Invalid volume: size (HTTP 400)"),
    (409, '{"NeutronError": {"type": "InUse", "message": "Network is in use", '
          '"detail": ""}}', "Network is in use (HTTP 409)"),
    (403, '{"error": {"code": 403, "title": "Forbidden", "message": "Not yours"}}',
     "Not yours (HTTP 403)"),
    (413, '{"message": "Quota exceeded"}', "Quota exceeded (HTTP 413)"),
    (409, "<html><h1>Conflict</h1><p>There was a conflict when trying to complete your "
          "request.</p></html>",
     "Conflict There was a conflict when trying to complete your request. (HTTP 409)"),
    (500, "[]", "the service answered 500 to GET /x (HTTP 500)"),
])
def test_an_api_error_is_worded_from_its_own_body(status: int, body: str, text: str) -> None:
    assert error_text(remote_error(status, f"the service answered {status} to GET /x",
                                   body)) == text


def test_an_error_that_is_not_an_answer_keeps_its_message() -> None:
    assert error_text(BadRequest("Size is required.")) == "Size is required."
    err = remote_error(503, "x")
    err.answered = None
    assert error_text(err) == "x"


def test_gauges_from_each_api_s_quota_view() -> None:
    volumes = cinder_gauges({"volumes": {"limit": 10, "in_use": 5, "reserved": 0},
                             "gigabytes": {"limit": -1, "in_use": 3, "reserved": 0},
                             "id": "p"})
    assert [(g.label, g.percent, g.unlimited) for g in volumes] == [
        ("Volumes", 50, False), ("Volume Storage", 0, True)]
    assert volumes[1].text == "3 GiB used of unlimited"
    nets = neutron_gauges({"floatingip": {"used": 50, "limit": 50, "reserved": 0}})
    assert nets[0].level == "full" and nets[0].text == "50 used of 50"
    compute = nova_gauges({"maxTotalInstances": 10, "totalInstancesUsed": 2,
                           "maxTotalCores": 20, "totalCoresUsed": 2,
                           "maxTotalRAMSize": -1, "totalRAMUsed": 256})
    assert [(g.label, g.text) for g in compute] == [
        ("Instances", "2 used of 10"), ("VCPUs", "2 used of 20"),
        ("RAM", "256 MiB used of unlimited")]
    assert Gauge("x", 8, 10).level == "high" and Gauge("x", 1, 10).level == "ok"
    assert Gauge("x", 3, 0).fraction == 1.0 and Gauge("x", 0, 0).fraction == 0.0
    # the filled arc and the gap make the whole ring
    filled, gap = (float(v) for v in Gauge("x", 1, 4).dash.split())
    assert filled == pytest.approx((filled + gap) / 4, abs=0.01)


def test_the_topology_puts_each_device_on_its_networks() -> None:
    nets: list[dict[str, Any]] = [
        {"id": "n1", "name": "private"}, {"id": "ext", "name": "public", "router:external": True}]
    subnets = [{"id": "s1", "network_id": "n1", "cidr": "10.0.0.0/26"}]
    routers = [{"id": "r1", "name": "router1", "status": "ACTIVE", "external_gateway_info": {
        "network_id": "ext", "external_fixed_ips": [{"ip_address": "172.24.4.10"}]}}]
    ports = [{"id": "p1", "network_id": "n1", "device_id": "r1",
              "fixed_ips": [{"ip_address": "10.0.0.1"}]},
             {"id": "p2", "network_id": "n1", "device_id": "vm1",
              "fixed_ips": [{"ip_address": "10.0.0.5"}]}]
    servers = [{"id": "vm1", "name": "web", "status": "ACTIVE"}]
    pic = layout(nets, subnets, routers, ports, servers)
    assert [r.name for r in pic.rows] == ["public", "private"]  # external first
    assert pic.rows[1].cidrs == "10.0.0.0/26"
    router, server = pic.devices
    assert [(link.y, link.address) for link in router.links] == [
        (pic.rows[0].y, "172.24.4.10"), (pic.rows[1].y, "10.0.0.1")]
    assert server.links[0].y == pic.rows[1].y and server.bottom == pic.rows[1].y
    assert server.x > router.x and pic.width > server.x + pic.box_w
    assert layout([], [], [], [], []).empty


@pytest.mark.parametrize(("form", "expected"), [
    ({"rule": "ssh"}, {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
                       "remote_ip_prefix": "0.0.0.0/0"}),
    ({"rule": "all_icmp"}, {"protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"}),
    ({"rule": "custom_tcp", "port": "8000-8080", "cidr": "10.0.0.0/8"},
     {"protocol": "tcp", "port_range_min": 8000, "port_range_max": 8080,
      "remote_ip_prefix": "10.0.0.0/8"}),
    ({"rule": "custom_icmp", "icmp_type": "8", "icmp_code": "0", "ethertype": "IPv6"},
     {"protocol": "icmp", "port_range_min": 8, "port_range_max": 0, "ethertype": "IPv6",
      "remote_ip_prefix": "::/0"}),
    ({"rule": "any", "remote_group_id": "g2", "direction": "egress"},
     {"remote_group_id": "g2", "direction": "egress"}),
])
def test_a_rule_form_becomes_neutron_s_rule(form: dict[str, str],
                                            expected: dict[str, Any]) -> None:
    body = rule_body(MultiDict(form), "g1")
    want = {"security_group_id": "g1", "direction": "ingress", "ethertype": "IPv4",
            **expected}
    assert body == want


@pytest.mark.parametrize("form", [{"rule": "telnet"}, {"rule": "custom_tcp"},
                                  {"rule": "custom_udp", "port": "eighty"}])
def test_a_bad_rule_form_says_what_is_wrong(form: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        rule_body(MultiDict(form), "g1")


def test_lists_refresh_while_something_settles() -> None:
    assert busy([{"status": "available"}, {"status": "creating"}])
    assert busy([{"status": "BUILD"}]) and busy([{"status": "backing-up"}])
    assert not busy([{"status": "available"}, {"status": "error"}, {"status": "ACTIVE"}])


def test_the_catalog_gives_each_type_its_public_url_in_the_region() -> None:
    catalog: list[dict[str, Any]] = [{"type": "volumev3", "name": "cinderv3", "endpoints": [
        {"interface": "internal", "region_id": "R1", "url": "http://int"},
        {"interface": "public", "region_id": "R2", "url": "http://r2"},
        {"interface": "public", "region_id": "R1", "url": "http://r1"}]},
        {"type": "image", "name": "glance", "endpoints": [
            {"interface": "public", "region_id": "R2", "url": "http://img"}]},
        {"type": "compute", "name": "nova", "endpoints": []}]
    eps = endpoints_of(catalog, "R1")
    assert eps["volumev3"].url == "http://r1" and eps["image"].url == "http://img"
    assert "compute" not in eps


def test_the_navigation_shows_what_the_catalog_and_the_role_allow() -> None:
    store = SessionStore(idle_timeout=600, max_sessions=2)
    eps = {t: Endpoint(t, t, f"http://{t}", "R") for t in ("volumev3", "image")}
    member = session(store, expires=5000, endpoints=eps)
    nav = navigation(member, "/project/volumes/abc")
    titles = [p.title for g in nav.groups for p, _ in g.panels]
    assert "Volumes" in titles and "Images" in titles
    assert "Networks" not in titles and "Instances" not in titles  # not in the catalog
    assert [t for t, _, _ in nav.tabs] == ["project"]  # no Admin tab for a member
    assert [p.title for g in nav.groups for p, cur in g.panels if cur] == ["Volumes"]
    admin = session(store, expires=5000, roles={"admin"}, endpoints=eps)
    assert [t for t, _, _ in navigation(admin, "/admin/").tabs] == ["project", "admin"]
    panel = current_panel("/admin/volume_types/")
    assert panel is not None and panel.title == "Volume Types"


def test_when_shows_timestamps_in_utc() -> None:
    assert when("2026-12-06T05:09:43.000000") == "2026-12-06 05:09:43 UTC"  # Cinder
    assert when("2026-12-06T04:58:37.284520") == "2026-12-06 04:58:37 UTC"  # Swift
    assert when("2026-12-06T05:09:43Z") == "2026-12-06 05:09:43 UTC"  # Glance
    assert when("2026-12-06T07:09:43+02:00") == "2026-12-06 05:09:43 UTC"
    assert when("soon") == "soon"
