"""OS-EP-FILTER: endpoint groups (``/v3/OS-EP-FILTER/endpoint_groups``, on the
generic CRUD engine), and which endpoints, directly or through groups, a
project's catalog shows (``identity.catalog`` applies them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import catalog, core, policy, schemas
from identity import models as m
from identity.api import views
from identity.api.base import (
    IdentityState,
    authenticate,
    json_response,
    no_content,
    shown,
    state,
)
from identity.api.resources import Kind, register_kind
from identity.errors import NotFound, ValidationError

BASE = "/v3/OS-EP-FILTER"
INTERFACES = ("public", "internal", "admin")


def group_view(st: IdentityState, g: m.EndpointGroup) -> dict[str, Any]:
    return {**g.extra, "id": g.id, "name": g.name, "description": g.description,
            "filters": dict(g.filters), "links": st.link("OS-EP-FILTER", "endpoint_groups", g.id)}


def check_filters(s: Session, st: IdentityState, g: m.EndpointGroup,
                  body: dict[str, Any]) -> None:
    """Filters are on an endpoint's service_id, region_id and interface only."""
    bad = sorted(set(g.filters) - set(catalog.GROUP_FILTERS))
    if bad:
        raise ValidationError(f"Invalid endpoint group filter(s): {', '.join(bad)}; filters "
                              f"are {', '.join(catalog.GROUP_FILTERS)}.")
    if not all(isinstance(v, str) for v in g.filters.values()):
        raise ValidationError("Endpoint group filter values are strings.")
    if "interface" in g.filters and g.filters["interface"] not in INTERFACES:
        raise ValidationError(f"Invalid interface {g.filters['interface']!r} in the filters.")


ENDPOINT_GROUPS = Kind(
    "OS-EP-FILTER/endpoint_groups", "endpoint_group", m.EndpointGroup, group_view,
    schemas.ENDPOINT_GROUP_CREATE, schemas.ENDPOINT_GROUP_UPDATE,
    ("name", "description", "filters"), before_create=check_filters,
    before_update=check_filters)


def _list(st: IdentityState, request: web.Request, key: str,
          items: list[dict[str, Any]]) -> web.Response:
    return json_response({key: items, "links": {"self": st.base_url + request.path,
                                                "previous": None, "next": None}})


async def _enforce(request: web.Request, action: str) -> IdentityState:
    ctx = await authenticate(request)
    policy.enforce(action, ctx)
    return state(request)


# --- project <-> endpoint -------------------------------------------------------------

PROJECT_ENDPOINT = BASE + "/projects/{pid}/endpoints/{eid}"


def _project_endpoint(s: Session, request: web.Request) -> tuple[str, str]:
    pid, eid = request.match_info["pid"], request.match_info["eid"]
    core.get_or_404(s, m.Project, pid, "project")
    core.get_or_404(s, m.Endpoint, eid, "endpoint")
    return pid, eid


async def add_endpoint(request: web.Request) -> web.Response:
    st = await _enforce(request, "add_endpoint_to_project")

    def run(s: Session) -> None:
        pid, eid = _project_endpoint(s, request)
        s.merge(m.ProjectEndpoint(project_id=pid, endpoint_id=eid))

    await st.db.run(run)
    return no_content()


def _association(s: Session, request: web.Request) -> m.ProjectEndpoint:
    pid, eid = _project_endpoint(s, request)
    row = s.get(m.ProjectEndpoint, (eid, pid))
    if row is None:
        raise NotFound(f"Endpoint {eid} is not associated with project {pid}.")
    return row


async def check_endpoint(request: web.Request) -> web.Response:
    st = await _enforce(request, "check_endpoint_in_project")
    await st.db.run(lambda s: _association(s, request))
    return no_content()


async def remove_endpoint(request: web.Request) -> web.Response:
    st = await _enforce(request, "remove_endpoint_from_project")
    await st.db.run(lambda s: s.delete(_association(s, request)))
    return no_content()


# --- endpoint group <-> project -------------------------------------------------------

GROUP_PROJECT = BASE + "/endpoint_groups/{gid}/projects/{pid}"


def _group_project(s: Session, request: web.Request) -> tuple[str, m.Project]:
    gid, pid = request.match_info["gid"], request.match_info["pid"]
    core.get_or_404(s, m.EndpointGroup, gid, "endpoint group")
    return gid, core.get_or_404(s, m.Project, pid, "project")


async def add_group_project(request: web.Request) -> web.Response:
    st = await _enforce(request, "add_endpoint_group_to_project")

    def run(s: Session) -> None:
        gid, project = _group_project(s, request)
        s.merge(m.ProjectEndpointGroup(endpoint_group_id=gid, project_id=project.id))

    await st.db.run(run)
    return no_content()


