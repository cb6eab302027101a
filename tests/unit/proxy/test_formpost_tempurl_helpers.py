"""Small pieces of the TempURL and FormPost features (the whole of them is
tested against a running Strata in tests/functional/swift/test_acl_tempurl.py)."""

from __future__ import annotations

import pytest

from common.http import ApiError
from proxy.features.formpost import _error_page, status_line
from proxy.features.tempurl import digests_from_conf, digests_info, unauthorized
from proxy.request import SwiftPath, parse_path


def test_status_lines_as_swift() -> None:
    assert status_line(201) == "201 Created"
    assert status_line(400) == "400 Bad Request"
    assert status_line(404) == "404 Not Found"
    assert status_line(499) == "499 Unknown"


def test_failed_upload_bodies() -> None:
    assert _error_page(ApiError(404, "The resource could not be found.")) == (
        b"<html><h1>Not Found</h1><p>The resource could not be found.</p></html>")
    assert _error_page(ApiError(400, "Object name length of 2000 longer than 1024")) == (
        b"Object name length of 2000 longer than 1024")


def test_digest_settings() -> None:
    assert digests_from_conf("sha256 sha512") == {"sha256", "sha512"}
    assert digests_from_conf("") == {"sha1", "sha256", "sha512"}  # Swift 2.38's default
    assert digests_from_conf("SHA512 md5") == {"sha512"}
    with pytest.raises(ValueError):
        digests_from_conf("md5")
    assert digests_info(frozenset({"sha512", "sha256"})) == {
        "allowed_digests": ["sha256", "sha512"]}
    assert digests_info(frozenset({"sha1", "sha256"})) == {
        "allowed_digests": ["sha1", "sha256"], "deprecated_digests": ["sha1"]}


def test_unauthorized_as_swob() -> None:
    r = unauthorized("GET", "401 Unauthorized: Temp URL invalid\n", "AUTH_a")
    assert r.status == 401 and r.body == b"401 Unauthorized: Temp URL invalid\n"
    assert dict(r.headers) == {"Content-Type": "text/html; charset=UTF-8",
                               "Www-Authenticate": 'Swift realm="AUTH_a"'}
    assert unauthorized("HEAD", "x", "AUTH_a").body == b""


def test_trailing_slash_names_the_container() -> None:
    assert parse_path("/v1/AUTH_a/c/") == SwiftPath("v1", "AUTH_a", "c", None)
    assert parse_path("/v1/AUTH_a/c/o/") == SwiftPath("v1", "AUTH_a", "c", "o/")
    assert parse_path("/v1/AUTH_a/") == SwiftPath("v1", "AUTH_a", None, None)
