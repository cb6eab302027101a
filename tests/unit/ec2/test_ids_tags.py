"""EC2 ids and tags on a real SQLite database migrated as the service migrates it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from common.db import Database, migrate
from ec2 import models as m
from ec2.core import ids, tags
from ec2.errors import LimitExceeded, MalformedId, ResourceNotFound
from ec2.params import Params
from tests.unit.migrations import assert_migrations_match

MIGRATIONS = Path(__file__).resolve().parents[3] / "ec2" / "migrations"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'ec2.db'}"
    migrate(url, MIGRATIONS)
    database = Database(url)
    yield database
    database.close()


def test_migrations_match_the_models(tmp_path: Path) -> None:
    assert_migrations_match(tmp_path, MIGRATIONS, m.Base.metadata, "ec2_alembic_version")


def test_an_id_is_given_once_and_kept(db: Database) -> None:
    def first(s: Session) -> dict[str, str]:
        return ids.assign(s, ids.IMAGE, {"u-kernel": "aki", "u-disk": "ami"})

    given = db.run_sync(first)
    assert given["u-kernel"].startswith("aki-") and given["u-disk"].startswith("ami-")
    assert all(len(i.split("-", 1)[1]) == ids.HEX_DIGITS for i in given.values())
    again = db.run_sync(lambda s: ids.assign(s, ids.IMAGE, {"u-kernel": "ami", "new": "ami"}))
    assert again["u-kernel"] == given["u-kernel"] and again["new"] not in given.values()
    assert db.run_sync(lambda s: ids.resolve(s, ids.IMAGE, given["u-disk"])) == "u-disk"
    # the same uuid is another resource of another kind: its own id
    vol = db.run_sync(lambda s: ids.assign(s, ids.VOLUME, {"u-disk": "vol"}))["u-disk"]
    assert vol.startswith("vol-")
    with pytest.raises(MalformedId):
        db.run_sync(lambda s: ids.resolve(s, ids.VOLUME, given["u-disk"]))
    with pytest.raises(ResourceNotFound) as missing:
        db.run_sync(lambda s: ids.resolve(s, ids.VOLUME, "vol-0123456789abcdef0"))
    assert missing.value.code == "InvalidVolume.NotFound"


def test_malformed_ids_and_kinds() -> None:
    assert ids.kind_of("vol-0123456789abcdef0") is ids.VOLUME
    assert ids.kind_of("vol-01234567") is ids.VOLUME
    assert ids.kind_of("ari-0123456789abcdef0") is ids.IMAGE
    assert ids.kind_of("vol-xyz") is None and ids.kind_of("foo-01234567") is None
    with pytest.raises(MalformedId) as err:
        ids.VOLUME.check("vol-XYZ")
    assert err.value.code == "InvalidVolumeID.Malformed"
    with pytest.raises(MalformedId):
        ids.IMAGE.check("vol-01234567")


def test_associations_retire_and_are_new_when_they_recur(db: Database) -> None:
    fip, port = "f" * 36, "p" * 36
    pair = f"{fip}:{port}"
    first = db.run_sync(lambda s: ids.assign(s, ids.ASSOCIATION, {pair: "eipassoc"}))[pair]
    db.run_sync(lambda s: ids.retire_ended(s, ids.ASSOCIATION, {fip: pair}))
    assert db.run_sync(lambda s: ids.resolve(s, ids.ASSOCIATION, first)) == pair
    db.run_sync(lambda s: ids.retire_ended(s, ids.ASSOCIATION, {fip: None}))
    with pytest.raises(ResourceNotFound):
        db.run_sync(lambda s: ids.resolve(s, ids.ASSOCIATION, first))
    second = db.run_sync(lambda s: ids.assign(s, ids.ASSOCIATION, {pair: "eipassoc"}))[pair]
    assert second != first


def test_tags_per_project_limits_and_removal(db: Database) -> None:
    db.run_sync(lambda s: tags.put(s, "p1", "vol-1", "volume", [("Name", "a"), ("k", "v")]))
    db.run_sync(lambda s: tags.put(s, "p2", "vol-1", "volume", [("Name", "theirs")]))
    db.run_sync(lambda s: tags.put(s, "p1", "vol-1", "volume", [("Name", "b")]))
    assert db.run_sync(lambda s: tags.of(s, "p1", ["vol-1"])) == {
        "vol-1": {"Name": "b", "k": "v"}}
    db.run_sync(lambda s: tags.remove(s, "p1", ["vol-1"], [("k", "other")]))
    assert db.run_sync(lambda s: tags.of(s, "p1", ["vol-1"]))["vol-1"] == {
        "Name": "b", "k": "v"}
    db.run_sync(lambda s: tags.remove(s, "p1", ["vol-1"], [("k", None)]))
    assert db.run_sync(lambda s: tags.of(s, "p1", ["vol-1"]))["vol-1"] == {"Name": "b"}
    many = [(f"k{n}", "v") for n in range(tags.MAX_TAGS)]
    with pytest.raises(LimitExceeded) as err:
        db.run_sync(lambda s: tags.put(s, "p1", "vol-1", "volume", many))
    assert err.value.code == "TagLimitExceeded"
    assert db.run_sync(lambda s: tags.of(s, "p1", ["vol-1"]))["vol-1"] == {"Name": "b"}
    db.run_sync(lambda s: tags.prune(s, "p2", "volume", []))
    assert db.run_sync(lambda s: tags.of(s, "p2", ["vol-1"])) == {}
    db.run_sync(lambda s: tags.forget(s, ["vol-1"]))
    assert db.run_sync(lambda s: tags.listing(s, "p1")) == []


def test_tag_specifications() -> None:
    p = Params.parse([("TagSpecification.1.ResourceType", "volume"),
                      ("TagSpecification.1.Tag.1.Key", "Name"),
                      ("TagSpecification.1.Tag.1.Value", "data")])
    assert tags.specifications(p, "volume") == [("Name", "data")]
    with pytest.raises(Exception, match="not a valid taggable resource type"):
        tags.specifications(p, "snapshot")
    with pytest.raises(Exception, match="reserved"):
        tags.parse_pairs(Params.parse([("Tag.1.Key", "aws:x")]).structs("Tag"))
