"""Admin → Identity (projects with their members' roles, users) and Quotas."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from common.errors import BadRequest
from dashboard.apis import q
from dashboard.session import Session
from dashboard.web import SESSION, act, apis, attempt, checkbox, field, form, render

routes = web.RouteTableDef()
PROJECTS, USERS, QUOTAS = "/admin/projects/", "/admin/users/", "/admin/quotas/"
CINDER_QUOTAS = ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes",
                 "per_volume_gigabytes")
NEUTRON_QUOTAS = ("network", "subnet", "port", "router", "floatingip", "security_group",
                  "security_group_rule")


@routes.get(PROJECTS)
async def projects(request: web.Request) -> web.Response:
    doc, error = await attempt(apis(request).identity.get("/projects"), {})
    items = sorted((doc or {}).get("projects", []), key=lambda p: p["name"].lower())
    return render(request, "admin/projects.html", title="Projects", projects=items,
                  error=error)


@routes.post(PROJECTS + "create")
async def create_project(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)

    async def work() -> None:
        await api.identity.post("/projects", {"project": {
            "name": field(data, "name", label="Name"),
            "description": field(data, "description", required=False),
            "domain_id": field(data, "domain_id", default="default", required=False),
            "enabled": checkbox(data, "enabled")}})

    return await act(request, PROJECTS, "The project was created.", work)


@routes.get(PROJECTS + "{project_id}")
async def project_members(request: web.Request) -> web.Response:
    api = apis(request)
    pid = request.match_info["project_id"]
    project = (await api.identity.get(f"/projects/{q(pid)}"))["project"]
    (assignments, error), (users, _), (roles, _) = await asyncio.gather(
        attempt(api.identity.get("/role_assignments", params={
            "scope.project.id": pid, "include_names": "true"}), {}),
        attempt(api.identity.get("/users"), {}), attempt(api.identity.get("/roles"), {}))
    return render(request, "admin/project.html", title=f"Project {project['name']}",
                  project=project, error=error,
                  assignments=(assignments or {}).get("role_assignments", []),
                  users=sorted((users or {}).get("users", []), key=lambda u: u["name"]),
                  roles=sorted((roles or {}).get("roles", []), key=lambda r: r["name"]))


def _grant(method: str, success: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        data = await form(request)
        api = apis(request)
        pid = request.match_info["project_id"]

        async def work() -> None:
            uid = field(data, "user_id", label="User")
            rid = field(data, "role_id", label="Role")
            path = f"/projects/{q(pid)}/users/{q(uid)}/roles/{q(rid)}"
            await api.identity.call(method, path)

        return await act(request, PROJECTS + pid, success, work)

    return handler


routes.post(PROJECTS + "{project_id}/grant")(_grant("PUT", "The role was granted."))
routes.post(PROJECTS + "{project_id}/revoke")(_grant("DELETE", "The role was revoked."))


# -- users ------------------------------------------------------------------------------


@routes.get(USERS)
async def users(request: web.Request) -> web.Response:
    api = apis(request)
    (doc, error), (projs, _), (roles, _) = await asyncio.gather(
        attempt(api.identity.get("/users"), {}), attempt(api.identity.get("/projects"), {}),
        attempt(api.identity.get("/roles"), {}))
    names = {p["id"]: p["name"] for p in (projs or {}).get("projects", [])}
    return render(request, "admin/users.html", title="Users",
                  users=sorted((doc or {}).get("users", []), key=lambda u: u["name"]),
                  projects=sorted(names.items(), key=lambda kv: kv[1].lower()), names=names,
                  roles=sorted((r["id"], r["name"]) for r in (roles or {}).get("roles", [])),
                  error=error)


@routes.post(USERS + "create")
async def create_user(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)

    async def work() -> None:
        password = field(data, "password", label="Password")
        if password != data.get("confirm"):
            raise BadRequest("The passwords do not match.")
        body: dict[str, Any] = {"name": field(data, "name", label="User name"),
                                "password": password, "enabled": checkbox(data, "enabled"),
                                "domain_id": "default"}
        email = field(data, "email", required=False)
        if email:
            body["email"] = email
        project = field(data, "project_id", required=False)
        if project:
            body["default_project_id"] = project
        user = (await api.identity.post("/users", {"user": body}))["user"]
        role = field(data, "role_id", required=False)
        if project and role:
            await api.identity.put(f"/projects/{q(project)}/users/{q(user['id'])}/roles/"
                                   f"{q(role)}")

    return await act(request, USERS, "The user was created.", work)


@routes.post(USERS + "{user_id}/password")
async def set_password(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    uid = request.match_info["user_id"]

    async def work() -> None:
        await api.identity.patch(f"/users/{q(uid)}", {"user": {
            "password": field(data, "password", label="New password")}}, "application/json")

    return await act(request, USERS, "The password was changed.", work)


# -- what projects and users share ------------------------------------------------------


def _set_enabled(kind: str, back: str) -> Any:
    """Enable or disable a project or a user (``kind``), as the form's checkbox says."""
    async def handler(request: web.Request) -> web.Response:
        data = await form(request)
        api = apis(request)
        rid = request.match_info["id"]
        enabled = checkbox(data, "enabled")

        async def work() -> None:
            await api.identity.patch(f"/{kind}s/{q(rid)}", {kind: {"enabled": enabled}},
                                     "application/json")

        return await act(request, back, f"The {kind} was "
                         f"{'enabled' if enabled else 'disabled'}.", work)

    return handler


