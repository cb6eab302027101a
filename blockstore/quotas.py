"""Project quotas: limits (configured defaults, the ``default`` quota class, project
overrides), usage, and the check every create runs.

The quotas are Cinder's: ``volumes``, ``snapshots``, ``gigabytes`` (volumes and
snapshots), ``backups``, ``backup_gigabytes``, ``per_volume_gigabytes`` (the
largest one volume may be), ``groups``, and for each volume type
``volumes_<type>``, ``snapshots_<type>`` and ``gigabytes_<type>`` (unlimited
unless set). A project's limit is its own, else the ``default`` quota class's,
else the configured default. Every key ``GET os-quota-sets`` shows may be set
and is enforced.

Usage is counted from the tables themselves in the same transaction that
creates a resource, so a check and the row it allows commit together
(SQLite has one writer at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.errors import Invalid, OverQuota
from common.config import BlockStoreConfig

STATIC = ("volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes",
          "per_volume_gigabytes", "groups")
PER_TYPE = ("volumes", "snapshots", "gigabytes")
DEFAULT_CLASS = "default"
MAX_LIMIT = 2**31 - 1


def type_names(s: Session) -> list[str]:
    return list(s.scalars(select(m.VolumeType.name).order_by(m.VolumeType.name)))


def keys(s: Session) -> list[str]:
    """Every quota key, the per-type ones included."""
    return [*STATIC, *(f"{k}_{t}" for t in type_names(s) for k in PER_TYPE)]


def config_defaults(cfg: BlockStoreConfig) -> dict[str, int]:
    return {"volumes": cfg.quota_volumes, "snapshots": cfg.quota_snapshots,
            "gigabytes": cfg.quota_gigabytes, "backups": cfg.quota_backups,
            "backup_gigabytes": cfg.quota_backup_gigabytes,
            "per_volume_gigabytes": cfg.quota_per_volume_gigabytes,
            "groups": cfg.quota_groups}


def class_limits(s: Session, cfg: BlockStoreConfig, class_name: str) -> dict[str, int]:
    """A quota class's limits: the configured defaults (per-type: unlimited) with the
    ``default`` class's values, then this class's own."""
    out = {k: -1 for k in keys(s)}
    out.update(config_defaults(cfg))
    for name in dict.fromkeys((DEFAULT_CLASS, class_name)):
        for row in s.scalars(select(m.QuotaClassLimit).where(
                m.QuotaClassLimit.class_name == name)):
            if row.resource in out:
                out[row.resource] = row.hard_limit
    return out


def defaults(s: Session, cfg: BlockStoreConfig) -> dict[str, int]:
    """What a project without limits of its own gets."""
    return class_limits(s, cfg, DEFAULT_CLASS)


def limits(s: Session, cfg: BlockStoreConfig, project_id: str) -> dict[str, int]:
    out = defaults(s, cfg)
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
    """What the project uses of every quota key."""
    vols, vol_gb = count_and_gigabytes(s, m.Volume, project_id)
    snaps, snap_gb = count_and_gigabytes(s, m.Snapshot, project_id)
    backups, backup_gb = count_and_gigabytes(s, m.Backup, project_id)
    groups = int(s.scalar(select(func.count(m.Group.id)).where(
        m.Group.project_id == project_id)) or 0)
    out = {"volumes": vols, "gigabytes": vol_gb + snap_gb, "snapshots": snaps,
           "backups": backups, "backup_gigabytes": backup_gb, "per_volume_gigabytes": 0,
           "groups": groups}
    names: dict[str, str] = {row.id: row.name for row in s.execute(
        select(m.VolumeType.id, m.VolumeType.name))}
    for name in names.values():
        for k in PER_TYPE:
            out[f"{k}_{name}"] = 0
    for type_id, count, gb in s.execute(
            select(m.Volume.volume_type_id, func.count(m.Volume.id),
                   func.coalesce(func.sum(m.Volume.size), 0))
            .where(m.Volume.project_id == project_id).group_by(m.Volume.volume_type_id)):
        if type_id in names:
            out[f"volumes_{names[type_id]}"] = int(count)
            out[f"gigabytes_{names[type_id]}"] = int(gb)
    for type_id, count, gb in s.execute(
            select(m.Volume.volume_type_id, func.count(m.Snapshot.id),
                   func.coalesce(func.sum(m.Snapshot.size), 0))
            .join(m.Volume, m.Volume.id == m.Snapshot.volume_id)
            .where(m.Snapshot.project_id == project_id).group_by(m.Volume.volume_type_id)):
        if type_id in names:
            out[f"snapshots_{names[type_id]}"] = int(count)
            out[f"gigabytes_{names[type_id]}"] += int(gb)
    return out


@dataclass(frozen=True)
class Delta:
    """What a change adds: counts, GiB, and the volume type they count against;
    ``volume_size``: the size of one volume made or grown (``per_volume_gigabytes``)."""

    volumes: int = 0
    gigabytes: int = 0
    snapshots: int = 0
    groups: int = 0
    volume_type: str | None = None
    volume_size: int | None = None


def _over(limit: int, used: int, more: int) -> bool:
    return more > 0 and 0 <= limit < used + more


def check(s: Session, cfg: BlockStoreConfig, project_id: str, delta: Delta) -> None:
    """OverQuota (naming the quota) when adding ``delta`` passes one of the project's
    limits."""
    lim = limits(s, cfg, project_id)
    if delta.volume_size is not None and 0 <= lim["per_volume_gigabytes"] < delta.volume_size:
        raise OverQuota(f"VolumeSizeExceedsLimit: Requested volume size "
                        f"{delta.volume_size}G is larger than maximum allowed limit "
                        f"{lim['per_volume_gigabytes']}G (quota 'per_volume_gigabytes').",
                        "per_volume_gigabytes")
    used = usage(s, project_id)
    suffixes = [""] + ([f"_{delta.volume_type}"] if delta.volume_type else [])
    for suffix in suffixes:
        gb, vols, snaps = f"gigabytes{suffix}", f"volumes{suffix}", f"snapshots{suffix}"
        if gb in lim and _over(lim[gb], used[gb], delta.gigabytes):
            raise OverQuota(
                "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds "
                f"allowed {gb} quota. Requested {delta.gigabytes}G, quota is {lim[gb]}G "
                f"and {used[gb]}G has been consumed.", gb)
        if vols in lim and _over(lim[vols], used[vols], delta.volumes):
            raise OverQuota(f"VolumeLimitExceeded: Maximum number of volumes allowed "
                            f"({lim[vols]}) exceeded for quota '{vols}'.", vols)
        if snaps in lim and _over(lim[snaps], used[snaps], delta.snapshots):
            raise OverQuota(f"SnapshotLimitExceeded: Maximum number of snapshots allowed "
                            f"({lim[snaps]}) exceeded for quota '{snaps}'.", snaps)
    if _over(lim["groups"], used["groups"], delta.groups):
        raise OverQuota(f"GroupLimitExceeded: Maximum number of groups allowed "
                        f"({lim['groups']}) exceeded for quota 'groups'.", "groups")


def _limit(resource: str, value: object) -> int:
    if isinstance(value, bool):
        raise Invalid(f"Quota limit {value!r} for {resource} must be an integer.")
    try:
        limit: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise Invalid(f"Quota limit {value!r} for {resource} must be an integer.") from None
    if not -1 <= limit <= MAX_LIMIT:
        raise Invalid(f"Quota limit {limit} for {resource} must be -1 or more (and at most "
                      f"{MAX_LIMIT}).")
    return limit


def update(s: Session, cfg: BlockStoreConfig, project_id: str,
           values: dict[str, object]) -> None:
    """Set a project's limits (admin): every key is checked before any is written; an
    unknown key, a non-integer, or a limit below what the project already uses is 400."""
    known = set(keys(s))
    bad = sorted(k for k in values if k not in known)
    if bad:
        raise Invalid(f"Bad key(s) in quota set: {', '.join(bad)}")
    checked = {k: _limit(k, v) for k, v in values.items()}
    used = usage(s, project_id)
    for key, limit in checked.items():
        if key != "per_volume_gigabytes" and limit != -1 and limit < used.get(key, 0):
            raise Invalid(f"Quota {key} limit must be equal or greater than existing "
                          f"resources. Current usage is {used[key]} and the requested "
                          f"limit is {limit}.")
    for key, limit in checked.items():
        _put(s, m.QuotaLimit, (project_id, key), limit)


def _put(s: Session, model: type[m.QuotaLimit] | type[m.QuotaClassLimit],
         ident: tuple[str, str], limit: int) -> None:
    """Set the limit row ``ident`` (owner, resource) of ``model``, made if missing."""
    row = s.get(model, ident)
    if isinstance(row, m.QuotaLimit | m.QuotaClassLimit):
        row.hard_limit = limit
    elif model is m.QuotaLimit:
        s.add(m.QuotaLimit(project_id=ident[0], resource=ident[1], hard_limit=limit))
    else:
        s.add(m.QuotaClassLimit(class_name=ident[0], resource=ident[1], hard_limit=limit))


def update_class(s: Session, class_name: str, values: dict[str, object]) -> None:
    """Set a quota class's limits (admin); keys that are not quotas are ignored, as
    Cinder does, but a known key's value must be an integer."""
    if not 0 < len(class_name) <= 255:
        raise Invalid("Invalid input received: a quota class name is 1-255 characters.")
    known = set(keys(s))
    checked = {k: _limit(k, v) for k, v in values.items() if k in known}
    for key, limit in checked.items():
        _put(s, m.QuotaClassLimit, (class_name, key), limit)


def revert(s: Session, project_id: str) -> None:
    """Drop a project's own limits: it gets the defaults again."""
    for row in s.scalars(select(m.QuotaLimit).where(m.QuotaLimit.project_id == project_id)):
        s.delete(row)
