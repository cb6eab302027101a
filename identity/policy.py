"""Who may do what in the identity API.

Keystone's default policies in the system-scope model, with its legacy admin
kept (as Keystone keeps it while ``enforce_new_defaults`` is off):

- the ``admin`` role, on the system or (legacy) on any project or domain, may
  do everything;
- a system reader (any role on the system: reader, member or admin) may read
  everything: every ``get_``, ``list_`` and ``check_`` action; a system member
  has no write beyond a reader's, as upstream;
- ``member`` and ``reader`` on a project may look at themselves, their own
  projects and role assignments, and manage their own credentials, application
  credentials, OAuth access tokens and password; a project member may also set
  its project's tags.

Each rule takes the caller's context and the target's attributes. Actions
without a rule of their own are reads (system reader) or writes (admin).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from identity.core import AuthContext
from identity.errors import Forbidden

Rule = Callable[[AuthContext, Mapping[str, Any]], bool]

READ_PREFIXES = ("get_", "list_", "check_")


def admin(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin


def reader(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    """The default of reads: an admin or a system reader."""
    return ctx.is_admin or ctx.is_system_reader


def owner(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return target.get("user_id") == ctx.user_id


def admin_or_owner(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin or owner(ctx, target)


def reader_or_owner(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return reader(ctx, target) or owner(ctx, target)


def own_project(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return target.get("project_id") is not None and target.get("project_id") == ctx.project_id


def reader_or_own_project(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return reader(ctx, target) or own_project(ctx, target)


def admin_or_project_member(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return ctx.is_admin or ("member" in ctx.roles and own_project(ctx, target))


def reader_or_own_domain(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return reader(ctx, target) or target.get("domain_id") in (ctx.domain_id,
                                                              ctx.user_domain_id)


def anyone(ctx: AuthContext, target: Mapping[str, Any]) -> bool:
    return True


RULES: dict[str, Rule] = {
    # Self-service reads of the identity model.
    "get_user": reader_or_owner,
    "change_password": owner,
    "list_user_projects": lambda ctx, t: reader_or_owner(ctx, t) or "service" in ctx.roles,
    # Services find users (the S3 front resolves ACL grants given by e-mail address).
    "list_users": lambda ctx, t: reader(ctx, t) or "service" in ctx.roles,
    "list_user_groups": reader_or_owner,
    "get_project": reader_or_own_project,
    "get_domain": reader_or_own_domain,
    "list_role_assignments": reader_or_owner,
    "list_grants": reader_or_owner,
    "get_region": anyone,
    "list_regions": anyone,
    # Project tags: readable in one's project, settable by its members.
    "list_project_tags": reader_or_own_project,
    "get_project_tag": reader_or_own_project,
    "create_project_tag": admin_or_project_member,
    "update_project_tags": admin_or_project_member,
    "delete_project_tag": admin_or_project_member,
    "delete_project_tags": admin_or_project_member,
    # EC2 and other credentials: the owner or an admin.
    "ec2_create_credential": admin_or_owner,
    "ec2_list_credentials": reader_or_owner,
    "ec2_get_credential": reader_or_owner,
    "ec2_delete_credential": admin_or_owner,
    "get_credential": reader_or_owner,
    "update_credential": admin_or_owner,
    "delete_credential": admin_or_owner,
    "create_credential": admin_or_owner,
    "list_credentials": anyone,  # filtered to the caller's own unless a reader of all
    # Application credentials and their access rules: made by their owner only.
    "create_application_credential": owner,
    "get_application_credential": reader_or_owner,
    "list_application_credentials": reader_or_owner,
    "delete_application_credential": admin_or_owner,
    "get_access_rule": reader_or_owner,
    "list_access_rules": reader_or_owner,
    "delete_access_rule": admin_or_owner,
    # OAuth 1.0a: any user may authorize a request token for its own roles and
    # manage the access tokens it authorized.
    "authorize_request_token": anyone,
    "list_access_tokens": reader_or_owner,
    "get_access_token": reader_or_owner,
    "list_access_token_roles": reader_or_owner,
    "get_access_token_role": reader_or_owner,
    "delete_access_token": admin_or_owner,
    # Token validation by another user's token: readers of the system, services.
    "validate_token": lambda ctx, t: reader(ctx, t) or "service" in ctx.roles
    or owner(ctx, t),
    "revoke_token": admin_or_owner,
}


def rule_for(action: str) -> Rule:
    return RULES.get(action) or (reader if action.startswith(READ_PREFIXES) else admin)


def enforce(action: str, ctx: AuthContext, target: Mapping[str, Any] | None = None) -> None:
    """Raise Forbidden unless ``ctx`` may perform ``action`` on ``target``."""
    if not rule_for(action)(ctx, target or {}):
        raise Forbidden(
            f"You are not authorized to perform the requested action: identity:{action}."
        )
