"""The block store's rules without HTTP: ``blockstore.core`` on a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.core import backups, snapshots, transfers, types, volumes
from blockstore.core.attachments import TRANSITIONS
from blockstore.errors import Conflict, Invalid, NotFound, OverQuota
from blockstore.policy import Caller
from common.config import BlockStoreConfig
from common.db import Database, migrate

MIGRATIONS = Path(__file__).resolve().parents[3] / "blockstore" / "migrations"
ALICE = Caller(user_id="alice", project_id="p1", roles=frozenset({"member"}))
BOB = Caller(user_id="bob", project_id="p2", roles=frozenset({"member"}))
ADMIN = Caller(user_id="root", project_id="admin", roles=frozenset({"admin"}))
Row = TypeVar("Row", m.Volume, m.Snapshot)
CFG = BlockStoreConfig(quota_volumes=3, quota_gigabytes=10)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'bs.db'}"
    migrate(url, MIGRATIONS)
    database = Database(url)
    database.run_sync(lambda s: types.ensure_default_type(s, CFG.default_volume_type))
    yield database
    database.close()


def new_volume(db: Database, who: Caller = ALICE, **body: object) -> str:
    spec = volumes.new_volume({"size": 1, **body}, CFG, from_backup=True,
                              backups_enabled=True)
    return db.run_sync(lambda s: volumes.add_volume(s, who, CFG, spec, None).id)


def set_status(db: Database, model: type[Row], ident: str, status: str) -> None:
    def upd(s: Session) -> None:
        row = s.get(model, ident)
        assert row is not None
        row.status = status
    db.run_sync(upd)


def status(db: Database, vid: str) -> str:
    return db.run_sync(lambda s: volumes.get_volume(s, ADMIN, vid).status)


def test_create_checks_sources_sizes_and_quota(db: Database) -> None:
    vid = new_volume(db, name="first", metadata={"k": "v"})
    assert status(db, vid) == "creating"
    with pytest.raises(Invalid, match="only one of"):
        volumes.new_volume({"size": 1, "snapshot_id": "s", "source_volid": vid}, CFG,
                           from_backup=True, backups_enabled=True)
    with pytest.raises(Invalid, match=r"3\.47"):
        volumes.new_volume({"backup_id": "b"}, CFG, from_backup=False, backups_enabled=True)
    # a clone is never smaller than its source, and needs it available
    with pytest.raises(Invalid, match="Source volume status"):
        new_volume(db, source_volid=vid)
    set_status(db, m.Volume, vid, "available")
    clone = new_volume(db, source_volid=vid, size=None)
    assert db.run_sync(lambda s: volumes.get_volume(s, ALICE, clone).size) == 1
    # another project's volume is not there at all
    with pytest.raises(NotFound):
        new_volume(db, BOB, source_volid=vid)
    with pytest.raises(OverQuota) as over:
        new_volume(db, size=9)
    assert over.value.resource == "gigabytes"
    new_volume(db)
    with pytest.raises(OverQuota) as count:
        new_volume(db)
    assert count.value.resource == "volumes"


def test_delete_needs_cascade_for_snapshots_and_force_for_admins(db: Database) -> None:
    vid = new_volume(db)
    set_status(db, m.Volume, vid, "available")
    spec = snapshots.new_snapshot({"volume_id": vid, "name": "snap"})
    sid = db.run_sync(lambda s: snapshots.add_snapshot(s, ALICE, CFG, spec).id)
    with pytest.raises(Invalid, match="dependent snapshots"):
        db.run_sync(lambda s: volumes.begin_delete(s, ALICE, vid, cascade=False, force=False))
    with pytest.raises(Invalid, match="busy"):  # the snapshot is still being made
        db.run_sync(lambda s: volumes.begin_delete(s, ALICE, vid, cascade=True, force=False))
    set_status(db, m.Snapshot, sid, "available")
    db.run_sync(lambda s: volumes.begin_delete(s, ALICE, vid, cascade=True, force=False))
    assert status(db, vid) == "deleting"
    assert db.run_sync(lambda s: snapshots.get_snapshot(s, ALICE, sid).status) == "deleting"


def test_attach_flow_statuses(db: Database) -> None:
    vid = new_volume(db)
    with pytest.raises(Invalid, match="to reserve"):
        db.run_sync(lambda s: TRANSITIONS["os-reserve"].apply(s, ALICE, vid))
    set_status(db, m.Volume, vid, "available")
    db.run_sync(lambda s: TRANSITIONS["os-reserve"].apply(s, ALICE, vid))
    assert status(db, vid) == "attaching"
    db.run_sync(lambda s: TRANSITIONS["os-unreserve"].apply(s, ALICE, vid))
    assert status(db, vid) == "available"


def test_transfer_with_a_wrong_key_changes_nothing(db: Database) -> None:
    vid = new_volume(db)
    set_status(db, m.Volume, vid, "available")
    key = transfers.new_key()
    tid = db.run_sync(lambda s: transfers.create(s, ALICE, vid, "gift", False, key).id)
    assert status(db, vid) == "awaiting-transfer"
    with pytest.raises(Invalid, match="invalid auth key"):
        db.run_sync(lambda s: transfers.accept(s, BOB, CFG, tid, "wrong"))
    assert status(db, vid) == "awaiting-transfer"
    moved = db.run_sync(lambda s: transfers.accept(s, BOB, CFG, tid, key)[1].project_id)
    assert moved == "p2" and status(db, vid) == "available"
    with pytest.raises(NotFound):  # the transfer is gone, the volume is Bob's now
        db.run_sync(lambda s: transfers.get_transfer(s, BOB, tid))
    with pytest.raises(NotFound):
        db.run_sync(lambda s: volumes.get_volume(s, ALICE, vid))


def test_backups_incremental_needs_a_parent_and_restore_a_large_enough_volume(
        db: Database) -> None:
    vid = new_volume(db, size=2)
    set_status(db, m.Volume, vid, "available")
    with pytest.raises(Invalid, match="No backups available"):
        spec = backups.new_backup({"volume_id": vid, "incremental": True}, "volumebackups")
        db.run_sync(lambda s: backups.add_backup(s, ALICE, CFG, spec))
    spec = backups.new_backup({"volume_id": vid, "name": "full"}, "volumebackups")
    bid = db.run_sync(lambda s: backups.add_backup(s, ALICE, CFG, spec).id)
    assert status(db, vid) == "backing-up"
    with pytest.raises(Invalid, match="must be available"):  # still being written
        db.run_sync(lambda s: backups.begin_restore(s, ALICE, CFG, bid, None, None))

    def done(s: Session) -> None:
        bk = backups.get_backup(s, ALICE, bid)
        bk.status = "available"
    db.run_sync(done)
    small = new_volume(db)
    set_status(db, m.Volume, small, "available")
    with pytest.raises(Invalid, match="cannot be smaller"):
        db.run_sync(lambda s: backups.begin_restore(s, ALICE, CFG, bid, small, None))
    out = db.run_sync(lambda s: backups.begin_restore(s, ALICE, CFG, bid, None, "back"))
    assert out.new and out.volume_name == "back" and status(db, out.volume_id) == \
        "restoring-backup"
    with pytest.raises(Invalid, match="container"):
        backups.new_backup({"volume_id": vid, "container": "-bad"}, "volumebackups")


def test_volume_types(db: Database) -> None:
    vt = db.run_sync(lambda s: types.create_type(s, "gold", {"extra_specs": {"tier": 1}}).id)
    with pytest.raises(Conflict):
        db.run_sync(lambda s: types.create_type(s, "gold", {}))
    new_volume(db, volume_type="gold")
    with pytest.raises(Invalid, match="still in use"):
        db.run_sync(lambda s: types.delete_type(s, vt, CFG.default_volume_type))
    default = db.run_sync(lambda s: types.find_type(s, None, CFG.default_volume_type).id)
    with pytest.raises(Invalid, match="default volume type"):
        db.run_sync(lambda s: types.delete_type(s, default, CFG.default_volume_type))
    assert db.run_sync(lambda s: types.set_extra_specs(s, vt, {"fast": "yes"})) == {
        "tier": "1", "fast": "yes"}
