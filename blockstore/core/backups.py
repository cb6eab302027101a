"""Backup rules: create (full or incremental), update, delete, restore.

A backup belongs to its volume's project (an admin may back up any volume).
Statuses: ``creating`` -> ``available``; ``restoring`` -> ``available``;
``deleting`` -> gone; ``error``/``error_deleting``. The volume is
``backing-up`` while it is read (then back to ``available`` or ``in-use``: an
attached volume needs ``force``), and a restore target ``restoring-backup``.
The quotas ``backups`` and ``backup_gigabytes`` are checked in the create
transaction. The data path is the volume manager's (``blockstore.backups``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore import quotas
from blockstore.core.types import find_type
from blockstore.core.validation import check_flag, check_id, check_metadata, check_text
from blockstore.core.volumes import apply_text_changes, get_volume, touch
from blockstore.errors import Invalid, OverQuota, Unavailable
from blockstore.manager import VolumeManager
from blockstore.policy import Caller, check_visible
from blockstore.state import BlockState
from common.config import BlockStoreConfig

T = TypeVar("T")
CONTAINER_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
DESCRIPTION_LIMIT = 255


def get_backup(s: Session, who: Caller, backup_id: str) -> m.Backup:
    bk = s.get(m.Backup, backup_id)
    check_visible(who, bk.project_id if bk else None, "Backup", backup_id)
    assert bk is not None
    return bk


def dependents(s: Session, backup_id: str) -> int:
    """How many incremental backups name this one as their parent."""
    return int(s.scalar(select(func.count(m.Backup.id)).where(
        m.Backup.parent_id == backup_id)) or 0)


def need_store(manager: VolumeManager) -> None:
    """503 unless there is an object store to keep backups in."""
    if manager.backups is None:
        raise Unavailable("Service cinder-backup could not be found: the block store has no "
                          "object store to keep backups in.")


def check_quota(s: Session, cfg: BlockStoreConfig, project_id: str, size: int) -> None:
    lim = quotas.limits(s, cfg, project_id)
    count, used = quotas.count_and_gigabytes(s, m.Backup, project_id)
    if 0 <= lim["backups"] < count + 1:
        raise OverQuota(f"BackupLimitExceeded: Maximum number of backups allowed "
                        f"({lim['backups']}) exceeded for quota 'backups'.", "backups")
    if 0 <= lim["backup_gigabytes"] < used + size:
        raise OverQuota(
            "VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed Backup "
            f"gigabytes quota 'backup_gigabytes'. Requested {size}G, quota is "
            f"{lim['backup_gigabytes']}G and {used}G has been consumed.",
            "backup_gigabytes")


@dataclass(frozen=True)
class NewBackup:
    volume_id: str
    name: str | None
    description: str | None
    incremental: bool
    force: bool
    metadata: dict[str, str]
    container: str


def new_backup(body: dict[str, Any], default_container: str) -> NewBackup:
    """The create request ``body`` checked."""
    vid = check_id(body, "volume_id", allow_empty=False)
    if body.get("snapshot_id") is not None:
        raise Invalid("Invalid input received: backups of snapshots are not supported.")
    name = check_text(body, "name")
    description = check_text(body, "description", DESCRIPTION_LIMIT)
    incremental = check_flag(body.get("incremental"), "incremental")
    force = check_flag(body.get("force"), "force")
    metadata = check_metadata(body.get("metadata"))
    container = body.get("container") or default_container
    if not isinstance(container, str) or len(container) > 255 \
            or not set(container) <= CONTAINER_CHARS or container[0] in "._-":
        raise Invalid("Invalid input received: container must be 1-255 letters, digits, "
                      "'_', '.' or '-', starting with a letter or digit.")
    return NewBackup(vid, name, description, incremental, force, metadata, container)


def add_backup(s: Session, who: Caller, cfg: BlockStoreConfig, spec: NewBackup) -> m.Backup:
    """The backup's row (``creating``; its parent the newest available backup when
    incremental); the volume ``backing-up``."""
    vid = spec.volume_id
    vol = get_volume(s, who, vid)
    if vol.status == "in-use" and not spec.force:
        raise Invalid(f"Invalid volume: Volume {vid} is in-use; backing it up needs force.")
    if vol.status not in ("available", "in-use"):
        raise Invalid(f"Invalid volume: Volume to be backed up must be available or "
                      f"in-use, but the current status is \"{vol.status}\".")
    parent = None
    if spec.incremental:
        parent = s.scalar(select(m.Backup).where(
            m.Backup.volume_id == vid, m.Backup.status == "available").order_by(
            m.Backup.data_timestamp.desc(), m.Backup.created_at.desc()).limit(1))
        if parent is None:
            raise Invalid("Invalid backup: No backups available to do an incremental "
                          "backup.")
    check_quota(s, cfg, vol.project_id, vol.size)
    now = m.utcnow()
    bk = m.Backup(id=m.new_id(), project_id=vol.project_id, user_id=who.user_id,
                  volume_id=vid, name=spec.name, description=spec.description, size=vol.size,
                  status="creating", container=spec.container,
                  is_incremental=spec.incremental, parent_id=parent.id if parent else None,
                  volume_back_to=vol.status, availability_zone=vol.availability_zone,
                  metadata_=spec.metadata, object_count=0, created_at=now, updated_at=now,
                  data_timestamp=now)
    s.add(bk)
    vol.status = "backing-up"
    vol.updated_at = now
    s.flush()
    return bk


async def create(st: BlockState, who: Caller, spec: NewBackup,
                 render: Callable[[m.Backup], T]) -> T:
    """Record the backup; the manager writes it to the object store."""
    def make(s: Session) -> tuple[str, T]:
        bk = add_backup(s, who, st.cfg.blockstore, spec)
        return bk.id, render(bk)

    bid, view = await st.db.run(make)
    st.manager.spawn(st.manager.create_backup(bid, request_id=who.request_id))
    return view


UPDATABLE = {"name", "description", "metadata"}


def update(s: Session, who: Caller, bid: str, body: dict[str, Any]) -> m.Backup:
    if not body or set(body) - UPDATABLE:
        raise Invalid(f"Invalid input received: only {', '.join(sorted(UPDATABLE))} may be "
                      "updated.")
    bk = get_backup(s, who, bid)
    apply_text_changes(bk, body, name_keys=("name",), description_keys=("description",),
                       description_limit=DESCRIPTION_LIMIT)
    return bk


async def delete(st: BlockState, who: Caller, bid: str) -> None:
    """Mark the backup ``deleting`` (refused while an incremental depends on it); the
    manager removes its objects."""
    def begin(s: Session) -> None:
        bk = get_backup(s, who, bid)
        if bk.status not in ("available", "error", "error_deleting"):
            raise Invalid(f"Invalid backup: Backup status must be available or error "
                          f"(backup {bid} is {bk.status}).")
        child = s.scalar(select(m.Backup.id).where(m.Backup.parent_id == bid).limit(1))
        if child is not None:
            raise Invalid(f"Invalid backup: Incremental backups exist for this backup "
                          f"(backup {child} depends on {bid}).")
        touch(bk, status="deleting")

    await st.db.run(begin)
    st.manager.spawn(st.manager.delete_backup(bid))


@dataclass(frozen=True)
class Restore:
    """Where a restore writes: the volume's id and name, and whether it is new."""

    volume_id: str
    volume_name: str | None
    new: bool


