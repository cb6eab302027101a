"""``/os-keypairs``: a user's key pairs: import, generate (below 2.92), list (paged from
2.35), show, delete; ``type`` from 2.2, admins naming another ``user_id`` from 2.10.
Rules in :mod:`compute.core.keypairs`."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from compute import models as m
from compute import quotas
from compute.api import fields
from compute.api.base import (
    Routes,
    caller,
    json_body,
    json_response,
    next_link,
    query_int,
    run,
    section,
    state,
    version,
    writer,
)
from compute.api.views import iso_micro
from compute.core import keypairs
from compute.core.requests import check_keys
from compute.errors import Invalid
from compute.policy import Caller, check_admin

routes = Routes()


def _user(request: web.Request, who: Caller, given: Any = None) -> str:
    """Whose key pairs: the caller's, or (admins, 2.10+) the ``user_id`` asked for."""
    wanted = given if given is not None else request.query.get("user_id")
    if wanted is None or version(request).minor < 10:
        return who.user_id
    if not isinstance(wanted, str) or not wanted:
        raise Invalid(f"Invalid input for field/attribute user_id. Value: {wanted}.")
    if wanted != who.user_id:
        check_admin(who, "os_compute_api:os-keypairs:index")
    return wanted


def _values(row: m.KeyPair) -> dict[str, Any]:
    return {"name": row.name, "public_key": row.public_key, "fingerprint": row.fingerprint,
            "user_id": row.user_id, "type": row.type, "deleted": False,
            "created_at": iso_micro(row.created_at), "updated_at": iso_micro(row.updated_at),
            "deleted_at": None, "id": row.id}


@routes.get("/os-keypairs")
async def list_keypairs(request: web.Request) -> web.Response:
    who = await caller(request)
    minor = version(request).minor
    user = _user(request, who)
    limit = query_int(request, "limit") if minor >= 35 else None
    marker = request.query.get("marker") if minor >= 35 else None
    rows, more = await run(request, lambda s: keypairs.listing(s, user, limit=limit,
                                                               marker=marker))
    body: dict[str, Any] = {"keypairs": [
        {"keypair": fields.KEYPAIR_LISTED.render(_values(r), minor)} for r in rows]}
    if more and rows:
        body["keypairs_links"] = next_link(request, "os-keypairs", rows[-1].name)
    return json_response(body)


@routes.get("/os-keypairs/{name}")
async def show_keypair(request: web.Request) -> web.Response:
    who = await caller(request)
    user = _user(request, who)
    name = request.match_info["name"]
    row = await run(request, lambda s: keypairs.get(s, user, name))
    return json_response({"keypair": fields.KEYPAIR.render(_values(row),
                                                           version(request).minor)})


@routes.post("/os-keypairs")
async def create_keypair(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-keypairs:create")
    minor = version(request).minor
    body = section(await json_body(request), "keypair")
    allowed = {"name", "public_key"} | ({"type"} if minor >= 2 else set()) | \
        ({"user_id"} if minor >= 10 else set())
    check_keys(body, allowed)
    name = keypairs.check_name(body.get("name"), relaxed=minor >= 92)
    key_type = body.get("type", "ssh")
    if key_type not in keypairs.TYPES:
        raise Invalid(f"Invalid input for field/attribute type. Value: {key_type}. "
                      f"{key_type!r} is not one of ['ssh', 'x509']")
    user = _user(request, who, body.get("user_id"))
    public = body.get("public_key")
    private = None
    if public is None:
        if minor >= 92:
            raise Invalid("Invalid input for field/attribute keypair. 'public_key' is a "
                          "required property")
        if key_type != "ssh":
            raise Invalid("This cloud generates ssh key pairs only; import an x509 "
                          "certificate with public_key.")
        made = await asyncio.to_thread(keypairs.generate, name, user)
        public, private = made.public_key, made.private_key
    elif not isinstance(public, str) or not public.strip():
        raise Invalid("Keypair data is invalid: failed to generate fingerprint")
    cfg = state(request).cfg.compute

    def add(s: Session) -> dict[str, Any]:
        quotas.check_key_pairs(s, cfg, who.project_id or "", user)
        return _values(keypairs.create(s, user, name, public.strip(), key_type))

    values = await run(request, add)
    if private is not None:
        values["private_key"] = private
    return json_response({"keypair": fields.KEYPAIR_CREATED.render(values, minor)},
                         status=201 if minor >= 2 else 200)


@routes.delete("/os-keypairs/{name}")
async def delete_keypair(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-keypairs:delete")
    user = _user(request, who)
    name = request.match_info["name"]
    await run(request, lambda s: keypairs.delete(s, user, name))
    return web.Response(status=204 if version(request).minor >= 2 else 202)
