"""The dashboard's aiohttp application: templates, static files, sessions, the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import escape

from common import config as config_mod
from common.http import AppSettings, make_app, run_service, serve_app, setup_logging
from dashboard import views
from dashboard.auth import Keystone
from dashboard.session import SessionStore
from dashboard.web import CFG, HTTP, KEYSTONE, STORE, on_prepare, session_middleware

HERE = Path(__file__).parent


def page_error_format(request: web.Request, err: object) -> web.Response:
    """Errors the shared middleware answers (413, 404 of unknown paths, 500) as a
    plain page: the dashboard speaks HTML, not an API's JSON."""
    status = int(getattr(err, "status", 500))
    message = str(getattr(err, "message", "") or "Something went wrong.")
    body = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{status}</title>"
            f"<link rel=stylesheet href=/static/style.css><main class=login>"
            f"<h1>{status}</h1><p>{escape(message)}</p><p><a href=/project/>Back to "
            f"the dashboard</a></p></main></html>")
    return web.Response(status=status, text=body, content_type="text/html")


def build_app(cfg: config_mod.StrataConfig) -> web.Application:
    app = make_app(AppSettings(service="dashboard", error_format=page_error_format,
                               max_body=cfg.dashboard.max_upload_size))
    app.middlewares.append(session_middleware)
    app[CFG] = cfg
    app[STORE] = SessionStore(idle_timeout=cfg.dashboard.session_idle_timeout,
                              max_sessions=cfg.dashboard.max_sessions)
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    views.add_filters(env)
    app.router.add_static("/static/", HERE / "static", append_version=False)
    views.add_routes(app)
    app.on_response_prepare.append(on_prepare)
    app.cleanup_ctx.append(_clients)
    return app


async def _clients(app: web.Application) -> AsyncIterator[None]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                 connector=aiohttp.TCPConnector(limit=200))
    app[HTTP] = http
    app[KEYSTONE] = Keystone(http, app[CFG].identity_url(), app[CFG].region)
    try:
        yield
    finally:
        await http.close()


async def serve(cfg: config_mod.StrataConfig) -> None:
    await serve_app(build_app(cfg), cfg.dashboard.host, cfg.dashboard.port, "dashboard")


def main() -> None:
    cfg = config_mod.load()
    setup_logging(cfg.log_level, "dashboard")
    run_service(serve(cfg))
