"""Start-up of the image service: config, database, migrations, HTTP."""

from __future__ import annotations

import asyncio
import logging
import signal

from common import config as config_mod
from common.http import run_app, run_service, setup_logging
from imagestore.api import build_app

log = logging.getLogger(__name__)


async def serve(cfg: config_mod.StrataConfig) -> None:
    app = build_app(cfg)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    log.info("image service listening on http://%s:%d", cfg.imagestore.host, cfg.imagestore.port)
    try:
        await run_app(app, cfg.imagestore.host, cfg.imagestore.port)
    except asyncio.CancelledError:
        log.info("image service stopping")


def main() -> None:
    cfg = config_mod.load()
    setup_logging(cfg.log_level, "imagestore")
    run_service(serve(cfg))
