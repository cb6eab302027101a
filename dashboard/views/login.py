"""``/auth/*``: the login page, logging out and the project switcher."""

from __future__ import annotations

import re
import secrets

from aiohttp import web

from common.errors import StrataError
from dashboard.apis import error_text
from dashboard.auth import LoginFailed
from dashboard.session import LOGIN_COOKIE, SESSION_COOKIE
from dashboard.web import (
    KEYSTONE,
    SESSION,
    STORE,
    Denied,
    csrf_ok_for_login,
    form,
    redirect,
    render,
    safe_next,
    set_cookie,
)

routes = web.RouteTableDef()


def _login_page(request: web.Request, *, error: str = "", status: int = 200,
                user: str = "", domain: str = "Default") -> web.Response:
    # One secret per browser while it logs in: several login pages open at once (or a
    # favicon fetch redirected here) must not invalidate each other's forms.
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{43}", token):
        token = secrets.token_urlsafe(32)
    expired = request.query.get("expired") == "1"
    response = render(request, "login.html", status=status, title="Log in", error=error,
                      login_csrf=token, next=safe_next(request.query.get("next"), "/project/"),
                      user=user, domain=domain, expired=expired and not error)
    set_cookie(request, response, LOGIN_COOKIE, token, samesite="Strict", path="/auth/")
    return response


@routes.get("/")
async def root(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/project/")


@routes.get("/auth/login")
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request)


@routes.post("/auth/login")
async def login(request: web.Request) -> web.Response:
    data = await form(request)
    if not csrf_ok_for_login(request, str(data.get("csrf_token", ""))):
        raise web.HTTPForbidden(text="The login form's security token is missing or wrong "
                                     "(CSRF check failed). Reload the page and try again.")
    user = str(data.get("username", "")).strip()
    password = str(data.get("password", ""))
    domain = str(data.get("domain", "")).strip() or "Default"
    if not user or not password:
        return _login_page(request, error="Enter your user name and password.", status=400,
                           user=user, domain=domain)
    store = request.app[STORE]
    try:
        session = await request.app[KEYSTONE].login(store, user, password, domain)
    except LoginFailed as exc:
        return _login_page(request, error=exc.message, status=401, user=user, domain=domain)
    except StrataError as exc:
        return _login_page(request, error=f"Identity could not be asked: {error_text(exc)}",
                           status=503, user=user, domain=domain)
    store.add(session)
    target = safe_next(str(data.get("next", "")), "/project/")
    response = web.Response(status=303, headers={"Location": target})
    set_cookie(request, response, SESSION_COOKIE, session.id)
    response.del_cookie(LOGIN_COOKIE, path="/auth/")
    return response


@routes.post("/auth/logout")
async def logout(request: web.Request) -> web.Response:
    session = request[SESSION]
    request.app[STORE].drop(session.id)
    await request.app[KEYSTONE].logout(session)
    response = web.Response(status=303, headers={"Location": "/auth/login"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.post("/auth/switch")
async def switch(request: web.Request) -> web.Response:
    session = request[SESSION]
    data = await form(request)
    wanted = str(data.get("project_id", ""))
    keystone = request.app[KEYSTONE]
    session.projects = await keystone.projects(session.unscoped_token)
    project = next((p for p in session.projects if p.id == wanted), None)
    if project is None:
        raise Denied(403, "You have no role on that project.")
    await keystone.scope(session, project)
    session.flash("info", f"Now working in project {project.name}.")
    # The page the user was on may be one the new project's role does not reach.
    back = safe_next(str(data.get("next", "")), "/project/")
    if back.startswith("/admin") and not session.is_admin:
        back = "/project/"
    return redirect(request, back)


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/static/favicon.svg")
