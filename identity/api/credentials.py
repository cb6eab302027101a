"""``/v3/credentials`` and the OS-EC2 calls (``openstack ec2 credentials …``).

Blobs are stored encrypted with the credential keys; an EC2 credential's id is
the SHA-256 of its access key, as in Keystone, and the same hash is kept as its
lookup key (``access_hash``), which follows the access key when a PATCH changes
it, so a signature check finds the credential without a scan.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import core, grants, policy, schemas
from identity import models as m
from identity.api import views
from identity.api.auth import ec2_credential_id, find_ec2
from identity.api.base import (
    IdentityState,
    authenticate,
    body_of,
    json_response,
    no_content,
    state,
)
from identity.errors import Conflict, Forbidden, NotFound, ValidationError

routes = web.RouteTableDef()


def _blob(st: IdentityState, c: m.Credential) -> str:
    return st.credential_crypto.decrypt(c.encrypted_blob.encode()).decode()


def _seal(st: IdentityState, blob: str) -> str:
    return st.credential_crypto.encrypt(blob.encode()).decode()


def credential_view(st: IdentityState, c: m.Credential) -> dict[str, Any]:
    return {"id": c.id, "type": c.type, "blob": _blob(st, c), "user_id": c.user_id,
            "project_id": c.project_id, "links": st.link("credentials", c.id)}


# What an EC2 credential is bound to; a PATCH may change its keys but not these.
LOCKED_BLOB_KEYS = ("trust_id", "app_cred_id", "access_token_id")


def _ec2_blob(blob: str) -> dict[str, Any]:
    try:
        data = json.loads(blob)
    except json.JSONDecodeError:
        raise ValidationError("An ec2 credential blob must be a JSON object.") from None
    if not isinstance(data, dict) or not data.get("access") or not data.get("secret"):
        raise ValidationError("An ec2 credential blob needs 'access' and 'secret'.")
    return data


def _ec2_id(blob: str) -> str:
    return ec2_credential_id(str(_ec2_blob(blob)["access"]))


def _free_access_key(s: Session, access_hash: str, own_id: str | None = None) -> None:
    taken = s.scalar(select(m.Credential.id).where(m.Credential.access_hash == access_hash))
    if taken is not None and taken != own_id:
        raise Conflict("An ec2 credential with that access key already exists.")


def _check_project_access(s: Session, user_id: str, project_id: str | None,
                          admin: bool) -> None:
    if not project_id:
        raise ValidationError("An ec2 credential needs a project_id.")
    core.get_or_404(s, m.Project, project_id, "project")
    if not admin and not grants.role_ids_on(s, user_id, "project", project_id):
        raise Forbidden(f"User {user_id} has no role on project {project_id}.")


@routes.post("/v3/credentials")
async def create_credential(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    body = (await body_of(request, schemas.CREDENTIAL_CREATE))["credential"]
    policy.enforce("create_credential", ctx, {"user_id": body["user_id"]})
    st = state(request)

    def run(s: Session) -> dict[str, Any]:
        core.get_or_404(s, m.User, body["user_id"], "user")
        access_hash = None
        if body["type"] == "ec2":
            ident = access_hash = _ec2_id(body["blob"])
            _check_project_access(s, body["user_id"], body.get("project_id"), ctx.is_admin)
            if s.get(m.Credential, ident) is not None:
                raise Conflict("An ec2 credential with that access key already exists.")
            _free_access_key(s, access_hash)
        else:
            ident = m.new_id()
        cred = m.Credential(id=ident, user_id=body["user_id"], type=body["type"],
                            project_id=body.get("project_id"), access_hash=access_hash,
                            encrypted_blob=_seal(st, body["blob"]), extra={})
        s.add(cred)
        s.flush()
        return credential_view(st, cred)

    return json_response({"credential": await st.db.run(run)}, status=201)


@routes.get("/v3/credentials")
async def list_credentials(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    policy.enforce("list_credentials", ctx)
    st = state(request)
    q = request.query

    def run(s: Session) -> list[dict[str, Any]]:
        conds = []
        if not (ctx.is_admin or ctx.is_system_reader):
            conds.append(m.Credential.user_id == ctx.user_id)
        if q.get("user_id"):
            conds.append(m.Credential.user_id == q["user_id"])
        if q.get("type"):
            conds.append(m.Credential.type == q["type"])
        rows = s.scalars(select(m.Credential).where(*conds).order_by(m.Credential.id))
        return [credential_view(st, c) for c in rows]

    return json_response(views.collection(st, "credentials", await st.db.run(run),
                                          request.query_string))


async def _own_credential(request: web.Request, action: str) -> tuple[IdentityState, str]:
    ctx = await authenticate(request)
    st = state(request)
    cid = request.match_info["cid"]
    owner = await st.db.run(
        lambda s: core.get_or_404(s, m.Credential, cid, "credential").user_id)
    policy.enforce(action, ctx, {"user_id": owner})
    return st, cid


@routes.get("/v3/credentials/{cid}")
async def get_credential(request: web.Request) -> web.Response:
    st, cid = await _own_credential(request, "get_credential")
    view = await st.db.run(
        lambda s: credential_view(st, core.get_or_404(s, m.Credential, cid, "credential")))
    return json_response({"credential": view})


@routes.patch("/v3/credentials/{cid}")
async def update_credential(request: web.Request) -> web.Response:
    st, cid = await _own_credential(request, "update_credential")
    body = (await body_of(request, schemas.CREDENTIAL_UPDATE))["credential"]

    def run(s: Session) -> dict[str, Any]:
        cred = core.get_or_404(s, m.Credential, cid, "credential")
        old_type = cred.type
        if "type" in body:
            cred.type = body["type"]
        if "blob" in body:
            if cred.type == "ec2":
                new = _ec2_blob(body["blob"])
                old = json.loads(_blob(st, cred)) if old_type == "ec2" else {}
                for key in LOCKED_BLOB_KEYS:
                    if new.get(key) != old.get(key):
                        raise ValidationError(f"{key} can not be updated for credential.")
                access_hash = ec2_credential_id(str(new["access"]))
                _free_access_key(s, access_hash, cred.id)
                cred.access_hash = access_hash
            cred.encrypted_blob = _seal(st, body["blob"])
        if cred.type == "ec2" and old_type != "ec2" and "blob" not in body:
            raise ValidationError("Making a credential an ec2 credential needs its blob.")
        if cred.type != "ec2":
            cred.access_hash = None
        if "project_id" in body:
            cred.project_id = body["project_id"]
        s.flush()
        return credential_view(st, cred)

    return json_response({"credential": await st.db.run(run)})


@routes.delete("/v3/credentials/{cid}")
async def delete_credential(request: web.Request) -> web.Response:
    st, cid = await _own_credential(request, "delete_credential")
    await st.db.run(lambda s: s.delete(core.get_or_404(s, m.Credential, cid, "credential")))
    return no_content()


# --- OS-EC2 --------------------------------------------------------------------------


def ec2_view(st: IdentityState, c: m.Credential) -> dict[str, Any]:
    blob = json.loads(_blob(st, c))
    return {
        "user_id": c.user_id, "tenant_id": c.project_id, "access": blob["access"],
        "secret": blob["secret"], "trust_id": blob.get("trust_id"),
        "links": {"self": f"{st.base_url}/v3/users/{c.user_id}/credentials/OS-EC2/"
                          f"{blob['access']}"},
    }


EC2 = "/v3/users/{uid}/credentials/OS-EC2"


@routes.post(EC2)
async def ec2_create(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    uid = request.match_info["uid"]
    policy.enforce("ec2_create_credential", ctx, {"user_id": uid})
    body = await body_of(request, schemas.EC2_CREATE)
    st = state(request)
    access, secret = secrets.token_hex(16), secrets.token_hex(16)

    def run(s: Session) -> dict[str, Any]:
        core.get_or_404(s, m.User, uid, "user")
        _check_project_access(s, uid, body["tenant_id"], ctx.is_admin)
        blob = json.dumps({"access": access, "secret": secret, "trust_id": None})
        cred = m.Credential(id=ec2_credential_id(access), user_id=uid, type="ec2",
                            project_id=body["tenant_id"], encrypted_blob=_seal(st, blob),
                            access_hash=ec2_credential_id(access), extra={})
        s.add(cred)
        s.flush()
        return ec2_view(st, cred)

    return json_response({"credential": await st.db.run(run)}, status=201)


@routes.get(EC2)
async def ec2_list(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    uid = request.match_info["uid"]
    policy.enforce("ec2_list_credentials", ctx, {"user_id": uid})
    st = state(request)

    def run(s: Session) -> list[dict[str, Any]]:
        core.get_or_404(s, m.User, uid, "user")
        rows = s.scalars(select(m.Credential).where(
            m.Credential.user_id == uid, m.Credential.type == "ec2").order_by(m.Credential.id))
        return [ec2_view(st, c) for c in rows]

    return json_response({"credentials": await st.db.run(run),
                          "links": {"self": f"{st.base_url}{request.path}",
                                    "previous": None, "next": None}})


def _ec2_lookup(s: Session, uid: str, access: str) -> m.Credential:
    cred = find_ec2(s, access)
    if cred is None or cred.user_id != uid:
        raise NotFound(f"Could not find credential: {access}.")
    return cred


@routes.get(EC2 + "/{access}")
async def ec2_get(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    uid, access = request.match_info["uid"], request.match_info["access"]
    policy.enforce("ec2_get_credential", ctx, {"user_id": uid})
    st = state(request)
    view = await st.db.run(lambda s: ec2_view(st, _ec2_lookup(s, uid, access)))
    return json_response({"credential": view})


@routes.delete(EC2 + "/{access}")
async def ec2_delete(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    uid, access = request.match_info["uid"], request.match_info["access"]
    policy.enforce("ec2_delete_credential", ctx, {"user_id": uid})
    await state(request).db.run(lambda s: s.delete(_ec2_lookup(s, uid, access)))
    return no_content()
