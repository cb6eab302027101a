"""Group membership, a user's groups and projects, and changing one's own password."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from identity import core, grants, policy, schemas
from identity import models as m
from identity.api import views
from identity.api.base import (
    authenticate,
    body_of,
    json_response,
    no_content,
    state,
)
from identity.errors import NotFound, Unauthorized

routes = web.RouteTableDef()

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
        ids = grants.group_ids(s, uid)
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
        return [views.project(st, p) for p in grants.projects_of(s, uid)]

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
