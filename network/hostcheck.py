"""Does this host have what the data path needs? Kernel parts and tools, tried for real.

The checks run in a throwaway network namespace of our own (a bridge, a veth pair,
a tap and an nftables table made and dropped there), so nothing outside it is
touched. ``strata up`` runs :func:`prepare` before starting the services and says
what is missing; the networking service runs :func:`missing_parts` again at start
and, when something is, serves its API without the data path.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys

from common.config import StrataConfig

TOOLS = {"ip": "iproute2", "nft": "nftables", "dnsmasq": "dnsmasq-base"}
TIMEOUT = 20.0


def _run(*argv: str) -> str | None:
    """None when ``argv`` succeeded, else what went wrong."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                           check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if r.returncode == 0:
        return None
    lines = (r.stderr or r.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {r.returncode}"


def missing_parts() -> list[str]:
    """What of the data path's needs this host lacks, each named ([] when nothing)."""
    out: list[str] = []
    if os.geteuid() != 0:
        out.append("root privileges (CAP_NET_ADMIN: namespaces, bridges, nftables)")
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            out.append(f"{tool} (Debian package {package})")
    if out:
        return out  # the kernel cannot be tried without them
    ns = f"strata-check-{secrets.token_hex(3)}"
    error = _run("ip", "netns", "add", ns)
    if error is not None:
        return [f"network namespaces (ip netns add: {error})"]
    try:
        probes = [
            ("Linux bridges", ("ip", "-n", ns, "link", "add", "chkbr0", "type", "bridge")),
            ("veth pairs", ("ip", "-n", ns, "link", "add", "chkv0", "type", "veth", "peer",
                            "name", "chkv1")),
            ("tap devices (/dev/net/tun)", ("ip", "-n", ns, "tuntap", "add", "chkt0",
                                            "mode", "tap")),
            ("nftables (inet family)", ("ip", "netns", "exec", ns, "nft", "add", "table",
                                        "inet", "strata_check")),
            ("nftables (bridge family)", ("ip", "netns", "exec", ns, "nft", "add", "table",
                                          "bridge", "strata_check")),
        ]
        for what, argv in probes:
            error = _run(*argv)
            if error is not None:
                out.append(f"{what} ({error})")
    finally:
        _run("ip", "netns", "delete", ns)
    return out


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
