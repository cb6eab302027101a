"""Start-up of the networking service: config, database, migrations, host agent, HTTP."""

from __future__ import annotations

from common import config as config_mod
from common.http import run_service, serve_app, setup_logging
from network.api import build_app


async def serve(cfg: config_mod.StrataConfig) -> None:
    await serve_app(build_app(cfg), cfg.network.host, cfg.network.port, "network")


def main() -> None:
    cfg = config_mod.load()
    setup_logging(cfg.log_level, "network")
    run_service(serve(cfg))
