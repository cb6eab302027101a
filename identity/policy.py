"""Who may do what in the identity API.

Close to Keystone's defaults: the ``admin`` role (on any project, as in
Keystone's legacy admin) may do everything; ``member`` and ``reader`` may look
at themselves, their own projects, their own role assignments and manage their
own credentials and password. Each rule takes the caller's context and the
target's attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from identity.core import AuthContext
from identity.errors import Forbidden

Rule = Callable[[AuthContext, Mapping[str, Any]], bool]


def admin(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin


def admin_or_self(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin or target.get("user_id") == ctx.user_id


def admin_or_own_project(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin or (
        target.get("project_id") is not None and target.get("project_id") == ctx.project_id
    )


def admin_or_own_domain(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin or target.get("domain_id") in (ctx.domain_id, ctx.user_domain_id)


def anyone(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return True


RULES: dict[str, Rule] = {
    # Read and write of the identity model: admins; self-service reads below.
    "get_user": admin_or_self,
    "change_password": lambda ctx, t: t.get("user_id") == ctx.user_id,
    "list_user_projects": admin_or_self,
    "list_user_groups": admin_or_self,
    "get_project": admin_or_own_project,
    "get_domain": admin_or_own_domain,
    "list_role_assignments": lambda ctx, t: ctx.is_admin or t.get("user_id") == ctx.user_id,
    "list_grants": lambda ctx, t: ctx.is_admin or t.get("user_id") == ctx.user_id,
    "get_region": anyone,
    "list_regions": anyone,
    # EC2 credentials: the owner or an admin.
    "ec2_create_credential": admin_or_self,
    "ec2_list_credentials": admin_or_self,
    "ec2_get_credential": admin_or_self,
    "ec2_delete_credential": admin_or_self,
    "get_credential": admin_or_self,
    "update_credential": admin_or_self,
    "delete_credential": admin_or_self,
    "create_credential": admin_or_self,
    "list_credentials": anyone,  # filtered to the caller's own unless admin
    # Token validation by another user's token: admins and services.
    "validate_token": lambda ctx, t: ctx.is_admin or "service" in ctx.roles
    or t.get("user_id") == ctx.user_id,
    "revoke_token": lambda ctx, t: ctx.is_admin or t.get("user_id") == ctx.user_id,
}


def enforce(action: str, ctx: AuthContext, target: Mapping[str, Any] | None = None) -> None:
    """Raise Forbidden unless ``ctx`` may perform ``action`` on ``target``.

    Actions without a rule of their own need the admin role.
    """
    rule = RULES.get(action, admin)
    if not rule(ctx, target or {}):
        raise Forbidden(
            f"You are not authorized to perform the requested action: identity:{action}."
        )