def _delete(kind: str, back: str, refusal: str, own: Callable[[Session], str]) -> Any:
    """Delete a project or a user; never the one the session itself stands on."""
    async def handler(request: web.Request) -> web.Response:
        api = apis(request)
        rid = request.match_info["id"]

        async def work() -> None:
            if rid == own(request[SESSION]):
                raise BadRequest(refusal)
            await api.identity.delete(f"/{kind}s/{q(rid)}")

        return await act(request, back, f"The {kind} was deleted.", work)

    return handler


routes.post(PROJECTS + "{id}/enabled")(_set_enabled("project", PROJECTS))
routes.post(PROJECTS + "{id}/delete")(_delete(
    "project", PROJECTS, "You cannot delete the project you are working in.",
    lambda session: session.project.id))
routes.post(USERS + "{id}/enabled")(_set_enabled("user", USERS))
routes.post(USERS + "{id}/delete")(_delete(
    "user", USERS, "You cannot delete yourself.", lambda session: session.user_id))


# -- quotas -----------------------------------------------------------------------------


@routes.get(QUOTAS)
async def quotas(request: web.Request) -> web.Response:
    api = apis(request)
    session = request[SESSION]
    projs, error = await attempt(api.identity.get("/projects"), {})
    items = sorted((projs or {}).get("projects", []), key=lambda p: p["name"].lower())
    pid = request.query.get("project_id") or session.project.id
    jobs = [attempt(api.volume.get(f"/os-quota-sets/{q(pid)}") if api.has("volumev3")
                    else _empty(), {}),
            attempt(api.network.get(f"/quotas/{q(pid)}") if api.has("network")
                    else _empty(), {})]
    (cinder, cerror), (neutron, nerror) = await asyncio.gather(*jobs)
    volume = (cinder or {}).get("quota_set", {})
    network = (neutron or {}).get("quota", {})
    return render(request, "admin/quotas.html", title="Quotas", projects=items,
                  project_id=pid, error=error or cerror or nerror,
                  volume=[(k, volume.get(k)) for k in CINDER_QUOTAS if k in volume],
                  network=[(k, network.get(k)) for k in NEUTRON_QUOTAS if k in network])


async def _empty() -> dict[str, Any]:
    return {}


@routes.post(QUOTAS + "{project_id}")
async def set_quotas(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    pid = request.match_info["project_id"]

    def values(keys: tuple[str, ...], prefix: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for key in keys:
            text = str(data.get(prefix + key, "")).strip()
            if not text:
                continue
            try:
                out[key] = int(text)
            except ValueError:
                raise BadRequest(f"Quota {key} must be a whole number (-1: unlimited).") \
                    from None
        return out

    async def work() -> None:
        volume, network = values(CINDER_QUOTAS, "volume_"), values(NEUTRON_QUOTAS, "network_")
        if volume:
            await api.volume.put(f"/os-quota-sets/{q(pid)}", {"quota_set": volume})
        if network:
            await api.network.put(f"/quotas/{q(pid)}", {"quota": network})

    return await act(request, f"{QUOTAS}?project_id={q(pid)}", "The quotas were changed.",
                     work)
