"""What projects have beyond the generic CRUD engine: project tags
(``/v3/projects/{id}/tags[/{tag}]`` and the ``tags``, ``tags-any``, ``not-tags``,
``not-tags-any`` filters), the hierarchy (``parent_id``, ``subtree_as_*``,
``parents_as_*``), and domains listed as projects acting as domains
(``is_domain=true``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import jsonschema
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import core, grants, policy, schemas
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
from identity.errors import Forbidden, NotFound, ValidationError

routes = web.RouteTableDef()

MAX_TAGS = 80
# Keystone's default [DEFAULT] max_project_tree_depth.
MAX_DEPTH = 5
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


# --- filters -------------------------------------------------------------------------


def tag_filter(query: Mapping[str, str]) -> Callable[[list[str]], bool]:
    """Keystone's tag filters: ``tags`` (has all), ``tags-any`` (has one),
    ``not-tags`` (lacks at least one), ``not-tags-any`` (has none); comma-separated."""
    wanted = {name: {t for t in query[name].split(",") if t} for name in TAG_FILTERS
              if name in query}

    def ok(tags: list[str]) -> bool:
        have = set(tags)
        if "tags" in wanted and not wanted["tags"] <= have:
            return False
        if "tags-any" in wanted and not wanted["tags-any"] & have:
            return False
        if "not-tags" in wanted and wanted["not-tags"] <= have:
            return False
        return not ("not-tags-any" in wanted and wanted["not-tags-any"] & have)

    return ok


def domain_as_project(st: IdentityState, d: m.Domain) -> dict[str, Any]:
    """A domain shown as the project acting as it (``is_domain``)."""
    return {"id": d.id, "name": d.name, "domain_id": None, "description": d.description,
            "enabled": d.enabled, "is_domain": True, "parent_id": None,
            "tags": list(d.tags), "options": {}, "links": st.link("projects", d.id)}


def list_projects(s: Session, st: IdentityState, query: Mapping[str, str],
                  rows: list[m.Project]) -> list[dict[str, Any]]:
    """The rows the generic filters left, through the tag and is_domain filters."""
    ok = tag_filter(query)
    if "is_domain" in query and flag(query["is_domain"] or "true"):
        domains = s.scalars(select(m.Domain).order_by(m.Domain.name))
        name = query.get("name")
        return [domain_as_project(st, d) for d in domains
                if ok(list(d.tags)) and (name is None or d.name == name)]
    return [views.project(st, p) for p in rows if ok(list(p.tags))]


# --- the hierarchy -----------------------------------------------------------------


def _nested(ids: list[str]) -> dict[str, Any] | None:
    out: dict[str, Any] | None = None
    for ident in reversed(ids):
        out = {ident: out}
    return out


def _subtree_ids(s: Session, project_id: str) -> dict[str, Any] | None:
    children = s.scalars(select(m.Project.id).where(m.Project.parent_id == project_id)
                         .order_by(m.Project.id))
    tree = {c: _subtree_ids(s, c) for c in children}
    return tree or None


def hierarchy(s: Session, st: IdentityState, p: m.Project, query: Mapping[str, str],
              user_id: str) -> dict[str, Any]:
    """``parents``/``subtree`` of a project shown with ``*_as_ids`` (every id, nested)
    or ``*_as_list`` (the projects the caller has a role on)."""
    out: dict[str, Any] = {}
    for kind in ("parents", "subtree"):
        as_ids, as_list = f"{kind}_as_ids" in query, f"{kind}_as_list" in query
        if as_ids and as_list:
            raise ValidationError(f"Cannot use {kind}_as_list and {kind}_as_ids query "
                                  "params at the same time.")
        if not (as_ids or as_list):
            continue
        if kind == "parents":
            related = grants.ancestors(s, p)
        else:
            related = grants.subtree(s, p.id)
        if as_list:
            mine = {x.id for x in grants.projects_of(s, user_id)}
            out[kind] = [{"project": views.project(st, x)} for x in related if x.id in mine]
        elif kind == "parents":
            out[kind] = _nested([x.id for x in related] + [p.domain_id])
        else:
            out[kind] = _subtree_ids(s, p.id)
    return out


def check_parent(s: Session, p: m.Project, body: dict[str, Any]) -> None:
    """A new project's place: under an existing parent in the same domain, no
    deeper than Keystone's limit."""
    parent_id = body.get("parent_id")
    if body.get("is_domain"):
        raise ValidationError("Projects acting as domains are created as domains "
                              "(POST /v3/domains).")
    if not parent_id:
        return
    parent = s.get(m.Project, parent_id)
    if parent is None:
        if s.get(m.Domain, parent_id) is not None:  # the domain itself is the parent
            return
        raise NotFound(f"Could not find project: {parent_id}.")
    if body.get("domain_id") and body["domain_id"] != parent.domain_id:
        raise ValidationError("The project's domain_id differs from its parent's domain.")
    if len(grants.ancestors(s, parent)) + 2 > MAX_DEPTH:
        raise Forbidden(f"Max hierarchy depth reached for {parent_id} branch.")


