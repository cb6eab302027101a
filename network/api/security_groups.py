"""Security groups and security group rules."""

from __future__ import annotations

from sqlalchemy.orm import selectinload

from network import models as m
from network.api import attributes
from network.api.networks import STANDARD
from network.api.resources import Kind
from network.core import secgroups, views
from network.core.base import (
    Ctx,
    get_security_group,
    get_security_group_rule,
    owned_query,
)
from network.errors import SecurityGroupNotFound, SecurityGroupRuleNotFound


def _ensure_default(ctx: Ctx) -> None:
    """Listing its groups is a project's first use of them: make its ``default``."""
    if ctx.caller.project_id and ctx.caller.can_write:
        secgroups.ensure_default(ctx, ctx.caller.project_id)


def _groups(ctx: Ctx) -> list[m.SecurityGroup]:
    return list(ctx.s.scalars(owned_query(ctx.caller, m.SecurityGroup)
                              .options(selectinload(m.SecurityGroup.rules))
                              .order_by(m.SecurityGroup.created_at, m.SecurityGroup.id)))


def _rules(ctx: Ctx) -> list[m.SecurityGroupRule]:
    return list(ctx.s.scalars(owned_query(ctx.caller, m.SecurityGroupRule)
                              .order_by(m.SecurityGroupRule.created_at,
                                        m.SecurityGroupRule.id)))


def _show_group(ctx: Ctx, ident: str) -> m.SecurityGroup:
    _ensure_default(ctx)
    return get_security_group(ctx, ident)


SECURITY_GROUPS = Kind(
    path="security-groups", collection="security_groups", member="security_group",
    spec=attributes.SECURITY_GROUP,
    fields=(*STANDARD, "name", "stateful", "security_group_rules"),
    missing=SecurityGroupNotFound, rows=_groups, one=_show_group,
    render=lambda ctx, rows: [views.security_group(r) for r in rows],
    create=secgroups.create_group, update=secgroups.update_group,
    delete=secgroups.delete_group, before_list=_ensure_default)

SECURITY_GROUP_RULES = Kind(
    path="security-group-rules", collection="security_group_rules",
    member="security_group_rule", spec=attributes.SECURITY_GROUP_RULE,
    fields=(*(f for f in STANDARD if f != "tags"), "security_group_id", "direction",
            "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
            "remote_group_id"),
    missing=SecurityGroupRuleNotFound, rows=_rules, one=get_security_group_rule,
    render=lambda ctx, rows: [views.security_group_rule(r) for r in rows],
    create=secgroups.create_rule, delete=secgroups.delete_rule, taggable=False)

KINDS = (SECURITY_GROUPS, SECURITY_GROUP_RULES)
