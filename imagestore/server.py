"""Start-up of the image service: config, database, migrations, HTTP."""

from __future__ import annotations

import logging

from common import config as config_mod
from common.http import run_service, serve_app, setup_logging
from imagestore.api import build_app

log = logging.getLogger(__name__)


async def serve(cfg: config_mod.StrataConfig) -> None:
    await serve_app(build_app(cfg), cfg.imagestore.host, cfg.imagestore.port, "image service")


def main() -> None:
    cfg = config_mod.load()
    setup_logging(cfg.log_level, "imagestore")
    run_service(serve(cfg))
