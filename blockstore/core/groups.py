"""Generic volume group rules (3.13+) and group snapshots (3.14+).

A group has a group type and the volume types its volumes may have; volumes
join it when created with ``group_id`` or by an update (``add_volumes``) and
leave it by an update (``remove_volumes``). A volume in a group is deleted
only with its group (``delete-volumes``). A group snapshot snapshots every
volume of the group in one request; a group can be created from one (a
volume from each snapshot) or from another group (a copy of each volume).
Each group counts against the project's ``groups`` quota, its volumes and
snapshots against theirs.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore import quotas
from blockstore.core import group_types
from blockstore.core.types import find_type
from blockstore.core.validation import check_text
from blockstore.core.volumes import DELETABLE, get_volume, touch
from blockstore.errors import Invalid
from blockstore.policy import Caller, check_visible
from blockstore.state import BlockState
from common.config import BlockStoreConfig

T = TypeVar("T")
GROUP_STATUSES = ("creating", "available", "updating", "deleting", "error", "error_deleting",
                  "in-use")
SNAPSHOT_STATUSES = ("creating", "available", "deleting", "error", "error_deleting")


def get_group(s: Session, who: Caller, gid: str) -> m.Group:
    grp = s.get(m.Group, gid)
    check_visible(who, grp.project_id if grp else None, "Group", gid)
    assert grp is not None
    return grp


def get_group_snapshot(s: Session, who: Caller, gsid: str) -> m.GroupSnapshot:
    gs = s.get(m.GroupSnapshot, gsid)
    check_visible(who, gs.project_id if gs else None, "GroupSnapshot", gsid)
    assert gs is not None
    return gs


def volumes_of(s: Session, gid: str) -> list[m.Volume]:
    return list(s.scalars(select(m.Volume).where(m.Volume.group_id == gid)
                          .order_by(m.Volume.created_at, m.Volume.id)))


def snapshots_of(s: Session, gsid: str) -> list[m.Snapshot]:
    return list(s.scalars(select(m.Snapshot).where(m.Snapshot.group_snapshot_id == gsid)
                          .order_by(m.Snapshot.created_at, m.Snapshot.id)))


def need_status(row: m.Group | m.GroupSnapshot, *statuses: str, action: str) -> None:
    if row.status not in statuses:
        what = "Group" if isinstance(row, m.Group) else "GroupSnapshot"
        raise Invalid(f"Invalid {what.lower()}: {what} {row.id} status must be "
                      f"{' or '.join(statuses)} to {action}, but current status is: "
                      f"{row.status}.")


# -- groups ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewGroup:
    name: str | None
    description: str | None
    group_type: str
    volume_types: list[str]


def new_group(body: dict[str, Any], cfg: BlockStoreConfig) -> NewGroup:
    group_type = body.get("group_type")
    if not isinstance(group_type, str) or not group_type:
        raise Invalid("Invalid input received: group_type must be provided to create a "
                      "group.")
    vtypes = body.get("volume_types")
    if not isinstance(vtypes, list) or not vtypes or not all(
            isinstance(t, str) and t for t in vtypes):
        raise Invalid("Invalid input received: volume_types must be provided to create a "
                      "group.")
    az = body.get("availability_zone")
    if az is not None and az != cfg.availability_zone:
        raise Invalid(f"Invalid input received: Availability zone '{az}' is invalid.")
    return NewGroup(check_text(body, "name"), check_text(body, "description"), group_type,
                    vtypes)


def _row(s: Session, who: Caller, cfg: BlockStoreConfig, *, name: str | None,
         description: str | None, group_type_id: str, volume_type_ids: list[str],
         status: str, **sources: str | None) -> m.Group:
    quotas.check(s, cfg, who.project_id or "", quotas.Delta(groups=1))
    now = m.utcnow()
    grp = m.Group(id=m.new_id(), project_id=who.project_id or "", user_id=who.user_id,
                  name=name, description=description, status=status,
                  availability_zone=cfg.availability_zone, group_type_id=group_type_id,
                  volume_type_ids=volume_type_ids, created_at=now, updated_at=now, **sources)
    s.add(grp)
    s.flush()
    return grp


def add_group(s: Session, who: Caller, cfg: BlockStoreConfig, spec: NewGroup) -> m.Group:
    gt = group_types.get(s, spec.group_type, who)
    vtype_ids = list(dict.fromkeys(
        find_type(s, ref, cfg.default_volume_type, who).id for ref in spec.volume_types))
    return _row(s, who, cfg, name=spec.name, description=spec.description,
                group_type_id=gt.id, volume_type_ids=vtype_ids, status="available")


def _ids(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        raise Invalid(f"Invalid input received: {key} must be a comma-separated string of "
                      "volume ids.")
    return [v.strip() for v in value.split(",") if v.strip()]


def update_group(s: Session, who: Caller, gid: str, body: dict[str, Any]) -> None:
    """Rename, describe, add volumes to and remove volumes from a group."""
    grp = get_group(s, who, gid)
    add, remove = _ids(body.get("add_volumes"), "add_volumes"), _ids(
        body.get("remove_volumes"), "remove_volumes")
    if not add and not remove and "name" not in body and "description" not in body:
        raise Invalid("Invalid input received: Name, description, add_volumes and "
                      "remove_volumes can not be all empty in the request body.")
    if add or remove:
        need_status(grp, "available", "in-use", action="update")
    for vid in add:
        vol = get_volume(s, who, vid)
        if vol.group_id is not None:
            raise Invalid(f"Invalid volume: Volume {vid} is already in a group.")
        if vol.volume_type_id not in grp.volume_type_ids:
            raise Invalid(f"Invalid volume: Volume {vid} cannot be added to group {gid}: "
                          "its volume type is not one of the group's.")
        if vol.status not in ("available", "in-use"):
            raise Invalid(f"Invalid volume: Volume {vid} cannot be added to group {gid}: "
                          f"its status is {vol.status}.")
        vol.group_id = gid
    for vid in remove:
        vol = get_volume(s, who, vid)
        if vol.group_id != gid:
            raise Invalid(f"Invalid volume: Volume {vid} is not in group {gid}.")
        vol.group_id = None
    if "name" in body:
        grp.name = check_text(body, "name")
    if "description" in body:
        grp.description = check_text(body, "description")
    grp.updated_at = m.utcnow()


def reset_group_status(s: Session, who: Caller, gid: str, status: Any) -> None:
    if status not in GROUP_STATUSES:
        raise Invalid(f"Invalid input received: Invalid group status {status!r}.")
    grp = get_group(s, who, gid)
    grp.status, grp.updated_at = status, m.utcnow()


async def delete_group(st: BlockState, who: Caller, gid: str, *, delete_volumes: bool) -> None:
    """Delete a group (and, with ``delete_volumes``, its volumes: each must be deletable)."""
    def begin(s: Session) -> list[str]:
        grp = get_group(s, who, gid)
        need_status(grp, "available", "error", "error_deleting", "in-use", action="delete")
        if s.scalar(select(m.GroupSnapshot.id).where(m.GroupSnapshot.group_id == gid)):
            raise Invalid(f"Invalid group: Group {gid} still has group snapshots.")
        vols = volumes_of(s, gid)
        if vols and not delete_volumes:
            raise Invalid(f"Invalid group: Group {gid} still contains volumes. The "
                          "delete-volumes flag is required to delete it.")
        for vol in vols:
            if vol.status not in DELETABLE or s.scalar(select(m.Attachment.id).where(
                    m.Attachment.volume_id == vol.id)) is not None:
                raise Invalid(f"Invalid volume: Volume {vol.id} in group {gid} cannot be "
                              f"deleted (it is {vol.status}).")
            if s.scalar(select(m.Snapshot.id).where(m.Snapshot.volume_id == vol.id)):
                raise Invalid(f"Invalid volume: Volume {vol.id} in group {gid} still has "
                              "snapshots.")
            touch(vol, status="deleting")
        grp.status, grp.updated_at = "deleting", m.utcnow()
        return [v.id for v in vols]

    vids = await st.db.run(begin)
    _in_turn(st, [functools.partial(st.manager.delete_volume, vid, request_id=who.request_id)
                  for vid in vids],
             lambda s: _settle_delete(s, s.get(m.Group, gid), volumes_of(s, gid)))


# -- group snapshots --------------------------------------------------------------------


def _snapshot_rows(s: Session, who: Caller, cfg: BlockStoreConfig, grp: m.Group,
                   gs: m.GroupSnapshot) -> list[tuple[str, str]]:
    """A ``creating`` snapshot of each volume of the group, in the group snapshot."""
    out = []
    for vol in volumes_of(s, grp.id):
        if vol.status not in ("available", "in-use"):
            raise Invalid(f"Invalid volume: Volume {vol.id} is {vol.status}; a group "
                          "snapshot needs every volume available or in-use.")
        vt = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
        quotas.check(s, cfg, grp.project_id, quotas.Delta(
            snapshots=1, gigabytes=vol.size, volume_type=vt.name if vt else None))
        snap = m.Snapshot(id=m.new_id(), volume_id=vol.id, project_id=grp.project_id,
                          user_id=who.user_id, name=f"snapshot-{gs.id}", size=vol.size,
                          status="creating", metadata_={}, group_snapshot_id=gs.id)
        s.add(snap)
        s.flush()
        out.append((snap.id, vol.id))
    return out


async def create_group_snapshot(st: BlockState, who: Caller, body: dict[str, Any],
                                render: Callable[[m.GroupSnapshot], T]) -> T:
    gid = body.get("group_id")
    if not isinstance(gid, str) or not gid:
        raise Invalid("Invalid input received: group_id must be provided to create a group "
                      "snapshot.")
    name, description = check_text(body, "name"), check_text(body, "description")

    def make(s: Session) -> tuple[str, list[tuple[str, str]], T]:
        grp = get_group(s, who, gid)
        need_status(grp, "available", "in-use", action="create a group snapshot")
        now = m.utcnow()
        gs = m.GroupSnapshot(id=m.new_id(), project_id=grp.project_id, user_id=who.user_id,
                             group_id=gid, group_type_id=grp.group_type_id, name=name,
                             description=description, status="creating", created_at=now,
                             updated_at=now)
        s.add(gs)
        s.flush()
        return gs.id, _snapshot_rows(s, who, st.cfg.blockstore, grp, gs), render(gs)

    gsid, snaps, view = await st.db.run(make)
    _in_turn(st, [functools.partial(st.manager.create_snapshot, sid, vid,
                                    request_id=who.request_id) for sid, vid in snaps],
             lambda s: _settle_create(s, s.get(m.GroupSnapshot, gsid), snapshots_of(s, gsid)))
    return view


async def delete_group_snapshot(st: BlockState, who: Caller, gsid: str) -> None:
    def begin(s: Session) -> list[str]:
        gs = get_group_snapshot(s, who, gsid)
        need_status(gs, "available", "error", "error_deleting", action="delete")
        snaps = snapshots_of(s, gsid)
        for sn in snaps:
            sn.status = "deleting"
        gs.status, gs.updated_at = "deleting", m.utcnow()
        return [sn.id for sn in snaps]

    sids = await st.db.run(begin)
    _in_turn(st, [functools.partial(st.manager.delete_snapshot, sid, request_id=who.request_id)
                  for sid in sids],
             lambda s: _settle_delete(s, s.get(m.GroupSnapshot, gsid), snapshots_of(s, gsid)))


def reset_group_snapshot_status(s: Session, who: Caller, gsid: str, status: Any) -> None:
    if status not in SNAPSHOT_STATUSES:
        raise Invalid(f"Invalid input received: Invalid group snapshot status {status!r}.")
    gs = get_group_snapshot(s, who, gsid)
    gs.status, gs.updated_at = status, m.utcnow()


# -- a group from a group snapshot or another group (3.14+) -----------------------------


def _copies(s: Session, who: Caller, cfg: BlockStoreConfig, grp: m.Group,
            sources: list[tuple[m.Volume, m.Snapshot | None]]) -> list[str]:
    """A ``creating`` volume in ``grp`` for each (volume, snapshot of it or None)."""
    vids = []
    for vol, snap in sources:
        size = snap.size if snap is not None else vol.size
        vt = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
        quotas.check(s, cfg, grp.project_id, quotas.Delta(
            volumes=1, gigabytes=size, volume_type=vt.name if vt else None, volume_size=size))
        copy = m.Volume(id=m.new_id(), project_id=grp.project_id, user_id=who.user_id,
                        name=vol.name, description=vol.description, size=size,
                        status="creating", availability_zone=cfg.availability_zone,
                        bootable=vol.bootable, volume_type_id=vol.volume_type_id,
                        snapshot_id=snap.id if snap is not None else None,
                        source_volid=None if snap is not None else vol.id,
                        metadata_=dict(vol.metadata_ or {}),
                        image_metadata=dict(vol.image_metadata or {}), initiators=[],
                        group_id=grp.id)
        s.add(copy)
        s.flush()
        vids.append(copy.id)
    return vids


async def create_from_source(st: BlockState, who: Caller, body: dict[str, Any],
                             render: Callable[[m.Group], T]) -> T:
    gsid, src_gid = body.get("group_snapshot_id"), body.get("source_group_id")
    if (gsid is None) == (src_gid is None):
        raise Invalid("Invalid input received: either group_snapshot_id or source_group_id "
                      "must be provided, but not both.")
    name, description = check_text(body, "name"), check_text(body, "description")
    cfg = st.cfg.blockstore

    def make(s: Session) -> tuple[str, list[str], T]:
        if gsid is not None:
            gs = get_group_snapshot(s, who, str(gsid))
            need_status(gs, "available", action="create a group from it")
            source = get_group(s, who, gs.group_id)
            pairs: list[tuple[m.Volume, m.Snapshot | None]] = [
                (get_volume(s, who, sn.volume_id), sn) for sn in snapshots_of(s, gs.id)]
            origin: dict[str, str | None] = {"group_snapshot_id": gs.id,
                                             "source_group_id": None}
        else:
            source = get_group(s, who, str(src_gid))
            need_status(source, "available", "in-use", action="create a group from it")
            pairs = [(vol, None) for vol in volumes_of(s, source.id)]
            for vol, _ in pairs:
                if vol.status not in ("available", "in-use"):
                    raise Invalid(f"Invalid volume: Volume {vol.id} is {vol.status}.")
            origin = {"group_snapshot_id": None, "source_group_id": source.id}
        grp = _row(s, who, cfg, name=name, description=description,
                   group_type_id=source.group_type_id,
                   volume_type_ids=list(source.volume_type_ids), status="creating", **origin)
        return grp.id, _copies(s, who, cfg, grp, pairs), render(grp)

    gid, vids, view = await st.db.run(make)
    _in_turn(st, [functools.partial(st.manager.create_volume, vid, request_id=who.request_id)
                  for vid in vids],
             lambda s: _settle_create(s, s.get(m.Group, gid), volumes_of(s, gid)))
    return view


# -- the slow part: the manager's steps one after another, then the outcome ----------------


def _in_turn(st: BlockState, steps: list[Callable[[], Awaitable[None]]],
             finish: Callable[[Session], None]) -> None:
    """Run the manager's ``steps`` in the background one after the other (each records
    its own outcome), then ``finish`` in one transaction."""
    async def run() -> None:
        for step in steps:
            await step()
        await st.db.run(finish)

    st.manager.spawn(run())


def _settle_create(s: Session, row: m.Group | m.GroupSnapshot | None,
                   parts: list[m.Volume] | list[m.Snapshot]) -> None:
    """A group (snapshot) is available once all its parts are, else in error."""
    if row is not None:
        ok = all(p.status == "available" for p in parts)
        row.status, row.updated_at = ("available" if ok else "error"), m.utcnow()


def _settle_delete(s: Session, row: m.Group | m.GroupSnapshot | None,
                   left: list[m.Volume] | list[m.Snapshot]) -> None:
    """A group (snapshot) goes once its parts are gone, else it is ``error_deleting``."""
    if row is None:
        return
    if left:
        row.status = "error_deleting"
    else:
        s.delete(row)
