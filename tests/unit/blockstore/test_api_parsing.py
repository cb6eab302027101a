"""The volume API's parsers alone: microversions, sizes, errors, quotas (a real SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockstore import models as m
from blockstore import quotas
from blockstore.api.base import FAULT_NAMES, ApiVersion, parse_version
from blockstore.core.validation import check_metadata, parse_size
from blockstore.errors import Invalid, NotAcceptable, NotFound, OverQuota
from common.config import BlockStoreConfig
from common.db import Database, migrate
from common.http import map_domain_error as map_error

MIGRATIONS = Path(__file__).resolve().parents[3] / "blockstore" / "migrations"


@pytest.mark.parametrize(("header", "expected"), [
    (None, ApiVersion(3, 0)), ("volume 3.42", ApiVersion(3, 42)),
    ("volume latest", ApiVersion(3, 70)), ("compute 2.1", ApiVersion(3, 0)),
    ("compute 2.1, volume 3.27", ApiVersion(3, 27)),
])
def test_microversion_header(header: str | None, expected: ApiVersion) -> None:
    assert parse_version(header) == expected


@pytest.mark.parametrize("header", ["volume 3.71", "volume 2.0", "volume 4.0"])
def test_microversion_out_of_range_is_406(header: str) -> None:
    with pytest.raises(NotAcceptable):
        parse_version(header)


def test_malformed_microversion_is_400() -> None:
    with pytest.raises(Invalid):
        parse_version("volume three")


@pytest.mark.parametrize("value", [0, -1, "abc", 1.5, None, True, 2**31, "1.0"])
def test_bad_sizes(value: object) -> None:
    with pytest.raises(Invalid):
        parse_size(value)


def test_good_sizes() -> None:
    assert parse_size(1) == 1 and parse_size("20") == 20


def test_metadata_must_map_strings() -> None:
    assert check_metadata({"a": "b"}) == {"a": "b"}
    bad: object
    for bad in ([], {"a": 1}, {"": "x"}, {"k": "v" * 256}):
        with pytest.raises(Invalid):
            check_metadata(bad)


def test_errors_map_to_cinder_faults() -> None:
    cases = [(Invalid("x"), 400), (NotFound("x"), 404), (OverQuota("x", "volumes"), 413),
             (NotAcceptable("x"), 406)]
    for exc, status in cases:
        err = map_error(exc)
        assert err is not None and err.status == status
    assert FAULT_NAMES[413] == "overLimit" and FAULT_NAMES[404] == "itemNotFound"
    assert map_error(RuntimeError("boom")) is None


def test_quota_check_names_the_quota(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bs.db'}"
    migrate(url, MIGRATIONS)
    db = Database(url)
    cfg = BlockStoreConfig(quota_volumes=2, quota_gigabytes=5, quota_snapshots=1)
    try:
        def fill(s: object) -> None:
            assert hasattr(s, "add")
            s.add(m.Volume(id="v1", project_id="p", user_id="u", size=3, metadata_={},
                           image_metadata={}, initiators=[]))
            s.add(m.Snapshot(id="s1", volume_id="v1", project_id="p", user_id="u", size=1,
                             metadata_={}))
        db.run_sync(fill)
        assert db.run_sync(lambda s: quotas.usage(s, "p")) == {
            "volumes": 1, "gigabytes": 4, "snapshots": 1, "backups": 0,
            "backup_gigabytes": 0, "per_volume_gigabytes": 0, "groups": 0}
        with pytest.raises(OverQuota) as gb:
            db.run_sync(lambda s: quotas.check(s, cfg, "p", quotas.Delta(volumes=1,
                                                                         gigabytes=2)))
        assert gb.value.resource == "gigabytes" and "gigabytes" in gb.value.message
        with pytest.raises(OverQuota) as sn:
            db.run_sync(lambda s: quotas.check(s, cfg, "p", quotas.Delta(snapshots=1)))
        assert sn.value.resource == "snapshots"
        db.run_sync(lambda s: quotas.check(s, cfg, "p", quotas.Delta(volumes=1, gigabytes=1)))
        db.run_sync(lambda s: quotas.update(s, cfg, "p", {"gigabytes": -1}))
        db.run_sync(lambda s: quotas.check(s, cfg, "p", quotas.Delta(volumes=1,
                                                                     gigabytes=500)))
        with pytest.raises(Invalid):
            db.run_sync(lambda s: quotas.update(s, cfg, "p", {"bogus": 1}))
        with pytest.raises(Invalid):
            db.run_sync(lambda s: quotas.update(s, cfg, "p", {"volumes": "many"}))
        # another project is untouched by p's usage
        db.run_sync(lambda s: quotas.check(s, cfg, "q", quotas.Delta(volumes=2, gigabytes=5)))
    finally:
        db.close()
