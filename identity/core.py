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

from identity import grants
from identity import models as m
from identity.catalog import catalog
from identity.errors import Forbidden, NotFound, TokenNotFound, Unauthorized, ValidationError
from identity.tokens import TokenCodec, TokenPayload, new_audit_id

# Token payload extras naming what a token was delegated through.
APP_CRED = "ac"
OAUTH = "oa"

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
    # A token from an application credential that is not ``unrestricted``.
    restricted_app_cred: bool = False

    @property
    def project_id(self) -> str | None:
        return self.payload.project_id

    @property
    def domain_id(self) -> str | None:
        return self.payload.domain_id

    @property
    def system_scope(self) -> bool:
        return self.payload.system is not None

    @property
    def delegated(self) -> bool:
        """Issued through an application credential or an OAuth access token."""
        return APP_CRED in self.payload.extras or OAUTH in self.payload.extras

    @property
    def is_admin(self) -> bool:
        """The admin role on any scope: system admin, and (Keystone's legacy
        default) a project or domain admin too."""
        return "admin" in self.roles

    @property
    def is_system_reader(self) -> bool:
        """Any role on the system (reader is implied by member and admin)."""
        return self.system_scope and "reader" in self.roles


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
    system: bool = False


def unscoped() -> ScopeInfo:
    return ScopeInfo(None, None, [])


def resolve_scope(s: Session, user: m.User, scope: Any) -> ScopeInfo:
    """Check a requested scope ({"project": …} | {"domain": …} | {"system": {"all":
    true}} | None) for a user."""
    if scope is None or scope == "unscoped":
        return unscoped()
    if not isinstance(scope, dict):
        raise Unauthorized("The scope of the request is not valid.")
    if len([k for k in ("project", "domain", "system") if k in scope]) > 1:
        raise ValidationError("Specify one of a project, a domain or the system as scope.")
    if "project" in scope:
        ref = scope["project"]
        if not isinstance(ref, dict):
            raise Unauthorized("The project scope is not valid.")
        proj = find_project(s, ref)
        dom = s.get(m.Domain, proj.domain_id)
        if not proj.enabled or dom is None or not dom.enabled:
            raise Unauthorized(f"Project {proj.id} is disabled.")
        roles = grants.effective_roles(s, grants.role_ids_on(s, user.id, "project", proj.id))
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
        roles = grants.effective_roles(s, grants.role_ids_on(s, user.id, "domain", dom.id))
        if not roles:
            raise Unauthorized(f"User {user.id} has no access to domain {dom.id}.")
        return ScopeInfo(None, dom, roles)
    if "system" in scope:
        ref = scope["system"]
        if not isinstance(ref, dict) or ref.get("all") is not True:
            raise Unauthorized('The only system scope is {"all": true}.')
        roles = grants.effective_roles(
            s, grants.role_ids_on(s, user.id, "system", grants.SYSTEM))
        if not roles:
            raise Unauthorized(f"User {user.id} has no access to the system.")
        return ScopeInfo(None, None, roles, system=True)
    raise Unauthorized("The scope of the request is not valid.")


def delegated_scope(s: Session, user: m.User, project_id: str,
                    role_ids: list[str]) -> ScopeInfo:
    """The project scope of a delegation (application credential, OAuth access
    token): its roles that the user still holds on the project, or Unauthorized."""
    info = resolve_scope(s, user, {"project": {"id": project_id}})
    held = {r.id for r in info.roles}
    roles = sorted((r for r in s.scalars(select(m.Role).where(m.Role.id.in_(role_ids)))
                    if r.id in held), key=lambda r: r.name)
    if not roles:
        raise Unauthorized("The user no longer holds the delegated roles on the project.")
    return ScopeInfo(info.project, None, roles)


def check_user_usable(s: Session, user: m.User) -> None:
    dom = s.get(m.Domain, user.domain_id)
    if not user.enabled or dom is None or not dom.enabled:
        raise Unauthorized("The account is disabled.")


def new_payload(
    user_id: str, methods: list[str], scope: ScopeInfo, lifetime: int,
    parent: TokenPayload | None = None, extras: dict[str, str] | None = None,
    not_after: datetime | None = None,
) -> TokenPayload:
    """A new token's payload; it expires after ``lifetime`` seconds, and never
    after its parent token or ``not_after`` (a delegation's own expiry)."""
    now = time.time()
    expires = now + lifetime
    if not_after is not None:
        expires = min(expires, not_after.replace(tzinfo=UTC).timestamp())
    audit_ids: tuple[str, ...] = (new_audit_id(),)
    if parent is not None:
        expires = min(expires, parent.expires_at)
        audit_ids = (audit_ids[0], parent.audit_ids[-1])
    return TokenPayload(
        user_id=user_id, methods=tuple(methods), issued_at=now, expires_at=expires,
        audit_ids=audit_ids,
        project_id=scope.project.id if scope.project else None,
        domain_id=scope.domain.id if scope.domain else None,
        system=grants.SYSTEM if scope.system else None,
        extras=dict(extras or {}),
    )


