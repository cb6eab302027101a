"""CRUD for the identity entities, one generic engine with a small hook set per kind.

Each :class:`Kind` names its table, JSON shape, schemas, list filters and the
hooks that carry its rules (unique names, parents that must exist, what a
delete takes with it). The engine gives every kind the same five routes:
``GET/POST /v3/<kind>`` and ``GET/HEAD/PATCH/DELETE /v3/<kind>/{id}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from identity import core, policy, schemas
from identity import models as m
from identity.api import projects, views
from identity.api.base import (
    IdentityState,
    authenticate,
    body_of,
    flag,
    json_response,
    no_content,
    shown,
    state,
)
from identity.errors import Conflict, Forbidden, NotFound, ValidationError

Hook = Callable[[Session, IdentityState, Any, dict[str, Any]], None]
# Turns the rows a list query found into the listed items (extra filters, views).
ListHook = Callable[[Session, IdentityState, Mapping[str, str], list[Any]],
                    list[dict[str, Any]]]
# Adds query-dependent parts to a shown item (given the caller's user id).
ShowHook = Callable[[Session, IdentityState, Any, Mapping[str, str], str], dict[str, Any]]


def _noop(s: Session, st: IdentityState, obj: Any, body: dict[str, Any]) -> None:
    return None


async def _no_prepare(st: IdentityState, body: dict[str, Any]) -> None:
    return None


def _no_show_extra(s: Session, st: IdentityState, obj: Any, query: Mapping[str, str],
                   user_id: str) -> dict[str, Any]:
    return {}


@dataclass
class Kind:
    collection: str
    member: str
    model: type[Any]
    view: Callable[[IdentityState, Any], dict[str, Any]]
    create_schema: dict[str, Any]
    update_schema: dict[str, Any]
    # Columns settable from the body; the rest of the body goes to ``extra``.
    columns: tuple[str, ...]
    filters: tuple[str, ...] = ("name",)
    # Runs before the transaction (e.g. password hashing, off the DB thread).
    prepare: Callable[[IdentityState, dict[str, Any]], Awaitable[None]] = _no_prepare
    before_create: Hook = _noop
    before_update: Hook = _noop
    before_delete: Hook = _noop
    policy_target: Callable[[Any], dict[str, Any]] = field(default=lambda obj: {})
    id_from_body: bool = False
    list_hook: ListHook | None = None
    show_extra: ShowHook = _no_show_extra

    def label(self) -> str:
        return self.member.replace("_", " ")

    @property
    def plural(self) -> str:
        """The plural in policy action names (``list_endpoint_groups``)."""
        return self.collection.rsplit("/", 1)[-1]


def _apply_body(kind: Kind, obj: Any, body: dict[str, Any]) -> None:
    extra = dict(getattr(obj, "extra", None) or {})
    for key, value in body.items():
        if key in kind.columns:
            setattr(obj, key, "" if value is None and key == "description" else value)
        elif key not in ("id", "links", "password", "domain_id", "is_domain", "options",
                         "parent_id"):
            if value is None:
                extra.pop(key, None)
            else:
                extra[key] = value
    obj.extra = extra


def _unique(s: Session, model: type[Any], obj: Any, what: str, **where: Any) -> None:
    q = select(model.id).where(*[getattr(model, k) == v for k, v in where.items()])
    existing = s.scalar(q.where(model.id != obj.id) if obj.id else q)
    if existing is not None:
        raise Conflict(f"Conflict occurred attempting to store {what} - "
                       f"Duplicate entry found with name {where.get('name')}.")


def _domain_of(s: Session, body: dict[str, Any]) -> str:
    domain_id = body.get("domain_id") or "default"
    if s.get(m.Domain, domain_id) is None:
        raise NotFound(f"Could not find domain: {domain_id}.")
    return str(domain_id)


# --- per-kind rules --------------------------------------------------------------


def domain_create(s: Session, st: IdentityState, d: m.Domain, body: dict[str, Any]) -> None:
    _unique(s, m.Domain, d, "domain", name=d.name)


def domain_delete(s: Session, st: IdentityState, d: m.Domain, body: dict[str, Any]) -> None:
    if d.enabled:
        raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
    for model in (m.Project, m.User, m.Group):
        for obj in s.scalars(select(model).where(model.domain_id == d.id)):
            _delete_actor_or_target(s, obj)
            s.delete(obj)
    _delete_actor_or_target(s, d)


def _delete_actor_or_target(s: Session, obj: Any) -> None:
    if isinstance(obj, m.Project | m.Domain):
        target = "project" if isinstance(obj, m.Project) else "domain"
        for model in (m.Assignment, m.InheritedAssignment):
            s.execute(delete(model).where(model.target_type == target,
                                          model.target_id == obj.id))
        if target == "project":
            s.execute(delete(m.ApplicationCredential).where(
                m.ApplicationCredential.project_id == obj.id))
            s.execute(delete(m.OAuthAccessToken).where(
                m.OAuthAccessToken.project_id == obj.id))
    elif isinstance(obj, m.User | m.Group):
        actor = "user" if isinstance(obj, m.User) else "group"
        for model in (m.Assignment, m.InheritedAssignment):
            s.execute(delete(model).where(model.actor_type == actor,
                                          model.actor_id == obj.id))
        col = m.Membership.user_id if actor == "user" else m.Membership.group_id
        s.execute(delete(m.Membership).where(col == obj.id))
        if actor == "user":
            s.execute(delete(m.Credential).where(m.Credential.user_id == obj.id))


def project_create(s: Session, st: IdentityState, p: m.Project, body: dict[str, Any]) -> None:
    projects.check_parent(s, p, body)
    parent = s.get(m.Project, body["parent_id"]) if body.get("parent_id") else None
    if parent is not None:
        p.domain_id = parent.domain_id
        p.parent_id = parent.id
    else:  # top level: the parent is the domain, given or default
        p.domain_id = _domain_of(s, {"domain_id": body.get("parent_id")
                                     or body.get("domain_id")})
        p.parent_id = None
    _unique(s, m.Project, p, "project", name=p.name, domain_id=p.domain_id)


def project_update(s: Session, st: IdentityState, p: m.Project, body: dict[str, Any]) -> None:
    projects.check_update(s, p, body)
    _unique(s, m.Project, p, "project", name=p.name, domain_id=p.domain_id)


def project_delete(s: Session, st: IdentityState, p: m.Project, body: dict[str, Any]) -> None:
    if s.scalar(select(m.Project.id).where(m.Project.parent_id == p.id).limit(1)):
        raise Forbidden(f"Cannot delete project {p.id}: it has child projects.")
    _delete_actor_or_target(s, p)


def user_create(s: Session, st: IdentityState, u: m.User, body: dict[str, Any]) -> None:
    u.domain_id = _domain_of(s, body)
    u.password_hash = body.get("_password_hash")
    _unique(s, m.User, u, "user", name=u.name, domain_id=u.domain_id)


def user_update(s: Session, st: IdentityState, u: m.User, body: dict[str, Any]) -> None:
    _unique(s, m.User, u, "user", name=u.name, domain_id=u.domain_id)
    if "_password_hash" in body:
        u.password_hash = body["_password_hash"]
        core.revoke(s, user_id=u.id, expiry_seconds=st.cfg.identity.token_expiration)
    if body.get("enabled") is False:
        core.revoke(s, user_id=u.id, expiry_seconds=st.cfg.identity.token_expiration)


async def hash_password(st: IdentityState, body: dict[str, Any]) -> None:
    password = body.pop("password", None)
    if password is not None:
        body["_password_hash"] = await st.passwords.hash_async(password)


def user_delete(s: Session, st: IdentityState, u: m.User, body: dict[str, Any]) -> None:
    _delete_actor_or_target(s, u)
    s.execute(delete(m.ApplicationCredential).where(m.ApplicationCredential.user_id == u.id))
    core.revoke(s, user_id=u.id, expiry_seconds=st.cfg.identity.token_expiration)


def group_create(s: Session, st: IdentityState, g: m.Group, body: dict[str, Any]) -> None:
    g.domain_id = _domain_of(s, body)
    _unique(s, m.Group, g, "group", name=g.name, domain_id=g.domain_id)


def group_update(s: Session, st: IdentityState, g: m.Group, body: dict[str, Any]) -> None:
    _unique(s, m.Group, g, "group", name=g.name, domain_id=g.domain_id)


def group_delete(s: Session, st: IdentityState, g: m.Group, body: dict[str, Any]) -> None:
    _delete_actor_or_target(s, g)


def role_unique(s: Session, st: IdentityState, r: m.Role, body: dict[str, Any]) -> None:
    _unique(s, m.Role, r, "role", name=r.name)


def region_create(s: Session, st: IdentityState, r: m.Region, body: dict[str, Any]) -> None:
    if s.get(m.Region, r.id) is not None:
        raise Conflict(f"Conflict occurred attempting to store region - Duplicate ID, {r.id}.")
    region_update(s, st, r, body)


def region_update(s: Session, st: IdentityState, r: m.Region, body: dict[str, Any]) -> None:
    parent = r.parent_region_id
    if parent and s.get(m.Region, parent) is None:
        raise ValidationError(f"Could not find region: {parent}.")
    if parent == r.id:
        raise ValidationError("A region cannot be its own parent.")


def region_delete(s: Session, st: IdentityState, r: m.Region, body: dict[str, Any]) -> None:
    if s.scalar(select(m.Region.id).where(m.Region.parent_region_id == r.id).limit(1)):
        raise Forbidden(f"Cannot delete region {r.id}: it has child regions.")


def endpoint_check(s: Session, st: IdentityState, e: m.Endpoint, body: dict[str, Any]) -> None:
    if s.get(m.Service, e.service_id) is None:
        raise ValidationError(f"Could not find service: {e.service_id}.")
    region = body.get("region_id") or body.get("region")
    if region is not None or "region_id" in body or "region" in body:
        e.region_id = region
    if e.region_id and s.get(m.Region, e.region_id) is None:
        s.add(m.Region(id=e.region_id, description=""))


KINDS: tuple[Kind, ...] = (
    Kind("domains", "domain", m.Domain, views.domain, schemas.DOMAIN_CREATE,
         schemas.DOMAIN_UPDATE, ("name", "description", "enabled", "tags"),
         filters=("name", "enabled"), before_create=domain_create,
         before_update=domain_create, before_delete=domain_delete,
         policy_target=lambda d: {"domain_id": d.id}, id_from_body=True),
    Kind("projects", "project", m.Project, views.project, schemas.PROJECT_CREATE,
         schemas.PROJECT_UPDATE, ("name", "description", "enabled", "tags"),
         filters=("name", "enabled", "domain_id", "parent_id"),
         before_create=project_create, before_update=project_update,
         before_delete=project_delete, policy_target=lambda p: {"project_id": p.id},
         list_hook=projects.list_projects, show_extra=projects.hierarchy),
    Kind("users", "user", m.User, views.user, schemas.USER_CREATE, schemas.USER_UPDATE,
         ("name", "enabled", "default_project_id"), filters=("name", "enabled", "domain_id"),
         prepare=hash_password, before_create=user_create, before_update=user_update,
         before_delete=user_delete, policy_target=lambda u: {"user_id": u.id}),
    Kind("groups", "group", m.Group, views.group, schemas.GROUP_CREATE, schemas.GROUP_UPDATE,
         ("name", "description"), filters=("name", "domain_id"), before_create=group_create,
         before_update=group_update, before_delete=group_delete),
    Kind("roles", "role", m.Role, views.role, schemas.ROLE_CREATE, schemas.ROLE_UPDATE,
         ("name", "description"), before_create=role_unique, before_update=role_unique),
    Kind("regions", "region", m.Region, views.region, schemas.REGION_CREATE,
         schemas.REGION_UPDATE, ("description", "parent_region_id"),
         filters=("parent_region_id",), before_create=region_create,
         before_update=region_update, before_delete=region_delete, id_from_body=True),
    Kind("services", "service", m.Service, views.service, schemas.SERVICE_CREATE,
         schemas.SERVICE_UPDATE, ("type", "name", "description", "enabled"),
         filters=("name", "type", "enabled")),
    Kind("endpoints", "endpoint", m.Endpoint, views.endpoint, schemas.ENDPOINT_CREATE,
         schemas.ENDPOINT_UPDATE, ("service_id", "interface", "url", "enabled"),
         filters=("interface", "service_id", "region_id", "enabled"),
         before_create=endpoint_check, before_update=endpoint_check),
)


# --- the engine ---------------------------------------------------------------------


def _filter_value(name: str, raw: str) -> Any:
    if name == "enabled":
        return flag(raw)
    return raw


def register(app: web.Application) -> None:
    for kind in KINDS:
        register_kind(app, kind)


def register_kind(app: web.Application, kind: Kind) -> None:
    base = f"/v3/{kind.collection}"

    async def list_(request: web.Request) -> web.Response:
        ctx = await authenticate(request)
        policy.enforce(f"list_{kind.plural}", ctx)
        st = state(request)
        conds = []
        for name in kind.filters:
            if name in request.query:
                conds.append(getattr(kind.model, name)
                             == _filter_value(name, request.query[name]))

        def run(s: Session) -> list[dict[str, Any]]:
            order = getattr(kind.model, "name", kind.model.id)
            rows = list(s.scalars(select(kind.model).where(*conds).order_by(order)))
            if kind.list_hook is not None:
                return kind.list_hook(s, st, request.query, rows)
            return [kind.view(st, r) for r in rows]

        items = await st.db.run(run)
        return json_response(views.collection(st, kind.collection, items,
                                              request.query_string))

    async def create(request: web.Request) -> web.Response:
        ctx = await authenticate(request)
        policy.enforce(f"create_{kind.member}", ctx)
        st = state(request)
        body = (await body_of(request, kind.create_schema))[kind.member]
        await kind.prepare(st, body)

        def run(s: Session) -> dict[str, Any]:
            obj = kind.model()
            obj.id = body["id"] if kind.id_from_body and body.get("id") else m.new_id()
            _apply_body(kind, obj, body)
            kind.before_create(s, st, obj, body)
            s.add(obj)
            s.flush()
            return kind.view(st, obj)

        return json_response({kind.member: await st.db.run(run)}, status=201)

    async def _load(request: web.Request, action: str) -> tuple[IdentityState, str]:
        ctx = await authenticate(request)
        st = state(request)
        ident = request.match_info["id"]
        obj = await st.db.run(lambda s: core.get_or_404(s, kind.model, ident, kind.label()))
        policy.enforce(f"{action}_{kind.member}", ctx, kind.policy_target(obj))
        return st, ident

    async def show(request: web.Request) -> web.Response:
        ctx = await authenticate(request)
        st = state(request)
        ident = request.match_info["id"]

        def run(s: Session) -> dict[str, Any]:
            obj = core.get_or_404(s, kind.model, ident, kind.label())
            policy.enforce(f"get_{kind.member}", ctx, kind.policy_target(obj))
            extra = kind.show_extra(s, st, obj, request.query, ctx.user_id)
            return {**kind.view(st, obj), **extra}

        return shown(request, kind.member, await st.db.run(run))

    async def update(request: web.Request) -> web.Response:
        st, ident = await _load(request, "update")
        body = (await body_of(request, kind.update_schema))[kind.member]
        await kind.prepare(st, body)

        def run(s: Session) -> dict[str, Any]:
            obj = core.get_or_404(s, kind.model, ident, kind.label())
            _apply_body(kind, obj, body)
            kind.before_update(s, st, obj, body)
            s.flush()
            return kind.view(st, obj)

        return json_response({kind.member: await st.db.run(run)})

    async def delete_(request: web.Request) -> web.Response:
        st, ident = await _load(request, "delete")

        def run(s: Session) -> None:
            obj = core.get_or_404(s, kind.model, ident, kind.label())
            kind.before_delete(s, st, obj, {})
            s.delete(obj)

        await st.db.run(run)
        return no_content()

    app.router.add_get(base, list_)
    app.router.add_post(base, create)
    app.router.add_get(base + "/{id}", show)  # aiohttp adds HEAD for GET routes
    app.router.add_patch(base + "/{id}", update)
    app.router.add_delete(base + "/{id}", delete_)

