"""Who holds which roles where: grants to a user or its groups on a project, a
domain or the system; OS-INHERIT grants, which reach every project below a
domain or project; the project hierarchy they follow; and implied roles.

Functions take a ``Session`` and run in the database thread; no HTTP here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from identity import models as m
from identity.errors import NotFound

SYSTEM = "all"  # the one system target Keystone knows

# Roles that imply others, as Keystone's bootstrap sets up: admin > member > reader.
IMPLIED_ROLES: dict[str, tuple[str, ...]] = {
    "admin": ("member", "reader"),
    "member": ("reader",),
}

GrantModel = type[m.Assignment] | type[m.InheritedAssignment]


def group_ids(s: Session, user_id: str) -> list[str]:
    return list(s.scalars(select(m.Membership.group_id).where(m.Membership.user_id == user_id)))


def actors(s: Session, user_id: str) -> list[tuple[str, str]]:
    """The user and each of its groups, as (actor_type, actor_id)."""
    return [("user", user_id)] + [("group", g) for g in group_ids(s, user_id)]


def held_by(s: Session, user_id: str,
            model: GrantModel = m.Assignment) -> ColumnElement[bool]:
    """Grants whose actor is the user or one of the user's groups."""
    return or_(*[(model.actor_type == t) & (model.actor_id == i)
                 for t, i in actors(s, user_id)])


# --- the project hierarchy -------------------------------------------------------


def ancestors(s: Session, project: m.Project) -> list[m.Project]:
    """The project's parents, nearest first, up to its top-level project."""
    out: list[m.Project] = []
    seen = {project.id}
    parent_id = project.parent_id
    while parent_id and parent_id not in seen:
        parent = s.get(m.Project, parent_id)
        if parent is None:
            break
        out.append(parent)
        seen.add(parent.id)
        parent_id = parent.parent_id
    return out


def subtree(s: Session, project_id: str) -> list[m.Project]:
    """Every project below ``project_id``, breadth first."""
    out: list[m.Project] = []
    frontier = [project_id]
    seen = {project_id}
    while frontier:
        children = list(s.scalars(select(m.Project).where(m.Project.parent_id.in_(frontier))
                                  .order_by(m.Project.name)))
        children = [c for c in children if c.id not in seen]
        seen.update(c.id for c in children)
        out += children
        frontier = [c.id for c in children]
    return out


def inherited_sources(s: Session, project: m.Project) -> list[tuple[str, str]]:
    """The (target_type, target_id) whose inherited grants reach ``project``: its
    domain and every project above it."""
    return [("domain", project.domain_id)] + [("project", a.id) for a in ancestors(s, project)]


def _targets(model: GrantModel, targets: Iterable[tuple[str, str]]) -> ColumnElement[bool]:
    return or_(*[(model.target_type == t) & (model.target_id == i) for t, i in targets])


# --- roles ---------------------------------------------------------------------------


def role_ids_on(s: Session, user_id: str, target_type: str, target_id: str) -> set[str]:
    """Roles granted to the user, directly or through groups, on one target; on a
    project, with those inherited from its domain and the projects above it."""
    direct = set(s.scalars(select(m.Assignment.role_id).where(
        m.Assignment.target_type == target_type, m.Assignment.target_id == target_id,
        held_by(s, user_id))))
    if target_type != "project":
        return direct
    project = s.get(m.Project, target_id)
    if project is None:
        return direct
    inherited = s.scalars(select(m.InheritedAssignment.role_id).where(
        _targets(m.InheritedAssignment, inherited_sources(s, project)),
        held_by(s, user_id, m.InheritedAssignment)))
    return direct | set(inherited)


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


def find_role(s: Session, ref: dict[str, Any]) -> m.Role:
    """A role by ``{"id"}`` or ``{"name"}``; 404 when there is none."""
    if "id" in ref:
        role = s.get(m.Role, str(ref["id"]))
    else:
        role = s.scalar(select(m.Role).where(m.Role.name == str(ref["name"])))
    if role is None:
        raise NotFound(f"Could not find role: {ref.get('id', ref.get('name'))}.")
    return role


def effective_role_ids_on_project(s: Session, user_id: str, project_id: str) -> set[str]:
    return {r.id for r in effective_roles(s, role_ids_on(s, user_id, "project", project_id))}


def projects_of(s: Session, user_id: str) -> list[m.Project]:
    """Projects on which the user has any role: directly, through a group, or
    inherited from a domain or a project above."""
    ids = set(s.scalars(select(m.Assignment.target_id).where(
        m.Assignment.target_type == "project", held_by(s, user_id))))
    for target_type, target_id in s.execute(
            select(m.InheritedAssignment.target_type, m.InheritedAssignment.target_id)
            .where(held_by(s, user_id, m.InheritedAssignment)).distinct()):
        if target_type == "domain":
            ids.update(s.scalars(select(m.Project.id).where(m.Project.domain_id == target_id)))
        else:
            ids.update(p.id for p in subtree(s, target_id))
    if not ids:
        return []
    q = select(m.Project).where(m.Project.id.in_(ids)).order_by(m.Project.name)
    return list(s.scalars(q))


def domains_of(s: Session, user_id: str) -> list[m.Domain]:
    ids = set(s.scalars(select(m.Assignment.target_id).where(
        m.Assignment.target_type == "domain", held_by(s, user_id))))
    if not ids:
        return []
    return list(s.scalars(select(m.Domain).where(m.Domain.id.in_(ids)).order_by(m.Domain.name)))


def has_system_role(s: Session, user_id: str) -> bool:
    return bool(role_ids_on(s, user_id, "system", SYSTEM))
