"""Role grants: on projects and domains (``/v3/{projects|domains}/{id}/{users|
groups}/{id}/roles/{role_id}``), on the system (``/v3/system/{users|groups}/{id}/
roles/{role_id}``) and OS-INHERIT's inherited grants (``/v3/OS-INHERIT/{domains|
projects}/{id}/{users|groups}/{id}/roles/{role_id}/inherited_to_projects``).

Each kind of grant is parsed from its path into one :class:`Grant`; the same
four handlers (grant, check, revoke, list) serve every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import appcreds, core, grants, policy
from identity import models as m
from identity.api import views
from identity.api.base import IdentityState, authenticate, json_response, no_content, state
from identity.errors import NotFound

TARGETS: dict[str, tuple[str, type[Any]]] = {
    "projects": ("project", m.Project), "domains": ("domain", m.Domain)}
ACTORS: dict[str, tuple[str, type[Any]]] = {
    "users": ("user", m.User), "groups": ("group", m.Group)}

DIRECT = "/v3/{targets}/{tid}/{actors}/{aid}/roles"
SYSTEM = "/v3/system/{actors}/{aid}/roles"
INHERITED = "/v3/OS-INHERIT/{targets}/{tid}/{actors}/{aid}/roles"
INHERITED_SUFFIX = "/inherited_to_projects"


@dataclass(frozen=True)
class Grant:
    inherited: bool
    target_type: str  # project | domain | system
    target_id: str
    actor_type: str  # user | group
    actor_id: str
    role_id: str = ""

    @property
    def model(self) -> type[m.Assignment] | type[m.InheritedAssignment]:
        return m.InheritedAssignment if self.inherited else m.Assignment

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.actor_type, self.actor_id, self.target_type, self.target_id,
                self.role_id)

    def row(self) -> m.Assignment | m.InheritedAssignment:
        return self.model(actor_type=self.actor_type, actor_id=self.actor_id,
                          target_type=self.target_type, target_id=self.target_id,
                          role_id=self.role_id)

    def action(self, verb: str) -> str:
        """The policy action: Keystone names system grants apart."""
        if self.target_type == "system":
            return f"{verb}_system_grant{'s' if verb == 'list' else ''}_for_{self.actor_type}"
        return f"{verb}_grant{'s' if verb == 'list' else ''}"


def link(st: IdentityState, g: Grant) -> str:
    """The URL of a grant (with its role): what ``links.assignment`` points at."""
    actor = f"{g.actor_type}s/{g.actor_id}/roles/{g.role_id}"
    if g.target_type == "system":
        return f"{st.base_url}/v3/system/{actor}"
    target = f"{g.target_type}s/{g.target_id}"
    if g.inherited:
        return f"{st.base_url}/v3/OS-INHERIT/{target}/{actor}{INHERITED_SUFFIX}"
    return f"{st.base_url}/v3/{target}/{actor}"


def parse(request: web.Request, inherited: bool = False) -> Grant:
    mi = request.match_info
    targets = mi.get("targets")
    if (targets is not None and targets not in TARGETS) or mi["actors"] not in ACTORS:
        raise NotFound("The resource could not be found.")
    target_type, target_id = ("system", grants.SYSTEM) if targets is None else (
        TARGETS[targets][0], mi["tid"])
    return Grant(inherited, target_type, target_id, ACTORS[mi["actors"]][0], mi["aid"],
                 mi.get("rid", ""))


def check_exists(s: Session, g: Grant) -> None:
    if g.target_type != "system":
        model = TARGETS[f"{g.target_type}s"][1]
        core.get_or_404(s, model, g.target_id, g.target_type)
    core.get_or_404(s, ACTORS[f"{g.actor_type}s"][1], g.actor_id, g.actor_type)
    if g.role_id:
        core.get_or_404(s, m.Role, g.role_id, "role")


def _missing(g: Grant) -> NotFound:
    return NotFound(f"Could not find role assignment with role: {g.role_id}, "
                    f"{g.actor_type}: {g.actor_id}, {g.target_type}: {g.target_id}"
                    f"{' (inherited to projects)' if g.inherited else ''}.")


def existing(s: Session, g: Grant) -> Any:
    """The stored grant; 404 when it (or its target, actor or role) is not there."""
    check_exists(s, g)
    row = s.get(g.model, g.key)
    if row is None:
        raise _missing(g)
    return row


def _target(g: Grant) -> dict[str, Any]:
    return {"user_id": g.actor_id if g.actor_type == "user" else None}


async def _allowed(request: web.Request, inherited: bool, verb: str) -> Grant:
    """The grant a request names, once the caller may ``verb`` it."""
    ctx = await authenticate(request)
    g = parse(request, inherited)
    policy.enforce(g.action(verb), ctx, _target(g))
    return g


def handlers(inherited: bool) -> tuple[Any, Any, Any, Any]:
    """grant, check, revoke and list handlers for one kind of grant."""

    async def grant(request: web.Request) -> web.Response:
        g = await _allowed(request, inherited, "create")

        def run(s: Session) -> None:
            check_exists(s, g)
            s.merge(g.row())

        await state(request).db.run(run)
        return no_content()

    async def check(request: web.Request) -> web.Response:
        g = await _allowed(request, inherited, "check")
        await state(request).db.run(lambda s: existing(s, g))
        return no_content()

    async def revoke(request: web.Request) -> web.Response:
        g = await _allowed(request, inherited, "revoke")

        def run(s: Session) -> None:
            s.delete(existing(s, g))
            if g.actor_type == "user" and g.target_type == "project" and not inherited:
                appcreds.forget_on_project(s, g.actor_id, g.target_id)

        await state(request).db.run(run)
        return no_content()

    async def list_(request: web.Request) -> web.Response:
        g = await _allowed(request, inherited, "list")
        st = state(request)

        def run(s: Session) -> list[dict[str, Any]]:
            check_exists(s, g)
            model = g.model
            ids = set(s.scalars(select(model.role_id).where(
                model.actor_type == g.actor_type, model.actor_id == g.actor_id,
                model.target_type == g.target_type, model.target_id == g.target_id)))
            roles = s.scalars(select(m.Role).where(m.Role.id.in_(ids)).order_by(m.Role.name))
            return [views.role(st, r) for r in roles]

        roles = await st.db.run(run)
        return json_response({"roles": roles, "links": {
            "self": st.base_url + request.path, "previous": None, "next": None}})

    return grant, check, revoke, list_


def register(app: web.Application) -> None:
    for base, suffix, inherited in ((SYSTEM, "", False), (INHERITED, INHERITED_SUFFIX, True),
                                    (DIRECT, "", False)):
        grant, check, revoke, list_ = handlers(inherited)
        member = base + "/{rid}" + suffix
        app.router.add_put(member, grant)
        app.router.add_get(member, check)  # and HEAD
        app.router.add_delete(member, revoke)
        app.router.add_get(base + suffix, list_)
