"""HTTP Range parsing as Swift applies it (RFC 9110 byte ranges)."""

from __future__ import annotations

import pytest

from common.ranges import Unsatisfiable, parse_range


def test_ranges_are_clamped_and_suffixes_counted_from_the_end() -> None:
    assert parse_range("bytes=0-9", 100) == [(0, 9)]
    assert parse_range("bytes=90-200", 100) == [(90, 99)]
    assert parse_range("bytes=-10", 100) == [(90, 99)]
    assert parse_range("bytes=95-", 100) == [(95, 99)]
    assert parse_range("bytes=0-0,-1", 100) == [(0, 0), (99, 99)]


def test_malformed_headers_are_ignored() -> None:
    for header in (None, "", "bytes=", "bytes=a-b", "items=0-1", "bytes=5-2"):
        assert parse_range(header, 100) is None, header


def test_a_start_past_the_end_is_unsatisfiable() -> None:
    for header in ("bytes=100-", "bytes=150-", "bytes=100-200"):
        with pytest.raises(Unsatisfiable):
            parse_range(header, 100)


def test_spaces_are_ignored_as_swift_does() -> None:
    assert parse_range("bytes = 0 - 9", 100) == [(0, 9)]
    assert parse_range(" bytes=0-9 , 20 - 29", 100) == [(0, 9), (20, 29)]
    assert parse_range("bytes = - 10", 100) == [(90, 99)]


def test_conditions_in_swifts_order() -> None:
    from email.utils import formatdate

    from common.ranges import check_conditions

    modified = 1_700_000_000.0
    before, after = formatdate(modified - 60, usegmt=True), formatdate(modified + 60, usegmt=True)
    # If-Unmodified-Since counts even when If-Match matches (swob checks both)
    assert check_conditions({"If-Match": "abc", "If-Unmodified-Since": before}, "abc",
                            modified, "GET") == 412
    assert check_conditions({"If-Match": "abc", "If-Unmodified-Since": after}, "abc",
                            modified, "GET") is None
    # a matching If-None-Match answers first, before a failing If-Match
    assert check_conditions({"If-None-Match": "abc", "If-Match": "xyz"}, "abc",
                            modified, "GET") == 304
    # If-Modified-Since counts when If-None-Match did not match
    assert check_conditions({"If-None-Match": "xyz", "If-Modified-Since": after}, "abc",
                            modified, "HEAD") == 304
    assert check_conditions({"If-Match": "*"}, "abc", modified, "GET") is None
