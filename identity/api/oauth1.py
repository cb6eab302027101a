"""OS-OAUTH1: consumers (``/v3/OS-OAUTH1/consumers``), request and access tokens
(``/v3/OS-OAUTH1/request_token``, ``authorize/{id}``, ``access_token``), a user's
access tokens (``/v3/users/{user_id}/OS-OAUTH1/access_tokens``) and the
``oauth1`` authentication method. The rules are in :mod:`identity.oauth1`."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import core, policy, schemas
from identity import models as m
from identity import oauth1 as oa
from identity.api import views
from identity.api.base import (
    IdentityState,
    authenticate,
    body_of,
    json_response,
    no_content,
    shown,
    state,
)
from identity.errors import Forbidden, NotFound, Unauthorized
from identity.tokens import TokenPayload

routes = web.RouteTableDef()

BASE = "/v3/OS-OAUTH1"
CONSUMERS = BASE + "/consumers"
ACCESS_TOKENS = "/v3/users/{uid}/OS-OAUTH1/access_tokens"


def _signed(request: web.Request) -> oa.Signed:
    return str(request.url), request.method, dict(request.headers)


def _links(st: IdentityState, request: web.Request) -> dict[str, Any]:
    return {"self": st.base_url + request.path, "previous": None, "next": None}


# --- consumers ---------------------------------------------------------------------------


def consumer_view(st: IdentityState, c: m.OAuthConsumer) -> dict[str, Any]:
    return {**c.extra, "id": c.id, "description": c.description,
            "links": st.link("OS-OAUTH1", "consumers", c.id)}


async def _enforce(request: web.Request, action: str) -> IdentityState:
    policy.enforce(action, await authenticate(request))
    return state(request)


@routes.post(CONSUMERS)
async def create_consumer(request: web.Request) -> web.Response:
    st = await _enforce(request, "create_consumer")
    body = (await body_of(request, schemas.CONSUMER_CREATE)).get("consumer") or {}
    secret = secrets.token_hex(16)

    def run(s: Session) -> dict[str, Any]:
        consumer = m.OAuthConsumer(
            id=oa.new_key(), description=body.get("description"), extra={},
            encrypted_secret=st.credential_crypto.encrypt(secret.encode()).decode())
        s.add(consumer)
        s.flush()
        return {**consumer_view(st, consumer), "secret": secret}

    return json_response({"consumer": await st.db.run(run)}, status=201)


@routes.get(CONSUMERS)
async def list_consumers(request: web.Request) -> web.Response:
    st = await _enforce(request, "list_consumers")
    items = await st.db.run(lambda s: [consumer_view(st, c) for c in s.scalars(
        select(m.OAuthConsumer).order_by(m.OAuthConsumer.id))])
    return json_response({"consumers": items, "links": _links(st, request)})


def _consumer(s: Session, request: web.Request) -> m.OAuthConsumer:
    consumer: m.OAuthConsumer = core.get_or_404(s, m.OAuthConsumer,
                                                request.match_info["cid"], "consumer")
    return consumer


@routes.get(CONSUMERS + "/{cid}")
async def show_consumer(request: web.Request) -> web.Response:
    st = await _enforce(request, "get_consumer")
    view = await st.db.run(lambda s: consumer_view(st, _consumer(s, request)))
    return shown(request, "consumer", view)


@routes.patch(CONSUMERS + "/{cid}")
async def update_consumer(request: web.Request) -> web.Response:
    st = await _enforce(request, "update_consumer")
    body = (await body_of(request, schemas.CONSUMER_UPDATE))["consumer"]

    def run(s: Session) -> dict[str, Any]:
        consumer = _consumer(s, request)
        if "description" in body:
            consumer.description = body["description"]
        return consumer_view(st, consumer)

    return json_response({"consumer": await st.db.run(run)})


@routes.delete(CONSUMERS + "/{cid}")
async def delete_consumer(request: web.Request) -> web.Response:
    """Its request and access tokens go with it, and so the tokens issued with them."""
    st = await _enforce(request, "delete_consumer")
    await st.db.run(lambda s: s.delete(_consumer(s, request)))
    return no_content()


# --- the delegation flow ---------------------------------------------------------------


def _form(token_id: str, secret: str, expires: Any) -> web.Response:
    body = {"oauth_token": token_id, "oauth_token_secret": secret}
    if expires is not None:
        body["oauth_expires_at"] = core.iso(expires)
    return web.Response(status=201, text=urlencode(body),
                        content_type="application/x-www-form-urlencoded")


@routes.post(BASE + "/request_token")
async def request_token(request: web.Request) -> web.Response:
    """A consumer, signing with its secret, asks for a request token to a project
    (``Requested-Project-Id``)."""
    st = state(request)
    project = oa.requested_project(request.headers)
    signed = _signed(request)
    row, secret = await st.db.run(
        lambda s: oa.create_request_token(s, st.credential_crypto, signed, project))
    return _form(row.id, secret, row.expires_at)


@routes.put(BASE + "/authorize/{rtid}")
@routes.post(BASE + "/authorize/{rtid}")
async def authorize(request: web.Request) -> web.Response:
    """The user delegates roles it holds on the token's project; the consumer gets
    the verifier out of band."""
    ctx = await authenticate(request)
    policy.enforce("authorize_request_token", ctx)
    if ctx.delegated:
        raise Forbidden("A token issued through delegation cannot authorize a request token.")
    body = await body_of(request, schemas.AUTHORIZE_REQUEST_TOKEN)
    st = state(request)
    rtid = request.match_info["rtid"]
    verifier = await st.db.run(lambda s: oa.authorize(s, rtid, ctx.user_id, body["roles"]))
    return json_response({"token": {"oauth_verifier": verifier}})


@routes.post(BASE + "/access_token")
async def access_token(request: web.Request) -> web.Response:
    """A consumer exchanges an authorized request token and its verifier, signed
    with both secrets, for an access token."""
    st = state(request)
    signed = _signed(request)
    row, secret = await st.db.run(lambda s: oa.create_access_token(s, st.credential_crypto,
                                                                   signed))
    return _form(row.id, secret, row.expires_at)


async def authenticate_method(request: web.Request,
                              scope: Any) -> tuple[TokenPayload, core.Validated]:
    """``{"methods": ["oauth1"]}`` with a request signed by a consumer and its access
    token: a token for the access token's project and roles, as its user (the
    access token fixes the scope; a requested one is not looked at)."""
    st = state(request)
    signed = _signed(request)

    def issue(s: Session) -> tuple[TokenPayload, core.Validated]:
        token = oa.verify_access(s, st.credential_crypto, signed)
        user = s.get(m.User, token.authorizing_user_id)
        if user is None:
            raise Unauthorized("The access token's user no longer exists.")
        core.check_user_usable(s, user)
        info = core.delegated_scope(s, user, token.project_id, token.role_ids)
        payload = core.new_payload(user.id, ["oauth1"], info,
                                   st.cfg.identity.token_expiration,
                                   extras={core.OAUTH: token.id}, not_after=token.expires_at)
        return payload, core.Validated(payload, user, info, oauth=token)

    return await st.db.run(issue)


# --- a user's access tokens -----------------------------------------------------------


def access_token_view(st: IdentityState, t: m.OAuthAccessToken) -> dict[str, Any]:
    own = "/".join([st.base_url, "v3", "users", t.authorizing_user_id, "OS-OAUTH1",
                    "access_tokens", t.id])
    return {"id": t.id, "consumer_id": t.consumer_id, "project_id": t.project_id,
            "authorizing_user_id": t.authorizing_user_id,
            "expires_at": core.iso(t.expires_at) if t.expires_at else None,
            "links": {"self": own, "roles": own + "/roles"}}


async def _owner(request: web.Request, action: str) -> tuple[IdentityState, str]:
    ctx = await authenticate(request)
    uid = request.match_info["uid"]
    policy.enforce(action, ctx, {"user_id": uid})
    return state(request), uid


def _own_token(s: Session, uid: str, request: web.Request) -> m.OAuthAccessToken:
    atid = request.match_info["atid"]
    token = s.get(m.OAuthAccessToken, atid)
    if token is None or token.authorizing_user_id != uid:
        raise NotFound(f"Could not find access token: {atid}.")
    return token


@routes.get(ACCESS_TOKENS)
async def list_access_tokens(request: web.Request) -> web.Response:
    st, uid = await _owner(request, "list_access_tokens")

    def run(s: Session) -> list[dict[str, Any]]:
        core.get_or_404(s, m.User, uid, "user")
        rows = s.scalars(select(m.OAuthAccessToken).where(
            m.OAuthAccessToken.authorizing_user_id == uid).order_by(m.OAuthAccessToken.id))
        return [access_token_view(st, t) for t in rows]

    return json_response({"access_tokens": await st.db.run(run),
                          "links": _links(st, request)})


@routes.get(ACCESS_TOKENS + "/{atid}")
async def show_access_token(request: web.Request) -> web.Response:
    st, uid = await _owner(request, "get_access_token")
    view = await st.db.run(lambda s: access_token_view(st, _own_token(s, uid, request)))
    return json_response({"access_token": view})


@routes.delete(ACCESS_TOKENS + "/{atid}")
async def revoke_access_token(request: web.Request) -> web.Response:
    """The consumer can no longer get tokens, and those it got stop validating."""
    st, uid = await _owner(request, "delete_access_token")
    await st.db.run(lambda s: s.delete(_own_token(s, uid, request)))
    return no_content()


def _token_roles(st: IdentityState, s: Session, t: m.OAuthAccessToken) -> list[dict[str, Any]]:
    rows = s.scalars(select(m.Role).where(m.Role.id.in_(t.role_ids)).order_by(m.Role.name))
    return [views.role(st, r) for r in rows]


@routes.get(ACCESS_TOKENS + "/{atid}/roles")
async def access_token_roles(request: web.Request) -> web.Response:
    st, uid = await _owner(request, "list_access_token_roles")
    roles = await st.db.run(lambda s: _token_roles(st, s, _own_token(s, uid, request)))
    return json_response({"roles": roles, "links": _links(st, request)})


@routes.get(ACCESS_TOKENS + "/{atid}/roles/{rid}")
async def access_token_role(request: web.Request) -> web.Response:
    st, uid = await _owner(request, "get_access_token_role")
    rid = request.match_info["rid"]

    def run(s: Session) -> dict[str, Any]:
        roles = [r for r in _token_roles(st, s, _own_token(s, uid, request)) if r["id"] == rid]
        if not roles:
            raise NotFound(f"Could not find role {rid} in the access token.")
        return roles[0]

    return json_response({"role": await st.db.run(run)})
