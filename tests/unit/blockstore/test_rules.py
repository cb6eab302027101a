"""The block store's newer rules without HTTP, on a real SQLite: private volume types,
QoS specs, quotas (classes, per type, per volume, groups), groups and user messages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from blockstore import messages, quotas
from blockstore import models as m
from blockstore.backends import MemoryBackend, NoSpace
from blockstore.core import group_types, groups, qos, types, volumes
from blockstore.errors import Conflict, Invalid, NotFound, OverQuota
from blockstore.manager import VolumeManager
from blockstore.targets import TgtDriver
from common.db import Database
from tests.unit.blockstore.test_core import ADMIN, ALICE, BOB, CFG, db, new_volume

__all__ = ["db"]  # the fixture


def test_private_types_are_seen_and_used_only_with_access(db: Database) -> None:
    vt = db.run_sync(lambda s: types.create_type(s, "secret", {"is_public": False}).id)
    names = lambda who, flag=True: [  # noqa: E731
        t.name for t in db.run_sync(lambda s: types.visible_types(s, who, flag))]
    assert "secret" not in names(ALICE) and "secret" in names(ADMIN, None)
    assert names(ADMIN, False) == ["secret"]
    with pytest.raises(NotFound):
        new_volume(db, volume_type="secret")
    db.run_sync(lambda s: types.add_access(s, vt, "p1"))
    with pytest.raises(Conflict):
        db.run_sync(lambda s: types.add_access(s, vt, "p1"))
    assert "secret" in names(ALICE) and "secret" not in names(BOB)
    new_volume(db, volume_type="secret")
    assert db.run_sync(lambda s: types.access_list(s, vt)) == ["p1"]
    db.run_sync(lambda s: types.remove_access(s, vt, "p1"))
    with pytest.raises(NotFound):
        db.run_sync(lambda s: types.remove_access(s, vt, "p1"))
    default = db.run_sync(lambda s: types.find_type(s, None, CFG.default_volume_type).id)
    with pytest.raises(NotFound, match="public"):
        db.run_sync(lambda s: types.access_list(s, default))
    with pytest.raises(Invalid, match="must be public"):
        db.run_sync(lambda s: types.update_type(s, default, {"is_public": False},
                                                CFG.default_volume_type))
    assert types.parse_is_public(None) is True and types.parse_is_public("None") is None
    with pytest.raises(Invalid):
        types.parse_is_public("perhaps")


def test_qos_specs_associate_one_per_type_and_delete_with_force(db: Database) -> None:
    name, consumer, specs = qos.check_new({"name": " q ", "consumer": "both", "iops": 5})
    assert (name, consumer, specs) == ("q", "both", {"iops": "5"})
    for bad in ({"name": ""}, {"name": "x", "consumer": "nobody"}, {"name": "x", "k": [1]}):
        with pytest.raises(Invalid):
            qos.check_new(bad)
    q1 = db.run_sync(lambda s: qos.create(s, name, consumer, specs).id)
    q2 = db.run_sync(lambda s: qos.create(s, "other", "back-end", {}).id)
    with pytest.raises(Conflict):
        db.run_sync(lambda s: qos.create(s, "q", "back-end", {}))
    vt = db.run_sync(lambda s: types.create_type(s, "gold", {}).id)
    db.run_sync(lambda s: qos.associate(s, q1, vt))
    db.run_sync(lambda s: qos.associate(s, q1, vt))  # again: no change
    with pytest.raises(Invalid, match="already associated"):
        db.run_sync(lambda s: qos.associate(s, q2, vt))
    with pytest.raises(Invalid, match="None"):
        db.run_sync(lambda s: qos.associate(s, q1, None))
    assert db.run_sync(lambda s: qos.associations(s, q1)) == [
        {"association_type": "volume_type", "name": "gold", "id": vt}]
    db.run_sync(lambda s: qos.set_keys(s, q1, {"consumer": "front-end", "bw": "9"}))
    db.run_sync(lambda s: qos.delete_keys(s, q1, ["iops"]))
    got = db.run_sync(lambda s: (qos.get(s, q1).consumer, qos.get(s, q1).specs))
    assert got == ("front-end", {"bw": "9"})
    with pytest.raises(NotFound):
        db.run_sync(lambda s: qos.delete_keys(s, q1, ["iops"]))
    with pytest.raises(Invalid, match="in use"):
        db.run_sync(lambda s: qos.delete(s, q1, force=False))
    db.run_sync(lambda s: qos.delete(s, q1, force=True))
    assert db.run_sync(lambda s: types.get_type(s, vt).qos_specs_id) is None


def test_quota_classes_per_type_per_volume_and_groups(db: Database) -> None:
    db.run_sync(lambda s: types.create_type(s, "gold", {}))
    keys = db.run_sync(quotas.keys)
    assert {"volumes_gold", "gigabytes_gold", "snapshots_gold", "per_volume_gigabytes",
            "groups"} <= set(keys)
    # the default class sets what a project gets; unknown keys are ignored there
    db.run_sync(lambda s: quotas.update_class(s, "default", {"volumes": 2, "bogus": 1}))
    assert db.run_sync(lambda s: quotas.limits(s, CFG, "p1"))["volumes"] == 2
    with pytest.raises(Invalid):
        db.run_sync(lambda s: quotas.update_class(s, "default", {"volumes": "x"}))
    db.run_sync(lambda s: quotas.update(s, CFG, "p1", {
        "per_volume_gigabytes": 2, "volumes_gold": 1, "volumes": 5}))
    with pytest.raises(OverQuota) as big:
        new_volume(db, size=3)
    assert big.value.resource == "per_volume_gigabytes"
    new_volume(db, volume_type="gold")
    with pytest.raises(OverQuota) as typed:
        new_volume(db, volume_type="gold")
    assert typed.value.resource == "volumes_gold"
    used = db.run_sync(lambda s: quotas.usage(s, "p1"))
    assert used["volumes_gold"] == 1 and used["gigabytes_gold"] == 1
    with pytest.raises(Invalid, match="existing resources"):
        db.run_sync(lambda s: quotas.update(s, CFG, "p1", {"volumes_gold": 0}))
    with pytest.raises(Invalid, match="Bad key"):
        db.run_sync(lambda s: quotas.update(s, CFG, "p1", {"volumes_tin": 1}))
    db.run_sync(lambda s: quotas.update(s, CFG, "p1", {"groups": 0}))
    gt = db.run_sync(lambda s: group_types.create(s, {"name": "gt"}).id)
    spec = groups.new_group({"group_type": gt, "volume_types": ["gold"]}, CFG)
    with pytest.raises(OverQuota) as grp:
        db.run_sync(lambda s: groups.add_group(s, ALICE, CFG, spec))
    assert grp.value.resource == "groups"
    db.run_sync(lambda s: quotas.revert(s, "p1"))
    assert db.run_sync(lambda s: quotas.limits(s, CFG, "p1"))["per_volume_gigabytes"] == -1


def test_group_membership_rules(db: Database) -> None:
    gt = db.run_sync(lambda s: group_types.create(s, {"name": "gt"}).id)
    db.run_sync(lambda s: types.create_type(s, "gold", {}))
    spec = groups.new_group({"group_type": "gt", "volume_types": ["gold"]}, CFG)
    gid = db.run_sync(lambda s: groups.add_group(s, ALICE, CFG, spec).id)
    def in_group(**body: object) -> str:
        spec = volumes.new_volume({"size": 1, "group_id": gid, **body}, CFG,
                                  from_backup=False, backups_enabled=False, in_group=True)
        return db.run_sync(lambda s: volumes.add_volume(s, ALICE, CFG, spec, None).id)

    with pytest.raises(Invalid, match="volume type"):
        in_group()  # the default type is not one of the group's
    member = in_group(volume_type="gold")
    plain = new_volume(db, volume_type="gold")
    with pytest.raises(Invalid, match="status"):  # still creating
        db.run_sync(lambda s: groups.update_group(s, ALICE, gid, {"add_volumes": plain}))
    with pytest.raises(Invalid, match="not in group"):
        db.run_sync(lambda s: groups.update_group(s, ALICE, gid, {"remove_volumes": plain}))
    with pytest.raises(Invalid, match="can not be all empty"):
        db.run_sync(lambda s: groups.update_group(s, ALICE, gid, {}))
    with pytest.raises(NotFound):
        db.run_sync(lambda s: groups.get_group(s, BOB, gid))
    with pytest.raises(Invalid, match="still in use"):
        db.run_sync(lambda s: group_types.delete(s, gt))
    assert [v.id for v in db.run_sync(lambda s: groups.volumes_of(s, gid))] == [member]
    with pytest.raises(Invalid, match="group"):  # deleted only with its group
        db.run_sync(lambda s: volumes.begin_delete(s, ALICE, member, cascade=False,
                                                   force=False))


def test_messages_say_what_failed_and_expire(db: Database) -> None:
    event = messages.Event("p1", messages.VOLUME, "v1", "005", "req-1")
    msg = db.run_sync(lambda s: messages.record(s, event, messages.detail_for(
        RuntimeError("x"), default="021"), 60))
    assert msg.event_id == "VOLUME_VOLUME_005_021"
    assert messages.text(msg).startswith("copy image to volume: ")
    assert messages.detail_for(NoSpace("full")) == "020"

    def age(s: object) -> None:
        row = s.get(m.Message, msg.id)  # type: ignore[attr-defined]
        row.expires_at = m.utcnow() - timedelta(seconds=1)
    db.run_sync(age)
    db.run_sync(lambda s: messages.record(s, event, "001", 60))  # prunes the expired one
    left = db.run_sync(lambda s: list(s.scalars(select(m.Message.id))))
    assert msg.id not in left and len(left) == 1


async def test_a_restart_fails_what_it_interrupted(db: Database, tmp_path: Path) -> None:
    """Groups, group snapshots, and volumes being managed or unmanaged when the manager
    stopped are marked failed at the next start, as the other operations are."""
    managing = new_volume(db)
    unmanaging = new_volume(db)
    gt = db.run_sync(lambda s: group_types.create(s, {"name": "gt"}).id)
    spec = groups.new_group({"group_type": gt, "volume_types": ["__DEFAULT__"]}, CFG)
    gid = db.run_sync(lambda s: groups.add_group(s, ALICE, CFG, spec).id)

    def interrupt(s: object) -> None:
        get = s.get  # type: ignore[attr-defined]
        get(m.Volume, managing).status = "managing"
        get(m.Volume, unmanaging).status = "unmanaging"
        get(m.Group, gid).status = "deleting"
    db.run_sync(interrupt)
    manager = VolumeManager(db, MemoryBackend(), TgtDriver(), staging=tmp_path)
    await manager._fail_interrupted()
    got = db.run_sync(lambda s: (s.get(m.Volume, managing).status,
                                 s.get(m.Volume, unmanaging).status,
                                 s.get(m.Group, gid).status))
    assert got == ("error_managing", "error", "error_deleting")