@dataclass
class Validated:
    payload: TokenPayload
    user: m.User
    scope: ScopeInfo
    app_cred: m.ApplicationCredential | None = None
    oauth: m.OAuthAccessToken | None = None


def _live(row: Any, what: str) -> Any:
    """A delegation row that still exists and has not expired, else Unauthorized."""
    if row is None:
        raise Unauthorized(f"The {what} no longer exists.")
    if row.expires_at is not None and row.expires_at <= naive(time.time()):
        raise Unauthorized(f"The {what} has expired.")
    return row


def live_app_cred(s: Session, app_cred_id: str) -> m.ApplicationCredential:
    cred: m.ApplicationCredential = _live(s.get(m.ApplicationCredential, app_cred_id),
                                          "application credential")
    return cred


def live_access_token(s: Session, access_token_id: str) -> m.OAuthAccessToken:
    token: m.OAuthAccessToken = _live(s.get(m.OAuthAccessToken, access_token_id),
                                      "OAuth access token")
    return token


def validate(s: Session, codec: TokenCodec, token: str) -> Validated:
    """Everything a token means right now, or TokenNotFound."""
    payload = codec.decode(token)
    if is_revoked(s, payload):
        raise TokenNotFound("The token has been revoked.")
    user = s.get(m.User, payload.user_id)
    if user is None:
        raise TokenNotFound("The token's user no longer exists.")
    app_cred: m.ApplicationCredential | None = None
    oauth: m.OAuthAccessToken | None = None
    try:
        check_user_usable(s, user)
        if APP_CRED in payload.extras:
            app_cred = live_app_cred(s, payload.extras[APP_CRED])
            scope = delegated_scope(s, user, app_cred.project_id, app_cred.role_ids)
        elif OAUTH in payload.extras:
            oauth = live_access_token(s, payload.extras[OAUTH])
            scope = delegated_scope(s, user, oauth.project_id, oauth.role_ids)
        elif payload.project_id:
            scope = resolve_scope(s, user, {"project": {"id": payload.project_id}})
        elif payload.domain_id:
            scope = resolve_scope(s, user, {"domain": {"id": payload.domain_id}})
        elif payload.system:
            scope = resolve_scope(s, user, {"system": {"all": True}})
        else:
            scope = unscoped()
    except (Unauthorized, NotFound) as exc:
        raise TokenNotFound(f"The token is no longer valid: {exc.message}") from None
    return Validated(payload, user, scope, app_cred, oauth)


def check_rescope(v: Validated, requested: ScopeInfo) -> None:
    """A scoped token may only be exchanged for a token of the same scope; an
    OAuth-derived one not at all (the consumer asks with its access token)."""
    if v.oauth is not None:
        raise Forbidden("A token issued through OAuth cannot be exchanged for another "
                        "token; authenticate with the access token again.")
    if not v.payload.scoped:
        return
    p = v.payload
    same = ((requested.project is not None and requested.project.id == p.project_id)
            or (requested.domain is not None and requested.domain.id == p.domain_id)
            or (requested.system and p.system is not None))
    if not same:
        raise Forbidden("A scoped token cannot be rescoped to another scope.")


def domain_ref(s: Session, domain_id: str) -> dict[str, str]:
    dom = s.get(m.Domain, domain_id)
    return {"id": domain_id, "name": dom.name if dom else domain_id}


def access_rules_of(s: Session, app_cred_id: str) -> list[m.AccessRule]:
    return list(s.scalars(select(m.AccessRule).join(
        m.ApplicationCredentialAccessRule,
        m.ApplicationCredentialAccessRule.access_rule_id == m.AccessRule.id)
        .where(m.ApplicationCredentialAccessRule.app_cred_id == app_cred_id)
        .order_by(m.AccessRule.id)))


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
    elif v.scope.system:
        body["system"] = {"all": True}
    if v.scope.roles:
        body["roles"] = [{"id": r.id, "name": r.name} for r in v.scope.roles]
    if v.app_cred is not None:
        cred: dict[str, Any] = {"id": v.app_cred.id, "name": v.app_cred.name,
                                "restricted": not v.app_cred.unrestricted}
        rules = access_rules_of(s, v.app_cred.id)
        if rules:
            cred["access_rules"] = [{"id": r.id, "service": r.service, "method": r.method,
                                     "path": r.path} for r in rules]
        body["application_credential"] = cred
    if v.oauth is not None:
        body["OS-OAUTH1"] = {"access_token_id": v.oauth.id, "consumer_id": v.oauth.consumer_id}
    if with_catalog and p.scoped:
        body["catalog"] = catalog(s, p.project_id)
    return body


def context_of(token: str, v: Validated) -> AuthContext:
    return AuthContext(
        token=token, payload=v.payload, user_id=v.user.id, user_name=v.user.name,
        user_domain_id=v.user.domain_id, roles=frozenset(r.name for r in v.scope.roles),
        restricted_app_cred=v.app_cred is not None and not v.app_cred.unrestricted,
    )
