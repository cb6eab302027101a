"""The Keystone v3 HTTP API of the identity service."""

from __future__ import annotations

from aiohttp import web

from common.config import StrataConfig
from common.http import AppSettings, make_app


def build_app(cfg: StrataConfig) -> web.Application:
    app = make_app(AppSettings(service="identity", max_body=cfg.identity.max_request_body))
    return app
