"""Application credentials: the rules of making one, and finding one to
authenticate with. No HTTP here; functions taking a ``Session`` run in the
database thread.

A credential delegates some of its user's roles on one project. The roles must
be held by the user there (effective, implied ones included); access rules are
the user's own and shared between its credentials. The secret is generated when
none is given, shown once, and only its hash is kept. A credential dies with its
user, and when the user loses a role assignment on its project (as Keystone).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from identity import core, grants
from identity import models as m
from identity.errors import Conflict, NotFound, Unauthorized, ValidationError


def new_secret() -> str:
    return secrets.token_urlsafe(64)


def parse_expiry(value: str | None) -> datetime | None:
    """An ISO 8601 expiry (naive means UTC) as naive UTC; 400 when malformed or past."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"Invalid input for field 'expires_at': {value!r} is not "
                              "an ISO 8601 date and time.") from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    if when <= m.utcnow():
        raise ValidationError("An application credential cannot expire in the past.")
    return when


def delegated_roles(s: Session, user_id: str, project_id: str,
                    requested: list[dict[str, Any]] | None,
                    token_roles: frozenset[str]) -> list[m.Role]:
    """The roles a new credential delegates: those asked for, each held by the user
    on the project; when none are asked for, the roles of the creating token."""
    held = grants.effective_role_ids_on_project(s, user_id, project_id)
    if requested:
        roles = {r.id: r for r in (grants.find_role(s, ref) for ref in requested)}
    else:
        roles = {r.id: r for r in s.scalars(select(m.Role).where(m.Role.name.in_(token_roles)))}
    for role in roles.values():
        if role.id not in held:
            raise NotFound(f"Could not find role assignment with role: {role.id}, user or "
                           f"group: {user_id}, project, domain, or system: {project_id}.")
    return sorted(roles.values(), key=lambda r: r.name)


def access_rules_for(s: Session, user_id: str,
                     rules: list[dict[str, Any]]) -> list[m.AccessRule]:
    """The user's access rules named by id, or matching (service, method, path),
    made when new."""
    out: dict[str, m.AccessRule] = {}
    for ref in rules:
        if "id" in ref:
            rule = s.get(m.AccessRule, str(ref["id"]))
            if rule is None or rule.user_id != user_id:
                raise NotFound(f"Could not find access rule: {ref['id']}.")
        else:
            rule = s.scalar(select(m.AccessRule).where(
                m.AccessRule.user_id == user_id, m.AccessRule.service == ref["service"],
                m.AccessRule.method == ref["method"], m.AccessRule.path == ref["path"]))
            if rule is None:
                rule = m.AccessRule(id=m.new_id(), user_id=user_id, service=ref["service"],
                                    method=ref["method"], path=ref["path"])
                s.add(rule)
                s.flush()
        out[rule.id] = rule
    return list(out.values())


def create(s: Session, user_id: str, project_id: str, body: dict[str, Any],
           token_roles: frozenset[str], secret_hash: str) -> m.ApplicationCredential:
    core.get_or_404(s, m.User, user_id, "user")
    name = body["name"]
    if s.scalar(select(m.ApplicationCredential.id).where(
            m.ApplicationCredential.user_id == user_id,
            m.ApplicationCredential.name == name)) is not None:
        raise Conflict(f"Conflict occurred attempting to store application_credential - "
                       f"Duplicate entry found with name {name}.")
    expires_at = parse_expiry(body.get("expires_at"))
    roles = delegated_roles(s, user_id, project_id, body.get("roles"), token_roles)
    rules = access_rules_for(s, user_id, body.get("access_rules") or [])
    cred = m.ApplicationCredential(
        id=m.new_id(), name=name, user_id=user_id, project_id=project_id,
        description=body.get("description"), secret_hash=secret_hash,
        expires_at=expires_at, unrestricted=bool(body.get("unrestricted")),
        role_ids=[r.id for r in roles], created_at=m.utcnow())
    s.add(cred)
    s.flush()
    for rule in rules:
        s.add(m.ApplicationCredentialAccessRule(app_cred_id=cred.id, access_rule_id=rule.id))
    s.flush()
    return cred


def find_for_auth(s: Session, ref: dict[str, Any]) -> m.ApplicationCredential:
    """The credential an authentication request names: by id, or by name and user."""
    if ref.get("id"):
        cred = s.get(m.ApplicationCredential, str(ref["id"]))
    elif ref.get("name"):
        user = ref.get("user")
        if not isinstance(user, dict):
            raise Unauthorized("An application credential given by name needs its user.")
        owner = core.find_user(s, user)
        cred = s.scalar(select(m.ApplicationCredential).where(
            m.ApplicationCredential.user_id == owner.id,
            m.ApplicationCredential.name == str(ref["name"])))
    else:
        raise Unauthorized("An application credential must be given by id or by name.")
    if cred is None:
        raise Unauthorized("The request you have made requires authentication.")
    return cred


def forget_on_project(s: Session, user_id: str, project_id: str) -> None:
    """A user lost a role assignment on a project: its credentials there go."""
    s.execute(delete(m.ApplicationCredential).where(
        m.ApplicationCredential.user_id == user_id,
        m.ApplicationCredential.project_id == project_id))


def in_use(s: Session, access_rule_id: str) -> bool:
    return s.scalar(select(m.ApplicationCredentialAccessRule.app_cred_id).where(
        m.ApplicationCredentialAccessRule.access_rule_id == access_rule_id).limit(1)) is not None
