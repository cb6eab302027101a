"""Version discovery, tokens and the ``/v3/auth/*`` calls."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import core, grants, policy, schemas
from identity import models as m
from identity.api import appcreds, oauth1, views
from identity.api.base import (
    authenticate,
    body_of,
    json_response,
    no_content,
    state,
)
from identity.catalog import catalog
from identity.errors import Forbidden, TokenNotFound, Unauthorized
from identity.tokens import TokenPayload

routes = web.RouteTableDef()

MEDIA_TYPE = "application/vnd.openstack.identity-v3+json"


def _version(base_url: str) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base_url}/v3/"}],
        "media-types": [{"base": "application/json", "type": MEDIA_TYPE}],
    }


@routes.get("/")
async def versions(request: web.Request) -> web.Response:
    body = {"versions": {"values": [_version(state(request).base_url)]}}
    return json_response(body, status=300)


@routes.get("/v3")
@routes.get("/v3/")
async def version_v3(request: web.Request) -> web.Response:
    return json_response({"version": _version(state(request).base_url)})


# --- tokens -------------------------------------------------------------------


async def _password_auth(request: web.Request, ident: dict[str, Any],
                         scope: Any) -> tuple[TokenPayload, core.Validated]:
    st = state(request)
    ref = ident.get("password", {}).get("user")
    if not isinstance(ref, dict):
        raise Unauthorized("The password method needs a user.")

    def lookup(s: Session) -> tuple[str, str | None, str | None]:
        user = core.find_user(s, ref)
        return user.id, user.password_hash, user.default_project_id

    try:
        user_id, stored, default_project = await st.db.run(lookup)
    except Unauthorized:
        await st.passwords.verify_async(None, str(ref["password"]))  # same cost either way
        raise
    if not await st.passwords.verify_async(stored, str(ref["password"])):
        raise Unauthorized("The request you have made requires authentication.")

    def issue(s: Session) -> tuple[TokenPayload, core.Validated]:
        user = s.get(m.User, user_id)
        if user is None:
            raise Unauthorized("The request you have made requires authentication.")
        core.check_user_usable(s, user)
        chosen = scope
        if chosen is None and default_project:
            proj = s.get(m.Project, default_project)
            if proj and proj.enabled and grants.role_ids_on(s, user.id, "project", proj.id):
                chosen = {"project": {"id": proj.id}}
        info = core.resolve_scope(s, user, chosen)
        payload = core.new_payload(user.id, ["password"], info,
                                   st.cfg.identity.token_expiration)
        return payload, core.Validated(payload, user, info)

    return await st.db.run(issue)


async def _token_auth(request: web.Request, ident: dict[str, Any],
                      scope: Any) -> tuple[TokenPayload, core.Validated]:
    st = state(request)
    old = str(ident.get("token", {}).get("id", ""))

    def issue(s: Session) -> tuple[TokenPayload, core.Validated]:
        try:
            v = core.validate(s, st.codec, old)
        except TokenNotFound:
            raise Unauthorized("The request you have made requires authentication.") from None
        if scope is not None:
            requested = core.resolve_scope(s, v.user, scope)
        else:
            requested = v.scope if v.payload.scoped else core.unscoped()
        core.check_rescope(v, requested)
        # A token from an application credential keeps the credential's roles.
        info = v.scope if v.app_cred is not None else requested
        methods = list(dict.fromkeys([*v.payload.methods, "token"]))
        payload = core.new_payload(
            v.user.id, methods, info, st.cfg.identity.token_expiration, parent=v.payload,
            extras=v.payload.extras,
            not_after=v.app_cred.expires_at if v.app_cred is not None else None)
        return payload, core.Validated(payload, v.user, info, v.app_cred)

    return await st.db.run(issue)


@routes.post("/v3/auth/tokens")
async def issue_token(request: web.Request) -> web.Response:
    st = state(request)
    data = await body_of(request, schemas.AUTH)
    auth = data["auth"]
    ident = auth["identity"]
    methods = ident["methods"]
    scope = auth.get("scope")
    if "password" in methods:
        payload, validated = await _password_auth(request, ident, scope)
    elif "token" in methods:
        payload, validated = await _token_auth(request, ident, scope)
    elif "application_credential" in methods:
        payload, validated = await appcreds.authenticate_method(request, ident, scope)
    elif "oauth1" in methods:
        payload, validated = await oauth1.authenticate_method(request, scope)
    else:
        raise Unauthorized(f"Unsupported authentication method: {', '.join(methods)}.")
    token = st.codec.encode(payload)
    with_catalog = "nocatalog" not in request.query
    body = await st.db.run(lambda s: core.token_body(s, validated, with_catalog=with_catalog))
    return json_response({"token": body}, status=201, headers={"X-Subject-Token": token})


async def _subject(request: web.Request, action: str) -> tuple[str, core.Validated]:
    ctx = await authenticate(request)
    subject = request.headers.get("X-Subject-Token", "")
    if not subject:
        raise TokenNotFound("The X-Subject-Token header is required.")
    st = state(request)
    try:
        v = await st.db.run(lambda s: core.validate(s, st.codec, subject))
    except TokenNotFound:
        # Saying "no such token" reveals nothing, whoever asks.
        raise TokenNotFound("Could not find token.") from None
    policy.enforce(action, ctx, {"user_id": v.user.id})
    return subject, v


@routes.get("/v3/auth/tokens")
async def validate_token(request: web.Request) -> web.Response:
    subject, v = await _subject(request, "validate_token")
    if request.method == "HEAD":  # aiohttp routes HEAD to GET handlers
        return web.Response(status=200, headers={"X-Subject-Token": subject})
    st = state(request)
    with_catalog = "nocatalog" not in request.query
    body = await st.db.run(lambda s: core.token_body(s, v, with_catalog=with_catalog))
    return json_response({"token": body}, headers={"X-Subject-Token": subject})


@routes.delete("/v3/auth/tokens")
async def revoke_token(request: web.Request) -> web.Response:
    _, v = await _subject(request, "revoke_token")
    st = state(request)
    await st.db.run(lambda s: core.revoke(
        s, audit_id=v.payload.audit_ids[0], expiry_seconds=st.cfg.identity.token_expiration))
    return no_content()


@routes.get("/v3/auth/projects")
async def auth_projects(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    st = state(request)
    projects = await st.db.run(lambda s: [
        views.project(st, p) for p in grants.projects_of(s, ctx.user_id) if p.enabled])
    return json_response(views.collection(st, "auth/projects", projects))


@routes.get("/v3/auth/domains")
async def auth_domains(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    st = state(request)
    domains = await st.db.run(lambda s: [
        views.domain(st, d) for d in grants.domains_of(s, ctx.user_id) if d.enabled])
    return json_response(views.collection(st, "auth/domains", domains))


@routes.get("/v3/auth/system")
async def auth_system(request: web.Request) -> web.Response:
    """The system scopes the caller may ask for: ``[{"all": true}]`` with a role on
    the system, else none."""
    ctx = await authenticate(request)
    st = state(request)
    held = await st.db.run(lambda s: grants.has_system_role(s, ctx.user_id))
    return json_response({"system": [{"all": True}] if held else [],
                          "links": st.link("auth", "system")})


@routes.get("/v3/auth/catalog")
async def auth_catalog(request: web.Request) -> web.Response:
    ctx = await authenticate(request)
    if not ctx.payload.scoped:
        raise Forbidden("The service catalog needs a scoped token.")
    st = state(request)
    cat = await st.db.run(lambda s: catalog(s, ctx.project_id))
    return json_response({"catalog": cat, "links": st.link("auth", "catalog")})


# --- EC2/S3 signature verification (for the S3 and EC2 fronts) ----------------


def ec2_credential_id(access: str) -> str:
    """Keystone's id for an EC2 credential: the SHA-256 of its access key."""
    return hashlib.sha256(access.encode()).hexdigest()


