"""Snapshots: create (force for in-use volumes), list, detail, show, update, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore import quotas
from blockstore.api import views
from blockstore.api.base import (
    caller,
    json_body,
    json_response,
    limit_param,
    offset_param,
    page,
    project_url,
    run,
    section,
    state,
)
from blockstore.api.volumes import check_metadata, check_text, get_volume
from blockstore.errors import Invalid
from blockstore.policy import Caller, check_visible, check_write

routes = web.RouteTableDef()
V = "/v3/{project_id}"


def get_snapshot(s: Session, who: Caller, sid: str) -> m.Snapshot:
    snap = s.get(m.Snapshot, sid)
    check_visible(who, snap.project_id if snap else None, "Snapshot", sid)
    assert snap is not None
    return snap


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


@routes.post(V + "/snapshots")
async def create(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    st = state(request)
    body = section(await json_body(request), "snapshot")
    vid = body.get("volume_id")
    if not isinstance(vid, str):
        raise Invalid("Invalid input received: volume_id is required.")
    force = _bool(body.get("force", False))
    name = check_text(body, "name") or check_text(body, "display_name")
    description = check_text(body, "description", 65535)
    metadata = check_metadata(body.get("metadata"))

    def make(s: Session) -> dict[str, Any]:
        vol = get_volume(s, who, vid)
        allowed = ("available", "in-use") if force else ("available",)
        if vol.status not in allowed:
            raise Invalid(f"Invalid volume: Volume {vid} status must be "
                          f"{' or '.join(allowed)} (it is {vol.status}); use force to "
                          "snapshot a volume in use.")
        quotas.check(s, st.cfg.blockstore, vol.project_id,
                     quotas.Delta(snapshots=1, gigabytes=vol.size))
        snap = m.Snapshot(id=m.new_id(), volume_id=vid, project_id=vol.project_id,
                          user_id=who.user_id, name=name, description=description,
                          size=vol.size, status="creating", metadata_=metadata)
        s.add(snap)
        s.flush()
        return views.snapshot(snap, project_url(request))

    view = await run(request, make)
    st.manager.spawn(st.manager.create_snapshot(view["id"], vid))
    return json_response({"snapshot": view}, status=202)


async def _listing(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    q = request.query
    limit = limit_param(request)
    offset = offset_param(request)

    def listing(s: Session) -> dict[str, Any]:
        stmt = select(m.Snapshot).order_by(m.Snapshot.created_at.desc(), m.Snapshot.id)
        if not (who.is_admin and q.get("all_tenants", "0").lower() in ("1", "true")):
            stmt = stmt.where(m.Snapshot.project_id == (who.project_id or ""))
        for key, col in (("status", m.Snapshot.status), ("name", m.Snapshot.name),
                         ("volume_id", m.Snapshot.volume_id)):
            if key in q:
                stmt = stmt.where(col == q[key])
        base = project_url(request)
        return page(request, "snapshots", list(s.scalars(stmt)),
                    lambda r: views.snapshot(r, base) if detail else
                    {k: v for k, v in views.snapshot(r, base).items()
                     if k in ("id", "name", "description", "volume_id", "size", "status",
                              "created_at", "updated_at", "metadata")},
                    limit=limit, marker=q.get("marker"), offset=offset)

    return json_response(await run(request, listing))


@routes.get(V + "/snapshots")
async def index(request: web.Request) -> web.Response:
    return await _listing(request, detail=False)


@routes.get(V + "/snapshots/detail")
async def detail(request: web.Request) -> web.Response:
    return await _listing(request, detail=True)


@routes.get(V + "/snapshots/{snapshot_id}")
async def show(request: web.Request) -> web.Response:
    who = await caller(request)
    sid = request.match_info["snapshot_id"]
    return json_response({"snapshot": await run(
        request, lambda s: views.snapshot(get_snapshot(s, who, sid), project_url(request)))})


@routes.put(V + "/snapshots/{snapshot_id}")
async def update(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    sid = request.match_info["snapshot_id"]
    body = section(await json_body(request), "snapshot")

    def upd(s: Session) -> dict[str, Any]:
        snap = get_snapshot(s, who, sid)
        if "name" in body or "display_name" in body:
            snap.name = check_text(body, "name" if "name" in body else "display_name")
        if "description" in body:
            snap.description = check_text(body, "description", 65535)
        if "metadata" in body:
            snap.metadata_ = check_metadata(body["metadata"])
        snap.updated_at = m.utcnow()
        return views.snapshot(snap, project_url(request))

    return json_response({"snapshot": await run(request, upd)})


@routes.delete(V + "/snapshots/{snapshot_id}")
async def delete(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    sid = request.match_info["snapshot_id"]

    def begin(s: Session) -> None:
        snap = get_snapshot(s, who, sid)
        if snap.status not in ("available", "error", "error_deleting"):
            raise Invalid(f"Invalid snapshot: Snapshot status must be available or error "
                          f"(it is {snap.status}).")
        snap.status = "deleting"

    await run(request, begin)
    st = state(request)
    st.manager.spawn(st.manager.delete_snapshot(sid))
    return web.Response(status=202)


@routes.get(V + "/snapshots/{snapshot_id}/metadata")
async def metadata(request: web.Request) -> web.Response:
    who = await caller(request)
    sid = request.match_info["snapshot_id"]
    return json_response({"metadata": await run(
        request, lambda s: dict(get_snapshot(s, who, sid).metadata_ or {}))})
