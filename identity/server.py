"""Start-up of the identity service: config, database, migrations, bootstrap, HTTP."""

from __future__ import annotations

import logging

from common import config as config_mod
from common.http import run_service, serve_app, setup_logging
from identity.api import build_app

log = logging.getLogger(__name__)


async def serve(cfg: config_mod.StrataConfig) -> None:
    await serve_app(build_app(cfg), cfg.identity.host, cfg.identity.port, "identity")


def main() -> None:
    cfg = config_mod.load()
    setup_logging(cfg.log_level, "identity")
    run_service(serve(cfg))
