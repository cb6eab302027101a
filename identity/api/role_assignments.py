"""``GET /v3/role_assignments``: the grants as stored, or (``effective``) what they
give each user: group grants become their members', inherited grants become
grants on every project they reach, and implied roles are added."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from identity import grants, policy
from identity import models as m
from identity.api import views
from identity.api.base import IdentityState, authenticate, flag, json_response, state
from identity.api.grants import Grant, link
from identity.errors import ValidationError

INHERITED_TO = "scope.OS-INHERIT:inherited_to"


@dataclass(frozen=True)
class Entry:
    """One assignment as listed: a role of an actor on a scope, from ``source``."""

    source: Grant
    role_id: str
    actor_type: str
    actor_id: str
    scope_type: str
    scope_id: str
    membership: str | None = None  # the group a user has it through
    prior_role: str | None = None  # the role that implies it


@dataclass(frozen=True)
class Query:
    user_id: str | None
    group_id: str | None
    role_id: str | None
    project_id: str | None
    domain_id: str | None
    system: bool
    inherited_only: bool
    effective: bool
    names: bool
    subtree: bool

    @classmethod
    def parse(cls, q: Mapping[str, str]) -> Query:
        def on(name: str) -> bool:
            return name in q and flag(q[name] or "true")

        inherited_to = q.get(INHERITED_TO)
        if inherited_to is not None and inherited_to != "projects":
            raise ValidationError(f"{INHERITED_TO} only takes the value 'projects'.")
        query = cls(q.get("user.id") or None, q.get("group.id") or None,
                    q.get("role.id") or None, q.get("scope.project.id") or None,
                    q.get("scope.domain.id") or None, bool(q.get("scope.system")),
                    inherited_to is not None, on("effective"), on("include_names"),
                    on("include_subtree"))
        if query.effective and query.group_id:
            raise ValidationError("Combining effective and group filter will always "
                                  "result in an empty list.")
        if sum(map(bool, (query.project_id, query.domain_id, query.system))) > 1:
            raise ValidationError("Filter by one scope: a project, a domain or the system.")
        if query.subtree and not query.project_id:
            raise ValidationError("include_subtree needs scope.project.id.")
        return query


def stored(s: Session, q: Query) -> list[Grant]:
    """The stored grants that may contribute to the answer."""
    actors: list[tuple[str, str]] | None = None
    if q.user_id:
        actors = grants.actors(s, q.user_id) if q.effective else [("user", q.user_id)]
    elif q.group_id:
        actors = [("group", q.group_id)]
    out: list[Grant] = []
    kinds: tuple[tuple[grants.GrantModel, bool], ...] = (
        (m.Assignment, False), (m.InheritedAssignment, True))
    for model, inherited in kinds:
        query = select(model)
        if actors is not None:
            query = query.where(or_(*[(model.actor_type == t) & (model.actor_id == i)
                                      for t, i in actors]))
        rows: list[Any] = list(s.scalars(query))  # either model: the same columns
        for row in rows:
            out.append(Grant(inherited, row.target_type, row.target_id, row.actor_type,
                             row.actor_id, row.role_id))
    return out


def expand(s: Session, g: Grant, role_names: dict[str, str],
           role_ids: dict[str, str]) -> list[Entry]:
    """What a grant gives: per member of a group, per project an inherited grant
    reaches, per role it implies."""
    holders: list[tuple[str, str | None]]
    if g.actor_type == "group":
        members = s.scalars(select(m.Membership.user_id).where(
            m.Membership.group_id == g.actor_id).order_by(m.Membership.user_id))
        holders = [(uid, g.actor_id) for uid in members]
    else:
        holders = [(g.actor_id, None)]
    if not g.inherited:
        scopes = [(g.target_type, g.target_id)]
    elif g.target_type == "domain":
        scopes = [("project", p) for p in s.scalars(
            select(m.Project.id).where(m.Project.domain_id == g.target_id))]
    else:
        scopes = [("project", p.id) for p in grants.subtree(s, g.target_id)]
    implied = grants.IMPLIED_ROLES.get(role_names.get(g.role_id, ""), ())
    roles: list[tuple[str, str | None]] = [(g.role_id, None)]
    roles += [(role_ids[n], g.role_id) for n in implied if n in role_ids]
    return [Entry(g, rid, "user", uid, st, sid, via, prior)
            for uid, via in holders for st, sid in scopes for rid, prior in roles]


def matches(e: Entry, q: Query, projects: set[str] | None) -> bool:
    if q.user_id and (e.actor_type, e.actor_id) != ("user", q.user_id):
        return False
    if q.group_id and (e.actor_type, e.actor_id) != ("group", q.group_id):
        return False
    if q.role_id and e.role_id != q.role_id:
        return False
    if projects is not None and (e.scope_type != "project" or e.scope_id not in projects):
        return False
    if q.domain_id and (e.scope_type, e.scope_id) != ("domain", q.domain_id):
        return False
    if q.system and e.scope_type != "system":
        return False
    return not (q.inherited_only and not e.source.inherited)


class Names:
    """Names of the entities an answer mentions, each looked up once."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.cache: dict[tuple[type[Any], str], Any] = {}

    def get(self, model: type[Any], ident: str) -> Any:
        key = (model, ident)
        if key not in self.cache:
            self.cache[key] = self.s.get(model, ident)
        return self.cache[key]

    def domain(self, domain_id: str) -> dict[str, str]:
        dom = self.get(m.Domain, domain_id)
        return {"id": domain_id, "name": dom.name if dom else domain_id}


