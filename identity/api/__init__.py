"""The Keystone v3 HTTP API of the identity service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from common.config import StrataConfig
from common.db import migrate
from common.http import AppSettings, make_app
from identity import bootstrap
from identity.api import (
    appcreds,
    auth,
    credentials,
    domain_config,
    endpoint_filter,
    grants,
    oauth1,
    projects,
    resources,
    role_assignments,
    users,
)
from identity.api.base import STATE, IdentityState, keystone_error_format_for

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build_app(cfg: StrataConfig) -> web.Application:
    app = make_app(AppSettings(
        service="identity",
        max_body=cfg.identity.max_request_body,
        error_format=keystone_error_format_for(cfg.identity_url()),
    ))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, cfg.identity_db_url(), MIGRATIONS)
        st = IdentityState.create(cfg)
        await asyncio.to_thread(
            st.db.run_sync, lambda s: bootstrap.bootstrap(s, cfg, st.passwords))
        app[STATE] = st
        yield
        st.db.close()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(auth.routes)
    app.add_routes(users.routes)
    app.add_routes(credentials.routes)
    app.add_routes(appcreds.routes)
    app.add_routes(oauth1.routes)
    app.add_routes(projects.routes)
    app.add_routes(domain_config.routes)  # /v3/domains/config/... before /v3/domains/{id}
    role_assignments.register(app)
    endpoint_filter.register(app)
    grants.register(app)
    resources.register(app)
    return app