def check_update(s: Session, p: m.Project, body: dict[str, Any]) -> None:
    if body.get("domain_id", p.domain_id) != p.domain_id:
        raise ValidationError("Cannot change the domain of a project.")
    if body.get("is_domain", False):
        raise ValidationError("Cannot change is_domain of a project.")
    if "parent_id" in body and body["parent_id"] not in (p.parent_id or p.domain_id,
                                                         p.parent_id):
        raise Forbidden("Update of parent_id is not allowed.")


# --- tags ------------------------------------------------------------------------------

TAGS = "/v3/projects/{pid}/tags"


async def _project(request: web.Request, action: str) -> tuple[IdentityState, str]:
    ctx = await authenticate(request)
    pid = request.match_info["pid"]
    st = state(request)
    await st.db.run(lambda s: core.get_or_404(s, m.Project, pid, "project"))
    policy.enforce(action, ctx, {"project_id": pid})
    return st, pid


def _tags_body(st: IdentityState, pid: str, tags: list[str]) -> dict[str, Any]:
    return {"tags": tags, "links": st.link("projects", pid, "tags")}


def _valid_tag(tag: str) -> None:
    try:
        jsonschema.validate(tag, schemas.TAG)
    except jsonschema.ValidationError:
        raise ValidationError(f"Invalid project tag {tag!r}: tags are 1 to 255 "
                              "characters and contain no ',' or '/'.") from None


@routes.get(TAGS)
async def list_tags(request: web.Request) -> web.Response:
    st, pid = await _project(request, "list_project_tags")
    tags = await st.db.run(lambda s: list(core.get_or_404(s, m.Project, pid, "project").tags))
    if request.method == "HEAD":
        return web.Response(status=200)
    return json_response(_tags_body(st, pid, tags))


@routes.put(TAGS)
async def replace_tags(request: web.Request) -> web.Response:
    st, pid = await _project(request, "update_project_tags")
    tags = (await body_of(request, schemas.PROJECT_TAGS))["tags"]

    def run(s: Session) -> list[str]:
        project = core.get_or_404(s, m.Project, pid, "project")
        project.tags = list(tags)
        return list(project.tags)

    return json_response(_tags_body(st, pid, await st.db.run(run)))


@routes.delete(TAGS)
async def delete_tags(request: web.Request) -> web.Response:
    st, pid = await _project(request, "delete_project_tags")

    def run(s: Session) -> None:
        core.get_or_404(s, m.Project, pid, "project").tags = []

    await st.db.run(run)
    return no_content()


@routes.get(TAGS + "/{tag}")
async def check_tag(request: web.Request) -> web.Response:
    st, pid = await _project(request, "get_project_tag")
    tag = request.match_info["tag"]
    tags = await st.db.run(lambda s: list(core.get_or_404(s, m.Project, pid, "project").tags))
    if tag not in tags:
        raise NotFound(f"Tag {tag} was not found on project {pid}.")
    return no_content()


@routes.put(TAGS + "/{tag}")
async def add_tag(request: web.Request) -> web.Response:
    st, pid = await _project(request, "create_project_tag")
    tag = request.match_info["tag"]
    _valid_tag(tag)

    def run(s: Session) -> list[str]:
        project = core.get_or_404(s, m.Project, pid, "project")
        if tag not in project.tags:
            if len(project.tags) >= MAX_TAGS:
                raise ValidationError(f"A project has at most {MAX_TAGS} tags.")
            project.tags = [*project.tags, tag]
        return list(project.tags)

    tags = await st.db.run(run)
    location = "/".join([st.base_url, "v3", "projects", pid, "tags", quote(tag, safe="")])
    return json_response(_tags_body(st, pid, tags), status=201,
                         headers={"Location": location})


@routes.delete(TAGS + "/{tag}")
async def delete_tag(request: web.Request) -> web.Response:
    st, pid = await _project(request, "delete_project_tag")
    tag = request.match_info["tag"]

    def run(s: Session) -> None:
        project = core.get_or_404(s, m.Project, pid, "project")
        if tag not in project.tags:
            raise NotFound(f"Tag {tag} was not found on project {pid}.")
        project.tags = [t for t in project.tags if t != tag]

    await st.db.run(run)
    return no_content()
