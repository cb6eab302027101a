"""identity.policy: who may do what."""

from __future__ import annotations

import time

import pytest

from identity.core import AuthContext
from identity.errors import Forbidden
from identity.policy import enforce
from identity.tokens import TokenPayload


def ctx(*roles: str, user: str = "u1", project: str | None = "p1") -> AuthContext:
    now = time.time()
    payload = TokenPayload(user_id=user, methods=("password",), issued_at=now,
                           expires_at=now + 60, audit_ids=("a",), project_id=project)
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
