"""Snapshot rules: create (``force`` for a volume in use), update, delete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore import quotas
from blockstore.core.validation import check_metadata, check_text, truthy
from blockstore.core.volumes import apply_text_changes, get_volume
from blockstore.errors import Invalid
from blockstore.policy import Caller, check_visible
from blockstore.state import BlockState
from common.config import BlockStoreConfig

T = TypeVar("T")


def get_snapshot(s: Session, who: Caller, sid: str) -> m.Snapshot:
    snap = s.get(m.Snapshot, sid)
    check_visible(who, snap.project_id if snap else None, "Snapshot", sid)
    assert snap is not None
    return snap


@dataclass(frozen=True)
class NewSnapshot:
    volume_id: str
    force: bool
    name: str | None
    description: str | None
    metadata: dict[str, str]


def new_snapshot(body: dict[str, Any], *, in_use_ok: bool = False) -> NewSnapshot:
    """The create request ``body`` checked. A ``volume_id`` that is given but null (or
    not a string) names no volume: 404, as Cinder answers, when it is looked up.
    ``in_use_ok`` (3.66+): a volume in use is snapshotted without ``force``, and a
    false ``force`` is refused."""
    if "volume_id" not in body:
        raise Invalid("Invalid input received: volume_id is required.")
    raw = body["volume_id"]
    vid = raw if isinstance(raw, str) else str(raw)
    force = truthy(body.get("force", False))
    if in_use_ok:
        if "force" in body and not force:
            raise Invalid("Invalid input received: the 'force' flag is not allowed (false) "
                          "at this microversion: volumes in use are snapshotted without it.")
        force = True
    name = check_text(body, "name") or check_text(body, "display_name")
    return NewSnapshot(vid, force, name, check_text(body, "description", 65535),
                       check_metadata(body.get("metadata")))


def add_snapshot(s: Session, who: Caller, cfg: BlockStoreConfig,
                 spec: NewSnapshot) -> m.Snapshot:
    vid = spec.volume_id
    vol = get_volume(s, who, vid)
    allowed = ("available", "in-use") if spec.force else ("available",)
    if vol.status not in allowed:
        raise Invalid(f"Invalid volume: Volume {vid} status must be "
                      f"{' or '.join(allowed)} (it is {vol.status}); use force to "
                      "snapshot a volume in use.")
    vt = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
    quotas.check(s, cfg, vol.project_id, quotas.Delta(snapshots=1, gigabytes=vol.size,
                                                      volume_type=vt.name if vt else None))
    snap = m.Snapshot(id=m.new_id(), volume_id=vid, project_id=vol.project_id,
                      user_id=who.user_id, name=spec.name, description=spec.description,
                      size=vol.size, status="creating", metadata_=spec.metadata)
    s.add(snap)
    s.flush()
    return snap


async def create(st: BlockState, who: Caller, spec: NewSnapshot,
                 render: Callable[[m.Snapshot], T]) -> T:
    """Record the snapshot (``creating``); the manager takes it."""
    sid, view = await st.db.run(lambda s: _made(render, add_snapshot(
        s, who, st.cfg.blockstore, spec)))
    st.manager.spawn(st.manager.create_snapshot(sid, spec.volume_id,
                                                request_id=who.request_id))
    return view


def _made(render: Callable[[m.Snapshot], T], snap: m.Snapshot) -> tuple[str, T]:
    return snap.id, render(snap)


def update(s: Session, who: Caller, sid: str, body: dict[str, Any]) -> m.Snapshot:
    snap = get_snapshot(s, who, sid)
    apply_text_changes(snap, body, description_keys=("description",))
    return snap


async def delete(st: BlockState, who: Caller, sid: str, *, force: bool = False) -> None:
    """Delete the snapshot; ``force`` (admins) skips the status check."""
    def begin(s: Session) -> None:
        snap = get_snapshot(s, who, sid)
        if snap.group_snapshot_id is not None:
            raise Invalid(f"Invalid snapshot: Snapshot {sid} is part of group snapshot "
                          f"{snap.group_snapshot_id}; delete the group snapshot instead.")
        if not force and snap.status not in ("available", "error", "error_deleting"):
            raise Invalid(f"Invalid snapshot: Snapshot status must be available or error "
                          f"(it is {snap.status}).")
        snap.status = "deleting"

    await st.db.run(begin)
    st.manager.spawn(st.manager.delete_snapshot(sid, request_id=who.request_id))


STATUSES = ("creating", "available", "deleting", "error", "error_deleting", "restoring",
            "unmanaging")


def reset_status(s: Session, who: Caller, sid: str, status: Any) -> None:
    if status not in STATUSES:
        raise Invalid(f"Invalid input received: Invalid snapshot status {status!r}.")
    snap = get_snapshot(s, who, sid)
    snap.status, snap.updated_at = status, m.utcnow()
