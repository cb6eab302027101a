"""Project quotas: limits (defaults from the config, overrides in the database) and usage.

Usage is counted from the tables themselves in the same transaction that
creates a resource, so a check and the row it allows commit together
(SQLite has one writer at a time; PostgreSQL callers hold the project's row
lock through ``lock_project``). Gigabytes count volumes and snapshots, as
Cinder does; backups and their gigabytes are counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.errors import Invalid, OverQuota
from common.config import BlockStoreConfig

RESOURCES = ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes")


def defaults(cfg: BlockStoreConfig) -> dict[str, int]:
    return {"volumes": cfg.quota_volumes, "gigabytes": cfg.quota_gigabytes,
            "snapshots": cfg.quota_snapshots, "backups": cfg.quota_backups,
            "backup_gigabytes": cfg.quota_backup_gigabytes}


def limits(s: Session, cfg: BlockStoreConfig, project_id: str) -> dict[str, int]:
    out = defaults(cfg)
    for row in s.scalars(select(m.QuotaLimit).where(m.QuotaLimit.project_id == project_id)):
        if row.resource in out:
            out[row.resource] = row.hard_limit
    return out


def count_and_gigabytes(s: Session, model: type[m.Volume] | type[m.Snapshot] | type[m.Backup],
                        project_id: str) -> tuple[int, int]:
    """How many rows of ``model`` the project has, and the sum of their sizes."""
    count, gb = s.execute(select(func.count(model.id), func.coalesce(
        func.sum(model.size), 0)).where(model.project_id == project_id)).one()
    return int(count), int(gb)


def usage(s: Session, project_id: str) -> dict[str, int]:
    vols, vol_gb = count_and_gigabytes(s, m.Volume, project_id)
    snaps, snap_gb = count_and_gigabytes(s, m.Snapshot, project_id)
    backups, backup_gb = count_and_gigabytes(s, m.Backup, project_id)
    return {"volumes": vols, "gigabytes": vol_gb + snap_gb, "snapshots": snaps,
            "backups": backups, "backup_gigabytes": backup_gb}


@dataclass(frozen=True)
class Delta:
    volumes: int = 0
    gigabytes: int = 0
    snapshots: int = 0


def check(s: Session, cfg: BlockStoreConfig, project_id: str, delta: Delta) -> None:
    """OverQuota (naming the quota) when adding ``delta`` passes a project's limit."""
    lim = limits(s, cfg, project_id)
    used = usage(s, project_id)
    if delta.gigabytes > 0 and 0 <= lim["gigabytes"] < used["gigabytes"] + delta.gigabytes:
        raise OverQuota(
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
            f"gigabytes quota. Requested {delta.gigabytes}G, quota is {lim['gigabytes']}G and "
            f"{used['gigabytes']}G has been consumed.", "gigabytes")
    if delta.volumes > 0 and 0 <= lim["volumes"] < used["volumes"] + delta.volumes:
        raise OverQuota(f"VolumeLimitExceeded: Maximum number of volumes allowed "
                        f"({lim['volumes']}) exceeded for quota 'volumes'.", "volumes")
    if delta.snapshots > 0 and 0 <= lim["snapshots"] < used["snapshots"] + delta.snapshots:
        raise OverQuota(f"SnapshotLimitExceeded: Maximum number of snapshots allowed "
                        f"({lim['snapshots']}) exceeded for quota 'snapshots'.", "snapshots")


def update(s: Session, cfg: BlockStoreConfig, project_id: str,
           values: dict[str, object]) -> None:
    """Set a project's limits (admin); unknown resources or non-integers are 400."""
    for resource, value in values.items():
        if resource not in RESOURCES:
            raise Invalid(f"Bad key(s) in quota set: {resource}")
        if isinstance(value, bool):
            raise Invalid(f"Quota limit {value!r} for {resource} must be an integer.")
        try:
            limit = int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise Invalid(f"Quota limit {value!r} for {resource} must be an integer.") from None
        if limit < -1:
            raise Invalid(f"Quota limit {limit} for {resource} must be -1 or more.")
        row = s.get(m.QuotaLimit, (project_id, resource))
        if row is None:
            s.add(m.QuotaLimit(project_id=project_id, resource=resource, hard_limit=limit))
        else:
            row.hard_limit = limit