def render(st: IdentityState, e: Entry, names: Names | None, listed_raw: bool) -> dict[str, Any]:
    scope: dict[str, Any]
    if e.scope_type == "system":
        scope = {"system": {"all": True}}
    else:
        scope = {e.scope_type: {"id": e.scope_id}}
    if listed_raw and e.source.inherited:
        scope["OS-INHERIT:inherited_to"] = "projects"
    out: dict[str, Any] = {
        "role": {"id": e.role_id},
        e.actor_type: {"id": e.actor_id},
        "scope": scope,
        "links": {"assignment": link(st, e.source)},
    }
    if e.membership:
        out["links"]["membership"] = f"{st.base_url}/v3/groups/{e.membership}/users/{e.actor_id}"
    if e.prior_role:
        out["links"]["prior_role"] = f"{st.base_url}/v3/roles/{e.prior_role}"
    if names is not None:
        role = names.get(m.Role, e.role_id)
        out["role"]["name"] = role.name if role else e.role_id
        actor = names.get(m.User if e.actor_type == "user" else m.Group, e.actor_id)
        if actor is not None:
            out[e.actor_type]["name"] = actor.name
            out[e.actor_type]["domain"] = names.domain(actor.domain_id)
        if e.scope_type in ("project", "domain"):
            target = names.get(m.Project if e.scope_type == "project" else m.Domain, e.scope_id)
            if target is not None:
                scope[e.scope_type]["name"] = target.name
                if e.scope_type == "project":
                    scope["project"]["domain"] = names.domain(target.domain_id)
    return out


def list_assignments(s: Session, st: IdentityState, q: Query) -> list[dict[str, Any]]:
    projects: set[str] | None = None
    if q.project_id:
        projects = {q.project_id}
        if q.subtree:
            projects |= {p.id for p in grants.subtree(s, q.project_id)}
    role_names = {r.id: r.name for r in s.scalars(select(m.Role))}
    role_ids = {v: k for k, v in role_names.items()}
    entries: list[Entry] = []
    for g in stored(s, q):
        if q.effective:
            entries += expand(s, g, role_names, role_ids)
        else:
            entries.append(Entry(g, g.role_id, g.actor_type, g.actor_id, g.target_type,
                                 g.target_id))
    names = Names(s) if q.names else None
    return [render(st, e, names, not q.effective) for e in entries if matches(e, q, projects)]


async def role_assignments(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    q = Query.parse(request.query)
    policy.enforce("list_role_assignments", ctx, {"user_id": q.user_id})
    st = state(request)
    items = await st.db.run(lambda s: list_assignments(s, st, q))
    return json_response(views.collection(st, "role_assignments", items, request.query_string))


def register(app: web.Application) -> None:
    app.router.add_get("/v3/role_assignments", role_assignments)
