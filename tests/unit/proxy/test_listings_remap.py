"""Listing entries as Swift's middlewares leave them, and domain_remap's host rules."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict

from common.http import ApiError
from proxy.domain_remap import domains, remap
from proxy.listings import finish_entries, finish_entry, listing_query

DOMAINS = domains("swift.example.com, .other.org")


def test_slo_and_symlink_parameters_become_keys() -> None:
    entry = finish_entry({"name": "m", "hash": "abc; slo_etag=def; s3_etag=x-2"}, "v1",
                         "AUTH_a")
    assert entry == {"name": "m", "hash": "abc; s3_etag=x-2", "slo_etag": '"def"'}
    link = finish_entry({"name": "l", "hash": "d41d; symlink_target=c/o%20x; "
                         "symlink_target_etag=e; symlink_target_bytes=12"}, "v1", "AUTH_a")
    assert link == {"name": "l", "hash": "d41d", "symlink_path": "/v1/AUTH_a/c/o%20x",
                    "symlink_etag": "e", "symlink_bytes": 12}
    other = finish_entry({"name": "l", "hash": "d41d; symlink_target=c/o; "
                          "symlink_target_account=AUTH_b"}, "v1", "AUTH_a")
    assert other["symlink_path"] == "/v1/AUTH_b/c/o"
    plain = json.dumps([{"name": "a;b", "hash": "abc"}, {"subdir": "x/"}]).encode()
    assert finish_entries(plain, "v1", "AUTH_a") is None  # untouched, unparsed


def test_listing_query_as_swift_checks_it() -> None:
    assert listing_query({"limit": "ten", "marker": "\x00"}, "container", 10000) == {
        "marker": "\x00", "format": "json"}
    assert listing_query({"path": "d", "limit": "5"}, "account", 10000) == {
        "limit": "5", "format": "json"}
    with pytest.raises(ApiError) as err:
        listing_query({"limit": "10001"}, "container", 10000)
    assert (err.value.status, err.value.message) == (412, "Maximum limit is 10000")


@pytest.mark.parametrize(("host", "path", "expected"), [
    ("c.AUTH-abc.swift.example.com", "/o?x=1", "/v1/AUTH_abc/c/o?x=1"),
    ("c.auth-abc.swift.example.com:8080", "/", "/v1/AUTH_abc/c/"),
    ("AUTH_abc.swift.example.com", "/c/o", "/v1/AUTH_abc/c/o"),
    ("auth-a-b.other.org", "/v1/c", "/v1/AUTH_a-b/v1/c"),
])
def test_remapped_hosts(host: str, path: str, expected: str) -> None:
    got = remap(host, path, DOMAINS)
    assert got is not None and got.raw_path == expected


@pytest.mark.parametrize("host", ["swift.example.com", "c.abc.swift.example.com",
                                  "elsewhere.net", ""])
def test_hosts_left_alone(host: str) -> None:
    assert remap(host, "/x", DOMAINS) is None


def test_default_reseller_prefix_and_bad_hosts() -> None:
    got = remap("c.abc.swift.example.com", "/o", DOMAINS, "AUTH")
    assert got is not None and got.path == "/v1/AUTH_abc/c/o"
    with pytest.raises(ApiError) as err:
        remap("a.b.AUTH-x.swift.example.com", "/", DOMAINS)
    assert (err.value.status, err.value.message) == (400, "Bad domain in host header")


def test_redirects_name_the_requested_path() -> None:
    got = remap("c.AUTH-a.swift.example.com", "/dir", DOMAINS)
    assert got is not None
    headers = CIMultiDict({"Location": "http://c.AUTH-a.swift.example.com/v1/AUTH_a/c/dir/",
                           "Content-Location": "/v1/AUTH_a/c/dir"})
    got.rewrite(headers)
    assert headers["Location"] == "http://c.AUTH-a.swift.example.com/dir/"
    assert headers["Content-Location"] == "/v1/AUTH_a/c/dir"  # not absolute: as it is