def begin_restore(s: Session, who: Caller, cfg: BlockStoreConfig, bid: str,
                  target: str | None, name: str | None) -> Restore:
    """Check and record a restore: into ``target`` (available, at least as large), or a
    new volume of the backup's size (quota taken)."""
    bk = get_backup(s, who, bid)
    if bk.status != "available":
        raise Invalid(f"Invalid backup: Backup status must be available (backup {bid} "
                      f"is {bk.status}).")
    now = m.utcnow()
    if target is None:
        project = who.project_id or bk.project_id
        vtype = find_type(s, None, cfg.default_volume_type)
        quotas.check(s, cfg, project, quotas.Delta(volumes=1, gigabytes=bk.size,
                                                   volume_type=vtype.name,
                                                   volume_size=bk.size))
        vol = m.Volume(id=m.new_id(), project_id=project, user_id=who.user_id,
                       name=name or f"restore_backup_{bid}", size=bk.size,
                       status="restoring-backup", availability_zone=cfg.availability_zone,
                       volume_type_id=vtype.id, metadata_={}, image_metadata={},
                       initiators=[], created_at=now, updated_at=now)
        s.add(vol)
        new = True
    else:
        vol = get_volume(s, who, target)
        if vol.status != "available":
            raise Invalid(f"Invalid volume: Volume to be restored to must be available "
                          f"(volume {target} is {vol.status}).")
        if vol.size < bk.size:
            raise Invalid(f"Invalid volume: volume size {vol.size}GB cannot be smaller "
                          f"than the backup size {bk.size}GB. It must be >= backup size.")
        vol.status = "restoring-backup"
        vol.updated_at = now
        new = False
    bk.status = "restoring"
    bk.updated_at = now
    s.flush()
    return Restore(vol.id, vol.name, new)


async def restore(st: BlockState, who: Caller, bid: str, target: str | None,
                  name: str | None) -> Restore:
    """Start restoring the backup (see :func:`begin_restore`)."""
    out = await st.db.run(lambda s: begin_restore(s, who, st.cfg.blockstore, bid, target,
                                                  name))
    st.manager.spawn(st.manager.restore_backup(bid, out.volume_id, new=out.new,
                                               request_id=who.request_id))
    return out
