"""Project quotas: limits (defaults from the config, overrides in the database) and usage.

Usage is counted from the tables in the same transaction that creates a
resource, so a check and the row it allows commit together. A project's
``default`` security group is made on its first use and never refused for
quota, as upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.config import NetworkConfig
from network import models as m
from network.errors import HTTPBadRequest, InvalidQuotaValue, OverQuota

MODELS: dict[str, type[m.Standard]] = {
    "network": m.Network,
    "subnet": m.Subnet,
    "subnetpool": m.SubnetPool,
    "port": m.Port,
    "router": m.Router,
    "floatingip": m.FloatingIP,
    "security_group": m.SecurityGroup,
    "security_group_rule": m.SecurityGroupRule,
}
RESOURCES = tuple(MODELS)


def defaults(cfg: NetworkConfig) -> dict[str, int]:
    return {name: int(getattr(cfg, f"quota_{name}")) for name in RESOURCES}


def limits(s: Session, cfg: NetworkConfig, project_id: str) -> dict[str, int]:
    out = defaults(cfg)
    for row in s.scalars(select(m.QuotaLimit).where(m.QuotaLimit.project_id == project_id)):
        if row.resource in out:
            out[row.resource] = row.hard_limit
    return out


def used(s: Session, project_id: str, resource: str) -> int:
    model: Any = MODELS[resource]
    return int(s.scalar(select(func.count(model.id)).where(model.project_id == project_id))
               or 0)


def usage(s: Session, project_id: str) -> dict[str, int]:
    return {name: used(s, project_id, name) for name in RESOURCES}


def check(s: Session, cfg: NetworkConfig, project_id: str, wanted: Mapping[str, int]) -> None:
    """OverQuota (409, naming the resources) when adding ``wanted`` passes a limit."""
    if not project_id:
        return
    lim = limits(s, cfg, project_id)
    over = [name for name, n in wanted.items()
            if n > 0 and 0 <= lim[name] < used(s, project_id, name) + n]
    if over:
        raise OverQuota(sorted(over))


def projects_with_limits(s: Session) -> list[str]:
    return list(s.scalars(select(m.QuotaLimit.project_id).distinct()
                          .order_by(m.QuotaLimit.project_id)))


def parse_limits(values: Any) -> tuple[dict[str, int], bool]:
    """A quota update's ``{"quota": {...}}`` content: known resources, integers >= -1,
    and ``check_limit`` (refuse limits below what is in use)."""
    if not isinstance(values, dict):
        raise HTTPBadRequest("Invalid input for quota: a mapping of resources to limits "
                             "is required.")
    values = dict(values)
    check_limit = values.pop("check_limit", False)
    if not isinstance(check_limit, bool):
        raise HTTPBadRequest(f"Invalid input for check_limit. Reason: '{check_limit}' is "
                             "not a boolean.")
    unknown = [k for k in values if k not in RESOURCES]
    if unknown:
        raise HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
    out: dict[str, int] = {}
    for name, value in values.items():
        try:
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError(value)
            limit = int(value)
        except (TypeError, ValueError):
            raise HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' is not an "
                                 "integer.") from None
        if limit < -1:
            raise HTTPBadRequest(f"Invalid input for {name}. Reason: '{limit}' is too small "
                                 "- must be at least '-1'.")
        out[name] = limit
    return out, check_limit


def update(s: Session, project_id: str, values: Mapping[str, int],
           check_limit: bool = False) -> None:
    for resource, limit in values.items():
        if check_limit and limit >= 0 and limit < used(s, project_id, resource):
            raise InvalidQuotaValue(resource, limit, used(s, project_id, resource))
        row = s.get(m.QuotaLimit, (project_id, resource))
        if row is None:
            s.add(m.QuotaLimit(project_id=project_id, resource=resource, hard_limit=limit))
        else:
            row.hard_limit = limit


def reset(s: Session, project_id: str) -> None:
    for row in s.scalars(select(m.QuotaLimit).where(m.QuotaLimit.project_id == project_id)):
        s.delete(row)
