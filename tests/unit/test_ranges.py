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