def find_ec2(s: Session, access: str) -> m.Credential | None:
    """The EC2 credential whose access key is ``access``."""
    return s.scalar(select(m.Credential).where(
        m.Credential.access_hash == ec2_credential_id(access), m.Credential.type == "ec2"))


def sigv4_signing_key(secret: str, string_to_sign: str, scope: str | None = None) -> bytes:
    """The SigV4 key derived for the string to sign's scope (one day, region, service),
    or for ``scope`` when the string to sign names none (an S3 POST policy)."""
    if scope is None:
        lines = string_to_sign.split("\n")
        if len(lines) < 4:
            raise Unauthorized("The string to sign is not a SigV4 string to sign.")
        scope = lines[2]
    parts = scope.split("/")
    if len(parts) != 4:
        raise Unauthorized("The SigV4 credential scope is malformed.")
    key = ("AWS4" + secret).encode()
    for part in parts:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


# SigV2's HMACs by the names requests give them (S3's is always SHA-1; the EC2 Query
# API's SignatureMethod names one).
SIGV2_METHODS = {"HmacSHA1": hashlib.sha1, "HmacSHA256": hashlib.sha256}


def expected_signature(secret: str, string_to_sign: str, method: str = "HmacSHA1",
                       scope: str | None = None) -> str:
    """AWS SigV4 (hex) when the string to sign says so or a ``scope`` is given (an S3
    POST policy is signed with the scope's key as it is), else SigV2 (base64 HMAC with
    ``method``'s hash)."""
    if scope is not None or string_to_sign.startswith("AWS4-HMAC-SHA256"):
        key = sigv4_signing_key(secret, string_to_sign, scope)
        return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    mac = hmac.new(secret.encode(), string_to_sign.encode(), SIGV2_METHODS[method]).digest()
    return base64.b64encode(mac).decode()


