"""Role grants, ``/v3/role_assignments``, group membership, a user's projects and
groups, and changing one's own password."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from identity import core, policy, schemas
from identity import models as m
from identity.api import views
from identity.api.base import (
    IdentityState,
    authenticate,
    body_of,
    flag,
    json_response,
    no_content,
    state,
)
from identity.errors import NotFound, Unauthorized

routes = web.RouteTableDef()

TARGETS = {"projects": ("project", m.Project), "domains": ("domain", m.Domain)}
ACTORS = {"users": ("user", m.User), "groups": ("group", m.Group)}


def _grant_parts(request: web.Request) -> tuple[str, str, str, str, str]:
    mi = request.match_info
    if mi["targets"] not in TARGETS or mi["actors"] not in ACTORS:
        raise NotFound("The resource could not be found.")
    return (TARGETS[mi["targets"]][0], mi["tid"], ACTORS[mi["actors"]][0], mi["aid"],
            mi.get("rid", ""))


def _check_exists(s: Session, target_type: str, tid: str, actor_type: str, aid: str,
                  rid: str) -> None:
    core.get_or_404(s, m.Project if target_type == "project" else m.Domain, tid, target_type)
    core.get_or_404(s, m.User if actor_type == "user" else m.Group, aid, actor_type)
    if rid:
        core.get_or_404(s, m.Role, rid, "role")


def _assignment(target_type: str, tid: str, actor_type: str, aid: str,
                rid: str) -> m.Assignment:
    return m.Assignment(actor_type=actor_type, actor_id=aid, target_type=target_type,
                        target_id=tid, role_id=rid)


GRANT = "/v3/{targets}/{tid}/{actors}/{aid}/roles/{rid}"


@routes.put(GRANT)
async def grant(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    policy.enforce("create_grant", ctx)
    tt, tid, at, aid, rid = _grant_parts(request)

    def run(s: Session) -> None:
        _check_exists(s, tt, tid, at, aid, rid)
        s.merge(_assignment(tt, tid, at, aid, rid))

    await state(request).db.run(run)
    return no_content()


@routes.get(GRANT)
async def check_grant(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    tt, tid, at, aid, rid = _grant_parts(request)
    policy.enforce("check_grant", ctx, {"user_id": aid if at == "user" else None})

    def run(s: Session) -> None:
        _check_exists(s, tt, tid, at, aid, rid)
        key = (at, aid, tt, tid, rid)
        if s.get(m.Assignment, key) is None:
            raise NotFound(f"Could not find role assignment with role: {rid}, "
                           f"{at}: {aid}, {tt}: {tid}.")

    await state(request).db.run(run)
    return no_content()


@routes.delete(GRANT)
async def revoke_grant(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    policy.enforce("revoke_grant", ctx)
    tt, tid, at, aid, rid = _grant_parts(request)
    st = state(request)

    def run(s: Session) -> None:
        _check_exists(s, tt, tid, at, aid, rid)
        obj = s.get(m.Assignment, (at, aid, tt, tid, rid))
        if obj is None:
            raise NotFound(f"Could not find role assignment with role: {rid}, "
                           f"{at}: {aid}, {tt}: {tid}.")
        s.delete(obj)

    await st.db.run(run)
    return no_content()


@routes.get("/v3/{targets}/{tid}/{actors}/{aid}/roles")
async def list_grants(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    tt, tid, at, aid, _ = _grant_parts(request)
    policy.enforce("list_grants", ctx, {"user_id": aid if at == "user" else None})
    st = state(request)

    def run(s: Session) -> list[dict[str, Any]]:
        _check_exists(s, tt, tid, at, aid, "")
        ids = s.scalars(select(m.Assignment.role_id).where(
            m.Assignment.actor_type == at, m.Assignment.actor_id == aid,
            m.Assignment.target_type == tt, m.Assignment.target_id == tid))
        roles = s.scalars(select(m.Role).where(m.Role.id.in_(set(ids))).order_by(m.Role.name))
        return [views.role(st, r) for r in roles]

    roles = await st.db.run(run)
    return json_response(views.collection(st, "roles", roles))


# --- /v3/role_assignments ---------------------------------------------------------


def _assignment_view(s: Session, st: IdentityState, a: m.Assignment, names: bool,
                     cache: dict[tuple[type[Any], str], Any], *, role_id: str | None = None,
                     user_id: str | None = None, membership: str | None = None,
                     prior_role: str | None = None) -> dict[str, Any]:
    def get(model: type[Any], ident: str) -> Any:
        key = (model, ident)
        if key not in cache:
            cache[key] = s.get(model, ident)
        return cache[key]

    rid = role_id or a.role_id
    target = "projects" if a.target_type == "project" else "domains"
    actor_type, actor_id = ("user", user_id) if user_id else (a.actor_type, a.actor_id)
    out: dict[str, Any] = {
        "role": {"id": rid},
        actor_type: {"id": actor_id},
        "scope": {a.target_type: {"id": a.target_id}},
        "links": {"assignment": "/".join([
            st.base_url, "v3", target, a.target_id, f"{a.actor_type}s", a.actor_id,
            "roles", a.role_id])},
    }
    if membership:
        out["links"]["membership"] = f"{st.base_url}/v3/groups/{membership}/users/{user_id}"
    if prior_role:
        out["links"]["prior_role"] = f"{st.base_url}/v3/roles/{prior_role}"
    if names:
        role = get(m.Role, rid)
        out["role"]["name"] = role.name if role else rid
        actor = get(m.User if actor_type == "user" else m.Group, actor_id)
        if actor is not None:
            out[actor_type]["name"] = actor.name
            dom = get(m.Domain, actor.domain_id)
            out[actor_type]["domain"] = {"id": actor.domain_id,
                                         "name": dom.name if dom else actor.domain_id}
        tgt = get(m.Project if a.target_type == "project" else m.Domain, a.target_id)
        if tgt is not None:
            out["scope"][a.target_type]["name"] = tgt.name
            if a.target_type == "project":
                dom = get(m.Domain, tgt.domain_id)
                out["scope"]["project"]["domain"] = {
                    "id": tgt.domain_id, "name": dom.name if dom else tgt.domain_id}
    return out


@routes.get("/v3/role_assignments")
async def role_assignments(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    q = request.query
    user_id = q.get("user.id")
    policy.enforce("list_role_assignments", ctx, {"user_id": user_id})
    effective = "effective" in q and flag(q["effective"] or "true")
    names = "include_names" in q and flag(q["include_names"] or "true")
    st = state(request)

    def run(s: Session) -> list[dict[str, Any]]:
        conds = []
        if q.get("scope.project.id"):
            conds += [m.Assignment.target_type == "project",
                      m.Assignment.target_id == q["scope.project.id"]]
        if q.get("scope.domain.id"):
            conds += [m.Assignment.target_type == "domain",
                      m.Assignment.target_id == q["scope.domain.id"]]
        if q.get("group.id"):
            conds += [m.Assignment.actor_type == "group",
                      m.Assignment.actor_id == q["group.id"]]
        rows = list(s.scalars(select(m.Assignment).where(*conds)))
        cache: dict[tuple[type[Any], str], Any] = {}
        out: list[dict[str, Any]] = []
        role_names = {r.id: r.name for r in s.scalars(select(m.Role))}
        role_ids = {v: k for k, v in role_names.items()}
        for a in rows:
            expanded: list[tuple[str, str | None]] = []  # (user id or None, group id)
            if effective and a.actor_type == "group":
                members = s.scalars(select(m.Membership.user_id).where(
                    m.Membership.group_id == a.actor_id))
                expanded = [(u, a.actor_id) for u in members]
            else:
                expanded = [(a.actor_id if a.actor_type == "user" else "", None)]
            for uid, via_group in expanded:
                if user_id and ((a.actor_type != "user" and not via_group) or uid != user_id):
                    continue
                roles: list[tuple[str, str | None]] = [(a.role_id, None)]
                if effective:
                    roles += [(role_ids[n], a.role_id)
                              for n in core.IMPLIED_ROLES.get(role_names.get(a.role_id, ""), ())
                              if n in role_ids]
                for rid, prior in roles:
                    if q.get("role.id") and rid != q["role.id"]:
                        continue
                    out.append(_assignment_view(
                        s, st, a, names, cache, role_id=rid,
                        user_id=uid if via_group else None, membership=via_group,
                        prior_role=prior))
        return out

    items = await st.db.run(run)
    return json_response(views.collection(st, "role_assignments", items, request.query_string))


# --- groups and users --------------------------------------------------------------


MEMBER = "/v3/groups/{gid}/users/{uid}"


def _membership_check(s: Session, gid: str, uid: str) -> None:
    core.get_or_404(s, m.Group, gid, "group")
    core.get_or_404(s, m.User, uid, "user")


@routes.put(MEMBER)
async def add_member(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    policy.enforce("add_user_to_group", ctx)
    gid, uid = request.match_info["gid"], request.match_info["uid"]

    def run(s: Session) -> None:
        _membership_check(s, gid, uid)
        s.merge(m.Membership(user_id=uid, group_id=gid))

    await state(request).db.run(run)
    return no_content()


@routes.get(MEMBER)
async def check_member(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    gid, uid = request.match_info["gid"], request.match_info["uid"]
    policy.enforce("check_user_in_group", ctx, {"user_id": uid})

    def run(s: Session) -> None:
        _membership_check(s, gid, uid)
        if s.get(m.Membership, (uid, gid)) is None:
            raise NotFound(f"User {uid} is not a member of group {gid}.")

    await state(request).db.run(run)
    return no_content()


@routes.delete(MEMBER)
async def remove_member(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    policy.enforce("remove_user_from_group", ctx)
    gid, uid = request.match_info["gid"], request.match_info["uid"]

    def run(s: Session) -> None:
        _membership_check(s, gid, uid)
        s.execute(delete(m.Membership).where(m.Membership.user_id == uid,
                                             m.Membership.group_id == gid))

    await state(request).db.run(run)
    return no_content()


@routes.get("/v3/groups/{gid}/users")
async def group_users(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    policy.enforce("list_users_in_group", ctx)
    gid = request.match_info["gid"]
    st = state(request)

    def run(s: Session) -> list[dict[str, Any]]:
        core.get_or_404(s, m.Group, gid, "group")
        ids = s.scalars(select(m.Membership.user_id).where(m.Membership.group_id == gid))
        users = s.scalars(select(m.User).where(m.User.id.in_(set(ids))).order_by(m.User.name))
        return [views.user(st, u) for u in users]

    return json_response(views.collection(st, "users", await st.db.run(run)))


@routes.get("/v3/users/{uid}/groups")
async def user_groups(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    uid = request.match_info["uid"]
    policy.enforce("list_user_groups", ctx, {"user_id": uid})
    st = state(request)

    def run(s: Session) -> list[dict[str, Any]]:
        core.get_or_404(s, m.User, uid, "user")
        ids = core.group_ids(s, uid)
        groups = s.scalars(select(m.Group).where(m.Group.id.in_(ids)).order_by(m.Group.name))
        return [views.group(st, g) for g in groups]

    return json_response(views.collection(st, "groups", await st.db.run(run)))


@routes.get("/v3/users/{uid}/projects")
async def user_projects(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    uid = request.match_info["uid"]
    policy.enforce("list_user_projects", ctx, {"user_id": uid})
    st = state(request)

    def run(s: Session) -> list[dict[str, Any]]:
        core.get_or_404(s, m.User, uid, "user")
        return [views.project(st, p) for p in core.projects_of(s, uid)]

    return json_response(views.collection(st, "projects", await st.db.run(run)))


@routes.post("/v3/users/{uid}/password")
async def change_password(request: web.Request) -> web.Response:
    """Change one's own password; needs the original. Revokes the user's tokens."""
    ctx = await authenticate(request)
    uid = request.match_info["uid"]
    policy.enforce("change_password", ctx, {"user_id": uid})
    st = state(request)
    body = (await body_of(request, schemas.PASSWORD_CHANGE))["user"]
    stored = await st.db.run(lambda s: core.get_or_404(s, m.User, uid, "user").password_hash)
    if not await st.passwords.verify_async(stored, body["original_password"]):
        raise Unauthorized("The original password is not correct.")
    new_hash = await st.passwords.hash_async(body["password"])

    def run(s: Session) -> None:
        user = core.get_or_404(s, m.User, uid, "user")
        user.password_hash = new_hash
        core.revoke(s, user_id=uid, expiry_seconds=st.cfg.identity.token_expiration)

    await st.db.run(run)
    return no_content()
