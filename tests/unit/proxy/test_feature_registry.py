"""Every feature is in the pipeline, and in /info, exactly when it is turned on."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

from common.config import StrataConfig
from proxy import features

SWITCHES = {  # option -> the /info keys it controls
    "tempurl": {"tempurl"}, "formpost": {"formpost"}, "staticweb": {"staticweb"},
    "slo": {"slo"}, "dlo": {"dlo"}, "symlink": {"symlink"},
    "allow_versioned_writes": {"versioned_writes"},
    "bulk": {"bulk_delete", "bulk_upload"},
    "container_quotas": {"container_quotas"}, "account_quotas": {"account_quotas"},
    "etag_quoter": {"etag_quoter"},
}
ALL = set().union(*SWITCHES.values())


def names(**proxy: Any) -> set[str]:
    cfg = StrataConfig()
    cfg = dataclasses.replace(cfg, proxy=dataclasses.replace(cfg.proxy, **proxy))
    return {f.name for f in features.enabled(SimpleNamespace(cfg=cfg))  # type: ignore[arg-type]
            if f.name}


def test_all_features_are_on_by_default() -> None:
    assert names() == ALL


@pytest.mark.parametrize("option", sorted(SWITCHES))
def test_turning_a_feature_off_removes_it_alone(option: str) -> None:
    assert names(**{option: False}) == ALL - SWITCHES[option]


def test_all_off_leaves_no_info_entries() -> None:
    assert names(**{option: False for option in SWITCHES}) == set()


def enabled(**proxy: Any) -> list[Any]:
    cfg = StrataConfig()
    cfg = dataclasses.replace(cfg, proxy=dataclasses.replace(cfg.proxy, **proxy))
    return features.enabled(SimpleNamespace(cfg=cfg))  # type: ignore[arg-type]


@pytest.mark.parametrize("off", [(), ("etag_quoter",), ("bulk", "tempurl", "formpost")])
def test_s3_subrequests_enter_below_what_swift_puts_before_s3api(off: tuple[str, ...]) -> None:
    fs = enabled(**{option: False for option in off})
    entry = features.s3_entry(fs)
    skipped = {f.name for f in fs[:entry]} - {None}
    assert skipped == {"etag_quoter", "bulk_delete", "bulk_upload", "tempurl",
                       "formpost"} - {n for o in off for n in SWITCHES[o]}
    # what S3 relies on stays: large objects, copies, symlinks, versions, quotas
    assert {"staticweb", "slo", "dlo", "symlink", "versioned_writes", "container_quotas",
            "account_quotas"} <= {f.name for f in fs[entry:]}