@routes.post("/v3/s3tokens")
@routes.post("/v3/ec2tokens")
async def s3_tokens(request: web.Request) -> web.Response:
    """Check an S3/EC2 request signature made with an EC2 credential's secret.

    Body: ``{"credentials": {"access", "token": base64(string to sign), "signature"}}``
    (and for a SigV2 request of the EC2 Query API its ``signature_method``,
    ``HmacSHA256`` or ``HmacSHA1``, the default). Answers the token body (user, project,
    roles) the request acts as, or 401. ``/v3/ec2tokens`` also issues that token, as
    Keystone's does (``X-Subject-Token``): the EC2 front calls the native APIs with it.

    A caller holding a service (or admin) token in X-Auth-Token also gets, for a
    SigV4 request, ``signing_key``: the hex key derived for the request's scope
    (one day, one region, s3), with which the S3 front checks the signature of
    each chunk of an aws-chunked body. The secret itself never leaves identity.

    ``scope`` (``<date>/<region>/s3/aws4_request``) says the token is signed with
    that scope's SigV4 key as it is: the base64 policy of an S3 browser (POST)
    upload, whose string to sign names no scope.
    """
    st = state(request)
    service = False
    if request.headers.get("X-Auth-Token"):
        ctx = await authenticate(request)
        service = ctx.is_admin or "service" in ctx.roles
    data = await body_of(request, schemas.S3_TOKEN)
    creds = data["credentials"]
    try:
        sts = base64.b64decode(creds["token"], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("The string to sign is not valid base64.") from None

    signing_key: list[str] = []
    scope: str | None = creds.get("scope")

    def check(s: Session) -> dict[str, Any]:
        cred = find_ec2(s, creds["access"])
        if cred is None:
            raise Unauthorized("The access key is not known.")
        blob = json.loads(st.credential_crypto.decrypt(cred.encrypted_blob.encode()))
        secret = str(blob.get("secret", ""))
        want = expected_signature(secret, sts, creds.get("signature_method", "HmacSHA1"),
                                  scope)
        if not hmac.compare_digest(want.encode(), creds["signature"].encode()):
            raise Unauthorized("The request signature does not match.")
        user = s.get(m.User, cred.user_id)
        if user is None:
            raise Unauthorized("The credential's user no longer exists.")
        core.check_user_usable(s, user)
        info = core.resolve_scope(s, user, {"project": {"id": cred.project_id}})
        payload = core.new_payload(user.id, ["ec2credential"], info,
                                   st.cfg.identity.token_expiration)
        issued.append(payload)
        if service and (scope is not None or sts.startswith("AWS4-HMAC-SHA256")):
            signing_key.append(sigv4_signing_key(secret, sts, scope).hex())
        return core.token_body(s, core.Validated(payload, user, info), with_catalog=False)

    issued: list[TokenPayload] = []
    body = await st.db.run(check)
    answer: dict[str, Any] = {"token": body}
    if signing_key:
        answer["signing_key"] = signing_key[0]
    if request.path.endswith("/ec2tokens"):
        return json_response(answer, headers={"X-Subject-Token": st.codec.encode(issued[0])})
    return json_response(answer)
