"""Identity domain logic: authentication, scoping, roles, tokens, catalog.

Functions taking a ``Session`` run in the database thread (``Database.run``);
nothing here knows about HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from identity import models as m
from identity.errors import NotFound, TokenNotFound, Unauthorized
from identity.tokens import TokenCodec, TokenPayload, new_audit_id

# Roles that imply others, as Keystone's bootstrap sets up: admin > member > reader.
IMPLIED_ROLES: dict[str, tuple[str, ...]] = {
    "admin": ("member", "reader"),
    "member": ("reader",),
}


def iso(ts: float | datetime) -> str:
    """Keystone's timestamp form: 2015-11-05T22:00:11.000000Z."""
    if isinstance(ts, datetime):
        dt = ts.replace(tzinfo=UTC)
    else:
        dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def naive(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class AuthContext:
    """Who is calling, as established from a validated token."""

    token: str
    payload: TokenPayload
    user_id: str
    user_name: str
    user_domain_id: str
    roles: frozenset[str]

    @property
    def project_id(self) -> str | None:
        return self.payload.project_id

    @property
    def domain_id(self) -> str | None:
        return self.payload.domain_id

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


# --- lookups ---------------------------------------------------------------


def get_or_404(s: Session, model: type[Any], ident: str, what: str) -> Any:
    obj = s.get(model, ident)
    if obj is None:
        raise NotFound(f"Could not find {what}: {ident}.")
    return obj


def find_domain(s: Session, ref: dict[str, Any], unauthorized: bool = False) -> m.Domain:
    """A domain by {"id"} or {"name"}."""
    err = Unauthorized if unauthorized else NotFound
    if "id" in ref:
        dom = s.get(m.Domain, str(ref["id"]))
    elif "name" in ref:
        dom = s.scalar(select(m.Domain).where(m.Domain.name == str(ref["name"])))
    else:
        raise err("A domain must be given by id or name.")
    if dom is None:
        raise err(f"Could not find domain: {ref.get('id', ref.get('name'))}.")
    return dom


def find_user(s: Session, ref: dict[str, Any]) -> m.User:
    """A user by id, or by name within a domain given by id or name (for auth)."""
    if "id" in ref:
        user = s.get(m.User, str(ref["id"]))
    elif "name" in ref:
        domain = ref.get("domain")
        if not isinstance(domain, dict):
            raise Unauthorized("A user given by name needs a domain.")
        dom = find_domain(s, domain, unauthorized=True)
        user = s.scalar(
            select(m.User).where(m.User.name == str(ref["name"]), m.User.domain_id == dom.id)
        )
    else:
        raise Unauthorized("A user must be given by id or name.")
    if user is None:
        raise Unauthorized("The request you have made requires authentication.")
    return user


def find_project(s: Session, ref: dict[str, Any]) -> m.Project:
    if "id" in ref:
        proj = s.get(m.Project, str(ref["id"]))
    elif "name" in ref:
        domain = ref.get("domain")
        if not isinstance(domain, dict):
            raise Unauthorized("A project given by name needs a domain.")
        dom = find_domain(s, domain, unauthorized=True)
        proj = s.scalar(
            select(m.Project).where(
                m.Project.name == str(ref["name"]), m.Project.domain_id == dom.id
            )
        )
    else:
        raise Unauthorized("A project must be given by id or name.")
    if proj is None:
        raise Unauthorized(f"Could not find project: {ref.get('id', ref.get('name'))}.")
    return proj


# --- roles -------------------------------------------------------------------


def group_ids(s: Session, user_id: str) -> list[str]:
    return list(s.scalars(select(m.Membership.group_id).where(m.Membership.user_id == user_id)))


def held_by(s: Session, user_id: str) -> ColumnElement[bool]:
    """Assignments whose actor is the user or one of the user's groups."""
    actors = [("user", user_id)] + [("group", g) for g in group_ids(s, user_id)]
    return or_(*[(m.Assignment.actor_type == t) & (m.Assignment.actor_id == i)
                 for t, i in actors])


def role_ids_on(s: Session, user_id: str, target_type: str, target_id: str) -> set[str]:
    """Roles granted to the user, directly or through groups, on one target."""
    rows = s.scalars(
        select(m.Assignment.role_id).where(
            m.Assignment.target_type == target_type,
            m.Assignment.target_id == target_id,
            held_by(s, user_id),
        )
    )
    return set(rows)


def effective_roles(s: Session, role_ids: set[str]) -> list[m.Role]:
    """The granted roles plus the ones they imply, each once, sorted by name."""
    if not role_ids:
        return []
    roles = {r.name: r for r in s.scalars(select(m.Role).where(m.Role.id.in_(role_ids)))}
    implied = {n for name in roles for n in IMPLIED_ROLES.get(name, ())} - set(roles)
    if implied:
        for r in s.scalars(select(m.Role).where(m.Role.name.in_(implied))):
            roles[r.name] = r
    return sorted(roles.values(), key=lambda r: r.name)


def projects_of(s: Session, user_id: str) -> list[m.Project]:
    """Projects on which the user has any role, directly or through a group."""
    ids = s.scalars(
        select(m.Assignment.target_id).where(
            m.Assignment.target_type == "project",
            held_by(s, user_id),
        )
    )
    id_set = set(ids)
    if not id_set:
        return []
    q = select(m.Project).where(m.Project.id.in_(id_set)).order_by(m.Project.name)
    return list(s.scalars(q))


def domains_of(s: Session, user_id: str) -> list[m.Domain]:
    ids = set(s.scalars(
        select(m.Assignment.target_id).where(
            m.Assignment.target_type == "domain",
            held_by(s, user_id),
        )
    ))
    if not ids:
        return []
    return list(s.scalars(select(m.Domain).where(m.Domain.id.in_(ids)).order_by(m.Domain.name)))


# --- revocation ----------------------------------------------------------------


def revoke(
    s: Session, *, expiry_seconds: int, audit_id: str | None = None,
    user_id: str | None = None, project_id: str | None = None,
) -> None:
    """Revoke every token issued until now that matches all given fields."""
    now = time.time()
    s.add(m.RevocationEvent(
        audit_id=audit_id, user_id=user_id, project_id=project_id,
        issued_before=naive(now + 0.000001), expires_at=naive(now + expiry_seconds + 60),
    ))
    # Events outlive every token they could match by a minute, then go.
    s.execute(delete(m.RevocationEvent).where(m.RevocationEvent.expires_at < naive(now)))


def is_revoked(s: Session, p: TokenPayload) -> bool:
    issued = naive(p.issued_at)
    conds: list[ColumnElement[bool]] = [m.RevocationEvent.audit_id.in_(p.audit_ids)]
    conds.append((m.RevocationEvent.user_id == p.user_id) & m.RevocationEvent.audit_id.is_(None)
                 & (m.RevocationEvent.project_id.is_(None)
                    | (m.RevocationEvent.project_id == p.project_id)))
    if p.project_id:
        conds.append((m.RevocationEvent.project_id == p.project_id)
                     & m.RevocationEvent.user_id.is_(None)
                     & m.RevocationEvent.audit_id.is_(None))
    row = s.scalar(
        select(m.RevocationEvent.id).where(
            or_(*conds), m.RevocationEvent.issued_before > issued
        ).limit(1)
    )
    return row is not None


# --- tokens ----------------------------------------------------------------------


@dataclass
class ScopeInfo:
    project: m.Project | None
    domain: m.Domain | None
    roles: list[m.Role]


def resolve_scope(s: Session, user: m.User, scope: Any) -> ScopeInfo:
    """Check a requested scope ({"project": …} | {"domain": …} | None) for a user."""
    if scope is None or scope == "unscoped":
        return ScopeInfo(None, None, [])
    if not isinstance(scope, dict):
        raise Unauthorized("The scope of the request is not valid.")
    if "project" in scope:
        ref = scope["project"]
        if not isinstance(ref, dict):
            raise Unauthorized("The project scope is not valid.")
        proj = find_project(s, ref)
        dom = s.get(m.Domain, proj.domain_id)
        if not proj.enabled or dom is None or not dom.enabled:
            raise Unauthorized(f"Project {proj.id} is disabled.")
        roles = effective_roles(s, role_ids_on(s, user.id, "project", proj.id))
        if not roles:
            raise Unauthorized(
                f"User {user.id} has no access to project {proj.id}."
            )
        return ScopeInfo(proj, None, roles)
    if "domain" in scope:
        ref = scope["domain"]
        if not isinstance(ref, dict):
            raise Unauthorized("The domain scope is not valid.")
        dom = find_domain(s, ref, unauthorized=True)
        if not dom.enabled:
            raise Unauthorized(f"Domain {dom.id} is disabled.")
        roles = effective_roles(s, role_ids_on(s, user.id, "domain", dom.id))
        if not roles:
            raise Unauthorized(f"User {user.id} has no access to domain {dom.id}.")
        return ScopeInfo(None, dom, roles)
    if "system" in scope:
        raise Unauthorized("System-scoped tokens are not supported; scope to a project.")
    raise Unauthorized("The scope of the request is not valid.")


def check_user_usable(s: Session, user: m.User) -> None:
    dom = s.get(m.Domain, user.domain_id)
    if not user.enabled or dom is None or not dom.enabled:
        raise Unauthorized("The account is disabled.")


def new_payload(
    user_id: str, methods: list[str], scope: ScopeInfo, lifetime: int,
    parent: TokenPayload | None = None,
) -> TokenPayload:
    now = time.time()
    expires = now + lifetime
    audit_ids: tuple[str, ...] = (new_audit_id(),)
    if parent is not None:
        expires = min(expires, parent.expires_at)
        audit_ids = (audit_ids[0], parent.audit_ids[-1])
    return TokenPayload(
        user_id=user_id, methods=tuple(methods), issued_at=now, expires_at=expires,
        audit_ids=audit_ids,
        project_id=scope.project.id if scope.project else None,
        domain_id=scope.domain.id if scope.domain else None,
    )


@dataclass
class Validated:
    payload: TokenPayload
    user: m.User
    scope: ScopeInfo


def validate(s: Session, codec: TokenCodec, token: str) -> Validated:
    """Everything a token means right now, or TokenNotFound."""
    payload = codec.decode(token)
    if is_revoked(s, payload):
        raise TokenNotFound("The token has been revoked.")
    user = s.get(m.User, payload.user_id)
    if user is None:
        raise TokenNotFound("The token's user no longer exists.")
    try:
        check_user_usable(s, user)
        if payload.project_id:
            scope = resolve_scope(s, user, {"project": {"id": payload.project_id}})
        elif payload.domain_id:
            scope = resolve_scope(s, user, {"domain": {"id": payload.domain_id}})
        else:
            scope = ScopeInfo(None, None, [])
    except (Unauthorized, NotFound) as exc:
        raise TokenNotFound(f"The token is no longer valid: {exc.message}") from None
    return Validated(payload, user, scope)


def domain_ref(s: Session, domain_id: str) -> dict[str, str]:
    dom = s.get(m.Domain, domain_id)
    return {"id": domain_id, "name": dom.name if dom else domain_id}


def endpoint_url(url: str, project_id: str | None) -> str:
    """Keystone's URL templates: ``$(project_id)s`` / ``%(tenant_id)s`` and friends."""
    if project_id is None:
        return url
    for name in ("project_id", "tenant_id"):
        url = url.replace(f"$({name})s", project_id).replace(f"%({name})s", project_id)
    return url


def catalog(s: Session, project_id: str | None = None) -> list[dict[str, Any]]:
    services = s.scalars(select(m.Service).where(m.Service.enabled.is_(True))
                         .order_by(m.Service.type))
    out = []
    for svc in services:
        endpoints = s.scalars(
            select(m.Endpoint).where(m.Endpoint.service_id == svc.id,
                                     m.Endpoint.enabled.is_(True))
            .order_by(m.Endpoint.interface)
        )
        out.append({
            "id": svc.id,
            "type": svc.type,
            "name": svc.name,
            "endpoints": [
                {"id": ep.id, "interface": ep.interface, "region": ep.region_id,
                 "region_id": ep.region_id, "url": endpoint_url(ep.url, project_id)}
                for ep in endpoints
            ],
        })
    return out


def token_body(s: Session, v: Validated, *, with_catalog: bool = True) -> dict[str, Any]:
    p = v.payload
    body: dict[str, Any] = {
        "methods": list(p.methods),
        "user": {
            "id": v.user.id,
            "name": v.user.name,
            "domain": domain_ref(s, v.user.domain_id),
            "password_expires_at": None,
        },
        "audit_ids": list(p.audit_ids),
        "issued_at": iso(p.issued_at),
        "expires_at": iso(p.expires_at),
    }
    if v.scope.project is not None:
        proj = v.scope.project
        body["project"] = {"id": proj.id, "name": proj.name,
                           "domain": domain_ref(s, proj.domain_id)}
        body["is_domain"] = False
    elif v.scope.domain is not None:
        body["domain"] = {"id": v.scope.domain.id, "name": v.scope.domain.name}
    if v.scope.roles:
        body["roles"] = [{"id": r.id, "name": r.name} for r in v.scope.roles]
    if with_catalog and p.scoped:
        body["catalog"] = catalog(s, p.project_id)
    return body


def context_of(token: str, v: Validated) -> AuthContext:
    return AuthContext(
        token=token, payload=v.payload, user_id=v.user.id, user_name=v.user.name,
        user_domain_id=v.user.domain_id, roles=frozenset(r.name for r in v.scope.roles),
    )
