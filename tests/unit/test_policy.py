"""identity.policy: who may do what."""

from __future__ import annotations

import time

import pytest

from identity.core import AuthContext
from identity.errors import Forbidden
from identity.policy import enforce
from identity.tokens import TokenPayload


def ctx(*roles: str, user: str = "u1", project: str | None = "p1",
        system: bool = False) -> AuthContext:
    now = time.time()
    payload = TokenPayload(user_id=user, methods=("password",), issued_at=now,
                           expires_at=now + 60, audit_ids=("a",),
                           project_id=None if system else project,
                           system="all" if system else None)
    return AuthContext(token="t", payload=payload, user_id=user, user_name="n",
                       user_domain_id="default", roles=frozenset(roles))


def test_admin_may_do_anything() -> None:
    for action in ("create_user", "delete_project", "list_users", "anything_new"):
        enforce(action, ctx("admin", "member", "reader"))


@pytest.mark.parametrize("action", ["create_user", "list_projects", "create_grant",
                                    "delete_role", "an_unknown_action"])
def test_members_and_readers_may_not_administer(action: str) -> None:
    for roles in (("member", "reader"), ("reader",)):
        with pytest.raises(Forbidden, match=f"identity:{action}"):
            enforce(action, ctx(*roles))


def test_self_service() -> None:
    member = ctx("member", "reader")
    enforce("get_user", member, {"user_id": "u1"})
    enforce("ec2_create_credential", member, {"user_id": "u1"})
    enforce("get_project", member, {"project_id": "p1"})
    enforce("list_role_assignments", member, {"user_id": "u1"})
    enforce("change_password", member, {"user_id": "u1"})
    for action, target in [("get_user", {"user_id": "u2"}),
                           ("ec2_list_credentials", {"user_id": "u2"}),
                           ("get_project", {"project_id": "p2"}),
                           ("list_role_assignments", {}),
                           ("change_password", {"user_id": "u2"})]:
        with pytest.raises(Forbidden):
            enforce(action, member, target)
    # not even an admin changes somebody else's password with the self-service call
    with pytest.raises(Forbidden):
        enforce("change_password", ctx("admin"), {"user_id": "u2"})


def test_service_role_may_validate_tokens() -> None:
    enforce("validate_token", ctx("service"), {"user_id": "someone"})
    with pytest.raises(Forbidden):
        enforce("validate_token", ctx("member"), {"user_id": "someone"})


def test_system_readers_read_everything_and_write_nothing() -> None:
    for roles in (("reader",), ("member", "reader")):
        reader = ctx(*roles, system=True)
        for action in ("list_projects", "get_user", "list_role_assignments",
                       "check_system_grant_for_user", "list_application_credentials",
                       "get_domain_config", "list_endpoint_groups", "list_consumers"):
            enforce(action, reader, {"user_id": "someone-else", "project_id": "p9"})
        for action in ("create_user", "create_system_grant_for_user", "update_domain_config",
                       "delete_application_credential", "create_project_tag"):
            with pytest.raises(Forbidden):
                enforce(action, reader, {"user_id": "someone-else", "project_id": "p9"})


def test_system_admin_and_legacy_project_admin() -> None:
    for admin in (ctx("admin", "member", "reader", system=True), ctx("admin")):
        enforce("create_system_grant_for_user", admin)
        enforce("update_project_tags", admin, {"project_id": "p9"})
    # a project reader is no system reader
    with pytest.raises(Forbidden):
        enforce("list_projects", ctx("reader"))


def test_project_members_set_their_own_project_tags() -> None:
    member = ctx("member", "reader")
    enforce("create_project_tag", member, {"project_id": "p1"})
    enforce("list_project_tags", ctx("reader"), {"project_id": "p1"})
    for action, target in [("create_project_tag", {"project_id": "p2"}),
                           ("update_project_tags", {"project_id": "p2"})]:
        with pytest.raises(Forbidden):
            enforce(action, member, target)
    with pytest.raises(Forbidden):
        enforce("delete_project_tag", ctx("reader"), {"project_id": "p1"})


def test_application_credentials_are_made_by_their_owner_only() -> None:
    enforce("create_application_credential", ctx("member"), {"user_id": "u1"})
    with pytest.raises(Forbidden):
        enforce("create_application_credential", ctx("admin"), {"user_id": "u2"})
    enforce("delete_application_credential", ctx("admin"), {"user_id": "u2"})
    enforce("list_application_credentials", ctx("reader", system=True), {"user_id": "u2"})


def test_service_role_may_find_users_and_their_projects() -> None:
    """The S3 front resolves ACL grants made by e-mail address as the service user."""
    enforce("list_users", ctx("service"))
    enforce("list_user_projects", ctx("service"), {"user_id": "someone"})
    with pytest.raises(Forbidden):
        enforce("list_users", ctx("member", "reader"))
