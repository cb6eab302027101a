"""Small identity rules with no HTTP: domain-specific configuration and project
tag filters."""

from __future__ import annotations

import pytest

from identity import domain_config as dc
from identity.api.projects import tag_filter


def test_domain_config_groups_and_options() -> None:
    config = {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x", "password": "p"}}
    assert dc.check_config(config) is config
    for bad in ({}, {"assignment": {"driver": "sql"}}, {"ldap": {"colour": "x"}},
                {"ldap": {}}, {"ldap": "x"}, ["identity"]):
        with pytest.raises(dc.InvalidDomainConfig):
            dc.check_config(bad)
    with pytest.raises(dc.InvalidDomainConfig) as err:
        dc.check_group("resource")
    assert err.value.status == 403


def test_domain_config_defaults() -> None:
    every = dc.defaults()
    assert set(every) == {"identity", "ldap"} and every["ldap"]["url"] == "ldap://localhost"
    assert dc.defaults("identity", "driver") == {"driver": "sql"}
    with pytest.raises(dc.InvalidDomainConfig):
        dc.defaults("ldap", "password")  # sensitive


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
