"""Fixtures every test tier shares.

* :func:`free_port` -- a TCP port nobody listens on right now.
* ``postgres_url`` (session) -- a real, private PostgreSQL server started from
  Debian's binaries for the whole session; skipped when PostgreSQL is not
  installed, except under ``CI`` where that is an error.
* ``strata_env`` -- the environment of a private Strata instance (temporary
  home, free identity port, fast password hashing), for subprocesses.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

_PG_SKIPPED: list[str] = []


# Ports for test servers come from below the kernel's ephemeral range
# (32768-60999), where outgoing connections would otherwise take them first.
PORT_RANGE = (10000, 32000)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free at the time of the call."""
    return free_port_range(1)


def free_port_range(count: int) -> int:
    """The first of ``count`` consecutive TCP ports on 127.0.0.1 that are all free now."""
    import random

    for _ in range(200):
        base = random.randint(PORT_RANGE[0], PORT_RANGE[1] - count)
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")


def strata_ports() -> dict[str, str]:
    """Free ports for every service of a private Strata instance."""
    return {
        "STRATA_IDENTITY_PORT": str(free_port()),
        "STRATA_OBJECTSTORE_PORT": str(free_port_range(3)),
        "STRATA_PROXY_PORT": str(free_port()),
        "STRATA_IMAGESTORE_PORT": str(free_port()),
        "STRATA_BLOCKSTORE_PORT": str(free_port()),
        # the block store's tgtd: its iSCSI portal and its control socket number
        "STRATA_BLOCKSTORE_ISCSI_PORT": str(free_port()),
        "STRATA_BLOCKSTORE_TGTD_CONTROL_PORT": str(free_port()),
        "STRATA_COMPUTE_PORT": str(free_port()),
        "STRATA_COMPUTE_METADATA_PORT": str(free_port()),
        "STRATA_COMPUTE_CONSOLE_PORT": str(free_port()),
        "STRATA_NETWORK_PORT": str(free_port()),
        "STRATA_EC2_PORT": str(free_port()),
        "STRATA_DASHBOARD_PORT": str(free_port()),
    }


def _pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    found = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            try:
                found.append((float(bindir.parent.name), bindir))
            except ValueError:
                continue
    return max(found)[1] if found else None


def _no_postgres(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI: {reason}", pytrace=False)
    _PG_SKIPPED.append(reason)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:<port>/strata_test`` of a private server."""
    bindir = _pg_bindir()
    if bindir is None:
        _no_postgres(
            "no initdb/pg_ctl under /usr/lib/postgresql/*/bin "
            "(apt-get install postgresql, or run ./strata test)"
        )
    as_root = os.geteuid() == 0
    runas: list[str] = []
    if as_root:
        # PostgreSQL refuses to run as root: run it as the postgres system user.
        if shutil.which("runuser") is None:
            _no_postgres("running as root but runuser is missing")
        try:
            import pwd

            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            _no_postgres("running as root and there is no 'postgres' system user")
        runas = ["runuser", "-u", "postgres", "--"]
    # Not under pytest's tmp dir: its parents are private to root, and postgres
    # must be able to reach the data and socket directories.
    base = Path(tempfile.mkdtemp(prefix="strata-pg-"))
    data, sockets, logfile = base / "data", base / "sock", base / "postgres.log"
    sockets.mkdir()
    if as_root:
        for path in (base, sockets):
            os.chown(path, pg_user.pw_uid, pg_user.pw_gid)
    port = free_port()

    def run(*argv: str) -> None:
        result = subprocess.run(
            [*runas, *argv], capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            log = logfile.read_text() if logfile.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log}"
            )

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
        "-E", "UTF8", "--no-sync")
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-o", options,
        "-w", "-t", "60", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
            "strata_test")
        yield f"postgresql://postgres@127.0.0.1:{port}/strata_test"
    finally:
        subprocess.run(
            [*runas, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True, check=False, timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _PG_SKIPPED:
        terminalreporter.write_line(f"NOTE: PostgreSQL tests were skipped: {_PG_SKIPPED[0]}")


@pytest.fixture
def strata_env(tmp_path: Path) -> dict[str, str]:
    """Environment variables for a private Strata instance, for subprocesses.

    Our environment minus any ``STRATA_*`` it had, plus ``STRATA_HOME`` (a
    fresh directory, so state lives in ``<home>/var``), a free
    ``STRATA_IDENTITY_PORT`` and cheap password hashing.
    """
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    env.update(
        STRATA_HOME=str(home),
        **strata_ports(),
        STRATA_IDENTITY_PASSWORD_HASH_TIME_COST="1",
        STRATA_IDENTITY_PASSWORD_HASH_MEMORY_KIB="8192",
        # no bridges, namespaces or nftables rules from a test cloud unless it asks
        STRATA_NETWORK_DATAPLANE="false",
        # compute runs (the default), on QEMU TCG without the KVM probe
        STRATA_COMPUTE_VIRT_TYPE="qemu",
    )
    return env
