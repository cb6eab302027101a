"""Filters (names, wildcards, tags) and pages (MaxResults, NextToken)."""

from __future__ import annotations

import pytest

from ec2.core import filters, paging
from ec2.errors import InvalidParameterCombination, InvalidParameterValue
from ec2.params import Params


def _filters(*specs: tuple[str, list[str]]) -> Params:
    pairs = []
    for n, (name, values) in enumerate(specs, 1):
        pairs.append((f"Filter.{n}.Name", name))
        pairs += [(f"Filter.{n}.Value.{m}", v) for m, v in enumerate(values, 1)]
    return Params.parse(pairs)


def test_values_match_exactly_or_with_wildcards() -> None:
    p = _filters(("status", ["avail*", "error"]), ("size", ["1?"]))
    found = filters.parse(p, ("status", "size"))
    assert filters.matches(found, {"status": "available", "size": 10})
    assert filters.matches(found, {"status": "error", "size": 12})
    assert not filters.matches(found, {"status": "in-use", "size": 10})
    assert not filters.matches(found, {"status": "available", "size": 100})
    star = filters.parse(_filters(("status", [r"a\*"])), ("status",))
    assert filters.matches(star, {"status": "a*"})
    assert not filters.matches(star, {"status": "ab"})


def test_lists_booleans_and_missing_values() -> None:
    found = filters.parse(_filters(("group-id", ["sg-2"]), ("encrypted", ["false"])),
                          ("group-id", "encrypted"))
    assert filters.matches(found, {"group-id": ["sg-1", "sg-2"], "encrypted": False})
    assert not filters.matches(found, {"group-id": [], "encrypted": False})
    assert not filters.matches(found, {"encrypted": False})


def test_tag_filters() -> None:
    found = filters.parse(_filters(("tag:Name", ["web*"]), ("tag-key", ["env"])), ("x",))
    assert filters.matches(found, {}, {"Name": "web-1", "env": "prod"})
    assert not filters.matches(found, {}, {"Name": "db-1", "env": "prod"})
    assert not filters.matches(found, {}, {"Name": "web-1"})
    value = filters.parse(_filters(("tag-value", ["prod"])), ())
    assert filters.matches(value, {}, {"env": "prod"})
    with pytest.raises(InvalidParameterValue, match="tag:Name"):
        filters.parse(_filters(("tag:Name", ["x"])), (), tagged=False)


def test_unknown_filters_and_empty_ones_are_refused() -> None:
    with pytest.raises(InvalidParameterValue, match="The filter 'colour' is invalid"):
        filters.parse(_filters(("colour", ["red"])), ("status",))
    with pytest.raises(InvalidParameterValue, match="at least one value"):
        filters.parse(Params.parse([("Filter.1.Name", "status")]), ("status",))
    assert filters.values_of(filters.parse(_filters(("status", ["a", "b"])), ("status",)),
                             "status") == ("a", "b")
    assert filters.values_of(filters.parse(_filters(("status", ["a*"])), ("status",)),
                             "status") is None


def test_pages_follow_the_ids_and_survive_changes() -> None:
    items = [f"vol-{n:02d}" for n in range(12)]
    first = paging.parse(Params.parse([("MaxResults", "5")]))
    page, token = paging.page(items, lambda i: i, first)
    assert page == items[:5] and token
    nxt = paging.parse(Params.parse([("MaxResults", "5"), ("NextToken", token)]))
    page2, token2 = paging.page([i for i in items if i != "vol-05"], lambda i: i, nxt)
    assert page2 == ["vol-06", "vol-07", "vol-08", "vol-09", "vol-10"] and token2
    last = paging.parse(Params.parse([("MaxResults", "5"), ("NextToken", token2)]))
    assert paging.page(items, lambda i: i, last) == (["vol-11"], None)
    assert paging.page(items, lambda i: i, paging.parse(Params())) == (items, None)


def test_paging_parameters_are_checked() -> None:
    with pytest.raises(InvalidParameterValue, match=r"at least|between"):
        paging.parse(Params.parse([("MaxResults", "4")]))
    with pytest.raises(InvalidParameterValue):
        paging.parse(Params.parse([("MaxResults", "1001")]))
    with pytest.raises(InvalidParameterValue, match="token"):
        paging.parse(Params.parse([("NextToken", "not-ours")]))
    with pytest.raises(InvalidParameterCombination):
        paging.parse(Params.parse([("MaxResults", "5"), ("VolumeId.1", "vol-1")]),
                     ids_param="VolumeId")
