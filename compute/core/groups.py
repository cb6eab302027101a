"""Server groups: a project's named set of servers with a placement policy (affinity,
anti-affinity and, from 2.15, their soft forms; from 2.64 one ``policy`` with
``rules``, ``max_server_per_host`` for anti-affinity). The scheduler reads them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.config import ComputeConfig
from compute import models as m
from compute import quotas
from compute.core.requests import bad, check_keys, check_name
from compute.errors import Invalid, ItemNotFound
from compute.policy import Caller

POLICIES = ("affinity", "anti-affinity")
SOFT = ("soft-affinity", "soft-anti-affinity")


class GroupNotFound(ItemNotFound):
    def __init__(self, group_id: str) -> None:
        super().__init__(f"Instance group {group_id} could not be found.")


def parse(body: Any, minor: int) -> tuple[str, str, dict[str, Any]]:
    """(name, policy, rules) of a create request."""
    if not isinstance(body, dict) or not isinstance(body.get("server_group"), dict):
        raise bad("server_group", body, "'server_group' is a required property")
    group = body["server_group"]
    allowed_policies = POLICIES + (SOFT if minor >= 15 else ())
    if minor >= 64:
        check_keys(group, {"name", "policy", "rules"})
        policy = group.get("policy")
        if policy not in allowed_policies:
            raise bad("policy", policy, f"{policy!r} is not one of {list(allowed_policies)}")
        rules = group.get("rules", {})
        if not isinstance(rules, dict) or set(rules) - {"max_server_per_host"}:
            raise bad("rules", rules, "Only 'max_server_per_host' is allowed")
        if rules and policy != "anti-affinity":
            raise Invalid("Only anti-affinity policy supports rules.")
        if "max_server_per_host" in rules:
            value = rules["max_server_per_host"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad("max_server_per_host", value, "must be an integer of at least 1")
    else:
        check_keys(group, {"name", "policies"})
        policies = group.get("policies")
        if not isinstance(policies, list) or len(policies) != 1 or \
                policies[0] not in allowed_policies:
            raise bad("policies", policies, f"one of {list(allowed_policies)} is required")
        policy, rules = policies[0], {}
    return check_name(group.get("name")), str(policy), dict(rules)


def create(s: Session, cfg: ComputeConfig, who: Caller, name: str, policy: str,
           rules: dict[str, Any]) -> m.ServerGroup:
    project = who.project_id or ""
    quotas.check_server_groups(s, cfg, project)
    group = m.ServerGroup(name=name, project_id=project, user_id=who.user_id, policy=policy,
                          rules=rules, metadata_={})
    s.add(group)
    s.flush()
    return group


def get(s: Session, who: Caller, group_id: str) -> m.ServerGroup:
    group = s.get(m.ServerGroup, group_id)
    if group is None or not (who.owns(group.project_id) or who.is_service):
        raise GroupNotFound(group_id)
    return group


def listing(s: Session, who: Caller, *, all_projects: bool, limit: int | None,
            offset: int) -> list[m.ServerGroup]:
    stmt = select(m.ServerGroup).order_by(m.ServerGroup.created_at, m.ServerGroup.id)
    if not (who.is_admin and all_projects):
        stmt = stmt.where(m.ServerGroup.project_id == (who.project_id or ""))
    rows = list(s.scalars(stmt))[offset:]
    return rows[:limit] if limit is not None else rows


def delete(s: Session, who: Caller, group_id: str) -> None:
    s.delete(get(s, who, group_id))
