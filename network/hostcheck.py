"""Does this host have what the data path needs? ``strata up`` runs :func:`prepare`
before starting the services and says what is missing; the networking service
runs the same preflight again at start (:func:`network.agent.load_dataplane`)
and, when something is missing, serves its API without the data path.

The checks are the data path's own (``network.dataplane.preflight``): every
kernel part and tool tried for real in a throwaway namespace.
"""

from __future__ import annotations

import asyncio
import sys

from common.config import StrataConfig
from network.dataplane import TOOLS, check

__all__ = ["TOOLS", "describe", "missing_parts", "prepare"]

def missing_parts() -> list[str]:
    """What of the data path's needs this host lacks, each named ([] when nothing):
    the data path's own preflight (:func:`network.dataplane.check`), run here."""
    return list(asyncio.run(check()).missing)


def describe(missing: list[str]) -> str:
    return ("the network data path will not start: this host lacks "
            + "; ".join(missing) + ". The networking API runs without it.")


def prepare(cfg: StrataConfig) -> None:
    """``strata up``: say before anything starts when the data path cannot run here."""
    if not (cfg.network.enabled and cfg.network.dataplane):
        return
    missing = missing_parts()
    if missing:
        print(f"strata: {describe(missing)}", file=sys.stderr)
