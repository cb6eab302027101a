"""Application credentials (``/v3/users/{user_id}/application_credentials``), their
access rules (``/v3/users/{user_id}/access_rules``), and the
``application_credential`` authentication method."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import appcreds, core, policy, schemas
from identity import models as m
from identity.api.base import (
    IdentityState,
    authenticate,
    body_of,
    json_response,
    no_content,
    shown,
    state,
)
from identity.errors import Forbidden, NotFound, Unauthorized, ValidationError
from identity.tokens import TokenPayload

routes = web.RouteTableDef()

CREDS = "/v3/users/{uid}/application_credentials"
RULES = "/v3/users/{uid}/access_rules"


def expiry(when: Any) -> str | None:
    """Keystone's form for an application credential's expiry (no zone letter)."""
    return None if when is None else str(when.strftime("%Y-%m-%dT%H:%M:%S.%f"))


def rule_view(r: m.AccessRule) -> dict[str, Any]:
    return {"id": r.id, "service": r.service, "method": r.method, "path": r.path}


def view(st: IdentityState, s: Session, c: m.ApplicationCredential) -> dict[str, Any]:
    roles = s.scalars(select(m.Role).where(m.Role.id.in_(c.role_ids)).order_by(m.Role.name))
    return {
        "id": c.id, "name": c.name, "description": c.description,
        "expires_at": expiry(c.expires_at), "project_id": c.project_id,
        "roles": [{"id": r.id, "name": r.name, "domain_id": None} for r in roles],
        "access_rules": [rule_view(r) for r in core.access_rules_of(s, c.id)],
        "unrestricted": c.unrestricted,
        "links": st.link("users", c.user_id, "application_credentials", c.id),
    }


async def _caller(request: web.Request, action: str) -> tuple[core.AuthContext, str]:
    ctx = await authenticate(request)
    uid = request.match_info["uid"]
    policy.enforce(action, ctx, {"user_id": uid})
    return ctx, uid


def _not_restricted(ctx: core.AuthContext, what: str) -> None:
    if ctx.restricted_app_cred:
        raise Forbidden(f"A token from a restricted application credential cannot {what}; "
                        "use an unrestricted one or another method.")


@routes.post(CREDS)
async def create(request: web.Request) -> web.Response:
    ctx, uid = await _caller(request, "create_application_credential")
    _not_restricted(ctx, "create application credentials")
    if ctx.payload.extras.get(core.OAUTH):
        raise Forbidden("A token issued through OAuth cannot create application credentials.")
    project_id = ctx.project_id
    if project_id is None:
        raise ValidationError("An application credential is made for the project of a "
                              "project-scoped token; this token has no project.")
    st = state(request)
    body = (await body_of(request, schemas.APPLICATION_CREDENTIAL_CREATE))[
        "application_credential"]
    secret = body.get("secret") or appcreds.new_secret()
    secret_hash = await st.passwords.hash_async(secret)

    def run(s: Session) -> dict[str, Any]:
        cred = appcreds.create(s, uid, project_id, body, ctx.roles, secret_hash)
        return {**view(st, s, cred), "secret": secret}

    return json_response({"application_credential": await st.db.run(run)}, status=201)


@routes.get(CREDS)
async def list_(request: web.Request) -> web.Response:
    _, uid = await _caller(request, "list_application_credentials")
    st = state(request)
    name = request.query.get("name")

    def run(s: Session) -> list[dict[str, Any]]:
        core.get_or_404(s, m.User, uid, "user")
        q = select(m.ApplicationCredential).where(m.ApplicationCredential.user_id == uid)
        if name is not None:
            q = q.where(m.ApplicationCredential.name == name)
        return [view(st, s, c) for c in s.scalars(q.order_by(m.ApplicationCredential.name))]

    return json_response({"application_credentials": await st.db.run(run),
                          "links": _links(st, request)})


def _links(st: IdentityState, request: web.Request) -> dict[str, Any]:
    own = st.base_url + request.path + (f"?{request.query_string}"
                                        if request.query_string else "")
    return {"self": own, "previous": None, "next": None}


def _own(s: Session, uid: str, acid: str) -> m.ApplicationCredential:
    cred = s.get(m.ApplicationCredential, acid)
    if cred is None or cred.user_id != uid:
        raise NotFound(f"Could not find Application Credential: {acid}.")
    return cred


@routes.get(CREDS + "/{acid}")
async def show(request: web.Request) -> web.Response:
    _, uid = await _caller(request, "get_application_credential")
    st = state(request)
    acid = request.match_info["acid"]
    data = await st.db.run(lambda s: view(st, s, _own(s, uid, acid)))
    return shown(request, "application_credential", data)


@routes.delete(CREDS + "/{acid}")
async def delete(request: web.Request) -> web.Response:
    ctx, uid = await _caller(request, "delete_application_credential")
    _not_restricted(ctx, "delete application credentials")
    acid = request.match_info["acid"]
    await state(request).db.run(lambda s: s.delete(_own(s, uid, acid)))
    return no_content()


# --- access rules ----------------------------------------------------------------


def access_rule_view(st: IdentityState, r: m.AccessRule) -> dict[str, Any]:
    return {**rule_view(r), "links": st.link("users", r.user_id, "access_rules", r.id)}


def _own_rule(s: Session, uid: str, arid: str) -> m.AccessRule:
    rule = s.get(m.AccessRule, arid)
    if rule is None or rule.user_id != uid:
        raise NotFound(f"Could not find access rule: {arid}.")
    return rule


@routes.get(RULES)
async def list_rules(request: web.Request) -> web.Response:
    _, uid = await _caller(request, "list_access_rules")
    st = state(request)

    def run(s: Session) -> list[dict[str, Any]]:
        core.get_or_404(s, m.User, uid, "user")
        rows = s.scalars(select(m.AccessRule).where(m.AccessRule.user_id == uid)
                         .order_by(m.AccessRule.id))
        return [access_rule_view(st, r) for r in rows]

    return json_response({"access_rules": await st.db.run(run), "links": _links(st, request)})


@routes.get(RULES + "/{arid}")
async def show_rule(request: web.Request) -> web.Response:
    _, uid = await _caller(request, "get_access_rule")
    st = state(request)
    arid = request.match_info["arid"]
    data = await st.db.run(lambda s: access_rule_view(st, _own_rule(s, uid, arid)))
    return shown(request, "access_rule", data)


@routes.delete(RULES + "/{arid}")
async def delete_rule(request: web.Request) -> web.Response:
    _, uid = await _caller(request, "delete_access_rule")
    arid = request.match_info["arid"]

    def run(s: Session) -> None:
        rule = _own_rule(s, uid, arid)
        if appcreds.in_use(s, rule.id):
            raise Forbidden(f"Access rule {arid} is used by an application credential; "
                            "delete the credential first.")
        s.delete(rule)

    await state(request).db.run(run)
    return no_content()


# --- authentication ------------------------------------------------------------------


async def authenticate_method(request: web.Request, ident: dict[str, Any],
                              scope: Any) -> tuple[TokenPayload, core.Validated]:
    """``{"methods": ["application_credential"], "application_credential": {"id" |
    "name" + "user", "secret"}}``: a token for the credential's project, with its
    roles that the user still holds."""
    st = state(request)
    ref = ident.get("application_credential")
    if not isinstance(ref, dict):
        raise Unauthorized("The application_credential method needs an "
                           "application_credential object.")
    secret = str(ref["secret"])

    def lookup(s: Session) -> tuple[str, str]:
        cred = appcreds.find_for_auth(s, ref)
        return cred.id, cred.secret_hash

    try:
        cid, stored = await st.db.run(lookup)
    except Unauthorized:
        await st.passwords.verify_async(None, secret)  # same cost either way
        raise
    if not await st.passwords.verify_async(stored, secret):
        raise Unauthorized("The request you have made requires authentication.")

    def issue(s: Session) -> tuple[TokenPayload, core.Validated]:
        cred = core.live_app_cred(s, cid)
        user = s.get(m.User, cred.user_id)
        if user is None:
            raise Unauthorized("The request you have made requires authentication.")
        core.check_user_usable(s, user)
        info = core.delegated_scope(s, user, cred.project_id, cred.role_ids)
        if scope is not None:
            wanted = core.resolve_scope(s, user, scope)
            if wanted.project is None or wanted.project.id != cred.project_id:
                raise Unauthorized("A token from an application credential is scoped to "
                                   "the credential's own project.")
        payload = core.new_payload(user.id, ["application_credential"], info,
                                   st.cfg.identity.token_expiration,
                                   extras={core.APP_CRED: cred.id}, not_after=cred.expires_at)
        return payload, core.Validated(payload, user, info, app_cred=cred)

    return await st.db.run(issue)
