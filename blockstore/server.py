"""Start-up of the block store: config, database, migrations, tgtd, HTTP."""

from __future__ import annotations

import asyncio

from blockstore.api import build_app
from common import config as config_mod
from common.http import serve_app, setup_logging


async def serve(cfg: config_mod.StrataConfig) -> None:
    await serve_app(build_app(cfg), cfg.blockstore.host, cfg.blockstore.port, "block store")


def main() -> None:
    cfg = config_mod.load()
    setup_logging(cfg.log_level, "blockstore")
    # asyncio's own loop, not uvloop (common.http.run_service): under uvloop the file
    # backend's ``qemu-storage-daemon --daemonize`` keeps the stderr pipe of its
    # start-up open, so starting an export waits for its timeout. The block store's
    # HTTP traffic is light; the data path is tgtd's.
    asyncio.run(serve(cfg))
