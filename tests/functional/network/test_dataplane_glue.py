"""The networking service's side of the data path, with real ``strata up -d`` runs: a
host that lacks a tool is told so by ``strata up`` (naming it) while the API runs
anyway."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import requests

from network.hostcheck import TOOLS
from tests.cloud import TEST_SETTINGS, kill_leftovers, strata
from tests.conftest import strata_ports
from tests.functional.network.network_server import ONLY_NETWORK


def _log(env: dict[str, str], name: str) -> str:
    return (Path(env["STRATA_HOME"]) / "var" / "log" / f"{name}.log").read_text()


def test_strata_up_names_what_the_data_path_lacks(tmp_path: Path) -> None:
    """Without /usr/sbin on PATH this host lacks ``nft`` and ``dnsmasq`` (and ``ip`` where
    it is only there): ``strata up`` refuses the data path naming each, and the
    networking API answers anyway."""
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    gone = [(tool, package) for tool, package in TOOLS.items()
            if shutil.which(tool, path=path) is None]
    if not gone:
        pytest.skip("every data path tool is outside /usr/sbin here")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    env.update(TEST_SETTINGS, **ONLY_NETWORK, **strata_ports(), STRATA_HOME=str(tmp_path),
               STRATA_NETWORK_DATAPLANE="true", PATH=path)
    try:
        up = strata("up", "-d", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        for log in (up.stderr, _log(env, "network")):
            assert "the network data path will not start" in log, log
            for tool, package in gone:
                assert f"{tool} (Debian package {package})" in log, log
        r = requests.get(f"http://127.0.0.1:{env['STRATA_NETWORK_PORT']}/", timeout=10)
        assert r.status_code == 200 and r.json()["versions"][0]["id"] == "v2.0"
    finally:
        strata("down", env=env)
        kill_leftovers(tmp_path / "var")
