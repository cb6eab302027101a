"""What every page shares: the session middleware, CSRF, security headers, rendering,
forms, messages and how an API's refusal reaches the page.

Request flow: :func:`session_middleware` finds the session from its cookie
(none: the login page, keeping the path in ``?next=``), refuses an admin page
to a non-admin (the 403 page) and checks the CSRF token of every state-changing
request (a form field ``csrf_token`` or an ``X-CSRF-Token`` header; an upload
handler checks the first part of its multipart body itself). A token that
identity no longer accepts (expired or revoked) ends the session the same way,
wherever an API answers 401.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from common.config import StrataConfig
from common.errors import BadRequest, StrataError
from common.httpclient import RemoteError, RemoteUnauthorized
from dashboard.apis import Apis, ServiceMissing, error_text
from dashboard.auth import Keystone
from dashboard.nav import navigation
from dashboard.session import LOGIN_COOKIE, SESSION_COOKIE, Session, SessionStore

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CFG: web.AppKey[StrataConfig] = web.AppKey("cfg", StrataConfig)
STORE: web.AppKey[SessionStore] = web.AppKey("store", SessionStore)
HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("http", aiohttp.ClientSession)
KEYSTONE: web.AppKey[Keystone] = web.AppKey("keystone", Keystone)
SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)
STARTED: web.RequestKey[float] = web.RequestKey("started", float)

PUBLIC_PREFIXES = ("/auth/login", "/static/", "/healthcheck", "/favicon.ico")
FORM_LIMIT = 256 * 1024  # largest urlencoded form accepted
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Pages never run inline script or style, never load anything from elsewhere and are
# never framed; htmx's own inline indicator style is turned off (see base.html).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@dataclass(frozen=True)
class Denied(Exception):
    """Answer with the error page: ``status`` and a message for a person."""

    status: int
    message: str


def upload_handler(handler: Handler) -> Handler:
    """Mark a handler that reads a multipart body and checks its CSRF field itself
    (the first part): the middleware must not read a body that may be gigabytes."""
    setattr(handler, "strata_upload", True)  # noqa: B010
    return handler


def is_htmx(request: web.Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to return to (never another site: ``//host`` or a scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def login_url(next_path: str, expired: bool = False) -> str:
    url = "/auth/login?next=" + quote(next_path, safe="/")
    return url + "&expired=1" if expired else url


def redirect(request: web.Request, location: str) -> web.Response:
    """Go to ``location``: a 303 for a browser, ``HX-Redirect`` for htmx (which then
    loads the whole page, as a plain form would have)."""
    if is_htmx(request):
        return web.Response(status=200, headers={"HX-Redirect": location})
    raise web.HTTPSeeOther(location)


def cookie_secure(request: web.Request) -> bool:
    return request.secure or request.app[CFG].dashboard.secure_cookies


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               *, samesite: str = "Lax", path: str = "/") -> None:
    response.set_cookie(name, value, httponly=True, samesite=samesite, path=path,
                        secure=cookie_secure(request))


def apis(request: web.Request) -> Apis:
    return Apis(request.app[HTTP], request[SESSION], request.app[CFG].identity_url())


def _csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf.encode(), str(given).encode())


async def form(request: web.Request) -> MultiDictProxy[Any]:
    """An urlencoded form (its CSRF field already checked by the middleware)."""
    if request.content_length is not None and request.content_length > FORM_LIMIT:
        raise Denied(413, "The form is too large.")
    return await request.post()


def field(data: Mapping[str, Any], name: str, *, required: bool = True,
          default: str = "", label: str = "") -> str:
    value = data.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise BadRequest(f"{label or name.replace('_', ' ').capitalize()} is required.")
    return text or default


def int_field(data: Mapping[str, Any], name: str, *, label: str, minimum: int = 0,
              required: bool = True, default: int = 0) -> int:
    text = field(data, name, required=required, label=label)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{label} must be a whole number.") from None
    if value < minimum:
        raise BadRequest(f"{label} must be at least {minimum}.")
    return value


def checkbox(data: Mapping[str, Any], name: str) -> bool:
    return data.get(name) in ("on", "true", "1", "yes")


async def act(request: web.Request, back: str, done: str,
              work: Callable[[], Awaitable[Any]], *, failed: str = "") -> web.Response:
    """Run a form's action: on success ``done`` for the next page, on a refusal (ours
    or the API's) its message instead; either way back to ``back`` (on a refusal to
    ``failed`` when given: the form, to try again)."""
    session = request[SESSION]
    try:
        await work()
    except RemoteUnauthorized:
        raise
    except (StrataError, Denied) as exc:
        session.flash("error", exc.message if isinstance(exc, Denied) else error_text(exc))
        return redirect(request, failed or back)
    else:
        if done:
            session.flash("success", done)
    return redirect(request, back)


def attachment(text: str, filename: str, content_type: str) -> web.Response:
    """A generated file (openrc, a private key, a CSV summary) the browser saves as
    ``filename``."""
    return web.Response(text=text, content_type=content_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}"})


def context(request: web.Request, extra: dict[str, Any]) -> dict[str, Any]:
    session = request.get(SESSION)
    ctx: dict[str, Any] = {
        "session": session, "path": request.path, "request": request,
        "csrf": session.csrf if session else "",
        "nav": navigation(session, request.path) if session else None,
        "flashes": session.take_flashes() if session else [],
        "region": request.app[CFG].region,
    }
    ctx.update(extra)
    return ctx


def render(request: web.Request, template: str, status: int = 200,
           **extra: Any) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context(request, extra),
                                              status=status)
    return response


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    title = {403: "Not allowed", 404: "Not found", 413: "Too large"}.get(
        status, "Something went wrong")
    return render(request, "error.html", status=status, title=title, message=message)


def _end_session(request: web.Request, expired: bool) -> web.Response:
    session = request.get(SESSION)
    if session is not None:
        request.app[STORE].drop(session.id)
    if request.method == "GET":
        target = request.path_qs
    else:
        referer = request.headers.get("Referer", "")
        target = safe_next(urlsplit(referer).path if referer else "", "/")
    location = login_url(target, expired=expired)
    if is_htmx(request):
        response = web.Response(status=200, headers={"HX-Redirect": location})
    else:
        response = web.Response(status=303, headers={"Location": location})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[STARTED] = time.perf_counter()
    if request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    store = request.app[STORE]
    session, ended = store.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return _end_session(request, expired=ended)
    request[SESSION] = session
    try:
        if request.path.startswith("/admin") and not session.is_admin:
            raise Denied(403, "This page is for administrators: your role in project "
                              f"{session.project.name} does not include admin.")
        if request.method in UNSAFE:
            await _check_csrf(request, handler, session)
        return await handler(request)
    except RemoteUnauthorized:
        return _end_session(request, expired=True)
    except Denied as exc:
        return error_page(request, exc.status, exc.message)
    except ServiceMissing as exc:
        return error_page(request, 404, exc.message)
    except RemoteError as exc:
        return error_page(request, 502 if (exc.answered or 500) >= 500 else exc.answered
                          or 502, error_text(exc))
    except StrataError as exc:
        return error_page(request, exc.status, exc.message)


async def _check_csrf(request: web.Request, handler: Handler, session: Session) -> None:
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        if request.content_type == "multipart/form-data":
            info = request.match_info.route.handler
            if getattr(info, "strata_upload", False):
                return  # the handler checks the first part
            raise Denied(403, "This form cannot be sent as a file upload.")
        if request.content_length is not None and request.content_length > FORM_LIMIT:
            raise Denied(413, "The form is too large.")
        given = str((await request.post()).get(CSRF_FIELD, ""))
    if not _csrf_ok(session, given):
        raise Denied(403, "The form's security token is missing or wrong (CSRF check "
                          "failed). Reload the page and try again.")


def check_upload_csrf(request: web.Request, given: str) -> None:
    if not _csrf_ok(request[SESSION], given):
        raise Denied(403, "The form's security token is missing or wrong (CSRF check "
                          "failed). Reload the page and try again.")


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Security headers on every answer; the server's own time on every page."""
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")
    started = request.get(STARTED)
    if started is not None:
        h["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"


def csrf_ok_for_login(request: web.Request, given: str) -> bool:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    return bool(cookie) and bool(given) and hmac.compare_digest(cookie.encode(),
                                                                given.encode())


async def attempt(work: Awaitable[Any], default: Any = None) -> tuple[Any, str]:
    """(the result, "") or (``default``, what went wrong) for one part of a page that
    may fail alone (a service down, a call the role may not make). A token identity
    no longer accepts still ends the session."""
    try:
        return await work, ""
    except RemoteUnauthorized:
        raise
    except StrataError as exc:
        return default, error_text(exc)
