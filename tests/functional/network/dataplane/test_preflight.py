"""The data path's preflight on this host, and what it says when a tool is
missing (a PATH without ``nft``: the real check, run in a real process)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from network.dataplane import check
from network.dataplane.preflight import TOOLS

PROBE = ("import asyncio; from network.dataplane import check; "
         "r = asyncio.run(check()); print(r.ok); print(r.message())")


def test_this_host_has_what_the_data_path_needs(datapath_ready: None) -> None:
    result = asyncio.run(check())
    assert result.ok, result.message()
    assert result.message().startswith("the data path has every kernel part")
    # and the probe namespace is gone
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "strata-probe-" not in names


def test_a_missing_tool_is_named_with_its_package(datapath_ready: None, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        if tool != "nft":
            found = shutil.which(tool)
            assert found is not None
            (bin_dir / tool).symlink_to(found)
    env = dict(os.environ, PATH=str(bin_dir))
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[4]).stdout
    ok, message = out.splitlines()
    assert ok == "False"
    assert message == ("the data path cannot run on this host: missing the tool nft "
                       "(Debian package nftables)")
