"""A private Strata for a benchmark: ``strata up -d`` in a temporary home with the
settings given, ``strata down`` and the home removed afterwards (unless kept)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

STRATA = str(Path(sys.executable).with_name("strata"))  # this interpreter's venv


def free_port() -> int:
    """A TCP port on 127.0.0.1, free now, below the kernel's ephemeral range (so no
    outgoing connection takes it before a service binds it), that can double as a
    tgtd's control port (at most 32767, no tgtd socket of that number)."""
    for _ in range(200):
        port = random.randint(10000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if not Path(f"/var/run/tgtd/socket.{port}").exists():
            return port
    raise SystemExit("no free TCP port in 10000-32000")


@contextlib.contextmanager
def private_strata(name: str, keep: bool = False,
                   after_down: Callable[[Path], None] | None = None,
                   **settings: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """The home and environment of a running private Strata; ``settings`` are
    ``STRATA_*`` variables (the caller's own ``STRATA_*`` and ``OS_*`` are dropped).
    ``after_down(home)`` removes what ``strata down`` leaves on the host (the data path)."""
    home = Path(tempfile.mkdtemp(prefix=f"strata-{name}-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRATA_", "OS_"))}
    env.update(settings, STRATA_HOME=str(home))
    print(f"[{name}-bench] starting Strata in {home}", file=sys.stderr, flush=True)
    subprocess.run([STRATA, "up", "-d"], env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        yield home, env
    finally:
        if not keep:
            subprocess.run([STRATA, "down"], env=env, check=False, stdout=subprocess.DEVNULL)
            if after_down is not None:
                after_down(home)
            shutil.rmtree(home, ignore_errors=True)
