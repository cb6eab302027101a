"""Compute quotas: limits (defaults from the config, overrides in the database) and usage.

Usage is counted from the tables in the transaction that creates the resource, so a
check and the rows it allows commit together (as the block store does): servers,
vCPUs and RAM from the project's live servers, key pairs from the user's, server
groups from the project's and their members from each group. Metadata items and
personality files are limits per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.config import ComputeConfig
from compute import models as m
from compute.errors import Invalid, QuotaExceeded

# every resource os-quota-sets shows, in Nova's order; the legacy ones are always 0/-1
RESOURCES = ("instances", "cores", "ram", "key_pairs", "metadata_items", "server_groups",
             "server_group_members", "injected_files", "injected_file_content_bytes",
             "injected_file_path_bytes")
LEGACY = {"fixed_ips": -1, "floating_ips": -1, "security_groups": -1,
          "security_group_rules": -1, "networks": -1}


def defaults(cfg: ComputeConfig) -> dict[str, int]:
    return {name: int(getattr(cfg, f"quota_{name}")) for name in RESOURCES}


def limits(s: Session, cfg: ComputeConfig, project_id: str) -> dict[str, int]:
    out = defaults(cfg)
    for row in s.scalars(select(m.QuotaLimit).where(m.QuotaLimit.project_id == project_id)):
        if row.resource in out:
            out[row.resource] = row.hard_limit
    return out


def usage(s: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """What a project uses now (key pairs: its ``user_id``'s, when given)."""
    count, cores, ram = s.execute(
        select(func.count(m.Instance.uuid), func.coalesce(func.sum(m.Instance.vcpus), 0),
               func.coalesce(func.sum(m.Instance.memory_mb), 0))
        .where(m.Instance.project_id == project_id, m.Instance.deleted.is_(False))).one()
    groups = s.scalar(select(func.count(m.ServerGroup.id))
                      .where(m.ServerGroup.project_id == project_id)) or 0
    keys = 0
    if user_id is not None:
        keys = s.scalar(select(func.count(m.KeyPair.id))
                        .where(m.KeyPair.user_id == user_id)) or 0
    return {"instances": int(count), "cores": int(cores), "ram": int(ram),
            "key_pairs": int(keys), "server_groups": int(groups), "metadata_items": 0,
            "server_group_members": 0, "injected_files": 0,
            "injected_file_content_bytes": 0, "injected_file_path_bytes": 0}


@dataclass(frozen=True)
class Want:
    instances: int = 0
    cores: int = 0
    ram: int = 0


def _over(limit: int, used: int, asked: int) -> bool:
    return asked > 0 and 0 <= limit < used + asked


def check_servers(s: Session, cfg: ComputeConfig, project_id: str, per: Want,
                  min_count: int, max_count: int) -> int:
    """How many servers (between ``min_count`` and ``max_count``) the project may still
    have; 403 naming the quota when not even ``min_count`` fit (Nova's message)."""
    lim = limits(s, cfg, project_id)
    used = usage(s, project_id)
    for count in range(max_count, min_count - 1, -1):
        asked = {"instances": per.instances * count, "cores": per.cores * count,
                 "ram": per.ram * count}
        if not any(_over(lim[r], used[r], asked[r]) for r in asked):
            return count
    asked = {"instances": per.instances * min_count, "cores": per.cores * min_count,
             "ram": per.ram * min_count}
    over = [r for r in ("instances", "cores", "ram") if _over(lim[r], used[r], asked[r])]
    detail = ", ".join(f"{r}" for r in over)
    first = over[0]
    raise QuotaExceeded(f"Quota exceeded for {detail}: Requested {asked[first]}, but already "
                        f"used {used[first]} of {lim[first]} {first}", first)


def check_key_pairs(s: Session, cfg: ComputeConfig, project_id: str, user_id: str) -> None:
    lim = limits(s, cfg, project_id)["key_pairs"]
    if _over(lim, usage(s, project_id, user_id)["key_pairs"], 1):
        raise QuotaExceeded("Quota exceeded, too many key pairs.", "key_pairs")


def check_server_groups(s: Session, cfg: ComputeConfig, project_id: str) -> None:
    lim = limits(s, cfg, project_id)["server_groups"]
    if _over(lim, usage(s, project_id)["server_groups"], 1):
        raise QuotaExceeded("Quota exceeded, too many server groups.", "server_groups")


def check_group_members(s: Session, cfg: ComputeConfig, project_id: str, group_id: str,
                        adding: int) -> None:
    lim = limits(s, cfg, project_id)["server_group_members"]
    members = s.scalar(select(func.count()).select_from(m.ServerGroupMember)
                       .where(m.ServerGroupMember.group_id == group_id)) or 0
    if _over(lim, int(members), adding):
        raise QuotaExceeded("Quota exceeded, too many servers in group",
                            "server_group_members")


def check_metadata(s: Session, cfg: ComputeConfig, project_id: str,
                   metadata: Mapping[str, str]) -> None:
    lim = limits(s, cfg, project_id)["metadata_items"]
    if 0 <= lim < len(metadata):
        raise QuotaExceeded(f"Quota exceeded for metadata_items: Requested {len(metadata)}, "
                            f"but already used 0 of {lim} metadata_items", "metadata_items")


def check_personality(s: Session, cfg: ComputeConfig, project_id: str,
                      files: list[tuple[str, bytes]]) -> None:
    lim = limits(s, cfg, project_id)
    if 0 <= lim["injected_files"] < len(files):
        raise QuotaExceeded(f"Quota exceeded for injected_files: Requested {len(files)}, but "
                            f"already used 0 of {lim['injected_files']} injected_files",
                            "injected_files")
    for path, content in files:
        if 0 <= lim["injected_file_path_bytes"] < len(path.encode()):
            raise QuotaExceeded("Personality file path exceeds maximum "
                                f"{lim['injected_file_path_bytes']}",
                                "injected_file_path_bytes")
        if 0 <= lim["injected_file_content_bytes"] < len(content):
            raise QuotaExceeded("Personality content exceeds maximum "
                                f"{lim['injected_file_content_bytes']}",
                                "injected_file_content_bytes")


def update(s: Session, project_id: str, values: Mapping[str, object]) -> None:
    """Set a project's limits (admin); unknown resources or non-integers are 400."""
    for resource, value in values.items():
        if resource in LEGACY or resource == "force":
            continue
        if resource not in RESOURCES:
            raise Invalid(f"Bad key(s) {resource} in quota_set")
        if isinstance(value, bool):
            raise Invalid(f"Invalid input for field/attribute {resource}. Value: {value}.")
        try:
            limit = int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise Invalid(f"Invalid input for field/attribute {resource}. Value: "
                          f"{value}. {value!r} is not of type 'integer'") from None
        if limit < -1:
            raise Invalid(f"Invalid input for field/attribute {resource}. Value: {limit}. "
                          f"{limit} is less than the minimum of -1")
        row = s.get(m.QuotaLimit, (project_id, resource))
        if row is None:
            s.add(m.QuotaLimit(project_id=project_id, resource=resource, hard_limit=limit))
        else:
            row.hard_limit = limit


def revert(s: Session, project_id: str) -> None:
    for row in s.scalars(select(m.QuotaLimit).where(m.QuotaLimit.project_id == project_id)):
        s.delete(row)
