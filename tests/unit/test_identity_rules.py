"""Small identity rules with no HTTP: project tag filters."""

from __future__ import annotations

import pytest

from identity.api.projects import tag_filter


@pytest.mark.parametrize(("query", "kept"), [
    ({"tags": "a,b"}, {"ab", "abc"}),
    ({"tags-any": "b,c"}, {"ab", "abc", "c"}),
    ({"not-tags": "a,b"}, {"c", "none"}),
    ({"not-tags-any": "a,c"}, {"none"}),
    ({"tags": "a", "not-tags-any": "c"}, {"ab"}),
    ({}, {"ab", "abc", "c", "none"}),
])
def test_tag_filters(query: dict[str, str], kept: set[str]) -> None:
    projects = {"ab": ["a", "b"], "abc": ["a", "b", "c"], "c": ["c"], "none": []}
    ok = tag_filter(query)
    assert {name for name, tags in projects.items() if ok(tags)} == kept