def _group_association(s: Session, request: web.Request) -> tuple[m.ProjectEndpointGroup,
                                                                  m.Project]:
    gid, project = _group_project(s, request)
    row = s.get(m.ProjectEndpointGroup, (gid, project.id))
    if row is None:
        raise NotFound(f"Endpoint group {gid} is not associated with project {project.id}.")
    return row, project


async def show_group_project(request: web.Request) -> web.Response:
    st = await _enforce(request, "get_endpoint_group_in_project")
    project = await st.db.run(lambda s: views.project(st, _group_association(s, request)[1]))
    return shown(request, "project", project)


async def remove_group_project(request: web.Request) -> web.Response:
    st = await _enforce(request, "remove_endpoint_group_from_project")
    await st.db.run(lambda s: s.delete(_group_association(s, request)[0]))
    return no_content()


# --- the listings ---------------------------------------------------------------------

Items = Callable[[Session, IdentityState, Mapping[str, str]], list[dict[str, Any]]]


def lister(action: str, key: str, items: Items) -> Callable[[web.Request],
                                                           Awaitable[web.Response]]:
    """A GET handler answering ``{key: items(...), "links": ...}``."""
    async def handler(request: web.Request) -> web.Response:
        st = await _enforce(request, action)
        mi = dict(request.match_info)
        return _list(st, request, key, await st.db.run(lambda s: items(s, st, mi)))

    return handler


def _projects(s: Session, st: IdentityState, link: Any, where: Any) -> list[dict[str, Any]]:
    rows = s.scalars(select(m.Project).join(link, link.project_id == m.Project.id)
                     .where(where).order_by(m.Project.name))
    return [views.project(st, p) for p in rows]


def project_endpoints(s: Session, st: IdentityState,
                      mi: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every endpoint a project's catalog shows, directly or through groups."""
    core.get_or_404(s, m.Project, mi["pid"], "project")
    ids = catalog.project_endpoint_ids(s, mi["pid"])
    rows = s.scalars(select(m.Endpoint).where(m.Endpoint.id.in_(ids)).order_by(m.Endpoint.id))
    return [views.endpoint(st, e) for e in rows]


def endpoint_projects(s: Session, st: IdentityState,
                      mi: Mapping[str, str]) -> list[dict[str, Any]]:
    core.get_or_404(s, m.Endpoint, mi["eid"], "endpoint")
    return _projects(s, st, m.ProjectEndpoint, m.ProjectEndpoint.endpoint_id == mi["eid"])


def group_projects(s: Session, st: IdentityState,
                   mi: Mapping[str, str]) -> list[dict[str, Any]]:
    core.get_or_404(s, m.EndpointGroup, mi["gid"], "endpoint group")
    return _projects(s, st, m.ProjectEndpointGroup,
                     m.ProjectEndpointGroup.endpoint_group_id == mi["gid"])


def group_endpoints(s: Session, st: IdentityState,
                    mi: Mapping[str, str]) -> list[dict[str, Any]]:
    group = core.get_or_404(s, m.EndpointGroup, mi["gid"], "endpoint group")
    return [views.endpoint(st, e) for e in catalog.endpoints_matching(s, group.filters)]


def project_groups(s: Session, st: IdentityState,
                   mi: Mapping[str, str]) -> list[dict[str, Any]]:
    core.get_or_404(s, m.Project, mi["pid"], "project")
    rows = s.scalars(select(m.EndpointGroup).join(
        m.ProjectEndpointGroup, m.ProjectEndpointGroup.endpoint_group_id == m.EndpointGroup.id)
        .where(m.ProjectEndpointGroup.project_id == mi["pid"]).order_by(m.EndpointGroup.name))
    return [group_view(st, g) for g in rows]


def register(app: web.Application) -> None:
    r = app.router
    r.add_put(PROJECT_ENDPOINT, add_endpoint)
    r.add_get(PROJECT_ENDPOINT, check_endpoint)  # and HEAD
    r.add_delete(PROJECT_ENDPOINT, remove_endpoint)
    r.add_get(BASE + "/projects/{pid}/endpoints",
              lister("list_endpoints_for_project", "endpoints", project_endpoints))
    r.add_get(BASE + "/projects/{pid}/endpoint_groups",
              lister("list_endpoint_groups_for_project", "endpoint_groups", project_groups))
    r.add_get(BASE + "/endpoints/{eid}/projects",
              lister("list_projects_for_endpoint", "projects", endpoint_projects))
    r.add_put(GROUP_PROJECT, add_group_project)
    r.add_get(GROUP_PROJECT, show_group_project)  # and HEAD
    r.add_delete(GROUP_PROJECT, remove_group_project)
    r.add_get(BASE + "/endpoint_groups/{gid}/projects", lister(
        "list_projects_associated_with_endpoint_group", "projects", group_projects))
    r.add_get(BASE + "/endpoint_groups/{gid}/endpoints", lister(
        "list_endpoints_associated_with_endpoint_group", "endpoints", group_endpoints))
    register_kind(app, ENDPOINT_GROUPS)
