"""Volume transfers: ``/volume-transfers`` (3.55+) and the older ``/os-volume-transfer``.

Creating a transfer puts the volume in ``awaiting-transfer`` and answers the
``auth_key`` once (only a salted hash is stored). Another project accepts
it with that key: its quota is checked, the volume (and its snapshots) move
to it and the volume is ``available`` again. A wrong key is 400 and changes
nothing; deleting the transfer cancels it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore import quotas
from blockstore.api import views
from blockstore.api.base import caller, json_body, json_response, project_url, run, section, state
from blockstore.api.volumes import check_text, get_volume
from blockstore.errors import Invalid, NotFound
from blockstore.policy import Caller, check_write

routes = web.RouteTableDef()
PREFIXES = ("/v3/{project_id}/volume-transfers", "/v3/{project_id}/os-volume-transfer")


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}{key}".encode()).hexdigest()


def _get(s: Session, who: Caller, tid: str, *, any_project: bool = False) -> m.Transfer:
    tr = s.get(m.Transfer, tid)
    if tr is None or not (any_project or who.owns(tr.project_id)):
        raise NotFound(f"Transfer {tid} could not be found.")
    return tr


async def create(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    body = section(await json_body(request), "transfer")
    vid = body.get("volume_id")
    if not isinstance(vid, str):
        raise Invalid("Invalid input received: volume_id is required.")
    name = check_text(body, "name")
    no_snapshots = bool(body.get("no_snapshots", False))
    key = secrets.token_hex(8)

    def make(s: Session) -> dict[str, Any]:
        vol = get_volume(s, who, vid)
        if vol.status != "available":
            raise Invalid(f"Invalid volume: Status of volume {vid} must be available to "
                          f"transfer (it is {vol.status}).")
        salt = secrets.token_hex(8)
        tr = m.Transfer(id=m.new_id(), volume_id=vid, project_id=vol.project_id, name=name,
                        salt=salt, crypt_hash=_hash(salt, key), no_snapshots=no_snapshots)
        s.add(tr)
        vol.status = "awaiting-transfer"
        vol.updated_at = m.utcnow()
        s.flush()
        return views.transfer(tr, project_url(request), auth_key=key)

    return json_response({"transfer": await run(request, make)}, status=202)


async def accept(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    tid = request.match_info["transfer_id"]
    body = section(await json_body(request), "accept")
    key = body.get("auth_key")
    if not isinstance(key, str):
        raise Invalid("Invalid input received: auth_key is required.")
    st = state(request)

    def take(s: Session) -> dict[str, Any]:
        tr = _get(s, who, tid, any_project=True)
        if not hmac.compare_digest(_hash(tr.salt, key), tr.crypt_hash):
            raise Invalid(f"Invalid auth key: Attempt to transfer {tid} with invalid auth key.")
        vol = s.get(m.Volume, tr.volume_id)
        if vol is None:
            raise NotFound(f"Volume {tr.volume_id} could not be found.")
        if vol.status != "awaiting-transfer":
            raise Invalid(f"Invalid volume: Transfer {tid} failed: volume status is "
                          f"{vol.status}.")
        new_project = who.project_id or ""
        snaps = [] if tr.no_snapshots else list(s.scalars(select(m.Snapshot).where(
            m.Snapshot.volume_id == vol.id)))
        if tr.no_snapshots and s.scalar(select(m.Snapshot.id).where(
                m.Snapshot.volume_id == vol.id)) is not None:
            raise Invalid("Invalid volume: a volume with snapshots transfers with them.")
        if new_project != vol.project_id:
            quotas.check(s, st.cfg.blockstore, new_project, quotas.Delta(
                volumes=1, snapshots=len(snaps),
                gigabytes=vol.size + sum(sn.size for sn in snaps)))
        vol.project_id, vol.user_id = new_project, who.user_id
        for sn in snaps:
            sn.project_id, sn.user_id = new_project, who.user_id
        vol.status = "available"
        vol.updated_at = m.utcnow()
        out = {"id": tr.id, "name": tr.name, "volume_id": vol.id,
               "links": views.links(project_url(request), "os-volume-transfer", tr.id)}
        s.delete(tr)
        return out

    return json_response({"transfer": await run(request, take)}, status=202)


async def listing(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    everyone = who.is_admin and request.query.get("all_tenants", "0").lower() in ("1", "true")

    def rows(s: Session) -> list[dict[str, Any]]:
        stmt = select(m.Transfer).order_by(m.Transfer.created_at)
        if not everyone:
            stmt = stmt.where(m.Transfer.project_id == (who.project_id or ""))
        base = project_url(request)
        return [views.transfer(t, base) if detail else
                {"id": t.id, "name": t.name, "volume_id": t.volume_id,
                 "links": views.links(base, "os-volume-transfer", t.id)}
                for t in s.scalars(stmt)]

    return json_response({"transfers": await run(request, rows)})


async def index(request: web.Request) -> web.Response:
    return await listing(request, detail=False)


async def detail(request: web.Request) -> web.Response:
    return await listing(request, detail=True)


async def show(request: web.Request) -> web.Response:
    who = await caller(request)
    tid = request.match_info["transfer_id"]
    return json_response({"transfer": await run(
        request, lambda s: views.transfer(_get(s, who, tid), project_url(request)))})


async def delete(request: web.Request) -> web.Response:
    who = await caller(request)
    check_write(who)
    tid = request.match_info["transfer_id"]

    def cancel(s: Session) -> None:
        tr = _get(s, who, tid)
        vol = s.get(m.Volume, tr.volume_id)
        if vol is not None and vol.status == "awaiting-transfer":
            vol.status = "available"
            vol.updated_at = m.utcnow()
        s.delete(tr)

    await run(request, cancel)
    return web.Response(status=202)


for _prefix in PREFIXES:
    routes.post(_prefix)(create)
    routes.get(_prefix)(index)
    routes.get(_prefix + "/detail")(detail)
    routes.get(_prefix + "/{transfer_id}")(show)
    routes.delete(_prefix + "/{transfer_id}")(delete)
    routes.post(_prefix + "/{transfer_id}/accept")(accept)
