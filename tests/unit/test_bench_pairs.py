"""bench/run.py reads every operation bench/s3pair.py pairs (a phase it does not
know would end a long bench run in a KeyError after its last batch)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_run_knows_every_paired_operation() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        s3pair = importlib.import_module("s3pair")
        run = importlib.import_module("run")
    finally:
        sys.path.remove(str(BENCH))
    ops = {op.lower() for op in (*s3pair.SMALL, *s3pair.LARGE)}
    assert ops == set(run.PAIRED)
