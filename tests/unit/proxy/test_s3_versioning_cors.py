"""The pure parts of S3 versioning, bucket CORS and conditional copy."""

from __future__ import annotations

import pytest

from proxy.features.versioned_writes import DELETE_MARKER
from proxy.s3 import conditions, cors, versioning
from proxy.s3.errors import S3Error


def test_version_ids() -> None:
    assert versioning.parse_version_id("null") == "null"
    assert versioning.parse_version_id("1714567890.12345") == "1714567890.12345"
    for bad in ("1714567890.1", "abc", "", "-1", "1714567890.12345x"):
        with pytest.raises(S3Error) as exc:
            versioning.parse_version_id(bad)
        assert exc.value.code == "InvalidArgument"
    assert versioning.ts_from_iso("2024-05-01T12:34:56.123450") == "1714566896.12345"


def test_null_versions_follow_the_log() -> None:
    never = versioning.Config()
    assert never.is_null("1000000000.00000")
    cfg = versioning.config_of({versioning.SYS_STATUS: "Enabled",
                                versioning.SYS_LOG: "E1000000100.00000 S1000000200.00000 "
                                                    "E1000000300.00000"})
    assert cfg.enabled and cfg.log[0] == ("E", "1000000100.00000")
    assert cfg.version_id("1000000050.00000") == "null"  # before versioning
    assert cfg.version_id("1000000150.00000") == "1000000150.00000"
    assert cfg.version_id("1000000250.00000") == "null"  # while suspended
    assert cfg.version_id("1000000350.00000") == "1000000350.00000"


def test_build_versions_with_markers_and_aliases() -> None:
    cfg = versioning.Config("Enabled", (("E", "1000000000.00000"),))
    p = "001k/"
    entries = [  # newest first, as a reverse listing gives them
        {"name": p + "1000000400.00000", "content_type": DELETE_MARKER, "bytes": 0},
        {"name": p + "1000000300.00000-1000000100.00000", "content_type": "x", "bytes": 0},
        {"name": p + "1000000300.00000", "hash": "aa", "bytes": 3},
        {"name": p + "1000000200.00000", "hash": "bb", "bytes": 4},
    ]
    current = {"name": "k", "hash": "cc", "bytes": 5,
               "last_modified": "2001-09-09T01:55:00.000000"}  # 1000000500
    vs = versioning.build_versions(cfg, "k", current, entries)
    assert [(v.vid, v.marker, v.current) for v in vs] == [
        ("1000000500.00000", False, True), ("1000000400.00000", True, False),
        ("1000000100.00000", False, False),  # the restored copy keeps its first id
        ("1000000200.00000", False, False)]
    assert vs[2].alias == p + "1000000300.00000-1000000100.00000"
    assert (vs[3].etag, vs[3].size) == ("bb", 4)


def test_archive_buckets_are_hidden() -> None:
    names = ["a", "a+versions", "b+versions", "c"]
    assert versioning.hide_archives(names) == {"a+versions"}


def test_cors_rules_parse_and_match() -> None:
    doc = (b"<CORSConfiguration><CORSRule><ID>r</ID><AllowedOrigin>https://*.ex.com"
           b"</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>x-amz-*"
           b"</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>30"
           b"</MaxAgeSeconds></CORSRule></CORSConfiguration>")
    rules = cors.parse_config(doc)
    assert cors.decode(cors.encode(rules)) == rules
    assert cors.parse_config(cors.config_xml(rules)) == rules
    rule = rules[0]
    assert rule.allows("https://a.ex.com", "GET", ["x-amz-date"])
    assert not rule.allows("https://ex.com", "GET", [])
    assert not rule.allows("https://a.ex.com", "PUT", [])
    assert not rule.allows("https://a.ex.com", "GET", ["authorization"])
    assert rule.answer("https://a.ex.com", ["x-amz-date"])["Access-Control-Max-Age"] == "30"
    assert cors.wildcard_match("*", "anything")
    assert not cors.wildcard_match("ab*ba", "aba")


@pytest.mark.parametrize("doc,code", [
    (b"<CORSConfiguration/>", "MalformedXML"),
    (b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"
     b"</CORSConfiguration>", "MalformedXML"),
    (b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
     b"</AllowedMethod><MaxAgeSeconds>x</MaxAgeSeconds></CORSRule></CORSConfiguration>",
     "MalformedXML"),
    (b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>TRACE"
     b"</AllowedMethod></CORSRule></CORSConfiguration>", "InvalidRequest"),
])
def test_cors_bad_documents(doc: bytes, code: str) -> None:
    with pytest.raises(S3Error) as exc:
        cors.parse_config(doc)
    assert exc.value.code == code


def test_copy_conditions_combine_as_s3() -> None:
    lm = "Wed, 01 May 2024 12:00:00 GMT"
    early, late = "Wed, 01 May 2023 12:00:00 GMT", "Wed, 01 May 2025 12:00:00 GMT"

    def check(**headers: str) -> str | None:
        h = {f"x-amz-copy-source-if-{k.replace('_', '-')}": v for k, v in headers.items()}
        return conditions.failed_condition(h, '"abc"', lm)

    assert check() is None
    assert check(match='"abc"') is None and check(match="*") is None
    assert check(match='"x"') == conditions.MATCH
    assert check(none_match='"abc"') == conditions.NONE_MATCH
    assert check(modified_since=late) == conditions.MODIFIED
    assert check(modified_since=early) is None
    assert check(unmodified_since=early) == conditions.UNMODIFIED
    assert check(match='"abc"', unmodified_since=early) is None
    assert check(none_match='"x"', modified_since=late) is None
    assert check(modified_since="not a date") is None
